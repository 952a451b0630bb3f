//! The viewer page over LL-HLS in Chromium with the real hls.js livesale serves, driven by
//! tests/browser/hls-viewer.mjs (its header lists what each scenario checks). Cameras are
//! Chromium canvases over WHIP with H.264 (this Chromium encodes it: `RTCRtpSender
//! .getCapabilities('video')` lists H264), so no GStreamer is needed here; the VP8 scenario
//! publishes VP8 on purpose.

use std::time::Duration;

use serde_json::Value;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};
use crate::common::server::{Backend, test_config};

const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// The server's part duration (`--hls-part-ms`, default): a stall longer than one is a stall.
const PART_MS: u64 = 500;

/// A server that serves the canvas camera page (web/test), with `tune` applied.
async fn fixture(tune: impl FnOnce(&mut livesale::config::Config)) -> Fixture {
    let mut config = test_config(Backend::Redis);
    config.serve_test_pages = true;
    tune(&mut config);
    Fixture::with_config(config, true).await
}

async fn scenario(fx: &Fixture, name: &str, extra: &[String]) -> Value {
    require_browser_harness();
    let red = fx.srv.invite(&fx.creator, &fx.show, "camera").await;
    let blue = fx.srv.invite(&fx.creator, &fx.show, "camera").await;
    let (_, buyer) = fx.srv.viewer(&fx.show, "Bea").await;
    let mut args = fx.args();
    args.extend([
        "--scenario".to_string(),
        name.to_string(),
        "--red-token".into(),
        red,
        "--blue-token".into(),
        blue,
        "--buyer-token".into(),
        buyer,
        "--part-ms".into(),
        PART_MS.to_string(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]);
    args.extend(extra.iter().cloned());
    let run = run_node("hls-viewer.mjs", &args, RUN_TIMEOUT).await;
    print_log(&format!("hls {name}"), &run);
    run.expect_ok(&format!("the LL-HLS viewer's {name} scenario"));
    println!("hls {name}: {}", run.result);
    run.result
}

/// `?hls=1` plays LL-HLS with the vendored hls.js and shows "Live · N s"; without it the page
/// plays WebRTC ("Live").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_viewer_page_plays_ll_hls_when_asked() {
    let fx = fixture(|_| {}).await;
    let r = scenario(&fx, "play", &[]).await;
    assert_eq!(r["hls"]["mode"], "hls", "{r}");
    assert_eq!(r["hls"]["engine"], "hls.js", "{r}");
    assert!(
        r["badge"]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Live · ")),
        "{r}"
    );
    assert_eq!(r["webrtc"]["mode"], "webrtc", "{r}");
    assert_eq!(r["webrtc_badge"]["text"], "Live", "{r}");
}

/// A node with no room for WebRTC viewers answers WHEP with 503: the page plays LL-HLS instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_node_sends_the_viewer_to_ll_hls() {
    let fx = fixture(|c| c.max_viewers_per_node = 0).await;
    let r = scenario(&fx, "full", &[]).await;
    assert_eq!(r["fallback"]["reason"], "node_full", "{r}");
    assert_eq!(r["fallback"]["mode"], "hls", "{r}");
}

/// A VP8 show's playlist answers 409 program_not_packageable: the page says so in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vp8_show_is_explained_not_shown_black() {
    let fx = fixture(|_| {}).await;
    let r = scenario(&fx, "vp8", &[]).await;
    assert_eq!(r["playlist"]["status"], 409, "{r}");
    assert!(
        r["words"]["stage"]
            .as_str()
            .is_some_and(|t| t.contains("VP8") || t.contains("H.264")),
        "{r}"
    );
}

/// A pin, a sell-out and a cut while an LL-HLS viewer is seconds behind: the page shows each
/// with the frame taken when it happened (read off the picture), seconds after the room heard
/// it. Then cuts between two H.264 cameras: hls.js's picture follows every one, and the
/// latency from each frame's program date to its display is measured (p50/p95 printed; the
/// target p50 ≤ 3 s, p95 ≤ 4 s is reported, the bound here is generous).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commerce_and_cuts_show_with_the_picture_of_a_viewer_behind_live() {
    let fx = fixture(|_| {}).await;
    let r = scenario(&fx, "sync", &["--cuts".into(), "4".into()]).await;
    let events = r["events"].as_array().expect("events");
    assert_eq!(events.len(), 3, "{r}");
    for e in events {
        let late = e["picture_minus_pts_ms"].as_i64().expect("measured");
        assert!((-250..=1000).contains(&late), "{e}");
        assert!(
            e["shown_after_room_ms"].as_i64().unwrap_or(0) >= 1000,
            "{e}"
        );
    }
    for cut in r["cuts"].as_array().expect("cuts") {
        assert!(
            cut["first_frame_ms"].as_u64().is_some_and(|ms| ms < 10_000),
            "{cut}"
        );
    }
    let p95 = r["latency_pdt_ms"]["p95"].as_f64().expect("p95");
    let p50 = r["latency_pdt_ms"]["p50"].as_f64().expect("p50");
    let behind: Vec<f64> = r["behind_at_events_s"]
        .as_array()
        .expect("behind_at_events_s")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    println!(
        "LL-HLS latency at the player's own pace, program date to display: p50 {p50} ms, p95 \
         {p95} ms (target p50 ≤ 3000, p95 ≤ 4000); after the stall: {}; behind live when the \
         pin, sell-out and cut were shown: {behind:?} s; largest gap between frames {} ms ({} \
         over one part of {PART_MS} ms)",
        r["latency_after_stall_pdt_ms"], r["max_gap_ms"], r["gaps_over_part"]
    );
    // The judged case: a viewer about three seconds behind live (3.3 s to 2.9 s in our runs as
    // hls.js closes the gap; the bound leaves room for a slower machine).
    assert!(
        behind.len() == 3 && behind.iter().all(|s| *s >= 2.2),
        "the viewer was not ~3 s behind: {behind:?}\n{r}"
    );
    assert!(p95 < 8_000.0, "{r}");
    assert_eq!(
        r["gaps_over_part"], 0,
        "the picture stalled longer than one part: {r}"
    );
}
