//! The program as LL-HLS, witnessed by players nobody here wrote. Two GStreamer encoders
//! (`x264enc` through `whipsink`, as an encoder would publish) send a red and a blue camera;
//! the program cuts between them. Then:
//!
//! - ffprobe reads the playlist, and ffmpeg (Debian's) decodes every segment and every part of
//!   the live window (with its init segment) without an error, across the cuts, and the first
//!   frames of the segments are red and blue;
//! - GStreamer's `hlsdemux` plays the playlist, and the colour follows a cut;
//! - a gap (nothing on air) closes the segment; when a camera is back the playlist goes on
//!   after a discontinuity, media sequence numbers never go back, and it decodes;
//! - blocking reload: the hinted part answers only once it exists, an existing one at once,
//!   far ahead is 400, a rolled-out file 404 `hls_gone`, beyond `--hls-max-held` 503 with
//!   Retry-After, and a client that leaves gives its hold back (the held gauge);
//! - the headers a CDN needs (Cache-Control, CORS, HEAD, Range 206/416), an unknown show, a
//!   show not started, a VP8-only show (409), 307 from another node to the show's media home
//!   (two nodes on one Redis), and `EXT-X-ENDLIST` once the show ends.
//!
//! It fails, never skips, when ffmpeg, GStreamer or a plugin is missing: scripts/test.sh
//! installs them.

mod common;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::gst::{Colour, Frame, Log, Pipeline, connected_camera, launch_args, require_gstreamer};
use common::server::{Backend, TestServer, s, test_config};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const TEST_TIMEOUT: Duration = Duration::from_secs(240);
const MAX_HELD: usize = 3;

fn publisher_h264(colour: Colour, endpoint: &str, token: &str) -> Vec<String> {
    let pattern = match colour {
        Colour::Red => "red",
        _ => "blue",
    };
    let mut args = launch_args(&format!(
        "videotestsrc is-live=true pattern={pattern} \
         ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! videoconvert ! queue \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 bitrate=400 \
         ! video/x-h264,profile=constrained-baseline \
         ! rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency \
         ! whipsink name=whip"
    ));
    args.push(format!("whip-endpoint={endpoint}"));
    args.push(format!("auth-token={token}"));
    args
}

fn publisher_vp8(endpoint: &str, token: &str) -> Vec<String> {
    let mut args = launch_args(
        "videotestsrc is-live=true pattern=green \
         ! video/x-raw,width=160,height=120,framerate=15/1 \
         ! videoconvert ! queue ! vp8enc deadline=1 keyframe-max-dist=30 \
         ! rtpvp8pay pt=96 ! whipsink name=whip",
    );
    args.push(format!("whip-endpoint={endpoint}"));
    args.push(format!("auth-token={token}"));
    args
}

fn require_tools() {
    for tool in ["ffmpeg", "ffprobe"] {
        let out = std::process::Command::new(tool).arg("-version").output();
        assert!(
            matches!(&out, Ok(o) if o.status.success()),
            "{tool} does not run ({out:?}): scripts/test.sh installs Debian's ffmpeg"
        );
    }
    require_gstreamer(&[
        "whipsink",
        "webrtcbin",
        "videotestsrc",
        "x264enc",
        "rtph264pay",
        "vp8enc",
        "hlsdemux",
        "souphttpsrc",
        "qtdemux",
        "avdec_h264",
    ]);
}

/// Every pipeline's log, by name, for the failure messages.
#[derive(Default)]
struct Logs(Mutex<Vec<(String, Log)>>);

impl Logs {
    fn track(&self, p: &Pipeline) {
        self.0
            .lock()
            .expect("logs")
            .push((p.name.clone(), p.log.clone()));
    }

    fn all(&self) -> String {
        let mut out = String::new();
        for (name, log) in self.0.lock().expect("logs").iter() {
            out.push_str(&format!("---- {name} ----\n"));
            for l in log.lock().expect("log").iter().rev().take(30).rev() {
                out.push_str(l);
                out.push('\n');
            }
        }
        out
    }
}

struct Hls<'a> {
    srv: &'a TestServer,
    show: String,
}

/// One line of interest of a playlist.
#[derive(Debug, Default)]
struct Listing {
    media_sequence: u64,
    segments: Vec<u64>,
    parts: Vec<String>,
    maps: Vec<String>,
    hint: Option<(u64, u32)>,
    discontinuities: usize,
    text: String,
}

fn listing(text: &str) -> Listing {
    let mut l = Listing {
        text: text.to_string(),
        ..Listing::default()
    };
    for line in text.lines() {
        if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            l.media_sequence = n.parse().expect("media sequence");
        } else if let Some(seg) = line.strip_prefix("seg-") {
            l.segments
                .push(seg.trim_end_matches(".m4s").parse().expect("segment msn"));
        } else if line.starts_with("#EXT-X-PART:") {
            l.parts.push(uri(line));
        } else if line.starts_with("#EXT-X-MAP:") {
            l.maps.push(uri(line));
        } else if line.starts_with("#EXT-X-PRELOAD-HINT:") {
            let u = uri(line);
            let (m, p) = u
                .trim_start_matches("part-")
                .trim_end_matches(".m4s")
                .split_once('.')
                .expect("a part name");
            l.hint = Some((m.parse().expect("msn"), p.parse().expect("part")));
        } else if line == "#EXT-X-DISCONTINUITY" {
            l.discontinuities += 1;
        }
    }
    l
}

fn uri(line: &str) -> String {
    let at = line.find("URI=\"").expect("a URI") + 5;
    let rest = &line[at..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

impl Hls<'_> {
    fn url(&self, file: &str) -> String {
        self.srv
            .url(&format!("/api/shows/{}/hls/{file}", self.show))
    }

    async fn get(&self, file: &str) -> reqwest::Response {
        self.srv
            .http
            .get(self.url(file))
            .send()
            .await
            .expect("GET an HLS file")
    }

    async fn playlist(&self) -> Listing {
        let resp = self.get("live.m3u8").await;
        assert_eq!(resp.status(), 200, "the playlist");
        listing(&resp.text().await.expect("playlist text"))
    }

    async fn bytes(&self, file: &str) -> Vec<u8> {
        let resp = self.get(file).await;
        assert_eq!(resp.status(), 200, "GET {file}");
        resp.bytes().await.expect("body").to_vec()
    }

    /// Waits until the playlist lists at least `n` complete segments after `after`.
    async fn wait_segments(&self, after: u64, n: usize, within: Duration, logs: &Logs) -> Listing {
        let until = Instant::now() + within;
        loop {
            let resp = self.get("live.m3u8").await;
            if resp.status() == 200 {
                let l = listing(&resp.text().await.expect("text"));
                if l.segments
                    .iter()
                    .filter(|&&m| m > after || after == u64::MAX)
                    .count()
                    >= n
                {
                    return l;
                }
            }
            assert!(
                Instant::now() < until,
                "fewer than {n} segments after {after} within {within:?}\n{}",
                logs.all()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// ffmpeg decodes `init + media` without a word on stderr; returns the colour of its first
/// frame (none for a part that does not start with a keyframe).
fn decode(dir: &std::path::Path, name: &str, init: &[u8], media: &[u8]) -> Option<Colour> {
    let path = dir.join(name.replace(".m4s", ".mp4"));
    let mut all = init.to_vec();
    all.extend_from_slice(media);
    std::fs::write(&path, &all).expect("write a file to decode");
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        // A cut makes one frame longer than the others (variable frame rate): pass the times
        // through as they are (in the stream's own time base), as a player does, instead of
        // resampling to the constant rate ffmpeg guesses (which can round two frames onto one
        // tick of its guessed time base and complain about its own output).
        .args(["-fps_mode", "passthrough", "-enc_time_base", "-1"])
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() || !stderr.trim().is_empty() {
        let packets = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "packet=stream_index,dts,duration,size,flags",
            ])
            .args(["-of", "csv"])
            .arg(&path)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let _ = std::fs::copy(&path, std::env::temp_dir().join("livesale-hls-failed.mp4"));
        panic!(
            "ffmpeg decoding {name} ({} bytes): {stderr}\npackets:\n{packets}",
            media.len()
        );
    }
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args([
            "-vf",
            "scale=1:1",
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .expect("ffmpeg runs");
    match out.stdout.as_slice() {
        [r, g, b] => Some(Colour::of(*r, *g, *b)),
        _ => None,
    }
}

async fn program(srv: &TestServer, show: &str, creator: &str, camera: Value) {
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/program"),
            Some(creator),
            json!({ "camera": camera }),
        )
        .await;
    assert!(status == 200, "POST program {camera}: {status} {body}");
}

/// Publishes one camera with `args`' pipeline and returns its id once the server lists it.
async fn camera(
    srv: &TestServer,
    show: &str,
    creator: &str,
    name: &str,
    args: impl Fn(&str, &str) -> Vec<String>,
    logs: &Logs,
) -> (String, Pipeline) {
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/invites"),
            Some(creator),
            json!({ "role": "camera", "label": name }),
        )
        .await;
    assert_eq!(status, 201, "camera invite: {body}");
    let whip = srv.url(&format!("/api/shows/{show}/whip"));
    let mut p = Pipeline::start(name, &args(&whip, &s(&body["token"])), None);
    logs.track(&p);
    let id = connected_camera(srv, show, creator, name, &mut p, |_| logs.all()).await;
    (id, p)
}

/// Waits for a decoded frame of `want`'s colour.
async fn wait_colour(
    frames: &mut mpsc::UnboundedReceiver<Frame>,
    want: Colour,
    within: Duration,
) -> bool {
    let until = Instant::now() + within;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, frames.recv()).await {
            Ok(Some(f)) if f.colour == want => return true,
            Ok(Some(_)) => {}
            _ => return false,
        }
    }
}

async fn metric(srv: &TestServer, name: &str) -> f64 {
    let text = srv
        .http
        .get(srv.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name)
                .filter(|rest| rest.starts_with(' '))
                .and_then(|rest| rest.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ll_hls_of_the_program_plays_in_players_nobody_here_wrote() {
    require_tools();
    tokio::time::timeout(TEST_TIMEOUT, scenario())
        .await
        .unwrap_or_else(|_| panic!("the HLS test ran over {TEST_TIMEOUT:?}"));
}

async fn scenario() {
    // Redis: a second node on the same store redirects to the show's media home.
    let mut config = test_config(Backend::Redis);
    config.hls_window_s = 12;
    config.hls_max_held = MAX_HELD;
    config.node_id = Some("hls-a".into());
    let mut config_b = config.clone();
    config_b.node_id = Some("hls-b".into());
    let srv = TestServer::start_with(config).await;
    let logs = Logs::default();
    let (creator, show) = srv.live_show("HLS studio", "Crowds").await;
    let hls = Hls {
        srv: &srv,
        show: show.clone(),
    };

    // Before anything is packaged; an unknown show.
    let resp = hls.get("live.m3u8").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let body: Value = resp.json().await.expect("problem");
    assert_eq!(body["code"], "hls_not_started", "{body}");
    let unknown = srv.url(&format!(
        "/api/shows/{}/hls/live.m3u8",
        uuid::Uuid::now_v7()
    ));
    let resp = srv.http.get(unknown).send().await.expect("GET");
    assert_eq!(resp.status(), 404, "an unknown show");

    // Two H.264 encoders; red on air.
    let (red, red_pipe) = camera(
        &srv,
        &show,
        &creator,
        "red",
        |w, t| publisher_h264(Colour::Red, w, t),
        &logs,
    )
    .await;
    let (blue, blue_pipe) = camera(
        &srv,
        &show,
        &creator,
        "blue",
        |w, t| publisher_h264(Colour::Blue, w, t),
        &logs,
    )
    .await;
    let (_, cams) = srv
        .get(&format!("/api/shows/{show}/cameras"), Some(&creator))
        .await;
    assert_eq!(
        cams["program"]["codec"], "h264",
        "x264 cameras give an H.264 show: {cams}"
    );
    program(&srv, &show, &creator, json!(red)).await;
    let first = hls
        .wait_segments(u64::MAX, 1, Duration::from_secs(20), &logs)
        .await;
    assert!(first.text.contains("#EXT-X-VERSION:9"), "{}", first.text);

    // Another node answers 307 to the show's media home, path and query kept.
    let node_b = TestServer::start_with(config_b).await;
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    for file in ["live.m3u8?_HLS_msn=1", "seg-1.m4s"] {
        let path = format!("/api/shows/{show}/hls/{file}");
        let resp = no_redirects
            .get(node_b.url(&path))
            .send()
            .await
            .expect("GET on node B");
        assert_eq!(resp.status(), 307, "{file} on another node");
        assert_eq!(resp.headers()["location"], srv.url(&path).as_str());
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    }
    node_b.stop().await;

    // ffprobe reads the playlist.
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=codec_name,width,height",
            "-of",
            "json",
        ])
        .arg(hls.url("live.m3u8"))
        .output()
        .expect("ffprobe runs");
    let probe: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "ffprobe: {e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe}");
    assert_eq!(probe["streams"][0]["width"], 320, "{probe}");

    // GStreamer's hlsdemux plays it; its colour follows a cut.
    let (tx, mut frames) = mpsc::unbounded_channel::<Frame>();
    let mut gst_player = Pipeline::start(
        "hlsdemux player",
        &launch_args(&format!(
            "souphttpsrc location={} ! hlsdemux ! decodebin ! videoconvert ! videoscale \
             ! video/x-raw,format=RGB,width=1,height=1 ! fakesink sync=true dump=true",
            hls.url("live.m3u8")
        )),
        Some(tx),
    );
    logs.track(&gst_player);
    assert!(
        wait_colour(&mut frames, Colour::Red, Duration::from_secs(30)).await,
        "hlsdemux showed no red frame\n{}",
        logs.all()
    );

    // Cuts: blue, red, blue, 3 s apart.
    for (cam, colour) in [
        (&blue, Colour::Blue),
        (&red, Colour::Red),
        (&blue, Colour::Blue),
    ] {
        program(&srv, &show, &creator, json!(cam)).await;
        if colour == Colour::Blue {
            assert!(
                wait_colour(&mut frames, Colour::Blue, Duration::from_secs(30)).await,
                "hlsdemux did not follow the cut to blue\n{}",
                logs.all()
            );
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    gst_player.assert_running(&logs.all());
    gst_player.stop().await;

    // ffmpeg decodes every segment and part of the window, red and blue among them.
    let window = hls.playlist().await;
    assert!(window.segments.len() >= 4, "{}", window.text);
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut inits = std::collections::HashMap::new();
    for map in &window.maps {
        inits.insert(map.clone(), hls.bytes(map).await);
    }
    let init = inits.values().next().expect("an init segment").clone();
    assert_eq!(
        inits.len(),
        1,
        "same encoder settings: one init\n{}",
        window.text
    );
    // Fetched first (parts roll out within seconds), then decoded.
    let mut segments = Vec::new();
    for msn in &window.segments {
        let name = format!("seg-{msn}.m4s");
        segments.push((name.clone(), hls.bytes(&name).await));
    }
    let mut parts = Vec::new();
    for part in &window.parts {
        parts.push((part.clone(), hls.bytes(part).await));
    }
    let mut colours = Vec::new();
    for (name, bytes) in &segments {
        let colour = decode(dir.path(), name, &init, bytes);
        colours.push(colour.unwrap_or_else(|| panic!("{name} has no first frame")));
    }
    for (name, bytes) in &parts {
        decode(dir.path(), name, &init, bytes);
    }
    assert!(
        colours.contains(&Colour::Red) && colours.contains(&Colour::Blue),
        "segments' first frames: {colours:?}"
    );
    assert!(metric(&srv, "livesale_hls_parts_total").await >= 8.0);
    assert!(metric(&srv, "livesale_hls_segments_total").await >= 4.0);

    // Headers: playlist, file, HEAD, Range.
    let resp = hls.get("live.m3u8").await;
    let h = resp.headers();
    assert_eq!(h["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(h["cache-control"], "public, max-age=1");
    assert_eq!(h["access-control-allow-origin"], "*");
    let seg = format!("seg-{}.m4s", window.segments[window.segments.len() - 1]);
    let full = hls.bytes(&seg).await;
    let resp = hls.get(&seg).await;
    assert_eq!(resp.headers()["content-type"], "video/iso.segment");
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let resp = hls.get(&window.maps[0]).await;
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    let resp = srv.http.head(hls.url(&seg)).send().await.expect("HEAD");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-length"],
        full.len().to_string().as_str()
    );
    assert!(resp.bytes().await.expect("body").is_empty());
    let resp = srv
        .http
        .get(hls.url(&seg))
        .header("range", "bytes=0-9")
        .send()
        .await
        .expect("range");
    assert_eq!(resp.status(), 206);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes 0-9/{}", full.len()).as_str()
    );
    assert_eq!(resp.bytes().await.expect("body").as_ref(), &full[..10]);
    let resp = srv
        .http
        .get(hls.url(&seg))
        .header("range", format!("bytes={}-", full.len()))
        .send()
        .await
        .expect("range");
    assert_eq!(resp.status(), 416);
    assert_eq!(
        resp.headers()["content-range"],
        format!("bytes */{}", full.len()).as_str()
    );

    // Blocking reload.
    let now = hls.playlist().await;
    let (msn, part) = now.hint.expect("a preload hint");
    let next = format!("part-{msn}.{part}.m4s");
    assert!(!now.parts.contains(&next));
    let t0 = Instant::now();
    let resp = hls
        .get(&format!("live.m3u8?_HLS_msn={msn}&_HLS_part={part}"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "public, max-age=24");
    let text = resp.text().await.expect("text");
    // The answer lists the hinted part, or, when a keyframe closed the segment before that part
    // began (segments run past their target until a keyframe, so a hint can be the part after
    // the last), the closed segment and a hint beyond it.
    let answer = listing(&text);
    let closed_before = answer.segments.contains(&msn)
        && !answer.parts.contains(&next)
        && answer.hint.is_some_and(|(m, _)| m > msn);
    assert!(
        answer.parts.contains(&next) || closed_before,
        "the blocking answer lists {next} or closes segment {msn}:\n{text}"
    );
    let waited = t0.elapsed();
    let t1 = Instant::now();
    let resp = hls
        .get(&format!("live.m3u8?_HLS_msn={msn}&_HLS_part={part}"))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(
        t1.elapsed() < Duration::from_millis(300),
        "an existing part answers at once (took {:?}; the first wait {waited:?})",
        t1.elapsed()
    );
    // The hinted part itself, requested before it exists, comes when complete. On a loaded
    // machine the program can have a gap meanwhile (a packet the packager's queue dropped: it
    // closes the segment and waits for a keyframe), and then the hint is never made: 404, and
    // the name never appears in a playlist. The next hint must then be served.
    let mut part_bytes = None;
    for _ in 0..3 {
        let (hm, hp) = hls.playlist().await.hint.expect("a hint");
        let name = format!("part-{hm}.{hp}.m4s");
        let resp = hls.get(&name).await;
        if resp.status() == 200 {
            part_bytes = Some(resp.bytes().await.expect("part body"));
            break;
        }
        assert_eq!(resp.status(), 404, "GET {name}");
        let moved = Instant::now() + Duration::from_secs(5);
        let later = loop {
            let l = hls.playlist().await;
            if l.hint != Some((hm, hp)) || Instant::now() > moved {
                break l;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            !later.parts.contains(&name),
            "a hint answered 404 was served after all:\n{}",
            later.text
        );
    }
    let part_bytes = part_bytes.expect("one of three hinted parts served");
    assert!(part_bytes.len() > 100);
    // Too far ahead of the live edge as it is now (the hint is the segment in the making).
    let (edge, _) = hls.playlist().await.hint.expect("a hint");
    let resp = hls.get(&format!("live.m3u8?_HLS_msn={}", edge + 3)).await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("problem");
    assert_eq!(body["code"], "hls_request_too_far");
    let resp = hls.get("live.m3u8?_HLS_msn=x").await;
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.expect("problem");
    assert_eq!(body["code"], "invalid_query");
    // Rolled out of the window (12 s, and parts only for the last three segments).
    let old = hls.playlist().await;
    let oldest = first.segments[0];
    assert!(
        oldest > 10_000_000_000,
        "numbers start from the time (a restarted program never reuses a cached name)"
    );
    for gone in [format!("seg-{oldest}.m4s"), format!("part-{oldest}.0.m4s")] {
        let resp = hls.get(&gone).await;
        assert_eq!(resp.status(), 404, "{gone}\n{}", old.text);
        // Final, so a cache keeps it; any other problem is not cached.
        let cache = resp.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(cache.starts_with("public, max-age="), "{gone}: {cache}");
        let body: Value = resp.json().await.expect("problem");
        assert_eq!(body["code"], "hls_gone", "{gone}");
    }
    let resp = hls.get("nonsense.txt").await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers()["cache-control"], "no-store");

    // The bound on held requests; a client that leaves gives its hold back.
    let far = old.hint.expect("hint").0 + 2;
    let mut held = Vec::new();
    for _ in 0..MAX_HELD {
        let url = hls.url(&format!("live.m3u8?_HLS_msn={far}"));
        let http = srv.http.clone();
        held.push(tokio::spawn(async move { http.get(url).send().await }));
    }
    let until = Instant::now() + Duration::from_secs(5);
    while metric(&srv, "livesale_hls_held_requests").await < MAX_HELD as f64 {
        assert!(
            Instant::now() < until,
            "the held gauge never reached {MAX_HELD}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let resp = hls.get(&format!("live.m3u8?_HLS_msn={far}")).await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["retry-after"], "1");
    let body: Value = resp.json().await.expect("problem");
    assert_eq!(body["code"], "hls_busy");
    for h in &held {
        h.abort();
    }
    let until = Instant::now() + Duration::from_secs(5);
    while metric(&srv, "livesale_hls_held_requests").await > 0.0 {
        assert!(
            Instant::now() < until,
            "clients that left still hold {} requests",
            metric(&srv, "livesale_hls_held_requests").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A gap: nothing on air for 3 s, then blue again.
    let before = hls.playlist().await;
    program(&srv, &show, &creator, Value::Null).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = hls.playlist().await;
    assert!(during.hint.is_some() && during.media_sequence >= before.media_sequence);
    program(&srv, &show, &creator, json!(blue)).await;
    let last_before = *during.segments.last().expect("segments");
    let after = hls
        .wait_segments(last_before, 2, Duration::from_secs(20), &logs)
        .await;
    assert!(after.media_sequence >= during.media_sequence);
    assert!(
        after.discontinuities >= 1,
        "the return after the gap is a discontinuity:\n{}",
        after.text
    );
    let newest = *after.segments.last().expect("a segment");
    assert!(newest > last_before);
    let name = format!("seg-{newest}.m4s");
    let init = hls.bytes(after.maps.last().expect("a map")).await;
    assert_eq!(
        decode(dir.path(), &name, &init, &hls.bytes(&name).await),
        Some(Colour::Blue)
    );

    // A VP8-only show: 409.
    let (vp8_creator, vp8_show) = srv.live_show("VP8 studio", "Old encoder").await;
    let (_, vp8_pipe) = camera(&srv, &vp8_show, &vp8_creator, "vp8", publisher_vp8, &logs).await;
    let resp = srv
        .http
        .get(srv.url(&format!("/api/shows/{vp8_show}/hls/live.m3u8")))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 409);
    let body: Value = resp.json().await.expect("problem");
    assert_eq!(body["code"], "program_not_packageable", "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("H.264"),
        "{body}"
    );

    // The show ends: EXT-X-ENDLIST.
    let (status, body) = srv
        .post(&format!("/api/shows/{show}/end"), Some(&creator), json!({}))
        .await;
    assert_eq!(status, 200, "end the show: {body}");
    let ended = hls.playlist().await;
    assert!(
        ended.text.ends_with("#EXT-X-ENDLIST\n") && ended.hint.is_none(),
        "{}",
        ended.text
    );

    for p in [red_pipe, blue_pipe, vp8_pipe] {
        p.stop().await;
    }
    srv.stop().await;
}
