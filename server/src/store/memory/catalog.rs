//! MemoryStore's catalog area: products, the SKU index, the per-creator quota, lineups.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::{CreatorId, Product, ProductId, Show, Timestamp};
use crate::store::{CatalogStore, LineupRemoval, Page, PageAfter, ProductInsert, StoreError};

#[async_trait]
impl CatalogStore for MemoryStore {
    async fn insert_product_within(
        &self,
        product: &Product,
        max_products: u64,
    ) -> Result<ProductInsert, StoreError> {
        Ok(self.with(|s| {
            let key = (product.creator_id, product.sku.clone());
            if s.skus.contains_key(&key) {
                return ProductInsert::DuplicateSku;
            }
            let count = s.catalog_sizes.entry(product.creator_id).or_default();
            if *count >= max_products {
                return ProductInsert::OverQuota;
            }
            *count += 1;
            s.skus.insert(key, product.id);
            s.products.insert(product.id, product.clone());
            ProductInsert::Inserted
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

    async fn products_page(
        &self,
        creator: CreatorId,
        after: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<Product>, StoreError> {
        Ok(Page::of(
            self.products(creator).await?,
            PageAfter::product,
            after,
            limit,
        ))
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

    async fn edit_product(
        &self,
        product: &Product,
        expected: Timestamp,
        stock: Option<i64>,
    ) -> Result<Option<i64>, StoreError> {
        Ok(self.with(|s| {
            let stored = s.products.get_mut(&product.id)?;
            if stored.updated_at != expected {
                return None;
            }
            // Checkouts change the stock under this same lock; keep theirs unless it is set.
            let kept = stored.stock;
            *stored = product.clone();
            stored.stock = stock.unwrap_or(kept);
            Some(stored.stock)
        }))
    }

    async fn remove_from_lineup(
        &self,
        show: &Show,
        product: ProductId,
    ) -> Result<LineupRemoval, StoreError> {
        Ok(self.with(|s| {
            let pinned = s
                .pins
                .get(&show.id)
                .is_some_and(|pins| pins.iter().any(|p| p.pin.product_id == product));
            let Some(lineup) = s.lineups.get_mut(&show.id).filter(|l| l.contains(&product)) else {
                return LineupRemoval::NotInLineup;
            };
            if pinned {
                return LineupRemoval::Pinned;
            }
            lineup.retain(|p| *p != product);
            LineupRemoval::Removed
        }))
    }

    async fn product_count(&self, creator: CreatorId) -> Result<u64, StoreError> {
        Ok(self.with(|s| s.catalog_sizes.get(&creator).copied().unwrap_or(0)))
    }
}
