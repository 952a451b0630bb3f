//! Recording and replay (docs/replay.md), with real parts: GStreamer x264 + Opus cameras
//! published through `whipsink` (as tests/hls.rs does), real Redis, the real binary for the
//! crash, a real tmpfs for the full disk, and ffmpeg/ffprobe as the judges.
//!
//! - a show with two cameras cut three times and an off-air gap, then ended: `replay.m3u8` is
//!   VOD and lists every recorded segment; ffmpeg decodes every segment; ffprobe reads
//!   `recording.mp4` with the program's duration (±1 s), video and audio; bad requests;
//! - kill -9 mid-show, restart on the same Redis and folder: the recording goes on after a
//!   discontinuity, and nothing indexed before the kill is lost;
//! - a full disk (a 384 KiB tmpfs in a user+mount namespace) stops the recording loudly and
//!   leaves the live show and its LL-HLS going;
//! - retention: a recording older than keep-days is deleted (files and index) by the sweeper.
//!
//! It fails, never skips, when ffmpeg, GStreamer, a plugin or `unshare` is missing.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::gst::{Pipeline, h264_opus_camera, require_gstreamer};
use common::server::{Backend, ServerProcess, TestServer, s, test_config};
use livesale::clock::TestClock;
use livesale::domain::ShowId;
use livesale::domain::replay::{Recorded, TranscriptEntry};
use livesale::media::recording::{Recorder, RecordingConfig};
use livesale::store::RecordingStore;
use livesale::store::recordings::{RecordedSegment, Recording};
use serde_json::{Value, json};

const ADMIN: &str = "replay-admin-token";

fn publisher(pattern: &str, freq: u32, endpoint: &str, token: &str) -> Vec<String> {
    h264_opus_camera(pattern, freq, 60, 400, endpoint, token)
}

fn require_tools() {
    for tool in ["ffmpeg", "ffprobe", "unshare"] {
        let out = std::process::Command::new(tool).arg("--help").output();
        assert!(
            out.is_ok(),
            "{tool} does not run ({out:?}): scripts/test.sh installs it"
        );
    }
    require_gstreamer(&[
        "whipsink",
        "webrtcbin",
        "videotestsrc",
        "x264enc",
        "rtph264pay",
        "audiotestsrc",
        "opusenc",
        "rtpopuspay",
    ]);
}

/// A server to talk to: in this process or a child process.
struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn of(srv: &TestServer) -> Api {
        Api {
            base: srv.base.clone(),
            http: srv.http.clone(),
        }
    }

    fn at(base: &str) -> Api {
        Api {
            base: base.to_string(),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut req = match method {
            "POST" => self.http.post(self.url(path)).json(&body),
            _ => self.http.get(self.url(path)),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        TestServer::finish(req.send().await.expect("request sent")).await
    }

    async fn raw(&self, path: &str, token: Option<&str>, range: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(r) = range {
            req = req.header("range", r);
        }
        req.send().await.expect("GET")
    }

    /// A creator (with the admin token), a live show; returns (creator token, show id).
    async fn live_show(&self, name: &str) -> (String, String) {
        let (status, body) = self
            .call(
                "POST",
                "/api/creators",
                Some(ADMIN),
                json!({ "name": name }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let creator = s(&body["token"]);
        let (status, body) = self
            .call(
                "POST",
                "/api/shows",
                Some(&creator),
                json!({ "title": "Replay" }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let show = s(&body["id"]);
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/shows/{show}/start"),
                Some(&creator),
                json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (creator, show)
    }

    async fn invite(&self, creator: &str, show: &str, label: &str) -> String {
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/shows/{show}/invites"),
                Some(creator),
                json!({ "role": "camera", "label": label }),
            )
            .await;
        assert_eq!(status, 201, "camera invite: {body}");
        s(&body["token"])
    }

    /// Publishes a camera with `token`; returns its id once connected.
    async fn camera(
        &self,
        creator: &str,
        show: &str,
        label: &str,
        token: &str,
        pattern: &str,
    ) -> (String, Pipeline) {
        let whip = self.url(&format!("/api/shows/{show}/whip"));
        let freq = if pattern == "red" { 440 } else { 660 };
        let mut p = Pipeline::start(label, &publisher(pattern, freq, &whip, token), None);
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, list) = self
                .call(
                    "GET",
                    &format!("/api/shows/{show}/cameras"),
                    Some(creator),
                    Value::Null,
                )
                .await;
            if let Some(c) = list["cameras"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| c["label"] == label && c["connected"] == true)
            {
                return (s(&c["id"]), p);
            }
            p.assert_running(&p.report());
            assert!(Instant::now() < until, "{label} not connected: {list}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn program(&self, show: &str, creator: &str, camera: Value) {
        let (status, body) = self
            .call(
                "POST",
                &format!("/api/shows/{show}/program"),
                Some(creator),
                json!({ "camera": camera }),
            )
            .await;
        assert_eq!(status, 200, "program {camera}: {body}");
    }

    /// Complete segments of the live LL-HLS playlist.
    async fn live_segments(&self, show: &str) -> Vec<u64> {
        let resp = self
            .raw(&format!("/api/shows/{show}/hls/live.m3u8"), None, None)
            .await;
        if resp.status() != 200 {
            return Vec::new();
        }
        let text = resp.text().await.expect("text");
        text.lines()
            .filter_map(|l| l.strip_prefix("seg-")?.strip_suffix(".m4s")?.parse().ok())
            .collect()
    }

    async fn wait_live_segments(&self, show: &str, after: u64, n: usize) -> Vec<u64> {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let segs = self.live_segments(show).await;
            if segs.iter().filter(|&&m| m > after).count() >= n {
                return segs;
            }
            assert!(
                Instant::now() < until,
                "no {n} segments after {after}: {segs:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The replay playlist, once the show's recording has settled.
    async fn replay(&self, show: &str) -> String {
        let until = Instant::now() + Duration::from_secs(40);
        loop {
            let resp = self
                .raw(&format!("/api/shows/{show}/replay.m3u8"), None, None)
                .await;
            if resp.status() == 200 {
                assert_eq!(resp.headers()["access-control-allow-origin"], "*");
                return resp.text().await.expect("playlist");
            }
            assert!(Instant::now() < until, "no replay: {}", resp.status());
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn bytes(&self, path: &str) -> Vec<u8> {
        let resp = self.raw(path, None, None).await;
        assert_eq!(resp.status(), 200, "GET {path}");
        resp.bytes().await.expect("body").to_vec()
    }

    async fn metric(&self, line_prefix: &str) -> f64 {
        let text = self
            .raw("/metrics", None, None)
            .await
            .text()
            .await
            .expect("metrics");
        text.lines()
            .find_map(|l| l.strip_prefix(line_prefix)?.trim().parse().ok())
            .unwrap_or(0.0)
    }
}

/// The playlist's segment names, maps and discontinuities.
struct Vod {
    segments: Vec<String>,
    durations: f64,
    /// Seconds from the first segment's PDT to the last one's end.
    span: f64,
    discontinuities: usize,
    text: String,
}

fn vod(text: &str) -> Vod {
    let mut v = Vod {
        segments: Vec::new(),
        durations: 0.0,
        span: 0.0,
        discontinuities: 0,
        text: text.to_string(),
    };
    let (mut first, mut last, mut last_d) = (None, 0.0, 0.0);
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            let t = chrono::DateTime::parse_from_rfc3339(t).expect("PDT");
            let t = t.timestamp_millis() as f64 / 1000.0;
            first.get_or_insert(t);
            last = t;
        } else if let Some(d) = line.strip_prefix("#EXTINF:") {
            last_d = d.trim_end_matches(',').parse::<f64>().expect("EXTINF");
            v.durations += last_d;
        } else if let Some(name) = line.strip_prefix("replay/") {
            v.segments.push(name.to_string());
        } else if line == "#EXT-X-DISCONTINUITY" {
            v.discontinuities += 1;
        }
    }
    v.span = last + last_d - first.unwrap_or(last);
    v
}

/// ffmpeg decodes a file to nothing, in its own timing (without `-fps_mode passthrough` the
/// null output resamples to a guessed frame rate and reports its own duplicate times).
fn ffmpeg_decode(path: &Path) -> std::process::Output {
    std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-fps_mode",
            "passthrough",
            "-enc_time_base",
            "-1",
            "-f",
            "null",
            "-",
        ])
        .output()
        .expect("ffmpeg runs")
}

/// Every segment with its init, decoded by ffmpeg without an error.
async fn decode_all(api: &Api, show: &str, text: &str, dir: &Path) {
    let mut init = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            let name = rest.trim_end_matches('"');
            init = api.bytes(&format!("/api/shows/{show}/{name}")).await;
        } else if let Some(name) = line.strip_prefix("replay/") {
            let mut all = init.clone();
            all.extend(api.bytes(&format!("/api/shows/{show}/replay/{name}")).await);
            let path = dir.join(name.replace(".m4s", ".mp4"));
            std::fs::write(&path, &all).expect("write");
            let out = ffmpeg_decode(&path);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success() && stderr.trim().is_empty(),
                "ffmpeg decoding {name}: {stderr}"
            );
        }
    }
}

/// The recording's segment files on disk (with their sizes).
fn files(dir: &Path) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let len = e.metadata().ok()?.len();
                    (name.starts_with("seg-") && len > 0).then_some((name, len))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Sends the request target as written (no client normalises it); returns the status.
async fn raw_status(base: &str, target: &str) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = base.trim_start_matches("http://");
    let mut tcp = tokio::net::TcpStream::connect(authority)
        .await
        .expect("connect");
    let req = format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    tcp.write_all(req.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tcp.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_show_with_cuts_and_a_gap_replays_as_vod_and_one_mp4() {
    require_tools();
    tokio::time::timeout(Duration::from_secs(240), vod_scenario())
        .await
        .expect("the replay test ran over 240 s");
}

async fn vod_scenario() {
    let srv = TestServer::start_with(test_config(Backend::Redis)).await;
    let api = Api::of(&srv);
    let (creator, show) = srv.live_show("Replay studio", "Replay").await;
    let red_token = api.invite(&creator, &show, "red").await;
    let blue_token = api.invite(&creator, &show, "blue").await;
    let (red, red_pipe) = api.camera(&creator, &show, "red", &red_token, "red").await;
    let (blue, blue_pipe) = api
        .camera(&creator, &show, "blue", &blue_token, "blue")
        .await;
    api.program(&show, &creator, json!(red)).await;
    let segs = api.wait_live_segments(&show, 0, 1).await;

    // Live: no replay yet; an unknown show; the MP4 too.
    let (status, body) = api
        .call(
            "GET",
            &format!("/api/shows/{show}/replay.m3u8"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, s(&body["code"])),
        (404, "replay_not_ready".into()),
        "{body}"
    );
    let (status, body) = api
        .call(
            "GET",
            &format!("/api/shows/{show}/recording.mp4"),
            Some(&creator),
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, s(&body["code"])),
        (404, "replay_not_ready".into()),
        "{body}"
    );
    let unknown = uuid::Uuid::now_v7();
    let (status, body) = api
        .call(
            "GET",
            &format!("/api/shows/{unknown}/replay.m3u8"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(
        (status, s(&body["code"])),
        (404, "show_not_found".into()),
        "{body}"
    );

    // Three cuts (a product pinned after the first), then an off-air gap, then back on air.
    let mug = srv.product(&creator, "RP-MUG", 2400, 5).await;
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/lineup"),
            Some(&creator),
            json!({ "product_id": mug }),
        )
        .await;
    assert_eq!(status, 200, "lineup: {body}");
    let mut pinned = (0, 0);
    let mut last = *segs.last().expect("a segment");
    for (i, cam) in [&blue, &red, &blue].into_iter().enumerate() {
        api.program(&show, &creator, json!(cam)).await;
        last = *api
            .wait_live_segments(&show, last, 1)
            .await
            .last()
            .expect("segment");
        if i == 0 {
            let before = chrono::Utc::now().timestamp_millis();
            let (status, body) = srv
                .post(
                    &format!("/api/shows/{show}/pins"),
                    Some(&creator),
                    json!({ "product_id": mug }),
                )
                .await;
            assert_eq!(status, 200, "pin: {body}");
            pinned = (before, chrono::Utc::now().timestamp_millis());
        }
    }
    api.program(&show, &creator, Value::Null).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    api.program(&show, &creator, json!(red)).await;
    api.wait_live_segments(&show, last, 2).await;
    // Live too: the cameras' audio went on while the video was off air, and still the open
    // segment ended there and the return is a discontinuity (not a hole inside a segment).
    let live = api.bytes(&format!("/api/shows/{show}/hls/live.m3u8")).await;
    let live = String::from_utf8(live).expect("a playlist");
    assert!(
        live.contains("#EXT-X-DISCONTINUITY\n"),
        "the live playlist marks the return after the gap:\n{live}"
    );
    let (status, body) = api
        .call(
            "POST",
            &format!("/api/shows/{show}/end"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "end: {body}");
    red_pipe.stop().await;
    blue_pipe.stop().await;

    let text = api.replay(&show).await;
    let v = vod(&text);
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
    assert!(text.contains("#EXT-X-MAP:URI=\"replay/init-"), "{text}");
    assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:"), "{text}");
    assert!(
        v.discontinuities >= 1,
        "the gap is a discontinuity:\n{text}"
    );
    let dir = srv.config.recordings_dir.join(&show);
    let on_disk: Vec<String> = files(&dir).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        v.segments, on_disk,
        "every recorded segment is listed:\n{}",
        v.text
    );
    assert!(v.segments.len() >= 6, "{text}");
    assert!(v.durations > 8.0 && v.durations <= v.span + 0.5, "{text}");
    let tmp = tempfile::tempdir().expect("tempdir");
    decode_all(&api, &show, &text, tmp.path()).await;

    // Chapters on the replay's own timeline: the pin at the time it was made (its pts is the
    // server's clock, this machine's), counted from the first segment's program date, and in
    // the playlist as an EXT-X-DATERANGE; a chapter for each cut.
    let (status, body) = api
        .call(
            "GET",
            &format!("/api/shows/{show}/chapters"),
            None,
            Value::Null,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let chapters = body["chapters"].as_array().expect("chapters").clone();
    let pin = chapters
        .iter()
        .find(|c| c["kind"] == "pin")
        .unwrap_or_else(|| panic!("a pin chapter: {body}"));
    let pts = pin["pts"].as_i64().expect("pts");
    assert!(
        (pinned.0..=pinned.1).contains(&pts),
        "the pin's pts {pts} is when it was pinned {pinned:?}"
    );
    let origin = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:"))
        .map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .expect("PDT")
                .timestamp_millis()
        })
        .expect("a program date");
    assert_eq!(pin["at_ms"].as_i64(), Some(pts - origin), "{pin}");
    assert!(
        text.contains(&format!("#EXT-X-DATERANGE:ID=\"{}\"", s(&pin["id"]))),
        "the pin is a date range of the replay:\n{text}"
    );
    let cuts = chapters.iter().filter(|c| c["kind"] == "cut").count();
    assert!(cuts >= 4, "the first program and three cuts: {body}");

    // recording.mp4: the creator's only.
    let mp4_path = format!("/api/shows/{show}/recording.mp4");
    let resp = api.raw(&mp4_path, None, None).await;
    assert_eq!(resp.status(), 401);
    let (_, other) = srv.creator("Someone else").await;
    let resp = api.raw(&mp4_path, Some(&other), None).await;
    assert_eq!(resp.status(), 403);
    let resp = api.raw(&mp4_path, Some(&creator), None).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    let mp4 = resp.bytes().await.expect("mp4");
    let file = tmp.path().join("recording.mp4");
    std::fs::write(&file, &mp4).expect("write");
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration:stream=codec_type",
            "-of",
            "json",
        ])
        .arg(&file)
        .output()
        .expect("ffprobe runs");
    let probe: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let duration: f64 = s(&probe["format"]["duration"]).parse().expect("a duration");
    // The MP4's time is wall-clock time since the first segment (an off-air gap is a pause).
    if (duration - v.span).abs() > 1.0 {
        let _ = std::fs::copy(
            &file,
            std::env::temp_dir().join("livesale-replay-failed.mp4"),
        );
        let _ = std::fs::write(
            std::env::temp_dir().join("livesale-replay-failed.m3u8"),
            &text,
        );
    }
    assert!(
        (duration - v.span).abs() <= 1.0,
        "ffprobe says {duration} s, the playlist spans {} s",
        v.span
    );
    let kinds: Vec<String> = probe["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .map(|s| s["codec_type"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(
        kinds.contains(&"video".to_string()) && kinds.contains(&"audio".to_string()),
        "{probe}"
    );
    let out = ffmpeg_decode(&file);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Ranges: a slice, and past the end.
    let resp = api.raw(&mp4_path, Some(&creator), Some("bytes=0-9")).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.expect("body").len(), 10);
    let resp = api
        .raw(
            &mp4_path,
            Some(&creator),
            Some(&format!("bytes={}-", mp4.len())),
        )
        .await;
    assert_eq!(resp.status(), 416);
    let seg = format!("/api/shows/{show}/replay/{}", v.segments[0]);
    let resp = api.raw(&seg, None, Some("bytes=999999999-")).await;
    assert_eq!(resp.status(), 416);
    let resp = api.raw(&seg, None, None).await;
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );

    // Names that try to leave the folder, and names of no recorded file.
    std::fs::write(srv.config.recordings_dir.join("secret.txt"), "secret").expect("write");
    for name in [
        "%2e%2e%2fsecret.txt",
        "..%2Fsecret.txt",
        "%2e%2e",
        "..",
        "%2Fetc%2Fpasswd",
        "seg-1.m4s%2F..%2F..%2Fsecret.txt",
        "init-..mp4",
        "seg--1.m4s",
        "seg-+1.m4s",
        "seg-99.m4s",
        "recording.mp4",
    ] {
        let status = raw_status(&srv.base, &format!("/api/shows/{show}/replay/{name}")).await;
        assert_eq!(status, 404, "{name}");
    }
    srv.stop().await;
}

fn redis_args(prefix: &str, dir: &Path) -> Vec<String> {
    vec![
        "--redis-url".into(),
        common::redis::redis_url(),
        "--redis-prefix".into(),
        prefix.into(),
        "--recordings-dir".into(),
        dir.display().to_string(),
        "--node-id".into(),
        "rec-node".into(),
    ]
}

async fn index(store: &livesale::store::SharedStore, show: &str) -> Recording {
    let id: ShowId = show.parse().expect("show id");
    store
        .recording(id)
        .await
        .expect("store")
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_mid_show_resumes_the_same_recording() {
    require_tools();
    tokio::time::timeout(Duration::from_secs(240), kill_scenario())
        .await
        .expect("the kill -9 test ran over 240 s");
}

async fn kill_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let prefix = common::redis::unique_prefix("rec-kill");
    let args = redis_args(&prefix, dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let envs = [("LIVESALE_ADMIN_TOKEN", ADMIN)];
    let store = livesale::store::open(livesale::store::Backend::Redis {
        url: &common::redis::redis_url(),
        prefix: &prefix,
        timeout: Duration::from_secs(5),
    })
    .await
    .expect("the store");

    let mut a = ServerProcess::spawn(&args, &envs);
    let api = Api::at(&a.base);
    let (creator, show) = api.live_show("Crash studio").await;
    let token = api.invite(&creator, &show, "cam").await;
    let (cam, pipe) = api.camera(&creator, &show, "cam", &token, "red").await;
    api.program(&show, &creator, json!(cam)).await;
    let until = Instant::now() + Duration::from_secs(30);
    while index(&store, &show)
        .await
        .segments
        .iter()
        .filter(|s| s.complete)
        .count()
        < 3
    {
        assert!(Instant::now() < until, "three segments recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    a.kill();
    let at_kill = index(&store, &show).await;
    pipe.stop().await;

    // The same address: the show's media-home lease (in Redis) names it.
    let bind = a.base.trim_start_matches("http://").to_string();
    let mut args_b = args.clone();
    args_b.extend(["--bind", bind.as_str()]);
    let b = ServerProcess::spawn(&args_b, &envs);
    let api = Api::at(&b.base);
    let (cam, pipe) = api.camera(&creator, &show, "cam", &token, "red").await;
    api.program(&show, &creator, json!(cam)).await;
    let last_before = at_kill.segments.last().expect("segments").msn;
    let until = Instant::now() + Duration::from_secs(30);
    while index(&store, &show)
        .await
        .segments
        .iter()
        .filter(|s| s.msn > last_before && s.complete)
        .count()
        < 2
    {
        assert!(
            Instant::now() < until,
            "two segments recorded after the restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = api
        .call(
            "POST",
            &format!("/api/shows/{show}/end"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "end: {body}");
    pipe.stop().await;
    let text = api.replay(&show).await;
    let after = index(&store, &show).await;

    // Nothing indexed before the kill is lost: same segments, same files, at least the bytes
    // written then (the one in flight was cut back to its last whole part).
    let show_dir = dir.path().join(&show);
    for seg in &at_kill.segments {
        let now = after
            .segments
            .iter()
            .find(|s| s.msn == seg.msn)
            .unwrap_or_else(|| panic!("segment {} lost", seg.msn));
        assert_eq!(
            (now.pdt_ms, now.init, now.discontinuity),
            (seg.pdt_ms, seg.init, seg.discontinuity)
        );
        assert!(now.bytes >= seg.bytes, "{now:?} < {seg:?}");
        assert!(now.complete, "{now:?}");
        let len = std::fs::metadata(show_dir.join(now.file()))
            .expect("file")
            .len();
        assert_eq!(len, now.bytes, "{now:?}");
        if seg.bytes > 0 {
            assert!(text.contains(&format!("replay/{}\n", seg.file())), "{text}");
        }
    }
    let first_new: &RecordedSegment = after
        .segments
        .iter()
        .find(|s| s.msn > last_before)
        .expect("a new segment");
    assert!(first_new.discontinuity, "{first_new:?}");
    let at = text.find(&first_new.file()).expect("listed");
    assert!(
        text[..at]
            .trim_end()
            .rsplit('\n')
            .any(|l| l == "#EXT-X-DISCONTINUITY"),
        "{text}"
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    decode_all(&api, &show, &text, tmp.path()).await;
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_recording_loudly_and_not_the_show() {
    require_tools();
    tokio::time::timeout(Duration::from_secs(180), full_disk_scenario())
        .await
        .expect("the full disk test ran over 180 s");
}

async fn full_disk_scenario() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mount = dir.path().display().to_string();
    // A user+mount namespace of the server's own, with a 384 KiB tmpfs on the folder.
    let wrapper = [
        "unshare",
        "-rm",
        "sh",
        "-c",
        "mount -t tmpfs -o size=384k tmpfs \"$0\" && exec \"$@\"",
        &mount,
    ];
    let envs = [("LIVESALE_ADMIN_TOKEN", ADMIN)];
    let srv = ServerProcess::spawn_wrapped(&wrapper, &["--recordings-dir", &mount], &envs);
    let api = Api::at(&srv.base);
    let (creator, show) = api.live_show("Full studio").await;
    let token = api.invite(&creator, &show, "cam").await;
    let (cam, pipe) = api.camera(&creator, &show, "cam", &token, "red").await;
    api.program(&show, &creator, json!(cam)).await;
    let disk_full = "livesale_recording_errors_total{reason=\"disk_full\"}";
    let until = Instant::now() + Duration::from_secs(60);
    while api.metric(disk_full).await < 1.0 {
        assert!(Instant::now() < until, "no disk_full error within 60 s");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let last = *api
        .wait_live_segments(&show, 0, 1)
        .await
        .last()
        .expect("segment");
    // The show and its LL-HLS go on.
    api.wait_live_segments(&show, last, 2).await;
    let (_, body) = api
        .call("GET", &format!("/api/shows/{show}"), None, Value::Null)
        .await;
    assert_eq!(body["status"], "live", "{body}");
    assert_eq!(
        api.metric(disk_full).await,
        1.0,
        "one error, then no more writes"
    );
    let logs = srv.logs().join("\n");
    assert_eq!(
        logs.matches("RECORDING STOPPED").count(),
        1,
        "one loud log line:\n{logs}"
    );
    assert!(logs.contains("ERROR"), "{logs}");
    pipe.stop().await;
    drop(srv);
}

/// The sweeper deletes a recording last written more than keep-days ago, files, index and
/// room transcript, on both stores, and keeps a fresh one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_recordings_are_swept() {
    for store in [
        common::stores::memory(),
        common::stores::redis_store("rec-sweep").await,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = TestClock::new();
        let recorder = Recorder::new(
            RecordingConfig {
                dir: dir.path().to_path_buf(),
                keep: Duration::from_secs(86_400),
                sweep_every: Duration::from_secs(3600),
            },
            store.clone() as Arc<dyn RecordingStore>,
            clock.clone(),
        );
        recorder.sweep_transcripts_in(store.clone());
        let said = TranscriptEntry {
            pts: 1,
            seq: 1,
            event: Recorded::ChatCleared {},
        };
        let put = |show: ShowId| {
            let store = store.clone();
            let clock = clock.clone();
            let dir: PathBuf = dir.path().join(show.to_string());
            async move {
                std::fs::create_dir_all(&dir).expect("mkdir");
                std::fs::write(dir.join("seg-1.m4s"), b"data").expect("write");
                let seg = RecordedSegment {
                    msn: 1,
                    duration_s: 2.0,
                    pdt_ms: 1,
                    discontinuity: false,
                    init: 1,
                    bytes: 4,
                    complete: true,
                    node: None,
                };
                store
                    .put_segment(show, &seg, livesale::clock::Clock::now_ms(&*clock) as i64)
                    .await
                    .expect("put");
            }
        };
        let old = ShowId(uuid::Uuid::now_v7());
        put(old).await;
        clock.advance(Duration::from_secs(2 * 86_400));
        let fresh = ShowId(uuid::Uuid::now_v7());
        put(fresh).await;
        for show in [old, fresh] {
            let kept = store.append_transcript(show, std::slice::from_ref(&said));
            assert_eq!(kept.await.expect("transcript"), 1);
        }
        assert!(recorder.sweep_once().await >= 1);
        assert!(!dir.path().join(old.to_string()).exists());
        assert_eq!(store.recording(old).await.expect("store"), None);
        assert!(
            dir.path()
                .join(fresh.to_string())
                .join("seg-1.m4s")
                .exists()
        );
        assert!(store.recording(fresh).await.expect("store").is_some());
        assert!(store.transcript(old).await.expect("store").is_empty());
        assert_eq!(store.transcript(fresh).await.expect("store"), vec![said]);
    }
}

fn segment(msn: u64, bytes: u64, complete: bool) -> RecordedSegment {
    RecordedSegment {
        msn,
        duration_s: 0.5 * bytes as f64,
        pdt_ms: 1_700_000_000_000 + msn as i64 * 100,
        discontinuity: msn == 30,
        init: 10,
        bytes,
        complete,
        node: None,
    }
}

/// The recording index, on both stores: segments in msn order whatever the write order, a
/// segment replaced by its later state, the origin, retention by last write, removal.
async fn recording_index_contract(store: livesale::store::SharedStore) {
    let show = ShowId(uuid::Uuid::now_v7());
    let other = ShowId(uuid::Uuid::now_v7());
    assert_eq!(store.recording(show).await.expect("read"), None);
    for (seg, at) in [
        (segment(20, 1, false), 1000),
        (segment(10, 4, true), 1001),
        (segment(20, 3, true), 1002),
        (segment(30, 2, false), 1003),
    ] {
        store.put_segment(show, &seg, at).await.expect("put");
    }
    store
        .put_segment(other, &segment(5, 1, true), 5000)
        .await
        .expect("put");
    let rec = store
        .recording(show)
        .await
        .expect("read")
        .expect("a recording");
    assert_eq!(
        rec.segments,
        vec![
            segment(10, 4, true),
            segment(20, 3, true),
            segment(30, 2, false)
        ]
    );
    assert_eq!(rec.origin_ms(), Some(1_700_000_000_000 + 1000));
    assert_eq!(rec.bytes(), 9);
    assert_eq!(store.recordings_before(1003).await.expect("read"), vec![]);
    assert_eq!(
        store.recordings_before(1004).await.expect("read"),
        vec![show]
    );
    let mut both = store.recordings_before(5001).await.expect("read");
    both.sort();
    let mut want = vec![show, other];
    want.sort();
    assert_eq!(both, want);
    store.remove_recording(show).await.expect("remove");
    assert_eq!(store.recording(show).await.expect("read"), None);
    assert_eq!(
        store.recordings_before(i64::MAX).await.expect("read"),
        vec![other]
    );
}

store_contracts!(recording_index_contract);
