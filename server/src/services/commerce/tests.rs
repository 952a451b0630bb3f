//! The commerce service against a `MemoryStore`, a `MemoryBus` hub and a `TestClock`.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::*;
use crate::clock::{Clock, TestClock};
use crate::commerce::payment::{TestPaymentMode, TestPayments};
use crate::domain::commerce::OrderStatus;
use crate::domain::{CreatorId, Money, NewProduct, Product, ProductId};
use crate::hub::Replay;
use crate::store::MemoryStore;

struct World {
    service: CommerceService,
    store: SharedStore,
    hub: Arc<Hub>,
    clock: Arc<TestClock>,
    show: Show,
    /// In the lineup: 5 units at 20.00 USD.
    mug: ProductId,
}

fn settings() -> CommerceSettings {
    CommerceSettings {
        reservation_ttl: chrono::Duration::seconds(60),
        payment_timeout: Duration::from_secs(30),
        deal_buyers_per_address: 0,
        webhook_allow_private: false,
    }
}

async fn world(mode: TestPaymentMode, settings: CommerceSettings) -> World {
    let store: SharedStore = Arc::new(MemoryStore::new());
    let clock = TestClock::new();
    let (hub, _bus) = crate::services::testing::memory_hub(clock.clone());
    let now = clock.now();
    let show = crate::services::testing::live_show(&store, "Drop", now).await;
    let mug = product(&store, show.creator_id, "MUG", 2000, "USD").await;
    store.add_to_lineup(&show, mug).await.unwrap();
    let payments = Arc::new(TestPayments { mode });
    let service = CommerceService::new(
        store.clone(),
        hub.clone(),
        payments,
        clock.clone(),
        settings,
    );
    World {
        service,
        store,
        hub,
        clock,
        show,
        mug,
    }
}

async fn product(
    store: &SharedStore,
    creator: CreatorId,
    sku: &str,
    cents: i64,
    currency: &str,
) -> ProductId {
    let fields = NewProduct {
        sku: sku.into(),
        title: sku.into(),
        description: None,
        image_url: None,
        price: Money::price(cents, currency).unwrap(),
        stock: 5,
    };
    let product = Product::create(
        ProductId(Uuid::now_v7()),
        creator,
        fields,
        chrono::Utc::now(),
    );
    let product = product.unwrap();
    store.insert_product(&product).await.unwrap();
    product.id
}

fn viewer(show: &Show, name: &str) -> Principal {
    Principal::Viewer {
        show_id: show.id,
        viewer_id: ViewerId(Uuid::now_v7()),
        name: name.into(),
    }
}

fn attempt(key: &str) -> CheckoutAttempt {
    CheckoutAttempt {
        key: key.into(),
        anonymous: false,
        ip: "203.0.113.9".parse().unwrap(),
        email: None,
        shipping: None,
    }
}

fn refusal<T: std::fmt::Debug>(got: Result<T, CommerceError>) -> &'static str {
    match got {
        Err(CommerceError::Refused(e)) => e.code.as_str(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

impl World {
    async fn shopper_with(&self, who: &Principal, quantity: i64) -> Shopper {
        let shopper = self.service.shopper(Some(who), self.show.id).await.unwrap();
        let cart = self.service.set_cart_item(&shopper, self.mug, quantity);
        cart.await.unwrap();
        shopper
    }

    async fn stock(&self) -> i64 {
        self.store.product(self.mug).await.unwrap().unwrap().stock
    }

    /// The types of the frames the room has been sent so far.
    async fn frames(&self) -> Vec<String> {
        let Replay::Frames(frames) = self.hub.bus.since(&self.show, 0).await.unwrap() else {
            panic!("the memory bus keeps every frame of a short test");
        };
        frames
            .iter()
            .map(|f| {
                let v: serde_json::Value = serde_json::from_str(f.text.as_str()).unwrap();
                v["type"].as_str().unwrap_or_default().to_string()
            })
            .collect()
    }
}

#[tokio::test]
async fn a_paid_checkout_is_placed_and_the_room_hears_of_it() {
    let w = world(TestPaymentMode::Approve, settings()).await;
    let ann = viewer(&w.show, "Ann");
    let shopper = w.shopper_with(&ann, 2).await;
    let placed = w.service.checkout(shopper, attempt("k1")).await.unwrap();
    assert!(!placed.replayed);
    let CheckoutOutcome::Placed(order) = placed.outcome else {
        panic!("expected a placed order, got {placed:?}");
    };
    assert_eq!(order.status, OrderStatus::Paid);
    assert_eq!(order.total.amount, 4000);
    assert_eq!(w.stock().await, 3);
    // The announcement runs in a task of its own.
    for _ in 0..200 {
        if w.frames().await.contains(&"pin.updated".to_string()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(w.frames().await, ["purchase", "pin.updated"]);

    // The same key again: the same order, marked as a replay; nothing new is taken.
    let shopper = w.service.shopper(Some(&ann), w.show.id).await.unwrap();
    let again = w.service.checkout(shopper, attempt("k1")).await.unwrap();
    assert!(again.replayed);
    assert!(matches!(&again.outcome, CheckoutOutcome::Placed(o) if o.id == order.id));
    assert_eq!(w.stock().await, 3);
}

#[tokio::test]
async fn a_declined_payment_is_typed_and_answers_its_retry_the_same() {
    let w = world(TestPaymentMode::Decline, settings()).await;
    let ben = viewer(&w.show, "Ben");
    let shopper = w.shopper_with(&ben, 1).await;
    let first = w.service.checkout(shopper, attempt("d1")).await.unwrap();
    let CheckoutOutcome::Unpaid(unpaid) = first.outcome else {
        panic!("expected a declined payment, got {first:?}");
    };
    assert_eq!(unpaid.code, "payment_declined");
    assert_eq!(
        unpaid.why,
        "payment declined: the test provider is configured to decline"
    );
    assert_eq!(w.stock().await, 5, "the stock is back");
    let cart = w.service.cart(Some(&ben), w.show.id).await.unwrap();
    assert_eq!(cart.items.len(), 1, "the line is back in the cart");

    let shopper = w.service.shopper(Some(&ben), w.show.id).await.unwrap();
    let retry = w.service.checkout(shopper, attempt("d1")).await.unwrap();
    assert!(retry.replayed);
    let CheckoutOutcome::Unpaid(again) = retry.outcome else {
        panic!("expected the same refusal, got {retry:?}");
    };
    assert_eq!(again, unpaid);
}

#[tokio::test]
async fn a_provider_that_never_answers_times_out_as_a_failed_payment() {
    let quick = CommerceSettings {
        payment_timeout: Duration::from_millis(50),
        ..settings()
    };
    let w = world(TestPaymentMode::Hang, quick).await;
    let shopper = w.shopper_with(&viewer(&w.show, "Cy"), 1).await;
    let got = w.service.checkout(shopper, attempt("h1")).await.unwrap();
    let CheckoutOutcome::Unpaid(unpaid) = got.outcome else {
        panic!("expected a failed payment, got {got:?}");
    };
    assert_eq!(unpaid.code, "payment_failed");
    assert_eq!(unpaid.why, "the payment provider did not answer in time");
    assert_eq!(w.stock().await, 5);
}

#[tokio::test]
async fn the_sweeper_returns_a_reservation_once_the_clock_passes_its_deadline() {
    let w = world(TestPaymentMode::Hang, settings()).await;
    let dan = viewer(&w.show, "Dan");
    let shopper = w.shopper_with(&dan, 2).await;
    let service = w.service.clone();
    let pending = tokio::spawn(async move { service.checkout(shopper, attempt("s1")).await });
    while w.stock().await == 5 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(
        w.service.sweep().await.unwrap(),
        0,
        "the reservation still runs"
    );
    assert_eq!(w.stock().await, 3);

    w.clock.advance(Duration::from_secs(61));
    assert_eq!(w.service.sweep().await.unwrap(), 1);
    assert_eq!(w.stock().await, 5);
    let orders = w.service.my_orders(Some(&dan), w.show.id).await.unwrap();
    assert_eq!(orders[0].status, OrderStatus::Expired);
    let cart = w.service.cart(Some(&dan), w.show.id).await.unwrap();
    assert_eq!(cart.items.len(), 1, "the lines are back in the cart");
    assert_eq!(w.frames().await, ["pin.updated"]);
    pending.abort();
}

#[tokio::test]
async fn refusals_come_back_typed() {
    let w = world(TestPaymentMode::Approve, settings()).await;
    let creator = Principal::Creator {
        creator_id: w.show.creator_id,
    };
    assert_eq!(
        refusal(w.service.shopper(Some(&creator), w.show.id).await),
        "forbidden_role"
    );
    assert_eq!(
        refusal(w.service.shopper(None, w.show.id).await),
        "missing_token"
    );
    let stranger = Principal::Viewer {
        show_id: ShowId(Uuid::now_v7()),
        viewer_id: ViewerId(Uuid::now_v7()),
        name: "Eve".into(),
    };
    assert_eq!(
        refusal(w.service.cart(Some(&stranger), w.show.id).await),
        "wrong_show"
    );
    let nowhere = ShowId(Uuid::now_v7());
    assert_eq!(refusal(w.service.pins(nowhere).await), "show_not_found");

    let fay = viewer(&w.show, "Fay");
    let shopper = w.service.shopper(Some(&fay), w.show.id).await.unwrap();
    // Of the catalog but not in the lineup, in another currency, beyond the stock.
    let other = product(&w.store, w.show.creator_id, "EUR-CUP", 900, "EUR").await;
    let got = w.service.set_cart_item(&shopper, other, 1).await;
    assert_eq!(refusal(got), "product_not_found");
    w.store.add_to_lineup(&w.show, other).await.unwrap();
    w.service.set_cart_item(&shopper, w.mug, 1).await.unwrap();
    let got = w.service.set_cart_item(&shopper, other, 1).await;
    assert_eq!(refusal(got), "currency_mismatch");
    let got = w.service.set_cart_item(&shopper, w.mug, 6).await;
    assert_eq!(refusal(got), "insufficient_stock");
    // An empty cart, then a reused key.
    w.service
        .remove_cart_item(Some(&fay), w.show.id, w.mug)
        .await
        .unwrap();
    let got = w
        .service
        .checkout(shopper.clone(), attempt("e1"))
        .await
        .unwrap();
    assert!(matches!(got.outcome, CheckoutOutcome::Refused(e) if e.code == "empty_cart"));
}

#[tokio::test]
async fn a_deal_ends_by_the_clock() {
    let w = world(TestPaymentMode::Approve, settings()).await;
    let creator = Principal::Creator {
        creator_id: w.show.creator_id,
    };
    let curator = w.service.curator(Some(&creator), w.show.id).await.unwrap();
    let offer = |currency: &str| NewPin {
        product_id: w.mug,
        deal: Some(DealOffer {
            price: 1500,
            currency: Some(currency.into()),
            quantity: 3,
            per_buyer_limit: 2,
            duration_s: 60,
        }),
    };
    let got = w.service.pin(&curator, offer("EUR")).await;
    assert_eq!(refusal(got), "currency_mismatch");
    let pins = w.service.pin(&curator, offer("usd")).await.unwrap();
    assert_eq!(pins.len(), 1);
    assert_eq!(w.frames().await, ["pin.updated"]);

    let gus = viewer(&w.show, "Gus");
    let shopper = w.service.shopper(Some(&gus), w.show.id).await.unwrap();
    let cart = w.service.set_cart_item(&shopper, w.mug, 2).await.unwrap();
    assert_eq!(cart.total.amount, 3000, "the deal price");
    let got = w.service.set_cart_item(&shopper, w.mug, 3).await;
    assert_eq!(refusal(got), "over_limit");

    w.clock.advance(Duration::from_secs(61));
    let cart = w.service.cart(Some(&gus), w.show.id).await.unwrap();
    assert_eq!(
        cart.total.amount, 4000,
        "the regular price once the deal ended"
    );
    let got = w.service.checkout(shopper, attempt("late")).await.unwrap();
    assert!(matches!(got.outcome, CheckoutOutcome::Refused(e) if e.code == "deal_ended"));
    assert_eq!(w.stock().await, 5);
}

#[tokio::test]
async fn webhooks_are_registered_only_for_public_http_urls() {
    let w = world(TestPaymentMode::Approve, settings()).await;
    let creator = w.show.creator_id;
    assert_eq!(refusal(w.service.webhook(creator).await), "no_webhook");
    let got = w
        .service
        .set_webhook(creator, "http://127.0.0.1:9/hook")
        .await;
    assert_eq!(refusal(got), "private_address");
    let hook = w
        .service
        .set_webhook(creator, " https://shop.example/hook ")
        .await
        .unwrap();
    assert_eq!(hook.url, "https://shop.example/hook");
    assert_eq!(w.service.webhook(creator).await.unwrap(), hook);
    w.service.delete_webhook(creator).await.unwrap();
    assert_eq!(refusal(w.service.webhook(creator).await), "no_webhook");
}
