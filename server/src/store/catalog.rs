//! The catalog area of the store: products (with their stock and SKU index) and show lineups
//! ([`CatalogStore`]).

use async_trait::async_trait;

use super::{Page, PageAfter, StoreError};
use crate::domain::{CreatorId, Product, ProductId, Show};

/// What [`CatalogStore::insert_product_within`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProductInsert {
    Inserted,
    /// The creator already has a product with this SKU; nothing changed.
    DuplicateSku,
    /// The creator already has the most products allowed; nothing changed.
    OverQuota,
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
}
