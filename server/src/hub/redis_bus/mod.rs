//! The several-node bus: every node's rooms share one sequencer, resume log and presence sum
//! in Redis, with the observable behaviour of [`super::MemoryBus`] (tests/bus_contract.rs runs
//! one suite against both).
//!
//! Keys, all under the show's creator hash tag like the rest of the creator's data in
//! [`crate::store::RedisStore`], so every script touches one Cluster slot:
//!
//! ```text
//! {prefix}:{c:<creator>}:show:<show>:seq            INCR counter, the show's last seq
//!                                      :log            stream, id = <seq>-0, fields f=frame t=ms
//!                                      :chat           list of recent chat frames, newest first
//!                                      :presence       hash node -> local viewer count
//!                                      :presence_at    hash node -> last report (ms, Redis TIME)
//!                                      :presence_sent  hash sum, at: the last presence broadcast
//!                                      :room           the pub/sub channel (not a key)
//! ```
//!
//! Every key gets a 24 h TTL, refreshed on each publish (and on each presence report for the
//! presence keys), so an idle show's keys go away by themselves.
//!
//! Sequencing: `publish` is one Lua script (INCR, XADD with the seq as the entry id and
//! `MAXLEN ~`, LPUSH+LTRIM for chat, PUBLISH of `seq|ms|audience|frame`; [`scripts`]). Scripts
//! run one at a time and pub/sub keeps publish order, so every node receives a show's frames
//! in seq order. The time of a frame is Redis's `TIME`, one clock for all nodes (not the
//! server's `Clock`); an event's `pts` is the publishing node's clock, the one its media
//! packager stamps the picture with ([`RedisBus::with_clock`]). `report_presence` is one script too: it records the node's count, drops
//! stale nodes, sums, and publishes a `presence` frame the same way when the sum changed
//! (throttled), so the broadcast happens once per change however many nodes report. `since`
//! and `snapshot` read the seq and the log, chat list or presence hashes in one script, so
//! what they return is consistent with the seq.
//!
//! Delivery to this node's rooms, gap fill and reconnects are the [`listener`]'s.

mod conn;
mod listener;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::bus::{Bus, Frame, LogLimits, Replay, Snapshot};
use crate::clock::{SharedClock, SystemClock};
use crate::domain::Show;
use crate::domain::chat::ChatMessage;
use crate::domain::protocol::{Broadcast, seal};
use crate::store::StoreError;
use conn::{Inner, ShowKeys};
use listener::{Command, Listener, SubscribeRequest, open_pubsub};

/// Idle shows' keys expire after this; every publish refreshes it.
const SHOW_TTL_SECS: u64 = 24 * 3600;

pub struct RedisBus {
    inner: Arc<Inner>,
    /// This node's wall clock: the `pts` of events seen in step with the picture.
    clock: SharedClock,
    commands: mpsc::UnboundedSender<Command>,
    listener: tokio::task::AbortHandle,
}

impl RedisBus {
    /// The stored frame and message of a recent chat message, by id.
    async fn chat_entry(
        &self,
        show: &Show,
        id: &str,
    ) -> Result<Option<(String, ChatMessage)>, StoreError> {
        let inner = &self.inner;
        let key = self.keys(show).key("chat");
        let frames: Vec<String> = inner
            .guard(
                "chat_entry",
                redis::cmd("LRANGE")
                    .arg(key)
                    .arg(0)
                    .arg(-1)
                    .query_async(&mut inner.conn.clone()),
            )
            .await?;
        Ok(frames.into_iter().find_map(|raw| {
            let message = serde_json::from_str::<ChatMessage>(&raw).ok()?;
            (message.id == id).then_some((raw, message))
        }))
    }

    /// Connects to `url` (a command connection and the pub/sub connection), namespacing every
    /// key under `prefix`; each call fails as `Unavailable` after `timeout`.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        limits: LogLimits,
    ) -> Result<RedisBus, StoreError> {
        let (client, conn) = crate::store::connect_manager(url, prefix, timeout, "the bus").await?;
        let pubsub = open_pubsub(&client, timeout).await?;
        let inner = Arc::new(Inner::new(conn, prefix, timeout, limits));
        let (commands, listener) = Listener::spawn(inner.clone(), client, pubsub);
        Ok(RedisBus {
            inner,
            clock: Arc::new(SystemClock),
            commands,
            listener,
        })
    }

    /// Stamps events' `pts` with `clock` (the server's, so a test clock moves it too) instead
    /// of the machine's wall clock.
    pub fn with_clock(mut self, clock: SharedClock) -> RedisBus {
        self.clock = clock;
        self
    }

    fn keys(&self, show: &Show) -> ShowKeys {
        ShowKeys::new(&self.inner.prefix, show)
    }
}

impl Drop for RedisBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn publish(&self, show: &Show, event: &Broadcast) -> Result<Frame, StoreError> {
        let inner = &self.inner;
        let keys = self.keys(show);
        let prefix = event.json_prefix(self.clock.now_ms());
        let audience = event.audience();
        let (seq, published_ms): (u64, u64) = inner
            .guard(
                "publish",
                inner
                    .publish
                    .key(keys.key("seq"))
                    .key(keys.key("log"))
                    .key(keys.key("chat"))
                    .arg(&prefix)
                    .arg(if event.chat().is_some() { "1" } else { "0" })
                    .arg(inner.limits.max_frames)
                    .arg(inner.limits.chat_history)
                    .arg(keys.key("room"))
                    .arg(SHOW_TTL_SECS)
                    .arg(audience.tag())
                    .invoke_async(&mut inner.conn.clone()),
            )
            .await?;
        Ok(Frame {
            seq,
            text: Utf8Bytes::from(seal(&prefix, seq)),
            published_ms,
            audience,
        })
    }

    async fn since(&self, show: &Show, last_seq: u64) -> Result<Replay, StoreError> {
        let limits = &self.inner.limits;
        let keys = self.keys(show);
        let (seq_key, log_key) = (keys.key("seq"), keys.key("log"));
        let range = self
            .inner
            .range(
                (seq_key.as_str(), log_key.as_str()),
                last_seq,
                0,
                limits.max_frames,
                true,
            )
            .await?;
        if last_seq > range.current {
            return Ok(Replay::TooOld);
        }
        let missing = range.current - last_seq;
        if missing == 0 {
            return Ok(Replay::Frames(Vec::new()));
        }
        let oldest_allowed = range
            .now_ms
            .saturating_sub(limits.max_age.as_millis() as u64);
        let complete = missing <= limits.max_frames as u64
            && range.frames.len() as u64 == missing
            && range.frames.first().map(|f| f.seq) == Some(last_seq + 1);
        match range.frames.first() {
            Some(first) if complete && first.published_ms >= oldest_allowed => {
                Ok(Replay::Frames(range.frames))
            }
            _ => Ok(Replay::TooOld),
        }
    }

    async fn snapshot(&self, show: &Show) -> Result<Snapshot, StoreError> {
        let inner = &self.inner;
        let keys = self.keys(show);
        let (seq, viewers, chat): (u64, u64, Vec<String>) = inner
            .guard(
                "snapshot",
                inner
                    .snapshot
                    .key(keys.key("seq"))
                    .key(keys.key("chat"))
                    .key(keys.key("presence_sent"))
                    .key(keys.key("presence"))
                    .arg(inner.limits.chat_history)
                    .invoke_async(&mut inner.conn.clone()),
            )
            .await?;
        // Stored newest first; the frame's extra `type` field is ignored, its `seq` is kept.
        let chat = chat
            .iter()
            .rev()
            .map(|frame| {
                serde_json::from_str::<ChatMessage>(frame)
                    .map_err(|e| StoreError::Corrupt(format!("stored chat frame: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Snapshot { seq, chat, viewers })
    }

    async fn report_presence(
        &self,
        show: &Show,
        node: &str,
        local: u64,
    ) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let limits = &inner.limits;
        let keys = self.keys(show);
        inner
            .guard(
                "report_presence",
                inner
                    .presence
                    .key(keys.key("presence"))
                    .key(keys.key("presence_at"))
                    .key(keys.key("presence_sent"))
                    .key(keys.key("seq"))
                    .key(keys.key("log"))
                    .arg(node)
                    .arg(local)
                    .arg(limits.presence_stale.as_millis() as u64)
                    .arg(limits.presence_every.as_millis() as u64)
                    .arg(limits.max_frames)
                    .arg(keys.key("room"))
                    .arg(SHOW_TTL_SECS)
                    .invoke_async(&mut inner.conn.clone()),
            )
            .await
    }

    async fn subscribe(&self, show: &Show, tx: broadcast::Sender<Frame>) -> Result<(), StoreError> {
        let keys = self.keys(show);
        let (ack, answer) = oneshot::channel();
        let request = SubscribeRequest {
            channel: keys.key("room"),
            seq_key: keys.key("seq"),
            log_key: keys.key("log"),
            tx,
            ack,
        };
        let stopped = || StoreError::Unavailable("the redis bus listener has stopped".into());
        self.commands
            .send(Command::Subscribe(request))
            .map_err(|_| stopped())?;
        // SUBSCRIBE and the seq read each have the timeout; allow for work queued before.
        let within = self.inner.timeout * 3;
        match tokio::time::timeout(within, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(stopped()),
            Err(_) => Err(StoreError::Unavailable(format!(
                "redis pub/sub did not subscribe within {} ms",
                within.as_millis()
            ))),
        }
    }

    async fn unsubscribe(&self, show: &Show) {
        let (ack, done) = oneshot::channel();
        let channel = self.keys(show).key("room");
        if self
            .commands
            .send(Command::Unsubscribe { channel, ack })
            .is_ok()
        {
            // Answered as soon as the listener stops delivering, before Redis is told.
            let _ = tokio::time::timeout(self.inner.timeout, done).await;
        }
    }

    async fn find_chat(&self, show: &Show, id: &str) -> Result<Option<ChatMessage>, StoreError> {
        Ok(self.chat_entry(show, id).await?.map(|(_, m)| m))
    }

    async fn delete_chat(&self, show: &Show, id: &str) -> Result<bool, StoreError> {
        let Some((raw, _)) = self.chat_entry(show, id).await? else {
            return Ok(false);
        };
        let inner = &self.inner;
        let key = self.keys(show).key("chat");
        let removed: u64 = inner
            .guard(
                "delete_chat",
                redis::cmd("LREM")
                    .arg(key)
                    .arg(1)
                    .arg(raw)
                    .query_async(&mut inner.conn.clone()),
            )
            .await?;
        Ok(removed > 0)
    }

    async fn clear_chat(&self, show: &Show) -> Result<(), StoreError> {
        let inner = &self.inner;
        let key = self.keys(show).key("chat");
        let _: u64 = inner
            .guard(
                "clear_chat",
                redis::cmd("DEL")
                    .arg(key)
                    .query_async(&mut inner.conn.clone()),
            )
            .await?;
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "redis"
    }
}
