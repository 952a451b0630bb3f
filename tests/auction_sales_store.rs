//! The sales part of the `Store` contract (`AuctionSaleStore`: a closed lot's offers, each an
//! order like a checkout's; the compare-and-set that settles an offer and makes the next; the
//! ticker's work list; body events in the outbox), written once and run against
//! `MemoryStore` (the reference) and `RedisStore` by `store_contracts!`.

mod common;

use chrono::DateTime;
use livesale::domain::auction::{AuctionId, Bidder};
use livesale::domain::commerce::{Order, OrderStatus};
use livesale::domain::{Money, NewProduct, OrderId, Product, ProductId, Show, Timestamp, ViewerId};
use livesale::store::SharedStore;
use livesale::store::auction_sales::{NewOffer, OfferOutcome, Offered};
use uuid::Uuid;

use common::stores::scheduled_show;

store_contracts!(
    an_offer_is_an_order_that_takes_one_unit,
    offers_come_in_turn_and_a_sold_out_lot_changes_nothing,
    an_offer_is_settled_once_and_makes_the_next,
    racing_offers_and_settlements_happen_once,
    the_ticker_finds_offers_past_their_deadline,
    a_body_event_is_delivered_as_written,
);

const T0_MS: i64 = 1_800_000_000_000;

fn t(s: i64) -> Timestamp {
    DateTime::from_timestamp_millis(T0_MS + s * 1000).expect("a valid timestamp")
}

fn bidder(name: &str) -> Bidder {
    Bidder {
        viewer_id: ViewerId(Uuid::now_v7()),
        name: name.into(),
    }
}

/// A show with a product of `stock` units at 20.00 USD in its lineup.
async fn setup(store: &SharedStore, stock: i64) -> (Show, ProductId) {
    let show = scheduled_show(store, "Maker", "Lots").await;
    let fields = NewProduct {
        sku: "VASE".into(),
        title: "Vase \"blue\"".into(),
        description: None,
        image_url: None,
        price: Money::price(2000, "USD").unwrap(),
        stock,
    };
    let product = Product::create(ProductId(Uuid::now_v7()), show.creator_id, fields, t(0));
    let product = product.unwrap();
    store.insert_product(&product).await.unwrap();
    store.add_to_lineup(&show, product.id).await.unwrap();
    (show, product.id)
}

fn offer(auction: AuctionId, number: u32, buyer: &Bidder, product: ProductId, at: i64) -> NewOffer {
    NewOffer {
        auction,
        number,
        buyer: buyer.clone(),
        product,
        price: Money::price(1234, "USD").unwrap(),
        order_id: OrderId(Uuid::now_v7()),
        now: t(at),
        deadline: t(at + 120),
        reserved_until: t(at + 180),
    }
}

async fn stock(store: &SharedStore, product: ProductId) -> i64 {
    store.product(product).await.unwrap().unwrap().stock
}

fn created(answer: Offered) -> Order {
    match answer {
        Offered::Created(o) => o,
        other => panic!("expected a new order, got {other:?}"),
    }
}

async fn an_offer_is_an_order_that_takes_one_unit(store: SharedStore) {
    let (show, product) = setup(&store, 2).await;
    let (lot, ann) = (AuctionId(Uuid::now_v7()), bidder("Ann"));
    let first = offer(lot, 0, &ann, product, 0);
    let order = created(store.offer(&show, &first).await.unwrap().unwrap());
    assert_eq!(order.id, first.order_id);
    assert_eq!(order.status, OrderStatus::PendingPayment);
    assert_eq!(order.viewer_id, ann.viewer_id);
    assert_eq!(order.buyer_name, "Ann");
    assert_eq!(order.total, Money::price(1234, "USD").unwrap());
    assert_eq!(order.items.len(), 1);
    assert_eq!(order.items[0].quantity, 1);
    assert_eq!(order.items[0].title, "Vase \"blue\"");
    assert!(!order.items[0].deal);
    assert_eq!(order.reserved_until, t(180));
    assert_eq!(stock(&store, product).await, 1);
    // Kept as a checkout keeps an order: in the show's and the buyer's orders, announced to
    // the merchant, and under a reservation the sweeper knows.
    assert_eq!(store.orders(&show).await.unwrap(), vec![order.clone()]);
    let mine = store.viewer_orders(&show, ann.viewer_id).await.unwrap();
    assert_eq!(mine, vec![order.clone()]);
    let events = store.outbox_pending(show.creator_id, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind, "order.created");
    assert!(
        store
            .shows_with_reservations()
            .await
            .unwrap()
            .contains(&show.id)
    );
    // The same offer again (another node): the same order.
    let mut again = offer(lot, 0, &ann, product, 5);
    again.order_id = OrderId(Uuid::now_v7());
    match store.offer(&show, &again).await.unwrap().unwrap() {
        Offered::Existing(o) => assert_eq!(o, order),
        other => panic!("expected the existing order, got {other:?}"),
    }
    assert_eq!(stock(&store, product).await, 1);
    let sale = store.sale(&show, lot).await.unwrap().unwrap();
    assert_eq!(sale.offers.len(), 1);
    assert_eq!(sale.offers[0].outcome, OfferOutcome::Waiting);
    assert_eq!(sale.offers[0].order, order.id);
    assert_eq!(sale.offers[0].deadline, t(120));
    assert_eq!(sale.waiting().map(|o| o.number), Some(0));
    // The reservation lapses like a checkout's.
    let expired = store.expire_reservations(&show, t(181)).await.unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(stock(&store, product).await, 2);
}

async fn offers_come_in_turn_and_a_sold_out_lot_changes_nothing(store: SharedStore) {
    let (show, product) = setup(&store, 0).await;
    let (lot, ann) = (AuctionId(Uuid::now_v7()), bidder("Ann"));
    let early = store.offer(&show, &offer(lot, 1, &ann, product, 0)).await;
    assert_eq!(early.unwrap().unwrap_err().code, "illegal_transition");
    let sold_out = store.offer(&show, &offer(lot, 0, &ann, product, 0)).await;
    assert_eq!(sold_out.unwrap().unwrap_err().code, "sold_out");
    assert!(store.sale(&show, lot).await.unwrap().is_none());
    assert!(store.orders(&show).await.unwrap().is_empty());
    assert_eq!(stock(&store, product).await, 0);
    let unknown = store.settle_offer(&show, lot, 0, OfferOutcome::Lapsed, None);
    assert!(unknown.await.unwrap().is_none());
}

async fn an_offer_is_settled_once_and_makes_the_next(store: SharedStore) {
    let (show, product) = setup(&store, 1).await;
    let (lot, ann, bob) = (AuctionId(Uuid::now_v7()), bidder("Ann"), bidder("Bob"));
    let first = created(
        store
            .offer(&show, &offer(lot, 0, &bob, product, 0))
            .await
            .unwrap()
            .unwrap(),
    );
    // While offer 0 waits, offer 1 is out of turn.
    let early = store.offer(&show, &offer(lot, 1, &ann, product, 1)).await;
    assert_eq!(early.unwrap().unwrap_err().code, "illegal_transition");
    // The winner's order fails first (its unit back), then the offer moves on.
    let failed = livesale::store::Completion::Failed {
        reason: "declined".into(),
        at: t(2),
    };
    store
        .complete_order(&show, first.id, &failed)
        .await
        .unwrap();
    let next = offer(lot, 1, &ann, product, 2);
    let settled = store
        .settle_offer(&show, lot, 0, OfferOutcome::Declined, Some(&next))
        .await
        .unwrap()
        .unwrap();
    assert!(settled.changed);
    let second = settled.next.expect("a next offer").expect("made");
    assert_eq!(second.viewer_id, ann.viewer_id);
    assert_eq!(second.id, next.order_id);
    assert_eq!(settled.sale.offers.len(), 2);
    assert_eq!(settled.sale.offers[0].outcome, OfferOutcome::Declined);
    assert_eq!(settled.sale.waiting().map(|o| o.number), Some(1));
    assert_eq!(stock(&store, product).await, 0);
    // Settling again changes nothing and makes nothing.
    let mut other = offer(lot, 1, &ann, product, 3);
    other.order_id = OrderId(Uuid::now_v7());
    let again = store
        .settle_offer(&show, lot, 0, OfferOutcome::Lapsed, Some(&other))
        .await
        .unwrap()
        .unwrap();
    assert!(!again.changed);
    assert!(again.next.is_none());
    assert_eq!(again.sale.offers[0].outcome, OfferOutcome::Declined);
    assert_eq!(store.orders(&show).await.unwrap().len(), 2);
    // The runner-up pays: the sale is over.
    let paid = store
        .settle_offer(&show, lot, 1, OfferOutcome::Paid, None)
        .await
        .unwrap()
        .unwrap();
    assert!(paid.changed);
    assert!(paid.sale.waiting().is_none());
}

async fn racing_offers_and_settlements_happen_once(store: SharedStore) {
    let (show, product) = setup(&store, 5).await;
    let (lot, ann, bob) = (AuctionId(Uuid::now_v7()), bidder("Ann"), bidder("Bob"));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, show, bob) = (store.clone(), show.clone(), bob.clone());
        tasks.push(tokio::spawn(async move {
            store
                .offer(&show, &offer(lot, 0, &bob, product, i))
                .await
                .unwrap()
                .unwrap()
        }));
    }
    let mut made = 0;
    for task in tasks {
        if let Offered::Created(_) = task.await.unwrap() {
            made += 1;
        }
    }
    assert_eq!(made, 1, "one order for the winner, however many nodes ask");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let (store, show, ann) = (store.clone(), show.clone(), ann.clone());
        tasks.push(tokio::spawn(async move {
            let next = offer(lot, 1, &ann, product, i);
            let settled = store.settle_offer(&show, lot, 0, OfferOutcome::Lapsed, Some(&next));
            settled.await.unwrap().unwrap()
        }));
    }
    let mut changed = 0;
    for task in tasks {
        if task.await.unwrap().changed {
            changed += 1;
        }
    }
    assert_eq!(changed, 1, "the step to the runner-up happens once");
    assert_eq!(store.orders(&show).await.unwrap().len(), 2);
    assert_eq!(stock(&store, product).await, 3);
}

async fn the_ticker_finds_offers_past_their_deadline(store: SharedStore) {
    let (show, product) = setup(&store, 3).await;
    let (lot, ann) = (AuctionId(Uuid::now_v7()), bidder("Ann"));
    store
        .offer(&show, &offer(lot, 0, &ann, product, 0))
        .await
        .unwrap()
        .unwrap();
    let other = AuctionId(Uuid::now_v7());
    store
        .offer(&show, &offer(other, 0, &ann, product, 60))
        .await
        .unwrap()
        .unwrap();
    let ours = |due: Vec<livesale::store::auction_sales::DueSale>| {
        due.into_iter()
            .filter(|d| d.show == show.id)
            .map(|d| (d.creator, d.auction))
            .collect::<Vec<_>>()
    };
    assert!(ours(store.due_sales(t(119)).await.unwrap()).is_empty());
    assert_eq!(
        ours(store.due_sales(t(120)).await.unwrap()),
        vec![(show.creator_id, lot)]
    );
    let both = ours(store.due_sales(t(500)).await.unwrap());
    assert_eq!(both.len(), 2);
    store
        .settle_offer(&show, lot, 0, OfferOutcome::Lapsed, None)
        .await
        .unwrap();
    assert_eq!(
        ours(store.due_sales(t(500)).await.unwrap()),
        vec![(show.creator_id, other)]
    );
}

async fn a_body_event_is_delivered_as_written(store: SharedStore) {
    let show = scheduled_show(&store, "Maker", "Lots").await;
    let body = r#"{"id":"e1","type":"auction.closed","log":[{"amount":100000000000}]}"#;
    store
        .queue_body_event(show.creator_id, "e1", "auction.closed", t(0), body)
        .await
        .unwrap();
    let pending = store.outbox_pending(show.creator_id, 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, "e1");
    assert_eq!(pending[0].kind, "auction.closed");
    assert_eq!(pending[0].body, body);
    store.outbox_ack(show.creator_id, "e1").await.unwrap();
    assert!(
        store
            .outbox_pending(show.creator_id, 10)
            .await
            .unwrap()
            .is_empty()
    );
}
