//! Moderation actions: one [`apply`] for every `mod.*` command, whether it came over the
//! WebSocket or HTTP, so both paths behave the same. Each action changes the store, tells the
//! room (every node, through the bus), and leaves an audit entry that moderators see live.
//!
//! The chat path's side ([`screen`]) judges each message against the show's policy and the
//! sender's standing before it is published, held, or refused.

use uuid::Uuid;

use crate::domain::moderation::{
    self, Actor, AuditEntry, ChatPolicy, HeldMessage, Standing, Verdict, compile_terms, judge,
};
use crate::domain::room::{BanScope, Broadcast, ChatMessage, ChatRules, ModCommand};
use crate::domain::{DomainError, Role, Show, Timestamp};
use crate::hub::Hub;
use crate::store::{Store, StoreError};

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

/// Judges and then publishes, holds, or refuses a chat message.
pub async fn screen(
    store: &dyn Store,
    hub: &Hub,
    show: &Show,
    role: Option<Role>,
    message: ChatMessage,
    now: Timestamp,
) -> Result<Screened, ModError> {
    let policy = store.chat_policy(show).await?;
    let standing = store.standing(show, &message.author.id).await?;
    let terms = compile_terms(&policy.blocked_terms);
    match judge(&policy, &terms, role, standing, &message.text, now) {
        Verdict::Refuse(e) => Err(e.into()),
        Verdict::Hold(reason) => {
            let id = message.id.clone();
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
pub async fn admitted(store: &dyn Store, show: &Show, member: &str) -> Result<bool, StoreError> {
    Ok(!store.standing(show, member).await?.banned)
}

/// Applies one moderation command by `actor` (already known to be the creator or a
/// moderator of `show`). A ban also refuses new guests from the banned viewer's last join
/// address for `ban_cooldown` (zero: not at all).
#[allow(clippy::too_many_arguments)]
pub async fn apply(
    store: &dyn Store,
    hub: &Hub,
    show: &Show,
    actor: &Actor,
    command: ModCommand,
    rules: ChatRules,
    ban_cooldown: std::time::Duration,
    now: Timestamp,
) -> Result<(), ModError> {
    let action = command.type_name();
    let mut target = None;
    let mut reason = None;
    let mut details = serde_json::Value::Null;
    match command {
        ModCommand::Delete { message_id } => {
            let existed = hub.bus.delete_chat(show, &message_id).await?;
            hub.publish(
                show,
                &Broadcast::ChatDeleted {
                    id: message_id.clone(),
                },
            )
            .await?;
            if let Some(pinned) = store.pinned_message(show).await?
                && pinned.id == message_id
            {
                store.set_pinned_message(show, None).await?;
                hub.publish(show, &Broadcast::ChatPinned { message: None })
                    .await?;
            }
            metrics::counter!("livesale_chat_deleted_total").increment(1);
            details = serde_json::json!({ "in_history": existed });
            target = Some(message_id);
        }
        ModCommand::Timeout {
            viewer_id,
            seconds,
            reason: why,
        } => {
            let seconds = moderation::timeout_seconds(seconds)?;
            reason = moderation::reason(why.as_deref())?;
            ensure_viewer(store, show, &viewer_id).await?;
            let until = now + chrono::Duration::seconds(seconds as i64);
            store.set_timeout(show, &viewer_id, Some(until)).await?;
            hub.publish(
                show,
                &Broadcast::ModNotice {
                    to: viewer_id.clone(),
                    action: "timeout".into(),
                    until: Some(until),
                    reason: reason.clone(),
                },
            )
            .await?;
            metrics::counter!("livesale_moderation_timeouts_total").increment(1);
            details = serde_json::json!({ "seconds": seconds, "until": until });
            target = Some(viewer_id);
        }
        ModCommand::Ban {
            viewer_id,
            reason: why,
            scope,
        } => {
            if scope == BanScope::Creator && actor.role != Role::Creator {
                return Err(DomainError::forbidden(
                    "forbidden_role",
                    "only the creator bans across all their shows",
                )
                .into());
            }
            reason = moderation::reason(why.as_deref())?;
            ensure_viewer(store, show, &viewer_id).await?;
            store.set_ban(show, &viewer_id, scope, true).await?;
            store.set_timeout(show, &viewer_id, None).await?;
            if !ban_cooldown.is_zero()
                && let Some(address) = join_address(store, show, &viewer_id).await?
            {
                let until = now
                    + chrono::Duration::from_std(ban_cooldown).unwrap_or(chrono::Duration::days(1));
                store
                    .set_address_ban(show, scope, address, Some(until))
                    .await?;
            }
            let notice = Broadcast::ModNotice {
                to: viewer_id.clone(),
                action: "ban".into(),
                until: None,
                reason: reason.clone(),
            };
            hub.publish(show, &notice).await?;
            if scope == BanScope::Creator {
                // The ban reaches them in the creator's other running shows too.
                for other in store.shows().await? {
                    if other.creator_id == show.creator_id
                        && other.id != show.id
                        && other.status != crate::domain::ShowStatus::Ended
                    {
                        hub.publish(&other, &notice).await?;
                    }
                }
            }
            metrics::counter!("livesale_moderation_bans_total").increment(1);
            details = serde_json::json!({ "scope": scope });
            target = Some(viewer_id);
        }
        ModCommand::Unban { viewer_id, scope } => {
            if scope == BanScope::Creator && actor.role != Role::Creator {
                return Err(DomainError::forbidden(
                    "forbidden_role",
                    "only the creator lifts a ban across all their shows",
                )
                .into());
            }
            store.set_ban(show, &viewer_id, scope, false).await?;
            if let Some(address) = join_address(store, show, &viewer_id).await? {
                store.set_address_ban(show, scope, address, None).await?;
            }
            details = serde_json::json!({ "scope": scope });
            target = Some(viewer_id);
        }
        ModCommand::Slow { seconds } => {
            let seconds = moderation::slow_mode_seconds(seconds)?;
            let policy = update_policy(store, show, |p| p.slow_mode_s = seconds).await?;
            announce_mode(hub, show, &policy).await?;
            details = serde_json::json!({ "seconds": seconds });
        }
        ModCommand::Pause { paused } => {
            let policy = update_policy(store, show, |p| p.paused = paused).await?;
            announce_mode(hub, show, &policy).await?;
            details = serde_json::json!({ "paused": paused });
        }
        ModCommand::Links { policy: links } => {
            let policy = update_policy(store, show, |p| p.links = links).await?;
            announce_mode(hub, show, &policy).await?;
            details = serde_json::json!({ "links": links });
        }
        ModCommand::Terms { add, remove } => {
            let mut policy = store.chat_policy(show).await?;
            policy.blocked_terms = moderation::edit_terms(&policy.blocked_terms, &add, &remove)?;
            store.set_chat_policy(show, &policy).await?;
            hub.publish(
                show,
                &Broadcast::ModTerms {
                    terms: policy.blocked_terms.clone(),
                },
            )
            .await?;
            details = serde_json::json!({ "add": add, "remove": remove });
        }
        ModCommand::Approve { message_id } => {
            let held = take_held(store, show, &message_id).await?;
            hub.publish(show, &Broadcast::Chat(held.message)).await?;
            hub.publish(
                show,
                &Broadcast::ChatResolved {
                    id: message_id.clone(),
                    approved: true,
                    by: actor.name.clone(),
                },
            )
            .await?;
            metrics::counter!("livesale_chat_approved_total").increment(1);
            target = Some(message_id);
        }
        ModCommand::Reject {
            message_id,
            reason: why,
        } => {
            reason = moderation::reason(why.as_deref())?;
            take_held(store, show, &message_id).await?;
            hub.publish(
                show,
                &Broadcast::ChatResolved {
                    id: message_id.clone(),
                    approved: false,
                    by: actor.name.clone(),
                },
            )
            .await?;
            metrics::counter!("livesale_chat_rejected_total").increment(1);
            target = Some(message_id);
        }
        ModCommand::Clear {} => {
            hub.bus.clear_chat(show).await?;
            hub.publish(show, &Broadcast::ChatCleared {}).await?;
        }
        ModCommand::PinMessage { message_id } => {
            let Some(message) = hub.bus.find_chat(show, &message_id).await? else {
                return Err(DomainError::not_found(
                    "message_not_found",
                    "that message is not in the recent chat",
                )
                .into());
            };
            store.set_pinned_message(show, Some(&message)).await?;
            hub.publish(
                show,
                &Broadcast::ChatPinned {
                    message: Some(message),
                },
            )
            .await?;
            target = Some(message_id);
        }
        ModCommand::UnpinMessage {} => {
            store.set_pinned_message(show, None).await?;
            hub.publish(show, &Broadcast::ChatPinned { message: None })
                .await?;
        }
        ModCommand::Chat { text } => {
            // The moderators' channel is conversation, not an action: no audit entry.
            let text = rules.text(&text)?;
            let message = ChatMessage {
                id: Uuid::now_v7().to_string(),
                author: crate::domain::room::Author {
                    id: actor.id.clone(),
                    name: actor.name.clone(),
                },
                role: actor.role,
                text,
                at: now,
                seq: None,
            };
            hub.publish(show, &Broadcast::ModMessage(message)).await?;
            return Ok(());
        }
    }
    let entry = AuditEntry {
        id: Uuid::now_v7().to_string(),
        at: now,
        actor: actor.clone(),
        action: action.to_string(),
        target,
        reason,
        details,
    };
    store.append_audit(show, &entry).await?;
    hub.publish(show, &Broadcast::ModAudit { entry }).await?;
    Ok(())
}

/// Timeouts and bans are for the show's viewers only. The creator's id is public (in the show)
/// and a moderator's is their invite id (the author id of their chat messages); without this,
/// a moderator could time out or ban the creator or a fellow moderator, shutting them out of
/// the room.
async fn ensure_viewer(store: &dyn Store, show: &Show, target: &str) -> Result<(), ModError> {
    let viewer = match target.parse::<crate::domain::ViewerId>() {
        Ok(id) => store.viewer(show, id).await?,
        Err(_) => None,
    };
    if viewer.is_none() {
        return Err(DomainError::not_found(
            "viewer_not_found",
            "no viewer with that id joined this show (only viewers are timed out or banned)",
        )
        .into());
    }
    Ok(())
}

/// The address a viewer last joined the show's creator's shows from, if remembered.
async fn join_address(
    store: &dyn Store,
    show: &Show,
    viewer: &str,
) -> Result<Option<std::net::IpAddr>, StoreError> {
    match viewer.parse::<crate::domain::ViewerId>() {
        Ok(id) => store.join_address(show.creator_id, id).await,
        Err(_) => Ok(None),
    }
}

async fn take_held(store: &dyn Store, show: &Show, id: &str) -> Result<HeldMessage, ModError> {
    store.take_held(show, id).await?.ok_or_else(|| {
        DomainError::not_found(
            "not_held",
            "no held message with that id (already decided?)",
        )
        .into()
    })
}

async fn update_policy(
    store: &dyn Store,
    show: &Show,
    change: impl FnOnce(&mut ChatPolicy),
) -> Result<ChatPolicy, StoreError> {
    let mut policy = store.chat_policy(show).await?;
    change(&mut policy);
    store.set_chat_policy(show, &policy).await?;
    Ok(policy)
}

async fn announce_mode(hub: &Hub, show: &Show, policy: &ChatPolicy) -> Result<(), StoreError> {
    hub.publish(show, &mode_of(policy)).await.map(|_| ())
}

/// The public part of the policy, as broadcast.
pub fn mode_of(policy: &ChatPolicy) -> Broadcast {
    Broadcast::ChatMode {
        slow_mode_s: policy.slow_mode_s,
        paused: policy.paused,
        links: policy.links,
    }
}

/// A member's standing as shown to them (e.g. in `welcome`).
pub fn standing_view(standing: &Standing, now: Timestamp) -> serde_json::Value {
    serde_json::json!({
        "timed_out_until": standing.timed_out_until.filter(|t| *t > now),
    })
}
