//! RedisStore's moderation area: chat policy, bans, timeouts, slow-mode times, held messages,
//! the pinned chat message and the audit log. [`crate::store::MemoryStore`] is the reference:
//! every function here has its observable behaviour, and tests/moderation_store.rs runs one
//! contract against both.
//!
//! Key layout. A show's keys live under its creator's hash tag, beside the show record (see
//! `mod.rs`), and a creator-wide ban list sits under the same tag, so a show's bans and its
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
use redis::Script;

use async_trait::async_trait;

use super::named::{named_plain_script, script_params};
use super::{Keys, RedisStore, decode, encode, eval, evalsha, store_error};
use crate::domain::chat::ChatMessage;
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage, Standing};
use crate::domain::protocol::BanScope;
use crate::domain::{CreatorId, Show, Timestamp};
use crate::store::{ModerationStore, StoreError};

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
    fn creator_terms(&self, creator: CreatorId) -> String {
        format!("{}:terms", self.tag(creator))
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
}

script_params! {
    /// The held-message scripts' named keys.
    struct HeldKeys<'a> {
        held: &'a str,
        held_order: &'a str,
    }
}

script_params! {
    /// The hold script's named arguments.
    struct HoldArgs<'a> {
        id: &'a str,
        json: &'a str,
    }
}

script_params! {
    /// The take script's named argument.
    struct TakeArgs<'a> {
        id: &'a str,
    }
}

/// Holds a message: stores it, and appends its id to the order unless it is held already
/// (holding an id again replaces the message in its place).
const HOLD: &str = r"
if redis.call('HSET', k.held, a.id, a.json) == 1 then
  redis.call('RPUSH', k.held_order, a.id)
end
return 1
";

/// Removes and returns a held message; nil when it is not held (any more).
const TAKE: &str = r"
local raw = redis.call('HGET', k.held, a.id)
if not raw then return false end
redis.call('HDEL', k.held, a.id)
redis.call('LREM', k.held_order, 1, a.id)
return raw
";

static HOLD_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| named_plain_script(HeldKeys::NAMES, HoldArgs::NAMES, HOLD));
static TAKE_SCRIPT: LazyLock<Script> =
    LazyLock::new(|| named_plain_script(HeldKeys::NAMES, TakeArgs::NAMES, TAKE));

impl RedisStore {
    /// An `EVALSHA` of a held-message script, with `show`'s named keys pushed.
    fn held_call(&self, script: &Script, show: &Show) -> redis::Cmd {
        let mut call = evalsha(script, HeldKeys::NAMES.len());
        HeldKeys {
            held: &self.keys.held(show),
            held_order: &self.keys.held_order(show),
        }
        .push(&mut call);
        call
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

#[async_trait]
impl ModerationStore for RedisStore {
    async fn chat_policy(&self, show: &Show) -> Result<ChatPolicy, StoreError> {
        self.guard("chat_policy", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.chat_policy(show))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            match raw {
                Some(raw) => decode(&raw, "chat policy"),
                None => Ok(ChatPolicy::default()),
            }
        })
        .await
    }

    async fn set_chat_policy(&self, show: &Show, policy: &ChatPolicy) -> Result<(), StoreError> {
        self.guard("set_chat_policy", async {
            redis::cmd("SET")
                .arg(self.keys.chat_policy(show))
                .arg(encode(policy)?)
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    /// One MULTI of four reads; a timeout that ended by `now` is reported as none, as the
    /// memory store does.
    async fn standing(
        &self,
        show: &Show,
        member: &str,
        now: Timestamp,
    ) -> Result<Standing, StoreError> {
        self.guard("standing", async {
            let (show_ban, creator_ban, until, last): (bool, bool, Option<String>, Option<String>) =
                redis::pipe()
                    .atomic()
                    .cmd("SISMEMBER")
                    .arg(self.keys.show_bans(show))
                    .arg(member)
                    .cmd("SISMEMBER")
                    .arg(self.keys.creator_bans(show.creator_id))
                    .arg(member)
                    .cmd("HGET")
                    .arg(self.keys.timeouts(show))
                    .arg(member)
                    .cmd("HGET")
                    .arg(self.keys.last_messages(show))
                    .arg(member)
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(store_error)?;
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

    async fn record_message(
        &self,
        show: &Show,
        member: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.guard("record_message", async {
            let key = self.keys.last_messages(show);
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
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn set_timeout(
        &self,
        show: &Show,
        member: &str,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.guard("set_timeout", async {
            let key = self.keys.timeouts(show);
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
            cmd.exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn set_ban(
        &self,
        show: &Show,
        member: &str,
        scope: BanScope,
        banned: bool,
    ) -> Result<(), StoreError> {
        self.guard("set_ban", async {
            let show_bans = self.keys.show_bans(show);
            let creator_bans = self.keys.creator_bans(show.creator_id);
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
            pipe.exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn hold_message(&self, show: &Show, held: &HeldMessage) -> Result<(), StoreError> {
        self.guard("hold_message", async {
            let mut call = self.held_call(&HOLD_SCRIPT, show);
            HoldArgs {
                id: held.message.id.as_str(),
                json: &encode(held)?,
            }
            .push(&mut call);
            eval::<i64>(&mut self.conn.clone(), &HOLD_SCRIPT, &call)
                .await
                .map_err(store_error)?;
            Ok(())
        })
        .await
    }

    async fn take_held(&self, show: &Show, id: &str) -> Result<Option<HeldMessage>, StoreError> {
        self.guard("take_held", async {
            let mut call = self.held_call(&TAKE_SCRIPT, show);
            TakeArgs { id }.push(&mut call);
            let raw: Option<String> = eval(&mut self.conn.clone(), &TAKE_SCRIPT, &call)
                .await
                .map_err(store_error)?;
            raw.map(|raw| decode(&raw, "held message")).transpose()
        })
        .await
    }

    async fn held_messages(&self, show: &Show) -> Result<Vec<HeldMessage>, StoreError> {
        self.guard("held_messages", async {
            let (order, mut held): (Vec<String>, HashMap<String, String>) = redis::pipe()
                .atomic()
                .cmd("LRANGE")
                .arg(self.keys.held_order(show))
                .arg(0)
                .arg(-1)
                .cmd("HGETALL")
                .arg(self.keys.held(show))
                .query_async(&mut self.conn.clone())
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

    async fn set_pinned_message(
        &self,
        show: &Show,
        message: Option<&ChatMessage>,
    ) -> Result<(), StoreError> {
        self.guard("set_pinned_message", async {
            let key = self.keys.pinned_message(show);
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
            cmd.exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn pinned_message(&self, show: &Show) -> Result<Option<ChatMessage>, StoreError> {
        self.guard("pinned_message", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.pinned_message(show))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            raw.map(|raw| decode(&raw, "pinned message")).transpose()
        })
        .await
    }

    async fn append_audit(&self, show: &Show, entry: &AuditEntry) -> Result<(), StoreError> {
        self.guard("append_audit", async {
            let key = self.keys.audit(show);
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
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn audit_log(&self, show: &Show, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        if limit == 0 {
            // LRANGE -0 -1 would be the whole list.
            return Ok(Vec::new());
        }
        self.guard("audit_log", async {
            let start = i64::try_from(limit).map_or(i64::MIN, |n| -n);
            let raws: Vec<String> = redis::cmd("LRANGE")
                .arg(self.keys.audit(show))
                .arg(start)
                .arg(-1)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            raws.iter().map(|raw| decode(raw, "audit entry")).collect()
        })
        .await
    }

    async fn creator_terms(&self, creator: CreatorId) -> Result<Vec<String>, StoreError> {
        self.guard("creator_terms", async {
            let raw: Option<String> = redis::cmd("GET")
                .arg(self.keys.creator_terms(creator))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            raw.map_or(Ok(Vec::new()), |raw| decode(&raw, "creator terms"))
        })
        .await
    }

    async fn set_creator_terms(
        &self,
        creator: CreatorId,
        terms: &[String],
    ) -> Result<(), StoreError> {
        self.guard("set_creator_terms", async {
            redis::cmd("SET")
                .arg(self.keys.creator_terms(creator))
                .arg(encode(&terms)?)
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn screen_policy(&self, show: &Show) -> Result<(ChatPolicy, Vec<String>), StoreError> {
        self.guard("screen_policy", async {
            // One slot: the show's keys and the creator's share the creator's hash tag.
            let (policy, terms): (Option<String>, Option<String>) = redis::cmd("MGET")
                .arg(self.keys.chat_policy(show))
                .arg(self.keys.creator_terms(show.creator_id))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            let policy =
                policy.map_or(Ok(ChatPolicy::default()), |raw| decode(&raw, "chat policy"))?;
            let terms = terms.map_or(Ok(Vec::new()), |raw| decode(&raw, "creator terms"))?;
            Ok((policy, terms))
        })
        .await
    }
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
