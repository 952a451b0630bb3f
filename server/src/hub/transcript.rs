//! The room transcript's writer (docs/replay.md, "Replay events and highlights"): the node that
//! publishes a room event a replay needs hands the sealed frame to a bounded queue, never
//! waiting, and one task per node drains it in batches into the [`TranscriptStore`] (one
//! store call per show per batch: one Lua script on Redis). A full queue drops the frame; a
//! full transcript or a store error drops the batch's entries; each is counted in
//! `livesale_transcript_dropped_total{reason}` (`queue`, `full`, `store`). What is dropped
//! is missing from the replay, never anything else.

use std::sync::Arc;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;

use crate::domain::ShowId;
use crate::domain::replay::TranscriptEntry;
use crate::store::TranscriptStore;

/// Frames waiting for the writer, across all shows of this node.
pub const QUEUE: usize = 8192;
/// Most frames the writer takes in one round.
const BATCH: usize = 512;

/// One frame to transcribe.
struct Pending {
    show: ShowId,
    seq: u64,
    /// When the frame was published on this node's clock (the time of an event without `pts`).
    published_ms: i64,
    text: Utf8Bytes,
}

fn dropped(reason: &'static str, n: usize) {
    metrics::counter!("livesale_transcript_dropped_total", "reason" => reason).increment(n as u64);
}

/// The handle the hub offers frames to.
pub struct Transcriber {
    tx: mpsc::Sender<Pending>,
}

impl Transcriber {
    /// Starts the writer (inside a tokio runtime) over `store`, with a queue of `queue` frames.
    pub fn start(store: Arc<dyn TranscriptStore>, queue: usize) -> Transcriber {
        for reason in ["queue", "full", "store"] {
            dropped(reason, 0);
        }
        let (tx, rx) = mpsc::channel(queue.max(1));
        tokio::spawn(write(store, rx));
        Transcriber { tx }
    }

    /// Queues a sealed frame of `show`; never waits: a full queue drops and counts it
    /// (`false`).
    pub fn offer(&self, show: ShowId, seq: u64, published_ms: i64, text: &Utf8Bytes) -> bool {
        let pending = Pending {
            show,
            seq,
            published_ms,
            text: text.clone(),
        };
        let queued = self.tx.try_send(pending).is_ok();
        if !queued {
            dropped("queue", 1);
        }
        queued
    }
}

async fn write(store: Arc<dyn TranscriptStore>, mut rx: mpsc::Receiver<Pending>) {
    let mut taken = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut taken, BATCH).await > 0 {
        // Per show, in the order published on this node.
        let mut shows: Vec<(ShowId, Vec<TranscriptEntry>)> = Vec::new();
        for p in taken.drain(..) {
            let Some(entry) = TranscriptEntry::from_frame(p.text.as_str(), p.seq, p.published_ms)
            else {
                continue;
            };
            match shows.iter_mut().find(|(show, _)| *show == p.show) {
                Some((_, entries)) => entries.push(entry),
                None => shows.push((p.show, vec![entry])),
            }
        }
        for (show, entries) in shows {
            match store.append_transcript(show, &entries).await {
                Ok(kept) if kept < entries.len() => {
                    dropped("full", entries.len() - kept);
                    tracing::debug!(%show, dropped = entries.len() - kept, "transcript full");
                }
                Ok(_) => {}
                Err(e) => {
                    dropped("store", entries.len());
                    tracing::warn!(%show, error = %e, "transcript entries not recorded");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::clock::{Clock, TestClock};
    use crate::domain::chat::{Author, ChatMessage};
    use crate::domain::protocol::{Broadcast, seal};
    use crate::domain::replay::Recorded;
    use crate::domain::{CreatorId, NewShow, Role, Show, ShowStatus};
    use crate::store::{MemoryStore, StoreError};

    /// A store whose appends wait until the test opens the gate.
    struct Gated {
        gate: tokio::sync::Semaphore,
        inner: MemoryStore,
    }

    #[async_trait]
    impl TranscriptStore for Gated {
        async fn append_transcript(
            &self,
            show: ShowId,
            entries: &[TranscriptEntry],
        ) -> Result<usize, StoreError> {
            let _open = self.gate.acquire().await.expect("gate");
            self.inner.append_transcript(show, entries).await
        }
        async fn transcript(&self, show: ShowId) -> Result<Vec<TranscriptEntry>, StoreError> {
            self.inner.transcript(show).await
        }
        async fn remove_transcript(&self, show: ShowId) -> Result<(), StoreError> {
            self.inner.remove_transcript(show).await
        }
    }

    fn message(id: &str) -> ChatMessage {
        ChatMessage {
            id: id.into(),
            author: Author {
                id: "v1".into(),
                name: "Ada".into(),
            },
            role: Role::Viewer,
            text: "hi".into(),
            at: chrono::Utc::now(),
            seq: None,
        }
    }

    async fn until_len(
        store: &dyn TranscriptStore,
        show: ShowId,
        n: usize,
    ) -> Vec<TranscriptEntry> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = store.transcript(show).await.unwrap();
            if got.len() >= n {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n}",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_full_queue_drops_instead_of_waiting() {
        let store = Arc::new(Gated {
            gate: tokio::sync::Semaphore::new(0),
            inner: MemoryStore::new(),
        });
        let transcriber = Transcriber::start(store.clone(), 2);
        let show = ShowId(uuid::Uuid::now_v7());
        let mut queued = 0;
        for seq in 1..=10u64 {
            let frame = seal(
                &Broadcast::Chat(message(&format!("m{seq}"))).json_prefix(0),
                seq,
            );
            queued += transcriber.offer(show, seq, 1_000, &frame.into()) as usize;
        }
        // The writer holds at most one round (the queue's 2) while the store waits, plus 2
        // queued behind it: the rest was dropped, and offering never waited.
        assert!((2..=4).contains(&queued), "{queued} queued");
        store.gate.add_permits(100);
        let got = until_len(store.as_ref(), show, queued).await;
        assert_eq!(got.len(), queued);
        assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "in order");
    }

    #[tokio::test]
    async fn only_everyones_frames_of_a_show_on_are_transcribed() {
        let clock = TestClock::new();
        let (hub, _) = crate::services::testing::memory_hub(clock.clone());
        let store = Arc::new(MemoryStore::new());
        hub.record_transcript_in(store.clone());
        let now = chrono::Utc::now();
        let mut show = Show::schedule(
            ShowId(uuid::Uuid::now_v7()),
            CreatorId(uuid::Uuid::now_v7()),
            NewShow {
                title: "Transcribed".into(),
                description: None,
                scheduled_at: None,
                cover_url: None,
            },
            now,
        )
        .unwrap();
        show.start(now).unwrap();
        let before = clock.now_ms() as i64;
        for event in [
            Broadcast::Presence { viewers: 3 },
            Broadcast::ModMessage(message("mods-only")),
            Broadcast::ModNotice {
                to: "v1".into(),
                action: "timeout".into(),
                until: None,
                reason: None,
            },
            Broadcast::Chat(message("a")),
            Broadcast::ProgramChanged {
                camera: Some("c1".into()),
            },
        ] {
            hub.publish(&show, &event).await.unwrap();
        }
        let mut ended = show.clone();
        ended.end(now).unwrap();
        assert_eq!(ended.status, ShowStatus::Ended);
        hub.publish(&ended, &Broadcast::Chat(message("after the end")))
            .await
            .unwrap();
        // In order: once the last one is in, anything before it would be too.
        hub.publish(&show, &Broadcast::ChatCleared {})
            .await
            .unwrap();
        let got = until_len(store.as_ref(), show.id, 3).await;
        let kinds: Vec<&Recorded> = got.iter().map(|e| &e.event).collect();
        assert!(
            matches!(kinds[0], Recorded::Chat(m) if m.id == "a"),
            "{got:?}"
        );
        assert!(
            matches!(kinds[1], Recorded::ProgramChanged { .. }),
            "{got:?}"
        );
        assert_eq!(kinds[2], &Recorded::ChatCleared {});
        assert_eq!(got.len(), 3, "{got:?}");
        let after = clock.now_ms() as i64;
        assert!((before..=after).contains(&got[1].pts), "the frame's pts");
    }
}
