//! Creator-wide moderation, for all of a creator's shows, current and future: the blocked
//! terms every show's chat filter refuses besides its own (`/api/me/terms`; the chat screen
//! reads them with the show's policy), and moderators whose token is valid in every show of
//! the creator and in no other creator's (`/api/me/moderators`). Such a token carries
//! [`Principal::CreatorModerator`]; it works while the store records its moderator, so
//! removing one refuses its token on every node, HTTP and WebSocket alike, and its open
//! connections are told to close. Only the creator manages either.

use std::sync::Arc;

use uuid::Uuid;

use crate::auth::TokenSigner;
use crate::clock::SharedClock;
use crate::domain::access::CreatorWideModerator;
use crate::domain::protocol::{Broadcast, NoticeAction};
use crate::domain::{
    Code, CreatorId, DomainError, InviteId, Principal, ShowStatus, moderation, names,
};
use crate::hub::Hub;
use crate::store::{ModerationStore, SharedStore, ShowStore, StoreError};

/// Most creator-wide moderators one creator keeps.
pub const MAX_CREATOR_MODERATORS: usize = 100;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error(transparent)]
    Refused(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new creator-wide moderator and its token (shown once).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewModerator {
    pub moderator: CreatorWideModerator,
    pub token: String,
}

/// The creator's moderators and blocked terms for all their shows. Cheap to share.
pub struct TeamService {
    shows: Arc<dyn ShowStore>,
    moderation: Arc<dyn ModerationStore>,
    hub: Arc<Hub>,
    signer: TokenSigner,
    clock: SharedClock,
    /// Lifetime of a moderator token (`--invite-token-ttl-s`, like a show's invitations).
    token_ttl_s: u64,
}

impl TeamService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        signer: TokenSigner,
        clock: SharedClock,
        token_ttl_s: u64,
    ) -> Self {
        TeamService {
            shows: store.clone(),
            moderation: store,
            hub,
            signer,
            clock,
            token_ttl_s,
        }
    }

    pub async fn terms(&self, creator: CreatorId) -> Result<Vec<String>, TeamError> {
        Ok(self.moderation.creator_terms(creator).await?)
    }

    /// Replaces the creator's blocked terms: each checked like a show's (`invalid_term`), the
    /// same term twice kept once, at most as many as a show may have (`too_many_terms`).
    pub async fn set_terms(
        &self,
        creator: CreatorId,
        terms: &[String],
    ) -> Result<Vec<String>, TeamError> {
        let terms = moderation::edit_terms(&[], terms, &[])?;
        self.moderation.set_creator_terms(creator, &terms).await?;
        Ok(terms)
    }

    /// Mints a moderator token valid in every show of the creator, and records it.
    pub async fn add_moderator(
        &self,
        creator: CreatorId,
        label: &str,
    ) -> Result<NewModerator, TeamError> {
        let label = names::required(label, "label", 40, Code::InvalidLabel)?;
        if self.shows.creator_moderators(creator).await?.len() >= MAX_CREATOR_MODERATORS {
            return Err(DomainError::conflict(
                Code::TooManyModerators,
                format!("at most {MAX_CREATOR_MODERATORS} moderators; remove one first"),
            )
            .into());
        }
        let now = self.clock.now();
        let moderator = CreatorWideModerator {
            id: InviteId(Uuid::now_v7()),
            label: label.clone(),
            created_at: now,
        };
        self.shows
            .add_creator_moderator(creator, &moderator)
            .await?;
        let principal = Principal::CreatorModerator {
            creator_id: creator,
            moderator_id: moderator.id,
            label: Some(label),
        };
        let token = self.signer.mint(&principal, now, self.token_ttl_s);
        Ok(NewModerator { moderator, token })
    }

    pub async fn moderators(
        &self,
        creator: CreatorId,
    ) -> Result<Vec<CreatorWideModerator>, TeamError> {
        Ok(self.shows.creator_moderators(creator).await?)
    }

    /// Removes a moderator: its token is refused from now on (`token_revoked`), and its open
    /// connections in the creator's shows that have not ended are told to close.
    pub async fn remove_moderator(
        &self,
        creator: CreatorId,
        id: InviteId,
    ) -> Result<(), TeamError> {
        if !self.shows.remove_creator_moderator(creator, id).await? {
            return Err(DomainError::not_found(
                Code::ModeratorNotFound,
                format!("no moderator {id}"),
            )
            .into());
        }
        revoke_open_connections(self.shows.as_ref(), &self.hub, creator, &id.to_string()).await?;
        Ok(())
    }
}

/// Tells the member `member` (a speaker id: a moderator's, or the creator's own) in every show
/// of `creator` that has not ended that its token no longer counts, so its open connections
/// close with 4001. The token is refused already; a room that cannot be told now refuses it
/// on reconnect, so a failed publish is only logged.
pub async fn revoke_open_connections(
    shows: &dyn ShowStore,
    hub: &Hub,
    creator: CreatorId,
    member: &str,
) -> Result<(), StoreError> {
    let notice = Broadcast::ModNotice {
        to: member.to_string(),
        action: NoticeAction::Revoked.as_str().into(),
        until: None,
        reason: None,
    };
    for show in shows
        .creator_shows(creator)
        .await?
        .iter()
        .filter(|s| !matches!(s.status, ShowStatus::Ended | ShowStatus::Cancelled))
    {
        if let Err(e) = hub.publish(show, &notice).await {
            tracing::warn!(show = %show.id, error = %e, "revocation not broadcast");
        }
    }
    Ok(())
}
