//! Webhook delivery end to end, on both stores: real order events (a checkout and its payment
//! through the `Store` trait) are drained from the outbox by the real worker and POSTed to a
//! real HTTP receiver on 127.0.0.1. Covered: signature and headers, retries with growing
//! backoff and a stable delivery id, timeouts, independence of merchants, order per creator,
//! and (Redis) delivery after a restart between the order and its delivery. Also where webhooks
//! may go (issue 13): `PUT` refuses literal addresses in special-purpose ranges, and delivery
//! refuses literal URLs and names that resolve there, unless `--webhook-allow-private`. The
//! delivery cases run in a private network namespace of their own (the test binary runs itself
//! again under `unshare`), so even a broken check could reach nothing beyond that namespace.

mod common;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use livesale::commerce::webhooks::{self, WebhookConfig};
use livesale::domain::commerce::{CartLine, Order};
use livesale::domain::{
    Creator, CreatorId, Money, NewProduct, NewShow, Product, ProductId, Show, ShowId, Viewer,
    ViewerId,
};
use livesale::store::prelude::*;
use livesale::store::{
    CheckoutOutcome, CheckoutRequest, Completion, MemoryStore, OutboxEvent, RedisStore,
    SharedStore, Webhook,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use common::receiver::{Receiver, Recorded, free_addr};
use common::redis::{PrivateRedis, redis_url, unique_prefix};
use common::server::{
    ADMIN, Backend, SECRET, ServerProcess, TestServer, assert_problem, s, test_config,
};
use serde_json::{Value, json};

/// Every wait for a delivery is bounded by this.
const WAIT: Duration = Duration::from_secs(10);

on_both_stores!(
    each_event_is_signed_and_delivered,
    failing_receiver_gets_it_after_retries,
    hanging_receiver_times_out_and_is_retried,
    one_failing_merchant_does_not_delay_another,
    events_arrive_in_order_per_creator,
    real_server_delivers_a_checkout,
    put_refuses_literal_addresses_in_refused_ranges,
);

// ---- fixtures -------------------------------------------------------------------------------

async fn store(backend: Backend, prefix: &str) -> SharedStore {
    match backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Redis => Arc::new(redis_store(prefix).await),
    }
}

async fn redis_store(prefix: &str) -> RedisStore {
    let url = redis_url();
    RedisStore::connect(&url, prefix, Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the test Redis at {url}: {e}"))
}

/// Fast timings so retries happen within a test's budget.
fn fast() -> WebhookConfig {
    WebhookConfig {
        poll: Duration::from_millis(50),
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_secs(2),
        timeout: Duration::from_secs(2),
        node: "test-node".into(),
        // The receivers listen on 127.0.0.1 (tests/webhook_ssrf.rs tests the refusals).
        allow_private: true,
        lookup: webhooks::Lookup::system(),
        clock: std::sync::Arc::new(livesale::clock::SystemClock),
    }
}

/// A running worker that stops when dropped (or explicitly, bounded).
struct Worker {
    token: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Worker {
    fn start(store: &SharedStore, config: WebhookConfig) -> Worker {
        let token = CancellationToken::new();
        let task = webhooks::spawn(store.clone(), config, token.clone());
        Worker {
            token,
            task: Some(task),
        }
    }

    /// Cancels and waits for the worker to stop; it must do so promptly.
    async fn stop(mut self) {
        self.token.cancel();
        let task = self.task.take().expect("running");
        tokio::time::timeout(Duration::from_secs(2), task)
            .await
            .expect("the worker stops within 2 s of shutdown")
            .expect("the worker did not panic");
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// A creator with a show, one product in its lineup, and a webhook.
struct Shop {
    store: SharedStore,
    creator: Creator,
    show: Show,
    product: Product,
    hook: Webhook,
}

impl Shop {
    async fn open(store: &SharedStore, name: &str, url: &str) -> Shop {
        let now = chrono::Utc::now();
        let creator = Creator::new(CreatorId(Uuid::now_v7()), name, now).expect("a valid creator");
        store.insert_creator(&creator).await.unwrap();
        let show = Show::schedule(
            ShowId(Uuid::now_v7()),
            creator.id,
            NewShow {
                title: format!("{name} live"),
                description: None,
                scheduled_at: None,
                cover_url: None,
            },
            now,
        )
        .expect("a valid show");
        store.insert_show(&show).await.unwrap();
        let product = Product::create(
            ProductId(Uuid::now_v7()),
            creator.id,
            NewProduct {
                sku: "MUG".into(),
                title: "Mug".into(),
                description: None,
                image_url: None,
                price: Money::price(1800, "USD").expect("a valid price"),
                stock: 1000,
            },
            now,
        )
        .expect("a valid product");
        assert!(store.insert_product(&product).await.unwrap());
        store.add_to_lineup(&show, product.id).await.unwrap();
        let hook = Webhook {
            url: url.to_string(),
            secret: format!("whsec-{}", Uuid::new_v4().simple()),
        };
        store.set_webhook(creator.id, Some(&hook)).await.unwrap();
        Shop {
            store: store.clone(),
            creator,
            show,
            product,
            hook,
        }
    }

    /// A viewer buys one mug: appends `order.created`.
    async fn order(&self) -> Order {
        let now = chrono::Utc::now();
        let viewer = Viewer {
            id: ViewerId(Uuid::now_v7()),
            show_id: self.show.id,
            display_name: "Bea".into(),
            created_at: now,
        };
        self.store.insert_viewer(&self.show, &viewer).await.unwrap();
        let line = CartLine {
            quantity: 1,
            deal_ends_at: None,
        };
        self.store
            .set_cart_line(&self.show, viewer.id, self.product.id, Some(line))
            .await
            .unwrap();
        let req = CheckoutRequest {
            viewer: viewer.id,
            buyer_name: "Bea".into(),
            key: Uuid::new_v4().to_string(),
            body_fingerprint: "{}".into(),
            order_id: livesale::domain::OrderId(Uuid::now_v7()),
            now,
            reserve_for: chrono::Duration::minutes(10),
            address: None,
            email: None,
            shipping: None,
        };
        match self.store.checkout(&self.show, &req).await.unwrap() {
            CheckoutOutcome::Created(order) => order,
            other => panic!("checkout did not create an order: {other:?}"),
        }
    }

    /// The order is paid: appends `order.paid`.
    async fn pay(&self, order: &Order) {
        let paid = self
            .store
            .complete_order(
                &self.show,
                order.id,
                &Completion::Paid {
                    at: chrono::Utc::now(),
                },
            )
            .await
            .unwrap()
            .expect("the order exists");
        assert_eq!(serde_json::to_value(paid.status).unwrap(), "paid");
    }

    async fn pending(&self) -> Vec<OutboxEvent> {
        self.store
            .outbox_pending(self.creator.id, 100)
            .await
            .unwrap()
    }

    /// Waits (bounded) until the outbox is empty: every event was acknowledged.
    async fn wait_drained(&self) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = self.pending().await;
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} events still pending after {WAIT:?}",
                left.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Asserts one request is a well-formed, correctly signed delivery of `event`.
fn assert_delivery(got: &Recorded, event: &OutboxEvent, hook: &Webhook) {
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(got.header("x-livesale-event"), event.kind);
    assert_eq!(got.delivery(), event.id);
    assert_eq!(
        got.header("user-agent"),
        concat!("livesale/", env!("CARGO_PKG_VERSION"))
    );
    assert!(got.attempt() >= 1);
    assert_eq!(
        got.body,
        event.body.as_bytes(),
        "the body is the event's, byte for byte"
    );
    let signature = got.header("x-livesale-hmac-sha256");
    assert!(
        webhooks::verify(&hook.secret, &got.body, signature),
        "the signature verifies with the webhook secret"
    );
    assert!(!webhooks::verify("another secret", &got.body, signature));
    let mut tampered = got.body.to_vec();
    tampered.push(b' ');
    assert!(!webhooks::verify(&hook.secret, &tampered, signature));
}

fn gaps(requests: &[Recorded]) -> Vec<Duration> {
    requests.windows(2).map(|w| w[1].at - w[0].at).collect()
}

// ---- tests ----------------------------------------------------------------------------------

async fn each_event_is_signed_and_delivered(backend: Backend) {
    livesale::metrics::install();
    let store = store(backend, &unique_prefix("wh-signed")).await;
    let receiver = Receiver::start(0).await;
    let shop = Shop::open(&store, "Ann's Mugs", &receiver.url()).await;
    let order = shop.order().await;
    shop.pay(&order).await;
    let events = shop.pending().await;
    assert_eq!(
        events.len(),
        2,
        "order.created and order.paid are in the outbox"
    );

    let worker = Worker::start(&store, fast());
    let got = receiver.wait_for(2, WAIT).await;
    shop.wait_drained().await;
    worker.stop().await;

    assert_eq!(got.len(), 2, "each event once: {got:?}");
    for ((got, event), kind) in got.iter().zip(&events).zip(["order.created", "order.paid"]) {
        assert_delivery(got, event, &shop.hook);
        assert_eq!(got.attempt(), 1);
        let body = got.json();
        assert_eq!(
            body["id"],
            event.id.as_str(),
            "the body carries the delivery id"
        );
        assert_eq!(body["type"], kind);
        assert_eq!(body["order"]["id"], order.id.to_string());
        assert_eq!(body["order"]["show_id"], shop.show.id.to_string());
    }
    assert_eq!(got[1].json()["order"]["status"], "paid");

    let metrics = livesale::metrics::render();
    assert!(
        metrics.contains("livesale_webhook_deliveries_total{outcome=\"ok\"}"),
        "deliveries are counted:\n{metrics}"
    );
}

async fn failing_receiver_gets_it_after_retries(backend: Backend) {
    let store = store(backend, &unique_prefix("wh-retry")).await;
    let receiver = Receiver::start(3).await;
    let shop = Shop::open(&store, "Retry Shop", &receiver.url()).await;
    let order = shop.order().await;
    let event = shop.pending().await.remove(0);

    let worker = Worker::start(&store, fast());
    let got = receiver.wait_for(4, WAIT).await;
    shop.wait_drained().await;
    worker.stop().await;

    assert_eq!(got.len(), 4, "three failures and one success: {got:?}");
    for (n, r) in got.iter().enumerate() {
        assert_delivery(r, &event, &shop.hook);
        assert_eq!(r.attempt(), n as u32 + 1, "attempts count up");
    }
    assert_eq!(got[3].json()["order"]["id"], order.id.to_string());
    // Backoff 200 ms, 400 ms, 800 ms (each with up to 20% less jitter): the spacing grows.
    let gaps = gaps(&got);
    assert!(
        gaps[0] >= Duration::from_millis(150),
        "first retry too soon: {gaps:?}"
    );
    assert!(
        gaps[1] > gaps[0] && gaps[2] > gaps[1],
        "backoff grows: {gaps:?}"
    );
    assert!(
        gaps[2] >= Duration::from_millis(600),
        "third retry too soon: {gaps:?}"
    );
}

async fn hanging_receiver_times_out_and_is_retried(backend: Backend) {
    let store = store(backend, &unique_prefix("wh-hang")).await;
    let receiver = Receiver::hanging(1).await;
    let shop = Shop::open(&store, "Slow Shop", &receiver.url()).await;
    shop.order().await;
    let event = shop.pending().await.remove(0);

    let timeout = Duration::from_millis(400);
    let worker = Worker::start(&store, WebhookConfig { timeout, ..fast() });
    let got = receiver.wait_for(2, WAIT).await;
    shop.wait_drained().await;
    worker.stop().await;

    assert_eq!(got.len(), 2, "{got:?}");
    assert_delivery(&got[0], &event, &shop.hook);
    assert_delivery(&got[1], &event, &shop.hook);
    assert_eq!((got[0].attempt(), got[1].attempt()), (1, 2));
    let gap = got[1].at - got[0].at;
    assert!(
        gap >= timeout,
        "the retry comes after the timeout and the backoff, not before: {gap:?}"
    );
}

async fn one_failing_merchant_does_not_delay_another(backend: Backend) {
    let store = store(backend, &unique_prefix("wh-indep")).await;
    // One merchant never answers (and would hold a request for 5 s), one is down, one is fine.
    let stuck = Receiver::hanging(usize::MAX).await;
    let down = free_addr();
    let healthy = Receiver::start(0).await;
    let stuck_shop = Shop::open(&store, "Stuck", &stuck.url()).await;
    let down_shop = Shop::open(&store, "Down", &format!("http://{down}/hooks")).await;
    let healthy_shop = Shop::open(&store, "Healthy", &healthy.url()).await;
    for _ in 0..3 {
        stuck_shop.order().await;
        down_shop.order().await;
    }
    let worker = Worker::start(
        &store,
        WebhookConfig {
            timeout: Duration::from_secs(5),
            ..fast()
        },
    );
    stuck.wait_for(1, WAIT).await;

    // The healthy merchant's events arrive promptly while the stuck one's request hangs.
    let started = Instant::now();
    let order = healthy_shop.order().await;
    let got = healthy.wait_for(1, Duration::from_secs(3)).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "the healthy merchant waited {took:?}"
    );
    assert_eq!(got[0].json()["order"]["id"], order.id.to_string());
    healthy_shop.pay(&order).await;
    healthy.wait_for(2, Duration::from_secs(3)).await;
    healthy_shop.wait_drained().await;

    // The others still have everything pending, and the stuck one was asked only once.
    assert_eq!(stuck_shop.pending().await.len(), 3);
    assert_eq!(down_shop.pending().await.len(), 3);
    assert_eq!(
        stuck.requests().len(),
        1,
        "a blocked head event blocks its creator only"
    );
    worker.stop().await;
}

async fn events_arrive_in_order_per_creator(backend: Backend) {
    let store = store(backend, &unique_prefix("wh-order")).await;
    // The second request fails, so the order must hold across a retry too.
    let a = Receiver::scripted(free_addr(), |n| {
        common::receiver::Reply::Status(if n == 1 { 503 } else { 200 })
    })
    .await;
    let b = Receiver::start(2).await;
    let shop_a = Shop::open(&store, "A", &a.url()).await;
    let shop_b = Shop::open(&store, "B", &b.url()).await;
    for _ in 0..3 {
        let oa = shop_a.order().await;
        let ob = shop_b.order().await;
        shop_b.pay(&ob).await;
        shop_a.pay(&oa).await;
    }
    let expected_a: Vec<String> = shop_a.pending().await.into_iter().map(|e| e.id).collect();
    let expected_b: Vec<String> = shop_b.pending().await.into_iter().map(|e| e.id).collect();
    assert_eq!((expected_a.len(), expected_b.len()), (6, 6));

    let worker = Worker::start(&store, fast());
    let got_a = a.wait_for(7, WAIT).await;
    let got_b = b.wait_for(8, WAIT).await;
    shop_a.wait_drained().await;
    shop_b.wait_drained().await;
    worker.stop().await;

    for (got, expected) in [(&got_a, &expected_a), (&got_b, &expected_b)] {
        let delivered: Vec<String> = got
            .iter()
            .filter(|r| r.reply == common::receiver::Reply::Status(200))
            .map(Recorded::delivery)
            .collect();
        assert_eq!(&delivered, expected, "delivered in outbox order");
        // Nothing later is even attempted before an earlier event is through.
        let positions: Vec<usize> = got
            .iter()
            .map(|r| expected.iter().position(|id| *id == r.delivery()).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] <= w[1]),
            "attempts in order: {positions:?}"
        );
    }
    let kinds: Vec<String> = got_a
        .iter()
        .filter(|r| r.reply == common::receiver::Reply::Status(200))
        .map(|r| r.header("x-livesale-event").to_string())
        .collect();
    assert_eq!(
        kinds,
        ["order.created", "order.paid"].repeat(3),
        "each order's creation before its payment"
    );
}

/// Two nodes run the worker on one Redis: each event reaches the merchant once, in order (one
/// node at a time holds the merchant's delivery lease).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_nodes_deliver_each_event_once_in_order() {
    let store: SharedStore = Arc::new(redis_store(&unique_prefix("wh-nodes")).await);
    let receiver = Receiver::start(0).await;
    let shop = Shop::open(&store, "Two nodes", &receiver.url()).await;
    for _ in 0..3 {
        let order = shop.order().await;
        shop.pay(&order).await;
    }
    let expected: Vec<String> = shop.pending().await.into_iter().map(|e| e.id).collect();
    assert_eq!(expected.len(), 6);
    let a = Worker::start(
        &store,
        WebhookConfig {
            node: "node-a".into(),
            ..fast()
        },
    );
    let b = Worker::start(
        &store,
        WebhookConfig {
            node: "node-b".into(),
            ..fast()
        },
    );
    shop.wait_drained().await;
    // Give a second node every chance to send a duplicate before counting.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.stop().await;
    b.stop().await;
    let delivered: Vec<String> = receiver.requests().iter().map(Recorded::delivery).collect();
    assert_eq!(delivered, expected, "each event once, in outbox order");
}

/// Killing livesale between the order and its delivery still delivers after restart: the
/// event is created while the merchant is down, the first worker fails to deliver it and is
/// stopped, and a fresh store connection and worker (as after a restart) on the same Redis
/// deliver it, byte for byte, once the merchant is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restart_between_order_and_delivery_still_delivers() {
    let prefix = unique_prefix("wh-restart");
    let addr = free_addr();
    let url = format!("http://{addr}/hooks");

    let before: SharedStore = Arc::new(redis_store(&prefix).await);
    let shop = Shop::open(&before, "Restart Shop", &url).await;
    let order = shop.order().await;
    let event = shop.pending().await.remove(0);
    let hook = shop.hook.clone();
    let creator = shop.creator.id;

    let worker = Worker::start(&before, fast());
    // Long enough for a few failed attempts against the closed port.
    tokio::time::sleep(Duration::from_millis(500)).await;
    worker.stop().await;
    drop(shop);
    drop(before);

    let after: SharedStore = Arc::new(redis_store(&prefix).await);
    let pending = after.outbox_pending(creator, 10).await.unwrap();
    assert_eq!(
        pending,
        vec![event.clone()],
        "the undelivered event survived the restart"
    );
    let worker = Worker::start(&after, fast());
    let receiver = Receiver::start_at(addr).await;
    let got = receiver.wait_for(1, WAIT).await;
    assert_delivery(&got[0], &event, &hook);
    assert_eq!(
        got[0].attempt(),
        1,
        "attempt counts restart with the process"
    );
    assert_eq!(got[0].json()["order"]["id"], order.id.to_string());
    let deadline = Instant::now() + WAIT;
    while !after.outbox_pending(creator, 10).await.unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the event was never acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.stop().await;
    assert_eq!(
        receiver.requests().len(),
        1,
        "delivered once after the restart"
    );
}

// ---- through the real server ----------------------------------------------------------------

/// The JSON API of a running server (in-process or the real binary), by base URL.
struct Api {
    base: String,
    http: reqwest::Client,
}

/// What a buyer's checkout over HTTP left behind.
struct Bought {
    creator_id: String,
    secret: String,
    order_id: String,
}

impl Api {
    fn new(base: &str) -> Api {
        Api {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("http client"),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Value,
        expect: u16,
    ) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        let resp = req
            .header("idempotency-key", Uuid::new_v4().to_string())
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expect, "{method} {path}: {body}");
        body
    }

    /// A creator sets a webhook to `hook_url` and sells a mug; a viewer buys it.
    async fn buy(&self, hook_url: &str) -> Bought {
        use reqwest::Method;
        let creator = self
            .send(
                Method::POST,
                "/api/creators",
                ADMIN,
                json!({ "name": "Hook Shop" }),
                201,
            )
            .await;
        let token = s(&creator["token"]);
        let hook = self
            .send(
                Method::PUT,
                "/api/webhook",
                &token,
                json!({ "url": hook_url }),
                200,
            )
            .await;
        assert_eq!(hook["url"], hook_url);
        let show = self
            .send(
                Method::POST,
                "/api/shows",
                &token,
                json!({ "title": "Hooks live" }),
                201,
            )
            .await;
        let show = s(&show["id"]);
        let product = json!({
            "sku": "MUG", "title": "Mug",
            "price": { "amount": 1800, "currency": "USD" }, "stock": 10,
        });
        let product = self
            .send(Method::POST, "/api/products", &token, product, 201)
            .await;
        let product = s(&product["id"]);
        let lineup = json!({ "product_id": product });
        self.send(
            Method::POST,
            &format!("/api/shows/{show}/lineup"),
            &token,
            lineup,
            200,
        )
        .await;
        let viewer = self
            .send(
                Method::POST,
                &format!("/api/shows/{show}/viewers"),
                "",
                json!({ "display_name": "Bea" }),
                201,
            )
            .await;
        let viewer = s(&viewer["token"]);
        let cart = format!("/api/shows/{show}/cart/items/{product}");
        self.send(Method::PUT, &cart, &viewer, json!({ "quantity": 1 }), 200)
            .await;
        let placed = self
            .send(
                Method::POST,
                &format!("/api/shows/{show}/checkout"),
                &viewer,
                json!({}),
                201,
            )
            .await;
        assert_eq!(placed["order"]["status"], "paid", "{placed}");
        Bought {
            creator_id: s(&creator["id"]),
            secret: s(&hook["secret"]),
            order_id: s(&placed["order"]["id"]),
        }
    }
}

/// Asserts the requests are `order.created` then `order.paid` of the order, signed with the
/// secret the API handed out.
fn assert_order_events(got: &[Recorded], bought: &Bought) {
    let kinds: Vec<&str> = got.iter().map(|r| r.header("x-livesale-event")).collect();
    assert_eq!(kinds, ["order.created", "order.paid"]);
    for r in got {
        let signature = r.header("x-livesale-hmac-sha256");
        assert!(webhooks::verify(&bought.secret, &r.body, signature));
        let body = r.json();
        assert_eq!(body["id"], r.delivery().as_str());
        assert_eq!(body["type"], r.header("x-livesale-event"));
        assert_eq!(body["order"]["id"], bought.order_id.as_str());
    }
}

/// The worker that `App::serve` starts delivers a checkout made over HTTP.
async fn real_server_delivers_a_checkout(backend: Backend) {
    let receiver = Receiver::start(1).await;
    let mut config = test_config(backend);
    config.webhook_poll_ms = 50;
    config.webhook_backoff_base_ms = 100;
    let srv = TestServer::start_with(config).await;
    let bought = Api::new(&srv.base).buy(&receiver.url()).await;
    let got = receiver.wait_for(3, WAIT).await;
    // The first attempt failed (500) and was retried with the same delivery id.
    assert_eq!(got[0].delivery(), got[1].delivery());
    assert_eq!((got[0].attempt(), got[1].attempt()), (1, 2));
    assert_order_events(&got[1..], &bought);
    // Acknowledged: nothing is delivered again.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 3, "{:?}", receiver.requests());
    srv.stop().await;
}

/// Killing the real binary between the order and its delivery still delivers after restart:
/// the merchant is down while the order is placed, the process is killed (SIGKILL) with the
/// events undelivered, and a new process on the same Redis delivers them, byte for byte, once
/// the merchant is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_binary_killed_before_delivery_delivers_after_restart() {
    let redis = redis_url();
    let prefix = unique_prefix("wh-kill");
    let env = [
        ("REDIS_URL", redis.as_str()),
        ("LIVESALE_REDIS_PREFIX", prefix.as_str()),
        ("LIVESALE_SECRET", SECRET),
        ("LIVESALE_ADMIN_TOKEN", ADMIN),
        ("LIVESALE_NO_DEMO", "1"),
        ("LIVESALE_WEBHOOK_POLL_MS", "50"),
        ("LIVESALE_WEBHOOK_BACKOFF_BASE_MS", "100"),
        ("LIVESALE_WEBHOOK_BACKOFF_MAX_MS", "1000"),
        ("LIVESALE_WEBHOOK_ALLOW_PRIVATE", "true"),
        // The same node restarting (its port is random here, so name it as operators do).
        ("LIVESALE_NODE_ID", "shop-node-1"),
    ];
    let addr = free_addr();
    let url = format!("http://{addr}/hooks");

    let mut first = ServerProcess::spawn(&[], &env);
    let bought = Api::new(&first.base).buy(&url).await;
    // Long enough for failed attempts against the closed port, then a crash.
    tokio::time::sleep(Duration::from_millis(400)).await;
    first.kill();

    let creator = CreatorId(bought.creator_id.parse().expect("a creator uuid"));
    let pending = redis_store(&prefix)
        .await
        .outbox_pending(creator, 10)
        .await
        .expect("the Redis outbox is readable");
    assert_eq!(
        pending.len(),
        2,
        "both events survived the crash undelivered"
    );

    let second = ServerProcess::spawn(&[], &env);
    let receiver = Receiver::start_at(addr).await;
    let got = receiver.wait_for(2, WAIT).await;
    assert_order_events(&got, &bought);
    for (r, event) in got.iter().zip(&pending) {
        assert_eq!(r.delivery(), event.id);
        assert_eq!(
            r.body,
            event.body.as_bytes(),
            "delivered exactly as created"
        );
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.requests().len(),
        2,
        "delivered once after the restart"
    );
    drop(second);
}

// ---- where webhooks may go ------------------------------------------------------------------

/// Every literal address issue 13 saw accepted, and a few more, with the range named in the
/// refusal.
const REFUSED_LITERALS: &[(&str, &str)] = &[
    ("http://[::ffff:a9fe:a9fe]/", "link-local (169.254.0.0/16)"),
    (
        "http://[::ffff:169.254.169.254]/latest",
        "link-local (169.254.0.0/16)",
    ),
    (
        "http://[64:ff9b::a9fe:a9fe]/",
        "link-local (169.254.0.0/16)",
    ),
    ("http://[2002:a9fe:a9fe::]/", "link-local (169.254.0.0/16)"),
    ("http://[::127.0.0.1]/", "loopback (127.0.0.0/8)"),
    ("http://0.1.2.3/", "\"this network\" (0.0.0.0/8)"),
    ("http://224.0.0.1/", "multicast (224.0.0.0/4)"),
    ("http://240.0.0.1/", "reserved (240.0.0.0/4)"),
    ("http://198.18.0.1/", "benchmarking (198.18.0.0/15)"),
    ("http://100.64.0.1/", "carrier-grade NAT (100.64.0.0/10)"),
    ("http://255.255.255.255/", "broadcast"),
    ("https://203.0.113.9/", "documentation (203.0.113.0/24)"),
    ("http://0x7f000001:8080/", "loopback (127.0.0.0/8)"),
    ("http://127.1/", "loopback (127.0.0.0/8)"),
    ("http://[fe80::1]/", "link-local (fe80::/10)"),
    ("http://[fd00::1]/", "unique local (fc00::/7)"),
    ("http://[ff02::1]/", "multicast (ff00::/8)"),
    ("http://[2001:db8::1]/", "documentation (2001:db8::/32)"),
];

async fn put_webhook(srv: &TestServer, token: &str, url: &str) -> (u16, Value) {
    let resp = srv
        .http
        .put(srv.url("/api/webhook"))
        .bearer_auth(token)
        .json(&json!({ "url": url }))
        .send()
        .await
        .expect("PUT /api/webhook");
    TestServer::finish(resp).await
}

/// No delivery happens here (no orders), so nothing is sent whatever the URLs say.
async fn put_refuses_literal_addresses_in_refused_ranges(backend: Backend) {
    let mut config = test_config(backend);
    config.webhook_allow_private = false;
    let srv = TestServer::start_with(config).await;
    let (_, token) = srv.creator("Literal Shop").await;
    for (url, range) in REFUSED_LITERALS {
        let got = put_webhook(&srv, &token, url).await;
        assert_problem(&got, 422, "private_address");
        let detail = got.1["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(range), "{url}: {detail}");
    }
    let got = put_webhook(&srv, &token, "http://db.localhost/hooks").await;
    assert_problem(&got, 422, "private_address");
    // A name is judged at delivery, by what it resolves to then.
    let ok = put_webhook(&srv, &token, "https://shop.example.com/hooks").await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let (status, got) = srv.get("/api/webhook", Some(&token)).await;
    assert_eq!(
        (status, &got["url"]),
        (200, &json!("https://shop.example.com/hooks"))
    );
    srv.stop().await;

    // The operator's switch lets them through (only loopback literals tried here).
    let srv = TestServer::start_with(test_config(backend)).await;
    let (_, token) = srv.creator("Allowed Shop").await;
    for url in [
        "http://127.0.0.1:9/hooks",
        "http://[::ffff:127.0.0.1]:9/hooks",
        "http://[::127.0.0.1]:9/",
        "http://localhost:9/",
    ] {
        let got = put_webhook(&srv, &token, url).await;
        assert_eq!(got.0, 200, "{url}: {}", got.1);
    }
    srv.stop().await;
}

// ---- inside a private network namespace -----------------------------------------------------

in_private_netns!(
    literal_urls_stored_earlier_are_refused_at_delivery,
    names_resolving_to_internal_addresses_are_refused_unless_allowed,
    real_server_refuses_names_that_resolve_to_internal_addresses,
);

/// A store for a namespace test: Redis is a private `redis-server` started inside the
/// namespace (the shared test Redis is outside it), kept running by the returned guard.
async fn netns_store(backend: Backend) -> (SharedStore, Option<PrivateRedis>) {
    match backend {
        Backend::Memory => (Arc::new(MemoryStore::new()), None),
        Backend::Redis => {
            let redis = PrivateRedis::start();
            let store = RedisStore::connect(&redis.url, &unique_prefix("wh-ns"), WAIT)
                .await
                .expect("connect to the namespace's Redis");
            (Arc::new(store), Some(redis))
        }
    }
}

/// A lookup that knows only the names it is given (the seam `WebhookConfig::lookup`).
struct Names(HashMap<&'static str, Vec<IpAddr>>);

impl reqwest::dns::Resolve for Names {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addrs: Option<Vec<SocketAddr>> = self
            .0
            .get(name.as_str())
            .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, 0)).collect());
        let name = name.as_str().to_string();
        Box::pin(async move {
            let addrs = addrs.ok_or_else(|| format!("no such name: {name}"))?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// This process's count of delivery attempts with `outcome` (a namespace test is alone in its
/// process, so the count is its own).
fn deliveries(outcome: &str) -> u64 {
    let line = format!("livesale_webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
    livesale::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(line.as_str()))
        .map_or(0, |n| n.trim().parse().expect("a counter value"))
}

/// Waits (bounded) until at least `n` attempts were refused; none may have failed otherwise,
/// since any other failure means a connection (or a lookup) was tried instead.
async fn wait_refused(n: u64) {
    let deadline = Instant::now() + WAIT;
    while deliveries("refused") < n {
        assert!(
            Instant::now() < deadline,
            "{} refused, {} failed, {} ok; expected {n} refused",
            deliveries("refused"),
            deliveries("failed"),
            deliveries("ok")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(deliveries("failed"), 0, "a refused destination was tried");
    assert_eq!(
        deliveries("ok"),
        0,
        "a refused destination was delivered to"
    );
}

/// URLs stored before the check existed (or by any other way around `PUT`) are judged again
/// at every delivery: nothing is sent, the events stay pending, and the metric says why.
async fn literal_urls_stored_earlier_are_refused_at_delivery(backend: Backend) {
    livesale::metrics::install();
    let (store, _redis) = netns_store(backend).await;
    let receiver = Receiver::start(0).await;
    let mut shops = vec![Shop::open(&store, "Loopback", &receiver.url()).await];
    for (url, _) in REFUSED_LITERALS {
        shops.push(Shop::open(&store, "Literal", url).await);
    }
    for shop in &shops {
        shop.order().await;
    }
    let worker = Worker::start(
        &store,
        WebhookConfig {
            allow_private: false,
            ..fast()
        },
    );
    wait_refused(2 * shops.len() as u64).await;
    worker.stop().await;
    assert!(receiver.requests().is_empty(), "{:?}", receiver.requests());
    for shop in &shops {
        assert_eq!(shop.pending().await.len(), 1, "{}", shop.hook.url);
    }
}

/// A name is judged by every address it resolves to, at delivery, and the connection goes only
/// to an address that passed: names for loopback (IPv4, IPv4-mapped, IPv6) and for the
/// namespace's 10.0.0.7, each with a live receiver there, are refused, and delivered once the
/// switch is on.
async fn names_resolving_to_internal_addresses_are_refused_unless_allowed(backend: Backend) {
    livesale::metrics::install();
    let (store, _redis) = netns_store(backend).await;
    let ok = |_| common::receiver::Reply::Status(200);
    let receivers = [
        Receiver::start(0).await,
        Receiver::scripted("10.0.0.7:0".parse().unwrap(), ok).await,
        Receiver::start(0).await,
        Receiver::scripted("[::1]:0".parse().unwrap(), ok).await,
    ];
    let ip = |s: &str| s.parse::<IpAddr>().unwrap();
    let names = [
        ("loopback.example", ip("127.0.0.1")),
        ("intranet.example", ip("10.0.0.7")),
        ("mapped.example", ip("::ffff:127.0.0.1")),
        ("v6.example", ip("::1")),
    ];
    let lookup = webhooks::Lookup(Arc::new(Names(
        names.iter().map(|(name, ip)| (*name, vec![*ip])).collect(),
    )));
    let mut shops = Vec::new();
    for ((name, _), receiver) in names.iter().zip(&receivers) {
        let port = reqwest::Url::parse(&receiver.url())
            .unwrap()
            .port()
            .unwrap();
        let url = format!("http://{name}:{port}/hooks");
        shops.push(Shop::open(&store, name, &url).await);
    }
    let mut events = Vec::new();
    for shop in &shops {
        shop.order().await;
        events.push(shop.pending().await.remove(0));
    }
    let config = WebhookConfig {
        lookup,
        allow_private: false,
        ..fast()
    };
    let worker = Worker::start(&store, config.clone());
    wait_refused(2 * shops.len() as u64).await;
    worker.stop().await;
    for receiver in &receivers {
        assert!(receiver.requests().is_empty(), "{:?}", receiver.requests());
    }
    for shop in &shops {
        assert_eq!(shop.pending().await.len(), 1, "{}", shop.hook.url);
    }

    // With the switch the same names deliver: the refusals above were not unreachable hosts.
    let worker = Worker::start(
        &store,
        WebhookConfig {
            allow_private: true,
            ..config
        },
    );
    for ((shop, receiver), event) in shops.iter().zip(&receivers).zip(&events) {
        let got = receiver.wait_for(1, WAIT).await;
        assert_delivery(&got[0], event, &shop.hook);
        shop.wait_drained().await;
    }
    worker.stop().await;
}

/// Through the real server and the system resolver: a creator's webhook names a host that
/// resolves to loopback (or to the private 10.0.0.7); `PUT` takes the name, and the order's
/// `order.created` and `order.paid` are refused at delivery, never sent. With
/// `--webhook-allow-private` the same name gets them.
async fn real_server_refuses_names_that_resolve_to_internal_addresses(backend: Backend) {
    let redis = (backend == Backend::Redis).then(PrivateRedis::start);
    let config = |allow_private: bool| {
        let mut config = test_config(Backend::Memory);
        config.redis_url = redis.as_ref().map(|r| r.url.clone());
        config.webhook_allow_private = allow_private;
        config.webhook_poll_ms = 50;
        config.webhook_backoff_base_ms = 100;
        config
    };
    let here = Receiver::start(0).await;
    let private = Receiver::scripted("10.0.0.7:0".parse().unwrap(), |_| {
        common::receiver::Reply::Status(200)
    })
    .await;
    let here_url = here.url().replace("127.0.0.1", "shop.test");
    let private_url = private.url().replace("10.0.0.7", "intranet.test");

    let srv = TestServer::start_with(config(false)).await;
    let api = Api::new(&srv.base);
    api.buy(&here_url).await;
    api.buy(&private_url).await;
    wait_refused(4).await;
    srv.stop().await;
    assert!(here.requests().is_empty(), "{:?}", here.requests());
    assert!(private.requests().is_empty(), "{:?}", private.requests());

    let srv = TestServer::start_with(config(true)).await;
    let api = Api::new(&srv.base);
    let bought = api.buy(&here_url).await;
    assert_order_events(&here.wait_for(2, WAIT).await, &bought);
    let bought = api.buy(&private_url).await;
    assert_order_events(&private.wait_for(2, WAIT).await, &bought);
    srv.stop().await;
}
