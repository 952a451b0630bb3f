//! The moderation area of the store: the chat policy, members' standing (bans, timeouts, last
//! message), held messages, the pinned message, the audit log, and the blocked terms a creator
//! sets for all their shows ([`ModerationStore`]).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::chat::ChatMessage;
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage, Standing};
use crate::domain::protocol::BanScope;
use crate::domain::{CreatorId, Show, Timestamp};

/// What moderators decide and the chat screen reads.
#[async_trait]
pub trait ModerationStore: Send + Sync + 'static {
    async fn chat_policy(&self, show: &Show) -> Result<ChatPolicy, StoreError>;
    async fn set_chat_policy(&self, show: &Show, policy: &ChatPolicy) -> Result<(), StoreError>;

    /// A chat member's standing in the show: banned (in the show, or by the creator in all
    /// their shows), timed out until, and when their last message was accepted. `member` is a
    /// viewer id or an invite id. A timeout that ended by `now` is no timeout.
    async fn standing(
        &self,
        show: &Show,
        member: &str,
        now: Timestamp,
    ) -> Result<Standing, StoreError>;
    async fn record_message(
        &self,
        show: &Show,
        member: &str,
        at: Timestamp,
    ) -> Result<(), StoreError>;
    /// Times a member out until `until`, or lifts the timeout (`None`).
    async fn set_timeout(
        &self,
        show: &Show,
        member: &str,
        until: Option<Timestamp>,
    ) -> Result<(), StoreError>;
    /// Bans or unbans a member in the show, or (scope `Creator`) in every show of its creator.
    async fn set_ban(
        &self,
        show: &Show,
        member: &str,
        scope: BanScope,
        banned: bool,
    ) -> Result<(), StoreError>;

    async fn hold_message(&self, show: &Show, held: &HeldMessage) -> Result<(), StoreError>;
    /// Removes and returns a held message (one moderator's decision wins).
    async fn take_held(&self, show: &Show, id: &str) -> Result<Option<HeldMessage>, StoreError>;
    /// Held messages, oldest first.
    async fn held_messages(&self, show: &Show) -> Result<Vec<HeldMessage>, StoreError>;

    async fn set_pinned_message(
        &self,
        show: &Show,
        message: Option<&ChatMessage>,
    ) -> Result<(), StoreError>;
    async fn pinned_message(&self, show: &Show) -> Result<Option<ChatMessage>, StoreError>;

    async fn append_audit(&self, show: &Show, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The newest `limit` audit entries, oldest first.
    async fn audit_log(&self, show: &Show, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    /// Blocked terms of every show of the creator (`PUT /api/me/terms`), on top of each show's
    /// own.
    async fn creator_terms(&self, creator: CreatorId) -> Result<Vec<String>, StoreError>;
    async fn set_creator_terms(
        &self,
        creator: CreatorId,
        terms: &[String],
    ) -> Result<(), StoreError>;

    /// What the chat screen judges a message by: the show's policy and its creator's terms
    /// (RedisStore reads both in one round trip).
    async fn screen_policy(&self, show: &Show) -> Result<(ChatPolicy, Vec<String>), StoreError> {
        let policy = self.chat_policy(show).await?;
        Ok((policy, self.creator_terms(show.creator_id).await?))
    }
}
