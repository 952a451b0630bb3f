//! The account pages in Chromium (tests/browser/signin.mjs, tests/browser/admin.mjs): a
//! sign-in link signs a phone in; a passkey added through web/js/feature/passkey.js with
//! Chromium's virtual authenticator signs in through /signin's button; after signing out
//! everywhere the old link is refused; the operator page creates a creator whose link signs
//! in and gives fresh links to existing ones. Both pages pass the accessibility audit at phone
//! and desktop sizes (screenshots in test-artifacts/). The server is on
//! http://localhost:<port>, as a passkey's RP id must be a domain name.

use std::time::Duration;

use serde_json::json;

use crate::common::browser::{print_log, require_browser_harness, run_node};
use crate::common::server::{ADMIN, Backend, TestServer, s, test_config};

const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// A server on the private Redis whose public URL is `http://localhost:<its port>` (the
/// dashboard's journey uses it too, for its passkey).
pub(crate) async fn localhost_server() -> TestServer {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = probe.local_addr().expect("its address").port();
    drop(probe);
    let mut config = test_config(Backend::Redis);
    config.bind = format!("127.0.0.1:{port}").parse().expect("an address");
    config.public_url = Some(format!("http://localhost:{port}"));
    TestServer::start_with(config).await
}

/// A creator with a live show; (creator token, sign-in link, show id).
async fn creator_with_live_show(srv: &TestServer) -> (String, String, String) {
    let (status, made) = srv
        .post(
            "/api/creators",
            Some(ADMIN),
            json!({ "name": "Maya's Ceramics" }),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let token = s(&made["token"]);
    let show = srv.show(&token, "Friday mug drop").await;
    let (status, body) = srv
        .post(&format!("/api/shows/{show}/start"), Some(&token), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    (token, s(&made["signin_url"]), show)
}

fn base_args(srv: &TestServer, show: &str, token: &str) -> Vec<String> {
    let base = srv.config.public_url.clone().expect("a public URL");
    vec![
        "--base".into(),
        base,
        "--show".into(),
        show.to_string(),
        "--creator-token".into(),
        token.to_string(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]
}

fn assert_audited(r: &serde_json::Value, pages: &[&str]) {
    let audited: Vec<&str> = r["audited"]
        .as_array()
        .expect("audited")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    for page in pages {
        for size in ["phone", "desktop"] {
            let key = format!("{page}@{size}");
            assert!(audited.contains(&key.as_str()), "{key} not audited: {r}");
        }
    }
    assert_eq!(r["violations"], json!([]), "serious or critical violations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_and_a_passkey_sign_a_creator_in() {
    require_browser_harness();
    let _slot = crate::browser_slot().await;
    let srv = localhost_server().await;
    let (token, link, show) = creator_with_live_show(&srv).await;
    assert!(link.starts_with("http://localhost:"), "{link}");
    let mut args = base_args(&srv, &show, &token);
    args.extend(["--signin-url".to_string(), link]);
    let run = run_node("signin.mjs", &args, RUN_TIMEOUT).await;
    print_log("sign-in page", &run);
    run.expect_ok("signing in with a link and with a passkey in Chromium");
    let r = &run.result;
    assert_audited(r, &["signin", "signin-refused"]);

    // The server's side: one passkey, used once; the passkey's token was refused by the
    // sign-out that followed it, like every token minted before.
    let passkey_token = s(&r["passkey_token"]);
    let (status, me) = srv.get("/api/me", Some(&passkey_token)).await;
    assert_eq!(
        (status, &me["code"]),
        (401, &json!("token_revoked")),
        "{me}"
    );
    let (_, made) = srv
        .post(
            &format!(
                "/api/creators/{}/signin-links",
                s(&srv.get("/api/creators", Some(ADMIN)).await.1["items"][0]["id"])
            ),
            Some(ADMIN),
            json!({}),
        )
        .await;
    let fresh = s(&made["url"])
        .split_once("#token=")
        .expect("a link")
        .1
        .to_string();
    let (status, passkeys) = srv.get("/api/me/passkeys", Some(&fresh)).await;
    assert_eq!(status, 200, "{passkeys}");
    let items = passkeys["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{passkeys}");
    assert_eq!(items[0]["label"], "Test phone");
    assert!(items[0]["last_used_at"].is_string(), "{passkeys}");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_page_creates_a_creator_whose_link_signs_in() {
    require_browser_harness();
    let _slot = crate::browser_slot().await;
    let srv = localhost_server().await;
    let (token, _, show) = creator_with_live_show(&srv).await;
    let mut args = base_args(&srv, &show, &token);
    args.extend(["--admin-token".to_string(), ADMIN.to_string()]);
    let run = run_node("admin.mjs", &args, RUN_TIMEOUT).await;
    print_log("operator page", &run);
    run.expect_ok("the operator page in Chromium");
    let r = &run.result;
    assert_audited(r, &["admin", "admin-signin"]);
    let (_, creators) = srv.get("/api/creators", Some(ADMIN)).await;
    let names: Vec<&str> = creators["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, vec!["Maya's Ceramics", "Nora's Knits"], "{creators}");
    assert_eq!(creators["items"][1]["id"], r["created"]);
    srv.stop().await;
}
