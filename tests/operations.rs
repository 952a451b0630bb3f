//! What an operator sees: `--help`, `.env.sample`, the demo and its links, logs, readiness
//! following Redis, metrics, restarts that lose nothing, and graceful shutdown. These run the
//! real binary where a process boundary matters.

mod common;

use std::time::{Duration, Instant};

use common::redis::{PrivateRedis, redis_url, unique_prefix};
use common::server::{Backend, ServerProcess, TestServer, assert_problem, s, test_config};
use serde_json::{Value, json};

fn help_text() -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_livesale"))
        .arg("--help")
        .output()
        .expect("run livesale --help");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// `[env: NAME=` markers in the help text.
fn env_names_in_help(help: &str) -> Vec<String> {
    let mut names: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .map(|rest| rest.split(['=', ']']).next().unwrap().to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn help_documents_every_setting_and_env_sample_lists_them() {
    let help = help_text();
    for (flag, env) in [
        ("--bind", "LIVESALE_BIND"),
        ("--public-url", "LIVESALE_PUBLIC_URL"),
        ("--secret", "LIVESALE_SECRET"),
        ("--admin-token", "LIVESALE_ADMIN_TOKEN"),
        ("--redis-url", "REDIS_URL"),
        ("--no-demo", "LIVESALE_NO_DEMO"),
        ("--log-format", "LIVESALE_LOG_FORMAT"),
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
        assert!(help.contains(&format!("[env: {env}")), "--help lacks {env}");
    }
    let names = env_names_in_help(&help);
    assert!(names.len() >= 10, "{names:?}");
    let sample = std::fs::read_to_string(".env.sample").expect(".env.sample is committed");
    for name in &names {
        assert!(
            sample.contains(&format!("{name}=")),
            ".env.sample does not mention {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_is_seeded_once_with_working_links() {
    let mut config = test_config(Backend::Memory);
    config.no_demo = false;
    let srv = TestServer::start_with(config).await;
    let links = srv.links.clone().expect("an empty store gets the demo");
    assert!(links.seeded_now);
    // The viewer page shows the demo show and its four products.
    let page = srv.http.get(&links.viewer).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains(&links.show_title), "{html}");
    assert_eq!(html.matches("class=\"product\"").count(), 4, "{html}");
    // The studio link carries a creator token that the API accepts.
    let (studio_page, token) = links.studio.split_once("#token=").unwrap();
    assert_eq!(
        srv.http.get(studio_page).send().await.unwrap().status(),
        200
    );
    let (status, me) = srv.get("/api/me", Some(token)).await;
    assert_eq!((status, me["role"].as_str()), (200, Some("creator")));
    // So does the demo creator's sign-in link, which opens /signin.
    let (signin_page, token) = links.signin.split_once("#token=").unwrap();
    assert_eq!(signin_page, format!("{}/signin", srv.base));
    assert_eq!(
        srv.http.get(signin_page).send().await.unwrap().status(),
        200
    );
    let (status, me) = srv.get("/api/me", Some(token)).await;
    assert_eq!((status, me["name"].as_str()), (200, Some("Demo Creator")));
    // The camera and moderator links open their pages.
    assert_eq!(
        srv.http.get(&links.camera).send().await.unwrap().status(),
        200
    );
    let (mod_page, _) = links.moderator.split_once("#token=").unwrap();
    assert_eq!(srv.http.get(mod_page).send().await.unwrap().status(), 200);
    // Products have stock and images served from web/.
    let show_id = links.viewer.rsplit('/').next().unwrap();
    let (_, lineup) = srv.get(&format!("/api/shows/{show_id}/lineup"), None).await;
    let products = lineup["products"].as_array().unwrap();
    assert_eq!(products.len(), 4);
    for p in products {
        assert!(p["stock"].as_i64().unwrap() > 0);
        let img = srv
            .http
            .get(srv.url(p["image_url"].as_str().unwrap()))
            .send()
            .await
            .unwrap();
        assert_eq!(img.status(), 200, "{p}");
        assert!(img.text().await.unwrap().contains("<svg"));
    }
    let (_, show) = srv.get(&format!("/api/shows/{show_id}"), None).await;
    assert_eq!(show["status"], "scheduled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_demo_means_no_demo() {
    let srv = TestServer::start(Backend::Memory).await;
    assert!(srv.links.is_none());
    let (_, shows) = srv.get("/api/shows", None).await;
    assert_eq!(shows["items"], json!([]));
}

#[test]
fn redis_restart_loses_nothing_and_prints_the_existing_demo() {
    let url = redis_url();
    let prefix = unique_prefix("restart");
    let envs = [
        ("REDIS_URL", url.as_str()),
        ("LIVESALE_REDIS_PREFIX", prefix.as_str()),
        ("LIVESALE_ADMIN_TOKEN", "adm"),
    ];
    let mut first = ServerProcess::spawn(&[], &envs);
    assert!(
        first.banner.contains("Demo show (seeded)"),
        "{}",
        first.banner
    );
    let studio = first
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("Studio (creator):"))
        .expect("studio link printed")
        .trim()
        .to_string();
    let (studio_page, token) = studio.split_once("#token=").unwrap();
    let show_id = studio_page.rsplit('/').next().unwrap().to_string();
    // Next to it, the demo creator's sign-in link.
    let signin = first
        .banner
        .lines()
        .find_map(|l| l.trim().strip_prefix("Sign in (creator):"))
        .expect("sign-in link printed")
        .trim()
        .to_string();
    assert!(
        signin.starts_with(&format!("{}/signin#token=", first.base)),
        "{signin}"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let base = first.base.clone();
    let created: Value = rt.block_on(async {
        let resp = http
            .post(format!("{base}/api/products"))
            .bearer_auth(token)
            .json(&json!({"sku":"KEEP","title":"Kept","price":{"amount":500,"currency":"EUR"},"stock":3}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json().await.unwrap()
    });
    let logs = first.logs().join("\n");
    assert!(logs.contains("state lives in Redis"), "{logs}");
    assert!(first.terminate().success());

    let second = ServerProcess::spawn(&[], &envs);
    assert!(
        second.banner.contains("Demo show (existing)"),
        "{}",
        second.banner
    );
    assert!(
        second.banner.contains(&show_id),
        "same show: {}",
        second.banner
    );
    let base = second.base.clone();
    rt.block_on(async {
        // The first run's token still works: the secret was kept in Redis.
        let resp = http
            .get(format!("{base}/api/products/{}", s(&created["id"])))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let got: Value = resp.json().await.unwrap();
        assert_eq!(got, created);
        let me = http
            .get(format!("{base}/api/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200);
        let shows: Value = http
            .get(format!("{base}/api/shows"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            shows["items"].as_array().unwrap().len(),
            1,
            "nothing seeded twice"
        );
    });
}

#[test]
fn memory_store_warns_and_sigterm_stops_gracefully() {
    let mut srv = ServerProcess::spawn(&["--no-demo"], &[]);
    assert!(srv.banner.contains("No demo show"), "{}", srv.banner);
    assert!(
        srv.banner.contains("Admin token (generated"),
        "{}",
        srv.banner
    );
    // The operator page's link carries the generated token in its fragment.
    let token = srv
        .banner
        .lines()
        .skip_while(|l| !l.contains("Admin token (generated"))
        .nth(1)
        .map(str::trim)
        .unwrap_or_default()
        .to_string();
    assert!(!token.is_empty(), "{}", srv.banner);
    let operator_page = format!("Operator page: {}/admin#token={token}", srv.base);
    assert!(srv.banner.contains(&operator_page), "{}", srv.banner);
    let started = Instant::now();
    let status = srv.terminate();
    assert!(status.success(), "exit status {status}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let logs = srv.logs().join("\n");
    assert!(
        logs.contains("dies with it"),
        "memory warning missing:\n{logs}"
    );
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert!(logs.contains("shutting down"), "{logs}");
    // No new connections after the exit.
    let addr = srv.base.trim_start_matches("http://").to_string();
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn json_logs_with_a_flag() {
    let mut srv = ServerProcess::spawn(&["--no-demo", "--log-format", "json"], &[]);
    srv.terminate();
    let logs = srv.logs();
    assert!(!logs.is_empty());
    for line in &logs {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["level"].is_string() && v["message"].is_string(), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_redis_without_a_restart() {
    let mut redis = PrivateRedis::start();
    let mut config = test_config(Backend::Redis);
    config.redis_url = Some(redis.url.clone());
    config.redis_timeout_ms = 500;
    let srv = TestServer::start_with(config).await;
    let (status, body) = srv.get("/readyz", None).await;
    assert_eq!((status, body["store"].as_str()), (200, Some("redis")));
    let (status, _) = srv.get("/healthz", None).await;
    assert_eq!(status, 200);

    redis.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    let down = loop {
        let got = srv.get("/readyz", None).await;
        if got.0 == 503 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_problem(&down, 503, "store_unavailable");
    // Liveness is not readiness: the process still answers.
    assert_eq!(srv.get("/healthz", None).await.0, 200);
    // API calls that need the store fail clearly, not with a 500.
    let (_, token) = (
        (),
        srv.mint(
            &livesale::domain::Principal::Creator {
                creator_id: livesale::domain::CreatorId(uuid::Uuid::nil()),
            },
            60,
        ),
    );
    let failed = srv
        .post("/api/shows", Some(&token), json!({"title": "x"}))
        .await;
    assert_problem(&failed, 503, "store_unavailable");

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    let up = loop {
        let got = srv.get("/readyz", None).await;
        if got.0 == 200 || Instant::now() > deadline {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(up.0, 200, "ready again after Redis returned: {}", up.1);
    let ok = srv
        .post("/api/shows", Some(&token), json!({"title": "x"}))
        .await;
    assert_eq!(ok.0, 201, "{}", ok.1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_openapi_are_served() {
    let srv = TestServer::start(Backend::Memory).await;
    let missing = format!("/api/shows/{}", uuid::Uuid::now_v7());
    assert_eq!(srv.get(&missing, None).await.0, 404);
    let text = srv
        .http
        .get(srv.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("livesale_http_requests_total")
                && l.contains("route=\"/api/shows/{id}\"")
                && l.contains("status=\"404\"")),
        "{text}"
    );
    assert!(text.contains("livesale_http_request_duration_seconds_bucket"));
    let (status, doc) = srv.get("/api/openapi.json", None).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for (path, method) in [
        ("/api/creators", "post"),
        ("/api/shows", "post"),
        ("/api/shows", "get"),
        ("/api/shows/{id}", "get"),
        ("/api/shows/{id}/start", "post"),
        ("/api/shows/{id}/end", "post"),
        ("/api/shows/{id}/invites", "post"),
        ("/api/shows/{id}/viewers", "post"),
        ("/api/shows/{id}/lineup", "post"),
        ("/api/products", "post"),
        ("/api/products/import", "post"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from OpenAPI"
        );
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
}

/// A viewer whose WebRTC session never connects costs one log line (its end, with the reason),
/// not the WebRTC stack's warnings five times a second until the connect timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_never_connects_logs_one_line() {
    let mut srv = ServerProcess::spawn(
        &["--no-demo", "--admin-token", "adm"],
        &[("LIVESALE_MEDIA_CONNECT_TIMEOUT", "2")],
    );
    let http = reqwest::Client::new();
    let post = |path: &str, token: Option<&str>, body: Value| {
        let req = http.post(format!("{}{path}", srv.base)).json(&body);
        match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
        .send()
    };
    let creator: Value = post("/api/creators", Some("adm"), json!({ "name": "Quiet" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let show: Value = post(
        "/api/shows",
        Some(&s(&creator["token"])),
        json!({ "title": "Quiet" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let show = s(&show["id"]);
    let viewer: Value = post(
        &format!("/api/shows/{show}/viewers"),
        None,
        json!({ "display_name": "Ghost" }),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let answer = http
        .post(format!("{}/api/shows/{show}/whep", srv.base))
        .bearer_auth(s(&viewer["token"]))
        .header("content-type", "application/sdp")
        .body(common::sdp::MINIMAL_OFFER)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let session = answer.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();

    let mut logs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while !logs
        .iter()
        .any(|l: &String| l.contains("media session ended"))
    {
        assert!(
            Instant::now() < deadline,
            "the session never ended:\n{}",
            logs.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        logs.extend(srv.logs());
    }
    // The stack's own lines would have come while the session was waiting; give the last ones
    // (the close) a moment too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    logs.extend(srv.logs());
    srv.terminate();
    let about: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains(&session) || l.contains(" rtc") || l.contains(" webrtc"))
        .collect();
    assert_eq!(about.len(), 1, "one line, not {}:\n{about:#?}", about.len());
    assert!(about[0].contains("connect_timeout"), "{}", about[0]);
}
