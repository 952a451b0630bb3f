//! RedisStore's moderation state: being written.
#![allow(unused_variables)]

use super::StoreError;
use super::redis::RedisStore;
use crate::domain::moderation::{AuditEntry, ChatPolicy, HeldMessage, Standing};
use crate::domain::room::{BanScope, ChatMessage};
use crate::domain::{InviteId, Show, Timestamp};

pub(super) async fn chat_policy(store: &RedisStore, show: &Show) -> Result<ChatPolicy, StoreError> {
    let _ = (store, show);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn set_chat_policy(store: &RedisStore, show: &Show, policy: &ChatPolicy) -> Result<(), StoreError> {
    let _ = (store, show, policy);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn standing(store: &RedisStore, show: &Show, member: &str) -> Result<Standing, StoreError> {
    let _ = (store, show, member);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn record_message(store: &RedisStore, show: &Show, member: &str, at: Timestamp) -> Result<(), StoreError> {
    let _ = (store, show, member, at);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn set_timeout(store: &RedisStore, show: &Show, member: &str, until: Option<Timestamp>) -> Result<(), StoreError> {
    let _ = (store, show, member, until);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn set_ban(store: &RedisStore, show: &Show, member: &str, scope: BanScope, banned: bool) -> Result<(), StoreError> {
    let _ = (store, show, member, scope, banned);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn hold_message(store: &RedisStore, show: &Show, held: &HeldMessage) -> Result<(), StoreError> {
    let _ = (store, show, held);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn take_held(store: &RedisStore, show: &Show, id: &str) -> Result<Option<HeldMessage>, StoreError> {
    let _ = (store, show, id);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn held_messages(store: &RedisStore, show: &Show) -> Result<Vec<HeldMessage>, StoreError> {
    let _ = (store, show);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn set_pinned_message(store: &RedisStore, show: &Show, message: Option<&ChatMessage>) -> Result<(), StoreError> {
    let _ = (store, show, message);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn pinned_message(store: &RedisStore, show: &Show) -> Result<Option<ChatMessage>, StoreError> {
    let _ = (store, show);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn append_audit(store: &RedisStore, show: &Show, entry: &AuditEntry) -> Result<(), StoreError> {
    let _ = (store, show, entry);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn audit_log(store: &RedisStore, show: &Show, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
    let _ = (store, show, limit);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn revoke_invite(store: &RedisStore, invite: InviteId) -> Result<(), StoreError> {
    let _ = (store, invite);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}

pub(super) async fn is_revoked(store: &RedisStore, invite: InviteId) -> Result<bool, StoreError> {
    let _ = (store, invite);
    Err(StoreError::Unavailable("the Redis moderation store is not written yet".into()))
}
