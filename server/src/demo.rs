//! The demo show seeded on first start, so `cargo run --release` gives a working studio,
//! viewer page and camera link with nothing else done.

use chrono::Duration;
use uuid::Uuid;

use crate::domain::{
    Creator, CreatorId, Money, NewProduct, NewShow, Product, ProductId, Show, ShowId, Timestamp,
};
use crate::store::{DemoRecord, Store, StoreError};

const PRODUCTS: [(&str, &str, &str, i64, i64, &str); 4] = [
    (
        "DEMO-MUG",
        "Speckled ceramic mug",
        "Hand-thrown stoneware, 350 ml, dishwasher safe.",
        1800,
        40,
        "/static/img/demo/mug.svg",
    ),
    (
        "DEMO-BEANIE",
        "Chunky knit beanie",
        "Merino blend, one size, in forest green.",
        2400,
        25,
        "/static/img/demo/beanie.svg",
    ),
    (
        "DEMO-TOTE",
        "Leather tote bag",
        "Full-grain leather with an inside zip pocket.",
        8900,
        10,
        "/static/img/demo/tote.svg",
    ),
    (
        "DEMO-CANDLE",
        "Cedar & fig candle",
        "Soy wax, 45 hours of burn time.",
        2200,
        60,
        "/static/img/demo/candle.svg",
    ),
];

/// What happened to the demo at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DemoOutcome {
    /// The store was empty and the demo was created now.
    Seeded(DemoRecord),
    /// The store already had the demo; nothing was written.
    Existing(DemoRecord),
    /// The store has data but no demo (or `--no-demo`): no links to print.
    None,
}

/// Seeds the demo into an empty store, or finds the one a previous start seeded.
pub async fn ensure(
    store: &dyn Store,
    seed: bool,
    now: Timestamp,
) -> Result<DemoOutcome, StoreError> {
    if let Some(existing) = store.demo().await? {
        // A demo whose show was removed by hand is not worth printing links for.
        if store.show(existing.show_id).await?.is_some() {
            return Ok(DemoOutcome::Existing(existing));
        }
    }
    if !seed || store.has_data().await? {
        return Ok(DemoOutcome::None);
    }
    // Nodes that start together on one empty Redis race here; the claim lets one seed.
    let ours = DemoRecord {
        creator_id: CreatorId(Uuid::now_v7()),
        show_id: ShowId(Uuid::now_v7()),
    };
    let winner = store.claim_demo(&ours).await?;
    if winner != ours {
        return Ok(DemoOutcome::Existing(winner));
    }
    seed_into(store, &ours, now).await?;
    Ok(DemoOutcome::Seeded(ours))
}

async fn seed_into(
    store: &dyn Store,
    record: &DemoRecord,
    now: Timestamp,
) -> Result<(), StoreError> {
    let invalid = |e: crate::domain::DomainError| StoreError::Corrupt(format!("demo data: {e}"));
    let creator = Creator::new(record.creator_id, "Demo Creator", now).map_err(invalid)?;
    store.insert_creator(&creator).await?;
    let show = Show::schedule(
        record.show_id,
        creator.id,
        NewShow {
            title: "Cozy Home Friday Drop".into(),
            description: Some(
                "Four handmade favourites, live flash deals, and a Q&A with the maker.".into(),
            ),
            scheduled_at: Some(now + Duration::minutes(30)),
            cover_url: None,
        },
        now,
    )
    .map_err(invalid)?;
    store.insert_show(&show).await?;
    for (sku, title, description, amount, stock, image) in PRODUCTS {
        let fields = NewProduct {
            sku: sku.into(),
            title: title.into(),
            description: Some(description.into()),
            image_url: Some(image.into()),
            price: Money::price(amount, "USD").map_err(invalid)?,
            stock,
        };
        let product =
            Product::create(ProductId(Uuid::now_v7()), creator.id, fields, now).map_err(invalid)?;
        store.insert_product(&product).await?;
        store.add_to_lineup(&show, product.id).await?;
    }
    Ok(())
}
