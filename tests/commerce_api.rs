//! Commerce end to end over real HTTP and the WebSocket, on both stores: pins and flash deals,
//! carts, a 2,000-buyer checkout race for 100 deal units, idempotent retries, declined and
//! expired payments, the room's `purchase` and `pin.updated` events, and bad input that must
//! leave stock exactly as it was.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::server::{Backend, TestServer, assert_problem, s, test_config};
use common::ws::{WAIT, WsClient};
use futures::StreamExt;
use livesale::config::PaymentsMode;
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Semaphore;

on_both_stores!(
    two_thousand_buyers_race_for_a_hundred_deal_units,
    a_retried_checkout_places_one_order,
    a_declined_payment_returns_the_stock,
    an_expired_reservation_returns_the_stock,
    the_room_sees_pins_and_purchases_in_order,
    concurrent_purchases_leave_the_room_with_the_right_stock,
    bad_input_never_corrupts_stock,
    only_viewers_check_out,
    a_cart_holds_at_most_twenty_products,
);

// The deal-end tests wait ~10 s for a real deal to run out (10 s is the shortest deal), so
// they run on the memory store only; the store's part of them (pins, deal state, the checkout
// rule) is the same code on both stores and is covered above.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_a_deal_that_ends_flips_to_the_regular_price_and_refuses_its_cart_lines() {
    a_deal_that_ends_flips_to_the_regular_price(Backend::Memory).await
}

// ---- Helpers ---------------------------------------------------------------------------

/// What a checkout answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Value,
    /// The `Idempotent-Replayed: true` header was present.
    replayed: bool,
    /// The content type was `application/problem+json`.
    problem: bool,
}

impl Answer {
    fn pair(&self) -> (u16, Value) {
        (self.status, self.body.clone())
    }

    fn order_id(&self) -> String {
        assert_eq!(self.status, 201, "expected a placed order, got {self:?}");
        s(&self.body["order"]["id"])
    }
}

/// POST /checkout on a client; `url` is the full checkout URL.
async fn checkout_at(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Answer {
    let mut req = http.post(url);
    if !token.is_empty() {
        req = req.bearer_auth(token);
    }
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("checkout request failed: {e}"));
    let replayed = resp
        .headers()
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true");
    let problem = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/problem+json"));
    let (status, body) = TestServer::finish(resp).await;
    Answer {
        status,
        body,
        replayed,
        problem,
    }
}

async fn checkout(srv: &TestServer, show: &str, token: &str, key: Option<&str>) -> Answer {
    let url = srv.url(&format!("/api/shows/{show}/checkout"));
    checkout_at(&srv.http, &url, token, key, None).await
}

async fn checkout_body(
    srv: &TestServer,
    show: &str,
    token: &str,
    key: &str,
    body: Value,
) -> Answer {
    let url = srv.url(&format!("/api/shows/{show}/checkout"));
    checkout_at(&srv.http, &url, token, Some(key), Some(&body)).await
}

/// Any method, JSON body optional; status and parsed body.
async fn call(
    srv: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = srv.http.request(method, srv.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    TestServer::finish(req.send().await.expect("request sent")).await
}

/// A creator with a live show; (creator token, show id).
async fn live_show(srv: &TestServer, name: &str) -> (String, String) {
    srv.live_show(name, "Flash sale").await
}

/// A USD product in the show's lineup.
async fn stocked(
    srv: &TestServer,
    creator: &str,
    show: &str,
    sku: &str,
    cents: i64,
    stock: i64,
) -> String {
    let id = srv.product(creator, sku, cents, stock).await;
    srv.add_to_lineup(creator, show, &id).await;
    id
}

fn deal(price: i64, quantity: i64, per_buyer_limit: i64, duration_s: u64) -> Value {
    json!({ "price": price, "quantity": quantity, "per_buyer_limit": per_buyer_limit, "duration_s": duration_s })
}

async fn pin(
    srv: &TestServer,
    token: &str,
    show: &str,
    product: &str,
    deal: Option<Value>,
) -> (u16, Value) {
    let mut body = json!({ "product_id": product });
    if let Some(d) = deal {
        body["deal"] = d;
    }
    srv.post(&format!("/api/shows/{show}/pins"), Some(token), body)
        .await
}

async fn pin_ok(
    srv: &TestServer,
    token: &str,
    show: &str,
    product: &str,
    deal: Option<Value>,
) -> Value {
    let (status, body) = pin(srv, token, show, product, deal).await;
    assert_eq!(status, 200, "pin {product}: {body}");
    body
}

async fn set_cart(
    srv: &TestServer,
    show: &str,
    token: &str,
    product: &str,
    quantity: Value,
) -> (u16, Value) {
    call(
        srv,
        Method::PUT,
        &format!("/api/shows/{show}/cart/items/{product}"),
        Some(token),
        Some(json!({ "quantity": quantity })),
    )
    .await
}

async fn cart(srv: &TestServer, show: &str, token: &str) -> Value {
    let (status, body) = srv
        .get(&format!("/api/shows/{show}/cart"), Some(token))
        .await;
    assert_eq!(status, 200, "cart: {body}");
    body
}

/// The product's entry in `GET /pins` (panics if it is not pinned).
async fn pinned(srv: &TestServer, show: &str, product: &str) -> Value {
    let (status, body) = srv.get(&format!("/api/shows/{show}/pins"), None).await;
    assert_eq!(status, 200, "pins: {body}");
    body["pins"]
        .as_array()
        .expect("pins is a list")
        .iter()
        .find(|p| p["product_id"] == product)
        .unwrap_or_else(|| panic!("{product} is not pinned: {body}"))
        .clone()
}

/// The product's stock as the lineup shows it (pinned or not).
async fn stock_of(srv: &TestServer, show: &str, product: &str) -> i64 {
    let (status, body) = srv.get(&format!("/api/shows/{show}/lineup"), None).await;
    assert_eq!(status, 200, "lineup: {body}");
    body["products"]
        .as_array()
        .expect("products is a list")
        .iter()
        .find(|p| p["id"] == product)
        .unwrap_or_else(|| panic!("{product} is not in the lineup: {body}"))["stock"]
        .as_i64()
        .expect("stock is a number")
}

/// The show's orders as its creator sees them.
async fn orders(srv: &TestServer, show: &str, creator: &str) -> Value {
    let (status, body) = srv
        .get(&format!("/api/shows/{show}/orders"), Some(creator))
        .await;
    assert_eq!(status, 200, "orders: {body}");
    body
}

fn usd(amount: i64) -> Value {
    json!({ "amount": amount, "currency": "USD" })
}

fn is_commerce(v: &Value) -> bool {
    v["type"] == "pin.updated" || v["type"] == "purchase"
}

/// The commerce frames (`pin.updated`, `purchase`) a client receives until one matches
/// `done`, skipping the rest (presence, …); bounded by `timeout`.
async fn commerce_until(
    c: &mut WsClient,
    mut done: impl FnMut(&Value) -> bool,
    timeout: Duration,
) -> Vec<Value> {
    c.collect_until(|v| is_commerce(v) && done(v), timeout)
        .await
        .into_iter()
        .filter(is_commerce)
        .collect()
}

/// Polls `GET /pins` until the product's `stock_left` is `want`; the time it took.
async fn wait_stock(
    srv: &TestServer,
    show: &str,
    product: &str,
    want: i64,
    within: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        let p = pinned(srv, show, product).await;
        if p["stock_left"] == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "stock_left did not become {want} within {within:?}: {p}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---- The race --------------------------------------------------------------------------

async fn two_thousand_buyers_race_for_a_hundred_deal_units(backend: Backend) {
    const BUYERS: usize = 2000;
    const UNITS: i64 = 100;
    const REGULAR: i64 = 2000;
    const DEAL: i64 = 500;
    let t0 = Instant::now();
    let srv = TestServer::start(backend).await;
    let (creator, show) = live_show(&srv, "Race Studio").await;
    // Stock exactly the deal's quantity, so the deal selling out empties the shelf too.
    let product = stocked(&srv, &creator, &show, "RACE", REGULAR, UNITS).await;
    pin_ok(
        &srv,
        &creator,
        &show,
        &product,
        Some(deal(DEAL, UNITS, 1, 600)),
    )
    .await;

    // The per-buyer side, raced at the same time: one viewer, one unit in the cart, 20
    // checkouts with different keys (another show, so the big race's numbers stay exact).
    let (creator2, show2) = live_show(&srv, "Limit Studio").await;
    let limited = stocked(&srv, &creator2, &show2, "LIMIT", 3000, 10).await;
    pin_ok(
        &srv,
        &creator2,
        &show2,
        &limited,
        Some(deal(1000, 10, 1, 600)),
    )
    .await;
    let (_, greedy) = srv.viewer(&show2, "Greedy").await;
    let put = set_cart(&srv, &show2, &greedy, &limited, json!(1)).await;
    assert_eq!(put.0, 200, "{}", put.1);

    // 2,000 viewers, each with one deal unit in the cart (created concurrently).
    let tokens: Vec<String> = futures::stream::iter(0..BUYERS)
        .map(|i| {
            let (srv, show, product) = (&srv, &show, &product);
            async move {
                let (_, token) = srv.viewer(show, &format!("Buyer {i}")).await;
                let (status, body) = set_cart(srv, show, &token, product, json!(1)).await;
                assert_eq!(status, 200, "buyer {i} cart: {body}");
                assert_eq!(body["items"][0]["unit_price"], usd(DEAL), "{body}");
                token
            }
        })
        .buffer_unordered(128)
        .collect()
        .await;
    assert_eq!(tokens.len(), BUYERS);
    let setup = t0.elapsed();

    // Fire every checkout at once (at most 256 in flight on this 2-core machine).
    let t1 = Instant::now();
    let gate = Arc::new(Semaphore::new(256));
    let url = srv.url(&format!("/api/shows/{show}/checkout"));
    let mut race = tokio::task::JoinSet::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let (http, url, gate) = (srv.http.clone(), url.clone(), gate.clone());
        race.spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore open");
            checkout_at(&http, &url, &token, Some(&format!("race-{i}")), None).await
        });
    }
    let url2 = srv.url(&format!("/api/shows/{show2}/checkout"));
    let mut greed = tokio::task::JoinSet::new();
    for k in 0..20 {
        let (http, url, token) = (srv.http.clone(), url2.clone(), greedy.clone());
        greed.spawn(async move {
            checkout_at(&http, &url, &token, Some(&format!("greedy-{k}")), None).await
        });
    }
    let race = tokio::time::timeout(Duration::from_secs(60), race.join_all())
        .await
        .expect("2,000 checkouts finish within 60 s");
    let greed = tokio::time::timeout(Duration::from_secs(30), greed.join_all())
        .await
        .expect("20 checkouts finish within 30 s");
    let raced = t1.elapsed();

    // Exactly 100 paid, 1,900 clear sold-out problems, nothing else.
    let mut paid = Vec::new();
    let mut sold_out = 0;
    for a in &race {
        match a.status {
            201 => {
                let order = &a.body["order"];
                assert_eq!(order["status"], "paid", "{}", a.body);
                assert_eq!(order["total"], usd(DEAL), "{}", a.body);
                assert_eq!(order["items"][0]["quantity"], 1, "{}", a.body);
                assert_eq!(order["items"][0]["unit_price"], usd(DEAL), "{}", a.body);
                paid.push(s(&order["id"]));
            }
            409 if a.body["code"] == "sold_out" => {
                assert!(a.problem, "a sold-out answer is problem+json: {a:?}");
                assert_eq!(a.body["status"], 409, "{}", a.body);
                sold_out += 1;
            }
            _ => panic!("unexpected checkout answer in the race: {a:?}"),
        }
    }
    assert_eq!(paid.len(), UNITS as usize, "paid orders");
    assert_eq!(sold_out, BUYERS - UNITS as usize, "sold-out answers");
    assert_eq!(
        paid.iter().collect::<HashSet<_>>().len(),
        paid.len(),
        "order ids are unique"
    );

    // The shelf is empty, never negative, and the deal is gone.
    let p = pinned(&srv, &show, &product).await;
    assert_eq!(p["stock_left"], 0, "{p}");
    assert_eq!(p["deal"]["remaining"], 0, "{p}");
    assert_eq!(p["deal"]["open"], false, "{p}");
    assert_eq!(
        p["price"],
        usd(REGULAR),
        "a sold-out deal shows the regular price: {p}"
    );
    assert_eq!(stock_of(&srv, &show, &product).await, 0);

    // The creator sees exactly the 100 paid orders, one per buyer.
    let o = orders(&srv, &show, &creator).await;
    let list = o["orders"].as_array().expect("orders");
    assert_eq!(
        list.len(),
        UNITS as usize,
        "refused checkouts leave no order"
    );
    assert_eq!(o["paid"], UNITS, "{}", o["paid"]);
    assert_eq!(o["total"], usd(UNITS * DEAL));
    assert!(list.iter().all(|o| o["status"] == "paid"));
    let listed: HashSet<String> = list.iter().map(|o| s(&o["id"])).collect();
    assert_eq!(listed, paid.iter().cloned().collect::<HashSet<_>>());
    let buyers: HashSet<String> = list.iter().map(|o| s(&o["viewer_id"])).collect();
    assert_eq!(buyers.len(), UNITS as usize, "one order per buyer");

    // A newcomer cannot even put it in a cart now.
    let (_, late) = srv.viewer(&show, "Too Late").await;
    let r = set_cart(&srv, &show, &late, &product, json!(1)).await;
    assert_problem(&r, 409, "insufficient_stock");

    // Per-buyer: exactly one of the 20 went through; the rest were refused with a code.
    let won: Vec<&Answer> = greed.iter().filter(|a| a.status == 201).collect();
    assert_eq!(won.len(), 1, "one viewer, limit 1: {greed:?}");
    assert_eq!(won[0].body["order"]["status"], "paid");
    for a in greed.iter().filter(|a| a.status != 201) {
        let code = a.body["code"].as_str().unwrap_or_default();
        match (a.status, code) {
            (409, "over_limit") | (422, "empty_cart") => assert!(a.problem, "{a:?}"),
            _ => panic!("unexpected answer to a repeated checkout: {a:?}"),
        }
    }
    let p = pinned(&srv, &show2, &limited).await;
    assert_eq!(p["stock_left"], 9, "{p}");
    assert_eq!(p["deal"]["remaining"], 9, "{p}");
    let o = orders(&srv, &show2, &creator2).await;
    assert_eq!(o["orders"].as_array().map(Vec::len), Some(1), "{o}");
    assert_eq!(o["total"], usd(1000));
    // The limit also holds afterwards: the buyer cannot put another deal unit in the cart.
    let r = set_cart(&srv, &show2, &greedy, &limited, json!(1)).await;
    assert_problem(&r, 409, "over_limit");

    eprintln!(
        "{backend:?}: 2,000 viewers with carts in {setup:?}; 2,020 concurrent checkouts in {raced:?}; total {:?}",
        t0.elapsed()
    );
}

// ---- Idempotency -----------------------------------------------------------------------

async fn a_retried_checkout_places_one_order(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show) = live_show(&srv, "Retry Studio").await;
    let mug = stocked(&srv, &creator, &show, "MUG", 1800, 10).await;
    let hat = stocked(&srv, &creator, &show, "HAT", 2400, 5).await;
    pin_ok(&srv, &creator, &show, &mug, None).await;
    pin_ok(&srv, &creator, &show, &hat, None).await;
    let (_, alice) = srv.viewer(&show, "Alice").await;
    let (_, bob) = srv.viewer(&show, "Bob").await;
    let (_, carol) = srv.viewer(&show, "Carol").await;

    // No key, an empty key: refused before anything is reserved.
    assert_eq!(set_cart(&srv, &show, &alice, &mug, json!(2)).await.0, 200);
    assert_problem(
        &checkout(&srv, &show, &alice, None).await.pair(),
        400,
        "missing_idempotency_key",
    );
    assert_problem(
        &checkout(&srv, &show, &alice, Some("  ")).await.pair(),
        400,
        "invalid_idempotency_key",
    );
    assert_eq!(pinned(&srv, &show, &mug).await["stock_left"], 10);

    // Ten sequential tries with one key: one order, the same answer each time.
    let first = checkout(&srv, &show, &alice, Some("alice-1")).await;
    let id = first.order_id();
    assert!(!first.replayed, "the first try is not a replay");
    assert_eq!(first.body["order"]["status"], "paid");
    assert_eq!(first.body["order"]["total"], usd(3600));
    for n in 2..=10 {
        let again = checkout(&srv, &show, &alice, Some("alice-1")).await;
        assert_eq!(again.order_id(), id, "try {n}");
        assert!(again.replayed, "try {n} is marked as a replay");
        assert_eq!(again.body["order"]["status"], "paid");
        assert_eq!(again.body["order"]["total"], usd(3600));
    }
    assert_eq!(pinned(&srv, &show, &mug).await["stock_left"], 8);

    // Ten concurrent tries with one key: one order.
    assert_eq!(set_cart(&srv, &show, &bob, &hat, json!(1)).await.0, 200);
    let url = srv.url(&format!("/api/shows/{show}/checkout"));
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (http, url, bob) = (srv.http.clone(), url.clone(), bob.clone());
        tries.spawn(async move { checkout_at(&http, &url, &bob, Some("bob-1"), None).await });
    }
    let tries = tokio::time::timeout(Duration::from_secs(20), tries.join_all())
        .await
        .expect("10 checkouts finish");
    let ids: HashSet<String> = tries.iter().map(Answer::order_id).collect();
    assert_eq!(ids.len(), 1, "one order for one key: {tries:?}");
    assert_eq!(
        tries.iter().filter(|a| !a.replayed).count(),
        1,
        "exactly one try created it"
    );
    let bob_order = ids.into_iter().next().expect("one id");
    assert_eq!(pinned(&srv, &show, &hat).await["stock_left"], 4);

    // The same key with a different cart, or a different body: 422, and nothing changes.
    assert_eq!(set_cart(&srv, &show, &alice, &hat, json!(1)).await.0, 200);
    let reused = checkout(&srv, &show, &alice, Some("alice-1")).await;
    assert_problem(&reused.pair(), 422, "idempotency_key_reused");
    assert_eq!(
        cart(&srv, &show, &alice).await["items"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "the cart is kept"
    );
    let reused = checkout_body(&srv, &show, &bob, "bob-1", json!({ "anonymous": true })).await;
    assert_problem(&reused.pair(), 422, "idempotency_key_reused");
    assert_eq!(pinned(&srv, &show, &hat).await["stock_left"], 4);

    // A key belongs to its viewer: Carol's "alice-1" is her own purchase.
    assert_eq!(set_cart(&srv, &show, &carol, &mug, json!(1)).await.0, 200);
    let carols = checkout(&srv, &show, &carol, Some("alice-1")).await;
    assert!(!carols.replayed);
    assert_ne!(
        carols.order_id(),
        id,
        "another viewer's key never replays their order"
    );
    // And Alice's new cart goes through with a new key.
    let second = checkout(&srv, &show, &alice, Some("alice-2")).await;
    assert_ne!(second.order_id(), id);
    assert_eq!(pinned(&srv, &show, &mug).await["stock_left"], 7);
    assert_eq!(pinned(&srv, &show, &hat).await["stock_left"], 3);

    // The creator sees each purchase once.
    let o = orders(&srv, &show, &creator).await;
    let list = o["orders"].as_array().expect("orders");
    assert_eq!(list.len(), 4, "{o}");
    assert_eq!(list.iter().filter(|o| o["id"] == id.as_str()).count(), 1);
    assert_eq!(
        list.iter()
            .filter(|o| o["id"] == bob_order.as_str())
            .count(),
        1
    );
    assert_eq!(o["paid"], 4);
    assert_eq!(o["total"], usd(3600 + 2400 + 1800 + 2400));
    let (status, mine) = srv
        .get(&format!("/api/shows/{show}/orders/mine"), Some(&alice))
        .await;
    assert_eq!(status, 200, "{mine}");
    assert_eq!(mine["orders"].as_array().map(Vec::len), Some(2), "{mine}");
}

// ---- Payments that fail ----------------------------------------------------------------

async fn a_declined_payment_returns_the_stock(backend: Backend) {
    let mut config = test_config(backend);
    config.payments = PaymentsMode::Decline;
    let srv = TestServer::start_with(config).await;
    let (creator, show) = live_show(&srv, "Decline Studio").await;
    let product = stocked(&srv, &creator, &show, "DECL", 2000, 5).await;
    pin_ok(&srv, &creator, &show, &product, Some(deal(1200, 3, 2, 600))).await;
    let (_, viewer) = srv.viewer(&show, "Dora").await;

    assert_eq!(
        set_cart(&srv, &show, &viewer, &product, json!(2)).await.0,
        200
    );
    let declined = checkout(&srv, &show, &viewer, Some("decline-1")).await;
    assert_problem(&declined.pair(), 402, "payment_declined");
    assert!(declined.problem, "{declined:?}");

    // The buyer's cart is as it was: the same line, still at the deal price.
    let c = cart(&srv, &show, &viewer).await;
    assert_eq!(c["items"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c["items"][0]["product_id"], product.as_str(), "{c}");
    assert_eq!(c["items"][0]["quantity"], 2, "{c}");
    assert_eq!(c["items"][0]["unit_price"], usd(1200), "{c}");

    // Stock, the deal's units and the buyer's allowance all came back.
    let p = pinned(&srv, &show, &product).await;
    assert_eq!(p["stock_left"], 5, "{p}");
    assert_eq!(p["deal"]["remaining"], 3, "{p}");
    assert_eq!(p["deal"]["open"], true, "{p}");
    let again = set_cart(&srv, &show, &viewer, &product, json!(2)).await;
    assert_eq!(again.0, 200, "the per-buyer allowance is back: {}", again.1);

    // The order is listed as failed and counts for nothing.
    let o = orders(&srv, &show, &creator).await;
    let list = o["orders"].as_array().expect("orders");
    assert_eq!(list.len(), 1, "{o}");
    assert_eq!(list[0]["status"], "failed", "{o}");
    assert!(
        list[0]["failure"]
            .as_str()
            .is_some_and(|f| f.contains("declined")),
        "{o}"
    );
    assert_eq!(o["paid"], 0);
    assert_eq!(o["total"], usd(0));

    // A retry of the declined attempt with its key is still not a placed order.
    // (The cart holds the same line again, so this is a replay of that attempt.)
    let retry = checkout(&srv, &show, &viewer, Some("decline-1")).await;
    assert_ne!(
        retry.status, 201,
        "a replayed declined checkout must not answer 201 Created: {retry:?}"
    );
    assert_problem(&retry.pair(), 402, "payment_declined");
    assert!(retry.replayed, "{retry:?}");
    assert_eq!(
        orders(&srv, &show, &creator).await["orders"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // A second attempt with a new key is declined too, and still leaves the stock.
    let declined = checkout(&srv, &show, &viewer, Some("decline-2")).await;
    assert_problem(&declined.pair(), 402, "payment_declined");
    let p = pinned(&srv, &show, &product).await;
    assert_eq!(
        (p["stock_left"].clone(), p["deal"]["remaining"].clone()),
        (json!(5), json!(3)),
        "{p}"
    );
    let o = orders(&srv, &show, &creator).await;
    assert_eq!(o["orders"].as_array().map(Vec::len), Some(2), "{o}");
    assert_eq!(o["paid"], 0);
}

async fn an_expired_reservation_returns_the_stock(backend: Backend) {
    let mut config = test_config(backend);
    config.payments = PaymentsMode::Hang;
    config.reservation_ttl_s = 1;
    config.payment_timeout_ms = 4000;
    let srv = TestServer::start_with(config).await;
    let (creator, show) = live_show(&srv, "Hang Studio").await;
    let product = stocked(&srv, &creator, &show, "HANG", 2000, 5).await;
    pin_ok(&srv, &creator, &show, &product, Some(deal(1500, 3, 1, 600))).await;
    let (_, watcher) = srv.viewer(&show, "Watcher").await;
    let (mut room, _) = WsClient::join(&srv, &show, Some(&watcher)).await;
    let (_, viewer) = srv.viewer(&show, "Hugo").await;
    assert_eq!(
        set_cart(&srv, &show, &viewer, &product, json!(1)).await.0,
        200
    );

    let started = Instant::now();
    let url = srv.url(&format!("/api/shows/{show}/checkout"));
    let (http, token) = (srv.http.clone(), viewer.clone());
    let pending =
        tokio::spawn(async move { checkout_at(&http, &url, &token, Some("hang-1"), None).await });

    // The unit is reserved while the provider hangs…
    let o = async {
        loop {
            let o = orders(&srv, &show, &creator).await;
            if o["orders"].as_array().is_some_and(|l| !l.is_empty()) {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let o = tokio::time::timeout(Duration::from_secs(2), o)
        .await
        .expect("the order is created within 2 s");
    assert_eq!(o["orders"][0]["status"], "pending_payment", "{o}");

    // …and the sweeper gives it back about a second later, while the request still hangs.
    let took = wait_stock(&srv, &show, &product, 5, Duration::from_millis(3500)).await;
    assert!(
        !pending.is_finished(),
        "the stock came back while the checkout was still waiting"
    );
    let p = pinned(&srv, &show, &product).await;
    assert_eq!(p["deal"]["remaining"], 3, "{p}");
    let o = orders(&srv, &show, &creator).await;
    assert_eq!(o["orders"][0]["status"], "expired", "{o}");
    // The buyer's cart has its line back (the sweeper gives it back with the stock).
    let c = cart(&srv, &show, &viewer).await;
    assert_eq!(c["items"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c["items"][0]["quantity"], 1, "{c}");
    assert_eq!(c["items"][0]["unit_price"], usd(1500), "{c}");
    // The room was told.
    let frames = commerce_until(
        &mut room,
        |v| v["type"] == "pin.updated" && v["pins"][0]["stock_left"] == 5,
        Duration::from_secs(3),
    )
    .await;
    assert!(
        frames.iter().all(|f| f["type"] == "pin.updated"),
        "no purchase was announced: {frames:?}"
    );

    // The request then ends with a clear answer.
    let answer = tokio::time::timeout(Duration::from_secs(8), pending)
        .await
        .expect("the checkout ends after the payment timeout")
        .expect("the checkout task");
    assert_problem(&answer.pair(), 409, "reservation_expired");
    // A retry with the same key answers the same, and starts no new attempt.
    let retry = checkout(&srv, &show, &viewer, Some("hang-1")).await;
    assert_problem(&retry.pair(), 409, "reservation_expired");
    assert!(retry.replayed, "{retry:?}");
    let o = orders(&srv, &show, &creator).await;
    assert_eq!(o["orders"].as_array().map(Vec::len), Some(1), "{o}");
    assert_eq!(o["orders"][0]["status"], "expired", "{o}");
    assert_eq!(o["paid"], 0);
    let p = pinned(&srv, &show, &product).await;
    assert_eq!(
        (p["stock_left"].clone(), p["deal"]["remaining"].clone()),
        (json!(5), json!(3)),
        "{p}"
    );
    eprintln!(
        "{backend:?}: stock back {took:?} after polling began; checkout answered after {:?}",
        started.elapsed()
    );
    room.close().await;
}

// ---- The room --------------------------------------------------------------------------

async fn the_room_sees_pins_and_purchases_in_order(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show) = live_show(&srv, "Room Studio").await;
    let product = stocked(&srv, &creator, &show, "LAMP", 4000, 10).await;
    let (_, a) = srv.viewer(&show, "Ann").await;
    let (_, b) = srv.viewer(&show, "Ben").await;
    let (_, carol) = srv.viewer(&show, "Carol").await;
    let (_, dan) = srv.viewer(&show, "Dan").await;
    let (mut ann, welcome) = WsClient::join(&srv, &show, Some(&a)).await;
    assert_eq!(welcome["pins"], json!([]), "{welcome}");
    let (mut ben, _) = WsClient::join(&srv, &show, Some(&b)).await;

    // The creator pins with a deal: both see it with its price, units, end and stock.
    let pinned_now = pin_ok(&srv, &creator, &show, &product, Some(deal(2500, 5, 2, 600))).await;
    let ends_at = pinned_now["pins"][0]["deal"]["ends_at"].clone();
    assert!(ends_at.is_string(), "{pinned_now}");
    let mut seen = Vec::new();
    for c in [&mut ann, &mut ben] {
        let frames = commerce_until(c, |v| v["type"] == "pin.updated", WAIT).await;
        assert_eq!(frames.len(), 1, "{frames:?}");
        let p = &frames[0]["pins"][0];
        assert_eq!(p["product_id"], product.as_str(), "{p}");
        assert_eq!(p["title"], "Product LAMP", "{p}");
        assert_eq!(p["price"], usd(2500), "{p}");
        assert_eq!(p["regular_price"], usd(4000), "{p}");
        assert_eq!(p["stock_left"], 10, "{p}");
        assert_eq!(p["deal"]["price"], usd(2500), "{p}");
        assert_eq!(p["deal"]["quantity"], 5, "{p}");
        assert_eq!(p["deal"]["remaining"], 5, "{p}");
        assert_eq!(p["deal"]["per_buyer_limit"], 2, "{p}");
        assert_eq!(p["deal"]["ends_at"], ends_at, "{p}");
        assert_eq!(p["deal"]["open"], true, "{p}");
        seen.push(frames);
    }

    // Carol buys two: a purchase with her name, then the pins with the new numbers. (The room
    // hears of a purchase after the buyer has the answer, so the test waits for them before
    // the next purchase: a pin read that already sees Dan's would be right, but not this test.)
    assert_eq!(
        set_cart(&srv, &show, &carol, &product, json!(2)).await.0,
        200
    );
    let placed = checkout(&srv, &show, &carol, Some("carol-1")).await;
    assert_eq!(placed.status, 201, "{placed:?}");
    let types = |frames: &[Value]| -> Vec<String> {
        frames
            .iter()
            .map(|f| f["type"].as_str().unwrap_or("?").to_string())
            .collect()
    };
    for (c, seen) in [&mut ann, &mut ben].into_iter().zip(seen.iter_mut()) {
        let frames = commerce_until(
            c,
            |v| v["type"] == "pin.updated" && v["pins"][0]["stock_left"] == 8,
            WAIT,
        )
        .await;
        assert_eq!(types(&frames), ["purchase", "pin.updated"], "{frames:?}");
        // `pts`: the server's clock when it was paid (docs/protocol.md), no later than the
        // stock it announces.
        assert!(frames[0]["pts"].as_u64().is_some(), "{}", frames[0]);
        assert!(frames[0]["pts"].as_u64() <= frames[1]["pts"].as_u64());
        assert_eq!(
            frames[0],
            json!({ "type": "purchase", "buyer": "Carol", "product_id": product, "title": "Product LAMP",
                    "quantity": 2, "pts": frames[0]["pts"], "seq": frames[0]["seq"] }),
        );
        assert_eq!(frames[1]["pins"][0]["stock_left"], 8, "{}", frames[1]);
        assert_eq!(
            frames[1]["pins"][0]["deal"]["remaining"], 3,
            "{}",
            frames[1]
        );
        assert_eq!(frames[1]["pins"][0]["price"], usd(2500), "{}", frames[1]);
        seen.extend(frames);
    }
    // Dan buys one anonymously.
    assert_eq!(set_cart(&srv, &show, &dan, &product, json!(1)).await.0, 200);
    let placed = checkout_body(&srv, &show, &dan, "dan-1", json!({ "anonymous": true })).await;
    assert_eq!(placed.status, 201, "{placed:?}");
    assert_eq!(placed.body["order"]["buyer_name"], "Someone");
    for (c, seen) in [&mut ann, &mut ben].into_iter().zip(seen.iter_mut()) {
        let frames = commerce_until(
            c,
            |v| v["type"] == "pin.updated" && v["pins"][0]["stock_left"] == 7,
            WAIT,
        )
        .await;
        assert_eq!(types(&frames), ["purchase", "pin.updated"], "{frames:?}");
        assert_eq!(frames[0]["buyer"], "Someone", "{}", frames[0]);
        assert_eq!(frames[0]["quantity"], 1, "{}", frames[0]);
        assert_eq!(
            frames[1]["pins"][0]["deal"]["remaining"], 2,
            "{}",
            frames[1]
        );
        seen.extend(frames);
    }
    // Same frames, same seqs, same order for both viewers; seqs strictly increase.
    assert_eq!(
        seen[0], seen[1],
        "both viewers see the same commerce events"
    );
    let seqs: Vec<u64> = seen[0]
        .iter()
        .map(|f| f["seq"].as_u64().expect("seq"))
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "seqs increase: {seqs:?}"
    );

    // A late joiner's welcome carries the pins as they are now.
    let (_, e) = srv.viewer(&show, "Eve").await;
    let (late, welcome) = WsClient::join(&srv, &show, Some(&e)).await;
    let p = &welcome["pins"][0];
    assert_eq!(
        welcome["pins"].as_array().map(Vec::len),
        Some(1),
        "{welcome}"
    );
    assert_eq!(p["product_id"], product.as_str(), "{p}");
    assert_eq!(p["stock_left"], 7, "{p}");
    assert_eq!(p["deal"]["remaining"], 2, "{p}");
    assert_eq!(p["price"], usd(2500), "{p}");
    assert!(welcome["seq"].as_u64() >= seqs.last().copied(), "{welcome}");

    // Unpinning is announced too.
    let (status, body) = call(
        &srv,
        Method::DELETE,
        &format!("/api/shows/{show}/pins/{product}"),
        Some(&creator),
        None,
    )
    .await;
    assert_eq!(status, 204, "{body}");
    for c in [&mut ann, &mut ben] {
        let frames = commerce_until(c, |v| v["type"] == "pin.updated", WAIT).await;
        assert_eq!(
            frames.last().map(|f| f["pins"].clone()),
            Some(json!([])),
            "{frames:?}"
        );
    }
    ann.close().await;
    ben.close().await;
    late.close().await;
}

async fn concurrent_purchases_leave_the_room_with_the_right_stock(backend: Backend) {
    const ROUNDS: usize = 3;
    const BUYERS: usize = 30;
    let srv = TestServer::start(backend).await;
    let (creator, show) = live_show(&srv, "Rush Studio").await;
    let product = stocked(&srv, &creator, &show, "RUSH", 1000, 500).await;
    pin_ok(
        &srv,
        &creator,
        &show,
        &product,
        Some(deal(600, 500, 1, 600)),
    )
    .await;
    let (_, a) = srv.viewer(&show, "Ann").await;
    let (_, b) = srv.viewer(&show, "Ben").await;
    let (mut ann, _) = WsClient::join(&srv, &show, Some(&a)).await;
    let (mut ben, _) = WsClient::join(&srv, &show, Some(&b)).await;
    let url = srv.url(&format!("/api/shows/{show}/checkout"));
    let mut stock = 500;
    for round in 0..ROUNDS {
        let tokens: Vec<String> = futures::stream::iter(0..BUYERS)
            .map(|i| {
                let (srv, show, product) = (&srv, &show, &product);
                async move {
                    let (_, t) = srv.viewer(show, &format!("Rush {round}-{i}")).await;
                    let (status, body) = set_cart(srv, show, &t, product, json!(1)).await;
                    assert_eq!(status, 200, "{body}");
                    t
                }
            })
            .buffer_unordered(BUYERS)
            .collect()
            .await;
        let mut rush = tokio::task::JoinSet::new();
        for (i, t) in tokens.into_iter().enumerate() {
            let (http, url) = (srv.http.clone(), url.clone());
            rush.spawn(async move {
                checkout_at(&http, &url, &t, Some(&format!("rush-{round}-{i}")), None).await
            });
        }
        let answers = tokio::time::timeout(Duration::from_secs(20), rush.join_all())
            .await
            .expect("the checkouts finish");
        assert!(answers.iter().all(|a| a.status == 201), "{answers:?}");
        stock -= BUYERS as i64;
        assert_eq!(pinned(&srv, &show, &product).await["stock_left"], stock);

        // Each viewer sees every purchase, stock that only goes down, and ends on the truth.
        let mut seen = Vec::new();
        for c in [&mut ann, &mut ben] {
            let mut purchases = 0;
            let frames = commerce_until(
                c,
                |v| {
                    purchases += usize::from(v["type"] == "purchase");
                    purchases == BUYERS && v["type"] == "pin.updated"
                },
                WAIT,
            )
            .await;
            let mut tail = c.drain(Duration::from_millis(300)).await;
            tail.retain(is_commerce);
            let frames: Vec<Value> = frames.into_iter().chain(tail).collect();
            let stocks: Vec<i64> = frames
                .iter()
                .filter(|f| f["type"] == "pin.updated")
                .map(|f| f["pins"][0]["stock_left"].as_i64().expect("stock_left"))
                .collect();
            assert!(
                stocks.windows(2).all(|w| w[1] <= w[0]),
                "round {round}: a later pin.updated showed more stock than an earlier one: {stocks:?}"
            );
            assert_eq!(
                stocks.last(),
                Some(&stock),
                "round {round}: the last pin.updated is stale: {stocks:?}"
            );
            seen.push(frames);
        }
        assert_eq!(
            seen[0], seen[1],
            "round {round}: both viewers see the same frames"
        );
    }
    ann.close().await;
    ben.close().await;
}

async fn a_deal_that_ends_flips_to_the_regular_price(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show) = live_show(&srv, "Clock Studio").await;
    let product = stocked(&srv, &creator, &show, "CLOCK", 3000, 6).await;
    let (_, w) = srv.viewer(&show, "Watcher").await;
    let (_, buyer) = srv.viewer(&show, "Late Buyer").await;
    let (mut room, _) = WsClient::join(&srv, &show, Some(&w)).await;

    let pinned_at = Instant::now();
    let body = pin_ok(&srv, &creator, &show, &product, Some(deal(1000, 4, 2, 10))).await;
    let ends_at = s(&body["pins"][0]["deal"]["ends_at"]);
    let ends_at = chrono::DateTime::parse_from_rfc3339(&ends_at).expect("ends_at is RFC 3339");
    let first = commerce_until(&mut room, |v| v["type"] == "pin.updated", WAIT).await;
    assert_eq!(first[0]["pins"][0]["deal"]["open"], true);

    // A cart line taken at the deal price…
    let (status, c) = set_cart(&srv, &show, &buyer, &product, json!(2)).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["items"][0]["unit_price"], usd(1000), "{c}");

    // …then the deal ends: the room is told shortly after ends_at, with the regular price.
    let frames = commerce_until(
        &mut room,
        |v| v["type"] == "pin.updated" && v["pins"][0]["deal"]["open"] == false,
        Duration::from_secs(13).saturating_sub(pinned_at.elapsed()),
    )
    .await;
    let at = chrono::Utc::now();
    assert!(
        at >= ends_at,
        "announced at {at}, before the deal's end {ends_at}"
    );
    assert!(
        at - ends_at.with_timezone(&chrono::Utc) < chrono::Duration::seconds(2),
        "announced at {at}, long after the deal's end {ends_at}"
    );
    let p = &frames.last().expect("a frame")["pins"][0];
    assert_eq!(p["price"], usd(3000), "{p}");
    assert_eq!(p["deal"]["remaining"], 4, "{p}");
    assert_eq!(p["stock_left"], 6, "{p}");
    let pins_now = pinned(&srv, &show, &product).await;
    assert_eq!(pins_now["price"], usd(3000), "{pins_now}");
    assert_eq!(pins_now["deal"]["open"], false, "{pins_now}");

    // The line added under the deal is not silently charged at the regular price.
    let refused = checkout(&srv, &show, &buyer, Some("late-1")).await;
    assert_problem(&refused.pair(), 409, "deal_ended");
    assert!(refused.problem, "{refused:?}");
    assert_eq!(pinned(&srv, &show, &product).await["stock_left"], 6);
    let o = orders(&srv, &show, &creator).await;
    assert_eq!(o["orders"], json!([]), "{o}");
    // Setting the line again takes the regular price, and then it sells at that price.
    let (status, c) = set_cart(&srv, &show, &buyer, &product, json!(2)).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["items"][0]["unit_price"], usd(3000), "{c}");
    let placed = checkout(&srv, &show, &buyer, Some("late-2")).await;
    assert_eq!(placed.status, 201, "{placed:?}");
    assert_eq!(placed.body["order"]["total"], usd(6000));
    let p = pinned(&srv, &show, &product).await;
    assert_eq!(
        (p["stock_left"].clone(), p["deal"]["remaining"].clone()),
        (json!(4), json!(4)),
        "{p}"
    );
    room.close().await;
}

// ---- Bad input -------------------------------------------------------------------------

async fn bad_input_never_corrupts_stock(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show) = live_show(&srv, "Strict Studio").await;
    let (_, other_creator) = srv.creator("Someone Else").await;
    let mug = stocked(&srv, &creator, &show, "MUG", 2000, 5).await;
    let hat = stocked(&srv, &creator, &show, "HAT", 1500, 3).await;
    let (status, eur) = srv
        .post(
            "/api/products",
            Some(&creator),
            json!({ "sku": "EURO", "title": "Euro mug", "price": { "amount": 1900, "currency": "EUR" }, "stock": 4 }),
        )
        .await;
    assert_eq!(status, 201, "{eur}");
    let eur = s(&eur["id"]);
    srv.add_to_lineup(&creator, &show, &eur).await;
    let spare = stocked(&srv, &creator, &show, "SPARE", 900, 2).await;
    let offstage = srv.product(&creator, "OFF", 700, 9).await; // not in this show's lineup
    let foreign = srv.product(&other_creator, "FOREIGN", 500, 9).await;
    let unknown = uuid::Uuid::new_v4().to_string();

    // Pins: unknown, foreign, not in the lineup, bad deals, a deal in another currency.
    assert_problem(
        &pin(&srv, &creator, &show, &unknown, None).await,
        404,
        "product_not_found",
    );
    assert_problem(
        &pin(&srv, &creator, &show, &foreign, None).await,
        404,
        "product_not_found",
    );
    assert_problem(
        &pin(&srv, &creator, &show, &offstage, None).await,
        422,
        "not_in_lineup",
    );
    pin_ok(&srv, &creator, &show, &mug, Some(deal(1200, 4, 2, 600))).await;
    for bad in [
        deal(1200, 0, 1, 600),       // no units
        deal(1200, 4, 5, 600),       // a limit above the quantity
        deal(1200, 4, 0, 600),       // a zero limit
        deal(1200, 4, 2, 5),         // shorter than 10 s
        deal(1200, 4, 2, 2 * 86400), // longer than a day
    ] {
        assert_problem(
            &pin(&srv, &creator, &show, &mug, Some(bad.clone())).await,
            422,
            "invalid_deal",
        );
    }
    assert_problem(
        &pin(&srv, &creator, &show, &mug, Some(deal(-1, 4, 2, 600))).await,
        422,
        "invalid_price",
    );
    let eur_deal = json!({ "price": { "amount": 100, "currency": "EUR" }, "quantity": 4, "per_buyer_limit": 2, "duration_s": 600 });
    assert_problem(
        &pin(&srv, &creator, &show, &mug, Some(eur_deal)).await,
        422,
        "currency_mismatch",
    );
    pin_ok(&srv, &creator, &show, &hat, None).await;
    pin_ok(&srv, &creator, &show, &eur, None).await;
    assert_problem(
        &pin(&srv, &creator, &show, &spare, None).await,
        409,
        "too_many_pins",
    );
    let not_pinned = call(
        &srv,
        Method::DELETE,
        &format!("/api/shows/{show}/pins/{spare}"),
        Some(&creator),
        None,
    )
    .await;
    assert_problem(&not_pinned, 404, "not_pinned");
    // The refused re-pins left the mug's deal as it was.
    let p = pinned(&srv, &show, &mug).await;
    assert_eq!(p["deal"]["quantity"], 4, "{p}");
    assert_eq!(p["deal"]["per_buyer_limit"], 2, "{p}");
    assert_eq!(p["deal"]["remaining"], 4, "{p}");

    // Carts: unknown, foreign, off the lineup, bad quantities, beyond stock or limit, currency.
    let (_, v) = srv.viewer(&show, "Vera").await;
    assert_problem(
        &set_cart(&srv, &show, &v, &unknown, json!(1)).await,
        404,
        "product_not_found",
    );
    assert_problem(
        &set_cart(&srv, &show, &v, &foreign, json!(1)).await,
        404,
        "product_not_found",
    );
    assert_problem(
        &set_cart(&srv, &show, &v, &offstage, json!(1)).await,
        404,
        "product_not_found",
    );
    for q in [json!(0), json!(-1), json!(-1000), json!(101)] {
        assert_problem(
            &set_cart(&srv, &show, &v, &hat, q).await,
            422,
            "invalid_quantity",
        );
    }
    for q in [json!("two"), json!(1.5), json!(null)] {
        let r = set_cart(&srv, &show, &v, &hat, q.clone()).await;
        assert_eq!(r.0, 422, "quantity {q}: {}", r.1);
        assert!(r.1["code"].is_string(), "quantity {q}: {}", r.1);
    }
    assert_problem(
        &set_cart(&srv, &show, &v, &hat, json!(4)).await,
        409,
        "insufficient_stock",
    );
    assert_problem(
        &set_cart(&srv, &show, &v, &mug, json!(3)).await,
        409,
        "over_limit",
    );
    assert_problem(
        &checkout(&srv, &show, &v, Some("empty-1")).await.pair(),
        422,
        "empty_cart",
    );
    let (status, c) = set_cart(&srv, &show, &v, &hat, json!(3)).await;
    assert_eq!(status, 200, "{c}");
    assert_problem(
        &set_cart(&srv, &show, &v, &eur, json!(1)).await,
        422,
        "currency_mismatch",
    );
    // None of the refusals touched the cart.
    let c = cart(&srv, &show, &v).await;
    assert_eq!(c["items"].as_array().map(Vec::len), Some(1), "{c}");
    assert_eq!(c["items"][0]["product_id"], hat.as_str(), "{c}");
    assert_eq!(c["items"][0]["quantity"], 3, "{c}");
    assert_eq!(c["total"], usd(4500), "{c}");
    let removed = call(
        &srv,
        Method::DELETE,
        &format!("/api/shows/{show}/cart/items/{hat}"),
        Some(&v),
        None,
    )
    .await;
    assert_eq!(removed.0, 200, "{}", removed.1);
    assert_eq!(removed.1["items"], json!([]));

    // A line added at the regular price, then a deal starts whose limit it exceeds: the
    // checkout applies the deal and its limit (409 over_limit), and nothing is reserved.
    let (_, w) = srv.viewer(&show, "Walt").await;
    assert_eq!(set_cart(&srv, &show, &w, &hat, json!(2)).await.0, 200);
    pin_ok(&srv, &creator, &show, &hat, Some(deal(1000, 3, 1, 600))).await;
    let r = checkout(&srv, &show, &w, Some("walt-1")).await;
    assert_problem(&r.pair(), 409, "over_limit");

    // Unknown show, unparsable ids.
    let nowhere = uuid::Uuid::new_v4();
    let r = set_cart(&srv, &nowhere.to_string(), &v, &hat, json!(1)).await;
    assert_eq!(r.0 / 100, 4, "{}", r.1);
    assert!(r.1["code"].is_string(), "{}", r.1);
    let r = set_cart(&srv, &show, &v, "not-a-uuid", json!(1)).await;
    assert_problem(&r, 404, "not_found");

    // Stock and deals are exactly as they started; no order exists.
    let p = pinned(&srv, &show, &mug).await;
    assert_eq!(
        (p["stock_left"].clone(), p["deal"]["remaining"].clone()),
        (json!(5), json!(4)),
        "{p}"
    );
    let p = pinned(&srv, &show, &hat).await;
    assert_eq!(
        (p["stock_left"].clone(), p["deal"]["remaining"].clone()),
        (json!(3), json!(3)),
        "{p}"
    );
    assert_eq!(pinned(&srv, &show, &eur).await["stock_left"], 4);
    assert_eq!(stock_of(&srv, &show, &spare).await, 2);
    let o = orders(&srv, &show, &creator).await;
    assert_eq!(o["orders"], json!([]), "{o}");
    assert_eq!(o["paid"], 0);

    // An ended show sells from its replay (tests/replay_sales.rs), under the same rules: a
    // bad line is still refused and changes nothing.
    let (status, body) = srv
        .post(&format!("/api/shows/{show}/end"), Some(&creator), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_problem(
        &set_cart(&srv, &show, &w, &hat, json!(4)).await,
        409,
        "insufficient_stock",
    );
    assert_eq!(pinned(&srv, &show, &hat).await["stock_left"], 3);
}

// ---- Roles -----------------------------------------------------------------------------

async fn only_viewers_check_out(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show) = live_show(&srv, "Role Studio").await;
    let product = stocked(&srv, &creator, &show, "ROLE", 1000, 3).await;
    let camera = srv.invite(&creator, &show, "camera").await;
    let moderator = srv.invite(&creator, &show, "moderator").await;
    for token in [&camera, &moderator, &creator] {
        assert_problem(
            &checkout(&srv, &show, token, Some("role-1")).await.pair(),
            403,
            "forbidden_role",
        );
        assert_problem(
            &set_cart(&srv, &show, token, &product, json!(1)).await,
            403,
            "forbidden_role",
        );
    }
    assert_problem(
        &checkout(&srv, &show, "", Some("role-2")).await.pair(),
        401,
        "missing_token",
    );
    assert_eq!(stock_of(&srv, &show, &product).await, 3);
}

async fn a_cart_holds_at_most_twenty_products(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator, show) = live_show(&srv, "Many products").await;
    let (_, viewer) = srv.viewer(&show, "Collector").await;
    let mut products = Vec::new();
    for i in 0..21 {
        products.push(stocked(&srv, &creator, &show, &format!("MANY-{i}"), 100, 5).await);
    }
    for p in &products[..20] {
        let (status, body) = set_cart(&srv, &show, &viewer, p, json!(1)).await;
        assert_eq!(status, 200, "{body}");
    }
    let refused = set_cart(&srv, &show, &viewer, &products[20], json!(1)).await;
    assert_problem(&refused, 409, "cart_full");
    // Changing a product already in the cart still works, and nothing else moved.
    let (status, body) = set_cart(&srv, &show, &viewer, &products[0], json!(2)).await;
    assert_eq!(status, 200, "{body}");
    let got = cart(&srv, &show, &viewer).await;
    assert_eq!(got["items"].as_array().unwrap().len(), 20);
    assert_eq!(got["total"], usd(2100));
    // A deal priced at or above the regular price is not a deal.
    let refused = pin(
        &srv,
        &creator,
        &show,
        &products[0],
        Some(deal(100, 5, 1, 60)),
    )
    .await;
    assert_problem(&refused, 422, "invalid_deal");
}
