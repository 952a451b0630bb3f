//! The phone camera page (`/camera/{invite}`) after a drop (tests/browser/camera-reconnect.mjs):
//! offline for a few seconds with its media session gone on the server, then its
//! RTCPeerConnection closed under it without an event. Each time the page says it is
//! reconnecting, publishes again by itself, is listed again in GET cameras, and shows ON AIR
//! once the studio takes it again.

use std::time::Duration;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};

const RUN_TIMEOUT: Duration = Duration::from_secs(200);
/// From the drop to the page sending again, the 6 s offline included.
const RECOVER_BOUND_MS: u64 = 30_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn camera_reconnects_by_itself_after_a_drop() {
    require_browser_harness();
    let fx = Fixture::new(true).await;
    let mut args = fx.args();
    args.extend([
        "--recover-bound-ms".into(),
        RECOVER_BOUND_MS.to_string(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]);
    let run = run_node("camera-reconnect.mjs", &args, RUN_TIMEOUT).await;
    print_log("camera reconnect", &run);
    run.expect_ok("the phone camera page reconnecting after a drop");
    let r = &run.result;
    for drop in ["network", "closed"] {
        let d = &r["drops"][drop];
        let said = d["said"].as_str().unwrap_or("");
        assert!(
            !said.is_empty(),
            "{drop}: nothing said while reconnecting: {r}"
        );
        let ms = d["recovered_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(
            ms <= RECOVER_BOUND_MS,
            "{drop}: recovered after {ms} ms: {r}"
        );
        println!(
            "camera reconnect ({drop}): \"{said}\" after {} ms, sending again after {ms} ms, ON AIR {} ms after the take",
            d["noticed_ms"], d["tally_ms"]
        );
    }

    // The server's side, as the script read it while the phone was still connected (once the
    // script ends, Chromium closes and the camera's session with it): the camera is there once,
    // and on air.
    let cams = &r["server"]["cameras"];
    assert_eq!(
        cams.as_array().map(Vec::len),
        Some(1),
        "one camera, not a stale one beside the new: {cams}"
    );
    assert_eq!(r["server"]["program"], cams[0]["id"], "{r}");
    fx.srv.stop().await;
}
