//! The production store: records in Redis, shared by every node, with the same observable
//! behaviour as [`super::MemoryStore`] (the contract tests in tests/store_contract.rs prove it).
//!
//! Key layout, every key under `{prefix}:`. All keys that belong to one creator carry the hash
//! tag `{c:<creator_id>}`: the creator record, the catalog (products, SKU index, stock) and
//! every show with its per-show keys (lineup, viewers, and later carts, orders and the room
//! log). Checkout will change a product's stock and a show's orders in one Lua script, Redis
//! Cluster only runs a script whose keys share one slot, and products are shared by all of a
//! creator's shows, so the creator, not the show, is the unit of co-location. Lookups by a bare
//! id go through two global index hashes (`idx:show`, `idx:product`: id → creator id) whose
//! entries never change, so they are cached in process; records are written before their
//! index entry, so an index hit always points at a record. Stock lives in its own hash, apart
//! from the product JSON, because commerce scripts change it without touching the record.
//! Every atomic rule (SKU uniqueness, status compare-and-set, lineup de-duplication) is one
//! Lua script over keys of one slot. No KEYS or SCAN in normal operation.
//!
//! Failure model: one multiplexed [`ConnectionManager`] with connection and response
//! timeouts, a short bounded reconnect backoff, and an outer deadline on every store call, so a
//! dead Redis turns into a prompt [`StoreError::Unavailable`] (milliseconds when connections are
//! refused, at most the configured timeout when the host does not answer) and the manager
//! reconnects by itself when Redis is back.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, Script};

use super::commerce::{
    CheckoutOutcome, CheckoutRequest, Completion, OutboxEvent, PinState, Webhook,
};
use super::redis_commerce as commerce;
use super::redis_limits as limits;
use super::redis_moderation as moderation;
use super::{DemoRecord, Page, PageAfter, ProductInsert, Store, StoreError};
use crate::domain::DomainError;
use crate::domain::InviteId;
use crate::domain::chat::ChatMessage;
use crate::domain::commerce::{CartLine, CartLines, Order, Pin};
use crate::domain::limits::{Budget, BudgetKey, DeviceId};
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage, Standing};
use crate::domain::protocol::BanScope;
use crate::domain::{
    Creator, CreatorId, Product, ProductId, Show, ShowId, ShowStatus, Timestamp, Viewer, ViewerId,
};

/// Reconnect attempts per episode after the first one fails. Calls made during an episode wait
/// for it, so it stays short (50 ms then 100 ms, each plus up to 100 % jitter): a refused
/// connection fails a call in well under a second, and the next call starts another episode.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(200);

/// Inserts a product unless its creator already uses the SKU or already has the most products
/// allowed (the catalog's size).
/// KEYS: skus, product, stock, catalog. ARGV: sku, product id, json, stock, created ms, max.
/// Returns 1 inserted, 0 duplicate SKU, -1 over the quota.
const INSERT_PRODUCT: &str = r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[6]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[2])
return 1
";

/// Replaces a product (stock included) and moves its SKU index entry if the SKU changed.
/// KEYS: product, stock, skus, catalog. ARGV: product id, json, stock, sku, created ms.
/// Returns -1 when the stored record is not JSON.
const UPDATE_PRODUCT: &str = r"
local old = redis.call('GET', KEYS[1])
if old then
  local ok, rec = pcall(cjson.decode, old)
  if not ok or type(rec) ~= 'table' or type(rec.sku) ~= 'string' then return -1 end
  if rec.sku ~= ARGV[4] then
    if redis.call('HGET', KEYS[3], rec.sku) == ARGV[1] then
      redis.call('HDEL', KEYS[3], rec.sku)
    end
    redis.call('HSET', KEYS[3], ARGV[4], ARGV[1])
  end
end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
return 1
";

/// Saves a show only if its stored status is still the expected one.
/// KEYS: show. ARGV: expected status, json. Returns 1 saved, 0 refused, -1 stored record bad.
const UPDATE_SHOW: &str = r"
local cur = redis.call('GET', KEYS[1])
if not cur then return 0 end
local ok, rec = pcall(cjson.decode, cur)
if not ok or type(rec) ~= 'table' then return -1 end
if rec.status ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
";

/// Appends a product to a lineup once; scores count up, so ZRANGE is insertion order.
/// KEYS: lineup. ARGV: product id.
const ADD_TO_LINEUP: &str = r"
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local n = 1
if last[2] then n = tonumber(last[2]) + 1 end
redis.call('ZADD', KEYS[1], n, ARGV[1])
return 1
";

/// Key names; the one place that knows the layout described in the module doc (the commerce
/// keys are built in redis_commerce.rs, from [`Keys::show`] and [`Keys::tag`]).
pub(super) struct Keys {
    prefix: String,
}

impl Keys {
    pub(super) fn global(&self, name: &str) -> String {
        format!("{}:{name}", self.prefix)
    }

    /// `{prefix}:{c:<creator>}`: the start of every key in one creator's slot.
    pub(super) fn tag(&self, creator: CreatorId) -> String {
        format!("{}:{{c:{creator}}}", self.prefix)
    }

    fn creator(&self, c: CreatorId) -> String {
        format!("{}:creator", self.tag(c))
    }
    // The keys a checkout builds are formatted in one go (one allocation each).
    pub(super) fn product(&self, c: CreatorId, p: ProductId) -> String {
        format!("{}:{{c:{c}}}:product:{p}", self.prefix)
    }
    pub(super) fn stock(&self, c: CreatorId) -> String {
        format!("{}:{{c:{c}}}:stock", self.prefix)
    }
    fn skus(&self, c: CreatorId) -> String {
        format!("{}:skus", self.tag(c))
    }
    fn catalog(&self, c: CreatorId) -> String {
        format!("{}:products", self.tag(c))
    }
    pub(super) fn show(&self, c: CreatorId, s: ShowId) -> String {
        format!("{}:{{c:{c}}}:show:{s}", self.prefix)
    }
    /// `what` of show `s`: `{prefix}:{c:<creator>}:show:<s>:<what>`.
    pub(super) fn show_part(
        &self,
        c: CreatorId,
        s: ShowId,
        what: impl std::fmt::Display,
    ) -> String {
        format!("{}:{{c:{c}}}:show:{s}:{what}", self.prefix)
    }
    pub(super) fn lineup(&self, show: &Show) -> String {
        format!("{}:lineup", self.show(show.creator_id, show.id))
    }
    fn viewers(&self, show: &Show) -> String {
        format!("{}:viewers", self.show(show.creator_id, show.id))
    }
}

/// Which creator owns a show or product; immutable, so cached forever once seen.
#[derive(Default)]
struct Owners {
    shows: HashMap<ShowId, CreatorId>,
    products: HashMap<ProductId, CreatorId>,
}

/// How long [`Store::show_recent`] answers from this node's copy of a show record.
const RECENT_SHOW_TTL: Duration = Duration::from_secs(1);
/// Entries of the recent-show and cart-hint caches before they are cleared (both are only
/// shortcuts: an empty cache costs a read, never a wrong answer).
const MAX_RECENT_SHOWS: usize = 4096;
pub(super) const MAX_CART_HINTS: usize = 100_000;
pub(super) const MAX_SHOW_KEYS: usize = MAX_RECENT_SHOWS;

/// Per-node shortcuts of the checkout path (docs/benchmarks.md, "What limits checkout on
/// Redis"). Neither is ever trusted for a decision: the checkout script re-checks the show's
/// end from the stored record, and answers `retry` with the cart's products when a hint was
/// wrong.
#[derive(Default)]
pub(super) struct Recent {
    /// Show records read in the last [`RECENT_SHOW_TTL`].
    shows: HashMap<ShowId, (Instant, Show)>,
    /// The products this node last saw in a viewer's cart, to declare the checkout script's
    /// keys without reading the cart first.
    pub(super) cart_products: HashMap<(ShowId, ViewerId), Vec<ProductId>>,
    /// The checkout script's keys that depend only on the show, formatted once (a show's id
    /// and creator never change, so neither do they).
    pub(super) show_keys: HashMap<(CreatorId, ShowId), std::sync::Arc<[String]>>,
}

/// A Redis client for `url` with Nagle's algorithm off: requests are small and latency-bound
/// (a chat message's sequencing script, a checkout), so waiting to coalesce them only adds
/// delayed-ACK stalls of ~40 ms.
pub(crate) fn open_client(url: &str) -> redis::RedisResult<redis::Client> {
    use redis::IntoConnectionInfo;
    let info = url
        .into_connection_info()?
        .set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    redis::Client::open(info)
}

/// Checks the key prefix and opens a [`ConnectionManager`] to `url` whose calls fail after
/// `timeout` and which reconnects by itself with a short backoff; the first connection attempt
/// is bounded too. Shared by the store and the bus (`who` names the caller in errors).
pub(crate) async fn connect_manager(
    url: &str,
    prefix: &str,
    timeout: Duration,
    who: &str,
) -> Result<(redis::Client, ConnectionManager), StoreError> {
    let shown = redact(url);
    if prefix.is_empty() || prefix.contains(['{', '}']) {
        // A brace in the prefix would become the Cluster hash tag of every key.
        return Err(StoreError::Unavailable(format!(
            "redis key prefix {prefix:?} must be non-empty and contain no braces"
        )));
    }
    let client = open_client(url)
        .map_err(|e| StoreError::Unavailable(format!("invalid redis URL {shown}: {e}")))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_min_delay(RECONNECT_MIN_DELAY)
        .set_max_delay(RECONNECT_MAX_DELAY)
        .set_number_of_retries(RECONNECT_RETRIES);
    // The manager retries the first connection too; bound the whole attempt (jitter can
    // double each delay).
    let budget = timeout * (RECONNECT_RETRIES as u32 + 1)
        + RECONNECT_MAX_DELAY * 2 * RECONNECT_RETRIES as u32;
    match tokio::time::timeout(
        budget,
        ConnectionManager::new_with_config(client.clone(), config),
    )
    .await
    {
        Ok(Ok(conn)) => Ok((client, conn)),
        Ok(Err(e)) => Err(StoreError::Unavailable(format!(
            "{who} cannot connect to redis at {shown}: {e}"
        ))),
        Err(_) => Err(StoreError::Unavailable(format!(
            "{who} cannot connect to redis at {shown}: no answer within {} ms",
            budget.as_millis()
        ))),
    }
}

pub struct RedisStore {
    pub(super) conn: ConnectionManager,
    pub(super) keys: Keys,
    timeout: Duration,
    owners: Mutex<Owners>,
    recent: Mutex<Recent>,
    insert_product: Script,
    update_product: Script,
    update_show: Script,
    add_to_lineup: Script,
}

impl RedisStore {
    /// Connects to `url`, namespacing every key under `prefix`; each command fails as
    /// `Unavailable` after `timeout`.
    #[tracing::instrument(skip_all, fields(url = %redact(url), prefix = %prefix))]
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Self, StoreError> {
        let (_, conn) = connect_manager(url, prefix, timeout, "the store").await?;
        Ok(RedisStore {
            conn,
            keys: Keys {
                prefix: prefix.to_string(),
            },
            timeout,
            owners: Mutex::default(),
            recent: Mutex::default(),
            insert_product: Script::new(INSERT_PRODUCT),
            update_product: Script::new(UPDATE_PRODUCT),
            update_show: Script::new(UPDATE_SHOW),
            add_to_lineup: Script::new(ADD_TO_LINEUP),
        })
    }

    /// Runs one store call under the outer deadline; the manager's own timeouts come first in
    /// practice, this catches a call that waits on a reconnect in progress.
    pub(super) async fn guard<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(result) => {
                if let Err(e) = &result {
                    tracing::debug!(op, error = %e, "redis store call failed");
                }
                result
            }
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis did not answer {op} within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    fn owners<R>(&self, f: impl FnOnce(&mut Owners) -> R) -> R {
        // Only whole inserts happen under the lock, so a poisoned one is still consistent.
        let mut guard = self.owners.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// Runs `f` on the per-node checkout shortcuts.
    pub(super) fn recent<R>(&self, f: impl FnOnce(&mut Recent) -> R) -> R {
        // Every change under the lock is a whole insert or removal: a poisoned one is usable.
        let mut guard = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    async fn show_owner(&self, id: ShowId) -> Result<Option<CreatorId>, StoreError> {
        if let Some(c) = self.owners(|o| o.shows.get(&id).copied()) {
            return Ok(Some(c));
        }
        let owner = self.indexed_owner("idx:show", &id.to_string()).await?;
        if let Some(c) = owner {
            self.owners(|o| o.shows.insert(id, c));
        }
        Ok(owner)
    }

    async fn product_owner(&self, id: ProductId) -> Result<Option<CreatorId>, StoreError> {
        if let Some(c) = self.owners(|o| o.products.get(&id).copied()) {
            return Ok(Some(c));
        }
        let owner = self.indexed_owner("idx:product", &id.to_string()).await?;
        if let Some(c) = owner {
            self.owners(|o| o.products.insert(id, c));
        }
        Ok(owner)
    }

    /// Looks an id up in one of the global index hashes.
    async fn indexed_owner(&self, index: &str, id: &str) -> Result<Option<CreatorId>, StoreError> {
        let raw: Option<String> = redis::cmd("HGET")
            .arg(self.keys.global(index))
            .arg(id)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        raw.map(|raw| parse_id::<CreatorId>(&raw, index))
            .transpose()
    }

    /// Reads one product record and its stock, if the record exists.
    async fn load_product(
        &self,
        creator: CreatorId,
        id: ProductId,
    ) -> Result<Option<Product>, StoreError> {
        let (json, stock): (Option<String>, Option<String>) = redis::pipe()
            .cmd("GET")
            .arg(self.keys.product(creator, id))
            .cmd("HGET")
            .arg(self.keys.stock(creator))
            .arg(id.to_string())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        match json {
            Some(json) => decode_product(&json, stock.as_deref()).map(Some),
            None => Ok(None),
        }
    }

    /// The show records of listing members (show ids), in no particular order; a member
    /// whose record or index entry is gone is skipped.
    async fn load_shows(&self, members: &[String]) -> Result<Vec<Show>, StoreError> {
        let mut con = self.conn.clone();
        let ids = members
            .iter()
            .map(|m| parse_id::<ShowId>(m, "show listing"))
            .collect::<Result<Vec<_>, _>>()?;

        // Owners this process has not seen yet come from the index in one HMGET.
        let unknown: Vec<ShowId> = self.owners(|o| {
            ids.iter()
                .filter(|id| !o.shows.contains_key(id))
                .copied()
                .collect()
        });
        if !unknown.is_empty() {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(self.keys.global("idx:show"));
            for id in &unknown {
                cmd.arg(id.to_string());
            }
            let owners: Vec<Option<String>> =
                cmd.query_async(&mut con).await.map_err(redis_error)?;
            let found = unknown
                .iter()
                .zip(owners)
                .filter_map(|(id, raw)| raw.map(|raw| (*id, raw)))
                .map(|(id, raw)| Ok((id, parse_id::<CreatorId>(&raw, "show index")?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            self.owners(|o| o.shows.extend(found));
        }
        let located: Vec<(ShowId, CreatorId)> = self.owners(|o| {
            ids.iter()
                .filter_map(|id| o.shows.get(id).map(|c| (*id, *c)))
                .collect()
        });
        if located.is_empty() {
            return Ok(Vec::new());
        }

        let mut pipe = redis::pipe();
        for (show, creator) in &located {
            pipe.cmd("GET").arg(self.keys.show(*creator, *show));
        }
        let raws: Vec<Option<String>> = pipe.query_async(&mut con).await.map_err(redis_error)?;
        raws.iter()
            .flatten()
            .map(|r| decode::<Show>(r, "show"))
            .collect()
    }

    /// The product records (with stock) of catalog members (product ids), in no particular
    /// order; a member whose record is gone is skipped.
    async fn load_products(
        &self,
        creator: CreatorId,
        members: &[String],
    ) -> Result<Vec<Product>, StoreError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let ids = members
            .iter()
            .map(|m| parse_id::<ProductId>(m, "catalog"))
            .collect::<Result<Vec<_>, _>>()?;
        let mut records = redis::cmd("MGET");
        let mut stock = redis::cmd("HMGET");
        stock.arg(self.keys.stock(creator));
        for id in &ids {
            records.arg(self.keys.product(creator, *id));
            stock.arg(id.to_string());
        }
        let (raws, stocks): (Vec<Option<String>>, Vec<Option<String>>) = redis::pipe()
            .add_command(records)
            .add_command(stock)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        raws.iter()
            .zip(&stocks)
            .filter_map(|(raw, stock)| raw.as_ref().map(|r| (r, stock)))
            .map(|(raw, stock)| decode_product(raw, stock.as_deref()))
            .collect()
    }

    /// One page of a listing kept as a sorted set of ids scored by [`score`] (whole
    /// milliseconds) whose records sort by `key` (the time at full precision, then the id).
    ///
    /// The set's order agrees with the records' except among members of one score, so members
    /// are read from `after`'s score on, in batches, until every member of each score that
    /// can still reach the page has been read; the records then decide the order. A cursor is
    /// a position, not an offset: members added or removed elsewhere never shift a page.
    async fn page_of<T, Fut>(
        &self,
        set: &str,
        after: Option<PageAfter>,
        limit: usize,
        key: fn(&T) -> PageAfter,
        load: impl Fn(Vec<String>) -> Fut,
    ) -> Result<Page<T>, StoreError>
    where
        Fut: Future<Output = Result<Vec<T>, StoreError>>,
    {
        // One extra item tells whether more follow; a few more absorb boundary ties.
        let batch = limit.saturating_add(1).max(16);
        let min = after.map_or_else(|| "-inf".to_string(), |a| score(a.at).to_string());
        let mut kept: Vec<T> = Vec::new();
        let mut offset = 0usize;
        loop {
            let read: Vec<(String, f64)> = redis::cmd("ZRANGEBYSCORE")
                .arg(set)
                .arg(&min)
                .arg("+inf")
                .arg("WITHSCORES")
                .arg("LIMIT")
                .arg(offset)
                .arg(batch)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            offset += read.len();
            let exhausted = read.len() < batch;
            let last_score = read.last().map(|(_, s)| *s);
            let loaded = load(read.into_iter().map(|(m, _)| m).collect()).await?;
            kept.extend(
                loaded
                    .into_iter()
                    .filter(|item| after.is_none_or(|a| key(item) > a)),
            );
            kept.sort_by_key(key);
            // Every member scored below the last one read has been read, so once the item
            // just past the page scores below it, no unread member can come before it.
            let settled = match (kept.get(limit), last_score) {
                (Some(edge), Some(last)) => (score(key(edge).at) as f64) < last,
                _ => false,
            };
            if exhausted || settled {
                break;
            }
        }
        Ok(Page::of(kept, key, None, limit))
    }

    /// Writes the product's index entry unless this process already knows it.
    async fn index_product(&self, product: &Product) -> Result<(), StoreError> {
        if self.owners(|o| o.products.contains_key(&product.id)) {
            return Ok(());
        }
        redis::cmd("HSET")
            .arg(self.keys.global("idx:product"))
            .arg(product.id.to_string())
            .arg(product.creator_id.to_string())
            .exec_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        self.owners(|o| o.products.insert(product.id, product.creator_id));
        Ok(())
    }
}

#[async_trait]
impl Store for RedisStore {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.guard("PING", async {
            let pong: String = redis::cmd("PING")
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            if pong == "PONG" {
                Ok(())
            } else {
                Err(StoreError::Unavailable(format!(
                    "redis answered PING with {pong:?}"
                )))
            }
        })
        .await
    }

    async fn secret_or_init(&self, candidate: &str) -> Result<String, StoreError> {
        self.guard("secret_or_init", async {
            let key = self.keys.global("secret");
            // SET NX then GET in one pipeline: whoever set it first, GET returns that value.
            let (secret,): (Option<String>,) = redis::pipe()
                .cmd("SET")
                .arg(&key)
                .arg(candidate)
                .arg("NX")
                .ignore()
                .cmd("GET")
                .arg(&key)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            secret.ok_or_else(|| StoreError::Corrupt("secret vanished after SET NX".into()))
        })
        .await
    }

    async fn has_data(&self) -> Result<bool, StoreError> {
        self.guard("has_data", async {
            let n: u64 = redis::cmd("SCARD")
                .arg(self.keys.global("creators"))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(n > 0)
        })
        .await
    }

    async fn demo(&self) -> Result<Option<DemoRecord>, StoreError> {
        self.guard("demo", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.global("demo"))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "demo")).transpose()
        })
        .await
    }

    async fn claim_demo(&self, demo: &DemoRecord) -> Result<DemoRecord, StoreError> {
        self.guard("claim_demo", async {
            // SET NX GET (Redis 7): sets only if absent and returns the previous value.
            let previous: Option<String> = redis::cmd("SET")
                .arg(self.keys.global("demo"))
                .arg(encode(demo)?)
                .arg("NX")
                .arg("GET")
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            match previous {
                Some(raw) => decode(&raw, "demo"),
                None => Ok(demo.clone()),
            }
        })
        .await
    }

    async fn insert_creator(&self, creator: &Creator) -> Result<(), StoreError> {
        self.guard("insert_creator", async {
            redis::pipe()
                .cmd("SET")
                .arg(self.keys.creator(creator.id))
                .arg(encode(creator)?)
                .ignore()
                .cmd("SADD")
                .arg(self.keys.global("creators"))
                .arg(creator.id.to_string())
                .ignore()
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }

    async fn creator(&self, id: CreatorId) -> Result<Option<Creator>, StoreError> {
        self.guard("creator", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.creator(id))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "creator")).transpose()
        })
        .await
    }

    async fn insert_show(&self, show: &Show) -> Result<(), StoreError> {
        self.guard("insert_show", async {
            // One pipeline runs in order: record, then index, then the listing.
            redis::pipe()
                .cmd("SET")
                .arg(self.keys.show(show.creator_id, show.id))
                .arg(encode(show)?)
                .ignore()
                .cmd("HSET")
                .arg(self.keys.global("idx:show"))
                .arg(show.id.to_string())
                .arg(show.creator_id.to_string())
                .ignore()
                .cmd("ZADD")
                .arg(self.keys.global("shows"))
                .arg(score(show.scheduled_at))
                .arg(show.id.to_string())
                .ignore()
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            self.owners(|o| o.shows.insert(show.id, show.creator_id));
            Ok(())
        })
        .await
    }

    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError> {
        self.guard("show", async {
            let Some(creator) = self.show_owner(id).await? else {
                return Ok(None);
            };
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.show(creator, id))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "show")).transpose()
        })
        .await
    }

    async fn show_recent(&self, id: ShowId) -> Result<Option<Show>, StoreError> {
        let cached = self.recent(|r| match r.shows.get(&id) {
            Some((at, show)) if at.elapsed() < RECENT_SHOW_TTL => Some(show.clone()),
            _ => None,
        });
        if cached.is_some() {
            return Ok(cached);
        }
        let read_at = Instant::now();
        let show = self.show(id).await?;
        if let Some(show) = &show {
            self.recent(|r| {
                if r.shows.len() >= MAX_RECENT_SHOWS {
                    r.shows.retain(|_, (at, _)| at.elapsed() < RECENT_SHOW_TTL);
                    if r.shows.len() >= MAX_RECENT_SHOWS {
                        r.shows.clear();
                    }
                }
                r.shows.insert(id, (read_at, show.clone()));
            });
        }
        Ok(show)
    }

    async fn shows(&self) -> Result<Vec<Show>, StoreError> {
        self.guard("shows", async {
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(self.keys.global("shows"))
                .arg(0)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let mut shows = self.load_shows(&members).await?;
            // The score orders by millisecond; the records decide ties and finer precision.
            shows.sort_by_key(PageAfter::show);
            Ok(shows)
        })
        .await
    }

    async fn shows_page(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Show>, StoreError> {
        self.guard("shows_page", async {
            let key = self.keys.global("shows");
            self.page_of(&key, after, limit, PageAfter::show, |members| async move {
                self.load_shows(&members).await
            })
            .await
        })
        .await
    }

    async fn update_show(&self, show: &Show, expected: ShowStatus) -> Result<bool, StoreError> {
        self.guard("update_show", async {
            let mut con = self.conn.clone();
            let outcome: i64 = self
                .update_show
                .key(self.keys.show(show.creator_id, show.id))
                .arg(expected.as_str())
                .arg(encode(show)?)
                .invoke_async(&mut con)
                .await
                .map_err(redis_error)?;
            if outcome == 1 {
                self.recent(|r| r.shows.remove(&show.id));
            }
            match outcome {
                1 => {
                    // The listing lives in another slot, so it follows the record outside
                    // the script. The change is saved either way: a stale score only moves
                    // a range query, and shows() orders by the records themselves.
                    let rescored = redis::cmd("ZADD")
                        .arg(self.keys.global("shows"))
                        .arg(score(show.scheduled_at))
                        .arg(show.id.to_string())
                        .exec_async(&mut con)
                        .await;
                    if let Err(e) = rescored {
                        tracing::warn!(show = %show.id, error = %e, "show listing not rescored");
                    }
                    Ok(true)
                }
                0 => Ok(false),
                _ => Err(StoreError::Corrupt(format!("show {} is not JSON", show.id))),
            }
        })
        .await
    }

    async fn insert_product_within(
        &self,
        product: &Product,
        max_products: u64,
    ) -> Result<ProductInsert, StoreError> {
        self.guard("insert_product", async {
            let c = product.creator_id;
            let inserted: i64 = self
                .insert_product
                .key(self.keys.skus(c))
                .key(self.keys.product(c, product.id))
                .key(self.keys.stock(c))
                .key(self.keys.catalog(c))
                .arg(&product.sku)
                .arg(product.id.to_string())
                .arg(encode_product(product)?)
                .arg(product.stock)
                .arg(score(product.created_at))
                .arg(max_products)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            match inserted {
                1 => {}
                0 => return Ok(ProductInsert::DuplicateSku),
                _ => return Ok(ProductInsert::OverQuota),
            }
            self.index_product(product).await?;
            Ok(ProductInsert::Inserted)
        })
        .await
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        self.guard("update_product", async {
            let c = product.creator_id;
            let outcome: i64 = self
                .update_product
                .key(self.keys.product(c, product.id))
                .key(self.keys.stock(c))
                .key(self.keys.skus(c))
                .key(self.keys.catalog(c))
                .arg(product.id.to_string())
                .arg(encode_product(product)?)
                .arg(product.stock)
                .arg(&product.sku)
                .arg(score(product.created_at))
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            if outcome != 1 {
                return Err(StoreError::Corrupt(format!(
                    "product {} is not JSON",
                    product.id
                )));
            }
            self.index_product(product).await
        })
        .await
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        self.guard("product", async {
            match self.product_owner(id).await? {
                Some(creator) => self.load_product(creator, id).await,
                None => Ok(None),
            }
        })
        .await
    }

    async fn product_by_sku(
        &self,
        creator: CreatorId,
        sku: &str,
    ) -> Result<Option<Product>, StoreError> {
        self.guard("product_by_sku", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(self.keys.skus(creator))
                .arg(sku)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            match raw {
                Some(raw) => {
                    let id = parse_id::<ProductId>(&raw, "SKU index")?;
                    self.load_product(creator, id).await
                }
                None => Ok(None),
            }
        })
        .await
    }

    async fn products(&self, creator: CreatorId) -> Result<Vec<Product>, StoreError> {
        self.guard("products", async {
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(self.keys.catalog(creator))
                .arg(0)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let mut list = self.load_products(creator, &members).await?;
            list.sort_by_key(PageAfter::product);
            Ok(list)
        })
        .await
    }

    async fn products_page(
        &self,
        creator: CreatorId,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError> {
        self.guard("products_page", async {
            let key = self.keys.catalog(creator);
            self.page_of(
                &key,
                after,
                limit,
                PageAfter::product,
                |members| async move { self.load_products(creator, &members).await },
            )
            .await
        })
        .await
    }

    async fn add_to_lineup(&self, show: &Show, product: ProductId) -> Result<(), StoreError> {
        self.guard("add_to_lineup", async {
            let _: i64 = self
                .add_to_lineup
                .key(self.keys.lineup(show))
                .arg(product.to_string())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(())
        })
        .await
    }

    async fn lineup(&self, show: &Show) -> Result<Vec<ProductId>, StoreError> {
        self.guard("lineup", async {
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(self.keys.lineup(show))
                .arg(0)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            members
                .iter()
                .map(|m| parse_id::<ProductId>(m, "lineup"))
                .collect()
        })
        .await
    }

    async fn insert_viewer(&self, show: &Show, viewer: &Viewer) -> Result<(), StoreError> {
        self.guard("insert_viewer", async {
            redis::cmd("HSET")
                .arg(self.keys.viewers(show))
                .arg(viewer.id.to_string())
                .arg(encode(viewer)?)
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }

    async fn viewer(&self, show: &Show, id: ViewerId) -> Result<Option<Viewer>, StoreError> {
        self.guard("viewer", async {
            let raw: Option<String> = redis::cmd("HGET")
                .arg(self.keys.viewers(show))
                .arg(id.to_string())
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "viewer")).transpose()
        })
        .await
    }

    // ---- Commerce: in redis_commerce.rs -------------------------------------------
    async fn pins(&self, show: &Show) -> Result<Vec<PinState>, StoreError> {
        commerce::pins(self, show).await
    }

    async fn pin(
        &self,
        show: &Show,
        pin: &Pin,
    ) -> Result<Result<Vec<PinState>, DomainError>, StoreError> {
        commerce::pin(self, show, pin).await
    }

    async fn unpin(
        &self,
        show: &Show,
        product: ProductId,
    ) -> Result<Option<Vec<PinState>>, StoreError> {
        commerce::unpin(self, show, product).await
    }

    async fn cart(&self, show: &Show, viewer: ViewerId) -> Result<CartLines, StoreError> {
        commerce::cart(self, show, viewer).await
    }

    async fn set_cart_line(
        &self,
        show: &Show,
        viewer: ViewerId,
        product: ProductId,
        line: Option<CartLine>,
    ) -> Result<(), StoreError> {
        commerce::set_cart_line(self, show, viewer, product, line).await
    }

    async fn give_back_cart(
        &self,
        show: &Show,
        viewer: ViewerId,
        lines: &CartLines,
    ) -> Result<(), StoreError> {
        commerce::give_back_cart(self, show, viewer, lines).await
    }

    async fn deal_bought(
        &self,
        show: &Show,
        product: ProductId,
        viewer: ViewerId,
    ) -> Result<i64, StoreError> {
        commerce::deal_bought(self, show, product, viewer).await
    }

    async fn checkout(
        &self,
        show: &Show,
        req: &CheckoutRequest,
    ) -> Result<CheckoutOutcome, StoreError> {
        commerce::checkout(self, show, req).await
    }

    async fn complete_order(
        &self,
        show: &Show,
        order: uuid::Uuid,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError> {
        commerce::complete_order(self, show, order, outcome, None).await
    }

    async fn complete_placed_order(
        &self,
        show: &Show,
        placed: &Order,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError> {
        commerce::complete_order(self, show, placed.id, outcome, Some(placed)).await
    }

    async fn expire_reservations(
        &self,
        show: &Show,
        now: Timestamp,
    ) -> Result<Vec<Order>, StoreError> {
        commerce::expire_reservations(self, show, now).await
    }

    async fn shows_with_reservations(&self) -> Result<Vec<ShowId>, StoreError> {
        commerce::shows_with_reservations(self).await
    }

    async fn orders(&self, show: &Show) -> Result<Vec<Order>, StoreError> {
        commerce::orders(self, show).await
    }

    async fn viewer_orders(&self, show: &Show, viewer: ViewerId) -> Result<Vec<Order>, StoreError> {
        commerce::viewer_orders(self, show, viewer).await
    }

    async fn order(&self, show: &Show, id: uuid::Uuid) -> Result<Option<Order>, StoreError> {
        commerce::order(self, show, id).await
    }

    async fn set_webhook(
        &self,
        creator: CreatorId,
        hook: Option<&Webhook>,
    ) -> Result<(), StoreError> {
        commerce::set_webhook(self, creator, hook).await
    }

    async fn webhook(&self, creator: CreatorId) -> Result<Option<Webhook>, StoreError> {
        commerce::webhook(self, creator).await
    }

    async fn webhook_creators(&self) -> Result<Vec<CreatorId>, StoreError> {
        commerce::webhook_creators(self).await
    }

    async fn outbox_pending(
        &self,
        creator: CreatorId,
        max: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        commerce::outbox_pending(self, creator, max).await
    }

    async fn outbox_ack(&self, creator: CreatorId, event_id: &str) -> Result<(), StoreError> {
        commerce::outbox_ack(self, creator, event_id).await
    }

    // ---- Moderation: in redis_moderation.rs -----------------------------------------
    async fn chat_policy(&self, show: &Show) -> Result<ChatPolicy, StoreError> {
        moderation::chat_policy(self, show).await
    }

    async fn set_chat_policy(&self, show: &Show, policy: &ChatPolicy) -> Result<(), StoreError> {
        moderation::set_chat_policy(self, show, policy).await
    }

    async fn standing(&self, show: &Show, member: &str) -> Result<Standing, StoreError> {
        moderation::standing(self, show, member).await
    }

    async fn record_message(
        &self,
        show: &Show,
        member: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        moderation::record_message(self, show, member, at).await
    }

    async fn set_timeout(
        &self,
        show: &Show,
        member: &str,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        moderation::set_timeout(self, show, member, until).await
    }

    async fn set_ban(
        &self,
        show: &Show,
        member: &str,
        scope: BanScope,
        banned: bool,
    ) -> Result<(), StoreError> {
        moderation::set_ban(self, show, member, scope, banned).await
    }

    async fn hold_message(&self, show: &Show, held: &HeldMessage) -> Result<(), StoreError> {
        moderation::hold_message(self, show, held).await
    }

    async fn take_held(&self, show: &Show, id: &str) -> Result<Option<HeldMessage>, StoreError> {
        moderation::take_held(self, show, id).await
    }

    async fn held_messages(&self, show: &Show) -> Result<Vec<HeldMessage>, StoreError> {
        moderation::held_messages(self, show).await
    }

    async fn set_pinned_message(
        &self,
        show: &Show,
        message: Option<&ChatMessage>,
    ) -> Result<(), StoreError> {
        moderation::set_pinned_message(self, show, message).await
    }

    async fn pinned_message(&self, show: &Show) -> Result<Option<ChatMessage>, StoreError> {
        moderation::pinned_message(self, show).await
    }

    async fn append_audit(&self, show: &Show, entry: &AuditEntry) -> Result<(), StoreError> {
        moderation::append_audit(self, show, entry).await
    }

    async fn audit_log(&self, show: &Show, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        moderation::audit_log(self, show, limit).await
    }

    async fn record_invite(&self, show: ShowId, invite: InviteId) -> Result<(), StoreError> {
        moderation::record_invite(self, show, invite).await
    }

    async fn revoke_invite(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError> {
        moderation::revoke_invite(self, show, invite).await
    }

    async fn is_revoked(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError> {
        moderation::is_revoked(self, show, invite).await
    }

    async fn take_budget(
        &self,
        key: &BudgetKey,
        budget: Budget,
        now_ms: u64,
    ) -> Result<Result<(), Duration>, StoreError> {
        limits::take_budget(self, key, budget, now_ms).await
    }

    async fn device_viewer(
        &self,
        creator: CreatorId,
        device: &DeviceId,
    ) -> Result<Option<ViewerId>, StoreError> {
        limits::device_viewer(self, creator, device).await
    }

    async fn bind_device(
        &self,
        creator: CreatorId,
        device: &DeviceId,
        viewer: ViewerId,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        limits::bind_device(self, creator, device, viewer, ttl).await
    }

    async fn note_join_address(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
        address: std::net::IpAddr,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        limits::note_join_address(self, creator, viewer, address, ttl).await
    }

    async fn join_address(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
    ) -> Result<Option<std::net::IpAddr>, StoreError> {
        limits::join_address(self, creator, viewer).await
    }

    async fn set_address_ban(
        &self,
        show: &Show,
        scope: BanScope,
        address: std::net::IpAddr,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        limits::set_address_ban(self, show, scope, address, until).await
    }

    async fn address_banned(
        &self,
        show: &Show,
        address: std::net::IpAddr,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        limits::address_banned(self, show, address, now).await
    }

    async fn lease(
        &self,
        name: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        static LEASE: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| {
            Script::new(
                r"
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
",
            )
        });
        let key = self.keys.global(&format!("lease:{name}"));
        let ms = ttl.as_millis().max(1) as u64;
        self.guard("lease", async {
            let won: i64 = LEASE
                .key(key)
                .arg(holder)
                .arg(ms)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(won == 1)
        })
        .await
    }

    async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let key = self.keys.global(&format!("lease:{name}"));
        self.guard("lease_holder", async {
            redis::cmd("GET")
                .arg(key)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }
}

/// Connection trouble, timeouts and server refusals are `Unavailable` (retry later); a value
/// of the wrong type is `Corrupt` (someone else wrote that key).
pub(super) fn redis_error(e: RedisError) -> StoreError {
    let wrong_type =
        matches!(e.kind(), ErrorKind::UnexpectedReturnType) || e.code() == Some("WRONGTYPE");
    if wrong_type {
        StoreError::Corrupt(format!("redis: {e}"))
    } else {
        StoreError::Unavailable(format!("redis: {e}"))
    }
}

pub(super) fn encode<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))
}

pub(super) fn decode<T: serde::de::DeserializeOwned>(
    raw: &str,
    what: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("stored {what}: {e}")))
}

pub(super) fn parse_id<T: std::str::FromStr>(raw: &str, what: &str) -> Result<T, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} holds {raw:?}, not an id")))
}

/// The product record without `stock`, which lives in the creator's stock hash.
fn encode_product(product: &Product) -> Result<String, StoreError> {
    let mut value = serde_json::to_value(product)
        .map_err(|e| StoreError::Corrupt(format!("cannot encode: {e}")))?;
    if let Some(fields) = value.as_object_mut() {
        fields.remove("stock");
    }
    encode(&value)
}

fn decode_product(raw: &str, stock: Option<&str>) -> Result<Product, StoreError> {
    let stock: i64 = stock
        .ok_or_else(|| StoreError::Corrupt("product has no stock entry".into()))?
        .parse()
        .map_err(|_| StoreError::Corrupt("product stock is not an integer".into()))?;
    let mut value: serde_json::Value = decode(raw, "product")?;
    let fields = value
        .as_object_mut()
        .ok_or_else(|| StoreError::Corrupt("stored product is not an object".into()))?;
    fields.insert("stock".into(), stock.into());
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt(format!("stored product: {e}")))
}

/// Sorted-set score of a timestamp: milliseconds since the epoch (exact in an f64).
pub(super) fn score(at: Timestamp) -> i64 {
    at.timestamp_millis()
}

/// The URL without its password or query (which may carry credentials), for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<unparsable URL>".into();
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, _)) => (r, "?…"),
        None => (rest, ""),
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("***@{host}"),
        },
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}{query}")
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(redact("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert_eq!(redact("redis://:hunter2@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact("rediss://u:p@h"), "rediss://u:***@h");
        assert_eq!(redact("redis://secret@h/1"), "redis://***@h/1");
        assert_eq!(
            redact("redis+unix:///s.sock?pass=x"),
            "redis+unix:///s.sock?…"
        );
        assert_eq!(redact("nonsense"), "<unparsable URL>");
    }
}
