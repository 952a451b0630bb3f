//! The bus's command connection: every call under the bus's deadline (as
//! `RedisStore::guard` does), the scripts it runs, the show's key names, and reading a range
//! of the resume log (what `since` and the listener's gap fill share).

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use redis::aio::ConnectionManager;
use redis::{ErrorKind, RedisError, RedisResult, Script};

use super::scripts::{PUBLISH, RANGE, REPORT_PRESENCE, SNAPSHOT};
use crate::domain::Show;
use crate::domain::protocol::Audience;
use crate::hub::bus::{Frame, LogLimits};
use crate::store::StoreError;

/// The show's key names (the parent module's doc).
pub(super) struct ShowKeys {
    base: String,
}

impl ShowKeys {
    pub(super) fn new(prefix: &str, show: &Show) -> Self {
        ShowKeys {
            base: format!("{prefix}:{{c:{}}}:show:{}", show.creator_id, show.id),
        }
    }

    pub(super) fn key(&self, name: &str) -> String {
        format!("{}:{name}", self.base)
    }
}

/// What the range script read: the current seq, Redis's clock, and the frames.
pub(super) struct Range {
    pub(super) current: u64,
    pub(super) now_ms: u64,
    pub(super) frames: Vec<Frame>,
}

/// What both the bus and its listener use.
pub(super) struct Inner {
    pub(super) conn: ConnectionManager,
    pub(super) prefix: String,
    pub(super) timeout: Duration,
    pub(super) limits: LogLimits,
    pub(super) publish: Script,
    pub(super) presence: Script,
    range: Script,
    pub(super) snapshot: Script,
}

impl Inner {
    pub(super) fn new(
        conn: ConnectionManager,
        prefix: &str,
        timeout: Duration,
        limits: LogLimits,
    ) -> Inner {
        Inner {
            conn,
            prefix: prefix.to_string(),
            timeout,
            limits,
            publish: Script::new(PUBLISH),
            presence: Script::new(REPORT_PRESENCE),
            range: Script::new(RANGE),
            snapshot: Script::new(SNAPSHOT),
        }
    }

    /// Runs one call under the outer deadline (as `RedisStore::guard` does).
    pub(super) async fn guard<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, StoreError> {
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                tracing::debug!(op, error = %e, "redis bus call failed");
                Err(redis_error(e))
            }
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis did not answer {op} within {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    pub(super) async fn current_seq(&self, seq_key: &str) -> Result<u64, StoreError> {
        let seq: Option<u64> = self
            .guard(
                "seq",
                redis::cmd("GET")
                    .arg(seq_key)
                    .query_async(&mut self.conn.clone()),
            )
            .await?;
        Ok(seq.unwrap_or(0))
    }

    /// Frames after `after` up to `upto` (0: the current seq), at most `count`; see [`RANGE`].
    pub(super) async fn range(
        &self,
        keys: (&str, &str),
        after: u64,
        upto: u64,
        count: usize,
        strict: bool,
    ) -> Result<Range, StoreError> {
        let (current, now_ms, flat): (u64, u64, Vec<String>) = self
            .guard(
                "range",
                self.range
                    .key(keys.0)
                    .key(keys.1)
                    .arg(after)
                    .arg(upto)
                    .arg(count)
                    .arg(if strict { "1" } else { "0" })
                    .invoke_async(&mut self.conn.clone()),
            )
            .await?;
        if flat.len() % 4 != 0 {
            return Err(StoreError::Corrupt(
                "redis bus range is not seq/ms/audience/frame quads".into(),
            ));
        }
        let mut frames = Vec::with_capacity(flat.len() / 4);
        let mut items = flat.into_iter();
        while let (Some(seq), Some(ms), Some(aud), Some(text)) =
            (items.next(), items.next(), items.next(), items.next())
        {
            frames.push(Frame {
                seq: parse_number(&seq, "log entry id")?,
                published_ms: parse_number(&ms, "log entry time")?,
                text: Utf8Bytes::from(text),
                audience: Audience::from_tag(&aud),
            });
        }
        Ok(Range {
            current,
            now_ms,
            frames,
        })
    }
}

/// As in the store: wrong types are `Corrupt`, everything else `Unavailable`.
fn redis_error(e: RedisError) -> StoreError {
    let wrong_type =
        matches!(e.kind(), ErrorKind::UnexpectedReturnType) || e.code() == Some("WRONGTYPE");
    if wrong_type {
        StoreError::Corrupt(format!("redis: {e}"))
    } else {
        StoreError::Unavailable(format!("redis: {e}"))
    }
}

fn parse_number(raw: &str, what: &str) -> Result<u64, StoreError> {
    raw.parse()
        .map_err(|_| StoreError::Corrupt(format!("redis bus {what} is {raw:?}, not a number")))
}
