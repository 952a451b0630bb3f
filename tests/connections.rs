//! Connections end to end, with raw TCP sockets against the real server on port 0, on both
//! stores: request heads, bodies and idle keep-alive connections that take too long are
//! closed or answered 408; a declared length over the route's limit is 413 before any body;
//! at the connection cap idle connections give way, so health checks and chat still work;
//! when every place is busy a new connection is answered 503 and counted; and under a file
//! limit of 256 with 400 idle sockets held, `/healthz` still answers (docs/operations.md,
//! "Connections and timeouts").

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::redis::{redis_url, unique_prefix};
use common::server::{ADMIN, Backend, ServerProcess, TestServer, test_config};
use common::ws::{WAIT, WsClient};
use livesale::config::Config;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

on_both_stores!(
    a_slow_request_head_is_closed_at_the_header_timeout,
    idle_connections_are_closed_at_the_idle_timeout,
    a_slow_body_is_answered_408,
    an_endless_chunked_body_is_answered_408,
    a_declared_length_over_the_limit_is_413_at_once,
    at_the_cap_idle_connections_give_way,
    when_every_place_is_busy_a_new_connection_gets_503,
    the_per_address_cap_refuses_only_that_address,
);

fn config(backend: Backend) -> Config {
    let mut c = test_config(backend);
    c.http_header_timeout_ms = 10_000;
    c.http_body_timeout_ms = 30_000;
    c.http_idle_timeout_s = 30;
    c
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// A connection from another loopback address (127.0.0.x), as another client would be.
async fn connect_from(local: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{local}:0").parse().expect("address"))
        .expect("bind a loopback source address");
    socket.connect(addr).await.expect("connect")
}

/// Waits until the server closes the connection (reads are discarded); the time it took, or
/// `None` when it stayed open for `limit`. With `trickle`, one more header byte every 200 ms.
async fn closed_within(c: &mut TcpStream, limit: Duration, trickle: bool) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match tokio::time::timeout(Duration::from_millis(200), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => {}
            Err(_) if trickle => {
                let _ = c.write_all(b"X").await;
            }
            Err(_) => {}
        }
    }
    None
}

/// One HTTP/1.1 response: status, lower-cased head, body (read by Content-Length, or to EOF).
async fn read_response(c: &mut TcpStream, limit: Duration) -> Option<(u16, String, String)> {
    let read = async {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                if length.is_some_and(|n| data.len() >= end + 4 + n) {
                    let n = length.unwrap_or(0);
                    let body = String::from_utf8_lossy(&data[end + 4..end + 4 + n]).to_string();
                    let status = head.split_whitespace().nth(1)?.parse().ok()?;
                    return Some((status, head, body));
                }
            }
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok().flatten()
}

fn code_of(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A client that opens a new connection for each request (pooled connections are idle ones,
/// which these tests evict on purpose).
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client")
}

async fn healthz(base: &str) -> u16 {
    match fresh_client().get(format!("{base}/healthz")).send().await {
        Ok(r) => r.status().as_u16(),
        Err(e) => panic!("/healthz did not answer: {e}"),
    }
}

/// The sum of a Prometheus counter's series whose labels contain `labels`.
async fn metric(base: &str, name: &str, labels: &str) -> f64 {
    let text = fresh_client()
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn a_slow_request_head_is_closed_at_the_header_timeout(backend: Backend) {
    let mut c = config(backend);
    c.http_header_timeout_ms = 600;
    let srv = TestServer::start_with(c).await;

    // A head that never ends, one byte at a time: the deadline counts from its first byte.
    let mut sock = connect(srv.addr).await;
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let took = closed_within(&mut sock, Duration::from_secs(8), true)
        .await
        .expect("a slow head is closed (the idle timeout is 30 s, the header timeout 600 ms)");
    assert!(
        took >= Duration::from_millis(500),
        "closed too early: {took:?}"
    );

    // A whole head in time is served as usual.
    assert_eq!(healthz(&srv.base).await, 200);
    srv.stop().await;
}

async fn idle_connections_are_closed_at_the_idle_timeout(backend: Backend) {
    let mut c = config(backend);
    c.http_idle_timeout_s = 1;
    let srv = TestServer::start_with(c).await;

    // A kept-alive connection after its answer.
    let mut kept = connect(srv.addr).await;
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (status, head, _) = read_response(&mut kept, WAIT).await.expect("an answer");
    assert_eq!(status, 200);
    assert!(!head.contains("connection: close"), "{head}");
    // A connection that never sends a byte.
    let mut silent = connect(srv.addr).await;

    let took = closed_within(&mut kept, Duration::from_secs(8), false)
        .await
        .expect("an idle keep-alive connection is closed");
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );
    closed_within(&mut silent, Duration::from_secs(8), false)
        .await
        .expect("a silent connection is closed");
    assert!(
        metric(
            &srv.base,
            "livesale_connections_closed_total",
            "idle_timeout"
        )
        .await
            >= 2.0
    );
    srv.stop().await;
}

async fn a_slow_body_is_answered_408(backend: Backend) {
    let mut c = config(backend);
    c.http_body_timeout_ms = 700;
    let srv = TestServer::start_with(c).await;
    let mut sock = connect(srv.addr).await;
    sock.write_all(
        b"POST /api/qr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 50\r\n\r\n{\"text\":",
    )
    .await
    .unwrap();
    let (status, head, body) = read_response(&mut sock, Duration::from_secs(8))
        .await
        .expect("an answer to a body that stopped");
    assert_eq!(status, 408, "{head}\n{body}");
    assert_eq!(code_of(&body), "body_timeout", "{body}");
    assert!(head.contains("application/problem+json"), "{head}");
    srv.stop().await;
}

async fn an_endless_chunked_body_is_answered_408(backend: Backend) {
    let mut c = config(backend);
    c.http_body_timeout_ms = 700;
    let srv = TestServer::start_with(c).await;
    let sock = connect(srv.addr).await;
    let (mut read, mut write) = sock.into_split();
    write
        .write_all(
            b"POST /api/qr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    // Small chunks for ever (well under the route's 4 KiB within the test's time).
    let writer = tokio::spawn(async move {
        while write.write_all(b"1\r\n \r\n").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let answer = tokio::time::timeout(Duration::from_secs(8), async {
        let mut data = Vec::new();
        let mut buf = [0u8; 4096];
        while !data.windows(4).any(|w| w == b"\r\n\r\n") {
            match read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => data.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&data).to_string()
    })
    .await
    .expect("an endless body gets an answer (or a close) within the body timeout");
    writer.abort();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    srv.stop().await;
}

async fn a_declared_length_over_the_limit_is_413_at_once(backend: Backend) {
    let srv = TestServer::start_with(config(backend)).await;
    let (_, creator) = srv.creator("Ada").await;
    let json_limit = srv.config.max_body_bytes;
    let import_limit = srv.config.max_import_bytes;
    let cases = [
        ("/api/qr", String::new(), "9223372036854775807".to_string()),
        (
            "/api/creators",
            format!("Authorization: Bearer {ADMIN}\r\n"),
            (json_limit + 1).to_string(),
        ),
        (
            "/api/products/import",
            format!("Authorization: Bearer {creator}\r\n"),
            (import_limit + 1).to_string(),
        ),
    ];
    for (path, auth, length) in cases {
        let mut sock = connect(srv.addr).await;
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n\
             Content-Length: {length}\r\n\r\n"
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        // No body is sent: the answer must not wait for it.
        let (status, _, body) = read_response(&mut sock, WAIT)
            .await
            .unwrap_or_else(|| panic!("{path}: no answer to Content-Length {length}"));
        assert_eq!(status, 413, "{path}: {body}");
        assert_eq!(code_of(&body), "payload_too_large", "{path}: {body}");
    }

    // The import route's own, larger limit applies to it, not the JSON one.
    let csv = format!(
        "Handle,Title,Variant SKU,Variant Price\n{}",
        "x,Thing,SKU-1,1.00\n".repeat(json_limit / 16)
    );
    assert!(csv.len() > json_limit && csv.len() < import_limit);
    let resp = srv
        .http
        .post(srv.url("/api/products/import"))
        .bearer_auth(&creator)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_ne!(
        resp.status().as_u16(),
        413,
        "{}",
        resp.text().await.unwrap()
    );
    srv.stop().await;
}

async fn at_the_cap_idle_connections_give_way(backend: Backend) {
    let mut c = config(backend);
    c.max_connections = 20;
    c.max_connections_per_ip = 20;
    let srv = TestServer::start_with(c).await;
    let (_, creator) = srv.creator("Ada").await;
    let show = srv.show(&creator, "Capped").await;
    let (_, viewer) = srv.viewer(&show, "Bea").await;
    let (mut bea, _) = WsClient::join(&srv, &show, Some(&viewer)).await;
    let before = metric(&srv.base, "livesale_connections_evicted_total", "").await;

    // Twice the cap in sockets that never send a byte, all from the health check's address.
    let mut idle = Vec::new();
    for _ in 0..40 {
        idle.push(connect(srv.addr).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        assert_eq!(healthz(&srv.base).await, 200);
    }
    // The WebSocket (active) was never a candidate: chat still goes round.
    bea.chat("still here").await;
    let frames = bea
        .collect_until(|v| v["type"] == "chat.message", WAIT)
        .await;
    assert_eq!(frames.last().unwrap()["text"], "still here");
    // And a new WebSocket gets in too.
    let (mut cy, _) = WsClient::join(&srv, &show, None).await;
    cy.roundtrip().await;
    let after = metric(&srv.base, "livesale_connections_evicted_total", "").await;
    assert!(after >= before + 20.0, "evictions {before} -> {after}");
    drop(idle);
    srv.stop().await;
}

/// Opens a request whose body never comes: the connection is busy (a request in flight).
async fn busy(mut sock: TcpStream) -> TcpStream {
    sock.write_all(
        b"POST /api/qr HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{",
    )
    .await
    .unwrap();
    sock
}

async fn expect_503(sock: &mut TcpStream) {
    sock.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (status, head, body) = read_response(sock, WAIT)
        .await
        .expect("a refused connection is answered");
    assert_eq!(status, 503, "{head}\n{body}");
    assert!(head.contains("application/problem+json"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(code_of(&body), "too_many_connections", "{body}");
}

async fn when_every_place_is_busy_a_new_connection_gets_503(backend: Backend) {
    let mut c = config(backend);
    c.max_connections = 4;
    c.max_connections_per_ip = 3;
    let srv = TestServer::start_with(c).await;
    let before = metric(
        &srv.base,
        "livesale_connections_refused_total",
        "cap=\"total\"",
    )
    .await;
    let mut held = Vec::new();
    for local in ["127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3"] {
        held.push(busy(connect_from(local, srv.addr).await).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut refused = connect(srv.addr).await;
    expect_503(&mut refused).await;
    drop(held);
    // The places come back once the busy connections are gone.
    let deadline = Instant::now() + WAIT;
    let after = loop {
        let m = metric(
            &srv.base,
            "livesale_connections_refused_total",
            "cap=\"total\"",
        )
        .await;
        if m > before || Instant::now() > deadline {
            break m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(after >= before + 1.0, "refusals {before} -> {after}");
    srv.stop().await;
}

async fn the_per_address_cap_refuses_only_that_address(backend: Backend) {
    let mut c = config(backend);
    c.max_connections = 50;
    c.max_connections_per_ip = 2;
    let srv = TestServer::start_with(c).await;
    let before = metric(
        &srv.base,
        "livesale_connections_refused_total",
        "cap=\"per_ip\"",
    )
    .await;
    let held = [
        busy(connect_from("127.0.0.4", srv.addr).await).await,
        busy(connect_from("127.0.0.4", srv.addr).await).await,
    ];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut refused = connect_from("127.0.0.4", srv.addr).await;
    expect_503(&mut refused).await;
    // Another address is served.
    let mut other = connect_from("127.0.0.5", srv.addr).await;
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (status, _, _) = read_response(&mut other, WAIT).await.expect("served");
    assert_eq!(status, 200);
    drop(held);
    let after = metric(
        &srv.base,
        "livesale_connections_refused_total",
        "cap=\"per_ip\"",
    )
    .await;
    assert!(after >= before + 1.0, "refusals {before} -> {after}");
    srv.stop().await;
}

/// `n` connections that never send a byte, each connected within 5 s (once the kernel's
/// backlog is full, a server that stops accepting leaves new ones hanging).
async fn hold_idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut idle = Vec::new();
    for i in 0..n {
        let sock = tokio::time::timeout(WAIT, connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connection {i} was not accepted within {WAIT:?}"));
        idle.push(sock);
    }
    idle
}

/// The real binary under `prlimit --nofile=256`, with no connection settings: the cap comes
/// from the file limit, and 400 idle sockets from the health check's address do not keep
/// `/healthz` out.
fn under_a_file_limit_health_checks_get_in(backend: Backend) {
    let (url, prefix) = match backend {
        Backend::Redis => (redis_url(), unique_prefix("fdcap")),
        Backend::Memory => (String::new(), String::new()),
    };
    // Idle connections are not closed by their timeout during the test: only the cap acts.
    let mut envs = vec![
        ("LIVESALE_ADMIN_TOKEN", "adm"),
        ("LIVESALE_HTTP_IDLE_TIMEOUT", "600"),
    ];
    if backend == Backend::Redis {
        envs.push(("REDIS_URL", url.as_str()));
        envs.push(("LIVESALE_REDIS_PREFIX", prefix.as_str()));
    }
    let srv = ServerProcess::spawn_wrapped(
        &["prlimit", "--nofile=256:256", "--"],
        &["--no-demo"],
        &envs,
    );
    let base = srv.base.clone();
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        assert_eq!(
            metric(&base, "livesale_connections_max", "").await,
            192.0,
            "three quarters of the file limit"
        );
        let idle = hold_idle(addr, 400).await;
        for _ in 0..5 {
            assert_eq!(healthz(&base).await, 200);
        }
        drop(idle);
    });
}

#[test]
fn under_a_file_limit_health_checks_get_in_memory() {
    under_a_file_limit_health_checks_get_in(Backend::Memory);
}

#[test]
fn under_a_file_limit_health_checks_get_in_redis() {
    under_a_file_limit_health_checks_get_in(Backend::Redis);
}

/// A cap set above the file limit: accepting runs out of descriptors, and then the
/// longest-idle connection is closed to make room at once.
#[test]
fn out_of_descriptors_idle_connections_give_way() {
    let srv = ServerProcess::spawn_wrapped(
        &["prlimit", "--nofile=256:256", "--"],
        &[
            "--no-demo",
            "--max-connections",
            "1000",
            "--max-connections-per-ip",
            "1000",
        ],
        &[
            ("LIVESALE_ADMIN_TOKEN", "adm"),
            ("LIVESALE_HTTP_IDLE_TIMEOUT", "600"),
        ],
    );
    let base = srv.base.clone();
    let addr: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let idle = hold_idle(addr, 400).await;
        for _ in 0..5 {
            assert_eq!(healthz(&base).await, 200);
        }
        let short = metric(
            &base,
            "livesale_connections_accept_errors_total",
            "out_of_descriptors",
        )
        .await;
        assert!(short >= 1.0, "the file limit was reached: {short}");
        drop(idle);
    });
}
