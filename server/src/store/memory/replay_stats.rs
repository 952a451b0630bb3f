//! MemoryStore's replay-stats area: the reference behaviour of [`ReplayStatsStore`].

use std::collections::HashMap;

use async_trait::async_trait;
use uuid::Uuid;

use super::MemoryStore;
use crate::domain::Show;
use crate::store::StoreError;
use crate::store::replay_stats::{ReplayStatsStore, ReplayTally, ViewRecorded};

/// One show's views (view id → furthest `watched_ms`) and their sum.
#[derive(Default)]
pub(super) struct ShowViews {
    views: HashMap<Uuid, u64>,
    watch_ms: u64,
}

#[async_trait]
impl ReplayStatsStore for MemoryStore {
    async fn record_replay_view(
        &self,
        show: &Show,
        view: Uuid,
        watched_ms: u64,
        max_views: u64,
    ) -> Result<ViewRecorded, StoreError> {
        Ok(self.with(|s| {
            let stats = s.replay_views.entry(show.id).or_default();
            let new_view = !stats.views.contains_key(&view);
            if new_view && stats.views.len() as u64 >= max_views {
                return ViewRecorded::Full;
            }
            let had = stats.views.entry(view).or_insert(0);
            let added_ms = watched_ms.saturating_sub(*had);
            *had += added_ms;
            stats.watch_ms = stats.watch_ms.saturating_add(added_ms);
            ViewRecorded::Counted { new_view, added_ms }
        }))
    }

    async fn replay_tally(&self, show: &Show) -> Result<ReplayTally, StoreError> {
        Ok(self.with(|s| {
            s.replay_views
                .get(&show.id)
                .map(|v| ReplayTally {
                    views: v.views.len() as u64,
                    watch_ms: v.watch_ms,
                })
                .unwrap_or_default()
        }))
    }
}
