//! RedisStore's moderation state: chat policy, bans, timeouts, slow-mode times, held messages,
//! the pinned chat message, the audit log and revoked invitations. [`super::MemoryStore`] is
//! the reference: every function here has its observable behaviour (one deliberate difference,
//! see `standing`), and tests/moderation_store.rs runs one contract against both.
//!
//! Key layout. A show's keys live under its creator's hash tag, beside the show record (see
//! `redis.rs`), and a creator-wide ban list sits under the same tag, so a show's bans and its
//! creator's bans are read in one round trip and any script over them stays in one Cluster
//! slot. Every per-show key ends in `mod:…`, apart from the room bus's and commerce's keys:
//!
//! | key (after `{prefix}:{c:<creator>}:`) | type   | content                                        |
//! |---------------------------------------|--------|------------------------------------------------|
//! | `bans`                                | set    | members banned in every show of the creator    |
//! | `show:<s>:mod:policy`                 | string | `ChatPolicy` JSON (absent: the default policy) |
//! | `show:<s>:mod:bans`                   | set    | members banned in this show                    |
//! | `show:<s>:mod:timeouts`               | hash   | member → timed out until (ns since the epoch)  |
//! | `show:<s>:mod:last-message`           | hash   | member → last accepted message (ns); TTL 24 h, refreshed by every write |
//! | `show:<s>:mod:held`                   | hash   | message id → `HeldMessage` JSON                |
//! | `show:<s>:mod:held-order`             | list   | held message ids, oldest first                 |
//! | `show:<s>:mod:pinned`                 | string | the pinned `ChatMessage` JSON                  |
//! | `show:<s>:mod:audit`                  | list   | `AuditEntry` JSON, oldest first, the newest [`AUDIT_KEEP`] kept |
//!
//! Revoked invitations are one global set, `{prefix}:revoked` (invite ids; an invitation is
//! not tied to one creator's slot and no script reads it).
//!
//! Times are stored as integer nanoseconds since the epoch, so they read back exactly as the
//! memory store keeps them (milliseconds would move a timeout's end and slow mode's next
//! message by up to 1 ms). `standing`, on the chat hot path, is one pipelined MULTI of four
//! reads and parses only those numbers. Holding and taking a message are Lua scripts, so the
//! hash and the order list change together and exactly one of two concurrent takers gets the
//! message.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::DateTime;
use redis::{RedisError, Script};

use super::StoreError;
use super::redis::{Keys, RedisStore, decode, encode, redis_error};
use crate::domain::chat::ChatMessage;
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage, Standing};
use crate::domain::protocol::BanScope;
use crate::domain::{CreatorId, InviteId, Show, ShowId, Timestamp};

/// Audit entries kept per show; older ones are dropped as new ones arrive.
pub const AUDIT_KEEP: usize = 10_000;
/// Lifetime of a show's last-message times, refreshed by every write: slow mode lasts at most
/// an hour, so older times decide nothing.
pub const LAST_MESSAGE_TTL: Duration = Duration::from_secs(24 * 3600);

impl Keys {
    fn moderation(&self, show: &Show, what: &str) -> String {
        format!("{}:mod:{what}", self.show(show.creator_id, show.id))
    }
    fn chat_policy(&self, show: &Show) -> String {
        self.moderation(show, "policy")
    }
    fn show_bans(&self, show: &Show) -> String {
        self.moderation(show, "bans")
    }
    fn creator_bans(&self, creator: CreatorId) -> String {
        format!("{}:bans", self.tag(creator))
    }
    fn timeouts(&self, show: &Show) -> String {
        self.moderation(show, "timeouts")
    }
    fn last_messages(&self, show: &Show) -> String {
        self.moderation(show, "last-message")
    }
    fn held(&self, show: &Show) -> String {
        self.moderation(show, "held")
    }
    fn held_order(&self, show: &Show) -> String {
        self.moderation(show, "held-order")
    }
    fn pinned_message(&self, show: &Show) -> String {
        self.moderation(show, "pinned")
    }
    fn audit(&self, show: &Show) -> String {
        self.moderation(show, "audit")
    }
    fn revoked(&self) -> String {
        self.global("revoked")
    }

    fn invites(&self) -> String {
        self.global("invites")
    }
}

/// Holds a message: stores it, and appends its id to the order unless it is held already
/// (holding an id again replaces the message in its place).
/// KEYS: held, held-order. ARGV: id, json.
const HOLD: &str = r"
if redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('RPUSH', KEYS[2], ARGV[1])
end
return 1
";

/// Removes and returns a held message; nil when it is not held (any more).
/// KEYS: held, held-order. ARGV: id.
const TAKE: &str = r"
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('LREM', KEYS[2], 1, ARGV[1])
return raw
";

static HOLD_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(HOLD));
static TAKE_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(TAKE));

/// [`redis_error`], also for a wrong-typed key inside a MULTI, which the client reports as a
/// pipeline failure without an error code of its own.
fn store_error(e: RedisError) -> StoreError {
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

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// A time as integer nanoseconds since the epoch (exact over chrono's whole range).
fn encode_time(at: Timestamp) -> String {
    (i128::from(at.timestamp()) * NANOS_PER_SECOND + i128::from(at.timestamp_subsec_nanos()))
        .to_string()
}

fn decode_time(raw: &str, what: &str) -> Result<Timestamp, StoreError> {
    let bad = || StoreError::Corrupt(format!("stored {what} {raw:?} is not a time"));
    let nanos: i128 = raw.parse().map_err(|_| bad())?;
    let secs = i64::try_from(nanos.div_euclid(NANOS_PER_SECOND)).map_err(|_| bad())?;
    let sub = u32::try_from(nanos.rem_euclid(NANOS_PER_SECOND)).map_err(|_| bad())?;
    DateTime::from_timestamp(secs, sub).ok_or_else(bad)
}

pub(super) async fn chat_policy(store: &RedisStore, show: &Show) -> Result<ChatPolicy, StoreError> {
    store
        .guard("chat_policy", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(store.keys.chat_policy(show))
                .query_async(&mut store.conn.clone())
                .await
                .map_err(store_error)?;
            match raw {
                Some(raw) => decode(&raw, "chat policy"),
                None => Ok(ChatPolicy::default()),
            }
        })
        .await
}

pub(super) async fn set_chat_policy(
    store: &RedisStore,
    show: &Show,
    policy: &ChatPolicy,
) -> Result<(), StoreError> {
    store
        .guard("set_chat_policy", async {
            redis::cmd("SET")
                .arg(store.keys.chat_policy(show))
                .arg(encode(policy)?)
                .exec_async(&mut store.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
}

/// One MULTI of four reads. Unlike the memory store, a timeout that has ended (by this
/// process's clock) is reported as none: the caller's verdict is the same either way
/// (`judge` only refuses while `until > now`), and nothing shows a stale end.
pub(super) async fn standing(
    store: &RedisStore,
    show: &Show,
    member: &str,
) -> Result<Standing, StoreError> {
    store
        .guard("standing", async {
            let (show_ban, creator_ban, until, last): (bool, bool, Option<String>, Option<String>) =
                redis::pipe()
                    .atomic()
                    .cmd("SISMEMBER")
                    .arg(store.keys.show_bans(show))
                    .arg(member)
                    .cmd("SISMEMBER")
                    .arg(store.keys.creator_bans(show.creator_id))
                    .arg(member)
                    .cmd("HGET")
                    .arg(store.keys.timeouts(show))
                    .arg(member)
                    .cmd("HGET")
                    .arg(store.keys.last_messages(show))
                    .arg(member)
                    .query_async(&mut store.conn.clone())
                    .await
                    .map_err(store_error)?;
            let now = chrono::Utc::now();
            let timed_out_until = until
                .map(|raw| decode_time(&raw, "timeout"))
                .transpose()?
                .filter(|until| *until > now);
            let last_message_at = last
                .map(|raw| decode_time(&raw, "last message time"))
                .transpose()?;
            Ok(Standing {
                banned: show_ban || creator_ban,
                timed_out_until,
                last_message_at,
            })
        })
        .await
}

pub(super) async fn record_message(
    store: &RedisStore,
    show: &Show,
    member: &str,
    at: Timestamp,
) -> Result<(), StoreError> {
    store
        .guard("record_message", async {
            let key = store.keys.last_messages(show);
            redis::pipe()
                .atomic()
                .cmd("HSET")
                .arg(&key)
                .arg(member)
                .arg(encode_time(at))
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(LAST_MESSAGE_TTL.as_millis() as u64)
                .ignore()
                .exec_async(&mut store.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
}

pub(super) async fn set_timeout(
    store: &RedisStore,
    show: &Show,
    member: &str,
    until: Option<Timestamp>,
) -> Result<(), StoreError> {
    store
        .guard("set_timeout", async {
            let key = store.keys.timeouts(show);
            let cmd = match until {
                Some(until) => {
                    let mut cmd = redis::cmd("HSET");
                    cmd.arg(&key).arg(member).arg(encode_time(until));
                    cmd
                }
                None => {
                    let mut cmd = redis::cmd("HDEL");
                    cmd.arg(&key).arg(member);
                    cmd
                }
            };
            cmd.exec_async(&mut store.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
}

pub(super) async fn set_ban(
    store: &RedisStore,
    show: &Show,
    member: &str,
    scope: BanScope,
    banned: bool,
) -> Result<(), StoreError> {
    store
        .guard("set_ban", async {
            let show_bans = store.keys.show_bans(show);
            let creator_bans = store.keys.creator_bans(show.creator_id);
            let mut pipe = redis::pipe();
            pipe.atomic();
            match (scope, banned) {
                (BanScope::Show, true) => {
                    pipe.cmd("SADD").arg(&show_bans).arg(member).ignore();
                }
                (BanScope::Show, false) => {
                    pipe.cmd("SREM").arg(&show_bans).arg(member).ignore();
                }
                (BanScope::Creator, true) => {
                    pipe.cmd("SADD").arg(&creator_bans).arg(member).ignore();
                }
                // Lifting a creator-wide ban lifts the show's own ban too (as in memory).
                (BanScope::Creator, false) => {
                    pipe.cmd("SREM").arg(&creator_bans).arg(member).ignore();
                    pipe.cmd("SREM").arg(&show_bans).arg(member).ignore();
                }
            }
            pipe.exec_async(&mut store.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
}

pub(super) async fn hold_message(
    store: &RedisStore,
    show: &Show,
    held: &HeldMessage,
) -> Result<(), StoreError> {
    store
        .guard("hold_message", async {
            let _: i64 = HOLD_SCRIPT
                .key(store.keys.held(show))
                .key(store.keys.held_order(show))
                .arg(held.message.id.as_str())
                .arg(encode(held)?)
                .invoke_async(&mut store.conn.clone())
                .await
                .map_err(store_error)?;
            Ok(())
        })
        .await
}

pub(super) async fn take_held(
    store: &RedisStore,
    show: &Show,
    id: &str,
) -> Result<Option<HeldMessage>, StoreError> {
    store
        .guard("take_held", async {
            let raw: Option<String> = TAKE_SCRIPT
                .key(store.keys.held(show))
                .key(store.keys.held_order(show))
                .arg(id)
                .invoke_async(&mut store.conn.clone())
                .await
                .map_err(store_error)?;
            raw.map(|raw| decode(&raw, "held message")).transpose()
        })
        .await
}

pub(super) async fn held_messages(
    store: &RedisStore,
    show: &Show,
) -> Result<Vec<HeldMessage>, StoreError> {
    store
        .guard("held_messages", async {
            let (order, mut held): (Vec<String>, HashMap<String, String>) = redis::pipe()
                .atomic()
                .cmd("LRANGE")
                .arg(store.keys.held_order(show))
                .arg(0)
                .arg(-1)
                .cmd("HGETALL")
                .arg(store.keys.held(show))
                .query_async(&mut store.conn.clone())
                .await
                .map_err(store_error)?;
            // The scripts keep both in step; `remove` also drops a (foreign) repeated id.
            order
                .iter()
                .filter_map(|id| held.remove(id))
                .map(|raw| decode(&raw, "held message"))
                .collect()
        })
        .await
}

pub(super) async fn set_pinned_message(
    store: &RedisStore,
    show: &Show,
    message: Option<&ChatMessage>,
) -> Result<(), StoreError> {
    store
        .guard("set_pinned_message", async {
            let key = store.keys.pinned_message(show);
            let cmd = match message {
                Some(message) => {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(&key).arg(encode(message)?);
                    cmd
                }
                None => {
                    let mut cmd = redis::cmd("DEL");
                    cmd.arg(&key);
                    cmd
                }
            };
            cmd.exec_async(&mut store.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
}

pub(super) async fn pinned_message(
    store: &RedisStore,
    show: &Show,
) -> Result<Option<ChatMessage>, StoreError> {
    store
        .guard("pinned_message", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(store.keys.pinned_message(show))
                .query_async(&mut store.conn.clone())
                .await
                .map_err(store_error)?;
            raw.map(|raw| decode(&raw, "pinned message")).transpose()
        })
        .await
}

pub(super) async fn append_audit(
    store: &RedisStore,
    show: &Show,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    store
        .guard("append_audit", async {
            let key = store.keys.audit(show);
            redis::pipe()
                .atomic()
                .cmd("RPUSH")
                .arg(&key)
                .arg(encode(entry)?)
                .ignore()
                .cmd("LTRIM")
                .arg(&key)
                .arg(-(AUDIT_KEEP as i64))
                .arg(-1)
                .ignore()
                .exec_async(&mut store.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
}

pub(super) async fn audit_log(
    store: &RedisStore,
    show: &Show,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    if limit == 0 {
        // LRANGE -0 -1 would be the whole list.
        return Ok(Vec::new());
    }
    store
        .guard("audit_log", async {
            let start = i64::try_from(limit).map_or(i64::MIN, |n| -n);
            let raws: Vec<String> = redis::cmd("LRANGE")
                .arg(store.keys.audit(show))
                .arg(start)
                .arg(-1)
                .query_async(&mut store.conn.clone())
                .await
                .map_err(store_error)?;
            raws.iter().map(|raw| decode(raw, "audit entry")).collect()
        })
        .await
}

/// Members of the revoked set are `<show>:<invite>`.
pub(super) async fn record_invite(
    store: &RedisStore,
    show: ShowId,
    invite: InviteId,
) -> Result<(), StoreError> {
    store
        .guard("record_invite", async {
            redis::cmd("SADD")
                .arg(store.keys.invites())
                .arg(format!("{show}:{invite}"))
                .exec_async(&mut store.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
}

/// Invitations are never forgotten once recorded, so checking then adding needs no script.
pub(super) async fn revoke_invite(
    store: &RedisStore,
    show: ShowId,
    invite: InviteId,
) -> Result<bool, StoreError> {
    let member = format!("{show}:{invite}");
    store
        .guard("revoke_invite", async {
            let mut conn = store.conn.clone();
            let known: bool = redis::cmd("SISMEMBER")
                .arg(store.keys.invites())
                .arg(&member)
                .query_async(&mut conn)
                .await
                .map_err(store_error)?;
            if known {
                redis::cmd("SADD")
                    .arg(store.keys.revoked())
                    .arg(&member)
                    .exec_async(&mut conn)
                    .await
                    .map_err(store_error)?;
            }
            Ok(known)
        })
        .await
}

pub(super) async fn is_revoked(
    store: &RedisStore,
    show: ShowId,
    invite: InviteId,
) -> Result<bool, StoreError> {
    store
        .guard("is_revoked", async {
            redis::cmd("SISMEMBER")
                .arg(store.keys.revoked())
                .arg(format!("{show}:{invite}"))
                .query_async(&mut store.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::{decode_time, encode_time};
    use chrono::DateTime;

    #[test]
    fn times_round_trip_exactly() {
        for (secs, nanos) in [
            (1_800_000_000, 123_456_789),
            (0, 0),
            (-1, 999_999_999),
            (-62_135_596_800, 1),
            (253_402_300_799, 999_999_999),
        ] {
            let at = DateTime::from_timestamp(secs, nanos).unwrap();
            assert_eq!(decode_time(&encode_time(at), "t").unwrap(), at);
        }
        assert_eq!(
            encode_time(DateTime::from_timestamp(2, 5).unwrap()),
            "2000000005"
        );
        assert!(decode_time("soon", "t").is_err());
        assert!(decode_time("1e9", "t").is_err());
        assert!(decode_time(&i128::MAX.to_string(), "t").is_err());
    }
}
