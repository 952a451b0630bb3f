//! The transcript area of the store: each show's room transcript ([`TranscriptStore`]), the
//! chat, pins, purchases and cuts a replay plays back beside the picture. Appended by the hub's
//! transcript writer on the node that publishes each event, bounded per show by each entry's
//! [`TranscriptEntry::cap`] (`domain::replay::MAX_TRANSCRIPT`, chat at
//! `MAX_TRANSCRIPT_CHAT`). tests/transcript_store.rs runs one contract against both stores.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::ShowId;
use crate::domain::replay::TranscriptEntry;

#[async_trait]
pub trait TranscriptStore: Send + Sync + 'static {
    /// Appends `entries` in order, each only while the show's transcript holds fewer entries
    /// than its [`TranscriptEntry::cap`]; returns how many were kept. Atomic.
    async fn append_transcript(
        &self,
        show: ShowId,
        entries: &[TranscriptEntry],
    ) -> Result<usize, StoreError>;

    /// The show's transcript in the order it was appended (empty when none).
    async fn transcript(&self, show: ShowId) -> Result<Vec<TranscriptEntry>, StoreError>;

    /// Forgets the show's transcript (its recording was deleted).
    async fn remove_transcript(&self, show: ShowId) -> Result<(), StoreError>;
}
