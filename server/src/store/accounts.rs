//! The accounts area of the store ([`AccountStore`]): the creators' listing and display names,
//! each creator's token generation (sign-out everywhere), passkeys, passkey ceremonies (short
//! lived, used once) and the nodes' heartbeats.
//!
//! Creator records themselves are written by the shows area ([`super::ShowStore`]); this area
//! lists and renames them.

use std::time::Duration;

use async_trait::async_trait;

use super::{Page, PageAfter, StoreError};
use crate::domain::account::{Ceremony, Heartbeat, NodeInfo, Passkey};
use crate::domain::{Creator, CreatorId, Timestamp};

impl PageAfter {
    /// The sort key of a creator in [`AccountStore::creators_page`].
    pub fn creator(creator: &Creator) -> Self {
        PageAfter {
            at: creator.created_at,
            id: creator.id.0,
        }
    }
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// At most `limit` creators by `created_at` then id, after `after`, and whether more follow.
    async fn creators_page(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Creator>, StoreError>;
    /// Sets a creator's display name; the renamed record, or `None` for an unknown creator.
    async fn rename_creator(
        &self,
        id: CreatorId,
        name: &str,
    ) -> Result<Option<Creator>, StoreError>;

    /// The creator's token generation: 0 until the first sign-out everywhere.
    async fn token_generation(&self, creator: CreatorId) -> Result<u64, StoreError>;
    /// Moves the creator's token generation on by one (atomically) and returns the new one.
    async fn next_token_generation(&self, creator: CreatorId) -> Result<u64, StoreError>;

    /// Stores a new passkey (its id is the credential id, unique across creators).
    async fn insert_passkey(&self, passkey: &Passkey) -> Result<(), StoreError>;
    async fn passkey(&self, id: &str) -> Result<Option<Passkey>, StoreError>;
    /// A creator's passkeys, oldest first.
    async fn passkeys(&self, creator: CreatorId) -> Result<Vec<Passkey>, StoreError>;
    /// Saves a used passkey (its counters and `last_used_at`); `false` when it was deleted
    /// meanwhile (nothing is written then).
    async fn update_passkey(&self, passkey: &Passkey) -> Result<bool, StoreError>;
    /// Deletes a passkey of `creator`; `false` when that creator has no such passkey.
    async fn delete_passkey(&self, creator: CreatorId, id: &str) -> Result<bool, StoreError>;

    /// Keeps a ceremony under `id` until its `expires_at` (the store may forget it then;
    /// `now` lets it sweep the ones that lapsed).
    async fn put_ceremony(
        &self,
        id: &str,
        ceremony: &Ceremony,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Takes a ceremony out, once: the first call gets it while it is open at `now`; any later
    /// call, or one after it expired, gets `None`.
    async fn take_ceremony(&self, id: &str, now: Timestamp)
    -> Result<Option<Ceremony>, StoreError>;

    /// Records a node's heartbeat; it counts until its `expires_at`. `ttl` bounds how long the
    /// store keeps it (Redis expires the key).
    async fn beat(&self, beat: &Heartbeat, ttl: Duration) -> Result<(), StoreError>;
    /// The nodes whose last heartbeat is alive at `now`, by id.
    async fn nodes(&self, now: Timestamp) -> Result<Vec<NodeInfo>, StoreError>;
}
