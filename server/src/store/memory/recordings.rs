//! MemoryStore's recording indexes: segments by msn, and when each was last written.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::ShowId;
use crate::store::StoreError;
use crate::store::recordings::{RecordedSegment, Recording, RecordingStore};

#[async_trait]
impl RecordingStore for MemoryStore {
    async fn put_segment(
        &self,
        show: ShowId,
        segment: &RecordedSegment,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let (segments, written) = s.recordings.entry(show).or_default();
            segments.insert(segment.msn, segment.clone());
            *written = now_ms;
        });
        Ok(())
    }

    async fn recording(&self, show: ShowId) -> Result<Option<Recording>, StoreError> {
        Ok(self.with(|s| {
            s.recordings.get(&show).map(|(segments, _)| Recording {
                segments: segments.values().cloned().collect(),
            })
        }))
    }

    async fn recordings_before(&self, before_ms: i64) -> Result<Vec<ShowId>, StoreError> {
        Ok(self.with(|s| {
            s.recordings
                .iter()
                .filter(|(_, (_, written))| *written < before_ms)
                .map(|(show, _)| *show)
                .collect()
        }))
    }

    async fn remove_recording(&self, show: ShowId) -> Result<(), StoreError> {
        self.with(|s| s.recordings.remove(&show));
        Ok(())
    }
}
