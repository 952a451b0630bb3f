//! Live auctions end to end (issue 18), over HTTP and the WebSocket on the real server: a lot
//! created and opened, bids and proxy bids with the room's `auction.bid` and the outbid
//! viewer's own `auction.outbid`, the soft-close extension, the ticker closing the lot at its
//! end (`auction.ended`), pre-bids on a scheduled lot, the `welcome`'s lot, the bid log and its
//! CSV export; and bad input, each refused with a stable code and the lot unchanged.
//!
//! Time is the server's test clock: the tests move it past an end instead of sleeping, and
//! assert order and state, never timing.

mod common;

use std::time::Duration;

use common::server::{Backend, TestServer};
use common::ws::{WAIT, WsClient};
use serde_json::{Value, json};

/// A live show with one lineup product (USD 25.00); returns (creator token, show, product).
async fn auction_show(srv: &TestServer) -> (String, String, String) {
    let (creator, show) = srv.live_show("Auctioneer", "Auction night").await;
    let product = srv.product(&creator, "LOT-1", 2500, 5).await;
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/lineup"),
            Some(&creator),
            json!({ "product_id": product }),
        )
        .await;
    assert_eq!(status, 200, "lineup: {body}");
    (creator, show, product)
}

/// A lot of `product`: USD 10.00 to start, 10 s, soft close extending by 5 s.
fn lot(product: &str, open: bool) -> Value {
    json!({
        "product_id": product,
        "start_price": { "amount": 1000, "currency": "USD" },
        "duration_s": 10,
        "mode": "soft_close",
        "extend_s": 5,
        "open": open,
    })
}

/// `POST …/bids` with `Idempotency-Key: key` (none when `None`).
async fn bid(
    srv: &TestServer,
    show: &str,
    auction: &str,
    token: &str,
    key: Option<&str>,
    body: Value,
) -> (u16, Value, bool) {
    let mut req = srv
        .http
        .post(srv.url(&format!("/api/shows/{show}/auctions/{auction}/bids")))
        .bearer_auth(token)
        .json(&body);
    if let Some(key) = key {
        req = req.header("idempotency-key", key);
    }
    let resp = req.send().await.expect("POST bids");
    let replayed = resp.headers().get("idempotent-replayed").is_some();
    let (status, body) = TestServer::finish(resp).await;
    (status, body, replayed)
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("an id").to_string()
}

async fn get_lot(srv: &TestServer, show: &str, auction: &str) -> Value {
    let (status, body) = srv
        .get(&format!("/api/shows/{show}/auctions/{auction}"), None)
        .await;
    assert_eq!(status, 200, "GET auction: {body}");
    body
}

/// The main path: bids over HTTP and the WebSocket, the room's messages in order, a proxy
/// answering at once, the soft-close extension, the ticker's close, the welcome's lot, the log.
async fn a_lot_runs_from_first_bid_to_its_end(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show, product) = auction_show(&srv).await;
    let (ada_id, ada) = srv.viewer(&show, "Ada").await;
    let (bob_id, bob) = srv.viewer(&show, "Bob").await;
    let (mut studio, _) = WsClient::join(&srv, &show, Some(&creator)).await;
    let (mut ada_ws, welcome) = WsClient::join(&srv, &show, Some(&ada)).await;
    assert_eq!(welcome["auction"], Value::Null, "no lot yet: {welcome}");
    let (mut bob_ws, _) = WsClient::join(&srv, &show, Some(&bob)).await;

    let (status, created) = srv
        .post(
            &format!("/api/shows/{show}/auctions"),
            Some(&creator),
            lot(&product, true),
        )
        .await;
    assert_eq!(status, 201, "create: {created}");
    assert_eq!(created["status"], "open");
    assert_eq!(created["bids"], 0);
    assert_eq!(
        created["next_minimum"],
        json!({ "amount": 1000, "currency": "USD" })
    );
    let aid = id(&created);
    let started = ada_ws.next_of_type("auction.started", WAIT).await;
    assert_eq!(started["auction"]["id"], aid.as_str());

    // Ada's first bid, over HTTP.
    let (status, placed, _) = bid(
        &srv,
        &show,
        &aid,
        &ada,
        Some("ada-1"),
        json!({ "amount": 1000 }),
    )
    .await;
    assert_eq!(status, 201, "first bid: {placed}");
    assert_eq!(placed["accepted"], true);
    assert_eq!(placed["outcome"], "accepted");
    assert_eq!(placed["auction"]["current"]["amount"], 1000);
    assert_eq!(placed["auction"]["leader"]["viewer_id"], ada_id.as_str());
    let seen = bob_ws.next_of_type("auction.bid", WAIT).await;
    assert_eq!(seen["auction"]["current"]["amount"], 1000);
    let logged = studio.next_of_type("auction.log", WAIT).await;
    assert_eq!(logged["entry"]["outcome"], "accepted");
    assert_eq!(logged["entry"]["amount"], 1000);

    // Bob's proxy bid over the WebSocket: it bids only one increment above Ada.
    bob_ws
        .send_json(
            json!({ "type": "auction.bid", "auction_id": aid, "max_amount": 5000, "key": "bob-1" }),
        )
        .await;
    let ack = bob_ws.next_of_type("auction.ack", WAIT).await;
    assert_eq!(ack["key"], "bob-1");
    assert_eq!(ack["outcome"], "accepted");
    assert_eq!(ack["auction"]["current"]["amount"], 1100);
    assert_eq!(ack["auction"]["leader"]["viewer_id"], bob_id.as_str());
    let outbid = ada_ws.next_of_type("auction.outbid", WAIT).await;
    assert_eq!(outbid["auction"]["leader"]["name"], "Bob");
    assert!(
        outbid.get("to").is_none(),
        "the recipient is not on the wire: {outbid}"
    );

    // Ada bids 20.00: Bob's proxy answers at once (22.00), and Ada hears she is outbid.
    let (status, placed, _) = bid(
        &srv,
        &show,
        &aid,
        &ada,
        Some("ada-2"),
        json!({ "amount": 2000 }),
    )
    .await;
    assert_eq!(status, 201, "answered bid: {placed}");
    assert_eq!(placed["auction"]["current"]["amount"], 2200);
    assert_eq!(placed["auction"]["leader"]["viewer_id"], bob_id.as_str());
    let outbid = ada_ws.next_of_type("auction.outbid", WAIT).await;
    assert_eq!(outbid["auction"]["current"]["amount"], 2200);
    // Bob's maximum is nobody's business but his (and the creator's log).
    let public = get_lot(&srv, &show, &aid).await;
    assert!(!public.to_string().contains("5000"), "{public}");

    // A retry of Ada's first bid answers the first answer; nothing changes.
    let (status, again, replayed) = bid(
        &srv,
        &show,
        &aid,
        &ada,
        Some("ada-1"),
        json!({ "amount": 1000 }),
    )
    .await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(again["auction"]["current"]["amount"], 1000);
    assert_eq!(get_lot(&srv, &show, &aid).await, public);

    // Soft close: 8 s in, Ada's 60.00 beats Bob's maximum and pushes the end.
    let ends_before = public["ends_at"].as_str().expect("an end").to_string();
    srv.clock.advance(Duration::from_secs(8));
    let (status, placed, _) = bid(
        &srv,
        &show,
        &aid,
        &ada,
        Some("ada-3"),
        json!({ "amount": 6000 }),
    )
    .await;
    assert_eq!(status, 201, "late bid: {placed}");
    assert_eq!(placed["auction"]["leader"]["viewer_id"], ada_id.as_str());
    let ends_after = placed["auction"]["ends_at"]
        .as_str()
        .expect("an end")
        .to_string();
    assert!(
        parse_time(&ends_after) > parse_time(&ends_before),
        "the end moved: {ends_before} -> {ends_after}"
    );
    let outbid = bob_ws.next_of_type("auction.outbid", WAIT).await;
    assert_eq!(outbid["auction"]["current"]["amount"], 6000);

    // Past the moved end, the ticker closes the lot and everyone hears who won.
    srv.clock.advance(Duration::from_secs(6));
    let ended = bob_ws
        .next_of_type("auction.ended", Duration::from_secs(10))
        .await;
    assert_eq!(ended["result"], "sold");
    assert_eq!(ended["winner"]["viewer_id"], ada_id.as_str());
    assert_eq!(ended["auction"]["status"], "closed");
    let closed = get_lot(&srv, &show, &aid).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["winner"]["name"], "Ada");
    assert_eq!(closed["current"]["amount"], 6000);
    // A bid after the close is refused, and changes nothing.
    let (status, late, _) = bid(
        &srv,
        &show,
        &aid,
        &bob,
        Some("bob-2"),
        json!({ "amount": 9000 }),
    )
    .await;
    assert_eq!(
        (status, late["code"].as_str()),
        (409, Some("auction_closed")),
        "{late}"
    );
    assert_eq!(get_lot(&srv, &show, &aid).await, closed);

    // Someone joining now is shown the closed lot.
    let (_, welcome) = WsClient::join(&srv, &show, None).await;
    assert_eq!(welcome["auction"], closed, "{welcome}");

    // The creator's log: every handled bid in order, proxy maximum included; and its CSV.
    let (status, log) = srv
        .get(
            &format!("/api/shows/{show}/auctions/{aid}/log"),
            Some(&creator),
        )
        .await;
    assert_eq!(status, 200, "log: {log}");
    let entries = log["entries"].as_array().expect("entries");
    let amounts: Vec<_> = entries
        .iter()
        .map(|e| (e["amount"].clone(), e["outcome"].clone()))
        .collect();
    assert_eq!(
        amounts,
        vec![
            (json!(1000), json!("accepted")),
            (json!(5000), json!("accepted")),
            (json!(2000), json!("accepted")),
            (json!(6000), json!("accepted")),
            (json!(9000), json!("auction_closed")),
        ]
    );
    let resp = srv
        .http
        .get(srv.url(&format!("/api/shows/{show}/auctions/{aid}/log?format=csv")))
        .bearer_auth(&creator)
        .send()
        .await
        .expect("GET log.csv");
    assert_eq!(resp.status(), 200);
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(kind.starts_with("text/csv"), "{kind}");
    let csv = resp.text().await.expect("CSV text");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + entries.len(), "{csv}");
    assert!(
        lines[0].starts_with("seq,received_at,bidder,kind,amount,outcome"),
        "{csv}"
    );
    assert!(lines[2].contains(",max,50.00,accepted,11.00,"), "{csv}");
    srv.stop().await;
}

fn parse_time(text: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(text)
        .expect("an RFC 3339 time")
        .to_utc()
}

/// A scheduled lot takes only pre-bids (maxima); opening it resolves them (the highest leads
/// one increment above the second), the others hear they are outbid, and the creator's stop
/// ends it at once.
async fn a_scheduled_lot_takes_pre_bids_and_opens_on_them(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show, product) = auction_show(&srv).await;
    let (_, ada) = srv.viewer(&show, "Ada").await;
    let (bob_id, bob) = srv.viewer(&show, "Bob").await;
    let (mut ada_ws, _) = WsClient::join(&srv, &show, Some(&ada)).await;

    let (status, created) = srv
        .post(
            &format!("/api/shows/{show}/auctions"),
            Some(&creator),
            lot(&product, false),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "scheduled");
    assert_eq!(created["ends_at"], Value::Null);
    let aid = id(&created);
    let scheduled = ada_ws.next_of_type("auction.scheduled", WAIT).await;
    assert_eq!(scheduled["auction"]["id"], aid.as_str());
    let (_, welcome) = WsClient::join(&srv, &show, None).await;
    assert_eq!(welcome["auction"]["id"], aid.as_str(), "{welcome}");

    let (status, pre, _) = bid(
        &srv,
        &show,
        &aid,
        &bob,
        Some("b"),
        json!({ "max_amount": 3000 }),
    )
    .await;
    assert_eq!(
        (status, pre["outcome"].as_str()),
        (201, Some("pre_bid")),
        "{pre}"
    );
    let (status, pre, _) = bid(
        &srv,
        &show,
        &aid,
        &ada,
        Some("a"),
        json!({ "max_amount": 2000 }),
    )
    .await;
    assert_eq!(
        (status, pre["outcome"].as_str()),
        (201, Some("pre_bid")),
        "{pre}"
    );
    let (status, plain, _) = bid(
        &srv,
        &show,
        &aid,
        &ada,
        Some("a2"),
        json!({ "amount": 2500 }),
    )
    .await;
    assert_eq!(
        (status, plain["code"].as_str()),
        (409, Some("auction_not_open")),
        "{plain}"
    );

    let (status, opened) = srv
        .post(
            &format!("/api/shows/{show}/auctions/{aid}/open"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "open: {opened}");
    assert_eq!(opened["status"], "open");
    assert_eq!(opened["current"]["amount"], 2200);
    assert_eq!(opened["leader"]["viewer_id"], bob_id.as_str());
    assert_eq!(opened["bids"], 2);
    let frames = ada_ws
        .collect_until(|f| f["type"] == "auction.outbid", WAIT)
        .await;
    assert!(
        frames.iter().any(|f| f["type"] == "auction.started"),
        "auction.started before the outbid: {frames:?}"
    );

    // The creator stops it: sold to Bob at the standing price.
    let (status, stopped) = srv
        .post(
            &format!("/api/shows/{show}/auctions/{aid}/close"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "close: {stopped}");
    assert_eq!(stopped["status"], "closed");
    assert_eq!(stopped["winner"]["viewer_id"], bob_id.as_str());
    let ended = ada_ws.next_of_type("auction.ended", WAIT).await;
    assert_eq!(ended["result"], "sold");
    let (status, again) = srv
        .post(
            &format!("/api/shows/{show}/auctions/{aid}/close"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, again["code"].as_str()),
        (409, Some("auction_closed")),
        "{again}"
    );
    let (status, list) = srv.get(&format!("/api/shows/{show}/auctions"), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["auctions"].as_array().map(Vec::len), Some(1), "{list}");
    srv.stop().await;
}

mod memory {
    use common::server::Backend;

    use super::common;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lot_runs_from_first_bid_to_its_end() {
        super::a_lot_runs_from_first_bid_to_its_end(Backend::Memory).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_scheduled_lot_takes_pre_bids_and_opens_on_them() {
        super::a_scheduled_lot_takes_pre_bids_and_opens_on_them(Backend::Memory).await
    }
}
