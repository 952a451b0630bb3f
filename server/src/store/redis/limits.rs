//! RedisStore's limits per person: token buckets shared by every node, device ties, join
//! addresses, and address cool-downs after bans. [`super::MemoryStore`] is the reference
//! (`memory_limits.rs`); tests/limits.rs runs the same checks against both stores, and with
//! two nodes on one Redis.
//!
//! Key layout (after `{prefix}:`). A show's budgets and its cool-downs live in its creator's
//! slot beside its other keys; the join budget is per address and global (a one-key script is
//! fine in a Cluster). Every key expires by itself, so none outlives its use:
//!
//! | key                                        | type   | content                                   | expires |
//! |--------------------------------------------|--------|-------------------------------------------|---------|
//! | `{c:<c>}:show:<s>:budget:chat:<member>`    | hash   | `t` tokens left, `l` last take (ms)       | one budget period after the last take (full again) |
//! | `{c:<c>}:show:<s>:budget:reaction:<member>`| hash   | as above                                  | as above |
//! | `budget:join:<address>`                    | hash   | as above                                  | as above |
//! | `{c:<c>}:device:<device id>`               | string | the viewer id the device first joined as  | `--device-memory-days` |
//! | `{c:<c>}:join-addr:<viewer>`               | string | the address the viewer last joined from   | `--device-memory-days` |
//! | `{c:<c>}:show:<s>:mod:ban-addr:<address>`  | string | a show ban's cool-down: its end (ms)      | a minute after its end |
//! | `{c:<c>}:ban-addr:<address>`               | string | a creator-wide ban's cool-down: as above  | as above |
//!
//! A cool-down ends when the caller's `now` passes the end it stores, as in the memory store,
//! so it follows the server's clock. The key's expiry only cleans up, [`COOLDOWN_KEEP_MS`]
//! later, so a node whose clock is behind Redis's by less than that still sees it end on time.

use std::net::IpAddr;
use std::sync::LazyLock;
use std::time::Duration;

use redis::Script;

use async_trait::async_trait;

use super::{Keys, RedisStore, redis_error};
use crate::domain::limits::{Budget, BudgetKey, DeviceId};
use crate::domain::protocol::BanScope;
use crate::domain::{CreatorId, Show, Timestamp, ViewerId};
use crate::store::{LimitsStore, StoreError};

/// The token bucket of `domain::chat::RateLimit`, kept in Redis. Returns 0 when a unit was
/// taken, else the milliseconds until one is back. The key expires one period after the last
/// take: by then the bucket is full, which is what a missing key means.
/// KEYS: bucket. ARGV: capacity, period ms, now ms.
const TAKE: &str = r"
local cap = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local rate = cap / period
local s = redis.call('HMGET', KEYS[1], 't', 'l')
local tokens = tonumber(s[1]) or cap
local last = tonumber(s[2]) or now
if now > last then
  tokens = math.min(cap, tokens + (now - last) * rate)
  last = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'l', last)
redis.call('PEXPIRE', KEYS[1], period)
return wait
";

static TAKE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE));

impl Keys {
    fn budget(&self, key: &BudgetKey) -> String {
        match key.show() {
            Some((creator, show)) => {
                self.show_part(creator, show, format!("budget:{}", key.name()))
            }
            None => self.global(&format!("budget:{}", key.name())),
        }
    }
    fn device(&self, creator: CreatorId, device: &DeviceId) -> String {
        format!("{}:device:{}", self.tag(creator), device.as_str())
    }
    fn join_address(&self, creator: CreatorId, viewer: ViewerId) -> String {
        format!("{}:join-addr:{viewer}", self.tag(creator))
    }
    fn show_address_ban(&self, show: &Show, address: IpAddr) -> String {
        self.show_part(show.creator_id, show.id, format!("mod:ban-addr:{address}"))
    }
    fn creator_address_ban(&self, creator: CreatorId, address: IpAddr) -> String {
        format!("{}:ban-addr:{address}", self.tag(creator))
    }
}

/// How long (ms) a cool-down's key outlives the cool-down's end: cleanup only.
const COOLDOWN_KEEP_MS: i64 = 60_000;

fn millis(d: Duration) -> u64 {
    (d.as_millis() as u64).max(1)
}

/// `SET key value PX ttl`, with `NX` (keep an existing value) when `keep` is set.
async fn set_for(
    store: &RedisStore,
    op: &'static str,
    key: String,
    value: String,
    ttl: Duration,
    keep: bool,
) -> Result<(), StoreError> {
    store
        .guard(op, async {
            let mut cmd = redis::cmd("SET");
            cmd.arg(key).arg(value);
            if keep {
                cmd.arg("NX");
            }
            cmd.arg("PX")
                .arg(millis(ttl))
                .exec_async(&mut store.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
}

#[async_trait]
impl LimitsStore for RedisStore {
    async fn take_budget(
        &self,
        key: &BudgetKey,
        budget: Budget,
        now_ms: u64,
    ) -> Result<Result<(), Duration>, StoreError> {
        self.guard("take_budget", async {
            let wait: u64 = TAKE_SCRIPT
                .key(self.keys.budget(key))
                .arg(budget.capacity)
                .arg(millis(budget.period))
                .arg(now_ms)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(if wait == 0 {
                Ok(())
            } else {
                Err(Duration::from_millis(wait))
            })
        })
        .await
    }

    async fn device_viewer(
        &self,
        creator: CreatorId,
        device: &DeviceId,
    ) -> Result<Option<ViewerId>, StoreError> {
        self.guard("device_viewer", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.device(creator, device))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|raw| {
                raw.parse::<ViewerId>().map_err(|_| {
                    StoreError::Corrupt(format!("device tie {raw:?} is not a viewer id"))
                })
            })
            .transpose()
        })
        .await
    }

    async fn bind_device(
        &self,
        creator: CreatorId,
        device: &DeviceId,
        viewer: ViewerId,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.keys.device(creator, device);
        set_for(self, "bind_device", key, viewer.to_string(), ttl, true).await
    }

    async fn note_join_address(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
        address: IpAddr,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        let key = self.keys.join_address(creator, viewer);
        set_for(
            self,
            "note_join_address",
            key,
            address.to_string(),
            ttl,
            false,
        )
        .await
    }

    async fn join_address(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
    ) -> Result<Option<IpAddr>, StoreError> {
        self.guard("join_address", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.join_address(creator, viewer))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|raw| {
                raw.parse::<IpAddr>()
                    .map_err(|_| StoreError::Corrupt(format!("join address {raw:?}")))
            })
            .transpose()
        })
        .await
    }

    async fn set_address_ban(
        &self,
        show: &Show,
        scope: BanScope,
        address: IpAddr,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.guard("set_address_ban", async {
            let show_key = self.keys.show_address_ban(show, address);
            let creator_key = self.keys.creator_address_ban(show.creator_id, address);
            let mut pipe = redis::pipe();
            pipe.atomic();
            match (scope, until) {
                (_, Some(until)) => {
                    let key = if scope == BanScope::Show {
                        show_key
                    } else {
                        creator_key
                    };
                    let end_ms = until.timestamp_millis().max(1);
                    pipe.cmd("SET")
                        .arg(key)
                        .arg(end_ms)
                        .arg("PXAT")
                        .arg(end_ms.saturating_add(COOLDOWN_KEEP_MS))
                        .ignore();
                }
                (BanScope::Show, None) => {
                    pipe.cmd("DEL").arg(show_key).ignore();
                }
                // Lifting a creator-wide ban lifts the show's own too (as bans do).
                (BanScope::Creator, None) => {
                    pipe.cmd("DEL").arg(creator_key).arg(show_key).ignore();
                }
            }
            pipe.exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }

    async fn address_banned(
        &self,
        show: &Show,
        address: IpAddr,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        self.guard("address_banned", async {
            let ends: Vec<Option<String>> = redis::cmd("MGET")
                .arg(self.keys.show_address_ban(show, address))
                .arg(self.keys.creator_address_ban(show.creator_id, address))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let now_ms = now.timestamp_millis();
            for end in ends.into_iter().flatten() {
                let end_ms: i64 = end.parse().map_err(|_| {
                    StoreError::Corrupt(format!("address cool-down end {end:?} is not a time"))
                })?;
                // A key written before cool-downs stored their end holds `1`: it still runs
                // until Redis expires it, as it did then.
                if end_ms == 1 || end_ms > now_ms {
                    return Ok(true);
                }
            }
            Ok(false)
        })
        .await
    }
}
