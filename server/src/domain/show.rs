//! A show and its lifecycle: Scheduled → Live → Ended, nothing else.

use super::{Code, CreatorId, DomainError, ShowId, Timestamp, names};

pub const MAX_TITLE: usize = 120;
pub const MAX_DESCRIPTION: usize = 5000;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ShowStatus {
    Scheduled,
    Live,
    Ended,
}

impl ShowStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ShowStatus::Scheduled => "scheduled",
            ShowStatus::Live => "live",
            ShowStatus::Ended => "ended",
        }
    }
}

/// What a creator supplies to schedule a show.
#[derive(Debug, Clone, Default)]
pub struct NewShow {
    pub title: String,
    pub description: Option<String>,
    pub scheduled_at: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Show {
    pub id: ShowId,
    pub creator_id: CreatorId,
    pub title: String,
    pub description: Option<String>,
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
        Ok(Show {
            id,
            creator_id,
            title,
            description,
            status: ShowStatus::Scheduled,
            scheduled_at: new.scheduled_at.unwrap_or(now),
            created_at: now,
            started_at: None,
            ended_at: None,
        })
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
            (ShowStatus::Scheduled, ShowStatus::Live) | (ShowStatus::Live, ShowStatus::Ended)
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
}
