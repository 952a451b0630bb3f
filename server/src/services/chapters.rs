//! Chapters of a show (issue 17, item 3): the log the room's commerce news and program cuts
//! fill (recorded by [`crate::hub::Hub::publish_chapter`] on the node that publishes each event,
//! so exactly once), the creator's markers, renaming and hiding, the listing with times in the
//! replay, and the `EXT-X-DATERANGE` entries of the replay playlist.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::domain::access::{Action, authorize};
use crate::domain::chapter::{self, Chapter, ChapterKind, MAX_CHAPTERS};
use crate::domain::{Code, DomainError, Principal, Show, ShowId, ShowStatus};
use crate::store::{Appended, ChapterStore, SharedStore, ShowStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ChaptersError {
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A chapter as listed: its place in the replay and its absolute time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Ms into the replay: `pts - origin` (never negative).
    pub at_ms: i64,
    pub chapter: Chapter,
}

/// A chapter change asked for by the creator.
#[derive(Debug, Clone, Default)]
pub struct ChapterEdit {
    pub title: Option<String>,
    pub hidden: Option<bool>,
}

/// The chapter log's rules. Cheap to share.
pub struct ChaptersService {
    shows: Arc<dyn ShowStore>,
    chapters: Arc<dyn ChapterStore>,
    clock: SharedClock,
}

impl ChaptersService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(store: SharedStore, clock: SharedClock) -> Self {
        ChaptersService {
            shows: store.clone(),
            chapters: store,
            clock,
        }
    }

    /// The show, or `show_not_found`.
    pub async fn show(&self, id: ShowId) -> Result<Show, ChaptersError> {
        self.shows.show(id).await?.ok_or_else(|| {
            DomainError::not_found(Code::ShowNotFound, format!("no show {id}")).into()
        })
    }

    /// The show's chapters in time order, each at ms after `origin_ms` (the recording's first
    /// segment; `None` before anything was recorded: the show's start, or its first chapter
    /// if it never started). Hidden chapters only with `all`, which only the show's creator
    /// may ask for.
    pub async fn list(
        &self,
        who: Option<&Principal>,
        show: &Show,
        all: bool,
        origin_ms: Option<i64>,
    ) -> Result<Vec<Listed>, ChaptersError> {
        if all {
            authorize(who, Action::ManageShow, Some(show))?;
        }
        let chapters = self.chapters.chapters(show).await?;
        let origin = origin_ms
            .or_else(|| show.started_at.map(|t| t.timestamp_millis()))
            .or_else(|| chapters.first().map(|c| c.pts))
            .unwrap_or(0);
        Ok(chapters
            .into_iter()
            .filter(|c| all || !c.hidden)
            .map(|c| Listed {
                at_ms: chapter::at_ms(c.pts, origin),
                chapter: c,
            })
            .collect())
    }

    /// The creator's marker at the current time (the show must be live): `show_not_live`
    /// (409), `invalid_title` (422), `too_many_chapters` (409) past [`MAX_CHAPTERS`].
    pub async fn mark(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        title: &str,
    ) -> Result<Chapter, ChaptersError> {
        let show = self.show(id).await?;
        authorize(who, Action::ManageShow, Some(&show))?;
        let title = chapter::title(title)?;
        if show.status != ShowStatus::Live {
            return Err(DomainError::conflict(
                Code::ShowNotLive,
                format!(
                    "markers are added while the show is live; it is {}",
                    show.status.as_str()
                ),
            )
            .into());
        }
        let pts = self.clock.now_ms() as i64;
        let marker = chapter::Draft {
            kind: ChapterKind::Marker,
            product_id: None,
            title,
            once: None,
        }
        .at(pts, rand::random());
        match self
            .chapters
            .append_chapter(&show, &marker, None, MAX_CHAPTERS)
            .await?
        {
            Appended::Full => Err(DomainError::conflict(
                Code::TooManyChapters,
                format!("a show keeps at most {MAX_CHAPTERS} chapters"),
            )
            .into()),
            _ => Ok(marker),
        }
    }

    /// Renames or hides a chapter (the show's creator, at any time): `chapter_not_found`.
    pub async fn edit(
        &self,
        who: Option<&Principal>,
        id: ShowId,
        chapter_id: &str,
        edit: ChapterEdit,
    ) -> Result<Chapter, ChaptersError> {
        let show = self.show(id).await?;
        authorize(who, Action::ManageShow, Some(&show))?;
        let title = edit.title.as_deref().map(chapter::title).transpose()?;
        self.chapters
            .update_chapter(&show, chapter_id, title.as_deref(), edit.hidden)
            .await?
            .ok_or_else(|| {
                DomainError::not_found(
                    Code::ChapterNotFound,
                    format!("no chapter {chapter_id} in this show"),
                )
                .into()
            })
    }

    /// The visible chapters as the replay playlist's `EXT-X-DATERANGE` entries:
    /// `(id, start as Unix ms, title)`, in time order.
    pub async fn dateranges(&self, show: &Show) -> Result<Vec<(String, i64, String)>, StoreError> {
        Ok(self
            .chapters
            .chapters(show)
            .await?
            .into_iter()
            .filter(|c| !c.hidden)
            .map(|c| (c.id, c.pts, c.title))
            .collect())
    }
}
