//! A show and its lifecycle: Scheduled → Live → Ended, or Scheduled → Cancelled; nothing else.
//! Only a scheduled show can be edited (title, description, start time, cover image).

use super::{Code, CreatorId, DomainError, ShowId, Timestamp, names};

pub const MAX_TITLE: usize = 120;
pub const MAX_DESCRIPTION: usize = 5000;
pub const MAX_COVER_URL: usize = 2048;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShowStatus {
    Scheduled,
    Live,
    Ended,
    /// Called off before it went live; final, like `Ended`.
    Cancelled,
}

impl ShowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShowStatus::Scheduled => "scheduled",
            ShowStatus::Live => "live",
            ShowStatus::Ended => "ended",
            ShowStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the show is over for good (ended or cancelled). An ended show still sells
    /// from its replay (`domain::commerce::SalesChannel::of`); a cancelled one does not.
    pub fn is_closed(self) -> bool {
        matches!(self, ShowStatus::Ended | ShowStatus::Cancelled)
    }
}

/// What a creator supplies to schedule a show.
#[derive(Debug, Clone, Default)]
pub struct NewShow {
    pub title: String,
    pub description: Option<String>,
    pub scheduled_at: Option<Timestamp>,
    pub cover_url: Option<String>,
}

/// A change to a scheduled show: `None` leaves a field as it is, `Some(None)` clears it
/// (refused for the title and the start time, which a show always has).
#[derive(Debug, Clone, Default)]
pub struct ShowEdit {
    pub title: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub scheduled_at: Option<Option<Timestamp>>,
    pub cover_url: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Show {
    pub id: ShowId,
    pub creator_id: CreatorId,
    pub title: String,
    pub description: Option<String>,
    /// The show's cover image (an http(s) URL), if it has one.
    #[serde(default)]
    pub cover_url: Option<String>,
    pub status: ShowStatus,
    /// When the show is announced to start (RFC 3339); defaults to its creation time.
    #[schema(value_type = String, format = DateTime)]
    pub scheduled_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<Timestamp>,
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub cancelled_at: Option<Timestamp>,
}

impl Show {
    pub fn schedule(
        id: ShowId,
        creator_id: CreatorId,
        new: NewShow,
        now: Timestamp,
    ) -> Result<Show, DomainError> {
        let title = names::required(&new.title, "title", MAX_TITLE, Code::InvalidTitle)?;
        let description = names::optional_long(
            new.description.as_deref(),
            "description",
            MAX_DESCRIPTION,
            Code::InvalidDescription,
        )?;
        let cover_url = cover_url(new.cover_url.as_deref())?;
        Ok(Show {
            id,
            creator_id,
            title,
            description,
            cover_url,
            status: ShowStatus::Scheduled,
            scheduled_at: new.scheduled_at.unwrap_or(now),
            created_at: now,
            started_at: None,
            ended_at: None,
            cancelled_at: None,
        })
    }

    /// Applies `edit` to a scheduled show (409 `show_not_scheduled` otherwise); every field is
    /// checked before any is changed.
    pub fn edit(&mut self, edit: ShowEdit) -> Result<(), DomainError> {
        if self.status != ShowStatus::Scheduled {
            return Err(DomainError::conflict(
                Code::ShowNotScheduled,
                format!("a {} show cannot be edited", self.status.as_str()),
            ));
        }
        let title = match edit.title {
            None => None,
            Some(None) => {
                return Err(DomainError::invalid(
                    Code::InvalidTitle,
                    "a show always has a title",
                ));
            }
            Some(Some(t)) => Some(names::required(&t, "title", MAX_TITLE, Code::InvalidTitle)?),
        };
        let scheduled_at = match edit.scheduled_at {
            Some(None) => {
                return Err(DomainError::invalid(
                    Code::InvalidScheduledAt,
                    "a show always has a start time",
                ));
            }
            other => other.flatten(),
        };
        let description = edit
            .description
            .map(|d| {
                names::optional_long(
                    d.as_deref(),
                    "description",
                    MAX_DESCRIPTION,
                    Code::InvalidDescription,
                )
            })
            .transpose()?;
        let cover = edit
            .cover_url
            .map(|c| cover_url(c.as_deref()))
            .transpose()?;
        if let Some(title) = title {
            self.title = title;
        }
        if let Some(at) = scheduled_at {
            self.scheduled_at = at;
        }
        if let Some(description) = description {
            self.description = description;
        }
        if let Some(cover) = cover {
            self.cover_url = cover;
        }
        Ok(())
    }

    /// Scheduled → Cancelled.
    pub fn cancel(&mut self, now: Timestamp) -> Result<(), DomainError> {
        self.transition(ShowStatus::Cancelled)?;
        self.cancelled_at = Some(now);
        Ok(())
    }

    /// Scheduled → Live.
    pub fn start(&mut self, now: Timestamp) -> Result<(), DomainError> {
        self.transition(ShowStatus::Live)?;
        self.started_at = Some(now);
        Ok(())
    }

    /// Live → Ended.
    pub fn end(&mut self, now: Timestamp) -> Result<(), DomainError> {
        self.transition(ShowStatus::Ended)?;
        self.ended_at = Some(now);
        Ok(())
    }

    fn transition(&mut self, to: ShowStatus) -> Result<(), DomainError> {
        let legal = matches!(
            (self.status, to),
            (ShowStatus::Scheduled, ShowStatus::Live)
                | (ShowStatus::Live, ShowStatus::Ended)
                | (ShowStatus::Scheduled, ShowStatus::Cancelled)
        );
        if !legal {
            return Err(DomainError::conflict(
                Code::IllegalTransition,
                format!(
                    "a {} show cannot become {}",
                    self.status.as_str(),
                    to.as_str()
                ),
            ));
        }
        self.status = to;
        Ok(())
    }
}

/// A cover image: `http://` or `https://`, a host (its first character is not `/`), and no
/// spaces, controls, quotes, angle brackets or backslashes anywhere (it lands in pages and
/// in `<img src>`); at most [`MAX_COVER_URL`] bytes; blank means none. The OpenAPI pattern
/// (`http::openapi::text::cover_url`) states the same.
fn cover_url(raw: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(url) = raw.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let acceptable = |c: char| {
        !(c.is_whitespace()
            || names::is_forbidden_char(c)
            || matches!(c, '"' | '\'' | '<' | '>' | '`' | '\\'))
    };
    match rest {
        Some(rest)
            if url.len() <= MAX_COVER_URL
                && rest.chars().next().is_some_and(|c| c != '/')
                && rest.chars().all(acceptable) =>
        {
            Ok(Some(url.to_string()))
        }
        _ => Err(DomainError::invalid(
            Code::InvalidCoverUrl,
            format!("cover_url must be an http(s) URL of at most {MAX_COVER_URL} bytes"),
        )),
    }
}

/// Which of a creator's shows a listing wants (`GET /api/me/shows?when=`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShowsWhen {
    /// Scheduled, soonest first.
    Upcoming,
    /// Live now.
    Live,
    /// Ended or cancelled, newest first.
    Past,
    /// Every show, by start time.
    #[default]
    All,
}

impl ShowsWhen {
    pub fn admits(self, status: ShowStatus) -> bool {
        match self {
            ShowsWhen::Upcoming => status == ShowStatus::Scheduled,
            ShowsWhen::Live => status == ShowStatus::Live,
            ShowsWhen::Past => status.is_closed(),
            ShowsWhen::All => true,
        }
    }

    /// Past shows read newest first; the others soonest first.
    pub fn newest_first(self) -> bool {
        self == ShowsWhen::Past
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn show() -> Show {
        Show::schedule(
            ShowId(Uuid::nil()),
            CreatorId(Uuid::nil()),
            NewShow {
                title: " Friday drop ".into(),
                ..Default::default()
            },
            Timestamp::default(),
        )
        .unwrap()
    }

    #[test]
    fn lifecycle_moves_forward_only() {
        let mut s = show();
        assert_eq!(s.title, "Friday drop");
        assert_eq!(s.status, ShowStatus::Scheduled);
        assert_eq!(
            s.end(Timestamp::default()).unwrap_err().code,
            "illegal_transition"
        );
        s.start(Timestamp::default()).unwrap();
        assert_eq!(s.status, ShowStatus::Live);
        assert_eq!(
            s.start(Timestamp::default()).unwrap_err().code,
            "illegal_transition"
        );
        s.end(Timestamp::default()).unwrap();
        assert_eq!(s.status, ShowStatus::Ended);
        assert!(s.start(Timestamp::default()).is_err());
        assert!(s.end(Timestamp::default()).is_err());
    }

    #[test]
    fn titles_are_required() {
        let err = Show::schedule(
            ShowId(Uuid::nil()),
            CreatorId(Uuid::nil()),
            NewShow::default(),
            Timestamp::default(),
        )
        .unwrap_err();
        assert_eq!(err.code, "invalid_title");
    }

    #[test]
    fn only_a_scheduled_show_is_cancelled_and_it_stays_so() {
        let mut s = show();
        s.cancel(Timestamp::default()).unwrap();
        assert_eq!(s.status, ShowStatus::Cancelled);
        assert!(s.cancelled_at.is_some() && s.status.is_closed());
        for rule in [Show::start, Show::end, Show::cancel] {
            assert_eq!(
                rule(&mut s, Timestamp::default()).unwrap_err().code,
                "illegal_transition"
            );
        }
        let mut live = show();
        live.start(Timestamp::default()).unwrap();
        assert_eq!(
            live.cancel(Timestamp::default()).unwrap_err().code,
            "illegal_transition"
        );
    }

    #[test]
    fn an_edit_checks_every_field_before_changing_any() {
        let mut s = show();
        let at = Timestamp::default() + chrono::Duration::days(2);
        s.edit(ShowEdit {
            title: Some(Some(" Sunday drop ".into())),
            description: Some(Some("Mugs".into())),
            scheduled_at: Some(Some(at)),
            cover_url: Some(Some("https://cdn.example/c.jpg".into())),
        })
        .unwrap();
        assert_eq!(
            (s.title.as_str(), s.scheduled_at, s.cover_url.as_deref()),
            ("Sunday drop", at, Some("https://cdn.example/c.jpg"))
        );
        let before = s.clone();
        let bad = |edit: ShowEdit| {
            let mut copy = before.clone();
            let code = copy.edit(edit).unwrap_err().code;
            assert_eq!(copy, before, "nothing changed on {code}");
            code
        };
        let cover = |url: &str| ShowEdit {
            title: Some(Some("Changed".into())),
            cover_url: Some(Some(url.into())),
            ..Default::default()
        };
        for url in [
            "javascript:alert(1)",
            "/static/cover.png",
            "https://",
            "https://a.example/x y.png",
            "https://a.example/\"onerror=x",
            "ftp://a.example/c.png",
        ] {
            assert_eq!(bad(cover(url)), "invalid_cover_url", "{url}");
        }
        let clear_title = ShowEdit {
            title: Some(None),
            ..Default::default()
        };
        assert_eq!(bad(clear_title), "invalid_title");
        let clear_start = ShowEdit {
            scheduled_at: Some(None),
            ..Default::default()
        };
        assert_eq!(bad(clear_start), "invalid_scheduled_at");
        s.edit(ShowEdit {
            description: Some(None),
            cover_url: Some(None),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((s.description, s.cover_url), (None, None));
        let mut live = show();
        live.start(Timestamp::default()).unwrap();
        let e = live.edit(ShowEdit::default()).unwrap_err();
        assert_eq!(
            (e.kind, e.code.as_str()),
            (
                super::super::error::ErrorKind::Conflict,
                "show_not_scheduled"
            )
        );
    }

    #[test]
    fn listings_split_shows_by_status() {
        use ShowStatus::*;
        let all = [Scheduled, Live, Ended, Cancelled];
        let admitted = |w: ShowsWhen| all.into_iter().filter(|s| w.admits(*s)).collect::<Vec<_>>();
        assert_eq!(admitted(ShowsWhen::Upcoming), [Scheduled]);
        assert_eq!(admitted(ShowsWhen::Live), [Live]);
        assert_eq!(admitted(ShowsWhen::Past), [Ended, Cancelled]);
        assert_eq!(admitted(ShowsWhen::All), all);
        assert!(ShowsWhen::Past.newest_first() && !ShowsWhen::Upcoming.newest_first());
    }
}
