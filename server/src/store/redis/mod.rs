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
//!
//! This file holds the connection, the key names every area shares, the per-node caches and the
//! script runner; each area's trait is implemented in its own file beside it (`shows.rs`,
//! `catalog.rs`, `commerce.rs` with `checkout.rs`, `outbox.rs` and `deliveries.rs`,
//! `payments.rs`, `moderation.rs`, `limits.rs`, `leases.rs`), and the Lua scripts are in `lua/`
//! (`named.rs` names their keys and arguments). Area files use this one, never the other way
//! round.

mod accounts;
mod auction_fields;
mod auction_sales;
mod auctions;
mod catalog;
mod chapters;
mod checkout;
mod commerce;
mod commerce_scripts;
mod deliveries;
mod leases;
mod limits;
mod moderation;
mod named;
mod outbox;
mod payments;
mod recordings;
mod replay_stats;
mod reservations;
mod shows;
mod transcript;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, Script};

use super::{Page, PageAfter, Store, StoreError};
use crate::domain::commerce::Order;
use crate::domain::{CreatorId, ProductId, Show, ShowId, Timestamp, ViewerId};

/// Reconnect attempts per episode after the first one fails. Calls made during an episode wait
/// for it, so it stays short (50 ms then 100 ms, each plus up to 100 % jitter): a refused
/// connection fails a call in well under a second, and the next call starts another episode.
const RECONNECT_RETRIES: usize = 2;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(200);

/// Key names; the one place that knows the layout described in the module doc (each area
/// adds its keys in its own file, from [`Keys::show`] and [`Keys::tag`]).
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

    // The keys a checkout builds are formatted in one go (one allocation each).
    pub(super) fn product(&self, c: CreatorId, p: ProductId) -> String {
        format!("{}:{{c:{c}}}:product:{p}", self.prefix)
    }
    pub(super) fn stock(&self, c: CreatorId) -> String {
        format!("{}:{{c:{c}}}:stock", self.prefix)
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
    show_keys: HashMap<(CreatorId, ShowId), std::sync::Arc<checkout::ShowKeys>>,
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
}

/// A script's `CORRUPT` error (stored data it could not read) is `Corrupt`; the rest as usual.
fn script_error(e: RedisError) -> StoreError {
    if e.code() == Some("CORRUPT") {
        StoreError::Corrupt(format!("redis: {e}"))
    } else {
        redis_error(e)
    }
}

/// `EVALSHA <script's sha1> <keys>`, for the caller to append the keys and arguments to
/// (written once into the command, where `ScriptInvocation` copies each of them twice).
fn evalsha(script: &Script, keys: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.get_hash()).arg(keys);
    cmd
}

/// Runs an [`evalsha`] command; when Redis does not know the script (a restart, a flush),
/// loads it and runs the command again, like `ScriptInvocation::invoke_async`.
async fn eval<T: redis::FromRedisValue>(
    con: &mut redis::aio::ConnectionManager,
    script: &Script,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    match cmd.query_async(con).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            script.load_async(con).await?;
            cmd.query_async(con).await
        }
        result => result,
    }
}

/// Helpers every commerce script starts with.
const PRELUDE: &str = include_str!("lua/prelude.lua");

/// A timestamp exactly as serde (chrono) writes it in JSON.
fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// [`redis_error`], also for a wrong-typed key inside a MULTI, which the client reports as a
/// pipeline failure without an error code of its own.
pub(super) fn store_error(e: RedisError) -> StoreError {
    let wrong_type = e
        .clone()
        .into_server_errors()
        .is_some_and(|errors| errors.iter().any(|(_, err)| err.code() == "WRONGTYPE"));
    if wrong_type {
        StoreError::Corrupt(format!("redis: {e}"))
    } else {
        redis_error(e)
    }
}

/// Reads-then-script rounds before a checkout (or settlement) gives up on a changing cart.
/// Each round that comes back "retry" saw the cart's product set change since the last read,
/// so a checkout survives 15 such changes while it runs; a checkout's one-off round that
/// indexes its show (`unindexed`) is not counted. (At 8 a cart filled with 8 products while
/// one checkout ran could need 9 rounds plus the indexing one, and failed now and then:
/// `commerce_store::redis_only::a_cart_changing_during_the_checkout_is_read_again`.)
const ATTEMPTS: usize = 16;

pub(super) fn unexpected(op: &str, reply: &[String]) -> StoreError {
    StoreError::Corrupt(format!("unexpected reply of the {op} script: {reply:?}"))
}

pub(super) fn parse_int(raw: &str, what: &str) -> Result<i64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("{what} holds {raw:?}, not an integer")))
}

pub(super) fn order_at(reply: &[String], index: usize, op: &str) -> Result<Order, StoreError> {
    match reply.get(index) {
        Some(raw) => decode(raw, "order"),
        None => Err(unexpected(op, reply)),
    }
}

pub(super) async fn orders_by_id(
    store: &RedisStore,
    show: &Show,
    ids: &[String],
) -> Result<Vec<Order>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let raws: Vec<Option<String>> = redis::cmd("HMGET")
        .arg(store.keys.orders(show))
        .arg(ids)
        .query_async(&mut store.conn.clone())
        .await
        .map_err(redis_error)?;
    raws.iter()
        .flatten()
        .map(|raw| decode(raw, "order"))
        .collect()
}

/// Records what this node saw in a viewer's cart (a hint for the checkout's declared keys).
pub(super) fn remember_cart(store: &RedisStore, key: (ShowId, ViewerId), products: Vec<ProductId>) {
    store.recent(|r| {
        if r.cart_products.len() >= MAX_CART_HINTS && !r.cart_products.contains_key(&key) {
            r.cart_products.clear();
        }
        r.cart_products.insert(key, products);
    });
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
