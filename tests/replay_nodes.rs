//! Replays served by every node (docs/replay.md "Several nodes"): two nodes on one Redis, a
//! show with H.264 cameras (GStreamer `whipsink`, as tests/replay.rs) published to node A, cut
//! once and ended. Node B, which recorded nothing, answers the replay: the playlist, every
//! file byte-identical to A's, a Range, `recording.mp4` for the creator only. Then A stops: B
//! answers `recording_node_unreachable` at once, and still 404 for names of no recorded file.
//! A recording split across the two nodes is joined into the same `recording.mp4`.
//! Also the store contract: the index keeps which node wrote each segment.
//!
//! It fails, never skips, when GStreamer or a plugin is missing.

mod common;

use std::time::{Duration, Instant};

use common::gst::{Pipeline, connected_camera, h264_opus_camera, require_gstreamer};
use common::server::{Backend, TestServer, s, test_config};
use livesale::domain::ShowId;
use livesale::store::recordings::RecordedSegment;
use serde_json::{Value, json};

fn publisher(pattern: &str, freq: u32, endpoint: &str, token: &str) -> Vec<String> {
    h264_opus_camera(pattern, freq, 30, 300, endpoint, token)
}

async fn get(
    srv: &TestServer,
    path: &str,
    token: Option<&str>,
    range: Option<&str>,
) -> reqwest::Response {
    let mut req = srv.http.get(format!("{}{path}", srv.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(r) = range {
        req = req.header("range", r);
    }
    req.send().await.expect("GET")
}

async fn bytes(srv: &TestServer, path: &str, token: Option<&str>) -> Vec<u8> {
    let resp = get(srv, path, token, None).await;
    assert_eq!(resp.status(), 200, "GET {path} on {}", srv.base);
    resp.bytes().await.expect("body").to_vec()
}

/// A camera published to `srv` with a camera invite; returns its id once connected.
async fn camera(srv: &TestServer, creator: &str, show: &str, label: &str) -> (String, Pipeline) {
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/invites"),
            Some(creator),
            json!({ "role": "camera", "label": label }),
        )
        .await;
    assert_eq!(status, 201, "camera invite: {body}");
    let whip = format!("{}/api/shows/{show}/whip", srv.base);
    let freq = if label == "red" { 440 } else { 660 };
    let mut p = Pipeline::start(
        label,
        &publisher(label, freq, &whip, &s(&body["token"])),
        None,
    );
    let id = connected_camera(srv, show, creator, label, &mut p, |p| p.report()).await;
    (id, p)
}

async fn program(srv: &TestServer, show: &str, creator: &str, camera: &str) {
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/program"),
            Some(creator),
            json!({ "camera": camera }),
        )
        .await;
    assert_eq!(status, 200, "program {camera}: {body}");
}

/// Waits until the show's index has `n` more complete segments than `after`.
async fn recorded(srv: &TestServer, show: &str, after: usize, n: usize) -> usize {
    let id: ShowId = show.parse().expect("show id");
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let done = srv
            .store
            .recording(id)
            .await
            .expect("store")
            .map(|r| r.segments.iter().filter(|s| s.complete).count())
            .unwrap_or(0);
        if done >= after + n {
            return done;
        }
        assert!(Instant::now() < until, "{n} segments after {after}: {done}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The replay playlist from `srv`, once the recording has settled.
async fn replay(srv: &TestServer, show: &str) -> String {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let resp = get(srv, &format!("/api/shows/{show}/replay.m3u8"), None, None).await;
        if resp.status() == 200 {
            return resp.text().await.expect("playlist");
        }
        assert!(Instant::now() < until, "no replay: {}", resp.status());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// The files a replay playlist names (maps and segments), in order.
fn named_files(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            l.strip_prefix("#EXT-X-MAP:URI=\"replay/")
                .map(|r| r.trim_end_matches('"'))
                .or_else(|| l.strip_prefix("replay/"))
        })
        .map(str::to_owned)
        .collect()
}

async fn problem(resp: reqwest::Response) -> (u16, String) {
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    (status, s(&body["code"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_serves_a_replay_recorded_on_another() {
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
    tokio::time::timeout(Duration::from_secs(120), scenario())
        .await
        .expect("the two-node replay test ran over 120 s");
}

async fn scenario() {
    let a = TestServer::start_with(test_config(Backend::Redis)).await;
    let mut config = test_config(Backend::Redis);
    config.redis_prefix = a.config.redis_prefix.clone();
    let b = TestServer::start_with(config).await;

    let (creator, show) = a.live_show("Two nodes", "Replay anywhere").await;
    let (red, red_pipe) = camera(&a, &creator, &show, "red").await;
    let (blue, blue_pipe) = camera(&a, &creator, &show, "blue").await;
    program(&a, &show, &creator, &red).await;
    let done = recorded(&a, &show, 0, 1).await;
    program(&a, &show, &creator, &blue).await;
    recorded(&a, &show, done, 1).await;
    let (status, body) = a
        .post(&format!("/api/shows/{show}/end"), Some(&creator), json!({}))
        .await;
    assert_eq!(status, 200, "end: {body}");
    red_pipe.stop().await;
    blue_pipe.stop().await;

    // Every segment names node A; B has nothing of it on disk.
    let id: ShowId = show.parse().expect("show id");
    let index = b.store.recording(id).await.expect("store").expect("index");
    assert!(
        index
            .segments
            .iter()
            .all(|s| s.node.as_deref() == Some(a.base.as_str())),
        "segments name node A ({}): {:?}",
        a.base,
        index.segments
    );
    assert!(!b.config.recordings_dir.join(&show).exists());

    // From B: the playlist and every file it names, as A serves them.
    let text = replay(&b, &show).await;
    assert_eq!(text, replay(&a, &show).await);
    let files = named_files(&text);
    assert!(
        files.iter().any(|f| f.starts_with("init-")) && files.len() >= 3,
        "{text}"
    );
    for name in &files {
        let path = format!("/api/shows/{show}/replay/{name}");
        let from_b = get(&b, &path, None, None).await;
        assert_eq!(from_b.status(), 200, "{name} from B");
        assert_eq!(
            from_b.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let from_b = from_b.bytes().await.expect("body");
        assert!(!from_b.is_empty(), "{name}");
        assert_eq!(
            from_b.to_vec(),
            bytes(&a, &path, None).await,
            "{name} differs"
        );
    }
    let seg = files.iter().find(|f| f.starts_with("seg-")).expect("a seg");
    let seg_path = format!("/api/shows/{show}/replay/{seg}");
    let whole = bytes(&a, &seg_path, None).await;
    let resp = get(&b, &seg_path, None, Some("bytes=4-13")).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.expect("body").to_vec(), whole[4..14]);
    let resp = get(&b, &seg_path, None, Some("bytes=999999999-")).await;
    assert_eq!(resp.status(), 416);

    // recording.mp4 through B: the creator's token is forwarded (and checked on both).
    let mp4_path = format!("/api/shows/{show}/recording.mp4");
    let resp = get(&b, &mp4_path, None, None).await;
    assert_eq!(resp.status(), 401);
    let mp4_b = get(&b, &mp4_path, Some(&creator), None).await;
    assert_eq!(mp4_b.status(), 200);
    assert_eq!(mp4_b.headers()["cache-control"], "private, max-age=3600");
    let mp4_b = mp4_b.bytes().await.expect("mp4").to_vec();
    assert!(mp4_b.len() > 1000);
    assert_eq!(mp4_b, bytes(&a, &mp4_path, Some(&creator)).await);
    let resp = get(&b, &mp4_path, Some(&creator), Some("bytes=0-9")).await;
    assert_eq!(resp.status(), 206);
    assert_eq!(resp.bytes().await.expect("body").to_vec(), mp4_b[..10]);

    // A request from a node is never forwarded again: B has no such file itself.
    let resp = b
        .http
        .get(format!("{}{seg_path}", b.base))
        .header(livesale::media::FORWARDED_HEADER, "1")
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), 404);

    // A recording split across nodes (its home moved mid-show): B holds one segment of it,
    // fetches the others from A and joins the same recording.mp4.
    let b_dir = b.config.recordings_dir.join(&show);
    std::fs::create_dir_all(&b_dir).expect("mkdir");
    std::fs::copy(
        a.config.recordings_dir.join(&show).join(seg),
        b_dir.join(seg),
    )
    .expect("copy a segment");
    assert_eq!(bytes(&b, &mp4_path, Some(&creator)).await, mp4_b);
    let init = files.iter().find(|f| f.starts_with("init-")).expect("init");
    assert!(b_dir.join(init).exists() && b_dir.join("recording.mp4").exists());
    std::fs::remove_dir_all(&b_dir).expect("rm");

    // A stops: B says so at once, with its code; names of no recorded file are still 404.
    a.stop().await;
    let started = Instant::now();
    let (status, code) = problem(get(&b, &seg_path, None, None).await).await;
    assert_eq!((status, code.as_str()), (503, "recording_node_unreachable"));
    assert!(started.elapsed() < Duration::from_secs(6), "bounded");
    let (status, code) = problem(get(&b, &mp4_path, Some(&creator), None).await).await;
    assert_eq!((status, code.as_str()), (503, "recording_node_unreachable"));
    for name in ["seg-1.m4s", "init-424242.mp4", "recording.mp4", "x.m4s"] {
        let resp = get(&b, &format!("/api/shows/{show}/replay/{name}"), None, None).await;
        assert_eq!(resp.status(), 404, "{name}");
    }
    let metrics = get(&b, "/metrics", None, None)
        .await
        .text()
        .await
        .expect("metrics");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("livesale_replay_hops_total{outcome=\"unreachable\"}")),
        "{metrics}"
    );
    b.stop().await;
}

fn segment(msn: u64, node: Option<&str>) -> RecordedSegment {
    RecordedSegment {
        msn,
        duration_s: 2.0,
        pdt_ms: 1_700_000_000_000 + msn as i64 * 2000,
        discontinuity: false,
        init: 1,
        bytes: 10,
        complete: true,
        node: node.map(str::to_owned),
    }
}

/// The index keeps which node wrote each segment (a segment of an older index names none).
async fn recording_index_names_nodes(store: livesale::store::SharedStore) {
    let show = ShowId(uuid::Uuid::now_v7());
    let segments = [
        segment(1, None),
        segment(2, Some("http://10.0.0.1:8080")),
        segment(3, Some("https://node-b.example")),
    ];
    for seg in &segments {
        store.put_segment(show, seg, 1000).await.expect("put");
    }
    let rec = store.recording(show).await.expect("read").expect("index");
    assert_eq!(rec.segments, segments.to_vec());
}

store_contracts!(recording_index_names_nodes);
