//! One method of [`ModerationService`] per `mod.*` command: each checks its rule, changes the
//! store, tells the room, and returns the [`Facts`] its audit entry records. The dispatch and
//! the audit entry itself are the parent's.

use serde_json::{Value, json};
use uuid::Uuid;

use super::{ModError, ModerationService};
use crate::domain::chat::{Author, ChatMessage};
use crate::domain::moderation::{self, Actor, ChatPolicy, HeldMessage, LinkPolicy};
use crate::domain::protocol::{BanScope, Broadcast};
use crate::domain::{Code, DomainError, Role, Show, ShowStatus, Timestamp, ViewerId};
use crate::store::StoreError;

/// What an audit entry says beyond who did what and when.
#[derive(Debug, Default)]
pub(super) struct Facts {
    /// The viewer, message or invitation acted on.
    pub target: Option<String>,
    pub reason: Option<String>,
    /// Action-specific facts (the timeout's length, the terms added, …).
    pub details: Value,
}

impl Facts {
    pub fn on(target: String) -> Facts {
        Facts {
            target: Some(target),
            ..Facts::default()
        }
    }

    fn details(details: Value) -> Facts {
        Facts {
            details,
            ..Facts::default()
        }
    }
}

/// A notice to one member about a moderation action that concerns them.
pub(super) fn notice(
    to: String,
    action: &str,
    until: Option<Timestamp>,
    reason: Option<String>,
) -> Broadcast {
    Broadcast::ModNotice {
        to,
        action: action.into(),
        until,
        reason,
    }
}

/// Bans reaching across all the creator's shows are the creator's alone.
fn creator_wide(actor: &Actor, scope: BanScope, refusal: &str) -> Result<(), DomainError> {
    if scope == BanScope::Creator && actor.role != Role::Creator {
        return Err(DomainError::forbidden(Code::ForbiddenRole, refusal));
    }
    Ok(())
}

impl ModerationService {
    pub(super) async fn delete(&self, show: &Show, message_id: String) -> Result<Facts, ModError> {
        let existed = self.hub.delete_chat(show, &message_id).await?;
        let deleted = Broadcast::ChatDeleted {
            id: message_id.clone(),
        };
        self.hub.publish(show, &deleted).await?;
        if let Some(pinned) = self.moderation.pinned_message(show).await?
            && pinned.id == message_id
        {
            self.set_pinned(show, None).await?;
        }
        metrics::counter!("livesale_chat_deleted_total").increment(1);
        Ok(Facts {
            details: json!({ "in_history": existed }),
            ..Facts::on(message_id)
        })
    }

    pub(super) async fn timeout(
        &self,
        show: &Show,
        viewer_id: String,
        seconds: u64,
        why: Option<String>,
        now: Timestamp,
    ) -> Result<Facts, ModError> {
        let seconds = moderation::timeout_seconds(seconds)?;
        let reason = moderation::reason(why.as_deref())?;
        self.ensure_viewer(show, &viewer_id).await?;
        let until = now + chrono::Duration::seconds(seconds as i64);
        self.moderation
            .set_timeout(show, &viewer_id, Some(until))
            .await?;
        let told = notice(viewer_id.clone(), "timeout", Some(until), reason.clone());
        self.hub.publish(show, &told).await?;
        metrics::counter!("livesale_moderation_timeouts_total").increment(1);
        Ok(Facts {
            target: Some(viewer_id),
            reason,
            details: json!({ "seconds": seconds, "until": until }),
        })
    }

    pub(super) async fn ban(
        &self,
        show: &Show,
        actor: &Actor,
        viewer_id: String,
        why: Option<String>,
        scope: BanScope,
        now: Timestamp,
    ) -> Result<Facts, ModError> {
        creator_wide(actor, scope, "only the creator bans across all their shows")?;
        let reason = moderation::reason(why.as_deref())?;
        self.ensure_viewer(show, &viewer_id).await?;
        self.moderation
            .set_ban(show, &viewer_id, scope, true)
            .await?;
        self.moderation.set_timeout(show, &viewer_id, None).await?;
        let cooldown = self.settings.ban_cooldown;
        if !cooldown.is_zero()
            && let Some(address) = self.join_address(show, &viewer_id).await?
        {
            let until =
                now + chrono::Duration::from_std(cooldown).unwrap_or(chrono::Duration::days(1));
            self.limits
                .set_address_ban(show, scope, address, Some(until))
                .await?;
        }
        let told = notice(viewer_id.clone(), "ban", None, reason.clone());
        self.hub.publish(show, &told).await?;
        if scope == BanScope::Creator {
            // The ban reaches them in the creator's other running shows too.
            for other in self.shows.shows().await? {
                if other.creator_id == show.creator_id
                    && other.id != show.id
                    && other.status != ShowStatus::Ended
                {
                    self.hub.publish(&other, &told).await?;
                }
            }
        }
        metrics::counter!("livesale_moderation_bans_total").increment(1);
        Ok(Facts {
            target: Some(viewer_id),
            reason,
            details: json!({ "scope": scope }),
        })
    }

    pub(super) async fn unban(
        &self,
        show: &Show,
        actor: &Actor,
        viewer_id: String,
        scope: BanScope,
    ) -> Result<Facts, ModError> {
        creator_wide(
            actor,
            scope,
            "only the creator lifts a ban across all their shows",
        )?;
        self.moderation
            .set_ban(show, &viewer_id, scope, false)
            .await?;
        if let Some(address) = self.join_address(show, &viewer_id).await? {
            self.limits
                .set_address_ban(show, scope, address, None)
                .await?;
        }
        Ok(Facts {
            details: json!({ "scope": scope }),
            ..Facts::on(viewer_id)
        })
    }

    pub(super) async fn slow(&self, show: &Show, seconds: u64) -> Result<Facts, ModError> {
        let seconds = moderation::slow_mode_seconds(seconds)?;
        self.change_mode(show, |p| p.slow_mode_s = seconds).await?;
        Ok(Facts::details(json!({ "seconds": seconds })))
    }

    pub(super) async fn pause(&self, show: &Show, paused: bool) -> Result<Facts, ModError> {
        self.change_mode(show, |p| p.paused = paused).await?;
        Ok(Facts::details(json!({ "paused": paused })))
    }

    pub(super) async fn links(&self, show: &Show, links: LinkPolicy) -> Result<Facts, ModError> {
        self.change_mode(show, |p| p.links = links).await?;
        Ok(Facts::details(json!({ "links": links })))
    }

    pub(super) async fn terms(
        &self,
        show: &Show,
        add: Vec<String>,
        remove: Vec<String>,
    ) -> Result<Facts, ModError> {
        let mut policy = self.moderation.chat_policy(show).await?;
        policy.blocked_terms = moderation::edit_terms(&policy.blocked_terms, &add, &remove)?;
        self.moderation.set_chat_policy(show, &policy).await?;
        let terms = Broadcast::ModTerms {
            terms: policy.blocked_terms,
        };
        self.hub.publish(show, &terms).await?;
        Ok(Facts::details(json!({ "add": add, "remove": remove })))
    }

    pub(super) async fn approve(
        &self,
        show: &Show,
        actor: &Actor,
        message_id: String,
    ) -> Result<Facts, ModError> {
        let held = self.take_held(show, &message_id).await?;
        self.hub
            .publish(show, &Broadcast::Chat(held.message))
            .await?;
        self.resolved(show, actor, &message_id, true).await?;
        metrics::counter!("livesale_chat_approved_total").increment(1);
        Ok(Facts::on(message_id))
    }

    pub(super) async fn reject(
        &self,
        show: &Show,
        actor: &Actor,
        message_id: String,
        why: Option<String>,
    ) -> Result<Facts, ModError> {
        let reason = moderation::reason(why.as_deref())?;
        self.take_held(show, &message_id).await?;
        self.resolved(show, actor, &message_id, false).await?;
        metrics::counter!("livesale_chat_rejected_total").increment(1);
        Ok(Facts {
            reason,
            ..Facts::on(message_id)
        })
    }

    pub(super) async fn clear(&self, show: &Show) -> Result<Facts, ModError> {
        self.hub.clear_chat(show).await?;
        self.hub.publish(show, &Broadcast::ChatCleared {}).await?;
        Ok(Facts::default())
    }

    pub(super) async fn pin_message(
        &self,
        show: &Show,
        message_id: String,
    ) -> Result<Facts, ModError> {
        let Some(message) = self.hub.find_chat(show, &message_id).await? else {
            return Err(DomainError::not_found(
                Code::MessageNotFound,
                "that message is not in the recent chat",
            )
            .into());
        };
        self.set_pinned(show, Some(message)).await?;
        Ok(Facts::on(message_id))
    }

    pub(super) async fn unpin_message(&self, show: &Show) -> Result<Facts, ModError> {
        self.set_pinned(show, None).await?;
        Ok(Facts::default())
    }

    /// A message in the moderators' channel.
    pub(super) async fn say(
        &self,
        show: &Show,
        actor: &Actor,
        text: &str,
        now: Timestamp,
    ) -> Result<(), ModError> {
        let text = self.settings.chat.text(text)?;
        let message = ChatMessage {
            id: Uuid::now_v7().to_string().into(),
            author: Author {
                id: actor.id.clone(),
                name: actor.name.clone(),
            },
            role: actor.role,
            text,
            at: now,
            seq: None,
        };
        self.hub
            .publish(show, &Broadcast::ModMessage(message))
            .await?;
        Ok(())
    }

    /// Timeouts and bans are for the show's viewers only. The creator's id is public (in the
    /// show) and a moderator's is their invite id (the author id of their chat messages);
    /// without this, a moderator could time out or ban the creator or a fellow moderator,
    /// shutting them out of the room.
    async fn ensure_viewer(&self, show: &Show, target: &str) -> Result<(), ModError> {
        let viewer = match target.parse::<ViewerId>() {
            Ok(id) => self.shows.viewer(show, id).await?,
            Err(_) => None,
        };
        if viewer.is_none() {
            return Err(DomainError::not_found(
                Code::ViewerNotFound,
                "no viewer with that id joined this show (only viewers are timed out or banned)",
            )
            .into());
        }
        Ok(())
    }

    /// The address a viewer last joined the show's creator's shows from, if remembered.
    async fn join_address(
        &self,
        show: &Show,
        viewer: &str,
    ) -> Result<Option<std::net::IpAddr>, StoreError> {
        match viewer.parse::<ViewerId>() {
            Ok(id) => self.limits.join_address(show.creator_id, id).await,
            Err(_) => Ok(None),
        }
    }

    async fn take_held(&self, show: &Show, id: &str) -> Result<HeldMessage, ModError> {
        self.moderation.take_held(show, id).await?.ok_or_else(|| {
            DomainError::not_found(
                Code::NotHeld,
                "no held message with that id (already decided?)",
            )
            .into()
        })
    }

    /// Tells the moderators a held message was decided.
    async fn resolved(
        &self,
        show: &Show,
        actor: &Actor,
        id: &str,
        approved: bool,
    ) -> Result<(), StoreError> {
        let resolved = Broadcast::ChatResolved {
            id: id.to_string(),
            approved,
            by: actor.name.clone(),
        };
        self.hub.publish(show, &resolved).await.map(|_| ())
    }

    /// Changes the public part of the chat policy and announces the new mode.
    async fn change_mode(
        &self,
        show: &Show,
        change: impl FnOnce(&mut ChatPolicy),
    ) -> Result<(), StoreError> {
        let mut policy = self.moderation.chat_policy(show).await?;
        change(&mut policy);
        self.moderation.set_chat_policy(show, &policy).await?;
        self.hub
            .publish(show, &super::mode_of(&policy))
            .await
            .map(|_| ())
    }

    /// Pins a message above the chat (or none) and tells the room.
    async fn set_pinned(
        &self,
        show: &Show,
        message: Option<ChatMessage>,
    ) -> Result<(), StoreError> {
        self.moderation
            .set_pinned_message(show, message.as_ref())
            .await?;
        self.hub
            .publish(show, &Broadcast::ChatPinned { message })
            .await
            .map(|_| ())
    }
}
