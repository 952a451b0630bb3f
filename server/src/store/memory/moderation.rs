//! MemoryStore's moderation area: the chat policy, standings, held messages, the pinned
//! message, the audit log and the creator-wide blocked terms.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::chat::ChatMessage;
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage, Standing};
use crate::domain::protocol::BanScope;
use crate::domain::{CreatorId, Show, Timestamp};
use crate::store::{ModerationStore, StoreError};

#[async_trait]
impl ModerationStore for MemoryStore {
    async fn chat_policy(&self, show: &Show) -> Result<ChatPolicy, StoreError> {
        Ok(self.with(|s| s.policies.get(&show.id).cloned().unwrap_or_default()))
    }

    async fn set_chat_policy(&self, show: &Show, policy: &ChatPolicy) -> Result<(), StoreError> {
        self.with(|s| s.policies.insert(show.id, policy.clone()));
        Ok(())
    }

    async fn standing(
        &self,
        show: &Show,
        member: &str,
        now: Timestamp,
    ) -> Result<Standing, StoreError> {
        Ok(self.with(|s| {
            let key = (show.id, member.to_string());
            Standing {
                banned: s.show_bans.contains(&key)
                    || s.creator_bans
                        .contains(&(show.creator_id, member.to_string())),
                // A timeout that has run out is no timeout (as in Redis).
                timed_out_until: s.timeouts.get(&key).copied().filter(|t| *t > now),
                last_message_at: s.last_messages.get(&key).copied(),
            }
        }))
    }

    async fn record_message(
        &self,
        show: &Show,
        member: &str,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        self.with(|s| s.last_messages.insert((show.id, member.to_string()), at));
        Ok(())
    }

    async fn set_timeout(
        &self,
        show: &Show,
        member: &str,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let key = (show.id, member.to_string());
            match until {
                Some(t) => s.timeouts.insert(key, t),
                None => s.timeouts.remove(&key),
            }
        });
        Ok(())
    }

    async fn set_ban(
        &self,
        show: &Show,
        member: &str,
        scope: BanScope,
        banned: bool,
    ) -> Result<(), StoreError> {
        self.with(|s| match (scope, banned) {
            (BanScope::Show, true) => {
                s.show_bans.insert((show.id, member.to_string()));
            }
            (BanScope::Show, false) => {
                s.show_bans.remove(&(show.id, member.to_string()));
            }
            (BanScope::Creator, true) => {
                s.creator_bans.insert((show.creator_id, member.to_string()));
            }
            (BanScope::Creator, false) => {
                s.creator_bans
                    .remove(&(show.creator_id, member.to_string()));
                s.show_bans.remove(&(show.id, member.to_string()));
            }
        });
        Ok(())
    }

    async fn hold_message(&self, show: &Show, held: &HeldMessage) -> Result<(), StoreError> {
        self.with(|s| s.held.entry(show.id).or_default().push(held.clone()));
        Ok(())
    }

    async fn take_held(&self, show: &Show, id: &str) -> Result<Option<HeldMessage>, StoreError> {
        Ok(self.with(|s| {
            let list = s.held.get_mut(&show.id)?;
            let at = list.iter().position(|h| h.message.id == id)?;
            Some(list.remove(at))
        }))
    }

    async fn held_messages(&self, show: &Show) -> Result<Vec<HeldMessage>, StoreError> {
        Ok(self.with(|s| s.held.get(&show.id).cloned().unwrap_or_default()))
    }

    async fn set_pinned_message(
        &self,
        show: &Show,
        message: Option<&ChatMessage>,
    ) -> Result<(), StoreError> {
        self.with(|s| match message {
            Some(m) => s.pinned_messages.insert(show.id, m.clone()),
            None => s.pinned_messages.remove(&show.id),
        });
        Ok(())
    }

    async fn pinned_message(&self, show: &Show) -> Result<Option<ChatMessage>, StoreError> {
        Ok(self.with(|s| s.pinned_messages.get(&show.id).cloned()))
    }

    async fn append_audit(&self, show: &Show, entry: &AuditEntry) -> Result<(), StoreError> {
        self.with(|s| s.audit.entry(show.id).or_default().push(entry.clone()));
        Ok(())
    }

    async fn audit_log(&self, show: &Show, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self.with(|s| {
            let all = s.audit.get(&show.id).map(Vec::as_slice).unwrap_or_default();
            all[all.len().saturating_sub(limit)..].to_vec()
        }))
    }

    async fn creator_terms(&self, creator: CreatorId) -> Result<Vec<String>, StoreError> {
        Ok(self.with(|s| s.creator_terms.get(&creator).cloned().unwrap_or_default()))
    }

    async fn set_creator_terms(
        &self,
        creator: CreatorId,
        terms: &[String],
    ) -> Result<(), StoreError> {
        self.with(|s| s.creator_terms.insert(creator, terms.to_vec()));
        Ok(())
    }

    async fn screen_policy(&self, show: &Show) -> Result<(ChatPolicy, Vec<String>), StoreError> {
        Ok(self.with(|s| {
            let policy = s.policies.get(&show.id).cloned().unwrap_or_default();
            let terms = s.creator_terms.get(&show.creator_id).cloned();
            (policy, terms.unwrap_or_default())
        }))
    }
}
