//! One checkout rule, two implementations: `plan_checkout` under MemoryStore's lock and the
//! Lua checkout script of RedisStore. On thousands of random cases (stocks, pins with and
//! without deals, deal quantities and per-buyer limits, cart lines at the deal price or not,
//! products missing or not in the lineup, ended shows (selling from the replay, each order's
//! channel) and cancelled ones, idempotency keys reused with the same
//! and another body, address allowances) both stores are set up with the same facts, run the
//! same checkouts, and must answer the same: the same refusal (code, kind and message) or the
//! same order, and afterwards the same stock, deal remaining, buyer counts, carts and orders.
//! Against the real Redis (`LIVESALE_TEST_REDIS_URL`), under a key prefix of its own that is
//! deleted at the end.

mod common;

use std::sync::Arc;

use chrono::DateTime;
use livesale::domain::commerce::{CartLine, Deal, Pin};
use livesale::domain::{
    Creator, CreatorId, Money, NewProduct, NewShow, OrderId, Product, ProductId, Show, ShowId,
    ShowStatus, Timestamp, ViewerId,
};
use livesale::store::commerce::AddressAllowance;
use livesale::store::{CheckoutRequest, MemoryStore, SharedStore};
use proptest::prelude::*;
use uuid::Uuid;

const T0_MS: i64 = 1_800_000_000_000;
/// How long every deal of a case lasts; checkouts happen from 0 to 29 s after it starts.
const DEAL_SECONDS: i64 = 20;

fn t(seconds: i64) -> Timestamp {
    DateTime::from_timestamp_millis(T0_MS + seconds * 1000).expect("a valid time")
}

#[derive(Debug, Clone)]
struct ProductSpec {
    stock: i64,
    price: i64,
    euro: bool,
    in_lineup: bool,
    /// Absent from the store (a cart may still name it).
    missing: bool,
    /// 0: not pinned, 1: pinned, 2: pinned with a deal.
    pin: u8,
    deal_quantity: i64,
    deal_limit: i64,
    deal_discount: i64,
}

#[derive(Debug, Clone)]
struct Round {
    /// Product index, quantity, added at the deal price.
    lines: Vec<(usize, i64, bool)>,
    viewer: usize,
    key: u8,
    body: u8,
    at: i64,
    /// Buyers' allowances an address shares; `None`: no address limit.
    address: Option<u32>,
}

#[derive(Debug, Clone)]
struct Case {
    products: Vec<ProductSpec>,
    /// The show's stored status: scheduled, or now and then ended or cancelled.
    status: ShowStatus,
    rounds: Vec<Round>,
}

fn product_spec() -> impl Strategy<Value = ProductSpec> {
    (
        (0i64..6, 1i64..20, prop::bool::weighted(0.1)),
        (prop::bool::weighted(0.85), prop::bool::weighted(0.08)),
        (0u8..3, 1i64..6, 1i64..6, 1i64..99),
    )
        .prop_map(
            |((stock, price, euro), (in_lineup, missing), (pin, quantity, limit, discount))| {
                ProductSpec {
                    stock,
                    price: price * 100,
                    euro,
                    in_lineup,
                    missing,
                    pin,
                    deal_quantity: quantity,
                    deal_limit: limit.min(quantity),
                    deal_discount: discount,
                }
            },
        )
}

fn round(products: usize) -> impl Strategy<Value = Round> {
    (
        prop::collection::vec((0..products, 1i64..4, any::<bool>()), 0..4),
        (0usize..2, 0u8..3, 0u8..2),
        0i64..30,
        prop::option::weighted(0.3, 0u32..3),
    )
        .prop_map(|(lines, (viewer, key, body), at, address)| Round {
            lines,
            viewer,
            key,
            body,
            at,
            address,
        })
}

fn case() -> impl Strategy<Value = Case> {
    prop::collection::vec(product_spec(), 1..5).prop_flat_map(|products| {
        let n = products.len();
        (
            Just(products),
            prop_oneof![
                84 => Just(ShowStatus::Scheduled),
                8 => Just(ShowStatus::Ended),
                8 => Just(ShowStatus::Cancelled),
            ],
            prop::collection::vec(round(n), 1..4),
        )
            .prop_map(|(products, status, rounds)| Case {
                products,
                status,
                rounds,
            })
    })
}

/// The same show, products, lineup and pins, in `stores`.
async fn set_up(stores: &[SharedStore; 2], case: &Case) -> (Show, Vec<ProductId>, Vec<Pin>) {
    let creator = Creator::new(CreatorId(Uuid::now_v7()), "Differ", t(-1000)).unwrap();
    let mut show = Show::schedule(
        ShowId(Uuid::now_v7()),
        creator.id,
        NewShow {
            title: "Twin drop".into(),
            description: None,
            scheduled_at: Some(t(0)),
            cover_url: None,
        },
        t(-1000),
    )
    .unwrap();
    let mut ids = Vec::new();
    let mut pins = Vec::new();
    for store in stores {
        store.insert_creator(&creator).await.unwrap();
        store.insert_show(&show).await.unwrap();
    }
    for (i, spec) in case.products.iter().enumerate() {
        let currency = if spec.euro { "EUR" } else { "USD" };
        let product = Product::create(
            ProductId(Uuid::new_v4()),
            creator.id,
            NewProduct {
                sku: format!("SKU-{i}"),
                title: format!("Thing {i}"),
                description: None,
                image_url: None,
                price: Money::price(spec.price, currency).unwrap(),
                stock: spec.stock,
            },
            t(-500),
        )
        .unwrap();
        ids.push(product.id);
        let deal = (spec.pin == 2).then(|| Deal {
            price: Money::price(spec.price * spec.deal_discount / 100, currency).unwrap(),
            quantity: spec.deal_quantity,
            per_buyer_limit: spec.deal_limit,
            starts_at: t(0),
            ends_at: t(DEAL_SECONDS),
        });
        let pin = Pin {
            product_id: product.id,
            pinned_at: t(0),
            deal,
        };
        for store in stores {
            if !spec.missing {
                assert!(store.insert_product(&product).await.unwrap());
            }
            if spec.in_lineup {
                store.add_to_lineup(&show, product.id).await.unwrap();
            }
        }
        if spec.pin > 0 {
            let [memory, redis] = stores;
            let pinned = memory.pin(&show, &pin).await.unwrap();
            assert_eq!(pinned, redis.pin(&show, &pin).await.unwrap(), "pin {pin:?}");
            pins.push(pin);
        }
    }
    if case.status != show.status {
        let scheduled = show.clone();
        show.status = case.status;
        for store in stores {
            assert!(store.update_show(&show, scheduled.status).await.unwrap());
        }
    }
    (show, ids, pins)
}

/// Everything a checkout may change, as one store sees it.
async fn snapshot(
    store: &SharedStore,
    show: &Show,
    products: &[ProductId],
    viewers: &[ViewerId],
) -> String {
    let mut out = String::new();
    for id in products {
        let stock = store.product(*id).await.unwrap().map(|p| p.stock);
        out += &format!("stock {id}: {stock:?}\n");
        for v in viewers {
            let bought = store.deal_bought(show, *id, *v).await.unwrap();
            out += &format!("bought {id} by {v}: {bought}\n");
        }
    }
    out += &format!("pins: {:?}\n", store.pins(show).await.unwrap());
    for v in viewers {
        out += &format!("cart of {v}: {:?}\n", store.cart(show, *v).await.unwrap());
    }
    out += &format!("orders: {:?}\n", store.orders(show).await.unwrap());
    out
}

async fn run(stores: &[SharedStore; 2], case: &Case) -> Result<(), TestCaseError> {
    let (show, ids, pins) = set_up(stores, case).await;
    let viewers = [ViewerId(Uuid::new_v4()), ViewerId(Uuid::new_v4())];
    for (n, round) in case.rounds.iter().enumerate() {
        let viewer = viewers[round.viewer];
        for &(i, quantity, at_deal) in &round.lines {
            let deal_end = pins
                .iter()
                .find(|p| p.product_id == ids[i])
                .and_then(|p| p.deal.as_ref())
                .map_or(t(5), |d| d.ends_at);
            let line = CartLine {
                quantity,
                deal_ends_at: at_deal.then_some(deal_end),
            };
            for store in stores {
                store
                    .set_cart_line(&show, viewer, ids[i], Some(line))
                    .await
                    .unwrap();
            }
        }
        let req = CheckoutRequest {
            viewer,
            buyer_name: "Twin".into(),
            key: format!("key-{}", round.key),
            body_fingerprint: format!("body-{}", round.body),
            order_id: OrderId(Uuid::now_v7()),
            now: t(round.at),
            reserve_for: chrono::Duration::seconds(600),
            address: round.address.map(|buyers| AddressAllowance {
                key: "a:192.0.2.7".into(),
                buyers,
            }),
            email: None,
            shipping: None,
        };
        let [memory, redis] = stores;
        let expected = memory.checkout(&show, &req).await.unwrap();
        let actual = redis.checkout(&show, &req).await.unwrap();
        prop_assert_eq!(&expected, &actual, "round {} of {:?}", n, case);
        let expected = snapshot(memory, &show, &ids, &viewers).await;
        let actual = snapshot(redis, &show, &ids, &viewers).await;
        prop_assert_eq!(expected, actual, "state after round {} of {:?}", n, case);
    }
    Ok(())
}

/// Deletes every key under `prefix` (the test's own).
async fn clean_up(prefix: &str) {
    let keys = common::redis::keys_under(prefix).await;
    let mut con = common::redis::raw_connection().await;
    for batch in keys.chunks(1000) {
        let _: () = redis::cmd("DEL")
            .arg(batch)
            .query_async(&mut con)
            .await
            .unwrap();
    }
}

#[test]
fn memory_and_redis_checkouts_agree() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let prefix = common::redis::unique_prefix("checkout-differential");
    let stores: [SharedStore; 2] = runtime.block_on(async {
        let redis = common::stores::connect(&prefix).await;
        let memory: SharedStore = Arc::new(MemoryStore::new());
        [memory, Arc::new(redis)]
    });
    let config = ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let outcome = proptest::test_runner::TestRunner::new(config)
        .run(&case(), |case| runtime.block_on(run(&stores, &case)));
    runtime.block_on(clean_up(&prefix));
    if let Err(e) = outcome {
        panic!("{e}");
    }
}
