//! The commerce part of the `Store` contract (pins and deals, carts, checkout, orders,
//! reservations, webhooks, the outbox), written once and run against [`MemoryStore`] (the
//! reference) and [`RedisStore`]: `commerce_tests!` turns each contract into
//! `memory_store::<name>` and `redis_store::<name>`. Everything is set up through the `Store`
//! trait. The Redis runs use `LIVESALE_TEST_REDIS_URL` under a unique key prefix per test; the
//! tests at the bottom check what only Redis has (the cart's TTL, the stream and its consumer
//! group, the hash tags, the exact stored JSON, a restart). Every test is bounded in time.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::DateTime;
use livesale::domain::commerce::{
    CartLine, CartLines, Deal, DealState, DealTerms, LineFacts, Order, OrderLine, OrderStatus, Pin,
    SalesChannel, plan_checkout,
};
use livesale::domain::error::ErrorKind;
use livesale::domain::{
    Creator, CreatorId, Money, NewProduct, NewShow, OrderId, Product, ProductId, Show, ShowId,
    ShowStatus, Timestamp, ViewerId,
};
use livesale::store::commerce::{AddressAllowance, event_body};
use livesale::store::{
    CheckoutOutcome, CheckoutRequest, Completion, OutboxEvent, PinState, SharedStore, Webhook,
};
use uuid::Uuid;

use common::redis::{keys_under, raw_connection, unique_prefix};
use common::stores::{bounded, connect};

/// Deadline of one store call (generous: 2,000 checkouts share one connection in the race).
/// Deadline of one whole test.
/// A time in 2027; tests count seconds from it.
const T0_MS: i64 = 1_800_000_000_000;

store_contracts!(
    pins_follow_the_lineup_and_the_limit,
    a_deal_pin_starts_afresh,
    cart_lines_set_and_remove,
    a_given_back_cart_keeps_what_was_added_since,
    checkout_reserves_stock_and_creates_the_order,
    large_amounts_stay_exact,
    checkout_is_idempotent,
    refusals_change_nothing,
    an_ended_show_sells_from_its_replay_and_a_cancelled_one_refuses,
    complete_order_pays_or_releases_once,
    a_placed_order_settles_from_the_stored_one,
    release_returns_deal_units_only_to_their_deal,
    expire_reservations_releases_due_orders,
    two_thousand_buyers_race_for_a_hundred_units,
    one_buyer_racing_itself_stays_within_the_limit,
    deal_limits_hold_per_address_too,
    outbox_pending_until_acknowledged,
    webhooks_round_trip,
);

// ---- fixtures -------------------------------------------------------------------------------

fn at(ms: i64) -> Timestamp {
    DateTime::from_timestamp_millis(ms).expect("a valid timestamp")
}

/// `s` seconds after T0.
fn t(s: i64) -> Timestamp {
    at(T0_MS + s * 1000)
}

fn creator(name: &str) -> Creator {
    Creator::new(CreatorId(Uuid::now_v7()), name, t(-100_000)).expect("valid creator")
}

/// One creator's show with helpers to set up products, pins, carts and checkouts.
struct World {
    store: SharedStore,
    creator: Creator,
    show: Show,
}

impl World {
    async fn new(store: SharedStore) -> World {
        let creator = creator("Ada");
        store.insert_creator(&creator).await.unwrap();
        let show = show_of(&store, &creator).await;
        World {
            store,
            creator,
            show,
        }
    }

    /// A product of this creator in the show's lineup.
    async fn product(&self, title: &str, price: i64, currency: &str, stock: i64) -> Product {
        let p = self.product_off_lineup(title, price, currency, stock).await;
        self.store.add_to_lineup(&self.show, p.id).await.unwrap();
        p
    }

    async fn product_off_lineup(
        &self,
        title: &str,
        price: i64,
        currency: &str,
        stock: i64,
    ) -> Product {
        insert_product(&self.store, &self.creator, title, price, currency, stock).await
    }

    async fn stock(&self, p: &Product) -> i64 {
        self.store.product(p.id).await.unwrap().unwrap().stock
    }

    async fn pin_state(&self, p: &Product) -> Option<PinState> {
        let pins = self.store.pins(&self.show).await.unwrap();
        pins.into_iter().find(|s| s.pin.product_id == p.id)
    }

    async fn remaining(&self, p: &Product) -> i64 {
        self.pin_state(p).await.map_or(0, |s| s.deal.remaining)
    }

    async fn bought(&self, p: &Product, viewer: ViewerId) -> i64 {
        self.store
            .deal_bought(&self.show, p.id, viewer)
            .await
            .unwrap()
    }

    async fn pin_deal(
        &self,
        p: &Product,
        price: i64,
        quantity: i64,
        per_buyer_limit: i64,
        duration_s: u64,
        now: Timestamp,
    ) -> Deal {
        let deal = DealTerms {
            price,
            quantity,
            per_buyer_limit,
            duration_s,
        }
        .into_deal(p, now)
        .expect("valid deal");
        let pin = Pin {
            product_id: p.id,
            pinned_at: now,
            deal: Some(deal.clone()),
        };
        self.store
            .pin(&self.show, &pin)
            .await
            .unwrap()
            .expect("pinned");
        deal
    }

    async fn pin_plain(&self, p: &Product, now: Timestamp) -> Vec<PinState> {
        let pin = Pin {
            product_id: p.id,
            pinned_at: now,
            deal: None,
        };
        self.store
            .pin(&self.show, &pin)
            .await
            .unwrap()
            .expect("pinned")
    }

    /// Puts `quantity` of `p` in the viewer's cart, under `deal` when given (as
    /// `check_cart_line` records a line added at the deal price).
    async fn add(&self, viewer: ViewerId, p: &Product, quantity: i64, deal: Option<&Deal>) {
        let line = CartLine {
            quantity,
            deal_ends_at: deal.map(|d| d.ends_at),
        };
        self.store
            .set_cart_line(&self.show, viewer, p.id, Some(line))
            .await
            .unwrap();
    }

    fn request(&self, viewer: ViewerId, key: &str, now: Timestamp) -> CheckoutRequest {
        CheckoutRequest {
            viewer,
            buyer_name: "Kim".into(),
            key: key.into(),
            body_fingerprint: "body-1".into(),
            order_id: OrderId(Uuid::now_v7()),
            now,
            reserve_for: chrono::Duration::seconds(600),
            address: None,
            email: None,
            shipping: None,
        }
    }

    async fn checkout(&self, viewer: ViewerId, key: &str, now: Timestamp) -> CheckoutOutcome {
        self.store
            .checkout(&self.show, &self.request(viewer, key, now))
            .await
            .unwrap()
    }

    async fn created(&self, viewer: ViewerId, key: &str, now: Timestamp) -> Order {
        match self.checkout(viewer, key, now).await {
            CheckoutOutcome::Created(order) => order,
            other => panic!("expected an order, got {other:?}"),
        }
    }

    async fn outbox(&self) -> Vec<OutboxEvent> {
        self.store
            .outbox_pending(self.creator.id, 10_000)
            .await
            .unwrap()
    }

    async fn outbox_kinds(&self) -> Vec<String> {
        self.outbox().await.into_iter().map(|e| e.kind).collect()
    }

    /// Everything a refused checkout must leave as it was.
    async fn snapshot(&self, products: &[&Product], viewer: ViewerId) -> Snapshot {
        let mut stock = Vec::new();
        let mut bought = Vec::new();
        for p in products {
            stock.push(self.stock(p).await);
            bought.push(self.bought(p, viewer).await);
        }
        Snapshot {
            stock,
            bought,
            pins: self.store.pins(&self.show).await.unwrap(),
            cart: self.store.cart(&self.show, viewer).await.unwrap(),
            orders: self.store.orders(&self.show).await.unwrap(),
            outbox: self.outbox().await.len(),
        }
    }

    /// What `plan_checkout` makes of the viewer's cart with the store's current facts.
    async fn plan(&self, viewer: ViewerId, now: Timestamp) -> (Vec<OrderLine>, Money) {
        let cart = self.store.cart(&self.show, viewer).await.unwrap();
        let pins = self.store.pins(&self.show).await.unwrap();
        let mut products = Vec::new();
        let mut bought = Vec::new();
        for id in cart.keys() {
            products.push(self.store.product(*id).await.unwrap().unwrap());
            bought.push(
                self.store
                    .deal_bought(&self.show, *id, viewer)
                    .await
                    .unwrap(),
            );
        }
        let facts: Vec<(CartLine, LineFacts<'_>)> = cart
            .values()
            .zip(&products)
            .zip(&bought)
            .map(|((line, product), bought)| {
                let pin = pins.iter().find(|p| p.pin.product_id == product.id);
                (
                    *line,
                    LineFacts {
                        product,
                        pin: pin.map(|p| &p.pin),
                        deal: pin.map(|p| p.deal).unwrap_or_default(),
                        bought_in_deal: *bought,
                    },
                )
            })
            .collect();
        plan_checkout(&facts, now).expect("the domain accepts this cart")
    }
}

#[derive(Debug, PartialEq)]
struct Snapshot {
    stock: Vec<i64>,
    bought: Vec<i64>,
    pins: Vec<PinState>,
    cart: CartLines,
    orders: Vec<Order>,
    outbox: usize,
}

async fn show_of(store: &SharedStore, creator: &Creator) -> Show {
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
    .expect("valid show");
    store.insert_show(&show).await.unwrap();
    show
}

async fn insert_product(
    store: &SharedStore,
    creator: &Creator,
    title: &str,
    price: i64,
    currency: &str,
    stock: i64,
) -> Product {
    let p = Product::create(
        ProductId(Uuid::new_v4()),
        creator.id,
        NewProduct {
            sku: format!("SKU-{}", Uuid::new_v4().simple()),
            title: title.into(),
            description: None,
            image_url: None,
            price: Money::price(price, currency).expect("valid price"),
            stock,
        },
        t(-50_000),
    )
    .expect("valid product");
    assert!(store.insert_product(&p).await.unwrap());
    p
}

fn viewer() -> ViewerId {
    ViewerId(Uuid::new_v4())
}

fn refused_code(outcome: &CheckoutOutcome) -> &'static str {
    match outcome {
        CheckoutOutcome::Refused(e) => e.code.as_str(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// ---- contracts ------------------------------------------------------------------------------

async fn pins_follow_the_lineup_and_the_limit(store: SharedStore) {
    let w = World::new(store).await;
    let mut ps = Vec::new();
    for i in 0..4 {
        ps.push(w.product(&format!("Item {i}"), 1000, "USD", 10).await);
    }
    let stranger = w.product_off_lineup("Stranger", 1000, "USD", 10).await;
    assert!(w.store.pins(&w.show).await.unwrap().is_empty());

    for p in &ps[..3] {
        w.pin_plain(p, t(1)).await;
    }
    let ids = |pins: &[PinState]| pins.iter().map(|s| s.pin.product_id).collect::<Vec<_>>();
    assert_eq!(
        ids(&w.store.pins(&w.show).await.unwrap()),
        [ps[0].id, ps[1].id, ps[2].id]
    );

    let fourth = Pin {
        product_id: ps[3].id,
        pinned_at: t(2),
        deal: None,
    };
    let e = w.store.pin(&w.show, &fourth).await.unwrap().unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.kind),
        ("too_many_pins", ErrorKind::Conflict)
    );
    let outsider = Pin {
        product_id: stranger.id,
        pinned_at: t(2),
        deal: None,
    };
    let e = w.store.pin(&w.show, &outsider).await.unwrap().unwrap_err();
    assert_eq!(
        (e.code.as_str(), e.kind),
        ("not_in_lineup", ErrorKind::Invalid)
    );
    assert_eq!(
        w.store.pins(&w.show).await.unwrap().len(),
        3,
        "refusals change nothing"
    );

    // Re-pinning replaces the pin and moves it last.
    let again = w.pin_plain(&ps[0], t(3)).await;
    assert_eq!(ids(&again), [ps[1].id, ps[2].id, ps[0].id]);
    assert_eq!(again[2].pin.pinned_at, t(3));
    assert_eq!(again, w.store.pins(&w.show).await.unwrap());

    let after = w
        .store
        .unpin(&w.show, ps[1].id)
        .await
        .unwrap()
        .expect("was pinned");
    assert_eq!(ids(&after), [ps[2].id, ps[0].id]);
    assert_eq!(w.store.unpin(&w.show, ps[1].id).await.unwrap(), None);
    assert_eq!(w.store.unpin(&w.show, stranger.id).await.unwrap(), None);
    // Room again for the fourth.
    let pins = w.store.pin(&w.show, &fourth).await.unwrap().unwrap();
    assert_eq!(ids(&pins), [ps[2].id, ps[0].id, ps[3].id]);
    assert!(pins.iter().all(|s| s.deal == DealState { remaining: 0 }));
}

async fn a_deal_pin_starts_afresh(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 100).await;
    let cup = w.product("Cup", 900, "USD", 100).await;
    let buyer = viewer();

    let deal = w.pin_deal(&mug, 1500, 10, 2, 600, t(0)).await;
    let state = w.pin_state(&mug).await.unwrap();
    assert_eq!(state.pin.deal.as_ref(), Some(&deal));
    assert_eq!(state.deal.remaining, 10);

    w.add(buyer, &mug, 2, Some(&deal)).await;
    w.created(buyer, "k1", t(1)).await;
    assert_eq!(w.remaining(&mug).await, 8);
    assert_eq!(w.bought(&mug, buyer).await, 2);

    // Pinning another product leaves this deal's numbers alone.
    w.pin_deal(&cup, 800, 5, 1, 600, t(2)).await;
    assert_eq!(w.remaining(&mug).await, 8);
    assert_eq!(w.remaining(&cup).await, 5);

    // A new deal: its own quantity, no buyers yet; the units sold stay sold.
    let second = w.pin_deal(&mug, 1200, 4, 1, 600, t(3)).await;
    assert_eq!(w.remaining(&mug).await, 4);
    assert_eq!(w.bought(&mug, buyer).await, 0);
    assert_eq!(w.stock(&mug).await, 98);
    assert_eq!(w.pin_state(&mug).await.unwrap().pin.deal, Some(second));

    // A plain re-pin ends the deal; buyer counts stay until a new deal.
    w.add(
        buyer,
        &mug,
        1,
        w.pin_state(&mug).await.unwrap().pin.deal.as_ref(),
    )
    .await;
    w.created(buyer, "k2", t(4)).await;
    assert_eq!(w.bought(&mug, buyer).await, 1);
    w.pin_plain(&mug, t(5)).await;
    let state = w.pin_state(&mug).await.unwrap();
    assert_eq!((state.pin.deal, state.deal.remaining), (None, 0));
    assert_eq!(w.bought(&mug, buyer).await, 1);
}

/// A failed order's lines come back to the cart; a product put in the cart since keeps its
/// line, and the cart never passes its product limit.
async fn a_given_back_cart_keeps_what_was_added_since(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 100).await;
    let cup = w.product("Cup", 900, "USD", 100).await;
    let kim = viewer();
    let line = |quantity, deal_ends_at| CartLine {
        quantity,
        deal_ends_at,
    };
    w.add(kim, &cup, 3, None).await;
    let given: CartLines =
        BTreeMap::from([(mug.id, line(2, Some(t(600)))), (cup.id, line(1, None))]);
    w.store.give_back_cart(&w.show, kim, &given).await.unwrap();
    let expected: CartLines =
        BTreeMap::from([(mug.id, line(2, Some(t(600)))), (cup.id, line(3, None))]);
    assert_eq!(w.store.cart(&w.show, kim).await.unwrap(), expected);

    // Full: nothing more comes back.
    let lee = viewer();
    let mut many = Vec::new();
    for n in 0..livesale::domain::commerce::MAX_CART_ITEMS {
        let p = w.product(&format!("P{n}"), 100, "USD", 10).await;
        w.add(lee, &p, 1, None).await;
        many.push(p.id);
    }
    w.store.give_back_cart(&w.show, lee, &given).await.unwrap();
    let cart = w.store.cart(&w.show, lee).await.unwrap();
    assert_eq!(cart.len(), livesale::domain::commerce::MAX_CART_ITEMS);
    assert!(!cart.contains_key(&mug.id) && !cart.contains_key(&cup.id));
}

async fn cart_lines_set_and_remove(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 100).await;
    let cup = w.product("Cup", 900, "USD", 100).await;
    let (kim, lee) = (viewer(), viewer());
    assert!(w.store.cart(&w.show, kim).await.unwrap().is_empty());

    let deal = w.pin_deal(&mug, 1500, 10, 5, 600, t(0)).await;
    w.add(kim, &mug, 2, Some(&deal)).await;
    w.add(kim, &cup, 1, None).await;
    w.add(kim, &cup, 3, None).await;
    w.add(lee, &cup, 7, None).await;
    let expected: CartLines = BTreeMap::from([
        (
            mug.id,
            CartLine {
                quantity: 2,
                deal_ends_at: Some(deal.ends_at),
            },
        ),
        (
            cup.id,
            CartLine {
                quantity: 3,
                deal_ends_at: None,
            },
        ),
    ]);
    assert_eq!(w.store.cart(&w.show, kim).await.unwrap(), expected);
    assert_eq!(w.store.cart(&w.show, lee).await.unwrap().len(), 1);

    w.store
        .set_cart_line(&w.show, kim, mug.id, None)
        .await
        .unwrap();
    w.store
        .set_cart_line(&w.show, kim, mug.id, None)
        .await
        .unwrap();
    assert_eq!(
        w.store
            .cart(&w.show, kim)
            .await
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [&cup.id]
    );
    w.store
        .set_cart_line(&w.show, kim, cup.id, None)
        .await
        .unwrap();
    assert!(w.store.cart(&w.show, kim).await.unwrap().is_empty());
    assert_eq!(
        w.store.cart(&w.show, lee).await.unwrap().len(),
        1,
        "carts are per viewer"
    );

    // Carts are per show too.
    let other = show_of(&w.store, &w.creator).await;
    assert!(w.store.cart(&other, lee).await.unwrap().is_empty());
}

async fn checkout_reserves_stock_and_creates_the_order(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 50).await;
    let cup = w.product("Cup", 900, "USD", 20).await;
    let buyer = viewer();
    let deal = w.pin_deal(&mug, 1500, 10, 3, 600, t(0)).await;
    w.add(buyer, &mug, 3, Some(&deal)).await;
    w.add(buyer, &cup, 2, None).await;

    let (items, total) = w.plan(buyer, t(5)).await;
    let req = w.request(buyer, "key-1", t(5));
    let order = match w.store.checkout(&w.show, &req).await.unwrap() {
        CheckoutOutcome::Created(order) => order,
        other => panic!("expected an order, got {other:?}"),
    };
    assert_eq!(order.id, req.order_id);
    assert_eq!(order.show_id, w.show.id);
    assert_eq!(order.viewer_id, buyer);
    assert_eq!(order.buyer_name, "Kim");
    assert_eq!(order.status, OrderStatus::PendingPayment);
    assert_eq!(order.items, items, "the lines plan_checkout computes");
    assert_eq!(order.total, total);
    assert_eq!(
        order.total,
        Money::price(3 * 1500 + 2 * 900, "USD").unwrap()
    );
    assert!(order.items.iter().any(|l| l.product_id == mug.id && l.deal));
    assert!(
        order
            .items
            .iter()
            .any(|l| l.product_id == cup.id && !l.deal)
    );
    assert_eq!(order.created_at, t(5));
    assert_eq!(order.reserved_until, t(5) + chrono::Duration::seconds(600));
    assert_eq!((order.paid_at, order.failure.clone()), (None, None));

    assert_eq!(w.stock(&mug).await, 47);
    assert_eq!(w.stock(&cup).await, 18);
    assert_eq!(w.remaining(&mug).await, 7);
    assert_eq!(w.bought(&mug, buyer).await, 3);
    assert_eq!(w.bought(&cup, buyer).await, 0);
    assert!(
        w.store.cart(&w.show, buyer).await.unwrap().is_empty(),
        "the cart is emptied"
    );

    assert_eq!(
        w.store.orders(&w.show).await.unwrap(),
        std::slice::from_ref(&order)
    );
    assert_eq!(
        w.store.viewer_orders(&w.show, buyer).await.unwrap(),
        std::slice::from_ref(&order)
    );
    assert!(
        w.store
            .viewer_orders(&w.show, viewer())
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        w.store.order(&w.show, order.id).await.unwrap(),
        Some(order.clone())
    );
    assert_eq!(
        w.store
            .order(&w.show, OrderId(Uuid::now_v7()))
            .await
            .unwrap(),
        None
    );
    assert!(
        w.store
            .shows_with_reservations()
            .await
            .unwrap()
            .contains(&w.show.id)
    );

    let events = w.outbox().await;
    assert_eq!(events.len(), 1);
    let event = &events[0];
    assert_eq!(
        (event.kind.as_str(), event.creator),
        ("order.created", w.creator.id)
    );
    assert_eq!(
        event.body,
        event_body(&event.id, "order.created", t(5), &order)
    );
    let body: serde_json::Value = serde_json::from_str(&event.body).unwrap();
    assert_eq!(body["type"], "order.created");
    assert_eq!(body["id"], event.id.as_str());
    assert_eq!(
        serde_json::from_value::<Order>(body["order"].clone()).unwrap(),
        order
    );

    // A second order comes after the first, everywhere.
    w.add(buyer, &cup, 1, None).await;
    let second = w.created(buyer, "key-2", t(6)).await;
    let ids: Vec<OrderId> = w
        .store
        .orders(&w.show)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, [order.id, second.id]);
    let ids: Vec<OrderId> = w
        .store
        .viewer_orders(&w.show, buyer)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, [order.id, second.id]);
    assert_eq!(w.outbox_kinds().await, ["order.created", "order.created"]);
}

async fn large_amounts_stay_exact(store: SharedStore) {
    // Around MAX_AMOUNT (10^12): totals far beyond what a float prints exactly (1e+14).
    let w = World::new(store).await;
    let a = w.product("Gold bar", 1_000_000_000_000, "USD", 1000).await;
    let b = w.product("Silver bar", 999_999_999_999, "USD", 1000).await;
    let c = w
        .product("Platinum bar", 987_654_321_098, "USD", 1000)
        .await;
    let deal = w.pin_deal(&c, 123_456_789_012, 500, 100, 600, t(0)).await;
    let buyer = viewer();
    w.add(buyer, &a, 100, None).await;
    w.add(buyer, &b, 99, None).await;
    w.add(buyer, &c, 97, Some(&deal)).await;
    let (items, total) = w.plan(buyer, t(1)).await;
    let order = w.created(buyer, "big", t(1)).await;
    let expected = 100 * 1_000_000_000_000 + 99 * 999_999_999_999 + 97 * 123_456_789_012_i64;
    assert_eq!(order.total.amount, expected);
    assert_eq!((order.items.clone(), order.total), (items, total));
    assert_eq!(
        w.store.order(&w.show, order.id).await.unwrap(),
        Some(order.clone())
    );
    let event = &w.outbox().await[0];
    assert!(
        event.body.contains(&format!("\"amount\":{expected}")),
        "{}",
        event.body
    );
    assert!(
        event.body.contains("\"amount\":999999999999"),
        "{}",
        event.body
    );

    // Settling re-writes the order: still exact.
    let failed = w
        .store
        .complete_order(
            &w.show,
            order.id,
            &Completion::Failed {
                reason: "declined".into(),
                at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.total.amount, expected);
    assert_eq!(failed.items, order.items);
    let last = w.outbox().await.pop().unwrap();
    assert!(
        last.body.contains(&format!("\"amount\":{expected}")),
        "{}",
        last.body
    );
    assert_eq!(w.stock(&a).await, 1000);
    assert_eq!(w.remaining(&c).await, 500);
}

async fn checkout_is_idempotent(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 100).await;
    let cup = w.product("Cup", 900, "USD", 100).await;
    let buyer = viewer();
    w.add(buyer, &mug, 1, None).await;

    let req = w.request(buyer, "key-1", t(1));
    let CheckoutOutcome::Created(order) = w.store.checkout(&w.show, &req).await.unwrap() else {
        panic!("expected an order");
    };
    // The retry finds the cart this checkout emptied: the same order.
    let retry = CheckoutRequest {
        order_id: OrderId(Uuid::now_v7()),
        now: t(2),
        ..req.clone()
    };
    assert_eq!(
        w.store.checkout(&w.show, &retry).await.unwrap(),
        CheckoutOutcome::Replayed(order.clone())
    );
    // The same cart again with the same key: the same order, and the cart stays.
    w.add(buyer, &mug, 1, None).await;
    assert_eq!(
        w.store.checkout(&w.show, &retry).await.unwrap(),
        CheckoutOutcome::Replayed(order.clone())
    );
    assert_eq!(w.store.cart(&w.show, buyer).await.unwrap().len(), 1);
    // Another cart under the key.
    w.add(buyer, &cup, 1, None).await;
    assert_eq!(
        w.store.checkout(&w.show, &retry).await.unwrap(),
        CheckoutOutcome::KeyReused
    );
    // Another body under the key, even with the emptied cart.
    w.store
        .set_cart_line(&w.show, buyer, mug.id, None)
        .await
        .unwrap();
    w.store
        .set_cart_line(&w.show, buyer, cup.id, None)
        .await
        .unwrap();
    let other_body = CheckoutRequest {
        body_fingerprint: "body-2".into(),
        ..retry.clone()
    };
    assert_eq!(
        w.store.checkout(&w.show, &other_body).await.unwrap(),
        CheckoutOutcome::KeyReused
    );
    // Keys are per viewer: another viewer's same key is a new checkout.
    let other = viewer();
    w.add(other, &cup, 1, None).await;
    assert!(matches!(
        w.checkout(other, "key-1", t(3)).await,
        CheckoutOutcome::Created(_)
    ));

    // A replay shows the order as it is now.
    let paid = w
        .store
        .complete_order(&w.show, order.id, &Completion::Paid { at: t(4) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        w.store.checkout(&w.show, &retry).await.unwrap(),
        CheckoutOutcome::Replayed(paid)
    );

    // Ten concurrent retries of one request: one order.
    w.add(buyer, &cup, 2, None).await;
    let before = w.store.orders(&w.show).await.unwrap().len();
    let stock = w.stock(&cup).await;
    let req = w.request(buyer, "key-10", t(5));
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (store, show, req) = (w.store.clone(), w.show.clone(), req.clone());
        tasks.push(tokio::spawn(async move {
            store.checkout(&show, &req).await.unwrap()
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let created: Vec<&Order> = outcomes
        .iter()
        .filter_map(|o| match o {
            CheckoutOutcome::Created(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(created.len(), 1, "{outcomes:?}");
    for outcome in &outcomes {
        match outcome {
            CheckoutOutcome::Created(o) | CheckoutOutcome::Replayed(o) => {
                assert_eq!(o.id, req.order_id)
            }
            other => panic!("a retry got {other:?}"),
        }
    }
    assert_eq!(w.store.orders(&w.show).await.unwrap().len(), before + 1);
    assert_eq!(w.stock(&cup).await, stock - 2);
}

/// Expected code, buyer, cart lines (product, quantity, added under a deal), time, kind.
type RefusalCase<'a> = (
    &'static str,
    ViewerId,
    Vec<(&'a Product, i64, Option<&'a Deal>)>,
    Timestamp,
    ErrorKind,
);

async fn refusals_change_nothing(store: SharedStore) {
    let w = World::new(store).await;
    let plain = w.product("Plain", 1000, "USD", 2).await;
    let hot = w.product("Hot", 3000, "USD", 50).await;
    let rare = w.product("Rare", 5000, "USD", 50).await;
    let euro = w.product("Euro", 1000, "EUR", 10).await;
    let someone_else = creator("Bea");
    w.store.insert_creator(&someone_else).await.unwrap();
    let foreign = insert_product(&w.store, &someone_else, "Foreign", 1000, "USD", 10).await;
    let hot_deal = w.pin_deal(&hot, 2500, 3, 2, 60, t(0)).await;
    let rare_deal = w.pin_deal(&rare, 4000, 1, 1, 600, t(0)).await;
    let all = [&plain, &hot, &rare, &euro, &foreign];

    // Set up: one buyer takes 2 of the hot deal (1 left), another the only rare unit.
    let (first, second) = (viewer(), viewer());
    w.add(first, &hot, 2, Some(&hot_deal)).await;
    w.created(first, "setup-1", t(1)).await;
    w.add(second, &rare, 1, Some(&rare_deal)).await;
    w.created(second, "setup-2", t(1)).await;

    let cases: Vec<RefusalCase<'_>> = vec![
        ("empty_cart", viewer(), vec![], t(2), ErrorKind::Invalid),
        (
            "sold_out",
            viewer(),
            vec![(&plain, 3, None)],
            t(2),
            ErrorKind::Conflict,
        ),
        (
            "sold_out",
            viewer(),
            vec![(&hot, 2, Some(&hot_deal))],
            t(2),
            ErrorKind::Conflict,
        ),
        (
            "over_limit",
            first,
            vec![(&hot, 1, Some(&hot_deal))],
            t(2),
            ErrorKind::Conflict,
        ),
        (
            "sold_out",
            viewer(),
            vec![(&rare, 1, Some(&rare_deal))],
            t(2),
            ErrorKind::Conflict,
        ),
        (
            "deal_ended",
            viewer(),
            vec![(&hot, 1, Some(&hot_deal))],
            t(60),
            ErrorKind::Conflict,
        ),
        (
            "deal_ended",
            viewer(),
            vec![(&hot, 1, Some(&hot_deal))],
            t(61),
            ErrorKind::Conflict,
        ),
        (
            "currency_mismatch",
            viewer(),
            vec![(&plain, 1, None), (&euro, 1, None)],
            t(2),
            ErrorKind::Invalid,
        ),
        (
            "product_not_found",
            viewer(),
            vec![(&plain, 1, None), (&foreign, 1, None)],
            t(2),
            ErrorKind::NotFound,
        ),
    ];
    for (code, buyer, lines, now, kind) in cases {
        for (p, quantity, deal) in &lines {
            w.add(buyer, p, *quantity, *deal).await;
        }
        let before = w.snapshot(&all, buyer).await;
        let outcome = w.checkout(buyer, &format!("refused-{code}"), now).await;
        assert_eq!(refused_code(&outcome), code, "{lines:?}");
        let CheckoutOutcome::Refused(e) = &outcome else {
            unreachable!()
        };
        assert_eq!(e.kind, kind, "{code}");
        assert!(!e.message.is_empty());
        assert_eq!(
            w.snapshot(&all, buyer).await,
            before,
            "{code} changed something"
        );
    }
    // A product nobody has.
    let buyer = viewer();
    let ghost = ProductId(Uuid::new_v4());
    let line = CartLine {
        quantity: 1,
        deal_ends_at: None,
    };
    w.store
        .set_cart_line(&w.show, buyer, ghost, Some(line))
        .await
        .unwrap();
    let before = w.snapshot(&all, buyer).await;
    assert_eq!(
        refused_code(&w.checkout(buyer, "ghost", t(2)).await),
        "product_not_found"
    );
    assert_eq!(w.snapshot(&all, buyer).await, before);

    // The messages are the domain's.
    let buyer = viewer();
    w.add(buyer, &hot, 1, Some(&hot_deal)).await;
    let CheckoutOutcome::Refused(e) = w.checkout(buyer, "late", t(61)).await else {
        panic!("expected a refusal");
    };
    assert_eq!(e.message, "the deal on Hot has ended");
    let CheckoutOutcome::Refused(e) = w.checkout(viewer(), "empty", t(2)).await else {
        panic!("expected a refusal");
    };
    assert_eq!(e.message, "the cart is empty");
    // The over_limit case left its line in the cart (refusals empty nothing).
    let CheckoutOutcome::Refused(e) = w.checkout(first, "again", t(2)).await else {
        panic!("expected a refusal");
    };
    assert_eq!(e.message, "the deal allows 2 per buyer");

    // Nothing was taken by any refusal.
    assert_eq!(w.stock(&plain).await, 2);
    assert_eq!(w.stock(&hot).await, 48);
    assert_eq!(w.remaining(&hot).await, 1);
    assert_eq!(w.remaining(&rare).await, 0);
    assert_eq!(w.store.orders(&w.show).await.unwrap().len(), 2);
    assert_eq!(w.outbox_kinds().await, ["order.created", "order.created"]);
}

/// The checkout decides by the stored record, even when the caller passes an older copy of
/// the show (a node's recent-show cache): a live show sells `live`, an ended one sells from
/// its replay (`replay`), a cancelled one refuses and changes nothing.
async fn an_ended_show_sells_from_its_replay_and_a_cancelled_one_refuses(store: SharedStore) {
    let w = World::new(store.clone()).await;
    let mug = w.product("Mug", 2000, "USD", 5).await;
    let (kim, lee) = (viewer(), viewer());
    w.add(kim, &mug, 1, None).await;
    let live = w.created(kim, "k", t(1)).await;
    assert_eq!(live.channel, SalesChannel::Live);
    let mut ended = w.show.clone();
    ended.status = ShowStatus::Ended;
    assert!(w.store.update_show(&ended, w.show.status).await.unwrap());
    w.add(lee, &mug, 2, None).await;
    let replay = w.created(lee, "k", t(2)).await;
    assert_eq!(replay.channel, SalesChannel::Replay);
    assert_eq!(w.stock(&mug).await, 2);
    let stored = w.store.orders(&w.show).await.unwrap();
    let channels: Vec<_> = stored.iter().map(|o| o.channel).collect();
    assert_eq!(channels, [SalesChannel::Live, SalesChannel::Replay]);

    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 5).await;
    w.add(kim, &mug, 1, None).await;
    let before = w.snapshot(&[&mug], kim).await;
    let mut cancelled = w.show.clone();
    cancelled.status = ShowStatus::Cancelled;
    assert!(
        w.store
            .update_show(&cancelled, w.show.status)
            .await
            .unwrap()
    );
    let outcome = w.checkout(kim, "k", t(1)).await;
    assert_eq!(refused_code(&outcome), "show_cancelled");
    match outcome {
        CheckoutOutcome::Refused(e) => assert_eq!(e.kind, ErrorKind::Conflict),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(w.snapshot(&[&mug], kim).await, before);
}

async fn complete_order_pays_or_releases_once(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 10).await;
    let cup = w.product("Cup", 900, "USD", 10).await;
    let deal = w.pin_deal(&mug, 1500, 5, 3, 600, t(0)).await;
    let (kim, lee) = (viewer(), viewer());

    w.add(kim, &mug, 2, Some(&deal)).await;
    let paid_order = w.created(kim, "k", t(1)).await;
    let paid = w
        .store
        .complete_order(&w.show, paid_order.id, &Completion::Paid { at: t(2) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(paid.paid_at, Some(t(2)));
    assert_eq!(paid.items, paid_order.items);
    assert_eq!(
        w.store.order(&w.show, paid.id).await.unwrap(),
        Some(paid.clone())
    );
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (8, 3));
    let events = w.outbox().await;
    assert_eq!(events.last().unwrap().kind, "order.paid");
    assert_eq!(
        events.last().unwrap().body,
        event_body(&events.last().unwrap().id, "order.paid", t(2), &paid)
    );

    // Settling again is a no-op, whatever the outcome.
    for again in [
        Completion::Paid { at: t(9) },
        Completion::Failed {
            reason: "late".into(),
            at: chrono::Utc::now(),
        },
    ] {
        let same = w
            .store
            .complete_order(&w.show, paid.id, &again)
            .await
            .unwrap();
        assert_eq!(same, Some(paid.clone()));
    }
    assert_eq!(w.outbox().await.len(), 2);
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (8, 3));
    assert_eq!(w.bought(&mug, kim).await, 2);

    // A failure gives stock, deal units and the buyer's count back.
    w.add(lee, &mug, 3, Some(&deal)).await;
    w.add(lee, &cup, 4, None).await;
    let order = w.created(lee, "k", t(3)).await;
    assert_eq!(
        (
            w.stock(&mug).await,
            w.remaining(&mug).await,
            w.stock(&cup).await
        ),
        (5, 0, 6)
    );
    assert_eq!(w.bought(&mug, lee).await, 3);
    let failed = w
        .store
        .complete_order(
            &w.show,
            order.id,
            &Completion::Failed {
                reason: "card declined".into(),
                at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.status, OrderStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("card declined"));
    assert_eq!(failed.paid_at, None);
    assert_eq!(
        (
            w.stock(&mug).await,
            w.remaining(&mug).await,
            w.stock(&cup).await
        ),
        (8, 3, 10)
    );
    assert_eq!(w.bought(&mug, lee).await, 0);
    assert_eq!(w.bought(&mug, kim).await, 2, "another buyer's count stays");
    let last = w.outbox().await.pop().unwrap();
    assert_eq!(last.kind, "order.failed");
    let body: serde_json::Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(
        serde_json::from_value::<Order>(body["order"].clone()).unwrap(),
        failed
    );

    let again = w
        .store
        .complete_order(
            &w.show,
            order.id,
            &Completion::Failed {
                reason: "twice".into(),
                at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap();
    assert_eq!(again, Some(failed.clone()));
    assert_eq!(
        (w.stock(&mug).await, w.remaining(&mug).await),
        (8, 3),
        "released once"
    );
    assert_eq!(
        w.outbox_kinds().await,
        [
            "order.created",
            "order.paid",
            "order.created",
            "order.failed"
        ]
    );

    // Settled orders are not swept; unknown orders are None.
    assert!(
        w.store
            .expire_reservations(&w.show, t(100_000))
            .await
            .unwrap()
            .is_empty()
    );
    let unknown = Completion::Paid { at: t(5) };
    assert_eq!(
        w.store
            .complete_order(&w.show, OrderId(Uuid::now_v7()), &unknown)
            .await
            .unwrap(),
        None
    );
}

/// `complete_placed_order` settles the stored order, whatever copy of it the caller holds:
/// the checkout's own answer, or a copy whose lines say something else (RedisStore declares
/// its keys from the copy first, so a wrong one must only cost a retry).
async fn a_placed_order_settles_from_the_stored_one(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 10).await;
    let deal = w.pin_deal(&mug, 1500, 5, 3, 600, t(0)).await;
    let (kim, lee, ann) = (viewer(), viewer(), viewer());

    w.add(kim, &mug, 2, Some(&deal)).await;
    let placed = w.created(kim, "k", t(1)).await;
    let paid = w
        .store
        .complete_placed_order(&w.show, &placed, &Completion::Paid { at: t(2) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(paid.status, OrderStatus::Paid);
    assert_eq!(paid.paid_at, Some(t(2)));
    assert_eq!(paid.items, placed.items);
    assert_eq!(
        w.store.order(&w.show, paid.id).await.unwrap(),
        Some(paid.clone())
    );
    assert_eq!(w.outbox_kinds().await.last().unwrap(), "order.paid");
    // Settled already: the stored order comes back, whatever the outcome.
    let failed = Completion::Failed {
        reason: "declined".into(),
        at: chrono::Utc::now(),
    };
    let again = w
        .store
        .complete_placed_order(&w.show, &placed, &failed)
        .await
        .unwrap();
    assert_eq!(again, Some(paid));
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (8, 3));

    // A copy that lost its deal flags: the deal units and the buyer's count still go back.
    w.add(lee, &mug, 3, Some(&deal)).await;
    let placed = w.created(lee, "k", t(3)).await;
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (5, 0));
    assert_eq!(w.bought(&mug, lee).await, 3);
    let mut stale = placed.clone();
    for line in &mut stale.items {
        line.deal = false;
    }
    let released = w
        .store
        .complete_placed_order(&w.show, &stale, &failed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.status, OrderStatus::Failed);
    assert_eq!(
        released.items, placed.items,
        "the stored lines, not the copy's"
    );
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (8, 3));
    assert_eq!(w.bought(&mug, lee).await, 0);

    // A copy of another order settles nothing of it; an unknown order is `None`.
    w.add(ann, &mug, 1, None).await;
    let pending = w.created(ann, "k", t(4)).await;
    let unknown = Order {
        id: OrderId(Uuid::now_v7()),
        ..pending.clone()
    };
    assert_eq!(
        w.store
            .complete_placed_order(&w.show, &unknown, &failed)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        w.store.order(&w.show, pending.id).await.unwrap(),
        Some(pending)
    );
    assert_eq!(w.stock(&mug).await, 7);
}

async fn release_returns_deal_units_only_to_their_deal(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 100).await;
    let buyer = viewer();
    let first = w.pin_deal(&mug, 1500, 10, 5, 600, t(0)).await;
    w.add(buyer, &mug, 4, Some(&first)).await;
    let order = w.created(buyer, "k1", t(1)).await;

    // A new deal since: the units go back to stock, not to the new deal.
    w.pin_deal(&mug, 1200, 6, 5, 600, t(2)).await;
    let failed = Completion::Failed {
        reason: "declined".into(),
        at: chrono::Utc::now(),
    };
    w.store
        .complete_order(&w.show, order.id, &failed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (100, 6));
    assert_eq!(w.bought(&mug, buyer).await, 0);

    // Bought under the current deal, then unpinned: nothing to give back to.
    let current = w.pin_state(&mug).await.unwrap().pin.deal.unwrap();
    w.add(buyer, &mug, 2, Some(&current)).await;
    let order = w.created(buyer, "k2", t(3)).await;
    assert_eq!(
        (w.remaining(&mug).await, w.bought(&mug, buyer).await),
        (4, 2)
    );
    w.store.unpin(&w.show, mug.id).await.unwrap().unwrap();
    w.store
        .complete_order(&w.show, order.id, &failed)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(w.stock(&mug).await, 100);
    assert_eq!(w.remaining(&mug).await, 0, "not pinned");
    assert_eq!(
        w.bought(&mug, buyer).await,
        2,
        "counts stay with the unpinned deal"
    );
}

async fn expire_reservations_releases_due_orders(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 10).await;
    let deal = w.pin_deal(&mug, 1500, 5, 5, 3600, t(0)).await;
    let (kim, lee, max) = (viewer(), viewer(), viewer());

    w.add(kim, &mug, 2, Some(&deal)).await;
    let short = CheckoutRequest {
        reserve_for: chrono::Duration::seconds(60),
        ..w.request(kim, "k", t(10))
    };
    let CheckoutOutcome::Created(first) = w.store.checkout(&w.show, &short).await.unwrap() else {
        panic!("expected an order");
    };
    w.add(lee, &mug, 1, None).await;
    // Reserved until 10 s + 0.5 ms + 600 s: sub-millisecond precision counts.
    let odd = t(10) + chrono::Duration::nanoseconds(500_123);
    let second = w.created(lee, "k", odd).await;
    w.add(max, &mug, 1, Some(&deal)).await;
    let third = w.created(max, "k", t(11)).await;
    // Lee's regular-price line got the open deal's price: 3 deal units held.
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (6, 1));

    assert!(
        w.store
            .expire_reservations(&w.show, t(69))
            .await
            .unwrap()
            .is_empty()
    );
    let expired = w.store.expire_reservations(&w.show, t(70)).await.unwrap();
    assert_eq!(expired.len(), 1, "due exactly at reserved_until");
    assert_eq!(expired[0].id, first.id);
    assert_eq!(expired[0].status, OrderStatus::Expired);
    assert_eq!(
        expired[0].failure.as_deref(),
        Some("the reservation expired before the payment finished")
    );
    assert_eq!(expired[0].items, first.items);
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (8, 3));
    assert_eq!(w.bought(&mug, kim).await, 0);
    assert_eq!(
        w.store.order(&w.show, first.id).await.unwrap(),
        Some(expired[0].clone())
    );
    let last = w.outbox().await.pop().unwrap();
    assert_eq!(last.kind, "order.expired");
    assert_eq!(
        last.body,
        event_body(&last.id, "order.expired", t(70), &expired[0])
    );
    assert!(
        w.store
            .expire_reservations(&w.show, t(70))
            .await
            .unwrap()
            .is_empty()
    );

    // One nanosecond early is not due; both remaining orders at once, oldest first.
    let just_before = second.reserved_until - chrono::Duration::nanoseconds(1);
    assert!(
        w.store
            .expire_reservations(&w.show, just_before)
            .await
            .unwrap()
            .is_empty()
    );
    let expired = w
        .store
        .expire_reservations(&w.show, t(10_000))
        .await
        .unwrap();
    let ids: Vec<OrderId> = expired.iter().map(|o| o.id).collect();
    assert_eq!(ids, [second.id, third.id]);
    assert_eq!((w.stock(&mug).await, w.remaining(&mug).await), (10, 5));
    assert!(
        w.store
            .orders(&w.show)
            .await
            .unwrap()
            .iter()
            .all(|o| o.status == OrderStatus::Expired)
    );
    assert_eq!(
        w.outbox_kinds().await,
        [
            "order.created",
            "order.created",
            "order.created",
            "order.expired",
            "order.expired",
            "order.expired"
        ]
    );
    // An expired order cannot be paid any more.
    let late = w
        .store
        .complete_order(&w.show, third.id, &Completion::Paid { at: t(10_001) })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late.status, OrderStatus::Expired);
}

async fn two_thousand_buyers_race_for_a_hundred_units(store: SharedStore) {
    const BUYERS: usize = 2_000;
    let w = Arc::new(World::new(store).await);
    let mug = w.product("Mug", 2000, "USD", 1000).await;
    let deal = w.pin_deal(&mug, 1500, 100, 1, 3600, t(0)).await;
    let buyers: Vec<ViewerId> = (0..BUYERS).map(|_| viewer()).collect();
    let mut fills = Vec::new();
    for chunk in buyers.chunks(200) {
        let (w, mug, deal, chunk) = (w.clone(), mug.clone(), deal.clone(), chunk.to_vec());
        fills.push(tokio::spawn(async move {
            for buyer in chunk {
                w.add(buyer, &mug, 1, Some(&deal)).await;
            }
        }));
    }
    for fill in fills {
        fill.await.unwrap();
    }

    let mut tasks = Vec::with_capacity(BUYERS);
    for buyer in &buyers {
        let (store, show) = (w.store.clone(), w.show.clone());
        let req = w.request(*buyer, "race", t(1));
        tasks.push(tokio::spawn(async move {
            store.checkout(&show, &req).await.unwrap()
        }));
    }
    let (mut created, mut sold_out) = (0, 0);
    for task in tasks {
        match task.await.unwrap() {
            CheckoutOutcome::Created(o) => {
                assert!(o.items[0].deal);
                created += 1;
            }
            CheckoutOutcome::Refused(e) if e.code == "sold_out" => sold_out += 1,
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!((created, sold_out), (100, 1_900));
    assert_eq!(w.remaining(&mug).await, 0);
    assert_eq!(w.stock(&mug).await, 900);
    assert_eq!(w.store.orders(&w.show).await.unwrap().len(), 100);
}

async fn one_buyer_racing_itself_stays_within_the_limit(store: SharedStore) {
    let w = Arc::new(World::new(store).await);
    let mug = w.product("Mug", 2000, "USD", 1000).await;
    let deal = w.pin_deal(&mug, 1500, 100, 2, 3600, t(0)).await;
    let buyer = viewer();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (w, mug, deal) = (w.clone(), mug.clone(), deal.clone());
        tasks.push(tokio::spawn(async move {
            w.add(buyer, &mug, 1, Some(&deal)).await;
            w.checkout(buyer, &format!("key-{i}"), t(1)).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            CheckoutOutcome::Created(o) => {
                assert_eq!(o.items[0].quantity, 1);
                created += 1;
            }
            CheckoutOutcome::Refused(e) => {
                assert!(
                    ["over_limit", "empty_cart"].contains(&e.code.as_str()),
                    "{e:?}"
                )
            }
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert!((1..=2).contains(&created), "{created} orders");
    assert_eq!(w.bought(&mug, buyer).await, created);
    assert_eq!(w.remaining(&mug).await, 100 - created);
    assert_eq!(w.stock(&mug).await, 1000 - created);
}

/// Buyers from one client address share `buyers` allowances of a deal; a released order gives
/// its address its allowance back; a new deal starts afresh; no address, no address limit.
async fn deal_limits_hold_per_address_too(store: SharedStore) {
    let w = World::new(store).await;
    let mug = w.product("Mug", 2000, "USD", 100).await;
    let deal = w.pin_deal(&mug, 1500, 50, 2, 3600, t(0)).await;
    let from = |key: &str, buyers| AddressAllowance {
        key: key.into(),
        buyers,
    };
    let buy = |viewer, qty, key: &'static str, address: Option<AddressAllowance>| {
        let (w, mug, deal) = (&w, &mug, &deal);
        async move {
            w.add(viewer, mug, qty, Some(deal)).await;
            let req = CheckoutRequest {
                address,
                ..w.request(viewer, key, t(1))
            };
            w.store.checkout(&w.show, &req).await.unwrap()
        }
    };
    let code = |outcome: CheckoutOutcome| match outcome {
        CheckoutOutcome::Refused(e) => e.code.as_str(),
        CheckoutOutcome::Created(_) => "created",
        other => panic!("unexpected {other:?}"),
    };
    let (kim, lee, ann, bob) = (viewer(), viewer(), viewer(), viewer());
    let kims = match buy(kim, 2, "k", Some(from("a:192.0.2.1", 1))).await {
        CheckoutOutcome::Created(o) => o,
        other => panic!("unexpected {other:?}"),
    };
    // Another viewer from the same address: the address's allowance is used up.
    assert_eq!(
        code(buy(lee, 1, "l", Some(from("a:192.0.2.1", 1))).await),
        "over_limit"
    );
    // Two buyers' allowances for that address: one more buyer's worth.
    assert_eq!(
        code(buy(lee, 2, "l2", Some(from("a:192.0.2.1", 2))).await),
        "created"
    );
    assert_eq!(
        code(buy(ann, 1, "a", Some(from("a:192.0.2.1", 2))).await),
        "over_limit"
    );
    // Another address, and no address at all, are not held to it.
    assert_eq!(
        code(buy(ann, 2, "a2", Some(from("a:192.0.2.2", 1))).await),
        "created"
    );
    assert_eq!(code(buy(bob, 2, "b", None).await), "created");
    assert_eq!(w.remaining(&mug).await, 50 - 8);

    // Kim's payment fails: the address gets her units back.
    w.store
        .complete_order(
            &w.show,
            kims.id,
            &Completion::Failed {
                reason: "declined".into(),
                at: chrono::Utc::now(),
            },
        )
        .await
        .unwrap();
    let eve = viewer();
    assert_eq!(
        code(buy(eve, 2, "e", Some(from("a:192.0.2.1", 2))).await),
        "created"
    );
    let gus = viewer();
    assert_eq!(
        code(buy(gus, 1, "g", Some(from("a:192.0.2.1", 2))).await),
        "over_limit"
    );

    // A new deal on the product starts every address afresh.
    let deal2 = w.pin_deal(&mug, 1400, 50, 2, 3600, t(2)).await;
    let fay = viewer();
    w.add(fay, &mug, 2, Some(&deal2)).await;
    let req = CheckoutRequest {
        address: Some(from("a:192.0.2.1", 1)),
        ..w.request(fay, "f", t(3))
    };
    assert_eq!(
        code(w.store.checkout(&w.show, &req).await.unwrap()),
        "created"
    );
}

async fn outbox_pending_until_acknowledged(store: SharedStore) {
    let w = World::new(store).await;
    let other = World {
        store: w.store.clone(),
        creator: creator("Bea"),
        show: w.show.clone(),
    };
    assert!(w.outbox().await.is_empty());
    let mug = w.product("Mug", 2000, "USD", 10).await;
    let mut orders = Vec::new();
    for i in 0..3 {
        let buyer = viewer();
        w.add(buyer, &mug, 1, None).await;
        orders.push(w.created(buyer, &format!("k{i}"), t(i)).await);
    }
    let all = w.outbox().await;
    assert_eq!(all.len(), 3);
    for (event, order) in all.iter().zip(&orders) {
        assert_eq!(
            event.body,
            event_body(&event.id, "order.created", order.created_at, order)
        );
    }
    let ids: std::collections::HashSet<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids.len(), 3, "unique event ids");

    // Reading does not consume: the same events, oldest first, until acknowledged.
    assert_eq!(
        w.store.outbox_pending(w.creator.id, 2).await.unwrap(),
        all[..2]
    );
    assert_eq!(w.outbox().await, all);
    assert!(
        w.store
            .outbox_pending(w.creator.id, 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(other.outbox().await.is_empty(), "outboxes are per creator");

    w.store.outbox_ack(w.creator.id, &all[1].id).await.unwrap();
    assert_eq!(w.outbox().await, [all[0].clone(), all[2].clone()]);
    w.store.outbox_ack(w.creator.id, &all[1].id).await.unwrap();
    w.store
        .outbox_ack(w.creator.id, "no-such-event")
        .await
        .unwrap();
    w.store
        .outbox_ack(other.creator.id, &all[0].id)
        .await
        .unwrap();
    assert_eq!(
        w.outbox().await.len(),
        2,
        "acks of unknown events change nothing"
    );

    // New events come after the unacknowledged ones.
    w.store
        .complete_order(&w.show, orders[0].id, &Completion::Paid { at: t(10) })
        .await
        .unwrap();
    assert_eq!(
        w.outbox_kinds().await,
        ["order.created", "order.created", "order.paid"]
    );
    for event in w.outbox().await {
        w.store.outbox_ack(w.creator.id, &event.id).await.unwrap();
    }
    assert!(w.outbox().await.is_empty());
}

async fn webhooks_round_trip(store: SharedStore) {
    let (ada, bea) = (creator("Ada"), creator("Bea"));
    assert_eq!(store.webhook(ada.id).await.unwrap(), None);
    let hook = Webhook {
        url: "https://shop.example/hooks".into(),
        secret: "s3cret".into(),
    };
    store.set_webhook(ada.id, Some(&hook)).await.unwrap();
    assert_eq!(store.webhook(ada.id).await.unwrap(), Some(hook.clone()));
    assert_eq!(store.webhook_creators().await.unwrap(), [ada.id]);

    let other = Webhook {
        url: "https://b.example/h".into(),
        secret: "x".into(),
    };
    store.set_webhook(bea.id, Some(&other)).await.unwrap();
    let replaced = Webhook {
        secret: "rotated".into(),
        ..hook
    };
    store.set_webhook(ada.id, Some(&replaced)).await.unwrap();
    assert_eq!(store.webhook(ada.id).await.unwrap(), Some(replaced));
    let mut creators = store.webhook_creators().await.unwrap();
    creators.sort();
    let mut expected = vec![ada.id, bea.id];
    expected.sort();
    assert_eq!(creators, expected);

    store.set_webhook(ada.id, None).await.unwrap();
    store.set_webhook(ada.id, None).await.unwrap();
    assert_eq!(store.webhook(ada.id).await.unwrap(), None);
    assert_eq!(store.webhook_creators().await.unwrap(), [bea.id]);
}

// ---- Redis only -----------------------------------------------------------------------------

mod redis_only {
    use super::*;

    async fn world(prefix: &str) -> World {
        World::new(Arc::new(connect(prefix).await)).await
    }

    fn show_key(prefix: &str, w: &World, what: &str) -> String {
        format!("{prefix}:{{c:{}}}:show:{}:{what}", w.creator.id, w.show.id)
    }

    #[tokio::test]
    async fn a_cart_is_a_hash_with_a_ttl_refreshed_by_every_write() {
        bounded(async {
            let prefix = unique_prefix("cart-ttl");
            let w = world(&prefix).await;
            let mug = w.product("Mug", 2000, "USD", 10).await;
            let cup = w.product("Cup", 900, "USD", 10).await;
            let buyer = viewer();
            w.add(buyer, &mug, 2, None).await;
            let key = show_key(&prefix, &w, &format!("cart:{buyer}"));
            let mut con = raw_connection().await;
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(kind, "hash");
            let week = 7 * 24 * 3600;
            let ttl: i64 = redis::cmd("TTL")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            assert!((week - 60..=week).contains(&ttl), "TTL {ttl}");

            let _: () = redis::cmd("EXPIRE")
                .arg(&key)
                .arg(100)
                .query_async(&mut con)
                .await
                .unwrap();
            w.add(buyer, &cup, 1, None).await;
            let ttl: i64 = redis::cmd("TTL")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            assert!(ttl > week - 60, "a write refreshes the TTL: {ttl}");
            let _: () = redis::cmd("EXPIRE")
                .arg(&key)
                .arg(100)
                .query_async(&mut con)
                .await
                .unwrap();
            w.store
                .set_cart_line(&w.show, buyer, cup.id, None)
                .await
                .unwrap();
            let ttl: i64 = redis::cmd("TTL")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            assert!(ttl > week - 60, "a removal refreshes the TTL: {ttl}");

            // An expired cart is an empty one.
            let _: () = redis::cmd("PEXPIRE")
                .arg(&key)
                .arg(1)
                .query_async(&mut con)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(w.store.cart(&w.show, buyer).await.unwrap().is_empty());
        })
        .await;
    }

    #[tokio::test]
    async fn the_outbox_is_a_stream_delivered_at_least_once_across_restarts() {
        bounded(async {
            let prefix = unique_prefix("outbox-restart");
            let w = world(&prefix).await;
            let mug = w.product("Mug", 2000, "USD", 10).await;
            let buyer = viewer();
            w.add(buyer, &mug, 1, None).await;
            w.created(buyer, "k", t(1)).await;
            let seen = w.outbox().await;
            assert_eq!(seen.len(), 1);

            let key = format!("{prefix}:{{c:{}}}:outbox", w.creator.id);
            let mut con = raw_connection().await;
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(kind, "stream");
            let groups: redis::Value = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            assert!(format!("{groups:?}").contains("webhooks"), "{groups:?}");
            let (pending, _, _, _): (i64, Option<String>, Option<String>, redis::Value) =
                redis::cmd("XPENDING")
                    .arg(&key)
                    .arg("webhooks")
                    .query_async(&mut con)
                    .await
                    .unwrap();
            assert_eq!(pending, 1, "read and not yet acknowledged");

            // A new process (fresh connection and store) gets the unacknowledged event again.
            let World { creator, show, .. } = w;
            let restarted = World {
                store: Arc::new(connect(&prefix).await),
                creator,
                show,
            };
            assert_eq!(restarted.outbox().await, seen);
            restarted
                .store
                .outbox_ack(restarted.creator.id, &seen[0].id)
                .await
                .unwrap();
            let again = World {
                store: Arc::new(connect(&prefix).await),
                creator: restarted.creator.clone(),
                show: restarted.show.clone(),
            };
            assert!(again.outbox().await.is_empty());
            let len: i64 = redis::cmd("XLEN")
                .arg(&key)
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(len, 0, "acknowledged entries are deleted");
        })
        .await;
    }

    #[tokio::test]
    async fn commerce_keys_share_the_creators_slot() {
        bounded(async {
            let prefix = unique_prefix("commerce-tags");
            let w = world(&prefix).await;
            let mug = w.product("Mug", 2000, "USD", 10).await;
            let deal = w.pin_deal(&mug, 1500, 5, 2, 600, t(0)).await;
            let buyer = viewer();
            w.add(buyer, &mug, 1, Some(&deal)).await;
            let order = w.created(buyer, "k", t(1)).await;
            w.add(buyer, &mug, 1, None).await;
            w.store
                .set_webhook(
                    w.creator.id,
                    Some(&Webhook {
                        url: "https://x.example".into(),
                        secret: "s".into(),
                    }),
                )
                .await
                .unwrap();
            w.outbox().await;
            w.store
                .complete_order(&w.show, order.id, &Completion::Paid { at: t(2) })
                .await
                .unwrap();

            let tag = format!("{{c:{}}}", w.creator.id);
            let keys = keys_under(&prefix).await;
            let global = [
                "creators",
                // The operator's list of creators in creation order (accounts).
                "creators:time",
                "idx:show",
                "idx:product",
                "shows",
                "reservation-shows",
                "webhook-creators",
            ]
            .map(|g| format!("{prefix}:{g}"));
            for key in &keys {
                assert!(
                    key.contains(&tag) || global.contains(key),
                    "{key} lacks the tag {tag}"
                );
            }
            for suffix in [
                "pins",
                "deal-remaining",
                &format!("deal-buyers:{}", mug.id),
                &format!("cart:{buyer}"),
                "orders",
                "order-ids",
                &format!("viewer-orders:{buyer}"),
                "idempotency",
            ] {
                let key = show_key(&prefix, &w, suffix);
                assert!(keys.contains(&key), "no {key} in {keys:?}");
            }
            for key in ["outbox", "outbox-ids", "webhook"] {
                let key = format!("{prefix}:{tag}:{key}");
                assert!(keys.contains(&key), "no {key} in {keys:?}");
            }
            assert!(
                w.store
                    .shows_with_reservations()
                    .await
                    .unwrap()
                    .contains(&w.show.id)
            );
        })
        .await;
    }

    #[tokio::test]
    async fn stored_orders_are_the_json_serde_writes() {
        bounded(async {
            let prefix = unique_prefix("order-json");
            let w = world(&prefix).await;
            let mug = w
                .product(
                    "Mug \"Deluxe\" 12/16 oz – café ☕",
                    999_999_999_999,
                    "USD",
                    1000,
                )
                .await;
            let penny = w.product("Penny thing", 1, "USD", 1000).await;
            let buyer = viewer();
            w.add(buyer, &mug, 100, None).await;
            w.add(buyer, &penny, 7, None).await;
            let req = CheckoutRequest {
                buyer_name: "Zoë \\ \"Z\" / ü".into(),
                now: t(1) + chrono::Duration::nanoseconds(442_510_407),
                ..w.request(buyer, "k", t(1))
            };
            let CheckoutOutcome::Created(order) = w.store.checkout(&w.show, &req).await.unwrap()
            else {
                panic!("expected an order");
            };
            assert_eq!(order.created_at, req.now);
            assert_eq!(order.buyer_name, req.buyer_name);
            assert_eq!(
                order
                    .items
                    .iter()
                    .find(|l| l.product_id == mug.id)
                    .unwrap()
                    .title,
                mug.title
            );
            let mut con = raw_connection().await;
            let stored: String = redis::cmd("HGET")
                .arg(show_key(&prefix, &w, "orders"))
                .arg(order.id.to_string())
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(stored, serde_json::to_string(&order).unwrap());

            let paid = w
                .store
                .complete_order(
                    &w.show,
                    order.id,
                    &Completion::Paid {
                        at: t(2) + chrono::Duration::microseconds(5),
                    },
                )
                .await
                .unwrap()
                .unwrap();
            let stored: String = redis::cmd("HGET")
                .arg(show_key(&prefix, &w, "orders"))
                .arg(order.id.to_string())
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(stored, serde_json::to_string(&paid).unwrap());
        })
        .await;
    }

    /// The checkout declares the keys of the products it read in the cart just before; a
    /// cart that changes in between makes the script answer `retry` (writing nothing), and
    /// the store reads again. Churn the cart while checking out: never an error, and every
    /// order is whole.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_cart_changing_during_the_checkout_is_read_again() {
        bounded(async {
            let w = Arc::new(world(&unique_prefix("cart-churn")).await);
            let mut products = Vec::new();
            for i in 0..8 {
                products.push(w.product(&format!("Item {i}"), 100, "USD", 1000).await);
            }
            let buyer = viewer();
            for round in 0..40 {
                let churn = {
                    let (w, products) = (w.clone(), products.clone());
                    tokio::spawn(async move {
                        for p in &products {
                            w.add(buyer, p, 1, None).await;
                        }
                    })
                };
                let outcome = w.checkout(buyer, &format!("k{round}"), t(round)).await;
                match outcome {
                    CheckoutOutcome::Created(order) => {
                        let sum: i64 = order.items.iter().map(|l| l.quantity * 100).sum();
                        assert_eq!(order.total.amount, sum);
                    }
                    CheckoutOutcome::Refused(e) => assert_eq!(e.code, "empty_cart"),
                    other => panic!("unexpected {other:?}"),
                }
                churn.await.unwrap();
            }
            let orders = w.store.orders(&w.show).await.unwrap();
            for p in &products {
                let sold: i64 = orders
                    .iter()
                    .flat_map(|o| &o.items)
                    .filter(|l| l.product_id == p.id)
                    .map(|l| l.quantity)
                    .sum();
                assert_eq!(w.stock(p).await, 1000 - sold, "stock matches the orders");
            }
        })
        .await;
    }

    /// Two nodes on one Redis: a checkout declares the products its node last saw in the
    /// cart, and is right whether that was nothing (the cart was filled through the other
    /// node) or something else (the other node changed it). A checkout that reserves nothing
    /// leaves the global `reservation-shows` set alone; the first one that reserves puts the
    /// show there (and the marker beside it) before its reservation exists.
    #[tokio::test]
    async fn checkouts_are_right_whatever_this_node_saw_of_the_cart() {
        bounded(async {
            let prefix = unique_prefix("cart-hints");
            let a = world(&prefix).await;
            let b = World {
                store: Arc::new(connect(&prefix).await),
                creator: a.creator.clone(),
                show: a.show.clone(),
            };
            let mug = a.product("Mug", 2000, "USD", 1).await;
            let cup = a.product("Cup", 900, "USD", 10).await;
            let mut con = raw_connection().await;
            let indexed = || async {
                let members: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(format!("{prefix}:reservation-shows"))
                    .query_async(&mut raw_connection().await)
                    .await
                    .unwrap();
                members.contains(&a.show.id.to_string())
            };

            // Sold out (B saw nothing of this cart): refused, nothing indexed.
            let early = viewer();
            a.add(early, &mug, 2, None).await;
            assert_eq!(
                refused_code(&b.checkout(early, "k0", t(1)).await),
                "sold_out"
            );
            assert!(!indexed().await);
            let marker: Option<String> = redis::cmd("GET")
                .arg(show_key(&prefix, &a, "reservations-indexed"))
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(marker, None);

            // Filled through A, bought through B.
            let buyer = viewer();
            a.add(buyer, &mug, 1, None).await;
            let order = b.created(buyer, "k1", t(2)).await;
            assert_eq!(order.items.len(), 1);
            assert!(
                indexed().await,
                "the show is indexed with its first reservation"
            );
            assert_eq!(
                a.store.shows_with_reservations().await.unwrap(),
                [a.show.id]
            );

            // A last saw the mug; B replaced it with cups.
            let other = viewer();
            a.add(other, &mug, 1, None).await;
            b.store
                .set_cart_line(&b.show, other, mug.id, None)
                .await
                .unwrap();
            b.add(other, &cup, 3, None).await;
            let order = a.created(other, "k2", t(3)).await;
            assert_eq!(
                order
                    .items
                    .iter()
                    .map(|l| (l.product_id, l.quantity))
                    .collect::<Vec<_>>(),
                [(cup.id, 3)]
            );
            assert_eq!(a.stock(&cup).await, 7);
            assert_eq!(a.stock(&mug).await, 0);
        })
        .await;
    }

    #[tokio::test]
    async fn foreign_cart_data_is_corrupt_not_a_panic() {
        bounded(async {
            let prefix = unique_prefix("commerce-corrupt");
            let w = world(&prefix).await;
            let buyer = viewer();
            let mut con = raw_connection().await;
            let key = show_key(&prefix, &w, &format!("cart:{buyer}"));
            let _: () = redis::cmd("HSET")
                .arg(&key)
                .arg(Uuid::new_v4().to_string())
                .arg("not json")
                .query_async(&mut con)
                .await
                .unwrap();
            let err = w
                .store
                .checkout(&w.show, &w.request(buyer, "k", t(1)))
                .await
                .unwrap_err();
            assert!(
                matches!(err, livesale::store::StoreError::Corrupt(_)),
                "{err:?}"
            );
            assert!(w.store.orders(&w.show).await.unwrap().is_empty());
        })
        .await;
    }

    /// Calls of `command` Redis has counted (its own and its scripts').
    /// A store on a Redis of its own (so command counts and flushes touch no other test), the
    /// world on it, and a plain connection to that Redis; keep the first alive for the test.
    async fn own_redis(
        prefix: &str,
    ) -> (
        common::redis::PrivateRedis,
        World,
        ::redis::aio::MultiplexedConnection,
    ) {
        let redis = common::redis::PrivateRedis::start();
        let store =
            livesale::store::RedisStore::connect(&redis.url, prefix, common::stores::CALL_TIMEOUT)
                .await
                .unwrap();
        let w = World::new(Arc::new(store)).await;
        let con = ::redis::Client::open(redis.url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        (redis, w, con)
    }

    async fn calls(con: &mut ::redis::aio::MultiplexedConnection, command: &str) -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("commandstats")
            .query_async(con)
            .await
            .unwrap();
        let prefix = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
    }

    /// Settling the order a checkout just answered with is one script call: no read of the
    /// order first (which settling by id alone needs, to declare the deal-buyer keys).
    #[tokio::test]
    async fn settling_a_placed_order_reads_nothing_first() {
        bounded(async {
            // A Redis of its own: commandstats count every client's calls.
            let (_redis, w, mut con) = own_redis("t-settle").await;
            let mug = w.product("Mug", 2000, "USD", 10).await;
            let deal = w.pin_deal(&mug, 1500, 5, 3, 600, t(0)).await;
            let paid = Completion::Paid { at: t(2) };
            // Redis learns the scripts first (a NOSCRIPT answer and the load count as calls).
            let warm_up = viewer();
            w.add(warm_up, &mug, 1, None).await;
            let order = w.created(warm_up, "k", t(1)).await;
            w.store
                .complete_order(&w.show, order.id, &paid)
                .await
                .unwrap()
                .unwrap();
            let mut hgets = Vec::new();
            for placed in [false, true] {
                let buyer = viewer();
                w.add(buyer, &mug, 1, Some(&deal)).await;
                let order = w.created(buyer, "k", t(1)).await;
                let (before, scripts) = (
                    calls(&mut con, "hget").await,
                    calls(&mut con, "evalsha").await,
                );
                let settled = if placed {
                    w.store.complete_placed_order(&w.show, &order, &paid).await
                } else {
                    w.store.complete_order(&w.show, order.id, &paid).await
                };
                assert_eq!(settled.unwrap().unwrap().status, OrderStatus::Paid);
                assert_eq!(calls(&mut con, "evalsha").await - scripts, 1, "one script");
                hgets.push(calls(&mut con, "hget").await - before);
            }
            // By id: the script's own HGET and the read before it; placed: the script's only.
            assert_eq!(
                hgets[1] + 1,
                hgets[0],
                "HGET calls by id, then placed: {hgets:?}"
            );
        })
        .await;
    }

    /// The checkout and the settlement load their scripts again when Redis has forgotten them
    /// (a restart or `SCRIPT FLUSH`), and the settlement's answer is the stored order.
    #[tokio::test]
    async fn checkout_and_settlement_survive_a_script_flush() {
        bounded(async {
            let (_redis, w, mut con) = own_redis("t-flush").await;
            let flush = || redis::cmd("SCRIPT").arg("FLUSH").to_owned();
            let mug = w.product("Mug", 2000, "USD", 10).await;
            let buyer = viewer();
            w.add(buyer, &mug, 2, None).await;
            let () = flush().query_async(&mut con).await.unwrap();
            let placed = w.created(buyer, "k", t(1)).await;
            let () = flush().query_async(&mut con).await.unwrap();
            let paid = w
                .store
                .complete_placed_order(&w.show, &placed, &Completion::Paid { at: t(2) })
                .await
                .unwrap()
                .unwrap();
            assert_eq!(paid.status, OrderStatus::Paid);
            assert_eq!(w.store.order(&w.show, paid.id).await.unwrap(), Some(paid));
            assert_eq!(w.stock(&mug).await, 8);
        })
        .await;
    }
}
