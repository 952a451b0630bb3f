//! Replay metrics (issue 17, item 6): the view beacons a replay page sends while it plays
//! (distinct views and their watch time per show, clamped to the recording, capped, rate
//! limited per client address) and the creator's stats of a show: views, watch time, and paid
//! sales split by channel (live, or from the replay after the end). The rules are
//! `domain::replay_stats`; whether a replay exists is the media's
//! ([`Media::replay_duration_ms`], the same readiness as `replay.m3u8`). Knows nothing of
//! HTTP: `http/replay_stats.rs` maps its outcomes.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::SharedClock;
use crate::domain::access::{Action, authorize};
use crate::domain::limits::{Budget, BudgetKey};
use crate::domain::replay_stats::{
    BEAT_PERIOD, BEATS_PER_ADDRESS, MAX_REPLAY_VIEWS, ReplayStats, ViewBeat, sales_by_channel,
};
use crate::domain::{Code, DomainError, Principal, Show, ShowId};
use crate::media::{Media, MediaError};
use crate::store::replay_stats::ViewRecorded;
use crate::store::{
    CommerceStore, LimitsStore, ReplayStatsStore, SharedStore, ShowStore, StoreError,
};

#[derive(Debug, thiserror::Error)]
pub enum ReplayStatsError {
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The client address has sent its beacons' budget; the wait until the next one counts.
    #[error("too many replay beacons from this address")]
    RateLimited(Duration),
}

/// Replay views and the creator's replay stats. Cheap to share.
pub struct ReplayStatsService {
    shows: Arc<dyn ShowStore>,
    commerce: Arc<dyn CommerceStore>,
    stats: Arc<dyn ReplayStatsStore>,
    limits: Arc<dyn LimitsStore>,
    media: Arc<Media>,
    clock: SharedClock,
}

impl ReplayStatsService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(store: &SharedStore, media: &Arc<Media>, clock: &SharedClock) -> Self {
        ReplayStatsService {
            shows: store.clone(),
            commerce: store.clone(),
            limits: store.clone(),
            stats: store.clone(),
            media: media.clone(),
            clock: clock.clone(),
        }
    }

    async fn show(&self, id: ShowId) -> Result<Show, ReplayStatsError> {
        self.shows.show(id).await?.ok_or_else(|| {
            DomainError::not_found(Code::ShowNotFound, format!("no show {id}")).into()
        })
    }

    /// Counts a view beacon (anyone): the view, once per view id, and the watch time it adds
    /// (its furthest report, clamped to the recording). 404 `replay_not_ready` while the
    /// show has no replay; 429 past the address's budget. A new view past the show's cap is
    /// quietly not counted.
    pub async fn beat(
        &self,
        id: ShowId,
        beat: &ViewBeat,
        address: IpAddr,
    ) -> Result<(), ReplayStatsError> {
        let show = self.show(id).await?;
        let duration_ms = match self.media.replay_duration_ms(&show).await {
            Ok(ms) => ms,
            Err(MediaError::Store(e)) => return Err(e.into()),
            Err(_) => return Err(not_ready().into()),
        };
        let watched_ms = beat.counted_ms(duration_ms)?;
        let budget = Budget::new(BEATS_PER_ADDRESS, BEAT_PERIOD);
        let key = BudgetKey::ReplayBeat { address };
        if let Err(wait) = self
            .limits
            .take_budget(&key, budget, self.clock.now_ms())
            .await?
        {
            metrics::counter!("livesale_limits_refused_total", "limit" => "replay_beat")
                .increment(1);
            return Err(ReplayStatsError::RateLimited(wait));
        }
        let recorded = self
            .stats
            .record_replay_view(&show, beat.view_id, watched_ms, MAX_REPLAY_VIEWS)
            .await?;
        if let ViewRecorded::Counted { new_view, added_ms } = recorded {
            count(new_view, added_ms);
        }
        Ok(())
    }

    /// The show's replay views and watch time, and its paid sales by channel (the show's
    /// creator; any status: a live show's are its live sales so far).
    pub async fn stats(
        &self,
        who: Option<&Principal>,
        id: ShowId,
    ) -> Result<ReplayStats, ReplayStatsError> {
        let show = self.show(id).await?;
        authorize(who, Action::ManageShow, Some(&show))?;
        let tally = self.stats.replay_tally(&show).await?;
        let orders = self.commerce.orders(&show).await?;
        let sales = sales_by_channel(&orders);
        Ok(ReplayStats {
            views: tally.views,
            watch_time_s: tally.watch_ms / 1000,
            live: sales.live,
            replay: sales.replay,
        })
    }
}

fn not_ready() -> DomainError {
    DomainError::not_found(
        Code::ReplayNotReady,
        "this show has no replay (yet): it has not ended, or nothing of it was recorded",
    )
}

/// `livesale_replay_views_total` and `livesale_replay_watch_seconds_total` (whole seconds of
/// this process's running sum of ms, so no fraction is lost between beacons).
fn count(new_view: bool, added_ms: u64) {
    static WATCHED_MS: AtomicU64 = AtomicU64::new(0);
    if new_view {
        metrics::counter!("livesale_replay_views_total").increment(1);
    }
    if added_ms > 0 {
        let before = WATCHED_MS.fetch_add(added_ms, Ordering::Relaxed);
        let seconds = (before + added_ms) / 1000 - before / 1000;
        if seconds > 0 {
            metrics::counter!("livesale_replay_watch_seconds_total").increment(seconds);
        }
    }
}
