//! The replay's data (docs/replay.md, "Replay events and highlights"), on the real server and
//! both stores: a live show with chat (one message deleted by the creator), three pins (one
//! with a flash deal) and a purchase, then ended.
//!
//! - `GET …/replay/events`: the room's events in time order at their `at_ms` (the pins' equal
//!   their chapters'), the deleted message and the deletion absent, and the pinned products
//!   at today's price (changed after the end) with the deal shown as over;
//! - `GET …/highlights`: one clip, for the product that sold, from the segment of its pin to
//!   the segment of the next pin, on the recording's segment boundaries;
//! - 404 `show_not_found` for an unknown show, `replay_not_ready` while live and while nothing
//!   is recorded.
//!
//! The recording index is written into the server's store as the recorder writes it (ten
//! 2-second segments of a camera would make the same index; tests/replay.rs records real
//! cameras), so the segment boundaries are known exactly.

mod common;

use std::time::{Duration, Instant};

use common::server::{Backend, TestServer, assert_problem, s, test_config};
use common::ws::WsClient;
use livesale::domain::ShowId;
use livesale::store::recordings::RecordedSegment;
use serde_json::{Value, json};

on_both_stores!(events_and_highlights_of_an_ended_show);

const WAIT: Duration = Duration::from_secs(10);
const SEGMENT_MS: i64 = 2_000;

async fn patch(srv: &TestServer, path: &str, token: &str, body: Value) -> (u16, Value) {
    let resp = srv
        .http
        .patch(srv.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("PATCH");
    TestServer::finish(resp).await
}

async fn pin(srv: &TestServer, ws: &mut WsClient, show: &str, creator: &str, body: Value) {
    let (status, answer) = srv
        .post(&format!("/api/shows/{show}/pins"), Some(creator), body)
        .await;
    assert_eq!(status, 200, "pin: {answer}");
    ws.next_of_type("pin.updated", WAIT).await;
}

/// Sends a chat message and returns its id once the room has it.
async fn say(ws: &mut WsClient, text: &str) -> String {
    ws.chat(text).await;
    let frame = ws
        .collect_until(|v| v["type"] == "chat.message" && v["text"] == text, WAIT)
        .await
        .pop()
        .expect("the message");
    s(&frame["id"])
}

/// Polls `path` until `done` holds for its 200 answer.
async fn until(srv: &TestServer, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = srv.get(path, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{path}: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn events_and_highlights_of_an_ended_show(backend: Backend) {
    let srv = TestServer::start_with(test_config(backend)).await;
    let (creator, show) = srv.live_show("Replay data", "Mugs on replay").await;
    let mug = srv.product(&creator, "RD-MUG", 2400, 5).await;
    let bowl = srv.product(&creator, "RD-BOWL", 3000, 5).await;
    let vase = srv.product(&creator, "RD-VASE", 5000, 5).await;
    for p in [&mug, &bowl, &vase] {
        let (status, body) = srv
            .post(
                &format!("/api/shows/{show}/lineup"),
                Some(&creator),
                json!({ "product_id": p }),
            )
            .await;
        assert_eq!(status, 200, "lineup: {body}");
    }
    let events_path = format!("/api/shows/{show}/replay/events");
    let highlights_path = format!("/api/shows/{show}/highlights");

    // Unknown show; a live show has no replay yet.
    let unknown = ShowId(uuid::Uuid::now_v7());
    for path in [
        format!("/api/shows/{unknown}/replay/events"),
        format!("/api/shows/{unknown}/highlights"),
    ] {
        assert_problem(&srv.get(&path, None).await, 404, "show_not_found");
    }
    for path in [&events_path, &highlights_path] {
        assert_problem(&srv.get(path, None).await, 404, "replay_not_ready");
    }

    let (_, viewer) = srv.viewer(&show, "Ada").await;
    let (mut ws, _) = WsClient::join(&srv, &show, Some(&viewer)).await;
    let hello = say(&mut ws, "hello from the start").await;

    // The mug pinned 5 s in; chat about it, one message deleted by the creator.
    srv.clock.advance(Duration::from_secs(5));
    pin(&srv, &mut ws, &show, &creator, json!({ "product_id": mug })).await;
    let kept = say(&mut ws, "that mug!").await;
    let spam = say(&mut ws, "buy cheap followers").await;
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/moderation"),
            Some(&creator),
            json!({ "type": "mod.delete", "message_id": spam }),
        )
        .await;
    assert!((200..300).contains(&status), "delete: {status} {body}");
    ws.next_of_type("chat.deleted", WAIT).await;

    // 20 s later the bowl with a one-minute deal; 5 s later the mug sells.
    srv.clock.advance(Duration::from_secs(20));
    let deal = json!({ "price": 1900, "quantity": 3, "per_buyer_limit": 1, "duration_s": 60 });
    pin(
        &srv,
        &mut ws,
        &show,
        &creator,
        json!({ "product_id": bowl, "deal": deal }),
    )
    .await;
    srv.clock.advance(Duration::from_secs(5));
    let (status, body) = srv.set_cart(&show, &viewer, &mug, 1).await;
    assert_eq!(status, 200, "cart: {body}");
    let (status, body) = srv.checkout(&show, &viewer, "replay-data-1").await;
    assert!((200..300).contains(&status), "checkout: {status} {body}");
    assert_eq!(body["order"]["status"], "paid", "{body}");
    ws.next_of_type("purchase", WAIT).await;

    // 30 s later the vase (never sold), then the end.
    srv.clock.advance(Duration::from_secs(30));
    pin(
        &srv,
        &mut ws,
        &show,
        &creator,
        json!({ "product_id": vase }),
    )
    .await;
    srv.clock.advance(Duration::from_secs(10));
    let (status, body) = srv
        .post(&format!("/api/shows/{show}/end"), Some(&creator), json!({}))
        .await;
    assert_eq!(status, 200, "end: {body}");
    // Ended, nothing recorded (yet): no replay.
    for path in [&events_path, &highlights_path] {
        assert_problem(&srv.get(path, None).await, 404, "replay_not_ready");
    }

    // The recording: 2-second segments from 4.5 s before the mug's pin to well past the end.
    let (_, chapters) = srv.get(&format!("/api/shows/{show}/chapters"), None).await;
    let pin_pts = |product: &str| -> i64 {
        chapters["chapters"]
            .as_array()
            .expect("chapters")
            .iter()
            .find(|c| c["product_id"] == product)
            .and_then(|c| c["pts"].as_i64())
            .unwrap_or_else(|| panic!("a chapter of {product}: {chapters}"))
    };
    let origin = pin_pts(&mug) - 4_500;
    let segments = 50;
    let show_id: ShowId = show.parse().expect("a show id");
    for i in 0..segments {
        let segment = RecordedSegment {
            msn: 1_000 + i as u64,
            duration_s: SEGMENT_MS as f64 / 1000.0,
            pdt_ms: origin + i * SEGMENT_MS,
            discontinuity: false,
            init: 1,
            bytes: 1_000,
            complete: true,
            node: None,
        };
        srv.store
            .put_segment(show_id, &segment, origin)
            .await
            .expect("index a segment");
    }

    // The playlist lists the segments; `replay/events` is not taken for a file name, and a
    // file name still reaches the file route (these files are not on this disk).
    let (status, _) = srv
        .get(&format!("/api/shows/{show}/replay.m3u8"), None)
        .await;
    assert_eq!(status, 200);
    assert_problem(
        &srv.get(&format!("/api/shows/{show}/replay/seg-1000.m4s"), None)
            .await,
        404,
        "not_found",
    );

    // After the end the mug's price changes and the bowl's deal runs out.
    let (status, body) = patch(
        &srv,
        &format!("/api/products/{mug}"),
        &creator,
        json!({ "price": { "amount": 2600, "currency": "USD" } }),
    )
    .await;
    assert_eq!(status, 200, "new price: {body}");
    srv.clock.advance(Duration::from_secs(120));

    // Everything the room said, once the transcript writer has caught up.
    let replay = until(&srv, &events_path, |b| {
        b["events"].as_array().is_some_and(|e| {
            e.iter()
                .any(|v| v["type"] == "pin.updated" && v["pins"].as_array().unwrap().len() == 3)
        })
    })
    .await;
    assert_eq!(replay["origin_ms"], origin, "{replay}");
    assert_eq!(replay["duration_ms"], segments * SEGMENT_MS, "{replay}");
    let events = replay["events"].as_array().expect("events");
    let at: Vec<i64> = events
        .iter()
        .map(|e| e["at_ms"].as_i64().unwrap())
        .collect();
    assert!(at.is_sorted(), "time order: {at:?}");
    assert!(at.iter().all(|&t| t >= 0), "{at:?}");
    let chat: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "chat.message")
        .map(|e| s(&e["id"]))
        .collect();
    assert_eq!(
        chat,
        vec![hello.clone(), kept.clone()],
        "the deleted one is gone"
    );
    let said = events.iter().find(|e| e["id"] == kept.as_str()).unwrap();
    assert_eq!(said["text"], "that mug!");
    assert_eq!(said["author"]["name"], "Ada");
    assert_eq!(said["role"], "viewer");
    assert!(
        events.iter().all(|e| e["type"] != "chat.deleted"
            && e.get("seq").is_none()
            && e.get("pts").is_none()),
        "{replay}"
    );
    // The first message was said before the recording started: at 0.
    assert_eq!(events[0]["id"], hello.as_str());
    assert_eq!(events[0]["at_ms"], 0, "{replay:#}");

    // Pins at their chapters' times; the purchase between the bowl's and the vase's.
    let first_pin = |product: &str| -> i64 {
        events
            .iter()
            .find(|e| {
                e["type"] == "pin.updated"
                    && e["pins"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|p| p["product_id"] == product)
            })
            .and_then(|e| e["at_ms"].as_i64())
            .unwrap_or_else(|| panic!("a pin of {product}: {replay}"))
    };
    assert_eq!(first_pin(&mug), 4_500);
    let bowl_at = first_pin(&bowl);
    let vase_at = first_pin(&vase);
    assert_eq!(bowl_at, pin_pts(&bowl) - origin);
    assert_eq!(vase_at, pin_pts(&vase) - origin);
    assert!(bowl_at >= 24_500 && vase_at >= bowl_at + 35_000, "{replay}");
    let bought: Vec<&Value> = events.iter().filter(|e| e["type"] == "purchase").collect();
    assert_eq!(bought.len(), 1, "{replay}");
    assert_eq!(bought[0]["product_id"], mug.as_str());
    assert_eq!(bought[0]["buyer"], "Ada");
    assert_eq!(bought[0]["quantity"], 1);
    let bought_at = bought[0]["at_ms"].as_i64().unwrap();
    assert!(bowl_at < bought_at && bought_at < vase_at, "{replay}");
    // The pins as broadcast then: the bowl at its deal price.
    let with_bowl = events
        .iter()
        .find(|e| e["at_ms"] == bowl_at && e["type"] == "pin.updated")
        .unwrap();
    let bowl_then = with_bowl["pins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["product_id"] == bowl.as_str())
        .unwrap();
    assert_eq!(bowl_then["price"]["amount"], 1900);
    assert_eq!(bowl_then["deal"]["open"], true);

    // The products now: the mug at its new price, the bowl's deal over, the vase as it was.
    let products = &replay["products"];
    assert_eq!(products.as_object().unwrap().len(), 3, "{products}");
    assert_eq!(products[&mug]["price"]["amount"], 2600);
    assert_eq!(products[&mug]["stock_left"], 4);
    assert_eq!(products[&mug]["deal_ended"], false);
    assert_eq!(products[&bowl]["price"]["amount"], 3000);
    assert_eq!(products[&bowl]["regular_price"]["amount"], 3000);
    assert_eq!(products[&bowl]["deal_ended"], true);
    assert_eq!(products[&bowl]["deal"]["open"], false);
    assert_eq!(products[&vase]["price"]["amount"], 5000);
    assert_eq!(products[&vase]["deal_ended"], false);
    assert!(products[&vase]["deal"].is_null());

    // One highlight: the mug, from its pin's segment to the end of the bowl's pin's segment.
    let (status, body) = srv.get(&highlights_path, None).await;
    assert_eq!(status, 200, "{body}");
    let list = body["highlights"].as_array().expect("highlights");
    assert_eq!(list.len(), 1, "only what sold: {body}");
    let h = &list[0];
    assert_eq!(h["product_id"], mug.as_str());
    assert_eq!(h["title"], "Product RD-MUG");
    let (start, end) = (
        h["start_ms"].as_i64().unwrap(),
        h["end_ms"].as_i64().unwrap(),
    );
    assert_eq!(start, 4_000, "the segment the pin falls in: {body}");
    let bowl_segment_end = ((bowl_at - 1) / SEGMENT_MS + 1) * SEGMENT_MS;
    assert_eq!(end, bowl_segment_end, "the segment of the next pin: {body}");
    assert_eq!(start % SEGMENT_MS + end % SEGMENT_MS, 0, "on boundaries");
    assert_eq!(
        h["url"],
        format!(
            "{}/s/{show}?t={}.000&end={}.000",
            srv.base,
            start / 1000,
            end / 1000
        )
    );
    ws.close().await;
    srv.stop().await;
}
