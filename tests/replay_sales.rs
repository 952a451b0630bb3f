//! Selling from the replay, and its metrics (issue 17, items 4 and 6; docs/replay.md,
//! "Selling from the replay, and its metrics"), on the real server over HTTP, with the memory
//! store and with Redis:
//!
//! - after the end a viewer joins, fills a cart and checks out (test payments): the order's
//!   channel is `replay`, an order placed live is `live`; the orders API, the CSV export and
//!   the creator's replay stats tell them apart (a refunded order is not a sale); a deal that
//!   has run out gives the regular price; metrics count paid orders by channel;
//! - a cancelled show still refuses the cart and the checkout, and changes nothing;
//! - view beacons: two views, repeated and late beats, the clamp to the recording, bad bodies
//!   (400 malformed, 422 wrong fields), an unknown show, a show before its end or without a
//!   recording (404 `replay_not_ready`); the stats are the creator's only.
//!
//! The recording's index is written into the server's store directly (as the recorder would):
//! readiness and the duration come from it; no media is needed for these rules.

mod common;

use std::time::Duration;

use common::server::{Backend, TestServer, assert_problem, s};
use livesale::domain::ShowId;
use livesale::store::recordings::RecordedSegment;
use serde_json::{Value, json};

on_both_stores!(
    an_order_after_the_end_is_a_replay_sale,
    a_cancelled_show_still_refuses_to_sell,
    view_beacons_count_views_and_watch_time,
);

/// A product in the show's lineup; its id.
async fn stocked(
    srv: &TestServer,
    creator: &str,
    show: &str,
    sku: &str,
    cents: i64,
    stock: i64,
) -> String {
    let id = srv.product(creator, sku, cents, stock).await;
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/lineup"),
            Some(creator),
            json!({ "product_id": id }),
        )
        .await;
    assert_eq!(status, 200, "lineup: {body}");
    id
}

/// Buys `quantity` of `product` as a new viewer `name`; the paid order.
async fn buy(srv: &TestServer, show: &str, name: &str, product: &str, quantity: i64) -> Value {
    let (_, token) = srv.viewer(show, name).await;
    let (status, cart) = srv.set_cart(show, &token, product, quantity).await;
    assert_eq!(status, 200, "cart of {name}: {cart}");
    let (status, body) = srv.checkout(show, &token, &format!("{name}-1")).await;
    assert_eq!(status, 201, "checkout of {name}: {body}");
    assert_eq!(body["order"]["status"], "paid", "{body}");
    body["order"].clone()
}

async fn end(srv: &TestServer, creator: &str, show: &str) {
    let (status, body) = srv
        .post(&format!("/api/shows/{show}/end"), Some(creator), json!({}))
        .await;
    assert_eq!(status, 200, "end: {body}");
}

async fn stats(srv: &TestServer, show: &str, creator: &str) -> Value {
    let (status, body) = srv
        .get(&format!("/api/shows/{show}/replay/stats"), Some(creator))
        .await;
    assert_eq!(status, 200, "stats: {body}");
    body
}

fn usd(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "USD" })
}

async fn metrics(srv: &TestServer) -> String {
    let resp = srv
        .http
        .get(srv.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    resp.text().await.expect("metrics text")
}

/// The value of the first sample of `name` whose line contains `label` (0 when absent).
fn sample(text: &str, name: &str, label: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .next()
        .unwrap_or(0.0)
}

async fn an_order_after_the_end_is_a_replay_sale(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show) = srv.live_show("Replay Seller", "Friday drop").await;
    let mug = stocked(&srv, &creator, &show, "MUG", 2000, 10).await;
    let hat = stocked(&srv, &creator, &show, "HAT", 1500, 10).await;
    // A 10 s deal on the hat, pinned live: it has run out by the time the replay sells.
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/pins"),
            Some(&creator),
            json!({ "product_id": hat, "deal": { "price": 900, "quantity": 5, "per_buyer_limit": 5, "duration_s": 10 } }),
        )
        .await;
    assert_eq!(status, 200, "pin: {body}");
    let before = metrics(&srv).await;

    let live = buy(&srv, &show, "Kim", &mug, 1).await;
    assert_eq!(live["channel"], "live", "{live}");
    end(&srv, &creator, &show).await;
    srv.clock.advance(Duration::from_secs(11));

    // Joining, the cart and the checkout work after the end, at the regular price.
    let replay = buy(&srv, &show, "Lee", &hat, 2).await;
    assert_eq!(replay["channel"], "replay", "{replay}");
    assert_eq!(replay["items"][0]["deal"], false, "{replay}");
    assert_eq!(replay["total"], usd(3000), "{replay}");
    let refunded = buy(&srv, &show, "Max", &mug, 3).await;
    assert_eq!(refunded["channel"], "replay");
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/orders/{}/refund", s(&refunded["id"])),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "refund: {body}");
    assert_eq!(body["channel"], "replay", "{body}");

    // The creator's orders, and the CSV's last column.
    let (status, orders) = srv
        .get(&format!("/api/shows/{show}/orders"), Some(&creator))
        .await;
    assert_eq!(status, 200, "{orders}");
    let channel_of = |id: &Value| {
        orders["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["id"] == *id)
            .map(|o| o["channel"].clone())
    };
    assert_eq!(channel_of(&live["id"]), Some(json!("live")));
    assert_eq!(channel_of(&replay["id"]), Some(json!("replay")));
    let csv = srv
        .http
        .get(srv.url(&format!("/api/me/orders.csv?show={show}")))
        .bearer_auth(&creator)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut rows = csv.lines();
    assert!(rows.next().unwrap().ends_with(",currency,channel"), "{csv}");
    let ends: Vec<(&str, &str)> = rows
        .map(|r| (r.split(',').next().unwrap(), r.rsplit(',').next().unwrap()))
        .collect();
    assert!(ends.contains(&(s(&live["id"]).as_str(), "live")), "{csv}");
    assert!(
        ends.contains(&(s(&replay["id"]).as_str(), "replay")),
        "{csv}"
    );

    // The stats split the sales; the refunded order is not one.
    let st = stats(&srv, &show, &creator).await;
    assert_eq!(st["views"], 0, "{st}");
    assert_eq!(st["watch_time_s"], 0, "{st}");
    assert_eq!(
        st["live"],
        json!({ "orders": 1, "units": 1, "revenue": [usd(2000)] }),
        "{st}"
    );
    assert_eq!(
        st["replay"],
        json!({ "orders": 1, "units": 2, "revenue": [usd(3000)] }),
        "{st}"
    );

    // Only the show's creator reads them.
    let path = format!("/api/shows/{show}/replay/stats");
    assert_problem(&srv.get(&path, None).await, 401, "missing_token");
    let (_, other) = srv.creator("Someone Else").await;
    assert_problem(&srv.get(&path, Some(&other)).await, 403, "wrong_show");
    let (_, viewer) = srv.viewer(&show, "Nosy").await;
    assert_problem(&srv.get(&path, Some(&viewer)).await, 403, "forbidden_role");
    let unknown = format!("/api/shows/{}/replay/stats", uuid::Uuid::now_v7());
    assert_problem(
        &srv.get(&unknown, Some(&creator)).await,
        404,
        "show_not_found",
    );

    // Paid orders by channel (the recorder is the process's: other tests add to it).
    let after = metrics(&srv).await;
    let grew = |label: &str| {
        sample(&after, "livesale_orders_paid_total", label)
            - sample(&before, "livesale_orders_paid_total", label)
    };
    assert!(grew("channel=\"live\"") >= 1.0, "{after}");
    assert!(grew("channel=\"replay\"") >= 2.0, "{after}");
    srv.stop().await;
}

async fn a_cancelled_show_still_refuses_to_sell(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, creator) = srv.creator("Called Off").await;
    let show = srv.show(&creator, "Never aired").await;
    let mug = stocked(&srv, &creator, &show, "MUG", 2000, 4).await;
    let (_, token) = srv.viewer(&show, "Early").await;
    assert_eq!(srv.set_cart(&show, &token, &mug, 1).await.0, 200);
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/cancel"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "cancel: {body}");
    assert_problem(
        &srv.set_cart(&show, &token, &mug, 2).await,
        409,
        "show_cancelled",
    );
    assert_problem(
        &srv.checkout(&show, &token, "late-1").await,
        409,
        "show_cancelled",
    );
    let (status, orders) = srv
        .get(&format!("/api/shows/{show}/orders"), Some(&creator))
        .await;
    assert_eq!(status, 200, "{orders}");
    assert_eq!(orders["orders"], json!([]), "{orders}");
    let (_, lineup) = srv.get(&format!("/api/shows/{show}/lineup"), None).await;
    assert_eq!(lineup["products"][0]["stock"], 4, "{lineup}");
    srv.stop().await;
}

/// Three complete 4 s segments from `origin_ms`: a 12 s recording.
async fn record(srv: &TestServer, show: &str, origin_ms: i64) {
    let show = ShowId(show.parse().unwrap());
    for n in 0..3u64 {
        let seg = RecordedSegment {
            msn: 100 + n,
            duration_s: 4.0,
            pdt_ms: origin_ms + 4000 * n as i64,
            discontinuity: n == 0,
            init: 1,
            bytes: 1000,
            complete: true,
            node: None,
        };
        srv.store.put_segment(show, &seg, origin_ms).await.unwrap();
    }
}

async fn beat(srv: &TestServer, show: &str, view: &str, watched_ms: f64) -> (u16, Value) {
    srv.post(
        &format!("/api/shows/{show}/replay/views"),
        None,
        json!({ "view_id": view, "watched_ms": watched_ms }),
    )
    .await
}

async fn raw_beat(srv: &TestServer, show: &str, content_type: &str, body: &str) -> (u16, Value) {
    let req = srv
        .http
        .post(srv.url(&format!("/api/shows/{show}/replay/views")))
        .header("content-type", content_type)
        .body(body.to_string());
    TestServer::finish(req.send().await.expect("request sent")).await
}

async fn view_beacons_count_views_and_watch_time(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, creator) = srv.creator("Replay Watcher").await;
    let show = srv.show(&creator, "Watched later").await;
    let (a, b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );

    // No replay before the end, nor after it without a recording; an unknown show.
    assert_problem(
        &beat(&srv, &show, &a, 1000.0).await,
        404,
        "replay_not_ready",
    );
    let started = srv
        .post(
            &format!("/api/shows/{show}/start"),
            Some(&creator),
            json!({}),
        )
        .await;
    assert_eq!(started.0, 200, "{}", started.1);
    record(&srv, &show, chrono::Utc::now().timestamp_millis()).await;
    assert_problem(
        &beat(&srv, &show, &a, 1000.0).await,
        404,
        "replay_not_ready",
    );
    end(&srv, &creator, &show).await;
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_problem(
        &beat(&srv, &unknown, &a, 1000.0).await,
        404,
        "show_not_found",
    );
    let before = metrics(&srv).await;

    // Two views; repeated beats count a view once and its furthest report; a late smaller
    // one changes nothing; a report past the 12 s recording counts 12 s.
    for (view, ms) in [
        (&a, 0.0),
        (&a, 5000.0),
        (&a, 9000.4),
        (&a, 7000.0),
        (&b, 30_000.0),
    ] {
        let (status, body) = beat(&srv, &show, view, ms).await;
        assert_eq!(status, 204, "beat {view} {ms}: {body}");
    }
    let st = stats(&srv, &show, &creator).await;
    assert_eq!(st["views"], 2, "{st}");
    assert_eq!(st["watch_time_s"], 21, "9 s + 12 s: {st}");
    // A beacon sent as text (navigator.sendBeacon) counts the same.
    let text = format!(r#"{{"view_id":"{b}","watched_ms":12000}}"#);
    assert_eq!(
        raw_beat(&srv, &show, "text/plain;charset=UTF-8", &text)
            .await
            .0,
        204
    );

    // Bad bodies change nothing.
    assert_problem(
        &raw_beat(&srv, &show, "application/json", "{not json").await,
        400,
        "invalid_json",
    );
    let bad = [
        json!({ "view_id": "not-a-uuid", "watched_ms": 1000 }),
        json!({ "view_id": a, "watched_ms": -1 }),
        json!({ "view_id": a, "watched_ms": "1000" }),
        json!({ "view_id": a }),
        json!({ "watched_ms": 1000 }),
        json!({ "view_id": a, "watched_ms": 1000, "extra": true }),
        json!([a, 1000]),
    ];
    for body in bad {
        let got = srv
            .post(
                &format!("/api/shows/{show}/replay/views"),
                None,
                body.clone(),
            )
            .await;
        assert_eq!(got.0, 422, "{body}: {}", got.1);
        assert!(got.1["code"].is_string(), "{body}: {}", got.1);
    }
    let st = stats(&srv, &show, &creator).await;
    assert_eq!(
        (st["views"].clone(), st["watch_time_s"].clone()),
        (json!(2), json!(21)),
        "{st}"
    );

    let after = metrics(&srv).await;
    let grew = |name: &str| sample(&after, name, "") - sample(&before, name, "");
    assert!(grew("livesale_replay_views_total") >= 2.0, "{after}");
    assert!(
        grew("livesale_replay_watch_seconds_total") >= 20.0,
        "{after}"
    );
    srv.stop().await;
}
