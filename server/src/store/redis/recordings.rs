//! RedisStore's recording indexes: a hash per show, `{prefix}:{r:<show>}:recording`, of
//! msn → segment JSON, and a sorted set `{prefix}:recordings` of shows by last write (Unix
//! ms), which the retention sweeper reads.

use async_trait::async_trait;

use super::{RedisStore, redis_error};
use crate::domain::ShowId;
use crate::store::StoreError;
use crate::store::recordings::{RecordedSegment, Recording, RecordingStore};

impl RedisStore {
    fn recording_key(&self, show: ShowId) -> String {
        self.keys.global(&format!("{{r:{show}}}:recording"))
    }
}

#[async_trait]
impl RecordingStore for RedisStore {
    async fn put_segment(
        &self,
        show: ShowId,
        segment: &RecordedSegment,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let key = self.recording_key(show);
        let shows = self.keys.global("recordings");
        let json = serde_json::to_string(segment)
            .map_err(|e| StoreError::Corrupt(format!("recorded segment: {e}")))?;
        self.guard("put_segment", async {
            let mut conn = self.conn.clone();
            let () = redis::cmd("HSET")
                .arg(&key)
                .arg(segment.msn)
                .arg(json)
                .query_async::<i64>(&mut conn)
                .await
                .map(|_| ())
                .map_err(redis_error)?;
            redis::cmd("ZADD")
                .arg(&shows)
                .arg(now_ms)
                .arg(show.to_string())
                .query_async::<i64>(&mut conn)
                .await
                .map(|_| ())
                .map_err(redis_error)
        })
        .await
    }

    async fn recording(&self, show: ShowId) -> Result<Option<Recording>, StoreError> {
        let key = self.recording_key(show);
        let fields: Vec<String> = self
            .guard("recording", async {
                redis::cmd("HVALS")
                    .arg(&key)
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(redis_error)
            })
            .await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let mut segments = fields
            .iter()
            .map(|f| {
                serde_json::from_str::<RecordedSegment>(f)
                    .map_err(|e| StoreError::Corrupt(format!("recorded segment: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        segments.sort_by_key(|s| s.msn);
        Ok(Some(Recording { segments }))
    }

    async fn recordings_before(&self, before_ms: i64) -> Result<Vec<ShowId>, StoreError> {
        let shows = self.keys.global("recordings");
        let ids: Vec<String> = self
            .guard("recordings_before", async {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(&shows)
                    .arg("-inf")
                    .arg(format!("({before_ms}"))
                    .query_async(&mut self.conn.clone())
                    .await
                    .map_err(redis_error)
            })
            .await?;
        Ok(ids
            .iter()
            .filter_map(|id| id.parse::<uuid::Uuid>().ok().map(ShowId))
            .collect())
    }

    async fn remove_recording(&self, show: ShowId) -> Result<(), StoreError> {
        let key = self.recording_key(show);
        let shows = self.keys.global("recordings");
        self.guard("remove_recording", async {
            let mut conn = self.conn.clone();
            redis::cmd("DEL")
                .arg(&key)
                .query_async::<i64>(&mut conn)
                .await
                .map_err(redis_error)?;
            redis::cmd("ZREM")
                .arg(&shows)
                .arg(show.to_string())
                .query_async::<i64>(&mut conn)
                .await
                .map(|_| ())
                .map_err(redis_error)
        })
        .await
    }
}
