//! Accounts end to end on both stores: sign-in links (made with a creator, and fresh ones from
//! the operator), the operator's listing of creators, `PATCH /api/me`, sign-out everywhere (an
//! older token refused over HTTP and the WebSocket while a newer one works, on every node),
//! the operator-only routes and their overview with the nodes' heartbeats, and passkey
//! ceremonies (used once, expired, bound to who started them). The passkey ceremonies with a
//! real authenticator are in tests/browser/signin.mjs (Chromium's virtual authenticator).

mod common;

use std::time::Duration;

use common::server::{ADMIN, Backend, TestServer, assert_problem, s, test_config};
use common::ws::{WAIT, WsClient};
use serde_json::{Value, json};

/// The token in a sign-in link (`…/signin#token=<token>`).
fn token_of(url: &str) -> String {
    url.split_once("/signin#token=")
        .unwrap_or_else(|| panic!("not a sign-in link: {url}"))
        .1
        .to_string()
}

async fn new_creator(srv: &TestServer, name: &str) -> (String, String, String) {
    let (status, body) = srv
        .post("/api/creators", Some(ADMIN), json!({ "name": name }))
        .await;
    assert_eq!(status, 201, "create creator: {body}");
    (s(&body["id"]), s(&body["token"]), s(&body["signin_url"]))
}

async fn patch(srv: &TestServer, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    let mut req = srv.http.patch(srv.url(path)).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    TestServer::finish(req.send().await.expect("request sent")).await
}

async fn signin_links(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (id, token, url) = new_creator(&srv, "Maya's Ceramics").await;
    assert_eq!(url, format!("{}/signin#token={token}", srv.base));

    let path = format!("/api/creators/{id}/signin-links");
    let (status, link) = srv.post(&path, Some(ADMIN), json!({})).await;
    assert_eq!(status, 201, "{link}");
    let fresh = token_of(&s(&link["url"]));
    assert!(s(&link["url"]).starts_with(&format!("{}/signin#token=", srv.base)));
    let (status, me) = srv.get("/api/me", Some(&fresh)).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["role"], "creator");
    assert_eq!(me["creator_id"], id.as_str());
    assert_eq!(me["name"], "Maya's Ceramics");

    let unknown = format!("/api/creators/{}/signin-links", uuid::Uuid::now_v7());
    assert_problem(
        &srv.post(&unknown, Some(ADMIN), json!({})).await,
        404,
        "creator_not_found",
    );
    assert_problem(
        &srv.post(&path, Some(&token), json!({})).await,
        403,
        "forbidden_role",
    );
    assert_problem(
        &srv.post(&path, None, json!({})).await,
        401,
        "missing_token",
    );
    srv.stop().await;
}

async fn the_operator_lists_creators_in_pages(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let mut made = Vec::new();
    for name in ["Ana", "Ben", "Cleo"] {
        made.push(new_creator(&srv, name).await.0);
    }
    let (status, first) = srv.get("/api/creators?limit=2", Some(ADMIN)).await;
    assert_eq!(status, 200, "{first}");
    let items = first["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{first}");
    assert_eq!(items[0]["id"], made[0].as_str());
    assert_eq!(items[0]["name"], "Ana");
    assert!(items[0]["created_at"].is_string(), "{first}");
    let cursor = s(&first["next_cursor"]);
    let (status, second) = srv
        .get(
            &format!("/api/creators?limit=2&cursor={cursor}"),
            Some(ADMIN),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(
        second["items"].as_array().map(Vec::len),
        Some(1),
        "{second}"
    );
    assert_eq!(second["items"][0]["id"], made[2].as_str());
    assert!(second["next_cursor"].is_null(), "{second}");

    assert_problem(
        &srv.get("/api/creators?limit=0", Some(ADMIN)).await,
        422,
        "invalid_limit",
    );
    let (_, token, _) = new_creator(&srv, "Dee").await;
    assert_problem(
        &srv.get("/api/creators", Some(&token)).await,
        403,
        "forbidden_role",
    );
    assert_problem(&srv.get("/api/creators", None).await, 401, "missing_token");
    srv.stop().await;
}

async fn a_creator_renames_themselves(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (id, token, _) = new_creator(&srv, "Old name").await;
    let (status, me) = patch(
        &srv,
        "/api/me",
        Some(&token),
        json!({ "name": " New name " }),
    )
    .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({ "role": "creator", "show_id": null, "creator_id": id, "viewer_id": null,
                "name": "New name" })
    );
    let (_, again) = srv.get("/api/me", Some(&token)).await;
    assert_eq!(again, me);
    let (_, listed) = srv.get("/api/creators", Some(ADMIN)).await;
    assert_eq!(listed["items"][0]["name"], "New name");

    assert_problem(
        &patch(&srv, "/api/me", Some(&token), json!({ "name": "" })).await,
        422,
        "invalid_name",
    );
    assert_problem(
        &patch(
            &srv,
            "/api/me",
            Some(&token),
            json!({ "name": "x", "age": 3 }),
        )
        .await,
        422,
        "unknown_field",
    );
    let show = srv.show(&token, "A show").await;
    let moderator = srv.invite(&token, &show, "moderator").await;
    assert_problem(
        &patch(&srv, "/api/me", Some(&moderator), json!({ "name": "Mod" })).await,
        403,
        "forbidden_role",
    );
    assert_problem(
        &patch(&srv, "/api/me", Some(ADMIN), json!({ "name": "Op" })).await,
        403,
        "forbidden_role",
    );
    let (_, me) = srv.get("/api/me", Some(&token)).await;
    assert_eq!(me["name"], "New name", "refused changes changed nothing");
    srv.stop().await;
}

async fn signing_out_everywhere_refuses_older_tokens_only(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (id, first, _) = new_creator(&srv, "Maya").await;
    let (_, other, _) = new_creator(&srv, "Someone else").await;
    let show = srv.show(&first, "Friday drop").await;
    let link = format!("/api/creators/{id}/signin-links");
    let (_, older_link) = srv.post(&link, Some(ADMIN), json!({})).await;
    let older = token_of(&s(&older_link["url"]));
    let (open_before, _) = WsClient::join(&srv, &show, Some(&first)).await;

    let resp = srv
        .http
        .post(srv.url("/api/me/signout"))
        .bearer_auth(&first)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);

    for token in [&first, &older] {
        assert_problem(&srv.get("/api/me", Some(token)).await, 401, "token_revoked");
        assert_problem(
            &srv.post("/api/shows", Some(token), json!({ "title": "x" }))
                .await,
            401,
            "token_revoked",
        );
        let mut ws = WsClient::connect(&srv, &show, Some(token), "").await;
        let (code, reason) = ws.expect_close(WAIT).await;
        assert_eq!(code, 4001, "{reason}");
        assert!(reason.starts_with("token_revoked"), "{reason}");
    }
    // A socket opened before is told and closed too: signing out ends open studio sessions.
    let mut open_before = open_before;
    let (code, reason) = open_before.expect_close(WAIT).await;
    assert_eq!(code, 4001, "{reason}");
    assert!(reason.starts_with("token_revoked"), "{reason}");

    // A link minted now, in the same second, works over HTTP and the WebSocket.
    let (status, newer_link) = srv.post(&link, Some(ADMIN), json!({})).await;
    assert_eq!(status, 201, "{newer_link}");
    let newer = token_of(&s(&newer_link["url"]));
    let (status, me) = srv.get("/api/me", Some(&newer)).await;
    assert_eq!((status, &me["creator_id"]), (200, &json!(id)), "{me}");
    let (ws, welcome) = WsClient::join(&srv, &show, Some(&newer)).await;
    assert_eq!(welcome["type"], "welcome");
    ws.close().await;
    // Other creators are untouched.
    assert_eq!(srv.get("/api/me", Some(&other)).await.0, 200);

    // Again: the newer token signs out, and now it is the older one.
    let resp = srv
        .http
        .post(srv.url("/api/me/signout"))
        .bearer_auth(&newer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_problem(
        &srv.get("/api/me", Some(&newer)).await,
        401,
        "token_revoked",
    );
    assert_problem(
        &srv.post("/api/me/signout", None, json!({})).await,
        401,
        "missing_token",
    );
    srv.stop().await;
}

async fn operator_routes_and_the_overview(backend: Backend) {
    // Beats far apart, so none lands while the test moves the clock past one.
    let mut config = test_config(backend);
    config.heartbeat_s = 3600;
    let srv = TestServer::start_with(config).await;
    let (_, creator, _) = new_creator(&srv, "Maya").await;
    let scheduled = srv.show(&creator, "Later").await;
    let live = srv.show(&creator, "Now").await;
    let (status, _) = srv
        .post(
            &format!("/api/shows/{live}/start"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200);

    let (status, o) = srv.get("/api/admin/overview", Some(ADMIN)).await;
    assert_eq!(status, 200, "{o}");
    assert_eq!(o["ready"], true, "{o}");
    let kind = match backend {
        Backend::Memory => "memory",
        Backend::Redis => "redis",
    };
    assert_eq!(o["store"], kind);
    let nodes = o["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 1, "{o}");
    assert_eq!(nodes[0]["url"], srv.base.as_str());
    assert_eq!(nodes[0]["version"], env!("CARGO_PKG_VERSION"));
    assert!(nodes[0]["seen_at"].is_string() && nodes[0]["started_at"].is_string());
    let live_ids: Vec<&str> = o["live_shows"]
        .as_array()
        .expect("live_shows")
        .iter()
        .filter_map(|show| show["id"].as_str())
        .collect();
    assert_eq!(live_ids, vec![live.as_str()], "{o}");
    assert_ne!(live_ids[0], scheduled);

    for token in [Some(creator.as_str()), None] {
        let expect = if token.is_some() {
            (403, "forbidden_role")
        } else {
            (401, "missing_token")
        };
        for (method, path) in [
            ("GET", "/api/admin/overview".to_string()),
            ("GET", "/api/creators".to_string()),
            ("POST", "/api/creators".to_string()),
        ] {
            let got = if method == "GET" {
                srv.get(&path, token).await
            } else {
                srv.post(&path, token, json!({ "name": "Sneaky" })).await
            };
            assert_problem(&got, expect.0, expect.1);
        }
    }
    // A heartbeat lapses: three missed beats later the node is no longer listed.
    srv.clock
        .advance(Duration::from_secs(3 * srv.config.heartbeat_s + 1));
    let (_, o) = srv.get("/api/admin/overview", Some(ADMIN)).await;
    assert_eq!(o["nodes"], json!([]), "{o}");
    srv.stop().await;
}

/// A server whose public URL has a domain name, as passkeys need.
async fn passkey_server(backend: Backend) -> TestServer {
    let mut config = test_config(backend);
    config.public_url = Some("https://shop.test".into());
    TestServer::start_with(config).await
}

async fn ceremonies_are_used_once_and_expire(backend: Backend) {
    let srv = passkey_server(backend).await;
    let junk = json!({ "id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {} });

    // Signing in: the options are the request options for a discoverable passkey.
    let (status, opts) = srv
        .post("/api/signin/passkey/options", None, json!({}))
        .await;
    assert_eq!(status, 200, "{opts}");
    let ceremony = s(&opts["ceremony"]);
    assert_eq!(opts["publicKey"]["rpId"], "shop.test", "{opts}");
    assert!(
        opts["publicKey"]["challenge"]
            .as_str()
            .is_some_and(|c| c.len() >= 16)
    );
    let answer = json!({ "ceremony": ceremony, "credential": junk });
    assert_problem(
        &srv.post("/api/signin/passkey", None, answer.clone()).await,
        401,
        "passkey_rejected",
    );
    // Used once: the same ceremony is gone now.
    assert_problem(
        &srv.post("/api/signin/passkey", None, answer).await,
        422,
        "invalid_ceremony",
    );
    // Expired: past the TTL nothing answers it.
    let (_, opts) = srv
        .post("/api/signin/passkey/options", None, json!({}))
        .await;
    srv.clock
        .advance(Duration::from_secs(srv.config.passkey_ceremony_ttl_s + 1));
    let late = json!({ "ceremony": opts["ceremony"], "credential": junk });
    assert_problem(
        &srv.post("/api/signin/passkey", None, late).await,
        422,
        "invalid_ceremony",
    );
    assert_problem(
        &srv.post(
            "/api/signin/passkey",
            None,
            json!({ "ceremony": "no-such-ceremony", "credential": junk }),
        )
        .await,
        422,
        "invalid_ceremony",
    );

    // Adding a passkey: the creation options name the creator; the ceremony is theirs alone.
    let (_, maya, _) = new_creator(&srv, "Maya").await;
    let (_, ben, _) = new_creator(&srv, "Ben").await;
    let (status, opts) = srv
        .post("/api/me/passkeys/options", Some(&maya), json!({}))
        .await;
    assert_eq!(status, 200, "{opts}");
    let pk = &opts["publicKey"];
    assert_eq!(pk["rp"]["id"], "shop.test", "{opts}");
    assert_eq!(pk["user"]["displayName"], "Maya", "{opts}");
    assert_eq!(
        pk["authenticatorSelection"]["residentKey"], "required",
        "{opts}"
    );
    let theirs = json!({ "ceremony": opts["ceremony"], "credential": junk, "label": "Phone" });
    assert_problem(
        &srv.post("/api/me/passkeys", Some(&ben), theirs.clone())
            .await,
        422,
        "invalid_ceremony",
    );
    let (_, opts) = srv
        .post("/api/me/passkeys/options", Some(&maya), json!({}))
        .await;
    let mine = json!({ "ceremony": opts["ceremony"], "credential": junk, "label": "Phone" });
    assert_problem(
        &srv.post("/api/me/passkeys", Some(&maya), mine.clone())
            .await,
        422,
        "invalid_credential",
    );
    assert_problem(
        &srv.post("/api/me/passkeys", Some(&maya), mine).await,
        422,
        "invalid_ceremony",
    );
    // A sign-in ceremony does not add passkeys.
    let (_, signin) = srv
        .post("/api/signin/passkey/options", None, json!({}))
        .await;
    assert_problem(
        &srv.post(
            "/api/me/passkeys",
            Some(&maya),
            json!({ "ceremony": signin["ceremony"], "credential": junk }),
        )
        .await,
        422,
        "invalid_ceremony",
    );

    let (status, list) = srv.get("/api/me/passkeys", Some(&maya)).await;
    assert_eq!((status, list), (200, json!({ "items": [] })));
    assert_problem(
        &srv.delete("/api/me/passkeys/AAAA", Some(&maya)).await,
        404,
        "passkey_not_found",
    );
    assert_problem(
        &srv.post("/api/me/passkeys/options", Some(ADMIN), json!({}))
            .await,
        403,
        "forbidden_role",
    );
    srv.stop().await;
}

async fn passkeys_need_a_domain_name(backend: Backend) {
    // The test server's links are http://127.0.0.1:<port>: no RP id can be an IP address.
    let srv = TestServer::start(backend).await;
    let (_, maya, _) = new_creator(&srv, "Maya").await;
    assert_problem(
        &srv.post("/api/signin/passkey/options", None, json!({}))
            .await,
        409,
        "passkeys_unavailable",
    );
    assert_problem(
        &srv.post("/api/me/passkeys/options", Some(&maya), json!({}))
            .await,
        409,
        "passkeys_unavailable",
    );
    srv.stop().await;
}

on_both_stores!(
    signin_links,
    the_operator_lists_creators_in_pages,
    a_creator_renames_themselves,
    signing_out_everywhere_refuses_older_tokens_only,
    operator_routes_and_the_overview,
    ceremonies_are_used_once_and_expire,
    passkeys_need_a_domain_name,
);

/// Two nodes on one Redis: each lists the other, and a sign-out on one is refused on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_list_each_other_and_sign_out_reaches_every_node() {
    let first = TestServer::start(Backend::Redis).await;
    let mut config = test_config(Backend::Redis);
    config.redis_prefix = first.config.redis_prefix.clone();
    let second = TestServer::start_with(config).await;

    let (_, o) = second.get("/api/admin/overview", Some(ADMIN)).await;
    let mut urls: Vec<String> = o["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| s(&n["url"]))
        .collect();
    urls.sort();
    let mut want = vec![first.base.clone(), second.base.clone()];
    want.sort();
    assert_eq!(urls, want, "{o}");

    let (id, token, _) = new_creator(&first, "Maya").await;
    assert_eq!(second.get("/api/me", Some(&token)).await.0, 200);
    let resp = first
        .http
        .post(first.url("/api/me/signout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    assert_problem(
        &second.get("/api/me", Some(&token)).await,
        401,
        "token_revoked",
    );
    let (_, link) = second
        .post(
            &format!("/api/creators/{id}/signin-links"),
            Some(ADMIN),
            json!({}),
        )
        .await;
    let fresh = token_of(&s(&link["url"]));
    assert_eq!(first.get("/api/me", Some(&fresh)).await.0, 200);
    first.stop().await;
    second.stop().await;
}
