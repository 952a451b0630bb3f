//! The chapter area of the store: each show's chapter log ([`ChapterStore`]), bounded at
//! [`crate::domain::chapter::MAX_CHAPTERS`]. tests/chapters_store.rs runs one contract against
//! both stores.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::Show;
use crate::domain::chapter::Chapter;

/// What appending a chapter did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Added,
    /// A chapter with the same `once` key was recorded before: nothing changed.
    Duplicate,
    /// The show has its maximum of chapters: nothing changed.
    Full,
}

#[async_trait]
pub trait ChapterStore: Send + Sync + 'static {
    /// Appends `chapter` to the show's log, unless the log holds `max` chapters, or `once` is
    /// given and a chapter was appended with the same `once` key before (one sell-out chapter
    /// per product, however many nodes see it). Atomic.
    async fn append_chapter(
        &self,
        show: &Show,
        chapter: &Chapter,
        once: Option<&str>,
        max: usize,
    ) -> Result<Appended, StoreError>;

    /// Every chapter of the show, hidden ones included, in time order.
    async fn chapters(&self, show: &Show) -> Result<Vec<Chapter>, StoreError>;

    /// Renames or hides (`None`: unchanged) one chapter; the chapter after the change, or
    /// `None` when the show has no chapter `id`. Atomic.
    async fn update_chapter(
        &self,
        show: &Show,
        id: &str,
        title: Option<&str>,
        hidden: Option<bool>,
    ) -> Result<Option<Chapter>, StoreError>;
}
