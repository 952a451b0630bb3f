//! MemoryStore's chapter area: the reference behaviour of [`ChapterStore`].

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::Show;
use crate::domain::chapter::{self, Chapter};
use crate::store::{Appended, ChapterStore, StoreError};

/// One show's chapters and the `once` keys used.
#[derive(Default)]
pub(super) struct ShowChapters {
    chapters: Vec<Chapter>,
    once: std::collections::HashSet<String>,
}

#[async_trait]
impl ChapterStore for MemoryStore {
    async fn append_chapter(
        &self,
        show: &Show,
        new: &Chapter,
        once: Option<&str>,
        max: usize,
    ) -> Result<Appended, StoreError> {
        Ok(self.with(|s| {
            let log = s.chapters.entry(show.id).or_default();
            if once.is_some_and(|key| log.once.contains(key)) {
                return Appended::Duplicate;
            }
            if log.chapters.len() >= max {
                return Appended::Full;
            }
            if let Some(key) = once {
                log.once.insert(key.to_string());
            }
            log.chapters.push(new.clone());
            Appended::Added
        }))
    }

    async fn chapters(&self, show: &Show) -> Result<Vec<Chapter>, StoreError> {
        let mut list = self.with(|s| {
            s.chapters
                .get(&show.id)
                .map(|log| log.chapters.clone())
                .unwrap_or_default()
        });
        chapter::sort(&mut list);
        Ok(list)
    }

    async fn update_chapter(
        &self,
        show: &Show,
        id: &str,
        title: Option<&str>,
        hidden: Option<bool>,
    ) -> Result<Option<Chapter>, StoreError> {
        Ok(self.with(|s| {
            let found = s
                .chapters
                .get_mut(&show.id)?
                .chapters
                .iter_mut()
                .find(|c| c.id == id)?;
            if let Some(title) = title {
                found.title = title.to_string();
            }
            if let Some(hidden) = hidden {
                found.hidden = hidden;
            }
            Some(found.clone())
        }))
    }
}
