//! RedisStore's accounts area. Keys: the creators' listing `{prefix}:creators:time` (a sorted
//! set of creator ids scored by creation time, written with each creator by the shows area and
//! filled in here for creators stored before it existed); per creator, in the creator's slot,
//! `{c:<id>}:tokens` (the token generation, an integer) and `{c:<id>}:passkeys` (a hash of
//! passkey records by credential id), with the global index `idx:passkey` (credential id →
//! creator id, written after the record and removed before it, like `idx:show`); ceremonies at
//! `ceremony:<id>` (expiring; the deadline inside decides, the key's expiry only cleans up);
//! heartbeats at `node:<id>` (expiring) listed by the sorted set `nodes` (scored by deadline).

use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;

use super::{RedisStore, decode, encode, parse_id, redis_error, score};
use crate::domain::account::{Ceremony, Heartbeat, NodeInfo, Passkey};
use crate::domain::{Creator, CreatorId, Timestamp};
use crate::store::{AccountStore, Page, PageAfter, StoreError};

/// Saves a passkey record only if it is still there (deleted meanwhile: nothing written).
/// KEYS: the creator's passkeys hash. ARGV: id, json. Returns 1 saved, 0 gone.
static UPDATE_PASSKEY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
",
    )
});

/// How long a heartbeat stays listed past its deadline before the listing drops it.
const NODE_GRACE_MS: i64 = 1000;

impl RedisStore {
    fn tokens_key(&self, c: CreatorId) -> String {
        format!("{}:tokens", self.keys.tag(c))
    }

    fn passkeys_key(&self, c: CreatorId) -> String {
        format!("{}:passkeys", self.keys.tag(c))
    }

    /// Puts creators stored before the listing existed into it (they are in the `creators`
    /// set only). Cheap when both agree: two counts.
    async fn backfill_creators(&self) -> Result<(), StoreError> {
        let mut con = self.conn.clone();
        let listed = self.keys.global("creators:time");
        let all = self.keys.global("creators");
        let (in_set, in_listing): (u64, u64) = redis::pipe()
            .cmd("SCARD")
            .arg(&all)
            .cmd("ZCARD")
            .arg(&listed)
            .query_async(&mut con)
            .await
            .map_err(redis_error)?;
        if in_set == in_listing {
            return Ok(());
        }
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(&all)
            .query_async(&mut con)
            .await
            .map_err(redis_error)?;
        let creators = self.load_creators(&members).await?;
        let mut pipe = redis::pipe();
        for c in &creators {
            pipe.cmd("ZADD")
                .arg(&listed)
                .arg(score(c.created_at))
                .arg(c.id.to_string())
                .ignore();
        }
        pipe.exec_async(&mut con).await.map_err(redis_error)
    }

    /// The records of creator ids (members of a listing); a missing record is skipped.
    async fn load_creators(&self, members: &[String]) -> Result<Vec<Creator>, StoreError> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for m in members {
            let id = parse_id::<CreatorId>(m, "creator listing")?;
            pipe.cmd("GET").arg(self.keys.creator(id));
        }
        let raws: Vec<Option<String>> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_error)?;
        raws.iter()
            .flatten()
            .map(|r| decode::<Creator>(r, "creator"))
            .collect()
    }
}

#[async_trait]
impl AccountStore for RedisStore {
    async fn creators_page(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Creator>, StoreError> {
        self.guard("creators_page", async {
            self.backfill_creators().await?;
            let key = self.keys.global("creators:time");
            self.page_of(
                &key,
                after,
                limit,
                PageAfter::creator,
                |members| async move { self.load_creators(&members).await },
            )
            .await
        })
        .await
    }

    async fn rename_creator(
        &self,
        id: CreatorId,
        name: &str,
    ) -> Result<Option<Creator>, StoreError> {
        self.guard("rename_creator", async {
            let mut con = self.conn.clone();
            let key = self.keys.creator(id);
            let raw: Option<String> = redis::cmd("GET")
                .arg(&key)
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
            let Some(raw) = raw else { return Ok(None) };
            let mut creator: Creator = decode(&raw, "creator")?;
            creator.name = name.to_string();
            // XX: a creator is never deleted, but if one were, a rename must not revive it.
            let saved: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(encode(&creator)?)
                .arg("XX")
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
            Ok(saved.map(|_| creator))
        })
        .await
    }

    async fn token_generation(&self, creator: CreatorId) -> Result<u64, StoreError> {
        self.guard("token_generation", async {
            let raw: Option<u64> = redis::cmd("GET")
                .arg(self.tokens_key(creator))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(raw.unwrap_or(0))
        })
        .await
    }

    async fn next_token_generation(&self, creator: CreatorId) -> Result<u64, StoreError> {
        self.guard("next_token_generation", async {
            redis::cmd("INCR")
                .arg(self.tokens_key(creator))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }

    async fn insert_passkey(&self, passkey: &Passkey) -> Result<(), StoreError> {
        self.guard("insert_passkey", async {
            // One pipeline runs in order: the record, then its index entry.
            redis::pipe()
                .cmd("HSET")
                .arg(self.passkeys_key(passkey.creator_id))
                .arg(&passkey.id)
                .arg(encode(passkey)?)
                .ignore()
                .cmd("HSET")
                .arg(self.keys.global("idx:passkey"))
                .arg(&passkey.id)
                .arg(passkey.creator_id.to_string())
                .ignore()
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }

    async fn passkey(&self, id: &str) -> Result<Option<Passkey>, StoreError> {
        self.guard("passkey", async {
            let Some(creator) = self.indexed_owner("idx:passkey", id).await? else {
                return Ok(None);
            };
            let raw: Option<String> = redis::cmd("HGET")
                .arg(self.passkeys_key(creator))
                .arg(id)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            raw.map(|r| decode(&r, "passkey")).transpose()
        })
        .await
    }

    async fn passkeys(&self, creator: CreatorId) -> Result<Vec<Passkey>, StoreError> {
        self.guard("passkeys", async {
            let raws: Vec<String> = redis::cmd("HVALS")
                .arg(self.passkeys_key(creator))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let mut found = raws
                .iter()
                .map(|r| decode::<Passkey>(r, "passkey"))
                .collect::<Result<Vec<_>, _>>()?;
            found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(found)
        })
        .await
    }

    async fn update_passkey(&self, passkey: &Passkey) -> Result<bool, StoreError> {
        self.guard("update_passkey", async {
            let saved: i64 = UPDATE_PASSKEY
                .key(self.passkeys_key(passkey.creator_id))
                .arg(&passkey.id)
                .arg(encode(passkey)?)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            Ok(saved == 1)
        })
        .await
    }

    async fn delete_passkey(&self, creator: CreatorId, id: &str) -> Result<bool, StoreError> {
        self.guard("delete_passkey", async {
            let mut con = self.conn.clone();
            let removed: u64 = redis::cmd("HDEL")
                .arg(self.passkeys_key(creator))
                .arg(id)
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
            if removed == 0 {
                return Ok(false);
            }
            redis::cmd("HDEL")
                .arg(self.keys.global("idx:passkey"))
                .arg(id)
                .exec_async(&mut con)
                .await
                .map_err(redis_error)?;
            Ok(true)
        })
        .await
    }

    async fn put_ceremony(
        &self,
        id: &str,
        ceremony: &Ceremony,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // The key outlives the deadline a little: the deadline decides, the expiry cleans up.
        let ttl_ms = (score(ceremony.expires_at) - score(now)).max(1) + 60_000;
        self.guard("put_ceremony", async {
            redis::cmd("SET")
                .arg(self.keys.global(&format!("ceremony:{id}")))
                .arg(encode(ceremony)?)
                .arg("PX")
                .arg(ttl_ms)
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }

    async fn take_ceremony(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Ceremony>, StoreError> {
        self.guard("take_ceremony", async {
            // GETDEL: of two nodes answering the same ceremony, one gets it.
            let raw: Option<String> = redis::cmd("GETDEL")
                .arg(self.keys.global(&format!("ceremony:{id}")))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            let ceremony = raw
                .map(|r| decode::<Ceremony>(&r, "ceremony"))
                .transpose()?;
            Ok(ceremony.filter(|c| c.is_open(now)))
        })
        .await
    }

    async fn beat(&self, beat: &Heartbeat, ttl: Duration) -> Result<(), StoreError> {
        self.guard("beat", async {
            redis::pipe()
                .cmd("SET")
                .arg(self.keys.global(&format!("node:{}", beat.node.id)))
                .arg(encode(beat)?)
                .arg("PX")
                .arg(ttl.as_millis().max(1) as u64)
                .ignore()
                .cmd("ZADD")
                .arg(self.keys.global("nodes"))
                .arg(score(beat.expires_at))
                .arg(&beat.node.id)
                .ignore()
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)
        })
        .await
    }

    async fn nodes(&self, now: Timestamp) -> Result<Vec<NodeInfo>, StoreError> {
        self.guard("nodes", async {
            let mut con = self.conn.clone();
            let listing = self.keys.global("nodes");
            let (ids,): (Vec<String>,) = redis::pipe()
                .cmd("ZREMRANGEBYSCORE")
                .arg(&listing)
                .arg("-inf")
                .arg(score(now) - NODE_GRACE_MS)
                .ignore()
                .cmd("ZRANGE")
                .arg(&listing)
                .arg(0)
                .arg(-1)
                .query_async(&mut con)
                .await
                .map_err(redis_error)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut get = redis::cmd("MGET");
            for id in &ids {
                get.arg(self.keys.global(&format!("node:{id}")));
            }
            let raws: Vec<Option<String>> = get.query_async(&mut con).await.map_err(redis_error)?;
            let mut nodes = Vec::new();
            for raw in raws.iter().flatten() {
                let beat: Heartbeat = decode(raw, "heartbeat")?;
                if beat.is_alive(now) {
                    nodes.push(beat.node);
                }
            }
            nodes.sort_by(|a, b| a.id.cmp(&b.id));
            Ok(nodes)
        })
        .await
    }
}
