//! The replay of an ended show in Chromium with the real hls.js livesale serves, driven by
//! tests/browser/replay.mjs (its header lists every check). Two H.264 canvas cameras (no
//! GStreamer needed: this Chromium encodes H.264), three cuts after the first camera goes on air,
//! three pins, the end; then the replay plays start to end with every cut in place, the chapters
//! hold the pins at their times (±1 part), a click on a pin's chapter shows its picture and its
//! product, a shared clip stops at its end, and the product bought from the replay is an order
//! of channel "replay" that the replay stats count. Bounded to 90 s.

use std::time::Duration;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};
use crate::common::server::{Backend, test_config};

const RUN_TIMEOUT: Duration = Duration::from_secs(90);

/// The server's part duration (`--hls-part-ms`, default): chapters are placed within one.
const PART_MS: u64 = 500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replay_plays_every_cut_and_sells_from_its_chapters() {
    require_browser_harness();
    let mut config = test_config(Backend::Redis);
    config.serve_test_pages = true;
    let fx = Fixture::with_config(config, true).await;
    let red = fx.srv.invite(&fx.creator, &fx.show, "camera").await;
    let blue = fx.srv.invite(&fx.creator, &fx.show, "camera").await;
    let mut args = fx.args();
    args.extend([
        "--red-token".to_string(),
        red,
        "--blue-token".into(),
        blue,
        "--part-ms".into(),
        PART_MS.to_string(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 5_000).to_string(),
    ]);
    let run = run_node("replay.mjs", &args, RUN_TIMEOUT).await;
    print_log("replay", &run);
    run.expect_ok("the replay scenario");
    let r = &run.result;
    println!("replay: {r}");

    // Played to the end, every segment, no stall.
    let playback = &r["playback"];
    assert_eq!(playback["engine"], "hls.js", "{r}");
    assert_eq!(playback["loaded"], playback["segments"], "{r}");
    assert_eq!(playback["fatal"], 0, "{r}");
    assert_eq!(playback["stalls"], 0, "{r}");
    assert_eq!(playback["starved"], 0, "{r}");
    // Four cuts (the first camera on air and three cuts), each picture where its chapter says.
    let cuts = r["cuts"].as_array().expect("cuts");
    assert_eq!(cuts.len(), 4, "{r}");
    for cut in cuts {
        assert_eq!(cut["right_program"], cut["frames"], "{cut}");
    }
    // The three pins' chapters, and the one sought to shows its product and its picture.
    assert_eq!(
        r["chapters"]["pins"].as_array().map(Vec::len),
        Some(3),
        "{r}"
    );
    assert!(
        r["seek"]["picture_minus_pts_ms"]
            .as_i64()
            .is_some_and(|ms| ms.abs() <= 1000),
        "{r}"
    );
    // Sold from the replay.
    assert_eq!(r["order"]["channel"], "replay", "{r}");
    assert_eq!(r["stats"]["replay"]["orders"], 1, "{r}");
    assert!(r["stats"]["views"].as_u64().is_some_and(|v| v >= 1), "{r}");
    assert!(
        r["highlights"].as_array().is_some_and(|h| !h.is_empty()),
        "{r}"
    );
}
