//! LL-HLS through a real cache: the real server, a real H.264 camera (GStreamer `x264enc` and
//! `whipsink`, through scripts/bench/gst_loopback.py as tests/media_gstreamer.rs launches its
//! pipelines), Debian's nginx with scripts/nginx/livesale-hls.conf in front, and the load tool's
//! LL-HLS clients (`livesale-load hls`, blocking reloads and preload hints like hls.js) playing
//! through nginx: first 10 clients, then 200. Every client gets every part published while it
//! plays, and the requests reaching livesale per published part (its /metrics) stay the same
//! however many clients there are: the cache collapses them.
//!
//! The test fails, never skips, when nginx, GStreamer, x264enc or whipsink is missing:
//! scripts/test.sh installs them (`scripts/test.sh --setup`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::gst::{plugin_path, repo, require_gstreamer};
use common::server::{Backend, TestServer, s};
use serde_json::{Value, json};

const TEST_TIMEOUT: Duration = Duration::from_secs(110);
/// Each load run: clients start over 1 s, play 2 s, then the measured window, then 2 s drain.
const WINDOW_S: u64 = 8;
/// Origin requests per part at 200 clients may be at most this much more than at 10.
const RATIO_BOUND: f64 = 1.2;

const FIX: &str = "run scripts/test.sh (or `scripts/test.sh --setup`): it installs nginx from \
                   Debian";

/// Fails (never skips) with the fix when a prerequisite is missing.
fn require_prerequisites() {
    let out = std::process::Command::new("nginx").arg("-v").output();
    assert!(
        matches!(&out, Ok(o) if o.status.success()),
        "nginx does not run ({out:?}): {FIX}"
    );
    require_gstreamer(&[
        "videotestsrc",
        "x264enc",
        "rtph264pay",
        "whipsink",
        "webrtcbin",
    ]);
}

/// A child process in its own process group, killed with its group when dropped.
struct Proc {
    name: &'static str,
    child: tokio::process::Child,
    pid: u32,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: tokio::process::Command, log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).expect("a log file");
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .process_group(0)
            .kill_on_drop(true);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}: {FIX}"));
        let pid = child.id().expect("a pid");
        Proc {
            name,
            child,
            pid,
            log,
        }
    }

    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "---- {} (pid {}) ----\n{}",
            self.name,
            self.pid,
            lines[from..].join("\n")
        )
    }

    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}):\n{}", self.name, self.tail());
        }
    }

    /// SIGINT (the camera sends EOS and whipsink DELETEs its session; nginx stops), then the
    /// group is killed after a grace period.
    async fn stop(mut self) {
        signal(&self.pid.to_string(), "-INT");
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
        signal(&format!("-{}", self.pid), "-KILL");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        signal(&format!("-{}", self.pid), "-KILL");
    }
}

fn signal(target: &str, sig: &str) {
    let _ = std::process::Command::new("kill")
        .args([sig, "--", target])
        .stderr(Stdio::null())
        .status();
}

fn camera(endpoint: &str, token: &str, log: PathBuf) -> Proc {
    let mut cmd = tokio::process::Command::new("/usr/bin/python3");
    cmd.arg(repo().join("scripts/bench/gst_loopback.py"));
    cmd.args(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=30/1 \
         ! videoconvert ! queue ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=60 \
         bitrate=500 ! video/x-h264,profile=constrained-baseline \
         ! rtph264pay pt=102 config-interval=-1 aggregate-mode=zero-latency ! whipsink name=whip"
            .split_whitespace(),
    );
    cmd.arg(format!("whip-endpoint={endpoint}"));
    cmd.arg(format!("auth-token={token}"));
    cmd.env("GST_PLUGIN_PATH", plugin_path())
        .env("GST_DEBUG", "*:1,webrtc*:2,whip*:3")
        .env("GST_DEBUG_NO_COLOR", "1");
    Proc::spawn("x264 camera", cmd, log)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// nginx with the repository's template, as the current user in `dir`.
fn nginx(dir: &Path, port: u16, origin: std::net::SocketAddr) -> Proc {
    let template = std::fs::read_to_string(repo().join("scripts/nginx/livesale-hls.conf"))
        .expect("scripts/nginx/livesale-hls.conf");
    let conf = template
        .replace("${LIVESALE_NGINX_LISTEN}", &format!("127.0.0.1:{port}"))
        .replace("${LIVESALE_NGINX_ORIGIN}", &origin.to_string())
        .replace("${LIVESALE_NGINX_STATE}", &dir.display().to_string())
        .replace("${LIVESALE_NGINX_WORKERS}", "1");
    assert!(
        !conf.contains("${LIVESALE_NGINX_"),
        "a template variable is left in the nginx config:\n{conf}"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    // Workers run as the current user: as root, nginx would switch them to nobody, who cannot
    // enter the private temp directory.
    let id = |flag: &str| {
        let out = std::process::Command::new("id")
            .arg(flag)
            .output()
            .expect("id runs");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let mut cmd = tokio::process::Command::new("nginx");
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&path)
        .arg("-g")
        .arg(format!("daemon off; user {} {};", id("-un"), id("-gn")));
    Proc::spawn("nginx", cmd, dir.join("nginx.out"))
}

async fn wait_for(
    what: &str,
    bound: Duration,
    procs: &mut [&mut Proc],
    mut ok: impl AsyncFnMut() -> bool,
) {
    let until = Instant::now() + bound;
    loop {
        if ok().await {
            return;
        }
        for p in procs.iter_mut() {
            p.assert_running();
        }
        if Instant::now() > until {
            let logs: Vec<String> = procs.iter().map(|p| p.tail()).collect();
            panic!("{what}: not within {bound:?}\n{}", logs.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One run of the load tool's LL-HLS clients through nginx; its JSON summary.
async fn play(dir: &Path, nginx: &str, origin: &str, show: &str, clients: usize) -> Value {
    let json_out = dir.join(format!("hls-{clients}.json"));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_livesale-load"))
        .args([
            "--threads",
            "2",
            "hls",
            "--url",
            nginx,
            "--origin-url",
            origin,
        ])
        .args(["--show", show, "--clients", &clients.to_string()])
        .args(["--ramp-s", "1", "--warmup-s", "2", "--drain-s", "2"])
        .args(["--duration-s", &WINDOW_S.to_string(), "--label"])
        .arg(format!("hls-{clients}"))
        .arg("--json-out")
        .arg(&json_out)
        .kill_on_drop(true)
        .output()
        .await
        .expect("livesale-load runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "livesale-load hls with {clients} clients failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    // The table; the JSON summary (its last line) is read from the file.
    let table: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('{')).collect();
    println!("{clients} clients:\n{}", table.join("\n"));
    let text = std::fs::read_to_string(&json_out).expect("the JSON summary");
    serde_json::from_str(&text).expect("a JSON summary")
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// What every run must show on its own: everyone played, every part of the window arrived.
fn check_run(r: &Value) {
    let clients = r["clients"].as_u64().expect("clients");
    assert_eq!(r["started"], clients, "not every client started: {r}");
    let expected = r["expected_parts"].as_u64().expect("expected_parts");
    // 500 ms parts over the window (with room for a slow start of the packager).
    assert!(
        expected >= WINDOW_S,
        "only {expected} parts appeared in a {WINDOW_S} s window: {r}"
    );
    assert_eq!(
        r["missing_total"], 0,
        "clients missed parts (got per client: {}): {r}",
        r["got"]
    );
    assert_eq!(r["derived"]["clients_complete"], clients, "{r}");
    assert_eq!(
        r["errors"],
        json!({}),
        "requests failed (by kind): {}",
        r["errors"]
    );
    let per_part = f(&r["derived"]["origin_per_part"]);
    assert!(
        per_part > 0.0,
        "no origin requests measured (livesale_hls_requests_total): {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_collapses_ll_hls_requests_for_a_crowd() {
    require_prerequisites();
    tokio::time::timeout(TEST_TIMEOUT, scenario())
        .await
        .unwrap_or_else(|_| panic!("the cache test ran over {TEST_TIMEOUT:?}"));
}

async fn scenario() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let srv = TestServer::start(Backend::Memory).await;
    let (creator, show) = srv.live_show("Cache studio", "A crowd through nginx").await;
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/invites"),
            Some(&creator),
            json!({ "role": "camera", "label": "x264" }),
        )
        .await;
    assert_eq!(status, 201, "camera invite: {body}");
    let token = s(&body["token"]);
    let mut cam = camera(
        &srv.url(&format!("/api/shows/{show}/whip")),
        &token,
        dir.path().join("camera.log"),
    );

    // The program is packaged: the origin's playlist lists parts.
    let playlist = srv.url(&format!("/api/shows/{show}/hls/live.m3u8"));
    let http = srv.http.clone();
    wait_for(
        "a playlist with parts at the origin",
        Duration::from_secs(30),
        &mut [&mut cam],
        async || match http.get(&playlist).send().await {
            Ok(r) if r.status() == 200 => r
                .text()
                .await
                .is_ok_and(|t| t.lines().any(|l| l.starts_with("#EXT-X-PART:"))),
            _ => false,
        },
    )
    .await;

    let port = free_port();
    let mut proxy = nginx(dir.path(), port, srv.addr);
    let cache = format!("http://127.0.0.1:{port}");
    let through = format!("{cache}/api/shows/{show}/hls/live.m3u8");
    wait_for(
        "the playlist through nginx",
        Duration::from_secs(10),
        &mut [&mut cam, &mut proxy],
        async || matches!(http.get(&through).send().await, Ok(r) if r.status() == 200),
    )
    .await;
    // nginx keeps what livesale says to keep: a part is a cache hit the second time.
    let text = http
        .get(&through)
        .send()
        .await
        .expect("playlist")
        .text()
        .await
        .expect("playlist text");
    let part = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .and_then(|a| a.split("URI=\"").nth(1))
        .and_then(|u| u.split('"').next())
        .unwrap_or_else(|| panic!("no part in the playlist through nginx:\n{text}"))
        .to_string();
    let part_url = format!("{cache}/api/shows/{show}/hls/{part}");
    let mut statuses = Vec::new();
    for _ in 0..2 {
        let r = http.get(&part_url).send().await.expect("part");
        statuses.push((
            r.status().as_u16(),
            r.headers()
                .get("x-cache-status")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        ));
    }
    assert_eq!(statuses[0].0, 200, "{part_url}: {statuses:?}");
    assert_eq!(
        statuses[1],
        (200, "HIT".to_string()),
        "{part_url} again: {statuses:?}"
    );

    let origin = srv.base.clone();
    let few = play(dir.path(), &cache, &origin, &show, 10).await;
    cam.assert_running();
    proxy.assert_running();
    let many = play(dir.path(), &cache, &origin, &show, 200).await;
    cam.assert_running();
    proxy.assert_running();
    check_run(&few);
    check_run(&many);

    let (a, b) = (
        f(&few["derived"]["origin_per_part"]),
        f(&many["derived"]["origin_per_part"]),
    );
    println!(
        "origin requests per part: {a:.3} at 10 clients, {b:.3} at 200 (ratio {:.3}); by kind {} and {}",
        b / a,
        few["derived"]["origin_per_part_by_kind"],
        many["derived"]["origin_per_part_by_kind"]
    );
    assert!(
        b <= RATIO_BOUND * a,
        "origin requests per part grew from {a:.3} (10 clients) to {b:.3} (200 clients): \
         more than ×{RATIO_BOUND}\n10: {few}\n200: {many}"
    );
    // The cache did the serving: the clients asked far more than reached livesale.
    let asked: u64 = many["requests_window"]
        .as_object()
        .expect("requests_window")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    let reached: f64 = many["derived"]["origin_from_clients"]
        .as_object()
        .expect("origin_from_clients")
        .values()
        .map(f)
        .sum();
    assert!(
        reached * 20.0 < asked as f64,
        "200 clients sent {asked} requests in the window and {reached} reached livesale"
    );

    proxy.stop().await;
    cam.stop().await;
    srv.stop().await;
}
