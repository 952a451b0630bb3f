//! RedisStore's chapter area, with [`crate::store::MemoryStore`]'s observable behaviour
//! (tests/chapters_store.rs runs one contract against both).
//!
//! | key (after `{prefix}:{c:<creator>}:`) | type | content                                   |
//! |---------------------------------------|------|-------------------------------------------|
//! | `show:<s>:chapters`                   | hash | chapter id → `Chapter` JSON               |
//! | `show:<s>:chapters:once`              | set  | `once` keys of the chapters appended      |
//!
//! Both keys share the creator's hash tag, so each script stays in one Cluster slot. Appending
//! and updating are Lua scripts: the bound, the `once` key and the record change together.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::{RedisStore, decode, encode, script_error, store_error};
use crate::domain::Show;
use crate::domain::chapter::{self, Chapter};
use crate::store::{Appended, ChapterStore, StoreError};

/// KEYS: chapters, once. ARGV: id, json, once key ('' for none), max. Returns 1 added,
/// 0 duplicate, -1 full.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if ARGV[3] ~= '' and redis.call('SISMEMBER', KEYS[2], ARGV[3]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
if ARGV[3] ~= '' then redis.call('SADD', KEYS[2], ARGV[3]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
",
    )
});

/// KEYS: chapters. ARGV: id, title ('' unchanged), hidden ('', '0', '1'). Returns the new
/// JSON, or nil for an unknown id.
static UPDATE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return false end
local ok, c = pcall(cjson.decode, raw)
if not ok or type(c) ~= 'table' then return redis.error_reply('CORRUPT chapter') end
if ARGV[2] ~= '' then c.title = ARGV[2] end
if ARGV[3] ~= '' then c.hidden = (ARGV[3] == '1') end
local out = cjson.encode(c)
redis.call('HSET', KEYS[1], ARGV[1], out)
return out
",
    )
});

impl RedisStore {
    fn chapter_keys(&self, show: &Show) -> (String, String) {
        (
            self.keys.show_part(show.creator_id, show.id, "chapters"),
            self.keys
                .show_part(show.creator_id, show.id, "chapters:once"),
        )
    }
}

#[async_trait]
impl ChapterStore for RedisStore {
    async fn append_chapter(
        &self,
        show: &Show,
        new: &Chapter,
        once: Option<&str>,
        max: usize,
    ) -> Result<Appended, StoreError> {
        let (log, onces) = self.chapter_keys(show);
        let json = encode(new)?;
        self.guard("append_chapter", async {
            let result: i64 = APPEND
                .key(&log)
                .key(&onces)
                .arg(&new.id)
                .arg(&json)
                .arg(once.unwrap_or(""))
                .arg(max)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(script_error)?;
            Ok(match result {
                1 => Appended::Added,
                0 => Appended::Duplicate,
                _ => Appended::Full,
            })
        })
        .await
    }

    async fn chapters(&self, show: &Show) -> Result<Vec<Chapter>, StoreError> {
        let (log, _) = self.chapter_keys(show);
        self.guard("chapters", async {
            let raw: Vec<String> = redis::cmd("HVALS")
                .arg(&log)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?;
            let mut list = raw
                .iter()
                .map(|r| decode::<Chapter>(r, "chapter"))
                .collect::<Result<Vec<_>, _>>()?;
            chapter::sort(&mut list);
            Ok(list)
        })
        .await
    }

    async fn update_chapter(
        &self,
        show: &Show,
        id: &str,
        title: Option<&str>,
        hidden: Option<bool>,
    ) -> Result<Option<Chapter>, StoreError> {
        let (log, _) = self.chapter_keys(show);
        let hidden = match hidden {
            None => "",
            Some(true) => "1",
            Some(false) => "0",
        };
        self.guard("update_chapter", async {
            let raw: Option<String> = UPDATE
                .key(&log)
                .arg(id)
                .arg(title.unwrap_or(""))
                .arg(hidden)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(script_error)?;
            raw.map(|r| decode::<Chapter>(&r, "chapter")).transpose()
        })
        .await
    }
}
