//! MemoryStore's accounts area: the creators' listing and names, token generations, passkeys,
//! ceremonies and heartbeats, all under the store's one lock.

use std::time::Duration;

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::account::{Ceremony, Heartbeat, NodeInfo, Passkey};
use crate::domain::{Creator, CreatorId, Timestamp};
use crate::store::{AccountStore, Page, PageAfter, StoreError};

/// Ceremonies kept before expired ones are swept (a bound on what unanswered ones can hold).
const SWEEP_CEREMONIES_AT: usize = 1024;

#[async_trait]
impl AccountStore for MemoryStore {
    async fn creators_page(
        &self,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Creator>, StoreError> {
        let mut all: Vec<Creator> = self.with(|s| s.creators.values().cloned().collect());
        all.sort_by_key(PageAfter::creator);
        Ok(Page::of(all, PageAfter::creator, after, limit))
    }

    async fn rename_creator(
        &self,
        id: CreatorId,
        name: &str,
    ) -> Result<Option<Creator>, StoreError> {
        Ok(self.with(|s| {
            s.creators.get_mut(&id).map(|c| {
                c.name = name.to_string();
                c.clone()
            })
        }))
    }

    async fn token_generation(&self, creator: CreatorId) -> Result<u64, StoreError> {
        Ok(self.with(|s| s.token_generations.get(&creator).copied().unwrap_or(0)))
    }

    async fn next_token_generation(&self, creator: CreatorId) -> Result<u64, StoreError> {
        Ok(self.with(|s| {
            let g = s.token_generations.entry(creator).or_insert(0);
            *g += 1;
            *g
        }))
    }

    async fn insert_passkey(&self, passkey: &Passkey) -> Result<(), StoreError> {
        self.with(|s| s.passkeys.insert(passkey.id.clone(), passkey.clone()));
        Ok(())
    }

    async fn passkey(&self, id: &str) -> Result<Option<Passkey>, StoreError> {
        Ok(self.with(|s| s.passkeys.get(id).cloned()))
    }

    async fn passkeys(&self, creator: CreatorId) -> Result<Vec<Passkey>, StoreError> {
        let mut found: Vec<Passkey> = self.with(|s| {
            s.passkeys
                .values()
                .filter(|p| p.creator_id == creator)
                .cloned()
                .collect()
        });
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(found)
    }

    async fn update_passkey(&self, passkey: &Passkey) -> Result<bool, StoreError> {
        Ok(self.with(|s| match s.passkeys.get_mut(&passkey.id) {
            Some(stored) if stored.creator_id == passkey.creator_id => {
                *stored = passkey.clone();
                true
            }
            _ => false,
        }))
    }

    async fn delete_passkey(&self, creator: CreatorId, id: &str) -> Result<bool, StoreError> {
        Ok(self.with(|s| match s.passkeys.get(id) {
            Some(p) if p.creator_id == creator => s.passkeys.remove(id).is_some(),
            _ => false,
        }))
    }

    async fn put_ceremony(
        &self,
        id: &str,
        ceremony: &Ceremony,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.with(|s| {
            if s.ceremonies.len() >= SWEEP_CEREMONIES_AT {
                // Ceremonies nobody answered: drop those past their deadline.
                s.ceremonies.retain(|_, c| c.is_open(now));
            }
            s.ceremonies.insert(id.to_string(), ceremony.clone())
        });
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id: &str,
        now: Timestamp,
    ) -> Result<Option<Ceremony>, StoreError> {
        Ok(self.with(|s| s.ceremonies.remove(id).filter(|c| c.is_open(now))))
    }

    async fn beat(&self, beat: &Heartbeat, _ttl: Duration) -> Result<(), StoreError> {
        self.with(|s| s.heartbeats.insert(beat.node.id.clone(), beat.clone()));
        Ok(())
    }

    async fn nodes(&self, now: Timestamp) -> Result<Vec<NodeInfo>, StoreError> {
        let mut nodes: Vec<NodeInfo> = self.with(|s| {
            s.heartbeats.retain(|_, b| b.is_alive(now));
            s.heartbeats.values().map(|b| b.node.clone()).collect()
        });
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(nodes)
    }
}
