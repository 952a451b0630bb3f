//! RedisStore's transcripts, with [`crate::store::MemoryStore`]'s observable behaviour
//! (tests/transcript_store.rs runs one contract against both): a list per show,
//! `{prefix}:{r:<show>}:transcript`, of entry JSON in the order appended (the hash tag of the
//! show's recording index, so both sit in one Cluster slot). A batch is appended by one Lua
//! script that checks each entry's cap against the list's length, so the bound holds whatever
//! nodes append at once.

use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::{RedisStore, decode, encode, redis_error, script_error};
use crate::domain::ShowId;
use crate::domain::replay::TranscriptEntry;
use crate::store::{StoreError, TranscriptStore};

/// KEYS: transcript. ARGV: json1, cap1, json2, cap2, … Returns how many were appended.
static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = redis.call('LLEN', KEYS[1])
local kept = 0
for i = 1, #ARGV, 2 do
  if n < tonumber(ARGV[i + 1]) then
    redis.call('RPUSH', KEYS[1], ARGV[i])
    n = n + 1
    kept = kept + 1
  end
end
return kept
",
    )
});

impl RedisStore {
    fn transcript_key(&self, show: ShowId) -> String {
        self.keys.global(&format!("{{r:{show}}}:transcript"))
    }
}

#[async_trait]
impl TranscriptStore for RedisStore {
    async fn append_transcript(
        &self,
        show: ShowId,
        entries: &[TranscriptEntry],
    ) -> Result<usize, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        let key = self.transcript_key(show);
        let mut invocation = APPEND.prepare_invoke();
        invocation.key(&key);
        for entry in entries {
            invocation.arg(encode(entry)?).arg(entry.cap());
        }
        self.guard("append_transcript", async {
            let kept: i64 = invocation
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(script_error)?;
            Ok(kept.max(0) as usize)
        })
        .await
    }

    async fn transcript(&self, show: ShowId) -> Result<Vec<TranscriptEntry>, StoreError> {
        let key = self.transcript_key(show);
        let raw: Vec<String> = self
            .guard("transcript", async {
                redis::cmd("LRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(redis_error)
            })
            .await?;
        raw.iter()
            .map(|r| decode::<TranscriptEntry>(r, "transcript entry"))
            .collect()
    }

    async fn remove_transcript(&self, show: ShowId) -> Result<(), StoreError> {
        let key = self.transcript_key(show);
        self.guard("remove_transcript", async {
            redis::cmd("DEL")
                .arg(&key)
                .query_async::<i64>(&mut self.conn.clone())
                .await
                .map(|_| ())
                .map_err(redis_error)
        })
        .await
    }
}
