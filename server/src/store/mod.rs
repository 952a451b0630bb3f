//! State behind one seam: `trait Store`, with an embedded [`MemoryStore`] for a single node and
//! tests, and a [`RedisStore`] for production and several nodes.
//!
//! The store keeps records; it does not decide rules (that is `domain/`). Operations that must
//! be atomic across requests (a status change, later stock and holds) are single store calls,
//! done under one lock in memory and in one command or Lua script in Redis. The contract tests
//! in tests/store_contract.rs run unchanged against both implementations.

mod memory;
mod redis;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;

use async_trait::async_trait;

use crate::domain::{
    Creator, CreatorId, Product, ProductId, Show, ShowId, ShowStatus, Viewer, ViewerId,
};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service cannot be reached or did not answer in time (maps to 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or a foreign writer; maps to 500).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// Where the demo seeded by the first start lives, so later starts can print its links.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DemoRecord {
    pub creator_id: CreatorId,
    pub show_id: ShowId,
}

pub type SharedStore = std::sync::Arc<dyn Store>;

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// `"memory"` or `"redis"`, for logs and metrics.
    fn kind(&self) -> &'static str;

    /// Succeeds when the store can serve requests (readiness).
    async fn ping(&self) -> Result<(), StoreError>;

    /// The token-signing secret: the stored one, or `candidate` stored now if there is none.
    /// The first writer wins, so nodes that start together agree.
    async fn secret_or_init(&self, candidate: &str) -> Result<String, StoreError>;

    /// Whether any creator exists (an empty store gets the demo).
    async fn has_data(&self) -> Result<bool, StoreError>;
    async fn demo(&self) -> Result<Option<DemoRecord>, StoreError>;
    async fn set_demo(&self, demo: &DemoRecord) -> Result<(), StoreError>;

    async fn insert_creator(&self, creator: &Creator) -> Result<(), StoreError>;
    async fn creator(&self, id: CreatorId) -> Result<Option<Creator>, StoreError>;

    async fn insert_show(&self, show: &Show) -> Result<(), StoreError>;
    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError>;
    /// Every show, ordered by `scheduled_at` then id.
    async fn shows(&self) -> Result<Vec<Show>, StoreError>;
    /// Saves `show` only if the stored status is still `expected`; `false` when another
    /// request changed it first (the caller reloads and re-applies the rule).
    async fn update_show(&self, show: &Show, expected: ShowStatus) -> Result<bool, StoreError>;

    /// Inserts a product; `false` when its creator already has a product with that SKU.
    async fn insert_product(&self, product: &Product) -> Result<bool, StoreError>;
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

    /// Adds a product to a show's lineup; adding it twice keeps one entry.
    async fn add_to_lineup(&self, show: &Show, product: ProductId) -> Result<(), StoreError>;
    /// The lineup in the order products were added.
    async fn lineup(&self, show: &Show) -> Result<Vec<ProductId>, StoreError>;

    async fn insert_viewer(&self, show: &Show, viewer: &Viewer) -> Result<(), StoreError>;
    async fn viewer(&self, show: &Show, id: ViewerId) -> Result<Option<Viewer>, StoreError>;
}
