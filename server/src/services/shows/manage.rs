//! The creator's dashboard side of the shows service: cancelling and editing a scheduled show,
//! and the creator's own shows listed by when they happen (upcoming, live, past).

use super::{ShowsError, ShowsResult, ShowsService};
use crate::domain::{
    Code, CreatorId, DomainError, Principal, Show, ShowEdit, ShowId, ShowsWhen, Timestamp,
};
use crate::store::{Page, PageAfter};

impl ShowsService {
    /// Calls off a scheduled show: Scheduled → Cancelled (409 `illegal_transition` for any
    /// other), told to the room like any status change.
    pub async fn cancel(&self, caller: Option<&Principal>, id: ShowId) -> ShowsResult<Show> {
        self.transition(caller, id, Show::cancel).await
    }

    /// Edits a scheduled show (409 `show_not_scheduled` once it is live, ended or
    /// cancelled). Saved only if the status did not change meanwhile, so an edit never
    /// lands on a show that went live under it.
    pub async fn edit(
        &self,
        caller: Option<&Principal>,
        id: ShowId,
        edit: ShowEdit,
    ) -> ShowsResult<Show> {
        for _ in 0..3 {
            let mut show = self.managed(caller, id).await?;
            let before = show.status;
            show.edit(edit.clone())?;
            if self.shows.update_show(&show, before).await? {
                tracing::info!(show = %id, "show edited");
                return Ok(show);
            }
        }
        Err(ShowsError::Refused(DomainError::conflict(
            Code::ConcurrentUpdate,
            "the show changed while this request ran; try again",
        )))
    }

    /// A page of `creator`'s own shows of the kind `when` asks for: upcoming and live ones
    /// soonest first, past ones (ended or cancelled) newest first, all of them by start time.
    pub async fn mine(
        &self,
        creator: CreatorId,
        when: ShowsWhen,
        after: Option<PageAfter>,
        limit: usize,
    ) -> ShowsResult<Page<Show>> {
        let mut shows: Vec<Show> = self
            .shows
            .creator_shows(creator)
            .await?
            .into_iter()
            .filter(|s| when.admits(s.status))
            .collect();
        shows.sort_by_key(PageAfter::show);
        if !when.newest_first() {
            return Ok(Page::of(shows, PageAfter::show, after, limit));
        }
        shows.reverse();
        // Newest first: the page after a cursor holds the shows that sort before it.
        let mut items: Vec<Show> = shows
            .into_iter()
            .filter(|s| after.is_none_or(|a| PageAfter::show(s) < a))
            .take(limit.saturating_add(1))
            .collect();
        let more = items.len() > limit;
        items.truncate(limit);
        Ok(Page { items, more })
    }
}

/// A refusal to let a guest join a show that was called off.
pub(super) fn cancelled(show: &Show) -> Result<(), DomainError> {
    if show.status == crate::domain::ShowStatus::Cancelled {
        let when = show.cancelled_at.as_ref().map(Timestamp::to_rfc3339);
        let detail = match when {
            Some(at) => format!("this show was cancelled ({at}); there is nothing to join"),
            None => "this show was cancelled; there is nothing to join".to_string(),
        };
        return Err(DomainError::conflict(Code::ShowCancelled, detail));
    }
    Ok(())
}
