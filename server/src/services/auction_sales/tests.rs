//! The sales service against a `MemoryStore`, a `MemoryBus` hub and a `TestClock`: lots are
//! made, bid on and closed through the store's auction area with the domain's rules, then
//! handed to [`AuctionSales::on_closed`] as the auctions service would.

use std::sync::Arc;

use uuid::Uuid;

use super::*;
use crate::clock::{Clock, TestClock};
use crate::commerce::payment::{TestPaymentMode, TestPayments};
use crate::domain::auction::{AuctionMode, AuctionSpec, BidKind, BidRequest};
use crate::domain::commerce::OrderStatus;
use crate::domain::{NewProduct, Product, ProductId, ViewerId};
use crate::hub::Replay;
use crate::store::MemoryStore;
use crate::store::auctions::KeyedBid;

struct World {
    store: SharedStore,
    hub: Arc<Hub>,
    clock: Arc<TestClock>,
    show: Show,
    /// In the lineup: 3 units at 20.00 USD.
    product: ProductId,
}

async fn world() -> World {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = TestClock::new();
    let (hub, _bus) = crate::services::testing::memory_hub(clock.clone());
    let now = clock.now();
    let show = crate::services::testing::live_show(&store, "Lots", now).await;
    let fields = NewProduct {
        sku: "VASE".into(),
        title: "Vase".into(),
        description: None,
        image_url: None,
        price: Money::price(2000, "USD").unwrap(),
        stock: 3,
    };
    let product = Product::create(ProductId(Uuid::now_v7()), show.creator_id, fields, now).unwrap();
    store.insert_product(&product).await.unwrap();
    store.add_to_lineup(&show, product.id).await.unwrap();
    World {
        store,
        hub,
        clock,
        show,
        product: product.id,
    }
}

fn bidder(name: &str) -> Bidder {
    Bidder {
        viewer_id: ViewerId(Uuid::now_v7()),
        name: name.into(),
    }
}

fn window() -> chrono::Duration {
    chrono::Duration::seconds(120)
}

impl World {
    /// A node's sales service with its own payment provider (nodes share the store and hub).
    fn sales(&self, mode: TestPaymentMode) -> AuctionSales {
        AuctionSales::new(
            self.store.clone(),
            self.hub.clone(),
            Arc::new(TestPayments { mode }),
            self.clock.clone(),
            SaleSettings {
                payment_window: window(),
            },
        )
    }

    /// A lot opened now, with each `(bidder, amount)` bid in turn, stopped by the creator.
    async fn closed_lot(&self, reserve: Option<i64>, bids: &[(&Bidder, i64)]) -> Auction {
        let spec = AuctionSpec {
            start_price: Money::price(1000, "USD").unwrap(),
            duration_s: 60,
            mode: AuctionMode::SoftClose,
            extend_s: None,
            reserve_price: reserve.map(|r| Money::price(r, "USD").unwrap()),
            increments: None,
        };
        let lot = Auction::new(
            AuctionId(Uuid::now_v7()),
            self.product,
            spec.validate().unwrap(),
        );
        let s = &self.store;
        s.create_auction(&self.show, &lot).await.unwrap().unwrap();
        let now_ms = self.clock.now_ms() as i64;
        s.open_auction(&self.show, lot.id, now_ms)
            .await
            .unwrap()
            .unwrap();
        for (who, amount) in bids {
            let request = BidRequest {
                bidder: (*who).clone(),
                kind: BidKind::Amount,
                amount: *amount,
                currency: None,
                received_ms: now_ms,
            };
            let bid = KeyedBid { request, key: None };
            s.bid(&self.show, lot.id, &bid).await.unwrap().unwrap();
        }
        let closed = s.close_auction(&self.show, lot.id, now_ms, true).await;
        closed.unwrap().unwrap().auction
    }

    async fn stock(&self) -> i64 {
        self.store
            .product(self.product)
            .await
            .unwrap()
            .unwrap()
            .stock
    }

    async fn orders(&self) -> Vec<Order> {
        self.store.orders(&self.show).await.unwrap()
    }

    /// Waits (without a clock) until `done` holds of the show's orders: the charge runs in a
    /// task of its own.
    async fn until(&self, done: impl Fn(&[Order]) -> bool) -> Vec<Order> {
        for _ in 0..10_000 {
            let orders = self.orders().await;
            if done(&orders) {
                return orders;
            }
            tokio::task::yield_now().await;
        }
        panic!("the orders never got there: {:?}", self.orders().await);
    }

    /// The room's frames so far, as JSON.
    async fn frames(&self) -> Vec<serde_json::Value> {
        let Replay::Frames(frames) = self.hub.bus.since(&self.show, 0).await.unwrap() else {
            panic!("the memory bus keeps every frame of a short test");
        };
        frames
            .iter()
            .map(|f| serde_json::from_str(f.text.as_str()).unwrap())
            .collect()
    }

    async fn frames_of(&self, kind: &str) -> Vec<serde_json::Value> {
        let all = self.frames().await;
        all.into_iter().filter(|f| f["type"] == kind).collect()
    }

    /// The bodies of the creator's outbox events of `kind`.
    async fn events(&self, kind: &str) -> Vec<serde_json::Value> {
        let pending = self.store.outbox_pending(self.show.creator_id, 100).await;
        pending
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| serde_json::from_str(&e.body).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn the_winner_is_charged_once_at_the_winning_price() {
    let w = world().await;
    let (ann, bob) = (bidder("Ann"), bidder("Bob"));
    let lot = w.closed_lot(None, &[(&ann, 1000), (&bob, 1500)]).await;
    let sales = w.sales(TestPaymentMode::Approve);
    let id = sales
        .on_closed(&w.show, &lot)
        .await
        .expect("an order for a sold lot");
    // A second node handed the same close (it never is; the store would still say no).
    let again = w
        .sales(TestPaymentMode::Approve)
        .on_closed(&w.show, &lot)
        .await;
    assert_eq!(again, Some(id));
    let orders = w
        .until(|o| o.iter().all(|o| o.status == OrderStatus::Paid))
        .await;
    assert_eq!(orders.len(), 1, "exactly one order");
    let order = &orders[0];
    assert_eq!(order.id, id);
    assert_eq!(order.viewer_id, bob.viewer_id);
    assert_eq!(order.buyer_name, "Bob");
    assert_eq!(order.total, Money::price(1500, "USD").unwrap());
    assert_eq!(order.items.len(), 1);
    assert_eq!(order.items[0].quantity, 1);
    assert_eq!(order.items[0].product_id, w.product);
    assert_eq!(w.stock().await, 2, "one unit sold");
    let updated = w.frames_of("order.updated").await;
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["order"]["status"], "paid");
    assert_eq!(w.frames_of("purchase").await.len(), 1);
    assert!(w.frames_of("auction.alert").await.is_empty());
    let sale = w.store.sale(&w.show, lot.id).await.unwrap().unwrap();
    assert_eq!(sale.offers.len(), 1);
    assert_eq!(sale.offers[0].outcome, OfferOutcome::Paid);
}

#[tokio::test]
async fn a_declined_winner_hands_the_lot_to_the_runner_up_who_pays() {
    let w = world().await;
    let (ann, bob) = (bidder("Ann"), bidder("Bob"));
    let lot = w.closed_lot(None, &[(&ann, 1000), (&bob, 1500)]).await;
    // The winner's node declines; the runner-up's request lands on a node that approves.
    let declining = w.sales(TestPaymentMode::Decline);
    let first = declining.on_closed(&w.show, &lot).await.unwrap();
    let orders = w.until(|o| o.len() == 2).await;
    assert_eq!(orders[0].id, first);
    assert_eq!(orders[0].status, OrderStatus::Failed);
    let offered = &orders[1];
    assert_eq!(offered.status, OrderStatus::PendingPayment);
    assert_eq!(offered.viewer_id, ann.viewer_id);
    assert_eq!(offered.total, Money::price(1000, "USD").unwrap());
    assert_eq!(
        w.stock().await,
        2,
        "the winner's unit back, the runner-up's taken"
    );
    let offers = w.frames_of("auction.offer").await;
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0]["order_id"], offered.id.to_string());
    assert_eq!(offers[0]["price"]["amount"], 1000);
    let alerts = w.frames_of("auction.alert").await;
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0]["text"].as_str().unwrap().contains("runner-up"));

    // Bob (the winner who did not pay) holds no offer; Ann does.
    let approving = w.sales(TestPaymentMode::Approve);
    let (as_ann, as_bob) = (viewer(&w.show, &ann), viewer(&w.show, &bob));
    let bob_asks = approving.accept_offer(Some(&as_bob), w.show.id, lot.id);
    match bob_asks.await {
        Err(CommerceError::Refused(e)) => assert_eq!(e.code, "offer_not_found"),
        other => panic!("expected offer_not_found, got {other:?}"),
    }
    let paid = approving
        .accept_offer(Some(&as_ann), w.show.id, lot.id)
        .await
        .unwrap();
    assert_eq!(paid.status, CardStatus::Succeeded);
    assert_eq!(paid.order.id, offered.id);
    assert_eq!(paid.order.status, OrderStatus::Paid);
    assert_eq!(w.stock().await, 2);
    // Taken once: a second acceptance finds no live offer.
    let twice = approving.accept_offer(Some(&as_ann), w.show.id, lot.id);
    assert!(matches!(twice.await, Err(CommerceError::Refused(_))));
}

fn viewer(show: &Show, who: &Bidder) -> Principal {
    Principal::Viewer {
        show_id: show.id,
        viewer_id: who.viewer_id,
        name: who.name.clone(),
    }
}

#[tokio::test]
async fn a_lapsed_window_goes_to_the_runner_up_then_nobody_once_across_nodes() {
    let w = world().await;
    let (ann, bob) = (bidder("Ann"), bidder("Bob"));
    let lot = w.closed_lot(None, &[(&ann, 1000), (&bob, 1500)]).await;
    // The provider never answers: the winner's window lapses.
    let node_a = w.sales(TestPaymentMode::Hang);
    let node_b = w.sales(TestPaymentMode::Hang);
    node_a.on_closed(&w.show, &lot).await.unwrap();
    node_a.tick().await;
    assert_eq!(
        w.orders().await.len(),
        1,
        "nothing lapses before the deadline"
    );
    w.clock.advance(std::time::Duration::from_secs(121));
    node_a.tick().await;
    node_b.tick().await;
    let orders = w.orders().await;
    assert_eq!(
        orders.len(),
        2,
        "one runner-up order, however many nodes tick"
    );
    assert_eq!(orders[0].status, OrderStatus::Failed);
    assert_eq!(orders[1].viewer_id, ann.viewer_id);
    assert_eq!(w.frames_of("auction.offer").await.len(), 1);
    w.clock.advance(std::time::Duration::from_secs(121));
    node_b.tick().await;
    node_a.tick().await;
    let orders = w.orders().await;
    assert_eq!(orders.len(), 2);
    assert!(orders.iter().all(|o| o.status == OrderStatus::Failed));
    assert_eq!(w.stock().await, 3, "every unit back");
    let alerts = w.frames_of("auction.alert").await;
    assert_eq!(alerts.len(), 2);
    assert!(alerts[1]["text"].as_str().unwrap().contains("nobody paid"));
    // Too late for Ann now.
    let as_ann = viewer(&w.show, &ann);
    let late = node_a.accept_offer(Some(&as_ann), w.show.id, lot.id);
    assert!(matches!(late.await, Err(CommerceError::Refused(_))));
}

#[tokio::test]
async fn a_lone_bidder_who_declines_leaves_nobody() {
    let w = world().await;
    let ann = bidder("Ann");
    let lot = w.closed_lot(None, &[(&ann, 1200)]).await;
    w.sales(TestPaymentMode::Decline)
        .on_closed(&w.show, &lot)
        .await;
    w.until(|o| o.len() == 1 && o[0].status == OrderStatus::Failed)
        .await;
    for _ in 0..10_000 {
        if !w.frames_of("auction.alert").await.is_empty() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let alerts = w.frames_of("auction.alert").await;
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0]["text"].as_str().unwrap().contains("nobody paid"));
    assert_eq!(w.stock().await, 3);
}

#[tokio::test]
async fn unsold_and_reserve_not_met_make_no_order_and_a_clear_webhook() {
    let w = world().await;
    let sales = w.sales(TestPaymentMode::Approve);
    let unsold = w.closed_lot(None, &[]).await;
    assert_eq!(sales.on_closed(&w.show, &unsold).await, None);
    let ann = bidder("Ann");
    let short = w.closed_lot(Some(5000), &[(&ann, 1000)]).await;
    assert_eq!(sales.on_closed(&w.show, &short).await, None);
    assert!(w.orders().await.is_empty());
    assert!(w.frames_of("auction.alert").await.is_empty());
    let closed = w.events(CLOSED_EVENT).await;
    assert_eq!(closed.len(), 2);
    assert_eq!(closed[0]["result"], "unsold");
    assert_eq!(closed[0]["log"].as_array().unwrap().len(), 0);
    assert_eq!(closed[1]["result"], "reserve_not_met");
    assert_eq!(closed[1]["highest"]["amount"], 1000);
    assert_eq!(closed[1]["log"][0]["bidder"], ann.viewer_id.to_string());
}

#[tokio::test]
async fn the_webhook_of_a_sold_lot_carries_the_result_the_order_and_the_log() {
    let w = world().await;
    let (ann, bob) = (bidder("Ann"), bidder("Bob"));
    let lot = w
        .closed_lot(None, &[(&ann, 1000), (&bob, 1100), (&ann, 900)])
        .await;
    let id = w
        .sales(TestPaymentMode::Approve)
        .on_closed(&w.show, &lot)
        .await;
    let closed = w.events(CLOSED_EVENT).await;
    assert_eq!(closed.len(), 1);
    let body = &closed[0];
    assert_eq!(body["type"], CLOSED_EVENT);
    assert_eq!(body["result"], "sold");
    assert_eq!(body["winner"]["viewer_id"], bob.viewer_id.to_string());
    assert_eq!(body["price"]["amount"], 1100);
    assert_eq!(body["runner_up"]["bidder"]["name"], "Ann");
    assert_eq!(body["order_id"], id.unwrap().to_string());
    let log = body["log"].as_array().unwrap();
    assert_eq!(log.len(), 3, "refused bids are in the log too");
    assert_eq!(log[2]["outcome"], "bid_too_low");
}

#[tokio::test]
async fn a_sold_out_lot_is_alerted_not_sold() {
    let w = world().await;
    let mut product = w.store.product(w.product).await.unwrap().unwrap();
    product.stock = 0;
    w.store.update_product(&product).await.unwrap();
    let ann = bidder("Ann");
    let lot = w.closed_lot(None, &[(&ann, 1000)]).await;
    let order = w
        .sales(TestPaymentMode::Approve)
        .on_closed(&w.show, &lot)
        .await;
    assert_eq!(order, None);
    assert!(w.orders().await.is_empty());
    let alerts = w.frames_of("auction.alert").await;
    assert_eq!(alerts.len(), 1);
    assert!(alerts[0]["text"].as_str().unwrap().contains("sold out"));
}
