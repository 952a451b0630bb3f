//! The `Store` contract, written once and run against every implementation: each contract is
//! an async function over a [`SharedStore`], and `contract_tests!` turns it into one test per
//! store (`memory_store::<name>`, `redis_store::<name>`) so a failure names both. The Redis runs
//! use the Redis from `LIVESALE_TEST_REDIS_URL` (scripts/test.sh starts a private one) under a
//! unique key prefix per test. Tests at the bottom check what only Redis has: the Cluster hash
//! tags, persistence across connections, and outage and recovery of one connection.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::DateTime;
use livesale::domain::catalog::MAX_STOCK;
use livesale::domain::limits::{Budget, BudgetKey};
use livesale::domain::protocol::BanScope;
use livesale::domain::{
    Creator, CreatorId, Money, NewProduct, NewShow, Product, ProductId, Show, ShowId, ShowStatus,
    Timestamp, Viewer, ViewerId,
};
use livesale::store::prelude::*;
use livesale::store::{DemoRecord, RedisStore, SharedStore, Store, StoreError};
use uuid::Uuid;

use common::redis::{PrivateRedis, crc16, keys_under, raw_connection, slot, unique_prefix};

const TIMEOUT: Duration = Duration::from_secs(2);
const RACERS: usize = 20;

/// A RedisStore whose calls fail fast (the outage tests rely on it).
async fn connect(prefix: &str) -> RedisStore {
    common::stores::connect_with(prefix, TIMEOUT).await
}

store_contracts!(
    secret_first_writer_wins,
    secret_race_agrees,
    has_data_and_demo,
    creators_round_trip,
    shows_round_trip_in_order,
    update_show_compares_status,
    update_show_race_has_one_winner,
    products_round_trip,
    products_listed_in_creation_order,
    duplicate_sku_refused,
    duplicate_sku_race_has_one_winner,
    update_product_moves_sku,
    stock_round_trip,
    lineup_keeps_order_once,
    lineup_race_keeps_one_entry,
    viewers_round_trip,
    unknown_ids_are_none,
    leases_have_one_holder,
    budgets_refill_by_the_callers_time,
    address_cool_downs_end_by_the_callers_time,
);

// ---- fixtures -------------------------------------------------------------------------------

fn at(ms: i64) -> Timestamp {
    DateTime::from_timestamp_millis(ms).expect("a valid timestamp")
}

fn new_creator(name: &str) -> Creator {
    Creator::new(CreatorId(Uuid::now_v7()), name, at(1_700_000_000_000)).expect("valid creator")
}

fn new_show(creator: &Creator, title: &str, scheduled_at: Timestamp) -> Show {
    Show::schedule(
        ShowId(Uuid::now_v7()),
        creator.id,
        NewShow {
            title: title.into(),
            description: Some(format!("{title}, live")),
            scheduled_at: Some(scheduled_at),
            cover_url: None,
        },
        at(1_700_000_000_000),
    )
    .expect("valid show")
}

fn new_product(creator: &Creator, sku: &str, created_at: Timestamp, stock: i64) -> Product {
    Product::create(
        ProductId(Uuid::new_v4()),
        creator.id,
        NewProduct {
            sku: sku.into(),
            title: format!("Item {sku}"),
            description: Some("Hand made".into()),
            image_url: Some("/static/img/demo/mug.svg".into()),
            price: Money::price(1999, "USD").expect("valid price"),
            stock,
        },
        created_at,
    )
    .expect("valid product")
}

fn new_viewer(show: &Show, name: &str) -> Viewer {
    Viewer {
        id: ViewerId(Uuid::new_v4()),
        show_id: show.id,
        display_name: name.into(),
        created_at: at(1_700_000_100_000),
    }
}

// ---- contracts ------------------------------------------------------------------------------

async fn secret_first_writer_wins(store: SharedStore) {
    assert_eq!(store.secret_or_init("first").await.unwrap(), "first");
    assert_eq!(store.secret_or_init("second").await.unwrap(), "first");
}

async fn secret_race_agrees(store: SharedStore) {
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.secret_or_init(&format!("candidate-{i}")).await })
        })
        .collect();
    let mut secrets = HashSet::new();
    for t in tasks {
        secrets.insert(t.await.unwrap().unwrap());
    }
    assert_eq!(
        secrets.len(),
        1,
        "racers disagree on the secret: {secrets:?}"
    );
    let secret = secrets.into_iter().next().unwrap();
    assert!(secret.starts_with("candidate-"));
    assert_eq!(store.secret_or_init("late").await.unwrap(), secret);
}

async fn has_data_and_demo(store: SharedStore) {
    assert!(!store.has_data().await.unwrap());
    assert_eq!(store.demo().await.unwrap(), None);

    let creator = new_creator("Demo shop");
    let show = new_show(&creator, "Demo", at(1_700_000_000_000));
    let demo = DemoRecord {
        creator_id: creator.id,
        show_id: show.id,
    };
    assert_eq!(store.claim_demo(&demo).await.unwrap(), demo);
    assert_eq!(store.demo().await.unwrap(), Some(demo.clone()));
    assert!(
        !store.has_data().await.unwrap(),
        "a demo record alone is not data"
    );

    store.insert_creator(&creator).await.unwrap();
    assert!(store.has_data().await.unwrap());

    let other = DemoRecord {
        creator_id: CreatorId(Uuid::new_v4()),
        show_id: ShowId(Uuid::new_v4()),
    };
    // The first claim wins; a second node's claim gets the first record back.
    assert_eq!(store.claim_demo(&other).await.unwrap(), demo);
    assert_eq!(store.demo().await.unwrap(), Some(demo));
}

async fn creators_round_trip(store: SharedStore) {
    let ada = new_creator("Ada's Atelier");
    let bo = new_creator("Bo");
    store.insert_creator(&ada).await.unwrap();
    store.insert_creator(&bo).await.unwrap();
    assert_eq!(store.creator(ada.id).await.unwrap(), Some(ada.clone()));
    assert_eq!(store.creator(bo.id).await.unwrap(), Some(bo));

    let renamed = Creator {
        name: "Ada".into(),
        ..ada.clone()
    };
    store.insert_creator(&renamed).await.unwrap();
    assert_eq!(store.creator(ada.id).await.unwrap(), Some(renamed));
}

async fn shows_round_trip_in_order(store: SharedStore) {
    let ada = new_creator("Ada");
    let bo = new_creator("Bo");
    store.insert_creator(&ada).await.unwrap();
    store.insert_creator(&bo).await.unwrap();

    let late = new_show(&ada, "Late", at(1_700_000_900_000));
    let early = new_show(&bo, "Early", at(1_700_000_100_000));
    // Same millisecond: the id decides. Sub-millisecond precision must survive too.
    let tie_a = new_show(&ada, "Tie A", at(1_700_000_500_000));
    let tie_b = new_show(&bo, "Tie B", at(1_700_000_500_000));
    let mut fine = new_show(&ada, "Fine", at(1_700_000_500_000));
    fine.scheduled_at += chrono::Duration::microseconds(1);

    for show in [&late, &tie_b, &fine, &early, &tie_a] {
        store.insert_show(show).await.unwrap();
    }
    for show in [&late, &tie_b, &fine, &early, &tie_a] {
        assert_eq!(store.show(show.id).await.unwrap().as_ref(), Some(show));
    }

    let mut expected = vec![
        late.clone(),
        early.clone(),
        tie_a.clone(),
        tie_b.clone(),
        fine.clone(),
    ];
    expected.sort_by_key(|s| (s.scheduled_at, s.id));
    assert_eq!(store.shows().await.unwrap(), expected);
    assert_eq!(store.shows().await.unwrap().last(), Some(&late));
    assert_eq!(store.shows().await.unwrap().first(), Some(&early));
}

async fn update_show_compares_status(store: SharedStore) {
    let ada = new_creator("Ada");
    store.insert_creator(&ada).await.unwrap();
    let scheduled = new_show(&ada, "Drop", at(1_700_000_000_000));
    store.insert_show(&scheduled).await.unwrap();

    let mut live = scheduled.clone();
    live.start(at(1_700_000_001_000)).unwrap();
    assert!(
        store
            .update_show(&live, ShowStatus::Scheduled)
            .await
            .unwrap()
    );
    assert_eq!(store.show(live.id).await.unwrap(), Some(live.clone()));

    // A request that loaded the show before it went live must not overwrite it.
    let mut stale = scheduled.clone();
    stale.title = "Stale edit".into();
    assert!(
        !store
            .update_show(&stale, ShowStatus::Scheduled)
            .await
            .unwrap()
    );
    assert_eq!(store.show(live.id).await.unwrap(), Some(live.clone()));

    let mut ended = live.clone();
    ended.end(at(1_700_000_002_000)).unwrap();
    assert!(
        !store
            .update_show(&ended, ShowStatus::Scheduled)
            .await
            .unwrap()
    );
    assert!(store.update_show(&ended, ShowStatus::Live).await.unwrap());
    assert_eq!(store.show(live.id).await.unwrap(), Some(ended.clone()));
    assert_eq!(store.shows().await.unwrap(), vec![ended]);

    // A show that was never inserted is never saved by a compare-and-set.
    let ghost = new_show(&ada, "Ghost", at(1_700_000_000_000));
    assert!(
        !store
            .update_show(&ghost, ShowStatus::Scheduled)
            .await
            .unwrap()
    );
    assert_eq!(store.show(ghost.id).await.unwrap(), None);
}

async fn update_show_race_has_one_winner(store: SharedStore) {
    let ada = new_creator("Ada");
    store.insert_creator(&ada).await.unwrap();
    let show = new_show(&ada, "Race", at(1_700_000_000_000));
    store.insert_show(&show).await.unwrap();

    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = store.clone();
            let mut mine = show.clone();
            mine.start(at(1_700_000_000_000 + i as i64)).unwrap();
            mine.title = format!("Winner {i}");
            tokio::spawn(async move {
                let won = store.update_show(&mine, ShowStatus::Scheduled).await;
                (mine, won)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (mine, won) = t.await.unwrap();
        if won.unwrap() {
            winners.push(mine);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one compare-and-set may win");
    assert_eq!(store.show(show.id).await.unwrap(), winners.pop());
}

async fn products_round_trip(store: SharedStore) {
    let ada = new_creator("Ada");
    let bo = new_creator("Bo");
    store.insert_creator(&ada).await.unwrap();
    store.insert_creator(&bo).await.unwrap();
    let mug = new_product(&ada, "MUG-1", at(1_700_000_000_000), 7);
    let mut plain = new_product(&ada, "PLAIN", at(1_700_000_000_001), 0);
    plain.description = None;
    plain.image_url = None;
    assert!(store.insert_product(&mug).await.unwrap());
    assert!(store.insert_product(&plain).await.unwrap());

    assert_eq!(store.product(mug.id).await.unwrap(), Some(mug.clone()));
    assert_eq!(store.product(plain.id).await.unwrap(), Some(plain.clone()));
    assert_eq!(
        store.product_by_sku(ada.id, "MUG-1").await.unwrap(),
        Some(mug.clone())
    );
    assert_eq!(
        store.product_by_sku(ada.id, "PLAIN").await.unwrap(),
        Some(plain)
    );
    assert_eq!(store.product_by_sku(bo.id, "MUG-1").await.unwrap(), None);
    assert_eq!(store.product_by_sku(ada.id, "mug-1").await.unwrap(), None);
    assert_eq!(store.products(bo.id).await.unwrap(), vec![]);
}

async fn products_listed_in_creation_order(store: SharedStore) {
    let ada = new_creator("Ada");
    let bo = new_creator("Bo");
    let third = new_product(&ada, "C", at(1_700_000_300_000), 1);
    let first = new_product(&ada, "A", at(1_700_000_100_000), 1);
    let tie_1 = new_product(&ada, "T1", at(1_700_000_200_000), 1);
    let tie_2 = new_product(&ada, "T2", at(1_700_000_200_000), 1);
    let theirs = new_product(&bo, "A", at(1_700_000_000_000), 1);
    for p in [&third, &tie_2, &theirs, &first, &tie_1] {
        assert!(store.insert_product(p).await.unwrap());
    }
    let mut expected = vec![first, tie_1, tie_2, third];
    expected.sort_by_key(|p| (p.created_at, p.id));
    assert_eq!(store.products(ada.id).await.unwrap(), expected);
    assert_eq!(store.products(bo.id).await.unwrap(), vec![theirs]);
}

async fn duplicate_sku_refused(store: SharedStore) {
    let ada = new_creator("Ada");
    let bo = new_creator("Bo");
    let original = new_product(&ada, "SKU-1", at(1_700_000_000_000), 3);
    let copy = new_product(&ada, "SKU-1", at(1_700_000_000_500), 9);
    assert!(store.insert_product(&original).await.unwrap());
    assert!(!store.insert_product(&copy).await.unwrap());

    assert_eq!(store.product(copy.id).await.unwrap(), None);
    assert_eq!(
        store.product_by_sku(ada.id, "SKU-1").await.unwrap(),
        Some(original.clone())
    );
    assert_eq!(store.products(ada.id).await.unwrap(), vec![original]);

    // SKUs are unique per creator, not globally.
    let theirs = new_product(&bo, "SKU-1", at(1_700_000_000_000), 1);
    assert!(store.insert_product(&theirs).await.unwrap());
    assert_eq!(
        store.product_by_sku(bo.id, "SKU-1").await.unwrap(),
        Some(theirs)
    );
}

async fn duplicate_sku_race_has_one_winner(store: SharedStore) {
    let ada = new_creator("Ada");
    let tasks: Vec<_> = (0..RACERS)
        .map(|i| {
            let store = store.clone();
            let product = new_product(&ada, "HOT", at(1_700_000_000_000 + i as i64), i as i64);
            tokio::spawn(async move {
                let inserted = store.insert_product(&product).await;
                (product, inserted)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for t in tasks {
        let (product, inserted) = t.await.unwrap();
        if inserted.unwrap() {
            winners.push(product);
        } else {
            assert_eq!(store.product(product.id).await.unwrap(), None);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one insert of a SKU may win");
    assert_eq!(store.products(ada.id).await.unwrap(), winners);
    assert_eq!(
        store.product_by_sku(ada.id, "HOT").await.unwrap(),
        winners.pop()
    );
}

async fn update_product_moves_sku(store: SharedStore) {
    let ada = new_creator("Ada");
    let mug = new_product(&ada, "MUG", at(1_700_000_000_000), 5);
    let cup = new_product(&ada, "CUP", at(1_700_000_000_001), 5);
    assert!(store.insert_product(&mug).await.unwrap());
    assert!(store.insert_product(&cup).await.unwrap());

    let mut edited = mug.clone();
    edited
        .update(
            NewProduct {
                sku: "MUG".into(),
                title: "Big mug".into(),
                description: None,
                image_url: None,
                price: Money::price(2500, "EUR").unwrap(),
                stock: 12,
            },
            at(1_700_000_050_000),
        )
        .unwrap();
    store.update_product(&edited).await.unwrap();
    assert_eq!(store.product(mug.id).await.unwrap(), Some(edited.clone()));
    assert_eq!(
        store.product_by_sku(ada.id, "MUG").await.unwrap(),
        Some(edited.clone())
    );

    let mut renamed = edited.clone();
    renamed.sku = "MUG-XL".into();
    renamed.stock = 4;
    store.update_product(&renamed).await.unwrap();
    assert_eq!(store.product(mug.id).await.unwrap(), Some(renamed.clone()));
    assert_eq!(store.product_by_sku(ada.id, "MUG").await.unwrap(), None);
    assert_eq!(
        store.product_by_sku(ada.id, "MUG-XL").await.unwrap(),
        Some(renamed.clone())
    );
    assert_eq!(
        store.product_by_sku(ada.id, "CUP").await.unwrap(),
        Some(cup.clone())
    );
    assert_eq!(store.products(ada.id).await.unwrap(), vec![renamed, cup]);

    // The old SKU is free again.
    let fresh = new_product(&ada, "MUG", at(1_700_000_060_000), 1);
    assert!(store.insert_product(&fresh).await.unwrap());
}

async fn stock_round_trip(store: SharedStore) {
    let ada = new_creator("Ada");
    let mut product = new_product(&ada, "S", at(1_700_000_000_000), 0);
    assert!(store.insert_product(&product).await.unwrap());
    assert_eq!(store.product(product.id).await.unwrap().unwrap().stock, 0);

    for stock in [1, MAX_STOCK, 0, 42] {
        product.stock = stock;
        store.update_product(&product).await.unwrap();
        assert_eq!(
            store.product(product.id).await.unwrap(),
            Some(product.clone())
        );
        assert_eq!(
            store
                .product_by_sku(ada.id, "S")
                .await
                .unwrap()
                .unwrap()
                .stock,
            stock
        );
        assert_eq!(store.products(ada.id).await.unwrap()[0].stock, stock);
    }
}

async fn lineup_keeps_order_once(store: SharedStore) {
    let ada = new_creator("Ada");
    let show = new_show(&ada, "Lineup", at(1_700_000_000_000));
    let other = new_show(&ada, "Other", at(1_700_000_000_000));
    store.insert_show(&show).await.unwrap();
    store.insert_show(&other).await.unwrap();
    assert_eq!(store.lineup(&show).await.unwrap(), vec![]);

    // Ids in an order unrelated to their sort order: the lineup keeps insertion order.
    let ids: Vec<ProductId> = (0..5).map(|_| ProductId(Uuid::new_v4())).collect();
    for id in [ids[3], ids[0], ids[4], ids[0], ids[1], ids[3], ids[2]] {
        store.add_to_lineup(&show, id).await.unwrap();
    }
    assert_eq!(
        store.lineup(&show).await.unwrap(),
        vec![ids[3], ids[0], ids[4], ids[1], ids[2]]
    );
    assert_eq!(store.lineup(&other).await.unwrap(), vec![]);
}

async fn lineup_race_keeps_one_entry(store: SharedStore) {
    let ada = new_creator("Ada");
    let show = new_show(&ada, "Race", at(1_700_000_000_000));
    store.insert_show(&show).await.unwrap();
    let hot = ProductId(Uuid::new_v4());
    let others: Vec<ProductId> = (0..5).map(|_| ProductId(Uuid::new_v4())).collect();

    let mut tasks = Vec::new();
    for i in 0..RACERS {
        let store = store.clone();
        let show = show.clone();
        let extra = others[i % others.len()];
        tasks.push(tokio::spawn(async move {
            store.add_to_lineup(&show, hot).await?;
            store.add_to_lineup(&show, extra).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let lineup = store.lineup(&show).await.unwrap();
    assert_eq!(lineup.len(), 1 + others.len(), "duplicates in {lineup:?}");
    assert_eq!(lineup.iter().filter(|p| **p == hot).count(), 1);
    for id in &others {
        assert!(lineup.contains(id));
    }
}

async fn viewers_round_trip(store: SharedStore) {
    let ada = new_creator("Ada");
    let show = new_show(&ada, "Viewers", at(1_700_000_000_000));
    let other = new_show(&ada, "Other", at(1_700_000_000_000));
    store.insert_show(&show).await.unwrap();
    store.insert_show(&other).await.unwrap();

    let kim = new_viewer(&show, "Kim");
    let lee = new_viewer(&show, "Lee 🎉");
    store.insert_viewer(&show, &kim).await.unwrap();
    store.insert_viewer(&show, &lee).await.unwrap();
    assert_eq!(
        store.viewer(&show, kim.id).await.unwrap(),
        Some(kim.clone())
    );
    assert_eq!(store.viewer(&show, lee.id).await.unwrap(), Some(lee));
    assert_eq!(store.viewer(&other, kim.id).await.unwrap(), None);

    let renamed = Viewer {
        display_name: "Kimberly".into(),
        ..kim.clone()
    };
    store.insert_viewer(&show, &renamed).await.unwrap();
    assert_eq!(store.viewer(&show, kim.id).await.unwrap(), Some(renamed));
}

async fn unknown_ids_are_none(store: SharedStore) {
    let nobody = new_creator("Nobody");
    let ghost = new_show(&nobody, "Ghost", at(1_700_000_000_000));
    assert_eq!(store.creator(nobody.id).await.unwrap(), None);
    assert_eq!(store.show(ghost.id).await.unwrap(), None);
    assert_eq!(store.shows().await.unwrap(), vec![]);
    assert_eq!(
        store.product(ProductId(Uuid::new_v4())).await.unwrap(),
        None
    );
    assert_eq!(store.product_by_sku(nobody.id, "NOPE").await.unwrap(), None);
    assert_eq!(store.products(nobody.id).await.unwrap(), vec![]);
    assert_eq!(store.lineup(&ghost).await.unwrap(), vec![]);
    assert_eq!(
        store
            .viewer(&ghost, ViewerId(Uuid::new_v4()))
            .await
            .unwrap(),
        None
    );
    assert!(!store.has_data().await.unwrap());
}

// ---- Redis only -----------------------------------------------------------------------------

mod redis_only {
    use super::*;

    #[test]
    fn slot_matches_redis_cluster() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(crc16(b"123456789"), 0x31C3);
        assert_eq!(slot("foo"), 12182);
        assert_eq!(slot("{user1000}.following"), slot("{user1000}.followers"));
        assert_eq!(slot("foo{}{bar}"), crc16(b"foo{}{bar}") % 16384);
    }

    #[tokio::test]
    async fn a_creators_keys_share_one_slot() {
        let prefix = unique_prefix("hash-tags");
        let store = connect(&prefix).await;
        let ada = new_creator("Ada");
        let show = new_show(&ada, "Tags", at(1_700_000_000_000));
        let mug = new_product(&ada, "MUG", at(1_700_000_000_000), 3);
        let cup = new_product(&ada, "CUP", at(1_700_000_000_001), 3);
        store.insert_creator(&ada).await.unwrap();
        store.insert_show(&show).await.unwrap();
        assert!(store.insert_product(&mug).await.unwrap());
        assert!(store.insert_product(&cup).await.unwrap());
        store.add_to_lineup(&show, mug.id).await.unwrap();
        store.add_to_lineup(&show, cup.id).await.unwrap();
        store
            .insert_viewer(&show, &new_viewer(&show, "Kim"))
            .await
            .unwrap();

        let keys = keys_under(&prefix).await;
        assert!(
            keys.iter().all(|k| k.starts_with(&format!("{prefix}:"))),
            "{keys:?}"
        );
        let tag = format!("{{c:{}}}", ada.id);
        let ids = [
            ada.id.to_string(),
            show.id.to_string(),
            mug.id.to_string(),
            cup.id.to_string(),
        ];
        let owned: Vec<&String> = keys
            .iter()
            .filter(|k| k.contains(&tag) || ids.iter().any(|id| k.contains(id.as_str())))
            .collect();
        // creator, show, lineup, viewers, two products, stock, skus, catalog.
        assert!(owned.len() >= 9, "too few creator keys: {owned:?}");
        for key in &owned {
            assert!(
                key.contains(&tag),
                "{key} lacks the creator's hash tag {tag}"
            );
        }
        let expected = crc16(&tag.as_bytes()[1..tag.len() - 1]) % 16384;
        for key in &owned {
            assert_eq!(slot(key), expected, "{key} is in another slot");
        }
        for suffix in [
            format!("show:{}", show.id),
            format!("show:{}:lineup", show.id),
        ] {
            assert!(
                owned.iter().any(|k| k.ends_with(&suffix)),
                "no key ending in {suffix}: {owned:?}"
            );
        }
    }

    #[tokio::test]
    async fn data_survives_a_new_connection() {
        let prefix = unique_prefix("reconnect");
        let first = connect(&prefix).await;
        let ada = new_creator("Ada");
        let mut show = new_show(&ada, "Persist", at(1_700_000_000_000));
        let mug = new_product(&ada, "MUG", at(1_700_000_000_000), 8);
        let viewer = new_viewer(&show, "Kim");
        let demo = DemoRecord {
            creator_id: ada.id,
            show_id: show.id,
        };
        let secret = first.secret_or_init("s3cret").await.unwrap();
        first.claim_demo(&demo).await.unwrap();
        first.insert_creator(&ada).await.unwrap();
        first.insert_show(&show).await.unwrap();
        show.start(at(1_700_000_001_000)).unwrap();
        assert!(
            first
                .update_show(&show, ShowStatus::Scheduled)
                .await
                .unwrap()
        );
        assert!(first.insert_product(&mug).await.unwrap());
        first.add_to_lineup(&show, mug.id).await.unwrap();
        first.insert_viewer(&show, &viewer).await.unwrap();
        drop(first);

        // A fresh store has an empty owner cache: every lookup goes through Redis.
        let second = connect(&prefix).await;
        assert_eq!(second.secret_or_init("other").await.unwrap(), secret);
        assert!(second.has_data().await.unwrap());
        assert_eq!(second.demo().await.unwrap(), Some(demo));
        assert_eq!(second.creator(ada.id).await.unwrap(), Some(ada.clone()));
        assert_eq!(second.show(show.id).await.unwrap(), Some(show.clone()));
        assert_eq!(second.shows().await.unwrap(), vec![show.clone()]);
        assert_eq!(second.product(mug.id).await.unwrap(), Some(mug.clone()));
        assert_eq!(
            second.product_by_sku(ada.id, "MUG").await.unwrap(),
            Some(mug.clone())
        );
        assert_eq!(second.products(ada.id).await.unwrap(), vec![mug.clone()]);
        assert_eq!(second.lineup(&show).await.unwrap(), vec![mug.id]);
        assert_eq!(second.viewer(&show, viewer.id).await.unwrap(), Some(viewer));
        assert!(
            !second
                .insert_product(&new_product(&ada, "MUG", at(0), 1))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn foreign_data_is_corrupt_not_a_panic() {
        let prefix = unique_prefix("corrupt");
        let store = connect(&prefix).await;
        let ada = new_creator("Ada");
        let show = new_show(&ada, "Corrupt", at(1_700_000_000_000));
        store.insert_show(&show).await.unwrap();
        let mut con = raw_connection().await;
        let key = format!("{prefix}:{{c:{}}}:show:{}", ada.id, show.id);
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg("not json")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(matches!(
            store.show(show.id).await,
            Err(StoreError::Corrupt(_))
        ));
        assert!(matches!(store.shows().await, Err(StoreError::Corrupt(_))));
        assert!(matches!(
            store.update_show(&show, ShowStatus::Scheduled).await,
            Err(StoreError::Corrupt(_))
        ));
        let _: () = redis::cmd("SET")
            .arg(format!("{prefix}:{{c:{}}}:skus", ada.id))
            .arg("a string, not a hash")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(matches!(
            store.product_by_sku(ada.id, "X").await,
            Err(StoreError::Corrupt(_))
        ));
    }

    #[tokio::test]
    async fn connect_failure_names_the_url_without_password() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("redis://:hunter2@127.0.0.1:{port}/");
        let started = Instant::now();
        let err = match RedisStore::connect(&url, "t-refused", Duration::from_millis(500)).await {
            Ok(_) => panic!("connected to a closed port"),
            Err(e) => e,
        };
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "took {:?}",
            started.elapsed()
        );
        let StoreError::Unavailable(message) = err else {
            panic!("expected Unavailable, got {err:?}");
        };
        assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn outage_fails_fast_and_recovers() {
        let mut redis = PrivateRedis::start();
        let store = RedisStore::connect(&redis.url, "t-outage", TIMEOUT)
            .await
            .unwrap();
        store.ping().await.unwrap();
        store.secret_or_init("before").await.unwrap();

        redis.stop();
        let started = Instant::now();
        let result = tokio::time::timeout(Duration::from_secs(5), store.ping())
            .await
            .expect("ping hung while Redis was down");
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "ping took {:?} to fail",
            started.elapsed()
        );
        // Later calls fail fast too, rather than waiting out a long reconnect backoff.
        for _ in 0..3 {
            let started = Instant::now();
            let again =
                tokio::time::timeout(Duration::from_secs(5), store.show(ShowId(Uuid::nil())))
                    .await
                    .expect("a call hung while Redis was down");
            assert!(
                matches!(again, Err(StoreError::Unavailable(_))),
                "{again:?}"
            );
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "a call took {:?} to fail while Redis refused connections",
                started.elapsed()
            );
        }

        redis.restart();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::time::timeout(Duration::from_secs(5), store.ping()).await {
                Ok(Ok(())) => break,
                outcome => assert!(
                    Instant::now() < deadline,
                    "the same RedisStore did not recover within 10 s: {outcome:?}"
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The restarted Redis is empty (no persistence): the store works on it normally, Lua
        // scripts included (they are loaded again on NOSCRIPT).
        assert_eq!(store.secret_or_init("after").await.unwrap(), "after");
        let ada = new_creator("Ada");
        let mug = new_product(&ada, "MUG", at(1_700_000_000_000), 2);
        assert!(store.insert_product(&mug).await.unwrap());
        assert_eq!(store.product(mug.id).await.unwrap(), Some(mug));
    }
}

async fn leases_have_one_holder(store: SharedStore) {
    use std::time::Duration;
    let name = format!("job-{}", Uuid::new_v4());
    let ttl = Duration::from_millis(300);
    assert!(store.lease(&name, "a", ttl).await.unwrap());
    assert!(
        !store.lease(&name, "b", ttl).await.unwrap(),
        "b waits while a holds it"
    );
    assert!(store.lease(&name, "a", ttl).await.unwrap(), "a renews");
    assert!(
        store.lease("another-job", "b", ttl).await.unwrap(),
        "names are separate"
    );
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert!(
        store.lease(&name, "b", ttl).await.unwrap(),
        "a lapsed lease goes to b"
    );
    assert!(!store.lease(&name, "a", ttl).await.unwrap());
    // Many contenders at once: exactly one wins.
    let race = format!("race-{}", Uuid::new_v4());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = store.clone();
        let race = race.clone();
        tasks.push(tokio::spawn(async move {
            store
                .lease(&race, &format!("node-{i}"), Duration::from_secs(5))
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
}

/// A budget refills by the `now_ms` its callers pass (the server's clock), not the store's own
/// time: a test that moves the clock ahead sees it full again.
async fn budgets_refill_by_the_callers_time(store: SharedStore) {
    let show = new_show(&new_creator("Ada"), "Drop", at(1_700_000_000_000));
    let key = BudgetKey::Reaction {
        creator: show.creator_id,
        show: show.id,
        member: "viewer-1".into(),
    };
    let budget = Budget::new(2, Duration::from_secs(1));
    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
    assert_eq!(store.take_budget(&key, budget, now).await.unwrap(), Ok(()));
    assert_eq!(store.take_budget(&key, budget, now).await.unwrap(), Ok(()));
    let spent = store.take_budget(&key, budget, now).await.unwrap();
    assert!(
        matches!(spent, Err(wait) if wait > Duration::ZERO && wait <= Duration::from_millis(501)),
        "one unit every 500 ms: {spent:?}"
    );
    let other = BudgetKey::Reaction {
        creator: show.creator_id,
        show: show.id,
        member: "viewer-2".into(),
    };
    assert_eq!(
        store.take_budget(&other, budget, now).await.unwrap(),
        Ok(())
    );
    // An hour later by the caller's clock, however little time passed for the store.
    let later = now + 3_600_000;
    for _ in 0..2 {
        assert_eq!(
            store.take_budget(&key, budget, later).await.unwrap(),
            Ok(())
        );
    }
    assert!(
        store
            .take_budget(&key, budget, later)
            .await
            .unwrap()
            .is_err()
    );
}

/// An address cool-down lasts until the end it was given, judged by the caller's `now`: it
/// ends when the server's clock passes it, on every store (on Redis its key outlives it). A
/// creator-wide one covers the creator's shows; lifting it lifts the show's own too.
async fn address_cool_downs_end_by_the_callers_time(store: SharedStore) {
    let ada = new_creator("Ada");
    let (show, sibling) = (
        new_show(&ada, "Drop", at(1_700_000_000_000)),
        new_show(&ada, "Encore", at(1_700_000_000_000)),
    );
    let stranger = new_show(&new_creator("Bo"), "Elsewhere", at(1_700_000_000_000));
    let address: std::net::IpAddr = "192.0.2.7".parse().unwrap();
    let other: std::net::IpAddr = "2001:db8::7".parse().unwrap();
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::minutes(10);
    let banned = async |show: &Show, address: std::net::IpAddr, now: Timestamp| {
        store.address_banned(show, address, now).await.unwrap()
    };
    assert!(!banned(&show, address, now).await);

    store
        .set_address_ban(&show, BanScope::Show, address, Some(until))
        .await
        .unwrap();
    assert!(banned(&show, address, now).await);
    assert!(!banned(&sibling, address, now).await, "another show");
    assert!(!banned(&show, other, now).await, "another address");
    let just_before = until - chrono::Duration::milliseconds(1);
    assert!(banned(&show, address, just_before).await);
    assert!(!banned(&show, address, until).await, "ended at its end");
    let hour_later = until + chrono::Duration::hours(1);
    assert!(!banned(&show, address, hour_later).await);

    // Creator-wide: every show of the creator, no one else's.
    store
        .set_address_ban(&sibling, BanScope::Creator, address, Some(until))
        .await
        .unwrap();
    assert!(banned(&sibling, address, now).await);
    assert!(banned(&show, address, now).await);
    assert!(!banned(&stranger, address, now).await, "another creator");
    // Lifting the show's own leaves the creator-wide one; lifting that lifts both.
    store
        .set_address_ban(&show, BanScope::Show, address, Some(until))
        .await
        .unwrap();
    store
        .set_address_ban(&show, BanScope::Show, address, None)
        .await
        .unwrap();
    assert!(banned(&show, address, now).await);
    store
        .set_address_ban(&show, BanScope::Show, address, Some(until))
        .await
        .unwrap();
    store
        .set_address_ban(&show, BanScope::Creator, address, None)
        .await
        .unwrap();
    assert!(!banned(&show, address, now).await);
    assert!(!banned(&sibling, address, now).await);
    // A creator-wide cool-down ends by the caller's time too.
    store
        .set_address_ban(&sibling, BanScope::Creator, address, Some(until))
        .await
        .unwrap();
    assert!(!banned(&show, address, until).await);
}
