//! The embedded store: everything in one process's memory, behind one short-held lock.
//! State dies with the process; the server warns about that at start.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use super::{DemoRecord, Store, StoreError};
use crate::domain::{
    Creator, CreatorId, Product, ProductId, Show, ShowId, ShowStatus, Viewer, ViewerId,
};

#[derive(Default)]
struct State {
    secret: Option<String>,
    demo: Option<DemoRecord>,
    creators: HashMap<CreatorId, Creator>,
    shows: HashMap<ShowId, Show>,
    products: HashMap<ProductId, Product>,
    skus: HashMap<(CreatorId, String), ProductId>,
    lineups: HashMap<ShowId, Vec<ProductId>>,
    viewers: HashMap<(ShowId, ViewerId), Viewer>,
}

#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // A panic while holding the lock cannot leave a half-applied change behind (every
        // closure validates before it writes), so a poisoned lock is safe to keep using.
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn secret_or_init(&self, candidate: &str) -> Result<String, StoreError> {
        Ok(self.with(|s| s.secret.get_or_insert_with(|| candidate.to_string()).clone()))
    }

    async fn has_data(&self) -> Result<bool, StoreError> {
        Ok(self.with(|s| !s.creators.is_empty()))
    }

    async fn demo(&self) -> Result<Option<DemoRecord>, StoreError> {
        Ok(self.with(|s| s.demo.clone()))
    }

    async fn set_demo(&self, demo: &DemoRecord) -> Result<(), StoreError> {
        self.with(|s| s.demo = Some(demo.clone()));
        Ok(())
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

    async fn update_show(&self, show: &Show, expected: ShowStatus) -> Result<bool, StoreError> {
        Ok(self.with(|s| match s.shows.get_mut(&show.id) {
            Some(stored) if stored.status == expected => {
                *stored = show.clone();
                true
            }
            _ => false,
        }))
    }

    async fn insert_product(&self, product: &Product) -> Result<bool, StoreError> {
        Ok(self.with(|s| {
            let key = (product.creator_id, product.sku.clone());
            if s.skus.contains_key(&key) {
                return false;
            }
            s.skus.insert(key, product.id);
            s.products.insert(product.id, product.clone());
            true
        }))
    }

    async fn update_product(&self, product: &Product) -> Result<(), StoreError> {
        self.with(|s| {
            if let Some(old) = s.products.insert(product.id, product.clone())
                && old.sku != product.sku
            {
                s.skus.remove(&(old.creator_id, old.sku));
                s.skus
                    .insert((product.creator_id, product.sku.clone()), product.id);
            }
        });
        Ok(())
    }

    async fn product(&self, id: ProductId) -> Result<Option<Product>, StoreError> {
        Ok(self.with(|s| s.products.get(&id).cloned()))
    }

    async fn product_by_sku(
        &self,
        creator: CreatorId,
        sku: &str,
    ) -> Result<Option<Product>, StoreError> {
        Ok(self.with(|s| {
            s.skus
                .get(&(creator, sku.to_string()))
                .and_then(|id| s.products.get(id))
                .cloned()
        }))
    }

    async fn products(&self, creator: CreatorId) -> Result<Vec<Product>, StoreError> {
        let mut list: Vec<Product> = self.with(|s| {
            s.products
                .values()
                .filter(|p| p.creator_id == creator)
                .cloned()
                .collect()
        });
        list.sort_by_key(|p| (p.created_at, p.id));
        Ok(list)
    }

    async fn add_to_lineup(&self, show: &Show, product: ProductId) -> Result<(), StoreError> {
        self.with(|s| {
            let lineup = s.lineups.entry(show.id).or_default();
            if !lineup.contains(&product) {
                lineup.push(product);
            }
        });
        Ok(())
    }

    async fn lineup(&self, show: &Show) -> Result<Vec<ProductId>, StoreError> {
        Ok(self.with(|s| s.lineups.get(&show.id).cloned().unwrap_or_default()))
    }

    async fn insert_viewer(&self, show: &Show, viewer: &Viewer) -> Result<(), StoreError> {
        self.with(|s| s.viewers.insert((show.id, viewer.id), viewer.clone()));
        Ok(())
    }

    async fn viewer(&self, show: &Show, id: ViewerId) -> Result<Option<Viewer>, StoreError> {
        Ok(self.with(|s| s.viewers.get(&(show.id, id)).cloned()))
    }
}
