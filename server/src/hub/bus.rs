//! The show's sequencer and cross-node bus: the one place that assigns `seq`.
//!
//! `publish` gives an event the show's next sequence number, appends the sealed frame to the
//! bounded resume log (and chat messages to the recent-chat history), and delivers it to every
//! node's local fan-out for that show, in sequence order. `MemoryBus` does this under one lock
//! per show; `RedisBus` does it in one Lua script (INCR + XADD + LPUSH + PUBLISH), so the order
//! Redis executes scripts in is the order every node delivers.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;

use crate::clock::SharedClock;
use crate::domain::chat::ChatMessage;
use crate::domain::protocol::{Audience, Broadcast, seal};
use crate::domain::{Show, ShowId};
use crate::store::StoreError;

/// One sealed broadcast frame, shared by every connection that sends it.
#[derive(Debug, Clone)]
pub struct Frame {
    pub seq: u64,
    /// The complete JSON text frame, `seq` included.
    pub text: Utf8Bytes,
    /// Wall-clock milliseconds when the sequencer assigned the seq (fan-out latency origin).
    pub published_ms: u64,
    /// Who receives it (everyone, moderators, or one member); connections filter on it.
    pub audience: Audience,
}

impl Frame {
    /// The `pts` the frame carries (events seen in step with the picture), read back from its
    /// text: the time every page shows it at.
    pub fn pts(&self) -> Option<i64> {
        #[derive(serde::Deserialize)]
        struct Pts {
            pts: Option<i64>,
        }
        serde_json::from_str::<Pts>(self.text.as_str())
            .ok()
            .and_then(|p| p.pts)
    }
}

/// What a resuming client gets.
#[derive(Debug)]
pub enum Replay {
    /// Every frame after the requested seq, in order (possibly none).
    Frames(Vec<Frame>),
    /// The log no longer reaches back that far (or the seq is unknown): resync instead.
    TooOld,
}

/// A consistent view for `welcome`: the current seq and what had happened up to it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub seq: u64,
    /// Recent chat messages, oldest first.
    pub chat: Vec<ChatMessage>,
    /// Viewers across all nodes, as last summed.
    pub viewers: u64,
}

/// Bounds of the per-show resume log and history.
#[derive(Debug, Clone, Copy)]
pub struct LogLimits {
    /// Frames kept for resume.
    pub max_frames: usize,
    /// Frames older than this are not replayed (the client resyncs instead).
    pub max_age: Duration,
    /// Chat messages kept for `welcome`.
    pub chat_history: usize,
    /// Least time between two `presence` broadcasts of one show.
    pub presence_every: Duration,
    /// A node that has not reported its viewer count for this long no longer counts.
    pub presence_stale: Duration,
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sequences `event` for `show` and delivers it everywhere; returns the sealed frame.
    async fn publish(&self, show: &Show, event: &Broadcast) -> Result<Frame, StoreError>;

    /// Frames with seq greater than `last_seq`, or `TooOld` if any of them is gone (trimmed,
    /// older than `max_age`) or `last_seq` is ahead of the show's current seq.
    async fn since(&self, show: &Show, last_seq: u64) -> Result<Replay, StoreError>;

    /// The current seq, recent chat and viewer count, read atomically.
    async fn snapshot(&self, show: &Show) -> Result<Snapshot, StoreError>;

    /// Records `local` viewers of `show` on node `node` and returns the sum over live nodes.
    /// When the sum differs from the last broadcast one and `presence_every` has passed, a
    /// `presence` broadcast is published (once, whichever node reports).
    async fn report_presence(&self, show: &Show, node: &str, local: u64)
    -> Result<u64, StoreError>;

    /// Delivers the show's frames, in seq order, to `tx` until `unsubscribe`.
    async fn subscribe(&self, show: &Show, tx: broadcast::Sender<Frame>) -> Result<(), StoreError>;

    async fn unsubscribe(&self, show: &Show);

    /// A chat message of the recent history, by id.
    async fn find_chat(&self, show: &Show, id: &str) -> Result<Option<ChatMessage>, StoreError>;

    /// Removes a chat message from the recent history (a moderator deleted it), so later
    /// `welcome`s do not show it; `false` if it was not there.
    async fn delete_chat(&self, show: &Show, id: &str) -> Result<bool, StoreError>;

    /// Empties the recent history (a moderator cleared the chat).
    async fn clear_chat(&self, show: &Show) -> Result<(), StoreError>;

    /// `"memory"` or `"redis"`, for logs.
    fn kind(&self) -> &'static str;
}

#[derive(Default)]
struct ShowLog {
    seq: u64,
    frames: VecDeque<Frame>,
    chat: VecDeque<ChatMessage>,
    presence: HashMap<String, (u64, u64)>, // node -> (count, reported_ms)
    presence_sent: Option<(u64, u64)>,     // (sum, at_ms)
    subscribers: Vec<broadcast::Sender<Frame>>,
}

/// The single-node bus: everything in this process, on the server's clock.
pub struct MemoryBus {
    limits: LogLimits,
    clock: SharedClock,
    shows: Mutex<HashMap<ShowId, ShowLog>>,
}

impl MemoryBus {
    pub fn new(limits: LogLimits, clock: SharedClock) -> Self {
        MemoryBus {
            limits,
            clock,
            shows: Mutex::new(HashMap::new()),
        }
    }

    fn with<R>(&self, show: ShowId, f: impl FnOnce(&mut ShowLog) -> R) -> R {
        let mut shows = self.shows.lock().unwrap_or_else(|p| p.into_inner());
        f(shows.entry(show).or_default())
    }

    /// Sequences, logs and delivers under the show's lock, so delivery order is seq order.
    fn append(&self, log: &mut ShowLog, event: &Broadcast) -> Frame {
        log.seq += 1;
        let seq = log.seq;
        let published_ms = self.clock.now_ms();
        let frame = Frame {
            seq,
            text: Utf8Bytes::from(seal(&event.json_prefix(published_ms), seq)),
            published_ms,
            audience: event.audience(),
        };
        log.frames.push_back(frame.clone());
        while log.frames.len() > self.limits.max_frames {
            log.frames.pop_front();
        }
        if let Some(chat) = event.chat() {
            let mut chat = chat.clone();
            chat.seq = Some(seq);
            log.chat.push_back(chat);
            while log.chat.len() > self.limits.chat_history {
                log.chat.pop_front();
            }
        }
        // A send fails only when no connection is reading right now; the room stays
        // subscribed for the next one.
        for tx in &log.subscribers {
            let _ = tx.send(frame.clone());
        }
        frame
    }
}

#[async_trait]
impl Bus for MemoryBus {
    async fn publish(&self, show: &Show, event: &Broadcast) -> Result<Frame, StoreError> {
        Ok(self.with(show.id, |log| self.append(log, event)))
    }

    async fn since(&self, show: &Show, last_seq: u64) -> Result<Replay, StoreError> {
        let oldest_allowed = self
            .clock
            .now_ms()
            .saturating_sub(self.limits.max_age.as_millis() as u64);
        Ok(self.with(show.id, |log| {
            if last_seq > log.seq {
                return Replay::TooOld;
            }
            if last_seq == log.seq {
                return Replay::Frames(Vec::new());
            }
            match log.frames.front() {
                Some(first) if first.seq <= last_seq + 1 => {}
                _ => return Replay::TooOld,
            }
            let missed: Vec<Frame> = log
                .frames
                .iter()
                .filter(|f| f.seq > last_seq)
                .cloned()
                .collect();
            if missed
                .first()
                .is_some_and(|f| f.published_ms < oldest_allowed)
            {
                return Replay::TooOld;
            }
            Replay::Frames(missed)
        }))
    }

    async fn snapshot(&self, show: &Show) -> Result<Snapshot, StoreError> {
        Ok(self.with(show.id, |log| Snapshot {
            seq: log.seq,
            chat: log.chat.iter().cloned().collect(),
            viewers: log
                .presence_sent
                .map(|(sum, _)| sum)
                .unwrap_or_else(|| log.presence.values().map(|(c, _)| c).sum()),
        }))
    }

    async fn report_presence(
        &self,
        show: &Show,
        node: &str,
        local: u64,
    ) -> Result<u64, StoreError> {
        let now = self.clock.now_ms();
        let stale = self.limits.presence_stale.as_millis() as u64;
        let every = self.limits.presence_every.as_millis() as u64;
        Ok(self.with(show.id, |log| {
            log.presence.insert(node.to_string(), (local, now));
            log.presence
                .retain(|_, (_, at)| now.saturating_sub(*at) <= stale);
            let sum: u64 = log.presence.values().map(|(c, _)| c).sum();
            let due = match log.presence_sent {
                None => true,
                Some((last, at)) => last != sum && now.saturating_sub(at) >= every,
            };
            if due {
                log.presence_sent = Some((sum, now));
                self.append(log, &Broadcast::Presence { viewers: sum });
            }
            sum
        }))
    }

    async fn subscribe(&self, show: &Show, tx: broadcast::Sender<Frame>) -> Result<(), StoreError> {
        self.with(show.id, |log| log.subscribers.push(tx));
        Ok(())
    }

    async fn unsubscribe(&self, show: &Show) {
        self.with(show.id, |log| log.subscribers.clear());
    }

    async fn find_chat(&self, show: &Show, id: &str) -> Result<Option<ChatMessage>, StoreError> {
        Ok(self.with(show.id, |log| log.chat.iter().find(|m| m.id == id).cloned()))
    }

    async fn delete_chat(&self, show: &Show, id: &str) -> Result<bool, StoreError> {
        Ok(self.with(show.id, |log| {
            let before = log.chat.len();
            log.chat.retain(|m| m.id != id);
            log.chat.len() != before
        }))
    }

    async fn clear_chat(&self, show: &Show) -> Result<(), StoreError> {
        self.with(show.id, |log| log.chat.clear());
        Ok(())
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}
