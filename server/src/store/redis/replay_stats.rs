//! RedisStore's replay-stats area, with [`crate::store::MemoryStore`]'s observable behaviour
//! (tests/replay_stats_store.rs runs one contract against both).
//!
//! | key (after `{prefix}:{c:<creator>}:`) | type   | content                                  |
//! |---------------------------------------|--------|------------------------------------------|
//! | `show:<s>:replay-views`               | hash   | view id → furthest `watched_ms`          |
//! | `show:<s>:replay-watch-ms`            | string | the sum of the hash's values             |
//!
//! Both keys share the creator's hash tag; a beat is one Lua script (the cap, the view's
//! maximum and the sum change together).

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;
use uuid::Uuid;

use super::{RedisStore, script_error, store_error};
use crate::domain::Show;
use crate::store::StoreError;
use crate::store::replay_stats::{ReplayStatsStore, ReplayTally, ViewRecorded};

/// KEYS: views, watch-ms. ARGV: view id, watched_ms, max views. Returns {-1, 0} full, else
/// {1 new view | 0, ms added}.
static RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local ms = tonumber(ARGV[2])
local had = redis.call('HGET', KEYS[1], ARGV[1])
local new = 0
if had then
  had = tonumber(had)
else
  if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {-1, 0} end
  had, new = 0, 1
end
if new == 0 and ms <= had then return {0, 0} end
redis.call('HSET', KEYS[1], ARGV[1], string.format('%d', math.max(ms, had)))
local added = math.max(ms - had, 0)
if added > 0 then redis.call('INCRBY', KEYS[2], string.format('%d', added)) end
return {new, added}
",
    )
});

impl RedisStore {
    fn replay_stats_keys(&self, show: &Show) -> (String, String) {
        (
            self.keys
                .show_part(show.creator_id, show.id, "replay-views"),
            self.keys
                .show_part(show.creator_id, show.id, "replay-watch-ms"),
        )
    }
}

#[async_trait]
impl ReplayStatsStore for RedisStore {
    async fn record_replay_view(
        &self,
        show: &Show,
        view: Uuid,
        watched_ms: u64,
        max_views: u64,
    ) -> Result<ViewRecorded, StoreError> {
        let (views, watch) = self.replay_stats_keys(show);
        self.guard("record_replay_view", async {
            let (new, added): (i64, i64) = RECORD
                .key(&views)
                .key(&watch)
                .arg(view.to_string())
                .arg(watched_ms)
                .arg(max_views)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(script_error)?;
            Ok(if new < 0 {
                ViewRecorded::Full
            } else {
                ViewRecorded::Counted {
                    new_view: new == 1,
                    added_ms: added.max(0) as u64,
                }
            })
        })
        .await
    }

    async fn replay_tally(&self, show: &Show) -> Result<ReplayTally, StoreError> {
        let (views, watch) = self.replay_stats_keys(show);
        self.guard("replay_tally", async {
            let (count, ms): (u64, Option<u64>) = redis::pipe()
                .cmd("HLEN")
                .arg(&views)
                .cmd("GET")
                .arg(&watch)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            Ok(ReplayTally {
                views: count,
                watch_ms: ms.unwrap_or(0),
            })
        })
        .await
    }
}
