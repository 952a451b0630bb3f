//! The dashboard's orders and settings end to end, on both stores: a creator's orders across
//! shows (status and show filters, pages, another creator refused), the CSV export parsed back
//! (columns, quoting, formula-safe cells), the buyer's email and shipping kept with the
//! built-in test provider, the webhook's test event reaching a real receiver and showing in the
//! deliveries with its outcome, creator-wide blocked terms in every show of the creator and in
//! no other creator's, and creator-wide moderators over HTTP and the WebSocket until removed.

mod common;

use std::time::Duration;

use common::receiver::{Receiver, Reply, free_addr};
use common::server::{Backend, TestServer, assert_problem, s};
use common::ws::{Ending, WAIT, WsClient};
use livesale::clock::Clock;
use livesale::domain::commerce::{DELIVERIES_KEPT, Delivery, DeliveryOutcome, test_order};
use livesale::domain::{CreatorId, Currency, InviteId, OrderId};
use livesale::store::SharedStore;
use serde_json::{Value, json};

on_both_stores!(
    orders_across_shows_filter_and_page,
    the_csv_export_parses_back,
    the_test_event_reaches_the_webhook_and_shows_in_deliveries,
    creator_terms_apply_in_every_show_of_the_creator,
    creator_wide_moderators_moderate_every_show_until_removed,
    the_store_keeps_settings_per_creator_and_the_delivery_log_bounded,
);

/// A creator with two live shows, each with a product in its lineup.
struct Shop {
    creator: String,
    shows: [String; 2],
    products: [String; 2],
}

impl Shop {
    async fn open(srv: &TestServer, name: &str) -> Shop {
        let (_, creator) = srv.creator(name).await;
        let mut shows = Vec::new();
        let mut products = Vec::new();
        for (i, title) in ["Morning =drop", "Evening, \"late\" show"]
            .iter()
            .enumerate()
        {
            let show = srv.show(&creator, title).await;
            let started = srv
                .post(
                    &format!("/api/shows/{show}/start"),
                    Some(&creator),
                    json!({}),
                )
                .await;
            assert_eq!(started.0, 200, "start: {}", started.1);
            let sku = format!("{name}-SKU-{i}").replace(' ', "-");
            let product = srv.product(&creator, &sku, 1250 + i as i64, 100).await;
            let lineup = srv
                .post(
                    &format!("/api/shows/{show}/lineup"),
                    Some(&creator),
                    json!({ "product_id": product }),
                )
                .await;
            assert_eq!(lineup.0, 200, "lineup: {}", lineup.1);
            shows.push(show);
            products.push(product);
        }
        Shop {
            creator,
            shows: [shows[0].clone(), shows[1].clone()],
            products: [products[0].clone(), products[1].clone()],
        }
    }
}

fn shipping(name: &str) -> Value {
    json!({
        "name": name, "line1": "1 Main St, Apt \"4\"", "city": "Springfield",
        "postal_code": "12345", "country": "US", "state": "IL",
    })
}

/// A viewer buys `quantity` of the show's product with an email and address; returns the
/// checkout's order.
async fn buy(srv: &TestServer, shop: &Shop, i: usize, buyer: &str, quantity: i64) -> Value {
    let show = &shop.shows[i];
    let (_, viewer) = srv.viewer(show, buyer).await;
    let cart = srv
        .http
        .put(srv.url(&format!(
            "/api/shows/{show}/cart/items/{}",
            shop.products[i]
        )))
        .bearer_auth(&viewer)
        .json(&json!({ "quantity": quantity }))
        .send()
        .await
        .unwrap();
    assert_eq!(cart.status(), 200, "cart: {}", cart.text().await.unwrap());
    let body = json!({
        "email": format!("{}@example.com", buyer.to_lowercase()),
        "shipping": shipping(&format!("={buyer}")),
    });
    let resp = srv
        .http
        .post(srv.url(&format!("/api/shows/{show}/checkout")))
        .bearer_auth(&viewer)
        .header("idempotency-key", uuid::Uuid::now_v7().to_string())
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, placed) = TestServer::finish(resp).await;
    assert_eq!(status, 201, "checkout: {placed}");
    placed["order"].clone()
}

async fn my_orders(srv: &TestServer, token: &str, query: &str) -> (u16, Value) {
    srv.get(&format!("/api/me/orders{query}"), Some(token))
        .await
}

fn ids(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|o| s(&o["id"]))
        .collect()
}

async fn orders_across_shows_filter_and_page(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let shop = Shop::open(&srv, "Ann").await;
    let mut placed = Vec::new();
    for (n, buyer) in ["Kim", "Lee", "Max", "Noa", "Ola"].iter().enumerate() {
        placed.push(buy(&srv, &shop, n % 2, buyer, 1 + n as i64).await);
    }
    // The built-in test provider keeps the buyer's details with the order.
    let first = &placed[0];
    assert_eq!(first["status"], "paid", "{first}");
    assert_eq!(first["email"], "kim@example.com", "{first}");
    assert_eq!(first["shipping"]["name"], "=Kim", "{first}");
    assert_eq!(first["shipping"]["line1"], "1 Main St, Apt \"4\"");
    let (_, per_show) = srv
        .get(
            &format!("/api/shows/{}/orders", shop.shows[0]),
            Some(&shop.creator),
        )
        .await;
    assert_eq!(per_show["orders"][0]["email"], "kim@example.com");
    assert_eq!(per_show["orders"][0]["shipping"]["state"], "IL");

    // Refund one, so two statuses are on the list.
    let refunded = s(&placed[1]["id"]);
    let got = srv
        .post(
            &format!("/api/shows/{}/orders/{refunded}/refund", shop.shows[1]),
            Some(&shop.creator),
            json!({}),
        )
        .await;
    assert_eq!(got.0, 200, "refund: {}", got.1);

    // Everything, newest first, with the show's title and the buyer's details.
    let (status, all) = my_orders(&srv, &shop.creator, "").await;
    assert_eq!(status, 200, "{all}");
    let newest_first: Vec<String> = placed.iter().rev().map(|o| s(&o["id"])).collect();
    assert_eq!(ids(&all["items"]), newest_first);
    assert_eq!(all["next_cursor"], Value::Null);
    let ola = &all["items"][0];
    assert_eq!(ola["show_title"], "Morning =drop", "{ola}");
    assert_eq!(ola["show_id"], shop.shows[0].as_str());
    assert_eq!(ola["email"], "ola@example.com");
    assert_eq!(ola["shipping"]["name"], "=Ola");
    assert_eq!(ola["items"][0]["quantity"], 5);

    // Filters: status, show, both.
    let (_, paid) = my_orders(&srv, &shop.creator, "?status=paid").await;
    let want: Vec<String> = newest_first
        .iter()
        .filter(|id| **id != refunded)
        .cloned()
        .collect();
    assert_eq!(ids(&paid["items"]), want);
    let (_, gone) = my_orders(&srv, &shop.creator, "?status=refunded").await;
    assert_eq!(ids(&gone["items"]), vec![refunded.clone()]);
    assert_eq!(gone["items"][0]["status"], "refunded");
    let evening = &shop.shows[1];
    let (_, second) = my_orders(&srv, &shop.creator, &format!("?show={evening}")).await;
    assert_eq!(
        ids(&second["items"]),
        vec![s(&placed[3]["id"]), s(&placed[1]["id"])]
    );
    assert!(
        second["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["show_title"] == "Evening, \"late\" show")
    );
    let (_, both) = my_orders(&srv, &shop.creator, &format!("?show={evening}&status=paid")).await;
    assert_eq!(ids(&both["items"]), vec![s(&placed[3]["id"])]);

    // Pages of two follow the cursor without gaps or repeats.
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_string();
    let mut pages = 0;
    loop {
        let (status, page) = my_orders(&srv, &shop.creator, &query).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["items"].as_array().unwrap().len() <= 2);
        seen.extend(ids(&page["items"]));
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!((seen, pages), (newest_first.clone(), 3));

    // Another creator sees none of it and may not filter by Ann's show.
    let bob = Shop::open(&srv, "Bob").await;
    let bobs = buy(&srv, &bob, 0, "Pat", 1).await;
    let (_, theirs) = my_orders(&srv, &bob.creator, "").await;
    assert_eq!(ids(&theirs["items"]), vec![s(&bobs["id"])]);
    let (_, mine) = my_orders(&srv, &shop.creator, "").await;
    assert_eq!(ids(&mine["items"]).len(), 5);
    let query = format!("?show={}", shop.shows[0]);
    assert_problem(
        &my_orders(&srv, &bob.creator, &query).await,
        403,
        "wrong_show",
    );
    assert_problem(
        &srv.get(&format!("/api/me/orders.csv{query}"), Some(&bob.creator))
            .await,
        403,
        "wrong_show",
    );

    // Bad input is a problem, never a panic.
    let nowhere = format!("?show={}", uuid::Uuid::now_v7());
    assert_problem(
        &my_orders(&srv, &shop.creator, &nowhere).await,
        404,
        "show_not_found",
    );
    assert_problem(
        &my_orders(&srv, &shop.creator, "?status=lost").await,
        400,
        "invalid_query",
    );
    assert_problem(
        &my_orders(&srv, &shop.creator, "?limit=0").await,
        422,
        "invalid_limit",
    );
    assert_problem(
        &my_orders(&srv, &shop.creator, "?cursor=x").await,
        422,
        "invalid_cursor",
    );
    let viewer = srv.viewer(&shop.shows[0], "Vic").await.1;
    assert_problem(&my_orders(&srv, &viewer, "").await, 403, "forbidden_role");
    assert_problem(&my_orders(&srv, "", "").await, 401, "invalid_token");
    srv.stop().await;
}

async fn the_csv_export_parses_back(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let shop = Shop::open(&srv, "Cy").await;
    let a = buy(&srv, &shop, 0, "Kim", 2).await;
    let b = buy(&srv, &shop, 1, "Lee", 1).await;
    let resp = srv
        .http
        .get(srv.url("/api/me/orders.csv"))
        .bearer_auth(&shop.creator)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    let today = srv.clock.now().format("%Y-%m-%d").to_string();
    assert_eq!(
        header("content-disposition"),
        format!("attachment; filename=\"orders-{today}.csv\"")
    );
    let text = resp.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let columns: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        columns,
        [
            "order_id",
            "created_at",
            "status",
            "show_title",
            "buyer_name",
            "email",
            "shipping_name",
            "shipping_line1",
            "shipping_line2",
            "shipping_city",
            "shipping_state",
            "shipping_postal_code",
            "shipping_country",
            "sku",
            "title",
            "quantity",
            "unit_price",
            "order_total",
            "currency",
            "channel",
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 2, "one row per order line: {text}");
    let cell = |row: &csv::StringRecord, name: &str| {
        let i = columns.iter().position(|c| c == name).unwrap();
        row.get(i).unwrap().to_string()
    };
    // Newest first.
    let (lee, kim) = (&rows[0], &rows[1]);
    assert_eq!(cell(lee, "order_id"), s(&b["id"]));
    assert_eq!(cell(kim, "order_id"), s(&a["id"]));
    // Quoting round-trips commas and quotes; formula starts get a leading '.
    assert_eq!(cell(lee, "show_title"), "Evening, \"late\" show");
    assert_eq!(cell(kim, "show_title"), "Morning =drop");
    assert_eq!(cell(kim, "shipping_name"), "'=Kim");
    assert_eq!(cell(kim, "shipping_line1"), "1 Main St, Apt \"4\"");
    assert_eq!(cell(kim, "email"), "kim@example.com");
    assert_eq!(cell(kim, "shipping_line2"), "");
    assert_eq!(
        [
            cell(kim, "shipping_city"),
            cell(kim, "shipping_state"),
            cell(kim, "shipping_postal_code"),
            cell(kim, "shipping_country"),
        ],
        ["Springfield", "IL", "12345", "US"]
    );
    assert_eq!(cell(kim, "status"), "paid");
    assert_eq!(cell(kim, "buyer_name"), "Kim");
    assert_eq!(cell(kim, "sku"), "Cy-SKU-0");
    assert_eq!(cell(kim, "title"), "Product Cy-SKU-0");
    assert_eq!(cell(kim, "quantity"), "2");
    assert_eq!(cell(kim, "unit_price"), "12.50");
    assert_eq!(cell(kim, "order_total"), "25.00");
    assert_eq!(cell(lee, "unit_price"), "12.51");
    assert_eq!(cell(kim, "currency"), "USD");
    assert_eq!(
        chrono::DateTime::parse_from_rfc3339(&cell(kim, "created_at"))
            .unwrap()
            .timestamp(),
        chrono::DateTime::parse_from_rfc3339(&s(&a["created_at"]))
            .unwrap()
            .timestamp()
    );
    // The formula guard: a product titled like a formula is exported as text.
    let (_, product) = srv
        .post(
            "/api/products",
            Some(&shop.creator),
            json!({ "sku": "F-1", "title": "=HYPERLINK(\"http://x.test\")",
                    "price": { "amount": 100, "currency": "USD" }, "stock": 5 }),
        )
        .await;
    let lineup = srv
        .post(
            &format!("/api/shows/{}/lineup", shop.shows[0]),
            Some(&shop.creator),
            json!({ "product_id": product["id"] }),
        )
        .await;
    assert_eq!(lineup.0, 200);
    let tricky = Shop {
        creator: shop.creator.clone(),
        shows: shop.shows.clone(),
        products: [s(&product["id"]), shop.products[1].clone()],
    };
    buy(&srv, &tricky, 0, "Mo", 1).await;
    let (status, text) = srv
        .get("/api/me/orders.csv?status=paid", Some(&shop.creator))
        .await;
    assert_eq!(status, 200);
    let text = text.as_str().expect("CSV text").to_string();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 3);
    assert_eq!(cell(&rows[0], "title"), "'=HYPERLINK(\"http://x.test\")");
    // Filtered by show.
    let (_, text) = srv
        .get(
            &format!("/api/me/orders.csv?show={}", shop.shows[1]),
            Some(&shop.creator),
        )
        .await;
    let text = text.as_str().unwrap().to_string();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(cell(&rows[0], "order_id"), s(&b["id"]));
    srv.stop().await;
}

async fn set_webhook(srv: &TestServer, creator: &str, url: &str) -> String {
    let resp = srv
        .http
        .put(srv.url("/api/webhook"))
        .bearer_auth(creator)
        .json(&json!({ "url": url }))
        .send()
        .await
        .unwrap();
    let (status, hook) = TestServer::finish(resp).await;
    assert_eq!(status, 200, "webhook: {hook}");
    s(&hook["secret"])
}

/// Polls the deliveries until the event's entry satisfies `done`; returns it.
async fn delivery(
    srv: &TestServer,
    creator: &str,
    event: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (status, log) = srv.get("/api/webhook/deliveries", Some(creator)).await;
        assert_eq!(status, 200, "{log}");
        let entry = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["event_id"] == event)
            .cloned();
        if let Some(entry) = entry.filter(|e| done(e)) {
            return entry;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such delivery of {event}: {log}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn the_test_event_reaches_the_webhook_and_shows_in_deliveries(backend: Backend) {
    let mut config = common::server::test_config(backend);
    config.webhook_poll_ms = 50;
    config.webhook_backoff_base_ms = 100;
    let srv = TestServer::start_with(config).await;
    let (_, creator) = srv.creator("Dee").await;
    assert_problem(
        &srv.post("/api/webhook/test", Some(&creator), json!({}))
            .await,
        409,
        "no_webhook",
    );
    let (status, empty) = srv.get("/api/webhook/deliveries", Some(&creator)).await;
    assert_eq!((status, empty), (200, json!({ "items": [] })));

    // A receiver that answers 200: the test event arrives signed, and shows as delivered.
    let receiver = Receiver::start(0).await;
    let secret = set_webhook(&srv, &creator, &receiver.url()).await;
    let (status, queued) = srv
        .post("/api/webhook/test", Some(&creator), json!({}))
        .await;
    assert_eq!(status, 202, "{queued}");
    let event = s(&queued["event_id"]);
    let got = receiver.wait_for(1, WAIT).await;
    let request = &got[0];
    assert_eq!(request.delivery(), event);
    assert_eq!(request.header("x-livesale-event"), "test");
    assert!(livesale::commerce::webhooks::verify(
        &secret,
        &request.body,
        request.header("x-livesale-hmac-sha256")
    ));
    let body = request.json();
    assert_eq!(
        (body["id"].as_str(), body["type"].as_str()),
        (Some(event.as_str()), Some("test"))
    );
    assert_eq!(body["order"]["status"], "paid", "{body}");
    assert_eq!(body["order"]["items"][0]["quantity"], 1, "{body}");
    assert!(body["order"]["shipping"]["country"].is_string(), "{body}");
    let entry = delivery(&srv, &creator, &event, |d| d["outcome"] == "delivered").await;
    assert_eq!(entry["kind"], "test");
    assert_eq!(entry["http_status"], 200);
    assert_eq!(entry["attempts"], 1);
    assert!(entry.get("error").is_none(), "{entry}");
    drop(receiver);

    // An endpoint that always fails: the event shows as failed, with the status, and retried.
    let failing = Receiver::scripted(free_addr(), |_| Reply::Status(503)).await;
    set_webhook(&srv, &creator, &failing.url()).await;
    let (status, queued) = srv
        .post("/api/webhook/test", Some(&creator), json!({}))
        .await;
    assert_eq!(status, 202);
    let failed_event = s(&queued["event_id"]);
    failing.wait_for(2, WAIT).await;
    let entry = delivery(&srv, &creator, &failed_event, |d| {
        d["outcome"] == "failed" && d["attempts"].as_u64() >= Some(2)
    })
    .await;
    assert_eq!(entry["http_status"], 503, "{entry}");
    assert_eq!(entry["error"], "answered 503", "{entry}");
    // Newest first: the failing event above the delivered one.
    let (_, log) = srv.get("/api/webhook/deliveries", Some(&creator)).await;
    let order: Vec<String> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| s(&d["event_id"]))
        .collect();
    assert_eq!(order, vec![failed_event, event]);
    // Another creator's log is their own.
    let (_, other) = srv.creator("Eve").await;
    let (_, theirs) = srv.get("/api/webhook/deliveries", Some(&other)).await;
    assert_eq!(theirs, json!({ "items": [] }));
    srv.stop().await;
}

/// A viewer's chat message and what became of it: `chat.pending` (held), `chat.message`
/// (published) or an `error`.
async fn chat_outcome(c: &mut WsClient, text: &str) -> Value {
    c.chat(text).await;
    let frames = c
        .collect_until(
            |v| {
                v["type"] == "chat.pending"
                    || v["type"] == "error"
                    || (v["type"] == "chat.message" && v["text"] == text)
            },
            WAIT,
        )
        .await;
    frames.last().cloned().expect("an outcome")
}

async fn creator_terms_apply_in_every_show_of_the_creator(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let ann = Shop::open(&srv, "Ann").await;
    let bob = Shop::open(&srv, "Bob").await;
    let (status, none) = srv.get("/api/me/terms", Some(&ann.creator)).await;
    assert_eq!((status, none), (200, json!({ "terms": [] })));
    let put = srv
        .http
        .put(srv.url("/api/me/terms"))
        .bearer_auth(&ann.creator)
        .json(&json!({ "terms": ["scam", "crypto*", "SCAM"] }))
        .send()
        .await
        .unwrap();
    let (status, set) = TestServer::finish(put).await;
    assert_eq!(
        (status, set.clone()),
        (200, json!({ "terms": ["scam", "crypto*"] }))
    );
    let (_, read) = srv.get("/api/me/terms", Some(&ann.creator)).await;
    assert_eq!(read, set);
    // Bad terms are refused whole.
    let bad = srv
        .http
        .put(srv.url("/api/me/terms"))
        .bearer_auth(&ann.creator)
        .json(&json!({ "terms": ["ok", "sp*am"] }))
        .send()
        .await
        .unwrap();
    assert_problem(&TestServer::finish(bad).await, 422, "invalid_term");
    assert_eq!(srv.get("/api/me/terms", Some(&ann.creator)).await.1, set);

    // Held in both of Ann's shows (look-alikes too), published in Bob's.
    for show in &ann.shows {
        let (_, viewer) = srv.viewer(show, "Vic").await;
        let (mut v, _) = WsClient::join(&srv, show, Some(&viewer)).await;
        let held = chat_outcome(&mut v, "a real ѕсаm here").await;
        assert_eq!(held["type"], "chat.pending", "{held}");
        let held = chat_outcome(&mut v, "buy cryptocoins").await;
        assert_eq!(held["type"], "chat.pending", "{held}");
        let fine = chat_outcome(&mut v, "lovely mug").await;
        assert_eq!(fine["type"], "chat.message", "{fine}");
        v.close().await;
    }
    let (_, viewer) = srv.viewer(&bob.shows[0], "Vic").await;
    let (mut v, _) = WsClient::join(&srv, &bob.shows[0], Some(&viewer)).await;
    let published = chat_outcome(&mut v, "a real scam here").await;
    assert_eq!(published["type"], "chat.message", "{published}");
    v.close().await;

    // Only creators set them.
    let (_, viewer) = srv.viewer(&ann.shows[0], "Wes").await;
    assert_problem(
        &srv.get("/api/me/terms", Some(&viewer)).await,
        403,
        "forbidden_role",
    );
    srv.stop().await;
}

async fn creator_wide_moderators_moderate_every_show_until_removed(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let ann = Shop::open(&srv, "Ann").await;
    let bob = Shop::open(&srv, "Bob").await;
    let (status, added) = srv
        .post(
            "/api/me/moderators",
            Some(&ann.creator),
            json!({ "label": " Sam " }),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["label"], "Sam");
    let (id, token) = (s(&added["id"]), s(&added["token"]));
    let (_, list) = srv.get("/api/me/moderators", Some(&ann.creator)).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        (
            list["items"][0]["id"].as_str(),
            list["items"][0]["label"].as_str()
        ),
        (Some(id.as_str()), Some("Sam"))
    );
    assert!(list["items"][0]["created_at"].is_string());
    assert!(
        list["items"][0].get("token").is_none(),
        "the token is shown once: {list}"
    );
    assert_eq!(
        srv.get("/api/me/moderators", Some(&bob.creator)).await.1,
        json!({ "items": [] })
    );
    let (_, me) = srv.get("/api/me", Some(&token)).await;
    assert_eq!(me["role"], "moderator", "{me}");

    // HTTP: both of Ann's shows, not Bob's.
    for show in &ann.shows {
        let got = srv
            .post(
                &format!("/api/shows/{show}/moderation"),
                Some(&token),
                json!({ "type": "mod.slow", "seconds": 0 }),
            )
            .await;
        assert_eq!(got.0, 200, "moderating {show}: {}", got.1);
        let (status, state) = srv
            .get(&format!("/api/shows/{show}/moderation"), Some(&token))
            .await;
        assert_eq!(status, 200, "{state}");
    }
    let bobs = &bob.shows[0];
    assert_problem(
        &srv.post(
            &format!("/api/shows/{bobs}/moderation"),
            Some(&token),
            json!({ "type": "mod.slow", "seconds": 0 }),
        )
        .await,
        403,
        "wrong_show",
    );
    // Moderating is all it does: no owner's actions.
    assert_problem(
        &srv.post(
            &format!("/api/shows/{}/end", ann.shows[0]),
            Some(&token),
            json!({}),
        )
        .await,
        403,
        "forbidden_role",
    );

    // WebSocket: a moderator in both of Ann's shows; refused in Bob's.
    let mut desks = Vec::new();
    for show in &ann.shows {
        let (mut m, welcome) = WsClient::join(&srv, show, Some(&token)).await;
        assert_eq!(welcome["role"], "moderator", "{welcome}");
        assert_eq!(welcome["you"]["id"], id.as_str(), "{welcome}");
        assert_eq!(welcome["you"]["name"], "Sam", "{welcome}");
        m.send_json(json!({ "type": "mod.slow", "seconds": 7 }))
            .await;
        let mode = m.next_of_type("chat.mode", WAIT).await;
        assert_eq!(mode["slow_mode_s"], 7, "{mode}");
        let audit = m.next_of_type("mod.audit", WAIT).await;
        assert_eq!(audit["entry"]["actor"]["name"], "Sam", "{audit}");
        assert_eq!(audit["entry"]["actor"]["id"], id.as_str(), "{audit}");
        desks.push(m);
    }
    let mut refused = WsClient::connect(&srv, bobs, Some(&token), "").await;
    match refused.expect_end(WAIT).await {
        (Ending::Close(code, reason), 0) => assert_eq!(code, 4003, "{reason}"),
        other => panic!("Bob's show let Ann's moderator in: {other:?}"),
    }

    // Removed: open desks are closed, the token fails everywhere.
    assert_problem(
        &srv.delete(&format!("/api/me/moderators/{id}"), Some(&bob.creator))
            .await,
        404,
        "moderator_not_found",
    );
    let gone = srv
        .delete(&format!("/api/me/moderators/{id}"), Some(&ann.creator))
        .await;
    assert_eq!(gone.0, 204, "{}", gone.1);
    for mut desk in desks {
        let notice = desk.next_of_type("mod.notice", WAIT).await;
        assert_eq!(
            (notice["action"].as_str(), notice["to"].as_str()),
            (Some("revoked"), Some(id.as_str()))
        );
        let (code, reason) = desk.expect_close(WAIT).await;
        assert_eq!(code, 4001, "{reason}");
    }
    for show in &ann.shows {
        assert_problem(
            &srv.get(&format!("/api/shows/{show}/moderation"), Some(&token))
                .await,
            401,
            "token_revoked",
        );
        let mut again = WsClient::connect(&srv, show, Some(&token), "").await;
        match again.expect_end(WAIT).await {
            (Ending::Close(code, reason), 0) => {
                assert_eq!(code, 4001, "{reason}");
                assert!(reason.starts_with("token_revoked"), "{reason}");
            }
            other => panic!("a removed moderator connected: {other:?}"),
        }
    }
    assert_eq!(
        srv.get("/api/me/moderators", Some(&ann.creator)).await.1,
        json!({ "items": [] })
    );
    assert_problem(
        &srv.delete(&format!("/api/me/moderators/{id}"), Some(&ann.creator))
            .await,
        404,
        "moderator_not_found",
    );
    let invalid = srv
        .post(
            "/api/me/moderators",
            Some(&ann.creator),
            json!({ "label": "" }),
        )
        .await;
    assert_problem(&invalid, 422, "invalid_label");
    srv.stop().await;
}

/// The store's side, on both stores: the delivery log is one entry per event, newest first and
/// bounded, the test event is queued in the outbox, and terms and moderators are per creator.
async fn the_store_keeps_settings_per_creator_and_the_delivery_log_bounded(backend: Backend) {
    let store: SharedStore = match backend {
        Backend::Memory => common::stores::memory(),
        Backend::Redis => common::stores::redis_store("orders-dash").await,
    };
    let (ann, bob) = (
        CreatorId(uuid::Uuid::now_v7()),
        CreatorId(uuid::Uuid::now_v7()),
    );
    let t0 = chrono::DateTime::from_timestamp(1_900_000_000, 0).unwrap();
    let entry = |n: usize, outcome: DeliveryOutcome| Delivery {
        event_id: format!("event-{n:03}"),
        kind: "order.paid".into(),
        at: t0 + chrono::Duration::seconds(n as i64),
        outcome,
        http_status: Some(500),
        attempts: 1,
        error: Some("answered 500".into()),
    };
    for n in 0..DELIVERIES_KEPT + 7 {
        store
            .record_delivery(ann, &entry(n, DeliveryOutcome::Failed))
            .await
            .unwrap();
    }
    let log = store.deliveries(ann).await.unwrap();
    let ids: Vec<String> = log.iter().map(|d| d.event_id.clone()).collect();
    let want: Vec<String> = (7..DELIVERIES_KEPT + 7)
        .rev()
        .map(|n| format!("event-{n:03}"))
        .collect();
    assert_eq!(ids, want);
    // A later attempt of a kept event replaces its entry and goes first.
    let again = Delivery {
        at: t0 + chrono::Duration::seconds(1000),
        outcome: DeliveryOutcome::Delivered,
        http_status: Some(200),
        attempts: 2,
        error: None,
        ..entry(20, DeliveryOutcome::Delivered)
    };
    store.record_delivery(ann, &again).await.unwrap();
    let log = store.deliveries(ann).await.unwrap();
    assert_eq!(log.len(), DELIVERIES_KEPT);
    assert_eq!(log[0], again);
    assert_eq!(log.iter().filter(|d| d.event_id == "event-020").count(), 1);
    assert!(store.deliveries(bob).await.unwrap().is_empty());

    // The test event waits in the outbox like an order's, with its body.
    let sample = test_order(
        OrderId(uuid::Uuid::now_v7()),
        Currency::parse("USD").unwrap(),
        t0,
    );
    store
        .queue_event(bob, "evt-test-1", "test", t0, &sample)
        .await
        .unwrap();
    let pending = store.outbox_pending(bob, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(
        (pending[0].id.as_str(), pending[0].kind.as_str()),
        ("evt-test-1", "test")
    );
    let body: Value = serde_json::from_str(&pending[0].body).unwrap();
    assert_eq!(body["type"], "test");
    assert_eq!(body["order"]["id"], sample.id.to_string());
    store.outbox_ack(bob, "evt-test-1").await.unwrap();
    assert!(store.outbox_pending(bob, 10).await.unwrap().is_empty());

    // Terms and moderators are the creator's own.
    store
        .set_creator_terms(ann, &["scam".into()])
        .await
        .unwrap();
    assert_eq!(
        store.creator_terms(ann).await.unwrap(),
        vec!["scam".to_string()]
    );
    assert!(store.creator_terms(bob).await.unwrap().is_empty());
    let sam = livesale::domain::access::CreatorWideModerator {
        id: InviteId(uuid::Uuid::now_v7()),
        label: "Sam".into(),
        created_at: t0,
    };
    store.add_creator_moderator(ann, &sam).await.unwrap();
    assert_eq!(
        store.creator_moderators(ann).await.unwrap(),
        vec![sam.clone()]
    );
    assert!(store.has_creator_moderator(ann, sam.id).await.unwrap());
    assert!(!store.has_creator_moderator(bob, sam.id).await.unwrap());
    assert!(!store.remove_creator_moderator(bob, sam.id).await.unwrap());
    assert!(store.remove_creator_moderator(ann, sam.id).await.unwrap());
    assert!(!store.has_creator_moderator(ann, sam.id).await.unwrap());
    assert!(store.creator_moderators(ann).await.unwrap().is_empty());
}
