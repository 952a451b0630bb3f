//! MemoryStore's transcripts: the reference behaviour of [`TranscriptStore`].

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::ShowId;
use crate::domain::replay::TranscriptEntry;
use crate::store::{StoreError, TranscriptStore};

#[async_trait]
impl TranscriptStore for MemoryStore {
    async fn append_transcript(
        &self,
        show: ShowId,
        entries: &[TranscriptEntry],
    ) -> Result<usize, StoreError> {
        Ok(self.with(|s| {
            let log = s.transcripts.entry(show).or_default();
            let mut kept = 0;
            for entry in entries {
                if log.len() < entry.cap() {
                    log.push(entry.clone());
                    kept += 1;
                }
            }
            kept
        }))
    }

    async fn transcript(&self, show: ShowId) -> Result<Vec<TranscriptEntry>, StoreError> {
        Ok(self.with(|s| s.transcripts.get(&show).cloned().unwrap_or_default()))
    }

    async fn remove_transcript(&self, show: ShowId) -> Result<(), StoreError> {
        self.with(|s| s.transcripts.remove(&show));
        Ok(())
    }
}
