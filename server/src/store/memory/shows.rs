//! MemoryStore's shows area: the secret, the demo, creators, shows, viewers, invitations.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::access::CreatorWideModerator;
use crate::domain::{Creator, CreatorId, InviteId, Show, ShowId, ShowStatus, Viewer, ViewerId};
use crate::store::{DemoRecord, Page, PageAfter, ShowStore, StoreError};

#[async_trait]
impl ShowStore for MemoryStore {
    async fn secret_or_init(&self, candidate: &str) -> Result<String, StoreError> {
        Ok(self.with(|s| {
            s.secret
                .get_or_insert_with(|| candidate.to_string())
                .clone()
        }))
    }

    async fn has_data(&self) -> Result<bool, StoreError> {
        Ok(self.with(|s| !s.creators.is_empty()))
    }

    async fn demo(&self) -> Result<Option<DemoRecord>, StoreError> {
        Ok(self.with(|s| s.demo.clone()))
    }

    async fn claim_demo(&self, demo: &DemoRecord) -> Result<DemoRecord, StoreError> {
        Ok(self.with(|s| s.demo.get_or_insert_with(|| demo.clone()).clone()))
    }

    async fn insert_creator(&self, creator: &Creator) -> Result<(), StoreError> {
        self.with(|s| s.creators.insert(creator.id, creator.clone()));
        Ok(())
    }

    async fn creator(&self, id: CreatorId) -> Result<Option<Creator>, StoreError> {
        Ok(self.with(|s| s.creators.get(&id).cloned()))
    }

    async fn insert_show(&self, show: &Show) -> Result<(), StoreError> {
        self.with(|s| s.shows.insert(show.id, show.clone()));
        Ok(())
    }

    async fn show(&self, id: ShowId) -> Result<Option<Show>, StoreError> {
        Ok(self.with(|s| s.shows.get(&id).cloned()))
    }

    async fn shows(&self) -> Result<Vec<Show>, StoreError> {
        let mut shows: Vec<Show> = self.with(|s| s.shows.values().cloned().collect());
        shows.sort_by_key(|s| (s.scheduled_at, s.id));
        Ok(shows)
    }

    async fn shows_page(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Show>, StoreError> {
        Ok(Page::of(self.shows().await?, PageAfter::show, after, limit))
    }

    async fn update_show(&self, show: &Show, expected: ShowStatus) -> Result<bool, StoreError> {
        Ok(self.with(|s| match s.shows.get_mut(&show.id) {
            Some(stored) if stored.status == expected => {
                *stored = show.clone();
                true
            }
            _ => false,
        }))
    }

    async fn insert_viewer(&self, show: &Show, viewer: &Viewer) -> Result<(), StoreError> {
        self.with(|s| s.viewers.insert((show.id, viewer.id), viewer.clone()));
        Ok(())
    }

    async fn viewer(&self, show: &Show, id: ViewerId) -> Result<Option<Viewer>, StoreError> {
        Ok(self.with(|s| s.viewers.get(&(show.id, id)).cloned()))
    }

    async fn record_invite(&self, show: ShowId, invite: InviteId) -> Result<(), StoreError> {
        self.with(|s| s.invites.insert((show, invite)));
        Ok(())
    }

    async fn revoke_invite(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError> {
        Ok(self.with(|s| {
            let known = s.invites.contains(&(show, invite));
            if known {
                s.revoked.insert((show, invite));
            }
            known
        }))
    }

    async fn is_revoked(&self, show: ShowId, invite: InviteId) -> Result<bool, StoreError> {
        Ok(self.with(|s| s.revoked.contains(&(show, invite))))
    }

    async fn creator_shows(&self, creator: CreatorId) -> Result<Vec<Show>, StoreError> {
        Ok(self.with(|s| {
            s.shows
                .values()
                .filter(|show| show.creator_id == creator)
                .cloned()
                .collect()
        }))
    }

    async fn add_creator_moderator(
        &self,
        creator: CreatorId,
        moderator: &CreatorWideModerator,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            let list = s.creator_moderators.entry(creator).or_default();
            list.retain(|m| m.id != moderator.id);
            list.push(moderator.clone());
        });
        Ok(())
    }

    async fn creator_moderators(
        &self,
        creator: CreatorId,
    ) -> Result<Vec<CreatorWideModerator>, StoreError> {
        Ok(self.with(|s| {
            s.creator_moderators
                .get(&creator)
                .cloned()
                .unwrap_or_default()
        }))
    }

    async fn remove_creator_moderator(
        &self,
        creator: CreatorId,
        id: InviteId,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|s| {
            let list = s.creator_moderators.entry(creator).or_default();
            let before = list.len();
            list.retain(|m| m.id != id);
            list.len() != before
        }))
    }

    async fn has_creator_moderator(
        &self,
        creator: CreatorId,
        id: InviteId,
    ) -> Result<bool, StoreError> {
        Ok(self.with(|s| {
            s.creator_moderators
                .get(&creator)
                .is_some_and(|list| list.iter().any(|m| m.id == id))
        }))
    }
}
