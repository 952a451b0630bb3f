//! The catalog area of the store: products (with their stock and SKU index) and show lineups
//! ([`CatalogStore`]).

use async_trait::async_trait;

use super::{Page, PageAfter, StoreError};
use crate::domain::{CreatorId, Product, ProductId, Show, Timestamp};

/// What [`CatalogStore::insert_product_within`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductInsert {
    Inserted,
    /// The creator already has a product with this SKU; nothing changed.
    DuplicateSku,
    /// The creator already has the most products allowed; nothing changed.
    OverQuota,
}

/// What [`CatalogStore::remove_from_lineup`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineupRemoval {
    Removed,
    /// The product is not in the show's lineup; nothing changed.
    NotInLineup,
    /// The product is pinned in the show; nothing changed (unpin it first).
    Pinned,
}

/// A creator's products and the lineup of each show.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    /// Inserts a product; `false` when its creator already has a product with that SKU.
    /// No quota applies (the demo seed and tests); requests go through
    /// [`Self::insert_product_within`].
    async fn insert_product(&self, product: &Product) -> Result<bool, StoreError> {
        let outcome = self.insert_product_within(product, u64::MAX).await?;
        Ok(outcome == ProductInsert::Inserted)
    }
    /// Inserts a product unless its creator already has one with that SKU or already has
    /// `max_products` products (`--max-products-per-creator`); the check and the insert are
    /// one atomic step, so concurrent creates cannot overshoot the quota.
    async fn insert_product_within(
        &self,
        product: &Product,
        max_products: u64,
    ) -> Result<ProductInsert, StoreError>;
    /// Replaces a stored product's fields, stock included (same id, same SKU owner).
    async fn update_product(&self, product: &Product) -> Result<(), StoreError>;
    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError>;
    async fn product_by_sku(
        &self,
        creator: CreatorId,
        sku: &str,
    ) -> Result<Option<Product>, StoreError>;
    /// A creator's catalog, ordered by creation then id.
    async fn products(&self, creator: CreatorId) -> Result<Vec<Product>, StoreError>;
    /// At most `limit` products of [`Self::products`]' order, after `after` (from the first
    /// when `None`), and whether more follow.
    async fn products_page(
        &self,
        creator: CreatorId,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError>;

    /// Adds a product to a show's lineup; adding it twice keeps one entry.
    async fn add_to_lineup(&self, show: &Show, product: ProductId) -> Result<(), StoreError>;
    /// The lineup in the order products were added.
    async fn lineup(&self, show: &Show) -> Result<Vec<ProductId>, StoreError>;

    /// Saves a creator's edit of `product` (every field but the stock, which is set to
    /// `stock` when that is given and left alone otherwise) if the stored record was last
    /// updated at `expected` (the version the edit was applied to); the check, the record and
    /// the stock are one atomic step, so a checkout running meanwhile is never undone.
    /// Answers the stock after the change, or `None` when the record changed or vanished
    /// first (the caller reloads and re-applies the edit).
    async fn edit_product(
        &self,
        product: &Product,
        expected: Timestamp,
        stock: Option<i64>,
    ) -> Result<Option<i64>, StoreError>;
    /// Takes a product out of a show's lineup unless it is pinned there, in one atomic step
    /// with the pin check (a pin needs the lineup, so neither can slip between the other).
    async fn remove_from_lineup(
        &self,
        show: &Show,
        product: ProductId,
    ) -> Result<LineupRemoval, StoreError>;
    /// How many products `creator`'s catalog holds (what the quota counts).
    async fn product_count(&self, creator: CreatorId) -> Result<u64, StoreError>;
}
