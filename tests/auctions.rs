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
    srv.add_to_lineup(&creator, &show, &product).await;
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
    let (status, placed, _) = srv
        .bid(&show, &aid, &ada, Some("ada-1"), json!({ "amount": 1000 }))
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
    assert_eq!(logged["name"], "Ada", "the studio's log names the bidder");

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
    let (status, placed, _) = srv
        .bid(&show, &aid, &ada, Some("ada-2"), json!({ "amount": 2000 }))
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
    let (status, again, replayed) = srv
        .bid(&show, &aid, &ada, Some("ada-1"), json!({ "amount": 1000 }))
        .await;
    assert_eq!((status, replayed), (201, true), "{again}");
    assert_eq!(again["auction"]["current"]["amount"], 1000);
    assert_eq!(get_lot(&srv, &show, &aid).await, public);

    // Soft close: 8 s in, Ada's 60.00 beats Bob's maximum and pushes the end.
    let ends_before = public["ends_at"].as_str().expect("an end").to_string();
    srv.clock.advance(Duration::from_secs(8));
    let (status, placed, _) = srv
        .bid(&show, &aid, &ada, Some("ada-3"), json!({ "amount": 6000 }))
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
    assert!(ended["order_id"].is_string(), "the winner's order: {ended}");
    assert_eq!(ended["auction"]["status"], "closed");
    let closed = get_lot(&srv, &show, &aid).await;
    assert_eq!(closed["status"], "closed");
    assert_eq!(closed["winner"]["name"], "Ada");
    assert_eq!(closed["current"]["amount"], 6000);
    // A bid after the close is refused, and changes nothing.
    let (status, late, _) = srv
        .bid(&show, &aid, &bob, Some("bob-2"), json!({ "amount": 9000 }))
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

    // The metrics name what happened.
    let metrics = srv
        .http
        .get(srv.url("/metrics"))
        .send()
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    for line in [
        "livesale_auction_bids_total{outcome=\"accepted\"}",
        "livesale_auction_bids_total{outcome=\"auction_closed\"}",
        "livesale_auction_bids_total{outcome=\"replayed\"}",
        "livesale_auctions_closed_total{result=\"sold\"}",
        "livesale_auction_bid_seconds",
    ] {
        assert!(metrics.contains(line), "{line} not in /metrics");
    }
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

    let (status, pre, _) = srv
        .bid(&show, &aid, &bob, Some("b"), json!({ "max_amount": 3000 }))
        .await;
    assert_eq!(
        (status, pre["outcome"].as_str()),
        (201, Some("pre_bid")),
        "{pre}"
    );
    let (status, pre, _) = srv
        .bid(&show, &aid, &ada, Some("a"), json!({ "max_amount": 2000 }))
        .await;
    assert_eq!(
        (status, pre["outcome"].as_str()),
        (201, Some("pre_bid")),
        "{pre}"
    );
    let (status, plain, _) = srv
        .bid(&show, &aid, &ada, Some("a2"), json!({ "amount": 2500 }))
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

/// Asserts a refusal: this status and problem code.
fn refused(got: &(u16, Value, bool), status: u16, code: &str) {
    assert_eq!(
        (got.0, got.1["code"].as_str()),
        (status, Some(code)),
        "expected {status} {code}: {}",
        got.1
    );
}

/// A bad bid: what it is, the lot, the bidder's token, the key, the body, and the answer.
type BadBid<'a> = (
    &'a str,
    String,
    &'a str,
    Option<String>,
    Value,
    u16,
    &'a str,
);

/// Bad bids: each is a clear 4xx with a stable code, and the lot is the same before and after.
async fn bad_bids_are_refused_and_change_nothing(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show, product) = auction_show(&srv).await;
    let (_, ada) = srv.viewer(&show, "Ada").await;
    let (_, bob) = srv.viewer(&show, "Bob").await;
    let (cleo_id, cleo) = srv.viewer(&show, "Cleo").await;
    let (dan_id, dan) = srv.viewer(&show, "Dan").await;
    let moderator = srv.invite(&creator, &show, "moderator").await;
    let camera = srv.invite(&creator, &show, "camera").await;
    let (status, created) = srv
        .post(
            &format!("/api/shows/{show}/auctions"),
            Some(&creator),
            lot(&product, true),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let aid = id(&created);
    let got = srv
        .bid(&show, &aid, &ada, Some("ada-1"), json!({ "amount": 1500 }))
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    // Another creator's show and lot.
    let (other_creator, other_show, other_product) = {
        let (c, s) = srv.live_show("Other", "Other show").await;
        let p = srv.product(&c, "LOT-2", 2500, 5).await;
        let (status, body) = srv
            .post(
                &format!("/api/shows/{s}/lineup"),
                Some(&c),
                json!({ "product_id": p }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        (c, s, p)
    };
    let (status, other_lot) = srv
        .post(
            &format!("/api/shows/{other_show}/auctions"),
            Some(&other_creator),
            lot(&other_product, true),
        )
        .await;
    assert_eq!(status, 201, "{other_lot}");
    let other_aid = id(&other_lot);
    // Cleo is banned, Dan timed out.
    for command in [
        json!({ "type": "mod.ban", "viewer_id": cleo_id }),
        json!({ "type": "mod.timeout", "viewer_id": dan_id, "seconds": 600 }),
    ] {
        let (status, body) = srv
            .post(
                &format!("/api/shows/{show}/moderation"),
                Some(&creator),
                command,
            )
            .await;
        assert!((200..300).contains(&status), "moderation: {body}");
    }

    let before = get_lot(&srv, &show, &aid).await;
    let other_before = get_lot(&srv, &other_show, &other_aid).await;
    let on = |a: &str| a.to_string();
    let cases: Vec<BadBid> = vec![
        (
            "another show's lot",
            on(&other_aid),
            &bob,
            Some("k1".into()),
            json!({ "amount": 9000 }),
            404,
            "auction_not_found",
        ),
        (
            "an unknown lot",
            uuid::Uuid::now_v7().to_string(),
            &bob,
            Some("k2".into()),
            json!({ "amount": 9000 }),
            404,
            "auction_not_found",
        ),
        (
            "a negative amount",
            on(&aid),
            &bob,
            Some("k3".into()),
            json!({ "amount": -5 }),
            422,
            "invalid_bid",
        ),
        (
            "a zero maximum",
            on(&aid),
            &bob,
            Some("k3b".into()),
            json!({ "max_amount": 0 }),
            422,
            "invalid_bid",
        ),
        (
            "a fractional amount",
            on(&aid),
            &bob,
            Some("k4".into()),
            json!({ "amount": 1600.5 }),
            422,
            "invalid_body",
        ),
        (
            "an amount as text",
            on(&aid),
            &bob,
            Some("k5".into()),
            json!({ "amount": "1600" }),
            422,
            "invalid_body",
        ),
        (
            "an unknown field",
            on(&aid),
            &bob,
            Some("k5b".into()),
            json!({ "amount": 1600, "price": 1 }),
            422,
            "unknown_field",
        ),
        (
            "both amounts",
            on(&aid),
            &bob,
            Some("k6".into()),
            json!({ "amount": 1600, "max_amount": 3000 }),
            422,
            "invalid_bid",
        ),
        (
            "no amount",
            on(&aid),
            &bob,
            Some("k7".into()),
            json!({}),
            422,
            "invalid_bid",
        ),
        (
            "another currency",
            on(&aid),
            &bob,
            Some("k8".into()),
            json!({ "amount": 1600, "currency": "EUR" }),
            422,
            "wrong_currency",
        ),
        (
            "no currency at all",
            on(&aid),
            &bob,
            Some("k9".into()),
            json!({ "amount": 1600, "currency": "XQZ" }),
            422,
            "unknown_currency",
        ),
        (
            "too low",
            on(&aid),
            &bob,
            Some("k10".into()),
            json!({ "amount": 1500 }),
            409,
            "bid_too_low",
        ),
        (
            "the leader's maximum below it",
            on(&aid),
            &ada,
            Some("k11".into()),
            json!({ "max_amount": 1200 }),
            409,
            "max_below_current",
        ),
        (
            "no Idempotency-Key",
            on(&aid),
            &bob,
            None,
            json!({ "amount": 1600 }),
            400,
            "missing_idempotency_key",
        ),
        (
            "a blank Idempotency-Key",
            on(&aid),
            &bob,
            Some("   ".into()),
            json!({ "amount": 1600 }),
            400,
            "invalid_idempotency_key",
        ),
        (
            "a reused Idempotency-Key",
            on(&aid),
            &ada,
            Some("ada-1".into()),
            json!({ "amount": 1700 }),
            422,
            "idempotency_key_reused",
        ),
        (
            "the creator",
            on(&aid),
            &creator,
            Some("k12".into()),
            json!({ "amount": 1600 }),
            403,
            "bidder_not_allowed",
        ),
        (
            "a moderator",
            on(&aid),
            &moderator,
            Some("k13".into()),
            json!({ "amount": 1600 }),
            403,
            "bidder_not_allowed",
        ),
        (
            "a camera",
            on(&aid),
            &camera,
            Some("k14".into()),
            json!({ "amount": 1600 }),
            403,
            "bidder_not_allowed",
        ),
        (
            "a banned viewer",
            on(&aid),
            &cleo,
            Some("k15".into()),
            json!({ "amount": 1600 }),
            403,
            "bidder_not_allowed",
        ),
        (
            "a timed-out viewer",
            on(&aid),
            &dan,
            Some("k16".into()),
            json!({ "amount": 1600 }),
            403,
            "bidder_not_allowed",
        ),
    ];
    for (what, lot_id, token, key, body, status, code) in cases {
        let got = srv.bid(&show, &lot_id, token, key.as_deref(), body).await;
        assert_eq!(
            (got.0, got.1["code"].as_str()),
            (status, Some(code)),
            "{what}: {}",
            got.1
        );
        assert_eq!(got.1["status"], status, "{what}: problem+json {}", got.1);
        assert_eq!(
            get_lot(&srv, &show, &aid).await,
            before,
            "{what} changed the lot"
        );
        assert_eq!(
            get_lot(&srv, &other_show, &other_aid).await,
            other_before,
            "{what}"
        );
    }
    // A too-low bid says what would be enough.
    let low = srv
        .bid(&show, &aid, &bob, Some("k17"), json!({ "amount": 1 }))
        .await;
    refused(&low, 409, "bid_too_low");
    assert_eq!(
        low.1["next_minimum"],
        json!({ "amount": 1600, "currency": "USD" })
    );
    // A viewer of another show bidding here: their token is for that show.
    let (_, stranger) = srv.viewer(&other_show, "Stranger").await;
    let got = srv
        .bid(
            &show,
            &aid,
            &stranger,
            Some("k18"),
            json!({ "amount": 1600 }),
        )
        .await;
    refused(&got, 403, "wrong_show");
    // Over the WebSocket: the refusal names the code and echoes the key.
    let (mut ws, _) = WsClient::join(&srv, &show, Some(&bob)).await;
    for (frame, code) in [
        (
            json!({ "type": "auction.bid", "auction_id": "nope", "amount": 1600, "key": "w1" }),
            "auction_not_found",
        ),
        (
            json!({ "type": "auction.bid", "auction_id": other_aid, "amount": 9000, "key": "w2" }),
            "auction_not_found",
        ),
        (
            json!({ "type": "auction.bid", "auction_id": aid, "amount": 1500, "key": "w3" }),
            "bid_too_low",
        ),
        (
            json!({ "type": "auction.bid", "auction_id": aid, "amount": 1600, "key": "" }),
            "invalid_idempotency_key",
        ),
    ] {
        let key = frame["key"].clone();
        ws.send_json(frame).await;
        let error = ws.next_of_type("error", WAIT).await;
        assert_eq!(
            (&error["code"], &error["key"]),
            (&json!(code), &key),
            "{error}"
        );
    }
    ws.send_json(json!({ "type": "auction.bid", "auction_id": aid, "amount": 1.5 }))
        .await;
    let error = ws.next_of_type("error", WAIT).await;
    assert_eq!(error["code"], "bad_message", "{error}");
    let (mut studio, _) = WsClient::join(&srv, &show, Some(&creator)).await;
    studio
        .send_json(json!({ "type": "auction.bid", "auction_id": aid, "amount": 1600 }))
        .await;
    let error = studio.next_of_type("error", WAIT).await;
    assert_eq!(error["code"], "bidder_not_allowed", "{error}");
    assert_eq!(get_lot(&srv, &show, &aid).await, before);
    srv.stop().await;
}

/// Bad lots: each refused with a stable code, and the show's lots are as they were.
async fn bad_lots_are_refused_and_change_nothing(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show, product) = auction_show(&srv).await;
    let outside = srv.product(&creator, "NOT-IN-LINEUP", 2500, 5).await;
    let (_, viewer) = srv.viewer(&show, "Vera").await;
    let (status, first) = srv
        .post(
            &format!("/api/shows/{show}/auctions"),
            Some(&creator),
            lot(&product, true),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    let aid = id(&first);
    let with = |change: Value| {
        let mut body = lot(&product, false);
        for (k, v) in change.as_object().expect("an object") {
            body[k] = v.clone();
        }
        body
    };
    let list = || async {
        srv.get(&format!("/api/shows/{show}/auctions"), None)
            .await
            .1
    };
    let before = list().await;
    let cases = [
        (
            "a product not in the lineup",
            with(json!({ "product_id": outside })),
            422,
            "not_in_lineup",
        ),
        (
            "a zero start price",
            with(json!({ "start_price": { "amount": 0, "currency": "USD" } })),
            422,
            "invalid_auction",
        ),
        (
            "a start price in another currency",
            with(json!({ "start_price": { "amount": 1000, "currency": "EUR" } })),
            422,
            "wrong_currency",
        ),
        (
            "too short",
            with(json!({ "duration_s": 5 })),
            422,
            "invalid_auction",
        ),
        (
            "too long an extension",
            with(json!({ "extend_s": 600 })),
            422,
            "invalid_auction",
        ),
        (
            "a reserve below the start",
            with(json!({ "reserve_price": { "amount": 500, "currency": "USD" } })),
            422,
            "invalid_auction",
        ),
        (
            "a reserve in another currency",
            with(json!({ "reserve_price": { "amount": 5000, "currency": "EUR" } })),
            422,
            "wrong_currency",
        ),
        (
            "shrinking increments",
            with(
                json!({ "increments": [{ "from": 0, "step": 500 }, { "from": 1000, "step": 100 }] }),
            ),
            422,
            "invalid_auction",
        ),
        (
            "an unknown mode",
            with(json!({ "mode": "dutch" })),
            422,
            "invalid_body",
        ),
        (
            "a second open lot",
            with(json!({ "open": true })),
            409,
            "auction_running",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, problem) = srv
            .post(&format!("/api/shows/{show}/auctions"), Some(&creator), body)
            .await;
        assert_eq!(
            (got, problem["code"].as_str()),
            (status, Some(code)),
            "{what}: {problem}"
        );
        assert_eq!(list().await, before, "{what} changed the lots");
    }
    let (status, problem) = srv
        .post(
            &format!("/api/shows/{show}/auctions"),
            Some(&viewer),
            lot(&product, false),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("forbidden_role")),
        "{problem}"
    );
    // Opening an open lot, a lot of nobody, reading a log as a viewer.
    let (status, problem) = srv
        .post(
            &format!("/api/shows/{show}/auctions/{aid}/open"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (409, Some("illegal_transition")),
        "{problem}"
    );
    let nobody = uuid::Uuid::now_v7();
    let (status, problem) = srv
        .post(
            &format!("/api/shows/{show}/auctions/{nobody}/close"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (404, Some("auction_not_found")),
        "{problem}"
    );
    let (status, problem) = srv
        .get(
            &format!("/api/shows/{show}/auctions/{aid}/log"),
            Some(&viewer),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (403, Some("forbidden_role")),
        "{problem}"
    );
    let (status, problem) = srv
        .get(
            &format!("/api/shows/{show}/auctions/{aid}/log?format=xml"),
            Some(&creator),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_query")),
        "{problem}"
    );
    assert_eq!(list().await, before);
    srv.stop().await;
}

/// A bidder faster than `--bid-rate` (bursts of `--bid-burst`) is refused 429 `rate_limited`
/// with `Retry-After`, and the refused bids change nothing.
async fn a_bidder_over_their_pace_is_refused(backend: Backend) {
    let mut config = common::server::test_config(backend);
    config.bid_rate = 1;
    config.bid_burst = 2;
    let srv = TestServer::start_with(config).await;
    let (creator, show, product) = auction_show(&srv).await;
    let (_, ada) = srv.viewer(&show, "Ada").await;
    let (status, created) = srv
        .post(
            &format!("/api/shows/{show}/auctions"),
            Some(&creator),
            lot(&product, true),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let aid = id(&created);
    // A burst of two, then five more at once: a bid a second refills, so most are refused.
    let mut limited = None;
    for n in 0..7 {
        let before = get_lot(&srv, &show, &aid).await;
        let amount = 1000 + n * 1000;
        let got = srv
            .bid(
                &show,
                &aid,
                &ada,
                Some(&format!("r{n}")),
                json!({ "amount": amount }),
            )
            .await;
        if got.0 == 429 {
            assert_eq!(got.1["code"], "rate_limited", "{}", got.1);
            assert_eq!(get_lot(&srv, &show, &aid).await, before);
            limited = Some(n);
            break;
        }
        assert_eq!(got.0, 201, "{}", got.1);
    }
    assert!(
        limited.is_some_and(|n| n >= 2),
        "the burst is 2: {limited:?}"
    );
    srv.stop().await;
}

/// With Stripe, a bidder needs a saved card (a winner pays with it off-session): 409
/// `card_required` and the lot unchanged until they save one through the card setup (real
/// localstripe); then the bid is taken.
async fn with_stripe_a_bidder_needs_a_saved_card(backend: Backend) {
    use common::localstripe::{CARD_OK, LocalStripe, SECRET_KEY};
    use livesale::commerce::stripe::Secret;
    let ls = LocalStripe::start().await;
    let mut config = common::server::test_config(backend);
    config.payments = livesale::config::PaymentsMode::Stripe;
    config.stripe_secret_key = Some(Secret::new(SECRET_KEY));
    config.stripe_publishable_key = Some("pk_test_livesale".into());
    config.stripe_webhook_secret = Some(Secret::new("whsec_livesale_test"));
    config.stripe_api_base = ls.base();
    config.stripe_js_url = ls.js_url();
    let srv = TestServer::start_with(config).await;
    let (creator, show, product) = auction_show(&srv).await;
    let (_, ada) = srv.viewer(&show, "Ada").await;
    let (status, created) = srv
        .post(
            &format!("/api/shows/{show}/auctions"),
            Some(&creator),
            lot(&product, true),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let aid = id(&created);
    let before = get_lot(&srv, &show, &aid).await;
    let got = srv
        .bid(&show, &aid, &ada, Some("c1"), json!({ "amount": 1000 }))
        .await;
    refused(&got, 409, "card_required");
    assert_eq!(get_lot(&srv, &show, &aid).await, before);

    // Ada buys something by card: the card that paid is saved (as the checkout does).
    let (status, cart) = srv.set_cart(&show, &ada, &product, 1).await;
    assert_eq!(status, 200, "cart: {cart}");
    let address = json!({
        "name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
        "postal_code": "SW1Y 4JH", "country": "GB"
    });
    let resp = srv
        .http
        .post(srv.url(&format!("/api/shows/{show}/checkout")))
        .bearer_auth(&ada)
        .header("Idempotency-Key", "buy-1")
        .json(&json!({ "email": "ada@example.com", "shipping": address }))
        .send()
        .await
        .expect("checkout");
    let (status, placed) = TestServer::finish(resp).await;
    assert_eq!(status, 201, "checkout: {placed}");
    let order = placed["order"]["id"].as_str().expect("an order id");
    let card = ls.card(CARD_OK).await;
    let (status, paid) = srv
        .post(
            &format!("/api/shows/{show}/orders/{order}/pay"),
            Some(&ada),
            json!({ "payment_method": card }),
        )
        .await;
    assert_eq!(status, 200, "pay: {paid}");
    let (status, cards) = srv
        .get(&format!("/api/shows/{show}/cards"), Some(&ada))
        .await;
    assert_eq!(
        (status, cards["cards"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{cards}"
    );
    // The "no card" answer was kept briefly; past it, the bid is taken.
    srv.clock.advance(Duration::from_secs(3));
    let got = srv
        .bid(&show, &aid, &ada, Some("c2"), json!({ "amount": 1000 }))
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    assert_eq!(got.1["auction"]["current"]["amount"], 1000);
    srv.stop().await;
}

/// Two nodes on one Redis: both tickers see the lot's end, the store closes it once, and only
/// that node announces: the room hears one `auction.ended`, and the winner has one order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_close_a_lot_once() {
    let a = TestServer::start(Backend::Redis).await;
    let mut config = common::server::test_config(Backend::Redis);
    config.redis_prefix = a.config.redis_prefix.clone();
    let b = TestServer::start_with(config).await;
    let (creator, show, product) = auction_show(&a).await;
    let (ada_id, ada) = a.viewer(&show, "Ada").await;
    let (mut on_a, _) = WsClient::join(&a, &show, None).await;
    let (mut on_b, _) = WsClient::join(&b, &show, None).await;
    let (status, created) = a
        .post(
            &format!("/api/shows/{show}/auctions"),
            Some(&creator),
            lot(&product, true),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let aid = id(&created);
    // The bid goes through the other node.
    let got = b
        .bid(&show, &aid, &ada, Some("k"), json!({ "amount": 1000 }))
        .await;
    assert_eq!(got.0, 201, "{}", got.1);
    for node in [&a, &b] {
        node.clock.advance(Duration::from_secs(11));
    }
    for ws in [&mut on_a, &mut on_b] {
        let ended = ws
            .next_of_type("auction.ended", Duration::from_secs(10))
            .await;
        assert_eq!(ended["winner"]["viewer_id"], ada_id.as_str(), "{ended}");
        let later = ws.drain(Duration::from_millis(1500)).await;
        assert!(
            !later.iter().any(|f| f["type"] == "auction.ended"),
            "a second auction.ended: {later:?}"
        );
    }
    let (status, orders) = a
        .get(&format!("/api/shows/{show}/orders"), Some(&creator))
        .await;
    assert_eq!(status, 200, "{orders}");
    assert_eq!(
        orders["orders"].as_array().map(Vec::len),
        Some(1),
        "{orders}"
    );
    b.stop().await;
    a.stop().await;
}

on_both_stores!(
    a_lot_runs_from_first_bid_to_its_end,
    a_scheduled_lot_takes_pre_bids_and_opens_on_them,
    bad_bids_are_refused_and_change_nothing,
    bad_lots_are_refused_and_change_nothing,
    a_bidder_over_their_pace_is_refused,
    with_stripe_a_bidder_needs_a_saved_card,
);
