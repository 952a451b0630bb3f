//! The shows area of the store: the token secret, the demo record, creators, shows, viewers and
//! invitations, and a creator's creator-wide moderators ([`ShowStore`]).

use async_trait::async_trait;

use super::{Page, PageAfter, StoreError};
use crate::domain::access::CreatorWideModerator;
use crate::domain::{Creator, CreatorId, InviteId, Show, ShowId, ShowStatus, Viewer, ViewerId};

/// Where the demo seeded by the first start lives, so later starts can print its links.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DemoRecord {
    pub creator_id: CreatorId,
    pub show_id: ShowId,
}

/// Who and what a show is: the secret, the demo, creators, shows, their viewers and invitations.
#[async_trait]
pub trait ShowStore: Send + Sync + 'static {
    /// The token-signing secret: the stored one, or `candidate` stored now if there is none.
    /// The first writer wins, so nodes that start together agree.
    async fn secret_or_init(&self, candidate: &str) -> Result<String, StoreError>;

    /// Whether any creator exists (an empty store gets the demo).
    async fn has_data(&self) -> Result<bool, StoreError>;
    async fn demo(&self) -> Result<Option<DemoRecord>, StoreError>;
    /// Records `demo` as the demo unless one is recorded already; returns the record that is
    /// in force (ours, or the one another node claimed first).
    async fn claim_demo(&self, demo: &DemoRecord) -> Result<DemoRecord, StoreError>;

    async fn insert_creator(&self, creator: &Creator) -> Result<(), StoreError>;
    async fn creator(&self, id: CreatorId) -> Result<Option<Creator>, StoreError>;

    async fn insert_show(&self, show: &Show) -> Result<(), StoreError>;
    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError>;
    /// The show as `show` returns it, or as this node read it at most a second ago (the
    /// Redis store keeps such a copy; a show changed through this node is read afresh). Only
    /// for callers whose later store call re-checks what matters from the stored record:
    /// checkout, which refuses an ended show itself.
    async fn show_recent(&self, id: ShowId) -> Result<Option<Show>, StoreError> {
        self.show(id).await
    }
    /// Every show, ordered by `scheduled_at` then id.
    async fn shows(&self) -> Result<Vec<Show>, StoreError>;
    /// At most `limit` shows of [`Self::shows`]' order, after `after` (from the first when
    /// `None`), and whether more follow.
    async fn shows_page(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Show>, StoreError>;
    /// Saves `show` only if the stored status is still `expected`; `false` when another
    /// request changed it first (the caller reloads and re-applies the rule).
    async fn update_show(&self, show: &Show, expected: ShowStatus) -> Result<bool, StoreError>;

    async fn insert_viewer(&self, show: &Show, viewer: &Viewer) -> Result<(), StoreError>;
    async fn viewer(&self, show: &Show, id: ViewerId) -> Result<Option<Viewer>, StoreError>;

    /// Records a moderator or camera invitation minted for `show`, so it can be revoked.
    async fn record_invite(&self, show: ShowId, invite: InviteId) -> Result<(), StoreError>;
    /// Revokes a moderator or camera invitation of `show`: a token for that show with that
    /// invite id stops working everywhere. Keyed by show, so a creator can only ever revoke
    /// invitations to their own shows (the token carries its show). `false` (nothing changed)
    /// when no such invitation was recorded for that show.
    async fn revoke_invite(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError>;
    async fn is_revoked(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError>;

    /// Every show of `creator`, in no particular order (the dashboard's listings sort and
    /// page them: a creator has few enough shows).
    async fn creator_shows(&self, creator: CreatorId) -> Result<Vec<Show>, StoreError>;
    /// Records a creator-wide moderator: its token works in every show of `creator` while it
    /// is recorded.
    async fn add_creator_moderator(
        &self,
        creator: CreatorId,
        moderator: &CreatorWideModerator,
    ) -> Result<(), StoreError>;
    /// The creator's creator-wide moderators, oldest first.
    async fn creator_moderators(
        &self,
        creator: CreatorId,
    ) -> Result<Vec<CreatorWideModerator>, StoreError>;
    /// Removes a creator-wide moderator: its token stops working everywhere. Keyed by creator,
    /// so a creator can only remove their own. `false` when there was none.
    async fn remove_creator_moderator(
        &self,
        creator: CreatorId,
        id: InviteId,
    ) -> Result<bool, StoreError>;
    /// Whether a creator-wide moderator is still recorded (the token check).
    async fn has_creator_moderator(
        &self,
        creator: CreatorId,
        id: InviteId,
    ) -> Result<bool, StoreError>;
}
