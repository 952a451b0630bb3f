//! The live rooms of this node: one [`Room`] per show that has local connections.
//!
//! A room owns the node-local fan-out (a `broadcast` ring that the room's writer shards read
//! and write to every connection's [`outlet::Outlet`]; a connection whose socket falls a
//! ring's worth of frames behind is a slow consumer and is disconnected, so it never holds
//! anyone else back), the reaction tally of the current window, and the local
//! viewer count. Sequencing, the resume log and cross-node delivery belong to the [`Bus`]. A
//! room's ticker flushes reactions every window, reports presence about once a second, and
//! retires the room a while after its last connection left.

pub mod bus;
pub mod outlet;
mod redis_bus;
pub mod transcript;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

pub use bus::{Bus, Frame, LogLimits, MemoryBus, Replay, Snapshot};
pub use redis_bus::RedisBus;

use crate::clock::SharedClock;
use crate::domain::chat::ChatMessage;
use crate::domain::protocol::{Audience, Broadcast};
use crate::domain::{Show, ShowId, ShowStatus};
use crate::store::StoreError;

/// Tuning of the rooms, from the config.
#[derive(Debug, Clone, Copy)]
pub struct RoomConfig {
    /// Frames a connection may fall behind before it is disconnected as a slow consumer.
    pub queue: usize,
    /// Reaction aggregation window.
    pub reaction_window: Duration,
    /// How often the local viewer count is reported.
    pub presence_interval: Duration,
    /// How long an empty room lingers before it is retired.
    pub linger: Duration,
}

pub struct Room {
    pub show: Show,
    tx: broadcast::Sender<Frame>,
    writers: writer::Writers,
    members: AtomicU64,
    reactions: Mutex<BTreeMap<String, u64>>,
    stop: CancellationToken,
}

impl Room {
    /// Delivers the show's frames to this connection's outlet from now on (held until the
    /// outlet goes live).
    pub fn attach(&self, outlet: Arc<outlet::Outlet>) {
        self.writers.attach(outlet);
    }

    /// Counts one reaction into the current window.
    pub fn react(&self, kind: &str) {
        let mut tally = self.reactions.lock().unwrap_or_else(|p| p.into_inner());
        *tally.entry(kind.to_string()).or_default() += 1;
    }

    pub fn members(&self) -> u64 {
        self.members.load(Ordering::Relaxed)
    }

    fn take_reactions(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.reactions.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A connection's membership of a room; leaving is dropping it.
pub struct Membership {
    pub room: Arc<Room>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        let left = self.room.members.fetch_sub(1, Ordering::Relaxed) - 1;
        metrics::gauge!("livesale_ws_connections", "show" => self.room.show.id.to_string())
            .set(left as f64);
    }
}

pub struct Hub {
    pub bus: Arc<dyn Bus>,
    pub node_id: String,
    config: RoomConfig,
    /// The server's clock: the writers measure fan-out latency on it (from a frame's
    /// `published_ms`).
    clock: SharedClock,
    /// An async lock: a room is published in the map only once its bus subscription is
    /// live, so no joiner can take a snapshot before frames after it are delivered.
    rooms: tokio::sync::Mutex<HashMap<ShowId, Arc<Room>>>,
    /// Where [`Hub::publish_chapter`] records chapters (set once at start).
    chapters: std::sync::OnceLock<Arc<dyn crate::store::ChapterStore>>,
    /// Where published frames a replay needs are transcribed (set once at start).
    transcript: std::sync::OnceLock<transcript::Transcriber>,
}

impl Hub {
    pub fn new(
        bus: Arc<dyn Bus>,
        node_id: String,
        config: RoomConfig,
        clock: SharedClock,
    ) -> Arc<Hub> {
        Arc::new(Hub {
            bus,
            node_id,
            config,
            clock,
            rooms: tokio::sync::Mutex::new(HashMap::new()),
            chapters: std::sync::OnceLock::new(),
            transcript: std::sync::OnceLock::new(),
        })
    }

    /// Joins the show's room on this node, opening it (and its bus subscription) if needed.
    pub async fn join(self: &Arc<Self>, show: &Show) -> Result<Membership, StoreError> {
        // Joining counts the member under the rooms lock, so `retire` (which checks the
        // count under the same lock) never removes a room someone is entering.
        let mut rooms = self.rooms.lock().await;
        let room = match rooms.get(&show.id) {
            Some(room) => room.clone(),
            None => {
                let (tx, _) = broadcast::channel(self.config.queue.max(1));
                let stop = CancellationToken::new();
                // One writer per worker thread: a broadcast is spread over the cores.
                let shards = tokio::runtime::Handle::current().metrics().num_workers();
                let room = Arc::new(Room {
                    show: show.clone(),
                    writers: writer::Writers::start(shards, &tx, &stop, &self.clock),
                    tx,
                    members: AtomicU64::new(0),
                    reactions: Mutex::new(BTreeMap::new()),
                    stop,
                });
                self.bus.subscribe(show, room.tx.clone()).await?;
                rooms.insert(show.id, room.clone());
                tokio::spawn(self.clone().tick(room.clone()));
                room
            }
        };
        room.members.fetch_add(1, Ordering::Relaxed);
        drop(rooms);
        metrics::gauge!("livesale_ws_connections", "show" => show.id.to_string())
            .set(room.members() as f64);
        Ok(Membership { room })
    }

    /// Publishes an event to the show through the bus (whether or not this node has a room).
    pub async fn publish(&self, show: &Show, event: &Broadcast) -> Result<Frame, StoreError> {
        let now_ms = self.clock.now_ms() as i64;
        let frame = self.bus.publish(show, event).await?;
        self.transcribe(show, event, &frame, now_ms);
        Ok(frame)
    }

    /// Transcribes the frames of [`Self::publish`] and [`Self::publish_chapter`] into `store`
    /// (the server does at start; a hub without one keeps no transcript). Must be called inside
    /// a tokio runtime: it starts the writer.
    pub fn record_transcript_in(&self, store: Arc<dyn crate::store::TranscriptStore>) {
        let _ = self
            .transcript
            .set(transcript::Transcriber::start(store, transcript::QUEUE));
    }

    /// Offers a published frame to the transcript when a replay needs it: everyone's frames of
    /// the transcribed kinds, while the show is on (not a replay's purchases after the end).
    /// Only the publishing node transcribes, so each event is recorded once. `now_ms` is the
    /// clock as the event went to the bus (read before: its subscribers may act on the frame
    /// before `publish` returns), the time of an event without `pts`.
    fn transcribe(&self, show: &Show, event: &Broadcast, frame: &Frame, now_ms: i64) {
        if let Some(transcriber) = self.transcript.get()
            && frame.audience == Audience::Everyone
            && matches!(show.status, ShowStatus::Scheduled | ShowStatus::Live)
            && crate::domain::replay::transcribed(event)
        {
            transcriber.offer(show.id, frame.seq, now_ms, &frame.text);
        }
    }

    /// Records the chapters of [`Self::publish_chapter`] in `store` (the server does at start;
    /// a hub without one publishes without recording).
    pub fn record_chapters_in(&self, store: Arc<dyn crate::store::ChapterStore>) {
        let _ = self.chapters.set(store);
    }

    /// Publishes an event that makes a chapter (a pin, a deal, a sell-out, a cut) and records
    /// the chapter at the sealed frame's `pts`. Only the node that publishes records, so each
    /// event makes one chapter however many nodes deliver it. A failure to record is logged
    /// (the event is out already); a full log is counted in `livesale_chapters_dropped_total`.
    pub async fn publish_chapter(
        &self,
        show: &Show,
        event: &Broadcast,
        draft: crate::domain::chapter::Draft,
    ) -> Result<Frame, StoreError> {
        let now_ms = self.clock.now_ms() as i64;
        let frame = self.bus.publish(show, event).await?;
        self.transcribe(show, event, &frame, now_ms);
        if let Some(store) = self.chapters.get() {
            let pts = frame.pts().unwrap_or(frame.published_ms as i64);
            let once = draft.once.clone();
            let chapter = draft.at(pts, rand::random());
            match store
                .append_chapter(
                    show,
                    &chapter,
                    once.as_deref(),
                    crate::domain::chapter::MAX_CHAPTERS,
                )
                .await
            {
                Ok(crate::store::Appended::Full) => {
                    metrics::counter!("livesale_chapters_dropped_total").increment(1);
                    tracing::warn!(show = %show.id, "chapter log full; chapter dropped");
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(show = %show.id, error = %e, "chapter not recorded"),
            }
        }
        Ok(frame)
    }

    /// A message of the show's recent chat, by id (a moderator pins it).
    pub async fn find_chat(
        &self,
        show: &Show,
        id: &str,
    ) -> Result<Option<ChatMessage>, StoreError> {
        self.bus.find_chat(show, id).await
    }

    /// Drops a message from the show's recent chat; `false` if it was not there.
    pub async fn delete_chat(&self, show: &Show, id: &str) -> Result<bool, StoreError> {
        self.bus.delete_chat(show, id).await
    }

    /// Empties the show's recent chat.
    pub async fn clear_chat(&self, show: &Show) -> Result<(), StoreError> {
        self.bus.clear_chat(show).await
    }

    /// The room ticker: reaction windows, presence reports, and retirement when empty.
    async fn tick(self: Arc<Self>, room: Arc<Room>) {
        let mut reactions = tokio::time::interval(self.config.reaction_window);
        reactions.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut presence = tokio::time::interval(self.config.presence_interval);
        presence.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut empty_since: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                _ = room.stop.cancelled() => break,
                _ = reactions.tick() => {
                    let counts = room.take_reactions();
                    if !counts.is_empty()
                        && let Err(e) = self.bus.publish(&room.show, &Broadcast::Reactions { counts }).await
                    {
                        tracing::warn!(show = %room.show.id, error = %e, "reactions not published");
                    }
                }
                _ = presence.tick() => {
                    let local = room.members();
                    if let Err(e) = self.bus.report_presence(&room.show, &self.node_id, local).await {
                        tracing::warn!(show = %room.show.id, error = %e, "presence not reported");
                    }
                    if local > 0 {
                        empty_since = None;
                    } else {
                        let since = *empty_since.get_or_insert_with(tokio::time::Instant::now);
                        if since.elapsed() >= self.config.linger && self.retire(&room).await {
                            break;
                        }
                    }
                }
            }
        }
    }

    /// Removes the room if it is still empty; a connection that joined meanwhile keeps it.
    async fn retire(&self, room: &Arc<Room>) -> bool {
        let mut rooms = self.rooms.lock().await;
        if room.members() > 0 {
            return false;
        }
        rooms.remove(&room.show.id);
        self.bus.unsubscribe(&room.show).await;
        room.stop.cancel();
        true
    }

    /// Stops every room (server shutdown).
    pub async fn close_all(&self) {
        for room in self.rooms.lock().await.values() {
            room.stop.cancel();
        }
    }
}
