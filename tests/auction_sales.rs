//! The winner pays (issue 18), end to end through the public routes on the real server: a lot
//! closes and its winner's order is created once, at the winning price, with one unit of stock,
//! and charged to the saved card (the built-in test provider); with Stripe (a real
//! localstripe, in a private network namespace), a winner whose saved card is declined hands
//! the lot to the runner-up, who takes it with `POST …/offer` and pays with their saved card,
//! settled by Stripe's webhook, while the studio is alerted; and the merchant's webhook
//! receives `auction.closed` with the result and the whole bid log.

mod common;

use std::time::{Duration, Instant};

use common::localstripe::{CARD_DECLINED, CARD_OK, LocalStripe};
use common::receiver::Receiver;
use common::redis::PrivateRedis;
use common::server::{Backend, TestServer, assert_problem, s, test_config};
use common::ws::{WAIT, WsClient};
use livesale::commerce::stripe::Secret;
use livesale::config::PaymentsMode;
use serde_json::{Value, json};

const WEBHOOK_SECRET: &str = "whsec_livesale_test";
const PUBLISHABLE_KEY: &str = "pk_test_livesale";

in_private_netns!(a_declined_winner_hands_the_lot_to_the_runner_up_who_pays);

/// A server, a creator's live show with one lineup product (USD 25.00, 5 in stock).
struct Room {
    srv: TestServer,
    creator: String,
    show: String,
}

async fn room(srv: TestServer) -> Room {
    let (creator, show) = srv.live_show("Auctioneer", "Auction night").await;
    let product = srv.product(&creator, "LOT-1", 2500, 5).await;
    srv.add_to_lineup(&creator, &show, &product).await;
    Room { srv, creator, show }
}

impl Room {
    /// An open lot (USD 10.00 to start, a minute, soft close): its id.
    async fn open_lot(&self) -> String {
        let (_, lineup) = self
            .srv
            .get(&format!("/api/shows/{}/lineup", self.show), None)
            .await;
        let body = json!({
            "product_id": lineup["products"][0]["id"],
            "start_price": { "amount": 1000, "currency": "USD" },
            "duration_s": 60,
            "mode": "soft_close",
        });
        let path = format!("/api/shows/{}/auctions", self.show);
        let (status, created) = self.srv.post(&path, Some(&self.creator), body).await;
        assert_eq!(status, 201, "create: {created}");
        s(&created["id"])
    }

    /// A bid of `amount`; its status and answer.
    async fn bid(&self, lot: &str, token: &str, key: &str, amount: i64) -> (u16, Value) {
        let body = json!({ "amount": amount });
        let (status, answer, _) = self.srv.bid(&self.show, lot, token, Some(key), body).await;
        (status, answer)
    }

    /// The creator stops the lot: it closes at once.
    async fn close(&self, lot: &str) -> Value {
        let path = format!("/api/shows/{}/auctions/{lot}/close", self.show);
        let (status, closed) = self.srv.post(&path, Some(&self.creator), json!({})).await;
        assert_eq!(status, 200, "close: {closed}");
        assert_eq!(closed["status"], "closed", "{closed}");
        closed
    }

    async fn offer(&self, lot: &str, token: &str) -> (u16, Value) {
        let path = format!("/api/shows/{}/auctions/{lot}/offer", self.show);
        self.srv.post(&path, Some(token), json!({})).await
    }

    /// The show's orders, as the creator sees them.
    async fn orders(&self) -> Vec<Value> {
        let path = format!("/api/shows/{}/orders", self.show);
        let (status, body) = self.srv.get(&path, Some(&self.creator)).await;
        assert_eq!(status, 200, "orders: {body}");
        body["orders"].as_array().cloned().unwrap_or_default()
    }

    async fn stock(&self) -> i64 {
        let path = format!("/api/shows/{}/lineup", self.show);
        let (_, lineup) = self.srv.get(&path, None).await;
        lineup["products"][0]["stock"].as_i64().expect("a stock")
    }

    /// Waits (bounded) until the order has `status` (Stripe's webhook comes a moment later).
    async fn wait_order(&self, token: &str, order: &str, status: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        let path = format!("/api/shows/{}/orders/{order}", self.show);
        loop {
            let (code, o) = self.srv.get(&path, Some(token)).await;
            assert_eq!(code, 200, "order: {o}");
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
}

/// The test provider: the lot closes, exactly one order is created for the winner at the
/// winning price and paid at once, one unit of stock goes, the winner's socket hears
/// `order.updated` and the room the purchase; nobody is alerted.
async fn the_winner_is_charged_once_at_the_winning_price(backend: Backend) {
    let r = room(TestServer::start(backend).await).await;
    let (_, ada) = r.srv.viewer(&r.show, "Ada").await;
    let (bob_id, bob) = r.srv.viewer(&r.show, "Bob").await;
    let (mut bob_ws, _) = WsClient::join(&r.srv, &r.show, Some(&bob)).await;
    let (mut studio, _) = WsClient::join(&r.srv, &r.show, Some(&r.creator)).await;
    let lot = r.open_lot().await;
    assert_eq!(r.bid(&lot, &ada, "a1", 1000).await.0, 201);
    assert_eq!(r.bid(&lot, &bob, "b1", 1500).await.0, 201);
    r.close(&lot).await;

    let ended = bob_ws.next_of_type("auction.ended", WAIT).await;
    assert_eq!(ended["result"], "sold", "{ended}");
    let order_id = s(&ended["order_id"]);
    let updated = bob_ws.next_of_type("order.updated", WAIT).await;
    assert_eq!(updated["order"]["id"], order_id.as_str(), "{updated}");
    assert_eq!(updated["order"]["status"], "paid", "{updated}");
    let orders = r.orders().await;
    assert_eq!(orders.len(), 1, "exactly one order: {orders:?}");
    let order = &orders[0];
    assert_eq!(order["id"], order_id.as_str());
    assert_eq!(order["status"], "paid");
    assert_eq!(order["viewer_id"], bob_id.as_str());
    assert_eq!(order["total"], json!({ "amount": 1500, "currency": "USD" }));
    assert_eq!(order["items"][0]["quantity"], 1);
    assert_eq!(order["items"][0]["unit_price"]["amount"], 1500);
    assert_eq!(r.stock().await, 4, "one unit sold");
    let seen = studio
        .collect_until(|f| f["type"] == "purchase", WAIT)
        .await;
    assert!(
        seen.iter().all(|f| f["type"] != "auction.alert"),
        "no alert for a paid lot: {seen:?}"
    );
    // Nobody holds an offer of a lot its winner paid.
    assert_problem(&r.offer(&lot, &ada).await, 409, "offer_not_found");
    r.srv.stop().await;
}

/// The merchant's webhook receives `auction.closed` with the result, the order and every
/// handled bid (a refused one too), signed like the order events.
async fn the_merchant_receives_the_close_with_the_bid_log(backend: Backend) {
    let r = room(TestServer::start(backend).await).await;
    let receiver = Receiver::start(0).await;
    let put = r
        .srv
        .http
        .put(r.srv.url("/api/webhook"))
        .bearer_auth(&r.creator)
        .json(&json!({ "url": receiver.url() }));
    let (status, body) = TestServer::finish(put.send().await.expect("PUT webhook")).await;
    assert_eq!(status, 200, "webhook: {body}");
    let (ada_id, ada) = r.srv.viewer(&r.show, "Ada").await;
    let (bob_id, bob) = r.srv.viewer(&r.show, "Bob").await;
    let lot = r.open_lot().await;
    assert_eq!(r.bid(&lot, &ada, "a1", 1000).await.0, 201);
    assert_eq!(r.bid(&lot, &bob, "b1", 1200).await.0, 201);
    assert_eq!(r.bid(&lot, &ada, "a2", 1100).await.0, 409, "too low");
    r.close(&lot).await;

    let deadline = Instant::now() + WAIT;
    let closed = loop {
        let found = receiver
            .requests()
            .into_iter()
            .find(|req| req.header("x-livesale-event") == "auction.closed");
        if let Some(found) = found {
            break found;
        }
        assert!(Instant::now() < deadline, "no auction.closed delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(!closed.header("x-livesale-hmac-sha256").is_empty());
    let body = closed.json();
    assert_eq!(body["type"], "auction.closed", "{body}");
    assert_eq!(body["auction"]["id"], lot.as_str(), "{body}");
    assert_eq!(body["result"], "sold", "{body}");
    assert_eq!(body["winner"]["viewer_id"], bob_id.as_str(), "{body}");
    assert_eq!(body["price"]["amount"], 1200, "{body}");
    assert_eq!(body["runner_up"]["bidder"]["viewer_id"], ada_id.as_str());
    let order = r.orders().await;
    assert_eq!(body["order_id"], order[0]["id"], "{body}");
    let log = body["log"].as_array().expect("the log");
    let outcomes: Vec<&str> = log.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["accepted", "accepted", "bid_too_low"], "{body}");
    assert_eq!(log[2]["bidder"], ada_id.as_str());
    assert_eq!(log[2]["amount"], 1100);
    r.srv.stop().await;
}

// ---- Stripe ---------------------------------------------------------------------------------

/// A server taking Stripe payments through localstripe (its webhook registered).
async fn stripe_room(ls: &LocalStripe, redis: Option<&PrivateRedis>) -> Room {
    let mut config = test_config(Backend::Memory);
    config.redis_url = redis.map(|r| r.url.clone());
    config.payments = PaymentsMode::Stripe;
    config.stripe_secret_key = Some(Secret::new(common::localstripe::SECRET_KEY));
    config.stripe_publishable_key = Some(PUBLISHABLE_KEY.into());
    config.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    config.stripe_api_base = ls.base();
    config.stripe_js_url = ls.js_url();
    let srv = TestServer::start_with(config).await;
    ls.register_webhook("livesale", &srv.url("/api/webhooks/stripe"), WEBHOOK_SECRET)
        .await;
    room(srv).await
}

/// Saves `number` as the viewer's card: a SetupIntent from the server confirmed as Stripe.js
/// does, and the card attached to the viewer's customer, as real Stripe does with a confirmed
/// SetupIntent of a customer (localstripe does not).
async fn save_card(r: &Room, ls: &LocalStripe, token: &str, number: &str) {
    let path = format!("/api/shows/{}/cards/setup", r.show);
    let (status, body) = r.srv.post(&path, Some(token), json!({})).await;
    assert_eq!(status, 200, "card setup: {body}");
    let secret = s(&body["client_secret"]);
    let seti = secret.split("_secret_").next().expect("a SetupIntent id");
    let card = ls.card(number).await;
    let confirmed = ls.confirm_setup_intent(seti, &card).await;
    assert_eq!(confirmed["status"], "succeeded", "{confirmed}");
    let stripe = |path: String| {
        r.srv
            .http
            .post(format!("{}{path}", ls.base()))
            .bearer_auth(common::localstripe::SECRET_KEY)
    };
    let customer = s(&confirmed["customer"]);
    let attached = stripe(format!("/v1/payment_methods/{card}/attach"))
        .form(&[("customer", customer.as_str())])
        .send()
        .await
        .expect("localstripe answers");
    assert!(
        attached.status().is_success(),
        "attach: {:?}",
        attached.text().await
    );
    let (status, cards) = r
        .srv
        .get(&format!("/api/shows/{}/cards", r.show), Some(token))
        .await;
    assert_eq!(status, 200, "{cards}");
    assert_eq!(cards["cards"][0]["id"], card.as_str(), "{cards}");
}

/// The winner's saved card is declined at the close: their order fails (stock back), the
/// runner-up gets `auction.offer` at their bid and the studio `auction.alert`; the runner-up
/// takes it, their saved card is charged off-session, Stripe's webhook settles the order paid
/// and their socket hears `order.updated`. The winner holds no offer.
async fn a_declined_winner_hands_the_lot_to_the_runner_up_who_pays(backend: Backend) {
    let ls = LocalStripe::start().await;
    let redis = (backend == Backend::Redis).then(PrivateRedis::start);
    let r = stripe_room(&ls, redis.as_ref()).await;
    let (ada_id, ada) = r.srv.viewer(&r.show, "Ada").await;
    let (bob_id, bob) = r.srv.viewer(&r.show, "Bob").await;
    save_card(&r, &ls, &ada, CARD_OK).await;
    save_card(&r, &ls, &bob, CARD_DECLINED).await;
    let (mut ada_ws, _) = WsClient::join(&r.srv, &r.show, Some(&ada)).await;
    let (mut studio, _) = WsClient::join(&r.srv, &r.show, Some(&r.creator)).await;
    let lot = r.open_lot().await;
    assert_eq!(r.bid(&lot, &ada, "a1", 1000).await.0, 201);
    assert_eq!(r.bid(&lot, &bob, "b1", 1500).await.0, 201);
    r.close(&lot).await;

    let offer = ada_ws.next_of_type("auction.offer", WAIT).await;
    assert_eq!(offer["auction_id"], lot.as_str(), "{offer}");
    assert_eq!(offer["price"], json!({ "amount": 1000, "currency": "USD" }));
    let offered = s(&offer["order_id"]);
    let alert = studio.next_of_type("auction.alert", WAIT).await;
    assert!(s(&alert["text"]).contains("runner-up"), "{alert}");
    let orders = r.orders().await;
    let winners: Vec<&Value> = orders
        .iter()
        .filter(|o| o["viewer_id"] == bob_id.as_str())
        .collect();
    assert_eq!(winners.len(), 1, "{orders:?}");
    assert_eq!(winners[0]["status"], "failed", "{orders:?}");
    assert_eq!(
        r.stock().await,
        4,
        "the winner's unit back, the runner-up's held"
    );

    assert_problem(&r.offer(&lot, &bob).await, 409, "offer_not_found");
    let (status, taken) = r.offer(&lot, &ada).await;
    assert_eq!(status, 200, "offer: {taken}");
    assert_eq!(taken["order"]["id"], offered.as_str(), "{taken}");
    assert_eq!(taken["status"], "succeeded", "{taken}");
    let paid = r.wait_order(&ada, &offered, "paid").await;
    assert_eq!(paid["viewer_id"], ada_id.as_str());
    assert_eq!(paid["total"]["amount"], 1000);
    assert!(
        s(&paid["payment"]["intent_id"]).starts_with("pi_"),
        "{paid}"
    );
    let updated = ada_ws.next_of_type("order.updated", WAIT).await;
    assert_eq!(updated["order"]["status"], "paid", "{updated}");
    let orders = r.orders().await;
    assert_eq!(
        orders.len(),
        2,
        "the winner's and the runner-up's: {orders:?}"
    );
    assert_eq!(r.stock().await, 4);
    assert_problem(&r.offer(&lot, &ada).await, 409, "offer_not_found");
    r.srv.stop().await;
}

mod memory {
    use common::server::Backend;

    use super::common;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_winner_is_charged_once_at_the_winning_price() {
        super::the_winner_is_charged_once_at_the_winning_price(Backend::Memory).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_merchant_receives_the_close_with_the_bid_log() {
        super::the_merchant_receives_the_close_with_the_bid_log(Backend::Memory).await
    }
}

mod redis {
    use common::server::Backend;

    use super::common;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_winner_is_charged_once_at_the_winning_price() {
        super::the_winner_is_charged_once_at_the_winning_price(Backend::Redis).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_merchant_receives_the_close_with_the_bid_log() {
        super::the_merchant_receives_the_close_with_the_bid_log(Backend::Redis).await
    }
}
