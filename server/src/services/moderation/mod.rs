//! The moderation service: every `mod.*` command, whether it came over the WebSocket or HTTP,
//! goes through one [`ModerationService::apply`], so both paths behave the same. Each action
//! changes the store, tells the room (every node, through the hub), and leaves an audit entry
//! that moderators see live. The service also says who is moderating, reads the moderation
//! state and the audit log, and revokes invitations. It takes "now" from the clock and never
//! reaches past the hub's API into the bus.
//!
//! The chat path's side ([`screen`]) judges each message against the show's policy and the
//! sender's standing before it is published, held, or refused. It belongs with the chat
//! service and stays a free function here, callable as it always was, until it moves there.

mod commands;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::clock::SharedClock;
use crate::config::Config;
use crate::domain::access::{Action, authorize};
use crate::domain::chat::{ChatMessage, ChatRules};
use crate::domain::moderation::{
    self, Actor, AuditEntry, ChatPolicy, HeldMessage, Verdict, compile_terms, judge,
};
use crate::domain::protocol::{Broadcast, ModCommand};
use crate::domain::{Code, DomainError, InviteId, Principal, Role, Show, Timestamp};
use crate::hub::Hub;
use crate::store::{LimitsStore, ModerationStore, SharedStore, ShowStore, StoreError};
use commands::Facts;

#[derive(Debug, thiserror::Error)]
pub enum ModError {
    #[error(transparent)]
    Rule(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the sender of a chat message is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Screened {
    Published,
    /// Held for review; the sender learns it is pending, not why.
    Held {
        id: String,
    },
}

/// Judges and then publishes, holds, or refuses a chat message, against the show's policy and
/// the blocked terms its creator set for all their shows.
pub async fn screen(
    store: &dyn ModerationStore,
    hub: &Hub,
    show: &Show,
    role: Option<Role>,
    message: ChatMessage,
    now: Timestamp,
) -> Result<Screened, ModError> {
    // The creator's terms apply in every one of their shows, on top of the show's own.
    let (policy, creator_terms) = store.screen_policy(show).await?;
    let standing = store.standing(show, &message.author.id, now).await?;
    let mut terms = compile_terms(&policy.blocked_terms);
    terms.extend(compile_terms(&creator_terms));
    match judge(&policy, &terms, role, standing, &message.text, now) {
        Verdict::Refuse(e) => Err(e.into()),
        Verdict::Hold(reason) => {
            let id = message.id.to_string();
            store
                .hold_message(
                    show,
                    &HeldMessage {
                        message: message.clone(),
                        reason,
                        held_at: now,
                    },
                )
                .await?;
            hub.publish(show, &Broadcast::ChatHeld { message, reason })
                .await?;
            metrics::counter!("livesale_chat_held_total").increment(1);
            Ok(Screened::Held { id })
        }
        Verdict::Publish => {
            let author = message.author.id.clone();
            hub.publish(show, &Broadcast::Chat(message)).await?;
            if policy.slow_mode_s > 0 {
                store.record_message(show, &author, now).await?;
            }
            Ok(Screened::Published)
        }
    }
}

/// Whether a member may be in the room at all (not banned in the show or by its creator).
pub async fn admitted(
    store: &dyn ModerationStore,
    show: &Show,
    member: &str,
    now: Timestamp,
) -> Result<bool, StoreError> {
    Ok(!store.standing(show, member, now).await?.banned)
}

/// The public part of the policy, as broadcast.
pub fn mode_of(policy: &ChatPolicy) -> Broadcast {
    Broadcast::ChatMode {
        slow_mode_s: policy.slow_mode_s,
        paused: policy.paused,
        links: policy.links,
    }
}

/// The operator's settings the service applies.
#[derive(Debug, Clone, Copy)]
pub struct ModerationSettings {
    /// Limits of a message in the moderators' channel (those of the chat).
    pub chat: ChatRules,
    /// A ban also refuses new guests from the banned viewer's last join address for this
    /// long (zero: not at all).
    pub ban_cooldown: Duration,
}

impl From<&Config> for ModerationSettings {
    fn from(config: &Config) -> Self {
        ModerationSettings {
            chat: ChatRules {
                max_chars: config.chat_max_chars,
            },
            ban_cooldown: Duration::from_secs(config.ban_address_cooldown_s),
        }
    }
}

/// A command that was applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// The command's wire name, e.g. `mod.ban`.
    pub command: &'static str,
    /// The audit entry it left: every command has one but a word in the moderators' channel,
    /// which is conversation, not an action.
    pub audit: Option<AuditEntry>,
}

/// What moderators see of a show besides the live room.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub policy: ChatPolicy,
    /// Messages waiting for a decision, oldest first.
    pub held: Vec<HeldMessage>,
    pub pinned_message: Option<ChatMessage>,
}

/// Applies moderation for every show of this node; cheap to share.
pub struct ModerationService {
    shows: Arc<dyn ShowStore>,
    moderation: Arc<dyn ModerationStore>,
    limits: Arc<dyn LimitsStore>,
    hub: Arc<Hub>,
    clock: SharedClock,
    settings: ModerationSettings,
}

impl ModerationService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        clock: SharedClock,
        settings: ModerationSettings,
    ) -> Self {
        ModerationService {
            shows: store.clone(),
            moderation: store.clone(),
            limits: store,
            hub,
            clock,
            settings,
        }
    }

    /// Applies one moderation command by `actor` (already known to be the creator or a
    /// moderator of `show`), and records it in the audit log.
    pub async fn apply(
        &self,
        show: &Show,
        actor: &Actor,
        command: ModCommand,
    ) -> Result<Applied, ModError> {
        let name = command.type_name();
        let now = self.clock.now();
        let facts = match command {
            ModCommand::Delete { message_id } => self.delete(show, message_id).await?,
            ModCommand::Timeout {
                viewer_id,
                seconds,
                reason,
            } => self.timeout(show, viewer_id, seconds, reason, now).await?,
            ModCommand::Ban {
                viewer_id,
                reason,
                scope,
            } => self.ban(show, actor, viewer_id, reason, scope, now).await?,
            ModCommand::Unban { viewer_id, scope } => {
                self.unban(show, actor, viewer_id, scope).await?
            }
            ModCommand::Slow { seconds } => self.slow(show, seconds).await?,
            ModCommand::Pause { paused } => self.pause(show, paused).await?,
            ModCommand::Links { policy } => self.links(show, policy).await?,
            ModCommand::Terms { add, remove } => self.terms(show, add, remove).await?,
            ModCommand::Approve { message_id } => self.approve(show, actor, message_id).await?,
            ModCommand::Reject { message_id, reason } => {
                self.reject(show, actor, message_id, reason).await?
            }
            ModCommand::Clear {} => self.clear(show).await?,
            ModCommand::PinMessage { message_id } => self.pin_message(show, message_id).await?,
            ModCommand::UnpinMessage {} => self.unpin_message(show).await?,
            ModCommand::Chat { text } => {
                self.say(show, actor, &text, now).await?;
                return Ok(Applied {
                    command: name,
                    audit: None,
                });
            }
        };
        let entry = self.record(show, actor, name, facts, now).await?;
        Ok(Applied {
            command: name,
            audit: Some(entry),
        })
    }

    /// Stores an audit entry and shows it to the room's moderators.
    async fn record(
        &self,
        show: &Show,
        actor: &Actor,
        action: &str,
        facts: Facts,
        now: Timestamp,
    ) -> Result<AuditEntry, StoreError> {
        let entry = AuditEntry {
            id: Uuid::now_v7().to_string(),
            at: now,
            actor: actor.clone(),
            action: action.to_string(),
            target: facts.target,
            reason: facts.reason,
            details: facts.details,
        };
        self.moderation.append_audit(show, &entry).await?;
        self.hub
            .publish(
                show,
                &Broadcast::ModAudit {
                    entry: entry.clone(),
                },
            )
            .await?;
        Ok(entry)
    }

    /// The caller as an audit actor, if they may moderate `show` (its creator or one of its
    /// moderators); the creator appears under their account's name.
    pub async fn actor(&self, who: Option<&Principal>, show: &Show) -> Result<Actor, ModError> {
        authorize(who, Action::Moderate, Some(show))?;
        match who {
            Some(Principal::Creator { creator_id }) => {
                let name = self
                    .shows
                    .creator(*creator_id)
                    .await?
                    .map(|c| c.name)
                    .unwrap_or_else(|| "Host".into());
                Ok(Actor {
                    id: creator_id.to_string(),
                    name,
                    role: Role::Creator,
                })
            }
            Some(
                Principal::Moderator {
                    invite_id, label, ..
                }
                | Principal::CreatorModerator {
                    moderator_id: invite_id,
                    label,
                    ..
                },
            ) => Ok(Actor {
                id: invite_id.to_string(),
                name: label.clone().unwrap_or_else(|| "Moderator".into()),
                role: Role::Moderator,
            }),
            _ => Err(DomainError::forbidden(
                Code::ForbiddenRole,
                "only the creator and moderators moderate",
            )
            .into()),
        }
    }

    /// The chat policy, the held-for-review queue and the pinned message.
    pub async fn overview(&self, show: &Show) -> Result<Overview, StoreError> {
        let held = self.moderation.held_messages(show).await?;
        Ok(Overview {
            policy: self.moderation.chat_policy(show).await?,
            held,
            pinned_message: self.moderation.pinned_message(show).await?,
        })
    }

    /// The newest `limit` audit entries (1-1000, default 200), oldest first.
    pub async fn audit_log(
        &self,
        show: &Show,
        limit: Option<u32>,
    ) -> Result<Vec<AuditEntry>, ModError> {
        let limit = moderation::audit_limit(limit)?;
        Ok(self.moderation.audit_log(show, limit).await?)
    }

    /// Revokes a moderator or camera invitation of `show`: its token stops working, its
    /// holder is told (their open connections close), and the revocation is audited.
    pub async fn revoke_invite(
        &self,
        show: &Show,
        actor: &Actor,
        invite: InviteId,
    ) -> Result<AuditEntry, ModError> {
        if !self.shows.revoke_invite(show.id, invite).await? {
            return Err(DomainError::not_found(
                Code::InviteNotFound,
                format!("show {} has no invitation {invite}", show.id),
            )
            .into());
        }
        let notice = commands::notice(invite.to_string(), "revoked", None, None);
        self.hub.publish(show, &notice).await?;
        let facts = Facts::on(invite.to_string());
        Ok(self
            .record(show, actor, "invite.revoke", facts, self.clock.now())
            .await?)
    }
}
