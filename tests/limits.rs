//! Limits that follow the person, not the connection (docs/operations.md, "Limits per
//! person"), on both stores and with two nodes on one Redis: one chat and reaction budget per
//! viewer identity across all their connections and nodes, caps on connections per identity
//! and per address, the join rate per address (and `--trusted-proxies`), and bans and
//! per-buyer deal limits that hold against a guest who simply joins again: from the same
//! browser (its device id) or, within the cool-down, from the same address.

mod common;

use std::time::{Duration, Instant};

use common::server::{Backend, TestServer, assert_problem, s, test_config};
use common::ws::{WAIT, WsClient};
use livesale::config::Config;
use serde_json::{Value, json};

on_both_stores!(
    one_chat_budget_across_connections,
    one_reaction_budget_across_connections,
    connections_per_identity_and_address,
    joins_per_address,
    forwarded_for_only_from_trusted_proxies,
    banned_device_cannot_join_again,
    ban_cools_down_the_address,
    per_buyer_limit_survives_joining_again,
    per_buyer_limit_holds_per_address,
);

const DEVICE: &str = "dev-0123456789abcdef";

/// A creator with a live show on `srv`; (creator token, show id).
async fn live_show(srv: &TestServer) -> (String, String) {
    srv.live_show("Ann", "Limits").await
}

async fn join(srv: &TestServer, show: &str, body: Value, token: Option<&str>) -> (u16, Value) {
    srv.post(&format!("/api/shows/{show}/viewers"), token, body)
        .await
}

async fn join_device(srv: &TestServer, show: &str, name: &str, device: &str) -> (String, String) {
    let (status, body) = join(
        srv,
        show,
        json!({ "display_name": name, "device_id": device }),
        None,
    )
    .await;
    assert_eq!(status, 201, "join with a device id: {body}");
    (s(&body["viewer_id"]), s(&body["token"]))
}

async fn moderate(srv: &TestServer, show: &str, creator: &str, command: Value) {
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/moderation"),
            Some(creator),
            command,
        )
        .await;
    assert_eq!(status, 200, "moderation: {body}");
}

/// Frames of `ty` that reach `c` within `window`.
async fn count(c: &mut WsClient, ty: &str, window: Duration) -> Vec<Value> {
    c.drain(window)
        .await
        .into_iter()
        .filter(|f| f["type"] == ty)
        .collect()
}

/// One viewer over three connections gets one chat budget: three messages in the period,
/// not three per connection.
async fn one_chat_budget_across_connections(backend: Backend) {
    let mut config = test_config(backend);
    config.chat_rate = 3;
    config.chat_rate_period_s = 600;
    let srv = TestServer::start_with(config).await;
    let (_, show) = live_show(&srv).await;
    let (_, watcher) = srv.viewer(&show, "Watcher").await;
    let (mut observer, _) = WsClient::join(&srv, &show, Some(&watcher)).await;
    let (_, token) = srv.viewer(&show, "Flooder").await;
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(WsClient::join(&srv, &show, Some(&token)).await.0);
    }
    for (i, c) in conns.iter_mut().enumerate() {
        c.chat(&format!("hello {i}a")).await;
        c.chat(&format!("hello {i}b")).await;
    }
    let published = count(&mut observer, "chat.message", Duration::from_secs(2)).await;
    assert_eq!(
        published.len(),
        3,
        "one person, one budget of 3 over all their connections: {published:?}"
    );
    let mut refused = 0;
    for c in conns.iter_mut() {
        for e in count(c, "error", Duration::from_millis(300)).await {
            assert_eq!(e["code"], "rate_limited", "{e}");
            assert!(e["retry_after_ms"].as_u64().unwrap_or(0) > 0, "{e}");
            refused += 1;
        }
    }
    assert_eq!(refused, 3, "each refused message is answered");
    // Someone else's budget is their own.
    let (mut other, _) = WsClient::join(&srv, &show, Some(&watcher)).await;
    other.chat("still mine").await;
    assert_eq!(
        count(&mut observer, "chat.message", Duration::from_secs(1))
            .await
            .len(),
        1
    );
}

/// Reactions too: two connections of one viewer share one budget per second.
async fn one_reaction_budget_across_connections(backend: Backend) {
    let mut config = test_config(backend);
    config.reaction_rate = 4;
    let srv = TestServer::start_with(config).await;
    let (_, show) = live_show(&srv).await;
    let (_, token) = srv.viewer(&show, "Tapper").await;
    let (mut a, _) = WsClient::join(&srv, &show, Some(&token)).await;
    let (mut b, _) = WsClient::join(&srv, &show, Some(&token)).await;
    // 4 taps on each: within one connection's own limit, twice the person's.
    for _ in 0..4 {
        a.send_json(json!({ "type": "reaction.send", "kind": "heart" }))
            .await;
        b.send_json(json!({ "type": "reaction.send", "kind": "heart" }))
            .await;
    }
    let mut refused = count(&mut a, "error", Duration::from_millis(700)).await;
    refused.extend(count(&mut b, "error", Duration::from_millis(100)).await);
    assert!(
        !refused.is_empty(),
        "8 taps in a moment over two connections, with a budget of 4 per second"
    );
    for e in &refused {
        assert_eq!(e["code"], "rate_limited", "{e}");
    }
}

/// Closes with 4029 and a `rate_limited` reason.
async fn refused_4029(srv: &TestServer, show: &str, token: Option<&str>, what: &str) -> String {
    let mut c = WsClient::connect(srv, show, token, "").await;
    let (code, reason) = c.expect_close(WAIT).await;
    assert_eq!(code, 4029, "{what}: {reason}");
    assert!(reason.starts_with("rate_limited"), "{what}: {reason}");
    reason
}

/// Connections per identity per show, and per client address.
async fn connections_per_identity_and_address(backend: Backend) {
    let mut config = test_config(backend);
    config.ws_max_per_member = 2;
    config.ws_max_per_address = 4;
    let srv = TestServer::start_with(config).await;
    let (_, show) = live_show(&srv).await;
    let (_, token) = srv.viewer(&show, "Many tabs").await;
    let (first, _) = WsClient::join(&srv, &show, Some(&token)).await;
    let (_second, _) = WsClient::join(&srv, &show, Some(&token)).await;
    let reason = refused_4029(&srv, &show, Some(&token), "a third connection").await;
    assert!(reason.contains("per person"), "{reason}");
    // Another identity from the same address still gets in, up to the address cap (4).
    let (_, other) = srv.viewer(&show, "Other").await;
    let (_third, _) = WsClient::join(&srv, &show, Some(&other)).await;
    let (_fourth, _) = WsClient::join(&srv, &show, None).await;
    let reason = refused_4029(&srv, &show, None, "a fifth from one address").await;
    assert!(reason.contains("address"), "{reason}");
    // A closed connection gives its place back.
    first.close().await;
    let deadline = Instant::now() + WAIT;
    loop {
        let mut c = WsClient::connect(&srv, &show, Some(&token), "").await;
        let frame = c.next_incoming(WAIT).await;
        if let Some(common::ws::Incoming::Text(t)) = &frame
            && t.contains("\"welcome\"")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no place after a close: {frame:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `POST …/viewers` per address: 429 `rate_limited` with `Retry-After` beyond the budget.
async fn joins_per_address(backend: Backend) {
    let mut config = test_config(backend);
    config.join_rate = 3;
    config.join_rate_period_s = 600;
    let srv = TestServer::start_with(config).await;
    let (_, show) = live_show(&srv).await;
    for i in 0..3 {
        let (status, body) = join(
            &srv,
            &show,
            json!({ "display_name": format!("V{i}") }),
            None,
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let resp = srv
        .http
        .post(srv.url(&format!("/api/shows/{show}/viewers")))
        .json(&json!({ "display_name": "One too many" }))
        .send()
        .await
        .unwrap();
    let retry = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let got = TestServer::finish(resp).await;
    assert_problem(&got, 429, "rate_limited");
    assert!(
        retry.is_some_and(|s| (1..=600).contains(&s)),
        "Retry-After: {retry:?}"
    );
}

/// `X-Forwarded-For` decides the address only from a trusted proxy.
async fn forwarded_for_only_from_trusted_proxies(backend: Backend) {
    let post = |srv: &TestServer, show: &str, xff: &str| {
        srv.http
            .post(srv.url(&format!("/api/shows/{show}/viewers")))
            .header("x-forwarded-for", xff)
            .json(&json!({ "display_name": "Proxied" }))
            .send()
    };
    let mut config = test_config(backend);
    config.join_rate = 1;
    config.join_rate_period_s = 600;
    let untrusted = TestServer::start_with(config.clone()).await;
    let (_, show) = live_show(&untrusted).await;
    assert_eq!(
        post(&untrusted, &show, "198.51.100.1")
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post(&untrusted, &show, "198.51.100.2")
            .await
            .unwrap()
            .status(),
        429,
        "a client's own X-Forwarded-For does not give it a new address"
    );
    config.redis_prefix = common::redis::unique_prefix("xff");
    config.trusted_proxies = vec![livesale::domain::limits::IpNet::parse("127.0.0.0/8").unwrap()];
    let proxied = TestServer::start_with(config).await;
    let (_, show) = live_show(&proxied).await;
    assert_eq!(
        post(&proxied, &show, "198.51.100.1")
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(
        post(&proxied, &show, "198.51.100.1")
            .await
            .unwrap()
            .status(),
        429
    );
    assert_eq!(
        post(&proxied, &show, "6.6.6.6, 198.51.100.2")
            .await
            .unwrap()
            .status(),
        201,
        "the proxy's hop is the client"
    );
}

/// A banned viewer who joins again without the old token, from the same browser, is refused;
/// before the ban, the same browser got its identity back.
async fn banned_device_cannot_join_again(backend: Backend) {
    let mut config = test_config(backend);
    config.ban_address_cooldown_s = 0; // only the device id decides here
    let srv = TestServer::start_with(config).await;
    let (creator, show) = live_show(&srv).await;
    let (vid, _) = join_device(&srv, &show, "Eve", DEVICE).await;
    let (again, _) = join_device(&srv, &show, "Eve again", DEVICE).await;
    assert_eq!(again, vid, "the same browser is the same viewer");
    let (status, body) = join(
        &srv,
        &show,
        json!({ "display_name": "Eve", "device_id": "no" }),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("invalid_device_id")),
        "{body}"
    );

    moderate(
        &srv,
        &show,
        &creator,
        json!({ "type": "mod.ban", "viewer_id": vid }),
    )
    .await;
    let got = join(
        &srv,
        &show,
        json!({ "display_name": "Not Eve", "device_id": DEVICE }),
        None,
    )
    .await;
    assert_problem(&got, 403, "banned");
    // Creator-wide: another show of the creator too.
    moderate(
        &srv,
        &show,
        &creator,
        json!({ "type": "mod.ban", "viewer_id": vid, "scope": "creator" }),
    )
    .await;
    let other = srv.show(&creator, "Another").await;
    let got = join(
        &srv,
        &other,
        json!({ "display_name": "Eve", "device_id": DEVICE }),
        None,
    )
    .await;
    assert_problem(&got, 403, "banned");
    // Another browser is someone else.
    join_device(&srv, &show, "Bob", "dev-bob-0123456789ab").await;
}

/// A ban keeps new guests from the banned viewer's address out for the cool-down; viewers
/// who joined before keep their way in; unbanning lifts it.
async fn ban_cools_down_the_address(backend: Backend) {
    let mut config = test_config(backend);
    config.ban_address_cooldown_s = 2;
    let srv = TestServer::start_with(config).await;
    let (creator, show) = live_show(&srv).await;
    let (eve, _) = srv.viewer(&show, "Eve").await;
    let (_, bob) = srv.viewer(&show, "Bob").await;
    moderate(
        &srv,
        &show,
        &creator,
        json!({ "type": "mod.ban", "viewer_id": eve }),
    )
    .await;
    let got = join(&srv, &show, json!({ "display_name": "Eve2" }), None).await;
    assert_problem(&got, 403, "banned");
    let got = join(
        &srv,
        &show,
        json!({ "display_name": "Eve3", "device_id": "dev-fresh-0123456789" }),
        None,
    )
    .await;
    assert_problem(&got, 403, "banned");
    let (status, body) = join(&srv, &show, json!({ "display_name": "Bob" }), Some(&bob)).await;
    assert_eq!(status, 201, "a known viewer rejoins: {body}");
    // Another show of the creator is not covered by a show ban.
    let other = srv.show(&creator, "Another").await;
    let (status, body) = join(&srv, &other, json!({ "display_name": "Eve2" }), None).await;
    assert_eq!(status, 201, "{body}");
    // The cool-down ends (on the server's clock).
    srv.clock.advance(Duration::from_millis(2300));
    let (status, body) = join(&srv, &show, json!({ "display_name": "Later" }), None).await;
    assert_eq!(status, 201, "after the cool-down: {body}");
    // An unban lifts it at once.
    let (later, _) = (s(&body["viewer_id"]), ());
    moderate(
        &srv,
        &show,
        &creator,
        json!({ "type": "mod.ban", "viewer_id": later }),
    )
    .await;
    assert_problem(
        &join(&srv, &show, json!({ "display_name": "X" }), None).await,
        403,
        "banned",
    );
    moderate(
        &srv,
        &show,
        &creator,
        json!({ "type": "mod.unban", "viewer_id": later }),
    )
    .await;
    let (status, body) = join(&srv, &show, json!({ "display_name": "X" }), None).await;
    assert_eq!(status, 201, "after the unban: {body}");
}

/// A live show with one product pinned with a deal of 5 units, 1 per buyer; (show, product).
async fn deal_show(srv: &TestServer) -> (String, String) {
    let (creator, show) = live_show(srv).await;
    let product = srv.product(&creator, "DEAL-1", 1000, 10).await;
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/lineup"),
            Some(&creator),
            json!({ "product_id": product }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let deal = json!({ "price": 500, "quantity": 5, "per_buyer_limit": 1, "duration_s": 600 });
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/pins"),
            Some(&creator),
            json!({ "product_id": product, "deal": deal }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (show, product)
}

/// Puts one unit of `product` in the cart of `token` and checks out with `key`.
async fn buy_one(
    srv: &TestServer,
    show: &str,
    product: &str,
    token: &str,
    key: &str,
) -> (u16, Value) {
    let put = srv
        .http
        .put(srv.url(&format!("/api/shows/{show}/cart/items/{product}")))
        .bearer_auth(token)
        .json(&json!({ "quantity": 1 }))
        .send()
        .await
        .unwrap();
    let put = TestServer::finish(put).await;
    if put.0 != 200 {
        return put;
    }
    let resp = srv
        .http
        .post(srv.url(&format!("/api/shows/{show}/checkout")))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .send()
        .await
        .unwrap();
    TestServer::finish(resp).await
}

/// A deal's per-buyer limit counts the browser, not the token: joining again from the same
/// browser is the same buyer.
async fn per_buyer_limit_survives_joining_again(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (show, product) = deal_show(&srv).await;
    let (_, first) = join_device(&srv, &show, "Buyer", DEVICE).await;
    let (status, body) = buy_one(&srv, &show, &product, &first, "k1").await;
    assert_eq!(status, 201, "the first deal unit: {body}");
    let (_, second) = join_device(&srv, &show, "Buyer again", DEVICE).await;
    let (status, body) = buy_one(&srv, &show, &product, &second, "k2").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("over_limit")),
        "a second unit by joining again: {body}"
    );
}

/// Joining again without the old token and without a device id (a script, a cleared browser)
/// is a new viewer, but the same client address: `--deal-buyers-per-address` 1 keeps the
/// deal's per-buyer limit; 0 turns that off.
async fn per_buyer_limit_holds_per_address(backend: Backend) {
    let mut config = test_config(backend);
    config.deal_buyers_per_address = 1;
    let srv = TestServer::start_with(config).await;
    let (show, product) = deal_show(&srv).await;
    let (_, first) = srv.viewer(&show, "Buyer").await;
    let (status, body) = buy_one(&srv, &show, &product, &first, "k1").await;
    assert_eq!(status, 201, "the first deal unit: {body}");
    let (_, second) = srv.viewer(&show, "Someone else, honest").await;
    let (status, body) = buy_one(&srv, &show, &product, &second, "k2").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("over_limit")),
        "a second unit from the same address: {body}"
    );
    srv.stop().await;

    let srv = TestServer::start(backend).await;
    let (show, product) = deal_show(&srv).await;
    for (n, name) in ["Buyer", "Another buyer"].iter().enumerate() {
        let (_, token) = srv.viewer(&show, name).await;
        let (status, body) = buy_one(&srv, &show, &product, &token, &format!("k{n}")).await;
        assert_eq!(status, 201, "without the address limit: {body}");
    }
}

/// Two nodes on one Redis: one person's chat budget is shared by their connections on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_budget() {
    let mut config: Config = test_config(Backend::Redis);
    config.chat_rate = 2;
    config.chat_rate_period_s = 600;
    let a = TestServer::start_with(config.clone()).await;
    let b = TestServer::start_with(config).await;
    let (_, show) = live_show(&a).await;
    let (_, watcher) = a.viewer(&show, "Watcher").await;
    let (mut observer, _) = WsClient::join(&a, &show, Some(&watcher)).await;
    let (_, token) = a.viewer(&show, "Both nodes").await;
    let (mut on_a, _) = WsClient::join(&a, &show, Some(&token)).await;
    let (mut on_b, _) = WsClient::join(&b, &show, Some(&token)).await;
    on_a.chat("a1").await;
    on_a.chat("a2").await;
    on_b.chat("b1").await;
    on_b.chat("b2").await;
    let published = count(&mut observer, "chat.message", Duration::from_secs(2)).await;
    assert_eq!(
        published.len(),
        2,
        "one budget of 2 over both nodes: {published:?}"
    );
    let mut refused = count(&mut on_a, "error", Duration::from_millis(300)).await;
    refused.extend(count(&mut on_b, "error", Duration::from_millis(300)).await);
    assert_eq!(
        refused.len(),
        2,
        "each node refuses what the other used: {refused:?}"
    );
    assert!(refused.iter().all(|e| e["code"] == "rate_limited"));
}
