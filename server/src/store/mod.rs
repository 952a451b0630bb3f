//! State behind one seam: `trait Store`, with an embedded [`MemoryStore`] for a single node and
//! tests, and a [`RedisStore`] for production and several nodes.
//!
//! The store keeps records; it does not decide rules (that is `domain/`). Operations that must
//! be atomic across requests (a status change, later stock and holds) are single store calls,
//! done under one lock in memory and in one command or Lua script in Redis. The contract tests
//! in tests/store_contract.rs run unchanged against both implementations.
//!
//! One trait per area (`ShowStore`, `CatalogStore`, `CommerceStore`, `PaymentStore`,
//! `ModerationStore`, `LimitsStore`, `LeaseStore`, `ChapterStore`, `RecordingStore`,
//! `ReplayStatsStore`, `TranscriptStore`, `AuctionStore`, `AuctionSaleStore`), each implemented by both stores in one file per area
//! (`memory/<area>.rs`, `redis/<area>.rs`); [`Store`] is all of them, and [`open`] chooses the
//! implementation. A service holds only the areas it needs: an `Arc<dyn Store>` upcasts to
//! `Arc<dyn CommerceStore>`.

pub mod accounts;
pub mod auction_sales;
pub mod auctions;
pub mod catalog;
pub mod chapters;
pub mod commerce;
pub mod leases;
pub mod limits;
mod memory;
pub mod moderation;
pub mod payments;
pub mod recordings;
mod redis;
pub mod replay_stats;
pub mod shows;
pub mod transcript;

pub use self::memory::MemoryStore;
pub use self::redis::RedisStore;
pub(crate) use self::redis::connect_manager;
pub use accounts::AccountStore;
pub use auction_sales::AuctionSaleStore;
pub use auctions::AuctionStore;
pub use catalog::{CatalogStore, LineupRemoval, ProductInsert};
pub use chapters::{Appended, ChapterStore};
pub use commerce::{
    CheckoutOutcome, CheckoutRequest, CommerceStore, Completion, OutboxEvent, PinState, Webhook,
};
pub use leases::LeaseStore;
pub use limits::LimitsStore;
pub use moderation::ModerationStore;
pub use payments::{Attached, IntentOrder, PaymentAttachment, PaymentStore};
pub use recordings::RecordingStore;
pub use replay_stats::ReplayStatsStore;
pub use shows::{DemoRecord, ShowStore};
pub use transcript::TranscriptStore;

use async_trait::async_trait;

use crate::domain::{Product, Show, Timestamp};

/// The area traits, for code that calls store methods on a concrete `MemoryStore` or
/// `RedisStore` (on `dyn Store` they are callable without importing anything).
pub mod prelude {
    pub use super::AccountStore;
    pub use super::AuctionSaleStore;
    pub use super::AuctionStore;
    pub use super::ReplayStatsStore;
    pub use super::{
        CatalogStore, ChapterStore, CommerceStore, LeaseStore, LimitsStore, ModerationStore,
        PaymentStore, RecordingStore, ShowStore, Store, TranscriptStore,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service cannot be reached or did not answer in time (maps to 503).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back (a bug or a foreign writer; maps to 500).
    #[error("corrupt record: {0}")]
    Corrupt(String),
}

/// The store as the server shares it: every area, behind one pointer.
pub type SharedStore = std::sync::Arc<dyn Store>;

/// Where a page of a listing starts: strictly after the item with this sort key. Listings are
/// ordered by a time (a show's `scheduled_at`, a product's `created_at`) and then by id, so a
/// key names one position that items inserted later never shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PageAfter {
    pub at: Timestamp,
    pub id: uuid::Uuid,
}

impl PageAfter {
    /// The sort key of a show in [`ShowStore::shows`].
    pub fn show(show: &Show) -> Self {
        PageAfter {
            at: show.scheduled_at,
            id: show.id.0,
        }
    }

    /// The sort key of a product in [`CatalogStore::products`].
    pub fn product(product: &Product) -> Self {
        PageAfter {
            at: product.created_at,
            id: product.id.0,
        }
    }
}

/// One page of a listing, and whether more items follow it.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<T> Page<T> {
    /// The page of `sorted` (in listing order, each with its sort key) after `after`.
    pub fn of(
        sorted: Vec<T>,
        key: impl Fn(&T) -> PageAfter,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Self {
        let mut items: Vec<T> = sorted
            .into_iter()
            .filter(|item| after.is_none_or(|a| key(item) > a))
            .take(limit.saturating_add(1))
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        Page { items, more }
    }
}
/// Every area of the store: what the server is given at start and passes around as
/// [`SharedStore`].
#[async_trait]
pub trait Store:
    ShowStore
    + CatalogStore
    + CommerceStore
    + PaymentStore
    + ModerationStore
    + LimitsStore
    + LeaseStore
    + AccountStore
    + ChapterStore
    + RecordingStore
    + ReplayStatsStore
    + TranscriptStore
    + AuctionStore
    + AuctionSaleStore
{
    /// `"memory"` or `"redis"`, for logs and metrics.
    fn kind(&self) -> &'static str;

    /// Succeeds when the store can serve requests (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Where the store lives: in this process, or in Redis.
#[derive(Debug, Clone, Copy)]
pub enum Backend<'a> {
    Memory,
    Redis {
        url: &'a str,
        prefix: &'a str,
        timeout: std::time::Duration,
    },
}

/// Opens the store `backend` names: the one place that chooses an implementation.
pub async fn open(backend: Backend<'_>) -> Result<SharedStore, StoreError> {
    Ok(match backend {
        Backend::Memory => std::sync::Arc::new(MemoryStore::new()),
        Backend::Redis {
            url,
            prefix,
            timeout,
        } => std::sync::Arc::new(RedisStore::connect(url, prefix, timeout).await?),
    })
}
