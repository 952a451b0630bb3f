//! The replay-stats area of the store ([`ReplayStatsStore`]): per show, the replay's distinct
//! views (each view id with the furthest `watched_ms` it reported) and their total watch time.
//! The rules (what a beat is, the clamp to the recording, the cap) are `domain::replay_stats`;
//! the store keeps the counts and applies a beat atomically. tests/replay_stats_store.rs runs
//! one contract against both stores.

use async_trait::async_trait;
use uuid::Uuid;

use super::StoreError;
use crate::domain::Show;

/// What recording a beat did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewRecorded {
    /// Counted: `new_view` when the view id was first seen, `added_ms` of watch time the
    /// total grew by (0 when the beat reported no more than that view had before).
    Counted { new_view: bool, added_ms: u64 },
    /// A new view id in a show that already counts its maximum of views: nothing changed.
    Full,
}

/// A show's replay views and watch time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayTally {
    pub views: u64,
    /// The sum over views of each view's furthest `watched_ms`.
    pub watch_ms: u64,
}

#[async_trait]
pub trait ReplayStatsStore: Send + Sync + 'static {
    /// Records that `view` has watched `watched_ms` (already clamped) of the show's replay:
    /// the view's figure becomes the larger of the two, the show's total grows by the
    /// difference. A view id not seen before counts as a view, unless the show already has
    /// `max_views`. Atomic.
    async fn record_replay_view(
        &self,
        show: &Show,
        view: Uuid,
        watched_ms: u64,
        max_views: u64,
    ) -> Result<ViewRecorded, StoreError>;

    /// The show's views and watch time (zeros for a show nobody watched).
    async fn replay_tally(&self, show: &Show) -> Result<ReplayTally, StoreError>;
}
