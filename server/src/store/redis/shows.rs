//! RedisStore's shows area: the secret, the demo, creators, shows (with the per-node copy of
//! recent show records), viewers and invitations. Revoked and minted invitations are two global
//! sets, `{prefix}:revoked` and `{prefix}:invites` (invite ids; an invitation is not tied to
//! one creator's slot and no script reads them). Each creator's show ids are also a set in
//! the creator's slot (`{c:<creator>}:shows`), for the dashboard; data written before that set
//! existed is added to it from `idx:show` the first time the creator lists their shows
//! (`{c:<creator>}:shows:indexed` marks that done). A creator's creator-wide moderators are a
//! hash in the creator's slot, `{c:<creator>}:moderators` (id → record).

use std::sync::LazyLock;
use std::time::Instant;

use async_trait::async_trait;
use redis::Script;

use super::{
    Keys, MAX_RECENT_SHOWS, RECENT_SHOW_TTL, RedisStore, decode, encode, parse_id, redis_error,
    score, store_error,
};
use crate::domain::access::CreatorWideModerator;
use crate::domain::{Creator, CreatorId, InviteId, Show, ShowId, ShowStatus, Viewer, ViewerId};
use crate::store::{DemoRecord, Page, PageAfter, ShowStore, StoreError};

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
static UPDATE_SHOW_SCRIPT: LazyLock<Script> = LazyLock::new(|| Script::new(UPDATE_SHOW));

impl Keys {
    pub(super) fn creator(&self, c: CreatorId) -> String {
        format!("{}:creator", self.tag(c))
    }
    fn viewers(&self, show: &Show) -> String {
        format!("{}:viewers", self.show(show.creator_id, show.id))
    }
    fn revoked(&self) -> String {
        self.global("revoked")
    }

    fn invites(&self) -> String {
        self.global("invites")
    }

    fn creator_shows(&self, c: CreatorId) -> String {
        format!("{}:shows", self.tag(c))
    }

    fn creator_moderators(&self, c: CreatorId) -> String {
        format!("{}:moderators", self.tag(c))
    }
}

impl RedisStore {
    /// Adds to `creator`'s show set the shows stored before such sets existed, once.
    async fn index_creator_shows(&self, creator: CreatorId) -> Result<(), StoreError> {
        let mut con = self.conn.clone();
        let marker = format!("{}:indexed", self.keys.creator_shows(creator));
        let indexed: bool = redis::cmd("EXISTS")
            .arg(&marker)
            .query_async(&mut con)
            .await
            .map_err(redis_error)?;
        if indexed {
            return Ok(());
        }
        let index: Vec<(String, String)> = redis::cmd("HGETALL")
            .arg(self.keys.global("idx:show"))
            .query_async(&mut con)
            .await
            .map_err(redis_error)?;
        let owner = creator.to_string();
        let mine: Vec<&String> = index
            .iter()
            .filter(|(_, c)| *c == owner)
            .map(|(show, _)| show)
            .collect();
        // Adding is idempotent and new shows add themselves, so racing nodes agree.
        let mut pipe = redis::pipe();
        if !mine.is_empty() {
            pipe.cmd("SADD")
                .arg(self.keys.creator_shows(creator))
                .arg(mine)
                .ignore();
        }
        pipe.cmd("SET").arg(&marker).arg(1).ignore();
        pipe.exec_async(&mut con).await.map_err(redis_error)
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
}

#[async_trait]
impl ShowStore for RedisStore {
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
                // The accounts area's listing by creation time (redis/accounts.rs).
                .cmd("ZADD")
                .arg(self.keys.global("creators:time"))
                .arg(score(creator.created_at))
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
                .cmd("SADD")
                .arg(self.keys.creator_shows(show.creator_id))
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
            let outcome: i64 = UPDATE_SHOW_SCRIPT
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

    /// Members of the revoked set are `<show>:<invite>`.
    async fn record_invite(&self, show: ShowId, invite: InviteId) -> Result<(), StoreError> {
        self.guard("record_invite", async {
            redis::cmd("SADD")
                .arg(self.keys.invites())
                .arg(format!("{show}:{invite}"))
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    /// Invitations are never forgotten once recorded, so checking then adding needs no script.
    async fn revoke_invite(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError> {
        let member = format!("{show}:{invite}");
        self.guard("revoke_invite", async {
            let mut conn = self.conn.clone();
            let known: bool = redis::cmd("SISMEMBER")
                .arg(self.keys.invites())
                .arg(&member)
                .query_async(&mut conn)
                .await
                .map_err(store_error)?;
            if known {
                redis::cmd("SADD")
                    .arg(self.keys.revoked())
                    .arg(&member)
                    .exec_async(&mut conn)
                    .await
                    .map_err(store_error)?;
            }
            Ok(known)
        })
        .await
    }

    async fn is_revoked(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError> {
        self.guard("is_revoked", async {
            redis::cmd("SISMEMBER")
                .arg(self.keys.revoked())
                .arg(format!("{show}:{invite}"))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn creator_shows(&self, creator: CreatorId) -> Result<Vec<Show>, StoreError> {
        self.guard("creator_shows", async {
            self.index_creator_shows(creator).await?;
            let members: Vec<String> = redis::cmd("SMEMBERS")
                .arg(self.keys.creator_shows(creator))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_error)?;
            self.load_shows(&members).await
        })
        .await
    }

    async fn add_creator_moderator(
        &self,
        creator: CreatorId,
        moderator: &CreatorWideModerator,
    ) -> Result<(), StoreError> {
        self.guard("add_creator_moderator", async {
            redis::cmd("HSET")
                .arg(self.keys.creator_moderators(creator))
                .arg(moderator.id.to_string())
                .arg(encode(moderator)?)
                .exec_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }

    async fn creator_moderators(
        &self,
        creator: CreatorId,
    ) -> Result<Vec<CreatorWideModerator>, StoreError> {
        self.guard("creator_moderators", async {
            let raws: Vec<String> = redis::cmd("HVALS")
                .arg(self.keys.creator_moderators(creator))
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            let mut list = raws
                .iter()
                .map(|raw| decode(raw, "creator moderator"))
                .collect::<Result<Vec<CreatorWideModerator>, _>>()?;
            list.sort_by_key(|m| (m.created_at, m.id.0));
            Ok(list)
        })
        .await
    }

    async fn remove_creator_moderator(
        &self,
        creator: CreatorId,
        id: InviteId,
    ) -> Result<bool, StoreError> {
        self.guard("remove_creator_moderator", async {
            let removed: i64 = redis::cmd("HDEL")
                .arg(self.keys.creator_moderators(creator))
                .arg(id.to_string())
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            Ok(removed > 0)
        })
        .await
    }

    async fn has_creator_moderator(
        &self,
        creator: CreatorId,
        id: InviteId,
    ) -> Result<bool, StoreError> {
        self.guard("has_creator_moderator", async {
            redis::cmd("HEXISTS")
                .arg(self.keys.creator_moderators(creator))
                .arg(id.to_string())
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)
        })
        .await
    }
}
