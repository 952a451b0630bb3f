//! Media with GStreamer as the client: `whipsink` and `whepsrc` of the crate
//! gst-plugin-webrtchttp (0.10 line, built against Debian 12's GStreamer 1.22 by
//! scripts/test.sh into target/gst-plugins) publish two `videotestsrc` cameras, a red and a
//! blue one, over WHIP the way an encoder would (VP8, a keyframe every 2 s unless asked), and a
//! third pipeline plays the show's program over WHEP, decodes it, scales each frame to one pixel
//! and prints it (`fakesink dump=true`). The test switches the program and reads the colour of
//! every decoded frame: frames keep arriving across each switch, and the colour follows it.
//!
//! Every pipeline is a process in its own process group, bounded in time and killed at the end.
//! It is `gst-launch-1.0` in all but one respect: a few lines of Python (PyGObject) parse the same
//! description with `Gst.parse_launch`, and give each webrtcbin's ICE agent 127.0.0.1 as its
//! address (`add-local-ip-address`) before it plays. libnice leaves loopback out of its host
//! candidates whenever the machine has another interface, and the test server's media listens on
//! 127.0.0.1 only, so plain gst-launch would offer candidates on the machine's other addresses
//! and depend on the server answering checks that cross from them to loopback. Set
//! `LIVESALE_GST_LAUNCH=gst-launch-1.0` to run the plain tool instead.
//!
//! The test fails, never skips, when GStreamer or the plugin is missing: scripts/test.sh
//! installs and builds them (`scripts/test.sh --setup` does only that).

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::gst::{Colour, Frame, Log, Pipeline, launch_args, require_gstreamer};
use common::server::{Backend, TestServer, s};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// A switch must show the new camera's colour in the player's decoded frames within this bound.
const SWITCH_BOUND: Duration = Duration::from_secs(5);
/// The first program (the player's decoder starting, the first keyframe) gets longer.
const FIRST_BOUND: Duration = Duration::from_secs(15);
/// Frames watched after each switch: they keep coming, and the old camera does not come back.
const HOLD: Duration = Duration::from_secs(1);
const SWITCHES: usize = 3;
/// The whole test; every wait below is shorter.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);

fn publisher(colour: Colour, endpoint: &str, token: &str) -> Vec<String> {
    let mut args = launch_args(&format!(
        "videotestsrc is-live=true pattern={} \
         ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! videoconvert ! queue \
         ! vp8enc deadline=1 keyframe-max-dist=60 target-bitrate=500000 \
         ! rtpvp8pay pt=96 \
         ! whipsink name=whip",
        colour.pattern()
    ));
    args.push(format!("whip-endpoint={endpoint}"));
    args.push(format!("auth-token={token}"));
    args
}

fn player(endpoint: &str, token: &str) -> Vec<String> {
    // whepsrc 0.10 hands these caps to webrtcbin as the transceivers' codec preferences, and
    // GStreamer 1.22's webrtcbin builds an m-line only from RTP caps (its default, bare
    // `video/x-vp8`, yields none). VP8 and Opus, as the server's cameras send.
    let mut args = vec![
        "whepsrc".to_string(),
        "name=whep".to_string(),
        "video-caps=\"application/x-rtp,media=video,encoding-name=VP8,payload=96,clock-rate=90000\""
            .to_string(),
        "audio-caps=\"application/x-rtp,media=audio,encoding-name=OPUS,payload=111,clock-rate=48000,encoding-params=(string)2\""
            .to_string(),
    ];
    args.push(format!("whep-endpoint={endpoint}"));
    args.push(format!("auth-token={token}"));
    // Sinks with async=false: a program without audio never feeds the audio branch, and a sink
    // waiting for its first buffer would hold the whole pipeline in PAUSED.
    args.extend(launch_args(
        "whep. ! application/x-rtp,media=video ! queue ! rtpvp8depay ! vp8dec \
         ! videoconvert ! videoscale ! video/x-raw,format=RGB,width=1,height=1 \
         ! fakesink sync=false async=false dump=true \
         whep. ! application/x-rtp,media=audio ! queue ! fakesink sync=false async=false",
    ));
    args
}

async fn cameras(srv: &TestServer, show: &str, creator: &str) -> Vec<Value> {
    let (status, body) = srv
        .get(&format!("/api/shows/{show}/cameras"), Some(creator))
        .await;
    assert_eq!(status, 200, "GET cameras: {body}");
    body["cameras"]
        .as_array()
        .unwrap_or_else(|| panic!("GET cameras has no \"cameras\" array: {body}"))
        .clone()
}

/// Waits for the one camera that is not in `known` (the pipeline that just published).
async fn new_camera(
    srv: &TestServer,
    show: &str,
    creator: &str,
    known: &[String],
    pipeline: &mut Pipeline,
    all: &dyn Fn() -> String,
) -> String {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let list = cameras(srv, show, creator).await;
        let fresh: Vec<&Value> = list
            .iter()
            .filter(|c| !known.iter().any(|k| c["id"] == k.as_str()))
            .collect();
        match fresh.len() {
            0 => {}
            1 => return s(&fresh[0]["id"]),
            _ => panic!("expected one new camera, got {fresh:?}"),
        }
        pipeline.assert_running(&all());
        assert!(
            Instant::now() < until,
            "the {} pipeline published no camera within 20 s (GET cameras: {list:?})\n{}",
            pipeline.name,
            all()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What the player showed after one switch.
#[derive(Debug)]
struct Switch {
    label: String,
    to: Colour,
    latency: Duration,
    hold_frames: usize,
    hold_wrong: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gstreamer_encoders_and_player_follow_the_program() {
    require_gstreamer(&[
        "whipsink",
        "whepsrc",
        "videotestsrc",
        "vp8enc",
        "vp8dec",
        "webrtcbin",
    ]);
    tokio::time::timeout(TEST_TIMEOUT, gstreamer_scenario())
        .await
        .unwrap_or_else(|_| panic!("the GStreamer test ran over {TEST_TIMEOUT:?}"));
}

async fn gstreamer_scenario() {
    let srv = TestServer::start(Backend::Memory).await;
    let (creator, show) = srv.live_show("GStreamer studio", "Encoders on air").await;
    let whip = srv.url(&format!("/api/shows/{show}/whip"));
    let whep = srv.url(&format!("/api/shows/{show}/whep"));

    // Every pipeline's log, by name, for the failure messages.
    let logs: Mutex<Vec<(String, Log)>> = Mutex::default();
    let all = || {
        let mut out = String::new();
        for (name, log) in logs.lock().expect("logs").iter() {
            out.push_str(&format!("---- {name} ----\n"));
            for l in log.lock().expect("log").iter().rev().take(40).rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    };
    let track = |p: &Pipeline| {
        logs.lock()
            .expect("logs")
            .push((p.name.clone(), p.log.clone()));
    };

    // Two encoders, one after the other, so each camera id is known by its colour.
    let mut ids = Vec::new();
    let mut pubs = Vec::new();
    for colour in [Colour::Red, Colour::Blue] {
        let (status, body) = srv
            .post(
                &format!("/api/shows/{show}/invites"),
                Some(&creator),
                json!({ "role": "camera", "label": format!("gst {}", colour.pattern()) }),
            )
            .await;
        assert_eq!(status, 201, "camera invite: {body}");
        let token = s(&body["token"]);
        let mut p = Pipeline::start(
            &format!("whipsink {}", colour.pattern()),
            &publisher(colour, &whip, &token),
            None,
        );
        track(&p);
        let id = new_camera(&srv, &show, &creator, &ids, &mut p, &all).await;
        ids.push(id);
        pubs.push(p);
    }
    let camera_of = |c: Colour| match c {
        Colour::Red => ids[0].clone(),
        _ => ids[1].clone(),
    };

    let (_, viewer) = srv.viewer(&show, "GStreamer player").await;
    let (tx, mut frames) = mpsc::unbounded_channel::<Frame>();
    let mut play = Pipeline::start("whepsrc player", &player(&whep, &viewer), Some(tx));
    track(&play);

    let mut switches = Vec::new();
    let mut plan = vec![("first".to_string(), Colour::Red, FIRST_BOUND)];
    let mut next = Colour::Blue;
    for i in 1..=SWITCHES {
        plan.push((format!("switch {i}"), next, SWITCH_BOUND));
        next = if next == Colour::Red {
            Colour::Blue
        } else {
            Colour::Red
        };
    }
    let mut total_frames = 0usize;
    for (label, to, bound) in plan {
        let other = if to == Colour::Red {
            Colour::Blue
        } else {
            Colour::Red
        };
        // Frames decoded before the request do not count.
        while let Ok(f) = frames.try_recv() {
            total_frames += 1;
            let _ = f;
        }
        let t0 = Instant::now();
        let (status, body) = srv
            .post(
                &format!("/api/shows/{show}/program"),
                Some(&creator),
                json!({ "camera": camera_of(to) }),
            )
            .await;
        assert!(
            status == 200 || status == 204,
            "{label}: POST program answered {status}: {body}"
        );
        let mut last: Option<Frame> = None;
        let mut waited = 0usize;
        let seen = loop {
            let left = bound.saturating_sub(t0.elapsed());
            match tokio::time::timeout(left, frames.recv()).await {
                Ok(Some(f)) => {
                    total_frames += 1;
                    waited += 1;
                    last = Some(f);
                    if f.colour == to {
                        break f;
                    }
                }
                Ok(None) | Err(_) => {
                    play.assert_running(&all());
                    panic!(
                        "{label}: no {to:?} frame within {bound:?} of switching to camera {} \
                         ({waited} frames decoded meanwhile, the last {last:?})\n{}",
                        camera_of(to),
                        all()
                    );
                }
            }
        };
        let latency = seen.at.duration_since(t0);
        // The colour stays, and frames keep coming.
        let hold_end = seen.at + HOLD;
        let (mut hold_frames, mut hold_wrong) = (0usize, 0usize);
        while let Ok(Some(f)) = tokio::time::timeout(
            hold_end.saturating_duration_since(Instant::now()),
            frames.recv(),
        )
        .await
        {
            total_frames += 1;
            hold_frames += 1;
            if f.colour == other {
                hold_wrong += 1;
            }
            if f.at >= hold_end {
                break;
            }
        }
        let list = cameras(&srv, &show, &creator).await;
        for c in &list {
            let on_air = c["on_air"] == true;
            let should = c["id"] == camera_of(to).as_str();
            assert_eq!(
                on_air, should,
                "{label}: GET cameras after the switch to {to:?}: {list:?}"
            );
        }
        println!(
            "{label}: {to:?} on the player {} ms after the request; then {hold_frames} frames \
             in {HOLD:?}, {hold_wrong} of the old camera; first frame rgb {:?}",
            latency.as_millis(),
            seen.rgb
        );
        switches.push(Switch {
            label,
            to,
            latency,
            hold_frames,
            hold_wrong,
        });
        play.assert_running(&all());
        for p in pubs.iter_mut() {
            p.assert_running(&all());
        }
    }

    for sw in &switches {
        assert!(
            sw.hold_frames >= 10,
            "{}: only {} frames in the {HOLD:?} after the switch to {:?}\n{}",
            sw.label,
            sw.hold_frames,
            sw.to,
            all()
        );
        assert_eq!(
            sw.hold_wrong, 0,
            "{}: the old camera came back after the switch to {:?}: {sw:?}",
            sw.label, sw.to
        );
    }
    let latencies: Vec<u128> = switches[1..]
        .iter()
        .map(|s| s.latency.as_millis())
        .collect();
    println!(
        "gstreamer program switch: request to new colour decoded, ms: {latencies:?} (first \
         program {} ms); {total_frames} frames decoded",
        switches[0].latency.as_millis()
    );
    println!(
        "MEDIA_SWITCH_LATENCY {}",
        json!({
            "client": "gstreamer",
            "first_ms": switches[0].latency.as_millis() as u64,
            "switch_ms": latencies,
        })
    );

    // EOS everywhere: the elements end their sessions (DELETE), then the processes go.
    play.stop().await;
    for p in pubs {
        p.stop().await;
    }
    srv.stop().await;
}
