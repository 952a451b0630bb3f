//! Media with clients that nobody here wrote: headless Chromium (Debian's, driven by
//! playwright-core from tests/browser) publishes two canvas cameras over WHIP, a red one and a
//! blue one (web/test/whip-canvas.html), and another Chromium plays the show's program over WHEP
//! (web/test/whep-player.html). The harness switches the program with `POST
//! /api/shows/{id}/program`, reads the player's pixels, and measures the time from each switch
//! request to the first frame of the new colour on screen.
//!
//! The scenario itself is tests/browser/media-switch.mjs; this file starts the real server
//! (in-process, memory store), prepares a live show with two camera invites and a viewer through
//! the HTTP API, runs the script bounded in time, and asserts on the one JSON line it prints.
//! Everything the browser did is printed (`--nocapture` shows it on success too).
//!
//! These tests fail, never skip, when Chromium or the node modules are missing: scripts/test.sh
//! installs them (`scripts/test.sh --setup` does only that).

mod common;

use std::time::Duration;

use common::browser::{print_log, require_browser_harness, run_node};
use common::server::{Backend, TestServer, s, test_config};
use serde_json::{Value, json};

/// A switch must show the new camera's colour on the viewer's screen within this bound.
const SWITCH_BOUND_MS: u64 = 5_000;
/// The first program (decoders starting, the first keyframe) gets longer.
const FIRST_BOUND_MS: u64 = 15_000;
/// Switches after the first program: red → blue → red → blue.
const SWITCHES: u32 = 3;
/// The whole browser run, set-up and teardown included.
const RUN_TIMEOUT: Duration = Duration::from_secs(150);

/// A live show with two camera invites (red, blue) and a viewer, all through the HTTP API.
struct Studio {
    show: String,
    creator: String,
    red: String,
    blue: String,
    viewer: String,
}

async fn studio(srv: &TestServer) -> Studio {
    let (creator, show) = srv
        .live_show("Media studio", "Two cameras, one program")
        .await;
    let mut cams = Vec::new();
    for label in ["red", "blue"] {
        let (status, body) = srv
            .post(
                &format!("/api/shows/{show}/invites"),
                Some(&creator),
                json!({ "role": "camera", "label": label }),
            )
            .await;
        assert_eq!(status, 201, "camera invite {label}: {body}");
        cams.push(s(&body["token"]));
    }
    let (_, viewer) = srv.viewer(&show, "Watcher").await;
    let blue = cams.pop().expect("two invites");
    let red = cams.pop().expect("two invites");
    Studio {
        show,
        creator,
        red,
        blue,
        viewer,
    }
}

/// The server serves the test pages (web/test) only when told to.
fn with_test_pages() -> livesale::config::Config {
    let mut config = test_config(Backend::Memory);
    config.serve_test_pages = true;
    config
}

/// The harness and the browser without media: the test pages load from the server's static
/// files, a canvas capture shows its colour headless, and VP8 through a loopback peer
/// connection inside Chromium plays into the player's <video>, whose pixels it reads. When this
/// fails, the media tests' failures say nothing about the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_harness_checks_itself() {
    require_browser_harness();
    let srv = TestServer::start_with(with_test_pages()).await;
    let run = run_node(
        "media-switch.mjs",
        &["--check".into(), "--base".into(), srv.base.clone()],
        Duration::from_secs(60),
    )
    .await;
    print_log("chromium self-check", &run);
    run.expect_ok("the browser harness's self-check");
    let r = &run.result;
    assert_eq!(r["preview"]["name"], "red", "canvas capture: {r}");
    assert_eq!(r["loopback"]["first"]["colour"]["name"], "green", "{r}");
    let frames = r["loopback"]["sample"]["frames"].as_u64().unwrap_or(0);
    assert!(
        frames >= 10,
        "the loopback <video> presented {frames} frames in 1 s: {r}"
    );
    srv.stop().await;
}

/// Two Chromium cameras over WHIP, a Chromium viewer over WHEP; the colour on the viewer's
/// screen follows every program switch within the bound, and stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_program_switches_follow_on_screen() {
    require_browser_harness();
    let srv = TestServer::start_with(with_test_pages()).await;
    let st = studio(&srv).await;
    let args: Vec<String> = vec![
        "--base".into(),
        srv.base.clone(),
        "--show".into(),
        st.show.clone(),
        "--creator-token".into(),
        st.creator.clone(),
        "--red-token".into(),
        st.red.clone(),
        "--blue-token".into(),
        st.blue.clone(),
        "--viewer-token".into(),
        st.viewer.clone(),
        "--switches".into(),
        SWITCHES.to_string(),
        // The harness waits a little past the bound so that a slow switch is measured, not
        // cut off; the assertions below hold the bound.
        "--bound-ms".into(),
        (SWITCH_BOUND_MS * 2).to_string(),
        "--first-bound-ms".into(),
        FIRST_BOUND_MS.to_string(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 10_000).to_string(),
    ];
    let run = run_node("media-switch.mjs", &args, RUN_TIMEOUT).await;
    print_log("chromium cameras and viewer", &run);
    run.expect_ok("two Chromium cameras and a Chromium viewer");
    let r = &run.result;

    let switches = r["switches"].as_array().expect("switches");
    assert_eq!(
        switches.len(),
        1 + SWITCHES as usize,
        "every switch is reported: {r}"
    );
    let mut latencies = Vec::new();
    for sw in switches {
        let label = sw["label"].as_str().unwrap_or("?");
        let to = sw["to"].as_str().unwrap_or("?");
        let other = if to == "red" { "blue" } else { "red" };
        let bound = if label == "first" {
            FIRST_BOUND_MS
        } else {
            SWITCH_BOUND_MS
        };
        let latency = sw["latency_ms"].as_u64().unwrap_or(u64::MAX);
        assert!(
            latency <= bound,
            "{label}: {to} showed {latency} ms after the switch request, over the {bound} ms \
             bound: {sw}"
        );
        let frames = sw["hold"]["frames"].as_u64().unwrap_or(0);
        assert!(
            frames >= 10,
            "{label}: only {frames} frames in the second after the switch to {to}: {sw}"
        );
        assert_eq!(
            sw["hold"]["wrong"], 0,
            "{label}: the old camera ({other}) came back after the switch to {to}: {sw}"
        );
        assert_eq!(
            sw["on_air"][to], true,
            "{label}: GET cameras does not show {to} on air: {sw}"
        );
        assert_eq!(
            sw["on_air"][other], false,
            "{label}: GET cameras still shows {other} on air: {sw}"
        );
        if label != "first" {
            latencies.push(latency);
        }
    }
    // One line for people, one for a benchmark to pick up.
    println!(
        "chromium program switch: request to new colour on screen, ms: {latencies:?} (first \
         program {} ms)",
        switches[0]["latency_ms"]
    );
    println!(
        "MEDIA_SWITCH_LATENCY {}",
        json!({
            "client": "chromium",
            "first_ms": switches[0]["latency_ms"],
            "switch_ms": latencies,
            "stats": r["latency_ms"],
        })
    );
    let sessions_ok = |v: &Value| v.as_u64().is_some_and(|s| (200..300).contains(&s));
    for who in ["player", "red", "blue"] {
        let deleted = &r["stopped"][who]["deleted"];
        assert!(
            sessions_ok(deleted),
            "DELETE of the {who} session answered {deleted}: {r}"
        );
    }
    srv.stop().await;
}
