//! The payments part of the `Store` contract (a PaymentIntent attached to a pending order and
//! found again, processed event ids, refunds, saved customers, and what a late payment after
//! expiry answers), written once and run against [`MemoryStore`] (the reference) and
//! [`RedisStore`] by `store_contracts!`. The Redis runs use `LIVESALE_TEST_REDIS_URL` under a
//! unique key prefix per test; the tests at the bottom check what only Redis has (the exact
//! stored JSON, the hash tags). Everything is set up through the `Store` trait.

mod common;

use std::sync::Arc;

use chrono::DateTime;
use livesale::domain::commerce::{
    CartLine, Deal, DealTerms, Order, OrderStatus, PaymentIntentId, PaymentProcessor, PaymentRef,
    Pin, Shipping, StripeCustomerId, StripeEventId,
};
use livesale::domain::error::ErrorKind;
use livesale::domain::{
    Creator, CreatorId, Money, NewProduct, NewShow, OrderId, Product, ProductId, Show, ShowId,
    Timestamp, ViewerId,
};
use livesale::store::payments::EVENT_MEMORY;
use livesale::store::{
    Attached, CheckoutOutcome, CheckoutRequest, Completion, IntentOrder, PaymentAttachment,
    SharedStore,
};
use uuid::Uuid;

use common::redis::{raw_connection, unique_prefix};
use common::stores::{bounded, connect};

/// A time in 2027; tests count seconds from it.
const T0_MS: i64 = 1_800_000_000_000;
/// How long the tests' checkouts reserve stock, in seconds.
const RESERVE_S: i64 = 600;

store_contracts!(
    a_payment_attaches_to_a_pending_order_and_finds_it_again,
    attached_details_survive_payment_and_expiry,
    an_event_is_new_once,
    one_of_many_racing_deliveries_of_an_event_is_new,
    a_refund_gives_stock_and_deal_units_back_once,
    only_a_paid_order_of_this_show_is_refunded,
    racing_refunds_release_once,
    a_late_payment_after_expiry_is_answered_with_the_expired_order,
    saved_customers_are_per_creator_and_viewer,
);

// ---- fixtures -------------------------------------------------------------------------------

fn t(s: i64) -> Timestamp {
    DateTime::from_timestamp_millis(T0_MS + s * 1000).expect("a valid timestamp")
}

fn viewer() -> ViewerId {
    ViewerId(Uuid::new_v4())
}

fn intent(text: &str) -> PaymentIntentId {
    PaymentIntentId::parse(text).expect("a valid intent id")
}

fn event(text: &str) -> StripeEventId {
    StripeEventId::parse(text).expect("a valid event id")
}

fn customer(text: &str) -> StripeCustomerId {
    StripeCustomerId::parse(text).expect("a valid customer id")
}

fn shipping() -> Shipping {
    Shipping {
        name: "Zoë \"Z\" O'Hara".into(),
        line1: "1/2 Main St \\ back".into(),
        line2: None,
        city: "Zürich".into(),
        postal_code: "8001".into(),
        country: "CH".into(),
        state: Some("ZH".into()),
    }
}

fn attachment(intent_id: &str) -> PaymentAttachment {
    PaymentAttachment {
        email: Some("zoe@example.ch".into()),
        shipping: Some(Box::new(shipping())),
        payment: PaymentRef {
            provider: PaymentProcessor::Stripe,
            intent_id: intent(intent_id),
        },
    }
}

/// One creator's show with a product or two, carts and checkouts.
struct World {
    store: SharedStore,
    creator: Creator,
    show: Show,
}

impl World {
    async fn new(store: SharedStore) -> World {
        let creator = Creator::new(CreatorId(Uuid::now_v7()), "Ada", t(-100_000)).unwrap();
        store.insert_creator(&creator).await.unwrap();
        let show = Show::schedule(
            ShowId(Uuid::now_v7()),
            creator.id,
            NewShow {
                title: "Friday drop".into(),
                description: None,
                scheduled_at: Some(t(0)),
                cover_url: None,
            },
            t(-100_000),
        )
        .unwrap();
        store.insert_show(&show).await.unwrap();
        World {
            store,
            creator,
            show,
        }
    }

    /// Another show of another creator on the same store.
    async fn other(&self) -> World {
        World::new(self.store.clone()).await
    }

    async fn product(&self, price: i64, stock: i64) -> Product {
        let p = Product::create(
            ProductId(Uuid::new_v4()),
            self.creator.id,
            NewProduct {
                sku: format!("SKU-{}", Uuid::new_v4().simple()),
                title: "Mug".into(),
                description: None,
                image_url: None,
                price: Money::price(price, "USD").unwrap(),
                stock,
            },
            t(-50_000),
        )
        .unwrap();
        assert!(self.store.insert_product(&p).await.unwrap());
        self.store.add_to_lineup(&self.show, p.id).await.unwrap();
        p
    }

    async fn stock(&self, p: &Product) -> i64 {
        self.store.product(p.id).await.unwrap().unwrap().stock
    }

    async fn deal(&self, p: &Product, quantity: i64, limit: i64, now: Timestamp) -> Deal {
        let deal = DealTerms {
            price: 500,
            quantity,
            per_buyer_limit: limit,
            duration_s: 3600,
        }
        .into_deal(p, now)
        .unwrap();
        let pin = Pin {
            product_id: p.id,
            pinned_at: now,
            deal: Some(deal.clone()),
        };
        self.store.pin(&self.show, &pin).await.unwrap().unwrap();
        deal
    }

    async fn remaining(&self, p: &Product) -> i64 {
        let pins = self.store.pins(&self.show).await.unwrap();
        pins.iter()
            .find(|s| s.pin.product_id == p.id)
            .map_or(0, |s| s.deal.remaining)
    }

    async fn bought(&self, p: &Product, buyer: ViewerId) -> i64 {
        self.store
            .deal_bought(&self.show, p.id, buyer)
            .await
            .unwrap()
    }

    /// A pending order of `quantity` of `p` (at the deal price with `deal`).
    async fn order(
        &self,
        buyer: ViewerId,
        p: &Product,
        quantity: i64,
        deal: Option<&Deal>,
        now: Timestamp,
    ) -> Order {
        let line = CartLine {
            quantity,
            deal_ends_at: deal.map(|d| d.ends_at),
        };
        self.store
            .set_cart_line(&self.show, buyer, p.id, Some(line))
            .await
            .unwrap();
        let req = CheckoutRequest {
            viewer: buyer,
            buyer_name: "Kim".into(),
            key: Uuid::new_v4().to_string(),
            body_fingerprint: "body".into(),
            order_id: OrderId(Uuid::now_v7()),
            now,
            reserve_for: chrono::Duration::seconds(RESERVE_S),
            address: None,
            email: None,
            shipping: None,
        };
        match self.store.checkout(&self.show, &req).await.unwrap() {
            CheckoutOutcome::Created(order) => order,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    async fn paid(
        &self,
        buyer: ViewerId,
        p: &Product,
        quantity: i64,
        deal: Option<&Deal>,
        now: Timestamp,
    ) -> Order {
        let order = self.order(buyer, p, quantity, deal, now).await;
        let paid = self.complete(order.id, Completion::Paid { at: now }).await;
        assert_eq!(paid.status, OrderStatus::Paid);
        paid
    }

    async fn complete(&self, order: OrderId, outcome: Completion) -> Order {
        self.store
            .complete_order(&self.show, order, &outcome)
            .await
            .unwrap()
            .expect("a known order")
    }

    async fn stored(&self, order: OrderId) -> Order {
        self.store.order(&self.show, order).await.unwrap().unwrap()
    }

    async fn attach(&self, order: OrderId, with: &PaymentAttachment) -> Attached {
        self.store
            .attach_payment(&self.show, order, with)
            .await
            .unwrap()
    }

    async fn outbox_kinds(&self) -> Vec<String> {
        let events = self
            .store
            .outbox_pending(self.creator.id, 10_000)
            .await
            .unwrap();
        events.into_iter().map(|e| e.kind).collect()
    }

    fn place(&self, order: OrderId) -> IntentOrder {
        IntentOrder {
            creator: self.creator.id,
            show: self.show.id,
            order,
        }
    }
}

// ---- contracts ------------------------------------------------------------------------------

async fn a_payment_attaches_to_a_pending_order_and_finds_it_again(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product(1500, 10).await;
    let order = w.order(viewer(), &mug, 2, None, t(1)).await;
    assert_eq!(
        (order.email.as_deref(), order.payment.as_ref()),
        (None, None)
    );
    assert_eq!(
        w.store.intent_order(&intent("pi_first")).await.unwrap(),
        None
    );

    let first = attachment("pi_first");
    let Attached::Attached(attached) = w.attach(order.id, &first).await else {
        panic!("a pending order takes the payment");
    };
    assert_eq!(attached.email, first.email);
    assert_eq!(attached.shipping, first.shipping);
    assert_eq!(attached.payment, Some(first.payment.clone()));
    assert_eq!(attached.status, OrderStatus::PendingPayment);
    assert_eq!(
        (attached.items.clone(), attached.total),
        (order.items.clone(), order.total)
    );
    assert_eq!(w.stored(order.id).await, attached);
    assert_eq!(
        w.store.intent_order(&intent("pi_first")).await.unwrap(),
        Some(w.place(order.id))
    );
    assert_eq!(w.stock(&mug).await, 8, "attaching takes no stock");

    // A retry after a decline: a new intent replaces the reference, the old one still finds
    // the order (a late event of it must not be lost), and details may change.
    let second = PaymentAttachment {
        email: None,
        shipping: Some(Box::new(Shipping {
            line2: Some("Flat 3".into()),
            state: None,
            ..shipping()
        })),
        ..attachment("pi_second")
    };
    let Attached::Attached(again) = w.attach(order.id, &second).await else {
        panic!("still pending");
    };
    assert_eq!(again.payment, Some(second.payment.clone()));
    assert_eq!(
        (again.email.clone(), again.shipping.clone()),
        (None, second.shipping.clone())
    );
    assert_eq!(w.stored(order.id).await, again);
    for id in ["pi_first", "pi_second"] {
        assert_eq!(
            w.store.intent_order(&intent(id)).await.unwrap(),
            Some(w.place(order.id)),
            "{id}"
        );
    }

    // Unknown orders, and another show's order, are not found and change nothing.
    assert_eq!(
        w.attach(OrderId(Uuid::now_v7()), &attachment("pi_x")).await,
        Attached::NotFound
    );
    let other = w.other().await;
    assert_eq!(
        other.attach(order.id, &attachment("pi_y")).await,
        Attached::NotFound
    );
    for id in ["pi_x", "pi_y"] {
        assert_eq!(w.store.intent_order(&intent(id)).await.unwrap(), None);
    }
    assert_eq!(w.stored(order.id).await, again);

    // A settled order takes no payment and keeps what it had.
    let paid = w.complete(order.id, Completion::Paid { at: t(2) }).await;
    assert_eq!(
        w.attach(order.id, &attachment("pi_late")).await,
        Attached::NotPending(paid.clone())
    );
    assert_eq!(w.stored(order.id).await, paid);
    assert_eq!(
        w.store.intent_order(&intent("pi_late")).await.unwrap(),
        None
    );
}

async fn attached_details_survive_payment_and_expiry(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product(1500, 10).await;
    let with = attachment("pi_paid");

    let order = w.order(viewer(), &mug, 1, None, t(1)).await;
    w.attach(order.id, &with).await;
    let paid = w.complete(order.id, Completion::Paid { at: t(2) }).await;
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(
        (paid.email.clone(), paid.shipping.clone()),
        (with.email.clone(), with.shipping.clone())
    );
    assert_eq!(paid.payment, Some(with.payment.clone()));
    assert_eq!(w.stored(order.id).await, paid);

    let declined = w.order(viewer(), &mug, 1, None, t(3)).await;
    w.attach(declined.id, &attachment("pi_declined")).await;
    let failed = w
        .complete(
            declined.id,
            Completion::Failed {
                reason: "card declined".into(),
                at: t(4),
            },
        )
        .await;
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(failed.payment, Some(attachment("pi_declined").payment));

    let lapsing = w.order(viewer(), &mug, 1, None, t(5)).await;
    w.attach(lapsing.id, &attachment("pi_lapsed")).await;
    let expired = w
        .store
        .expire_reservations(&w.show, t(5 + RESERVE_S + 1))
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].status, OrderStatus::Expired);
    assert_eq!(expired[0].shipping, with.shipping);
    assert_eq!(expired[0].payment, Some(attachment("pi_lapsed").payment));
    assert_eq!(w.stored(lapsing.id).await, expired[0]);
    assert_eq!(w.stock(&mug).await, 9, "only the paid unit is gone");
}

async fn an_event_is_new_once(store: SharedStore) {
    let w = World::new(store).await;
    // Event ids are global; make them unique to this run.
    let tag = Uuid::new_v4().simple().to_string();
    let (a, b) = (event(&format!("evt_a{tag}")), event(&format!("evt_b{tag}")));
    assert!(w.store.record_event(&a, t(0)).await.unwrap());
    assert!(
        !w.store.record_event(&a, t(1)).await.unwrap(),
        "a redelivery"
    );
    assert!(
        w.store.record_event(&b, t(1)).await.unwrap(),
        "another event"
    );
    assert!(!w.store.record_event(&a, t(3600)).await.unwrap());

    // A handler that failed forgets the event, so the processor's retry is handled.
    w.store.forget_event(&a).await.unwrap();
    assert!(w.store.record_event(&a, t(3601)).await.unwrap());
    assert!(!w.store.record_event(&a, t(3602)).await.unwrap());
    w.store
        .forget_event(&event("evt_never_seen"))
        .await
        .unwrap();

    // Remembered for EVENT_MEMORY from when it was recorded, by the caller's clock.
    let memory = EVENT_MEMORY.num_seconds();
    assert!(!w.store.record_event(&b, t(1 + memory - 1)).await.unwrap());
    assert!(w.store.record_event(&b, t(1 + memory)).await.unwrap());
    assert!(!w.store.record_event(&b, t(1 + memory + 1)).await.unwrap());
}

async fn one_of_many_racing_deliveries_of_an_event_is_new(store: SharedStore) {
    let id = event(&format!("evt_race{}", Uuid::new_v4().simple()));
    let racers: Vec<_> = (0..32)
        .map(|i| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { store.record_event(&id, t(i)).await.unwrap() })
        })
        .collect();
    let mut fresh = 0;
    for r in racers {
        fresh += usize::from(r.await.unwrap());
    }
    assert_eq!(fresh, 1);
}

async fn a_refund_gives_stock_and_deal_units_back_once(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product(1500, 20).await;
    let deal = w.deal(&mug, 5, 3, t(0)).await;
    let kim = viewer();
    let order = w.order(kim, &mug, 2, Some(&deal), t(1)).await;
    assert!(order.items.iter().all(|l| l.deal));
    w.attach(order.id, &attachment("pi_refund")).await;
    let paid = w.complete(order.id, Completion::Paid { at: t(2) }).await;
    assert_eq!(
        (
            w.stock(&mug).await,
            w.remaining(&mug).await,
            w.bought(&mug, kim).await
        ),
        (18, 3, 2)
    );

    let refunded = w
        .store
        .refund_order(&w.show, order.id, t(30))
        .await
        .unwrap()
        .expect("a paid order is refunded");
    assert_eq!(refunded.status, OrderStatus::Refunded);
    assert_eq!(refunded.refunded_at, Some(t(30)));
    assert_eq!(
        Order {
            status: OrderStatus::Paid,
            refunded_at: None,
            ..refunded.clone()
        },
        paid,
        "nothing else changes"
    );
    assert_eq!(w.stored(order.id).await, refunded);
    assert_eq!(
        (
            w.stock(&mug).await,
            w.remaining(&mug).await,
            w.bought(&mug, kim).await
        ),
        (20, 5, 0)
    );
    assert_eq!(
        w.outbox_kinds().await,
        ["order.created", "order.paid", "order.refunded"]
    );
    let events = w.store.outbox_pending(w.creator.id, 10).await.unwrap();
    let body: serde_json::Value = serde_json::from_str(&events[2].body).unwrap();
    assert_eq!(body["type"], "order.refunded");
    assert_eq!(body["order"]["status"], "refunded");
    assert_eq!(body["order"]["payment"]["intent_id"], "pi_refund");

    // Twice is refused, and changes nothing.
    let again = w
        .store
        .refund_order(&w.show, order.id, t(31))
        .await
        .unwrap();
    let e = again.expect_err("a refunded order is not refunded again");
    assert_eq!(
        (e.kind, e.code),
        (ErrorKind::Conflict, "order_not_refundable".parse_code())
    );
    assert_eq!(w.stored(order.id).await, refunded);
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (20, 5));
    assert_eq!(w.outbox_kinds().await.len(), 3);

    // A later deal does not get the old deal's units.
    let paid_plain = w.paid(kim, &mug, 1, None, t(40)).await;
    let next_deal = w.deal(&mug, 4, 2, t(50)).await;
    let in_next = w.paid(kim, &mug, 1, Some(&next_deal), t(51)).await;
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (18, 3));
    w.store
        .refund_order(&w.show, paid_plain.id, t(60))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (19, 3));
    w.store
        .refund_order(&w.show, in_next.id, t(61))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            w.stock(&mug).await,
            w.remaining(&mug).await,
            w.bought(&mug, kim).await
        ),
        (20, 4, 0)
    );
}

/// `"text".parse_code()`: the `Code` whose wire text this is.
trait ParseCode {
    fn parse_code(&self) -> livesale::domain::Code;
}

impl ParseCode for str {
    fn parse_code(&self) -> livesale::domain::Code {
        livesale::domain::Code::parse(self).expect("a known code")
    }
}

async fn only_a_paid_order_of_this_show_is_refunded(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product(1500, 10).await;
    let pending = w.order(viewer(), &mug, 1, None, t(1)).await;
    let failed = w.order(viewer(), &mug, 1, None, t(1)).await;
    w.complete(
        failed.id,
        Completion::Failed {
            reason: "declined".into(),
            at: t(2),
        },
    )
    .await;
    let lapsing = w.order(viewer(), &mug, 1, None, t(1)).await;
    let paid = w.paid(viewer(), &mug, 1, None, t(1)).await;
    // `pending` is still pending at t(1 + RESERVE_S - 1); `lapsing` was placed at the same
    // time, so expire both and take a fresh pending one.
    w.store
        .expire_reservations(&w.show, t(2 + RESERVE_S))
        .await
        .unwrap();
    let still_pending = w.order(viewer(), &mug, 1, None, t(3 + RESERVE_S)).await;
    let before = (w.stock(&mug).await, w.store.orders(&w.show).await.unwrap());
    assert_eq!(before.0, 8, "the paid one and the pending one hold stock");

    for (order, status) in [
        (&still_pending, "pending_payment"),
        (&failed, "failed"),
        (&lapsing, "expired"),
        (&pending, "expired"),
    ] {
        let e = w
            .store
            .refund_order(&w.show, order.id, t(5 + RESERVE_S))
            .await
            .unwrap()
            .expect_err("not paid");
        assert_eq!(e.kind, ErrorKind::Conflict, "{status}");
        assert_eq!(e.code, "order_not_refundable", "{status}");
        assert!(e.message.contains(status), "{status}: {}", e.message);
    }
    // Unknown, or another creator's show asked for this show's order: not found.
    let other = w.other().await;
    for (world, id) in [(&w, OrderId(Uuid::now_v7())), (&other, paid.id)] {
        let e = world
            .store
            .refund_order(&world.show, id, t(6 + RESERVE_S))
            .await
            .unwrap()
            .expect_err("not in this show");
        assert_eq!(
            (e.kind, e.code),
            (ErrorKind::NotFound, "not_found".parse_code())
        );
    }
    assert_eq!(
        (w.stock(&mug).await, w.store.orders(&w.show).await.unwrap()),
        before,
        "refusals change nothing"
    );
    assert_eq!(w.stored(paid.id).await.status, OrderStatus::Paid);
}

async fn racing_refunds_release_once(store: SharedStore) {
    let w = Arc::new(World::new(store).await);
    let mug = w.product(1500, 10).await;
    let deal = w.deal(&mug, 6, 6, t(0)).await;
    let kim = viewer();
    let paid = w.paid(kim, &mug, 3, Some(&deal), t(1)).await;
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (7, 3));
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let w = w.clone();
            tokio::spawn(async move {
                w.store
                    .refund_order(&w.show, paid.id, t(10 + i))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut refunded = 0;
    for r in racers {
        match r.await.unwrap() {
            Ok(order) => {
                assert_eq!(order.status, OrderStatus::Refunded);
                refunded += 1;
            }
            Err(e) => assert_eq!(e.code, "order_not_refundable"),
        }
    }
    assert_eq!(refunded, 1);
    assert_eq!(
        (
            w.stock(&mug).await,
            w.remaining(&mug).await,
            w.bought(&mug, kim).await
        ),
        (10, 6, 0)
    );
    let kinds = w.outbox_kinds().await;
    assert_eq!(kinds.iter().filter(|k| *k == "order.refunded").count(), 1);
}

/// The webhook's `payment_intent.succeeded` may arrive after the sweeper expired the order
/// (its stock is back and may be sold again). `complete_order(Paid)` then changes nothing and
/// answers the order as it is, `expired`: the caller sees a status other than `paid` and
/// refunds the payment at the processor. No `order.paid` event is written, no stock is taken.
async fn a_late_payment_after_expiry_is_answered_with_the_expired_order(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product(1500, 3).await;
    let order = w.order(viewer(), &mug, 2, None, t(1)).await;
    w.attach(order.id, &attachment("pi_late_success")).await;
    let expired = w
        .store
        .expire_reservations(&w.show, t(1 + RESERVE_S))
        .await
        .unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(w.stock(&mug).await, 3);
    // Someone else buys the units that came back.
    let other = w.paid(viewer(), &mug, 3, None, t(2 + RESERVE_S)).await;
    assert_eq!(w.stock(&mug).await, 0);

    let late = w
        .store
        .complete_order(
            &w.show,
            order.id,
            &Completion::Paid {
                at: t(3 + RESERVE_S),
            },
        )
        .await
        .unwrap()
        .expect("the order is known");
    assert_eq!(
        late.status,
        OrderStatus::Expired,
        "not paid: the caller must refund"
    );
    assert_eq!(late.paid_at, None);
    assert_eq!(late, expired[0]);
    assert_eq!(w.stored(order.id).await, expired[0]);
    assert_eq!(w.stock(&mug).await, 0, "no unit is sold twice");
    assert_eq!(
        w.store
            .intent_order(&intent("pi_late_success"))
            .await
            .unwrap(),
        Some(w.place(order.id)),
        "the webhook finds the order by its intent"
    );
    assert_eq!(
        w.outbox_kinds().await,
        [
            "order.created",
            "order.expired",
            "order.created",
            "order.paid"
        ]
    );
    assert_eq!(w.stored(other.id).await.status, OrderStatus::Paid);
    // Nor can an expired order be refunded in the store: the money goes back at the processor
    // only, the stock already came back when it expired.
    let e = w
        .store
        .refund_order(&w.show, order.id, t(4 + RESERVE_S))
        .await
        .unwrap()
        .expect_err("expired");
    assert_eq!(e.code, "order_not_refundable");
}

async fn saved_customers_are_per_creator_and_viewer(store: SharedStore) {
    let w = World::new(store).await;
    let other = w.other().await;
    let (kim, lee) = (viewer(), viewer());
    let get = |c: CreatorId, v: ViewerId| {
        let store = w.store.clone();
        async move { store.customer(c, v).await.unwrap() }
    };
    assert_eq!(get(w.creator.id, kim).await, None);
    w.store
        .set_customer(w.creator.id, kim, Some(&customer("cus_kim1")))
        .await
        .unwrap();
    assert_eq!(get(w.creator.id, kim).await, Some(customer("cus_kim1")));
    assert_eq!(get(w.creator.id, lee).await, None);
    assert_eq!(get(other.creator.id, kim).await, None, "per creator");

    w.store
        .set_customer(other.creator.id, kim, Some(&customer("cus_kim2")))
        .await
        .unwrap();
    w.store
        .set_customer(w.creator.id, kim, Some(&customer("cus_kim3")))
        .await
        .unwrap();
    assert_eq!(get(w.creator.id, kim).await, Some(customer("cus_kim3")));
    assert_eq!(get(other.creator.id, kim).await, Some(customer("cus_kim2")));

    w.store.set_customer(w.creator.id, kim, None).await.unwrap();
    assert_eq!(get(w.creator.id, kim).await, None);
    assert_eq!(get(other.creator.id, kim).await, Some(customer("cus_kim2")));
    // Clearing what is not there is fine.
    w.store.set_customer(w.creator.id, lee, None).await.unwrap();
}

// ---- outside the store ----------------------------------------------------------------------

/// Orders stored before payments existed have none of the new fields: they still decode,
/// and an order without them is written without them; the one field always written, its
/// sales channel, reads as `live` and is written as such (as the Redis scripts write it).
#[test]
fn orders_without_payment_fields_round_trip() {
    let old = r#"{"id":"0190b6a2-7c4e-7000-8000-000000000001","show_id":"0190b6a2-7c4e-7000-8000-000000000002","viewer_id":"0190b6a2-7c4e-7000-8000-000000000003","buyer_name":"Kim","status":"paid","items":[],"total":{"amount":0,"currency":"USD"},"created_at":"2027-01-15T08:00:00Z","reserved_until":"2027-01-15T08:02:00Z","paid_at":"2027-01-15T08:00:01Z","failure":null}"#;
    let order: Order = serde_json::from_str(old).unwrap();
    assert_eq!(
        (
            order.email,
            order.shipping,
            order.payment,
            order.refunded_at
        ),
        (None, None, None, None)
    );
    let order: Order = serde_json::from_str(old).unwrap();
    assert_eq!(
        order.channel,
        livesale::domain::commerce::SalesChannel::Live
    );
    let written = format!("{},\"channel\":\"live\"}}", &old[..old.len() - 1]);
    assert_eq!(serde_json::to_string(&order).unwrap(), written);
    let refunded = r#""status":"refunded""#;
    let with: Order = serde_json::from_str(&old.replace(r#""status":"paid""#, refunded)).unwrap();
    assert_eq!(with.status, OrderStatus::Refunded);
}

// ---- Redis only -----------------------------------------------------------------------------

mod redis_only {
    use super::*;

    async fn stored_json(prefix: &str, w: &World, order: OrderId) -> String {
        let key = format!("{prefix}:{{c:{}}}:show:{}:orders", w.creator.id, w.show.id);
        redis::cmd("HGET")
            .arg(key)
            .arg(order.to_string())
            .query_async(&mut raw_connection().await)
            .await
            .unwrap()
    }

    /// The scripts write orders field by field; with the payment fields too, what they store
    /// is exactly what serde writes (quotes, backslashes, slashes and non-ASCII included), at
    /// every step: attached, paid, refunded, and a second attach without email or state.
    #[tokio::test]
    async fn stored_orders_with_payments_are_the_json_serde_writes() {
        bounded(async {
            let prefix = unique_prefix("payment-json");
            let w = World::new(Arc::new(connect(&prefix).await)).await;
            let mug = w.product(1500, 10).await;
            let order = w.order(viewer(), &mug, 1, None, t(1)).await;
            let Attached::Attached(attached) = w.attach(order.id, &attachment("pi_json")).await
            else {
                panic!("pending");
            };
            assert_eq!(
                stored_json(&prefix, &w, order.id).await,
                serde_json::to_string(&attached).unwrap()
            );
            let bare = PaymentAttachment {
                email: None,
                shipping: Some(Box::new(Shipping {
                    state: None,
                    line2: Some("Étage 2 / porte \"B\"".into()),
                    ..shipping()
                })),
                ..attachment("pi_json2")
            };
            let Attached::Attached(again) = w.attach(order.id, &bare).await else {
                panic!("pending");
            };
            assert_eq!(
                stored_json(&prefix, &w, order.id).await,
                serde_json::to_string(&again).unwrap()
            );
            let paid = w.complete(order.id, Completion::Paid { at: t(2) }).await;
            assert_eq!(
                stored_json(&prefix, &w, order.id).await,
                serde_json::to_string(&paid).unwrap()
            );
            let refunded = w
                .store
                .refund_order(&w.show, order.id, t(3) + chrono::Duration::nanoseconds(5))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                refunded.refunded_at,
                Some(t(3) + chrono::Duration::nanoseconds(5))
            );
            assert_eq!(
                stored_json(&prefix, &w, order.id).await,
                serde_json::to_string(&refunded).unwrap()
            );
        })
        .await;
    }

    /// Saved customers live in the creator's slot; the intent index and event ids are global.
    #[tokio::test]
    async fn payment_keys_sit_where_the_module_doc_says() {
        bounded(async {
            let prefix = unique_prefix("payment-keys");
            let w = World::new(Arc::new(connect(&prefix).await)).await;
            let mug = w.product(1500, 10).await;
            let order = w.order(viewer(), &mug, 1, None, t(1)).await;
            w.attach(order.id, &attachment("pi_keys")).await;
            let kim = viewer();
            w.store
                .set_customer(w.creator.id, kim, Some(&customer("cus_keys")))
                .await
                .unwrap();
            assert!(
                w.store
                    .record_event(&event("evt_keys"), t(1))
                    .await
                    .unwrap()
            );
            let mut con = raw_connection().await;
            let entry: String = redis::cmd("HGET")
                .arg(format!("{prefix}:idx:intent"))
                .arg("pi_keys")
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(
                entry,
                format!("{}:{}:{}", w.creator.id, w.show.id, order.id)
            );
            let saved: String = redis::cmd("HGET")
                .arg(format!("{prefix}:{{c:{}}}:stripe-customers", w.creator.id))
                .arg(kim.to_string())
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(saved, "cus_keys");
            let ttl: i64 = redis::cmd("PTTL")
                .arg(format!("{prefix}:stripe-event:evt_keys"))
                .query_async(&mut con)
                .await
                .unwrap();
            let memory = EVENT_MEMORY.num_milliseconds();
            assert!(ttl > memory && ttl <= memory + 60_000, "{ttl}");

            // Foreign data in the index is Corrupt, never a panic.
            let () = redis::cmd("HSET")
                .arg(format!("{prefix}:idx:intent"))
                .arg("pi_bad")
                .arg("not-an-entry")
                .query_async(&mut con)
                .await
                .unwrap();
            let got = w.store.intent_order(&intent("pi_bad")).await;
            assert!(
                matches!(got, Err(livesale::store::StoreError::Corrupt(_))),
                "{got:?}"
            );
        })
        .await;
    }
}
