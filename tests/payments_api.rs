//! Card payments with Stripe end to end, through the public routes only, against a real
//! localstripe (tests/common/localstripe.rs) whose webhooks POST to the server: a checkout
//! reserves the stock and answers a PaymentIntent's client secret; the buyer's card comes from a
//! SetupIntent confirmed as Stripe.js would (`confirmCardSetup`); paying confirms the intent,
//! and Stripe's signed webhook settles the order (`paid`, the room's `purchase`, the buyer's
//! `order.updated`). Also: a decline retried with another card, a reservation that lapses
//! unpaid (stock back, intent canceled), one-tap buying with the saved card, refunds, forged
//! and replayed webhooks, bad buyer details, and Stripe unreachable. Every test runs on both
//! stores inside a private network namespace (tests/common/netns.rs), so neither the server's
//! Stripe calls nor anything else can leave the machine.
//!
//! Where localstripe and Stripe differ the server follows Stripe's documentation; the tests
//! say where that matters (a declined intent localstripe will not confirm again).

mod common;

use std::time::{Duration, Instant};

use common::localstripe::{CARD_DECLINED, CARD_OK, LocalStripe};
use common::receiver::Receiver;
use common::redis::PrivateRedis;
use common::server::{Backend, TestServer, assert_problem, s, test_config};
use common::ws::{WAIT, WsClient};
use futures::StreamExt;
use livesale::commerce::stripe::{Secret, signature};
use livesale::config::PaymentsMode;
use reqwest::Method;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "whsec_livesale_test";
const PUBLISHABLE_KEY: &str = "pk_test_livesale";

in_private_netns!(
    a_card_payment_is_settled_by_stripe_s_webhook,
    a_declined_card_is_retried_and_an_unpaid_reservation_lapses,
    a_saved_card_pays_the_next_order_in_one_tap,
    refunds_give_the_money_and_the_stock_back,
    webhooks_are_verified_and_counted_once,
    stripe_unreachable_is_503_and_nothing_is_reserved,
    a_success_after_the_reservation_lapsed_is_refunded,
    a_bank_asking_for_3d_secure_is_answered_in_the_browser,
);

// ---- the world ------------------------------------------------------------------------------

/// localstripe, a server taking Stripe payments through it (its webhooks registered), a
/// creator with a live show and one product in its lineup.
struct Shop {
    ls: LocalStripe,
    srv: TestServer,
    _redis: Option<PrivateRedis>,
    creator: String,
    show: String,
    product: String,
}

async fn shop(
    backend: Backend,
    stock: i64,
    tune: impl FnOnce(&mut livesale::config::Config),
) -> Shop {
    let ls = LocalStripe::start().await;
    let redis = (backend == Backend::Redis).then(PrivateRedis::start);
    let mut config = test_config(Backend::Memory);
    config.redis_url = redis.as_ref().map(|r| r.url.clone());
    config.payments = PaymentsMode::Stripe;
    config.stripe_secret_key = Some(Secret::new(common::localstripe::SECRET_KEY));
    config.stripe_publishable_key = Some(PUBLISHABLE_KEY.into());
    config.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    config.stripe_api_base = ls.base();
    config.stripe_js_url = ls.js_url();
    config.webhook_poll_ms = 50;
    config.webhook_backoff_base_ms = 100;
    tune(&mut config);
    let srv = TestServer::start_with(config).await;
    ls.register_webhook("livesale", &srv.url("/api/webhooks/stripe"), WEBHOOK_SECRET)
        .await;
    let (creator, show) = srv.live_show("Maker", "Card sale").await;
    let product = srv.product(&creator, "MUG", 2500, stock).await;
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/lineup"),
            Some(&creator),
            json!({ "product_id": product }),
        )
        .await;
    assert_eq!(status, 200, "lineup: {body}");
    Shop {
        ls,
        srv,
        _redis: redis,
        creator,
        show,
        product,
    }
}

fn address() -> Value {
    json!({
        "name": "Ada Lovelace", "line1": "12 St James's Square", "city": "London",
        "postal_code": "SW1Y 4JH", "country": "GB"
    })
}

impl Shop {
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.srv.http.request(method, self.srv.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        TestServer::finish(req.send().await.expect("request sent")).await
    }

    /// A viewer with `quantity` of the product in the cart: (viewer id, token).
    async fn buyer(&self, name: &str, quantity: i64) -> (String, String) {
        let (id, token) = self.srv.viewer(&self.show, name).await;
        let path = format!("/api/shows/{}/cart/items/{}", self.show, self.product);
        let (status, body) = self
            .call(
                Method::PUT,
                &path,
                Some(&token),
                Some(json!({ "quantity": quantity })),
            )
            .await;
        assert_eq!(status, 200, "cart: {body}");
        (id, token)
    }

    async fn checkout(
        &self,
        token: &str,
        key: &str,
        body: Value,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let resp = self
            .srv
            .http
            .post(self.srv.url(&format!("/api/shows/{}/checkout", self.show)))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
            .await
            .expect("checkout sent");
        let headers = resp.headers().clone();
        let (status, body) = TestServer::finish(resp).await;
        (status, body, headers)
    }

    /// A checkout with good details that must be answered 201 pending with a payment.
    async fn checkout_ok(&self, token: &str, key: &str) -> Value {
        let (status, body, _) = self
            .checkout(
                token,
                key,
                json!({ "email": "ada@example.com", "shipping": address() }),
            )
            .await;
        assert_eq!(status, 201, "checkout: {body}");
        assert_eq!(body["order"]["status"], "pending_payment", "{body}");
        assert_eq!(body["payment"]["provider"], "stripe", "{body}");
        assert_eq!(
            body["payment"]["publishable_key"], PUBLISHABLE_KEY,
            "{body}"
        );
        assert!(
            s(&body["payment"]["client_secret"]).starts_with("pi_"),
            "{body}"
        );
        body
    }

    /// A card typed into the page: a SetupIntent from the server, confirmed with the card the
    /// way Stripe.js's `confirmCardSetup` does; its payment method.
    async fn new_card(&self, token: &str, number: &str) -> String {
        let (status, body) = self
            .call(
                Method::POST,
                &format!("/api/shows/{}/cards/setup", self.show),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, 200, "card setup: {body}");
        let secret = s(&body["client_secret"]);
        let seti = secret
            .split("_secret_")
            .next()
            .expect("a SetupIntent id")
            .to_string();
        let card = self.ls.card(number).await;
        let mut confirmed = self.ls.confirm_setup_intent(&seti, &card).await;
        if confirmed["status"] == "requires_action" {
            // A card whose bank asks for 3-D Secure when it is saved: Stripe.js authenticates
            // and confirms again (localstripe's stand-in does this request after its modal).
            let body =
                json!({ "key": PUBLISHABLE_KEY, "use_stripe_sdk": true, "client_secret": secret });
            let resp = self
                .srv
                .http
                .post(format!(
                    "{}/v1/setup_intents/{seti}/confirm",
                    self.ls.base()
                ))
                .json(&body)
                .send()
                .await
                .expect("localstripe answers");
            confirmed = resp.json().await.expect("a SetupIntent");
        }
        assert_eq!(confirmed["status"], "succeeded", "{confirmed}");
        s(&confirmed["payment_method"])
    }

    /// The buyer's saved cards (`GET …/cards`).
    async fn cards(&self, token: &str) -> (u16, Value) {
        let path = format!("/api/shows/{}/cards", self.show);
        self.call(Method::GET, &path, Some(token), None).await
    }

    async fn pay(&self, token: &str, order: &str, payment_method: &str) -> (u16, Value) {
        let path = format!("/api/shows/{}/orders/{order}/pay", self.show);
        self.call(
            Method::POST,
            &path,
            Some(token),
            Some(json!({ "payment_method": payment_method })),
        )
        .await
    }

    async fn order(&self, token: &str, order: &str) -> Value {
        let path = format!("/api/shows/{}/orders/{order}", self.show);
        let (status, body) = self.call(Method::GET, &path, Some(token), None).await;
        assert_eq!(status, 200, "order: {body}");
        body
    }

    /// Waits (bounded) until the order has `status`; Stripe's webhook comes a moment later.
    async fn wait_order(&self, token: &str, order: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let o = self.order(token, order).await;
            if o["status"] == status {
                return o;
            }
            assert!(
                Instant::now() < deadline,
                "order never became {status}: {o}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stock(&self) -> i64 {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/api/shows/{}/lineup", self.show),
                None,
                None,
            )
            .await;
        assert_eq!(status, 200, "lineup: {body}");
        body["products"][0]["stock"].as_i64().expect("a stock")
    }

    async fn intent(&self, id: &str) -> Value {
        let resp = self
            .srv
            .http
            .get(format!("{}/v1/payment_intents/{id}", self.ls.base()))
            .bearer_auth(common::localstripe::SECRET_KEY)
            .send()
            .await
            .expect("localstripe answers");
        resp.json().await.expect("a PaymentIntent")
    }
}

impl Shop {
    /// A receiver of the creator's signed order events (the merchant's webhook).
    async fn merchant(&self) -> Receiver {
        let receiver = Receiver::start(0).await;
        let (status, body) = self
            .call(
                Method::PUT,
                "/api/webhook",
                Some(&self.creator),
                Some(json!({ "url": receiver.url() })),
            )
            .await;
        assert_eq!(status, 200, "webhook: {body}");
        receiver
    }
}

/// The merchant's events about `order` of `kind`, after waiting (bounded) for `want` of them
/// and then a moment more, so an extra one would be seen.
async fn merchant_events(receiver: &Receiver, order: &str, kind: &str, want: usize) -> usize {
    let count = || {
        receiver
            .requests()
            .iter()
            .filter(|r| r.header("x-livesale-event") == kind && r.json()["order"]["id"] == order)
            .count()
    };
    let deadline = Instant::now() + WAIT;
    while count() < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    count()
}

fn intent_of(placed: &Value) -> String {
    let secret = s(&placed["payment"]["client_secret"]);
    secret
        .split("_secret_")
        .next()
        .expect("an intent id")
        .to_string()
}

// ---- the tests --------------------------------------------------------------------------------

/// Bad details first (nothing reserved), then a good checkout reserves, the card pays, and
/// Stripe's webhook settles the order: paid, the room hears of it, the buyer's socket gets
/// `order.updated`, the card is saved.
async fn a_card_payment_is_settled_by_stripe_s_webhook(backend: Backend) {
    let shop = shop(backend, 5, |_| {}).await;
    let (ada, token) = shop.buyer("Ada", 1).await;
    let (mut room, _) = WsClient::join(&shop.srv, &shop.show, None).await;
    let (mut own, _) = WsClient::join(&shop.srv, &shop.show, Some(&token)).await;

    let got = shop
        .checkout(&token, "k-missing", json!({ "shipping": address() }))
        .await;
    assert_problem(&(got.0, got.1), 422, "invalid_email");
    let got = shop
        .checkout(
            &token,
            "k-bad-email",
            json!({ "email": "ada@", "shipping": address() }),
        )
        .await;
    assert_problem(&(got.0, got.1), 422, "invalid_email");
    let mut nowhere = address();
    nowhere["country"] = json!("ZZ");
    let got = shop
        .checkout(
            &token,
            "k-country",
            json!({ "email": "ada@example.com", "shipping": nowhere }),
        )
        .await;
    assert_problem(&(got.0, got.1.clone()), 422, "invalid_shipping");
    assert!(s(&got.1["detail"]).contains("country"), "{}", got.1);
    let got = shop
        .checkout(&token, "k-no-ship", json!({ "email": "ada@example.com" }))
        .await;
    assert_problem(&(got.0, got.1), 422, "invalid_shipping");
    assert_eq!(shop.stock().await, 5, "a refused checkout reserves nothing");

    let placed = shop.checkout_ok(&token, "k-1").await;
    let order = s(&placed["order"]["id"]);
    assert_eq!(shop.stock().await, 4, "the checkout reserved one");
    assert_eq!(placed["order"]["email"], "ada@example.com", "{placed}");
    assert_eq!(placed["order"]["shipping"]["country"], "GB", "{placed}");
    // A retry of the same checkout answers the same order and intent.
    let again = shop.checkout_ok(&token, "k-1").await;
    assert_eq!(again["order"]["id"], placed["order"]["id"]);
    assert_eq!(intent_of(&again), intent_of(&placed));

    let card = shop.new_card(&token, CARD_OK).await;
    let (status, paid) = shop.pay(&token, &order, &card).await;
    assert_eq!(status, 200, "pay: {paid}");
    assert_eq!(paid["status"], "succeeded", "{paid}");

    let settled = shop.wait_order(&token, &order, "paid").await;
    assert_eq!(settled["payment"]["intent_id"], intent_of(&placed));
    let update = own.next_of_type("order.updated", WAIT).await;
    assert_eq!(update["order"]["id"], order.as_str(), "{update}");
    assert_eq!(update["order"]["status"], "paid", "{update}");
    let purchase = room.next_of_type("purchase", WAIT).await;
    assert_eq!(purchase["product_id"], shop.product.as_str(), "{purchase}");
    assert_eq!(shop.stock().await, 4);
    assert_eq!(
        shop.intent(&intent_of(&placed)).await["status"],
        "succeeded"
    );

    // Only its buyer and the creator see the order.
    let (_, other) = shop.srv.viewer(&shop.show, "Eve").await;
    let path = format!("/api/shows/{}/orders/{order}", shop.show);
    assert_problem(
        &shop.call(Method::GET, &path, Some(&other), None).await,
        404,
        "order_not_found",
    );
    assert_eq!(
        shop.order(&shop.creator, &order).await["viewer_id"],
        ada.as_str()
    );
    // Paying a paid order again is refused.
    assert_problem(
        &shop.pay(&token, &order, &card).await,
        409,
        "order_not_pending",
    );
    let (status, cards) = shop.cards(&token).await;
    assert_eq!(status, 200, "{cards}");
    assert_eq!(
        cards["cards"][0]["id"],
        card.as_str(),
        "the card that paid is saved: {cards}"
    );
    assert_eq!(cards["cards"][0]["last4"], "4242", "{cards}");
}

/// A declined card answers 402 in words and keeps the reservation; another card in the same
/// order pays (localstripe will not confirm a declined intent again, so the server makes a
/// new one for the order, as Stripe's docs allow). A second order left unpaid lapses: expired,
/// stock back, its intent canceled.
async fn a_declined_card_is_retried_and_an_unpaid_reservation_lapses(backend: Backend) {
    let shop = shop(backend, 3, |c| c.reservation_ttl_s = 2).await;
    let (_, token) = shop.buyer("Ada", 1).await;
    let placed = shop.checkout_ok(&token, "k-1").await;
    let order = s(&placed["order"]["id"]);

    let declined = shop.new_card(&token, CARD_DECLINED).await;
    let got = shop.pay(&token, &order, &declined).await;
    assert_problem(&got, 402, "payment_declined");
    assert!(
        s(&got.1["detail"]).to_lowercase().contains("declined"),
        "{}",
        got.1
    );
    assert_eq!(
        shop.stock().await,
        2,
        "a decline keeps the reservation for a retry"
    );
    assert_eq!(
        shop.order(&token, &order).await["status"],
        "pending_payment"
    );

    let card = shop.new_card(&token, CARD_OK).await;
    let (status, paid) = shop.pay(&token, &order, &card).await;
    assert_eq!(status, 200, "retry: {paid}");
    let settled = shop.wait_order(&token, &order, "paid").await;
    assert_ne!(
        settled["payment"]["intent_id"],
        intent_of(&placed),
        "a new intent paid"
    );
    assert_eq!(shop.stock().await, 2);

    // Left unpaid: the sweeper expires it after the reservation and cancels its intent.
    let (_, bob) = shop.buyer("Bob", 1).await;
    let unpaid = shop.checkout_ok(&bob, "k-2").await;
    assert_eq!(shop.stock().await, 1);
    shop.srv.clock.advance(Duration::from_secs(3));
    let expired = shop
        .wait_order(&bob, &s(&unpaid["order"]["id"]), "expired")
        .await;
    assert_eq!(expired["status"], "expired");
    assert_eq!(
        shop.stock().await,
        2,
        "the lapsed reservation's stock is back"
    );
    let deadline = Instant::now() + WAIT;
    while shop.intent(&intent_of(&unpaid)).await["status"] != "canceled" {
        assert!(
            Instant::now() < deadline,
            "the lapsed order's intent was not canceled"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let card = shop.new_card(&bob, CARD_OK).await;
    let got = shop.pay(&bob, &s(&unpaid["order"]["id"]), &card).await;
    assert_problem(&got, 409, "order_not_pending");
}

/// The card that paid once is offered at the next checkout (any show of the same creator) and
/// pays in one tap; a removed card is gone.
async fn a_saved_card_pays_the_next_order_in_one_tap(backend: Backend) {
    let shop = shop(backend, 5, |_| {}).await;
    let (_, token) = shop.buyer("Ada", 1).await;
    let first = shop.checkout_ok(&token, "k-1").await;
    assert_eq!(first["payment"]["saved_cards"], json!([]), "{first}");
    let card = shop.new_card(&token, CARD_OK).await;
    let order = s(&first["order"]["id"]);
    assert_eq!(shop.pay(&token, &order, &card).await.0, 200);
    shop.wait_order(&token, &order, "paid").await;

    let path = format!("/api/shows/{}/cart/items/{}", shop.show, shop.product);
    let (status, body) = shop
        .call(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({ "quantity": 2 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let second = shop.checkout_ok(&token, "k-2").await;
    let saved = &second["payment"]["saved_cards"];
    assert_eq!(saved[0]["id"], card.as_str(), "{second}");
    assert_eq!(saved[0]["last4"], "4242", "{second}");
    let order = s(&second["order"]["id"]);
    let (status, paid) = shop.pay(&token, &order, &card).await;
    assert_eq!(status, 200, "one tap: {paid}");
    shop.wait_order(&token, &order, "paid").await;
    assert_eq!(shop.stock().await, 2);

    // Typing the same card again for a third order keeps one saved card, not two.
    let (status, body) = shop
        .call(
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({ "quantity": 1 })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let third = shop.checkout_ok(&token, "k-3").await;
    let again = shop.new_card(&token, CARD_OK).await;
    assert_ne!(again, card, "a new payment method for the same card");
    let order = s(&third["order"]["id"]);
    assert_eq!(shop.pay(&token, &order, &again).await.0, 200);
    shop.wait_order(&token, &order, "paid").await;
    let (_, cards) = shop.cards(&token).await;
    assert_eq!(cards["cards"].as_array().map(Vec::len), Some(1), "{cards}");
    assert_eq!(cards["cards"][0]["id"], card.as_str(), "{cards}");

    let remove = format!("/api/shows/{}/cards/{card}", shop.show);
    assert_eq!(
        shop.call(Method::DELETE, &remove, Some(&token), None)
            .await
            .0,
        204
    );
    assert_problem(
        &shop.call(Method::DELETE, &remove, Some(&token), None).await,
        404,
        "card_not_found",
    );
    let (_, cards) = shop.cards(&token).await;
    assert_eq!(cards["cards"], json!([]), "{cards}");
}

/// The creator refunds a paid order: Stripe refunds it, the order is `refunded`, the stock is
/// back. An unpaid order, a second refund, a viewer and another creator are refused.
async fn refunds_give_the_money_and_the_stock_back(backend: Backend) {
    let shop = shop(backend, 5, |_| {}).await;
    let (_, token) = shop.buyer("Ada", 2).await;
    let merchant = shop.merchant().await;
    let placed = shop.checkout_ok(&token, "k-1").await;
    let order = s(&placed["order"]["id"]);
    let refund = format!("/api/shows/{}/orders/{order}/refund", shop.show);
    assert_problem(
        &shop
            .call(Method::POST, &refund, Some(&shop.creator), None)
            .await,
        409,
        "order_not_refundable",
    );
    let card = shop.new_card(&token, CARD_OK).await;
    assert_eq!(shop.pay(&token, &order, &card).await.0, 200);
    shop.wait_order(&token, &order, "paid").await;
    assert_eq!(shop.stock().await, 3);

    assert_eq!(
        shop.call(Method::POST, &refund, Some(&token), None).await.0,
        403
    );
    let (_, stranger) = shop.srv.creator("Other maker").await;
    let got = shop
        .call(Method::POST, &refund, Some(&stranger), None)
        .await;
    assert_problem(&got, 404, "order_not_found");
    let (status, refunded) = shop
        .call(Method::POST, &refund, Some(&shop.creator), None)
        .await;
    assert_eq!(status, 200, "refund: {refunded}");
    assert_eq!(refunded["status"], "refunded", "{refunded}");
    assert_eq!(shop.stock().await, 5, "the refunded units are back");
    assert_eq!(
        merchant_events(&merchant, &order, "order.refunded", 1).await,
        1
    );
    assert_eq!(merchant_events(&merchant, &order, "order.paid", 1).await, 1);
    assert_eq!(
        shop.intent(&intent_of(&placed)).await["status"],
        "succeeded"
    );
    assert_problem(
        &shop
            .call(Method::POST, &refund, Some(&shop.creator), None)
            .await,
        409,
        "order_not_refundable",
    );
    let unknown = format!(
        "/api/shows/{}/orders/{}/refund",
        shop.show,
        uuid::Uuid::now_v7()
    );
    assert_eq!(
        shop.call(Method::POST, &unknown, Some(&shop.creator), None)
            .await
            .0,
        404
    );
}

/// A delivery must be signed by the endpoint's secret within 5 minutes; a forged, unsigned or
/// old one is 400 and changes nothing. A signed event for an unknown intent is 200 and
/// ignored. The same event delivered twice settles its order once (one `purchase`).
async fn webhooks_are_verified_and_counted_once(backend: Backend) {
    let shop = shop(backend, 5, |_| {}).await;
    let (_, token) = shop.buyer("Ada", 1).await;
    let placed = shop.checkout_ok(&token, "k-1").await;
    let order = s(&placed["order"]["id"]);
    let event = |id: &str, intent: &str| {
        json!({
            "id": id, "object": "event", "type": "payment_intent.succeeded",
            "created": chrono::Utc::now().timestamp(),
            "data": { "object": {
                "id": intent, "object": "payment_intent", "status": "succeeded",
                "amount": 2500, "currency": "usd",
                "metadata": { "order_id": order, "show_id": shop.show }
            }}
        })
        .to_string()
    };
    let deliver = |payload: String, header: Option<String>| {
        let mut req = shop
            .srv
            .http
            .post(shop.srv.url("/api/webhooks/stripe"))
            .header("content-type", "application/json")
            .body(payload);
        if let Some(h) = header {
            req = req.header("Stripe-Signature", h);
        }
        async move { TestServer::finish(req.send().await.expect("webhook sent")).await }
    };
    let secret = Secret::new(WEBHOOK_SECRET);
    let now = chrono::Utc::now().timestamp();
    let intent = intent_of(&placed);
    let (mut room, _) = WsClient::join(&shop.srv, &shop.show, None).await;
    let merchant = shop.merchant().await;

    let real = event("evt_livesale_1", &intent);
    let forged = signature::sign(&Secret::new("whsec_someone_else"), now, real.as_bytes());
    assert_problem(
        &deliver(real.clone(), Some(forged)).await,
        400,
        "invalid_signature",
    );
    assert_problem(&deliver(real.clone(), None).await, 400, "invalid_signature");
    let old = signature::sign(&secret, now - 3600, real.as_bytes());
    assert_problem(
        &deliver(real.clone(), Some(old)).await,
        400,
        "invalid_signature",
    );
    let tampered = real.replace("2500", "1");
    let signed = signature::sign(&secret, now, real.as_bytes());
    assert_problem(
        &deliver(tampered, Some(signed.clone())).await,
        400,
        "invalid_signature",
    );
    assert_eq!(
        shop.order(&token, &order).await["status"],
        "pending_payment"
    );

    let unknown = event("evt_livesale_2", "pi_unknown_to_livesale");
    let got = deliver(
        unknown.clone(),
        Some(signature::sign(&secret, now, unknown.as_bytes())),
    )
    .await;
    assert_eq!(got, (200, json!({ "outcome": "ignored" })));

    let first = deliver(real.clone(), Some(signed.clone())).await;
    assert_eq!(first, (200, json!({ "outcome": "paid" })));
    let second = deliver(real.clone(), Some(signed)).await;
    assert_eq!(second, (200, json!({ "outcome": "repeated" })));
    assert_eq!(shop.order(&token, &order).await["status"], "paid");
    room.next_of_type("purchase", WAIT).await;
    let more = room.drain(Duration::from_millis(1500)).await;
    assert!(
        more.iter().all(|v| v["type"] != "purchase"),
        "a second purchase was announced: {more:?}"
    );
    assert_eq!(shop.stock().await, 4);
    assert_eq!(
        merchant_events(&merchant, &order, "order.paid", 1).await,
        1,
        "the merchant hears of the payment exactly once"
    );
}

/// Stripe unreachable at checkout: 503 with `Retry-After`, the reservation released.
async fn stripe_unreachable_is_503_and_nothing_is_reserved(backend: Backend) {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let dead = format!("http://{}", closed.local_addr().expect("its address"));
    drop(closed);
    let shop = shop(backend, 5, |c| c.stripe_api_base = dead).await;
    let (_, token) = shop.buyer("Ada", 1).await;
    let (status, body, headers) = shop
        .checkout(
            &token,
            "k-1",
            json!({ "email": "ada@example.com", "shipping": address() }),
        )
        .await;
    assert_problem(&(status, body), 503, "payment_unavailable");
    assert!(headers.get("retry-after").is_some(), "{headers:?}");
    assert_eq!(shop.stock().await, 5, "the reservation was released");
}

/// A payment that succeeds at Stripe after its reservation lapsed (its webhook late): the
/// stock already went back to others, so the money goes back too (refunded at Stripe,
/// logged), and nothing is counted twice.
async fn a_success_after_the_reservation_lapsed_is_refunded(backend: Backend) {
    let shop = shop(backend, 3, |c| c.reservation_ttl_s = 2).await;
    // Stripe's deliveries go nowhere for now: the success arrives "late", by hand.
    shop.ls
        .register_webhook("livesale", "http://127.0.0.1:9/nowhere", WEBHOOK_SECRET)
        .await;
    let (_, token) = shop.buyer("Ada", 1).await;
    let placed = shop.checkout_ok(&token, "k-1").await;
    let order = s(&placed["order"]["id"]);
    let card = shop.new_card(&token, CARD_OK).await;
    let (status, paid) = shop.pay(&token, &order, &card).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(
        shop.intent(&intent_of(&placed)).await["status"],
        "succeeded"
    );
    shop.srv.clock.advance(Duration::from_secs(3));
    shop.wait_order(&token, &order, "expired").await;
    assert_eq!(
        shop.stock().await,
        3,
        "the lapsed reservation's stock is back"
    );

    let event = json!({
        "id": "evt_livesale_late", "object": "event", "type": "payment_intent.succeeded",
        "created": chrono::Utc::now().timestamp(),
        "data": { "object": shop.intent(&intent_of(&placed)).await }
    })
    .to_string();
    let header = signature::sign(
        &Secret::new(WEBHOOK_SECRET),
        chrono::Utc::now().timestamp(),
        event.as_bytes(),
    );
    let got = TestServer::finish(
        shop.srv
            .http
            .post(shop.srv.url("/api/webhooks/stripe"))
            .header("Stripe-Signature", header)
            .body(event)
            .send()
            .await
            .expect("webhook sent"),
    )
    .await;
    assert_eq!(got, (200, json!({ "outcome": "refunded_late" })));
    assert_eq!(shop.order(&token, &order).await["status"], "expired");
    assert_eq!(shop.stock().await, 3, "nothing counted twice");
    let refunds = shop
        .srv
        .http
        .get(format!("{}/v1/refunds", shop.ls.base()))
        .bearer_auth(common::localstripe::SECRET_KEY)
        .send()
        .await
        .expect("localstripe answers")
        .json::<Value>()
        .await
        .expect("a list");
    let refunded: Vec<&Value> = refunds["data"]
        .as_array()
        .expect("refunds")
        .iter()
        .filter(|r| r["payment_intent"] == intent_of(&placed).as_str())
        .collect();
    assert_eq!(
        refunded.len(),
        1,
        "one refund of the late payment: {refunds}"
    );
}

/// The flash drop through Stripe, on two nodes sharing one Redis: 1,000 buyers race for 100
/// units through both nodes; exactly 100 orders are reserved, each is paid by card, and the
/// shelf ends empty with 100 paid orders.
#[test]
fn netns_redis_a_flash_drop_through_stripe_sells_exactly_its_units_on_two_nodes() {
    common::netns::netns_test(
        "netns_redis_a_flash_drop_through_stripe_sells_exactly_its_units_on_two_nodes",
        flash_drop,
    )
}

async fn flash_drop() {
    const BUYERS: usize = 1000;
    const UNITS: i64 = 100;
    let a = shop(Backend::Redis, UNITS, |_| {}).await;
    let mut config_b = a.srv.config.clone();
    config_b.node_id = Some("node-b".into());
    let b = TestServer::start_with(config_b).await;
    let nodes = [&a.srv, &b];
    let buyers: Vec<(usize, String)> = futures::stream::iter(0..BUYERS)
        .map(|i| {
            let (a, node) = (&a, nodes[i % 2]);
            async move {
                let (_, token) = node.viewer(&a.show, &format!("Buyer {i}")).await;
                let path = format!("/api/shows/{}/cart/items/{}", a.show, a.product);
                let resp = node
                    .http
                    .put(node.url(&path))
                    .bearer_auth(&token)
                    .json(&json!({ "quantity": 1 }))
                    .send()
                    .await
                    .expect("cart");
                assert_eq!(resp.status(), 200);
                (i, token)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let body = json!({ "email": "buyer@example.com", "shipping": address() });
    let answers: Vec<(String, u16, Value)> = futures::stream::iter(buyers)
        .map(|(i, token)| {
            let (node, body) = (nodes[i % 2], body.clone());
            let show = a.show.clone();
            async move {
                let resp = node
                    .http
                    .post(node.url(&format!("/api/shows/{show}/checkout")))
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("drop-{i}"))
                    .json(&body)
                    .send()
                    .await
                    .expect("checkout sent");
                let (status, body) = TestServer::finish(resp).await;
                (token, status, body)
            }
        })
        .buffer_unordered(128)
        .collect()
        .await;
    let mut reserved = Vec::new();
    for (token, status, body) in answers {
        match status {
            201 => reserved.push((token, s(&body["order"]["id"]))),
            409 if body["code"] == "sold_out" => {}
            _ => panic!("unexpected checkout answer {status}: {body}"),
        }
    }
    assert_eq!(
        reserved.len(),
        UNITS as usize,
        "exactly the units are reserved"
    );
    assert_eq!(a.stock().await, 0);
    futures::stream::iter(&reserved)
        .for_each_concurrent(8, |(token, order)| async {
            let card = a.new_card(token, CARD_OK).await;
            let (status, paid) = a.pay(token, order, &card).await;
            assert_eq!(status, 200, "{paid}");
        })
        .await;
    for (token, order) in &reserved {
        a.wait_order(token, order, "paid").await;
    }
    let (status, orders) = a
        .call(
            Method::GET,
            &format!("/api/shows/{}/orders", a.show),
            Some(&a.creator),
            None,
        )
        .await;
    assert_eq!(status, 200, "{orders}");
    assert_eq!(orders["paid"], UNITS, "{}", orders["paid"]);
    assert_eq!(a.stock().await, 0);
    b.stop().await;
}

/// The secret key and the webhook secret never show: not in the banner, the logs (at debug),
/// the pages, or any answer, even when Stripe is unreachable and a webhook is forged.
#[test]
fn netns_memory_secrets_never_reach_logs_pages_or_answers() {
    common::netns::netns_test(
        "netns_memory_secrets_never_reach_logs_pages_or_answers",
        secrets_stay_secret,
    )
}

async fn secrets_stay_secret() {
    const KEY: &str = "sk_test_MARKER_never_shown_4242";
    const HOOK: &str = "whsec_MARKER_never_shown_4242";
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let dead = format!("http://{}", closed.local_addr().expect("its address"));
    drop(closed);
    let mut proc = common::server::ServerProcess::spawn(
        &["--no-demo"],
        &[
            ("LIVESALE_PAYMENTS", "stripe"),
            ("STRIPE_SECRET_KEY", KEY),
            ("STRIPE_PUBLISHABLE_KEY", PUBLISHABLE_KEY),
            ("STRIPE_WEBHOOK_SECRET", HOOK),
            ("LIVESALE_STRIPE_API_BASE", &dead),
            ("LIVESALE_SECRET", "secrets-test-0123456789abcdef"),
            ("LIVESALE_ADMIN_TOKEN", "adm"),
            ("LIVESALE_JOIN_RATE", "0"),
            ("RUST_LOG", "debug"),
        ],
    );
    let http = reqwest::Client::new();
    let base = proc.base.clone();
    let mut seen = proc.banner.clone();
    let mut send = async |req: reqwest::RequestBuilder| -> Value {
        let resp = req.send().await.expect("answered");
        let text = resp.text().await.expect("a body");
        seen.push_str(&text);
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let creator = s(&send(
        http.post(format!("{base}/api/creators"))
            .bearer_auth("adm")
            .json(&json!({ "name": "M" })),
    )
    .await["token"]);
    let show = s(&send(
        http.post(format!("{base}/api/shows"))
            .bearer_auth(&creator)
            .json(&json!({ "title": "S" })),
    )
    .await["id"]);
    send(
        http.post(format!("{base}/api/shows/{show}/start"))
            .bearer_auth(&creator)
            .json(&json!({})),
    )
    .await;
    let product = s(&send(http.post(format!("{base}/api/products")).bearer_auth(&creator).json(&json!({
        "sku": "M1", "title": "Mug", "price": { "amount": 900, "currency": "USD" }, "stock": 3
    }))).await["id"]);
    send(
        http.post(format!("{base}/api/shows/{show}/lineup"))
            .bearer_auth(&creator)
            .json(&json!({ "product_id": product })),
    )
    .await;
    let viewer = s(&send(
        http.post(format!("{base}/api/shows/{show}/viewers"))
            .json(&json!({ "display_name": "V" })),
    )
    .await["token"]);
    send(
        http.put(format!("{base}/api/shows/{show}/cart/items/{product}"))
            .bearer_auth(&viewer)
            .json(&json!({ "quantity": 1 })),
    )
    .await;
    let refused = send(
        http.post(format!("{base}/api/shows/{show}/checkout"))
            .bearer_auth(&viewer)
            .header("Idempotency-Key", "k")
            .json(&json!({ "email": "v@example.com", "shipping": address() })),
    )
    .await;
    assert_eq!(refused["code"], "payment_unavailable", "{refused}");
    send(
        http.post(format!("{base}/api/shows/{show}/cards/setup"))
            .bearer_auth(&viewer),
    )
    .await;
    let forged = signature::sign(
        &Secret::new("whsec_wrong"),
        chrono::Utc::now().timestamp(),
        b"{}",
    );
    send(
        http.post(format!("{base}/api/webhooks/stripe"))
            .header("Stripe-Signature", forged)
            .body("{}"),
    )
    .await;
    for page in ["/", &format!("/s/{show}"), "/studio", "/api/openapi.json"] {
        send(http.get(format!("{base}{page}"))).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    proc.terminate();
    let logs = proc.logs().join("\n");
    assert!(
        logs.contains("Stripe"),
        "the Stripe failure was logged: {logs}"
    );
    for secret in [KEY, HOOK, "MARKER"] {
        assert!(
            !seen.contains(secret),
            "{secret} reached an answer or the banner"
        );
        assert!(!logs.contains(secret), "{secret} reached the logs");
    }
}

/// A bank that asks for 3-D Secure: paying answers `requires_action` with the intent's client
/// secret; the buyer's browser authenticates with Stripe.js (`confirmCardPayment`; here the
/// request localstripe's stand-in makes) and Stripe's webhook settles the order. A failed
/// authentication leaves the order waiting for another card.
async fn a_bank_asking_for_3d_secure_is_answered_in_the_browser(backend: Backend) {
    let shop = shop(backend, 5, |_| {}).await;
    let (_, token) = shop.buyer("Ada", 1).await;
    let authenticate = |secret: String, success: bool| {
        let intent = secret
            .split("_secret_")
            .next()
            .expect("an intent")
            .to_string();
        let url = format!(
            "{}/v1/payment_intents/{intent}/_authenticate?success={success}",
            shop.ls.base()
        );
        let http = shop.srv.http.clone();
        async move {
            let body = json!({ "key": PUBLISHABLE_KEY, "client_secret": secret });
            let resp = http
                .post(url)
                .json(&body)
                .send()
                .await
                .expect("localstripe answers");
            assert!(
                resp.status().is_success(),
                "authentication: {}",
                resp.status()
            );
        }
    };

    let placed = shop.checkout_ok(&token, "k-1").await;
    let order = s(&placed["order"]["id"]);
    let card = shop.new_card(&token, common::localstripe::CARD_3DS).await;
    let (status, paid) = shop.pay(&token, &order, &card).await;
    assert_eq!(status, 200, "{paid}");
    assert_eq!(paid["status"], "requires_action", "{paid}");
    assert_eq!(
        paid["client_secret"], placed["payment"]["client_secret"],
        "{paid}"
    );
    authenticate(s(&paid["client_secret"]), false).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        shop.order(&token, &order).await["status"],
        "pending_payment",
        "a failed authentication charges nothing and the order waits"
    );

    let (_, bob) = shop.buyer("Bob", 1).await;
    let placed = shop.checkout_ok(&bob, "k-2").await;
    let order = s(&placed["order"]["id"]);
    let card = shop.new_card(&bob, common::localstripe::CARD_3DS).await;
    let (status, paid) = shop.pay(&bob, &order, &card).await;
    assert_eq!(
        (status, &paid["status"]),
        (200, &json!("requires_action")),
        "{paid}"
    );
    authenticate(s(&paid["client_secret"]), true).await;
    shop.wait_order(&bob, &order, "paid").await;
    assert_eq!(
        shop.stock().await,
        3,
        "one reserved for Ada, one sold to Bob"
    );
}
