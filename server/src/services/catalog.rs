//! The catalog service: a creator's products (create, list and search, read, edit), the
//! Shopify CSV import (in `import.rs`: dry runs and progress), and the lineup of a show. It
//! applies the `domain::catalog` and `domain::import` rules, keeps a catalog within
//! `--max-products-per-creator` and saves through the store; it knows nothing of HTTP.

mod edit;
mod import;

pub use import::{ImportFile, ImportProgress, PROGRESS_EVERY};

use std::sync::Arc;

use uuid::Uuid;

use crate::clock::SharedClock;
use crate::domain::{Code, CreatorId, DomainError, NewProduct, Product, ProductId, Show};
use crate::hub::Hub;
use crate::store::{
    CatalogStore, CommerceStore, ProductInsert, SharedStore, ShowStore, StoreError,
};

/// Why the catalog service refused a request.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// A rule refused it; the error's kind and code say which.
    #[error(transparent)]
    Refused(#[from] DomainError),
    /// The uploaded file as a whole is not a Shopify product export (`invalid_csv`).
    #[error("bad import file: {0}")]
    BadFile(DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type CatalogResult<T> = Result<T, CatalogError>;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ImportedProduct {
    /// Line of the row in the file (the header is line 1).
    pub line: u64,
    /// The product created or updated; absent for a row a dry run would create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<ProductId>,
    pub sku: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RejectedRow {
    pub line: u64,
    pub reason: String,
}

#[derive(
    Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct ImportReport {
    pub created: Vec<ImportedProduct>,
    pub updated: Vec<ImportedProduct>,
    pub rejected: Vec<RejectedRow>,
    /// Whether this was a dry run (`?dry_run=true`): the same classification, nothing written.
    #[serde(default)]
    pub dry_run: bool,
}

impl ImportReport {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected.push(RejectedRow { line, reason });
    }
}

#[derive(Clone)]
pub struct CatalogService {
    catalog: Arc<dyn CatalogStore>,
    /// The shows and pins an edited product may be pinned in (to tell their rooms).
    shows: Arc<dyn ShowStore>,
    commerce: Arc<dyn CommerceStore>,
    hub: Arc<Hub>,
    clock: SharedClock,
    /// `--max-products-per-creator`.
    quota: u64,
}

impl CatalogService {
    /// Keeps, of `store`, only the areas this service uses.
    pub fn new(store: SharedStore, hub: Arc<Hub>, clock: SharedClock, quota: u64) -> Self {
        CatalogService {
            catalog: store.clone(),
            shows: store.clone(),
            commerce: store,
            hub,
            clock,
            quota,
        }
    }

    /// Adds a product to `creator`'s catalog: 409 `duplicate_sku` for a SKU the catalog has,
    /// 409 `product_quota` for a full catalog.
    pub async fn create(&self, creator: CreatorId, fields: NewProduct) -> CatalogResult<Product> {
        let product =
            Product::create(ProductId(Uuid::now_v7()), creator, fields, self.clock.now())?;
        match self
            .catalog
            .insert_product_within(&product, self.quota)
            .await?
        {
            ProductInsert::Inserted => Ok(product),
            ProductInsert::DuplicateSku => Err(DomainError::conflict(
                Code::DuplicateSku,
                format!(
                    "your catalog already has a product with SKU '{}'",
                    product.sku
                ),
            )
            .into()),
            // A state the creator can change (by asking the operator), not a bad request.
            ProductInsert::OverQuota => {
                Err(DomainError::conflict(Code::ProductQuota, quota_reason(self.quota)).into())
            }
        }
    }

    /// One product (anyone may read it), or 404 `product_not_found`.
    pub async fn get(&self, id: ProductId) -> CatalogResult<Product> {
        self.catalog.product(id).await?.ok_or_else(|| {
            DomainError::not_found(Code::ProductNotFound, format!("no product {id}")).into()
        })
    }

    /// Adds one of the show's creator's products to `show`'s lineup (the caller already may
    /// manage the show) and answers the lineup. Another creator's product is reported as
    /// unknown: its existence is not ours to reveal.
    pub async fn add_to_lineup(
        &self,
        show: &Show,
        product: ProductId,
    ) -> CatalogResult<Vec<Product>> {
        match self.catalog.product(product).await? {
            Some(p) if p.creator_id == show.creator_id => {}
            _ => {
                return Err(DomainError::not_found(
                    Code::ProductNotFound,
                    format!("no product {product} in your catalog"),
                )
                .into());
            }
        }
        self.catalog.add_to_lineup(show, product).await?;
        self.lineup(show).await
    }

    /// The show's products, in the order they were added.
    pub async fn lineup(&self, show: &Show) -> CatalogResult<Vec<Product>> {
        let mut products = Vec::new();
        for id in self.catalog.lineup(show).await? {
            if let Some(p) = self.catalog.product(id).await? {
                products.push(p);
            }
        }
        Ok(products)
    }
}

fn quota_reason(quota: u64) -> String {
    format!("your catalog is full: at most {quota} products per creator")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::clock::{Clock, TestClock};
    use crate::domain::error::ErrorKind;
    use crate::domain::{Money, NewShow, ProductEdit, ShowId};
    use crate::services::shows::{ListQuery, Listing};
    use crate::store::MemoryStore;

    fn service(quota: u64) -> (CatalogService, SharedStore, Arc<TestClock>) {
        let store: SharedStore = Arc::new(MemoryStore::new());
        let clock = TestClock::new();
        let (hub, _) = crate::services::testing::memory_hub(clock.clone());
        let service = CatalogService::new(store.clone(), hub, clock.clone(), quota);
        (service, store, clock)
    }

    fn creator() -> CreatorId {
        CreatorId(Uuid::now_v7())
    }

    fn draft(sku: &str) -> NewProduct {
        NewProduct {
            sku: sku.into(),
            title: "Mug".into(),
            description: None,
            image_url: None,
            price: Money::price(1800, "USD").unwrap(),
            stock: 5,
        }
    }

    fn refusal<T: std::fmt::Debug>(result: CatalogResult<T>) -> DomainError {
        match result {
            Err(CatalogError::Refused(e)) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_catalog_has_one_product_per_sku_within_its_quota() {
        let (s, _, clock) = service(2);
        let me = creator();
        clock.advance(Duration::from_secs(3_600));
        let mug = s.create(me, draft("MUG")).await.unwrap();
        assert!(mug.created_at > chrono::Utc::now() + chrono::Duration::minutes(59));
        assert_eq!(s.get(mug.id).await.unwrap(), mug);
        let e = refusal(s.create(me, draft("MUG")).await);
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::Conflict, "duplicate_sku")
        );
        s.create(me, draft("CUP")).await.unwrap();
        let e = refusal(s.create(me, draft("HAT")).await);
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::Conflict, "product_quota")
        );
        // Another creator's catalog is theirs: same SKU, own quota.
        s.create(creator(), draft("MUG")).await.unwrap();
        let Listing::All(mine) = s.list(me, ListQuery::All, None).await.unwrap() else {
            panic!("asked for all");
        };
        assert_eq!(mine.len(), 2);
        let e = refusal(s.get(ProductId(Uuid::now_v7())).await);
        assert_eq!(e.code, "product_not_found");
    }

    const CSV: &str = "Handle,Title,Variant SKU,Variant Inventory Qty,Variant Price\n\
                       mug,Mug,MUG,4,18.00\n\
                       cup,Cup,CUP,1,5.00\n\
                       hat,Hat,HAT,-1,9.00\n\
                       cap,Cap,CAP,2,7.50\n";

    #[tokio::test]
    async fn an_import_creates_updates_and_rejects_row_by_row() {
        let (s, store, clock) = service(2);
        let me = creator();
        let mug = s.create(me, draft("MUG")).await.unwrap();
        clock.advance(Duration::from_secs(60));
        let report = s.import(me, CSV.as_bytes(), Some("EUR")).await.unwrap();
        let updated: Vec<_> = report.updated.iter().map(|p| (p.line, p.id)).collect();
        assert_eq!(updated, vec![(2, Some(mug.id))]);
        let created: Vec<_> = report.created.iter().map(|p| (p.line, &*p.sku)).collect();
        assert_eq!(created, vec![(3, "CUP")]);
        let rejected: Vec<_> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(rejected, vec![4, 5], "a bad quantity, then a full catalog");
        assert_eq!(report.rejected[1].reason, quota_reason(2));
        let stored = store.product(mug.id).await.unwrap().unwrap();
        assert_eq!((stored.stock, stored.price.amount), (4, 1800));
        assert_eq!(stored.price.currency.as_str(), "EUR");
        assert!(stored.updated_at > mug.updated_at + chrono::Duration::seconds(59));
    }

    #[tokio::test]
    async fn a_file_that_is_no_export_is_refused_whole() {
        let (s, _, _) = service(10);
        match s.import(creator(), b"name,price\nx,1\n", None).await {
            Err(CatalogError::BadFile(e)) => assert_eq!(e.code, "invalid_csv"),
            other => panic!("expected a bad file, got {other:?}"),
        }
        let e = refusal(s.import(creator(), CSV.as_bytes(), Some("nope")).await);
        assert_eq!(e.kind, ErrorKind::Invalid);
    }

    #[tokio::test]
    async fn a_lineup_takes_only_the_shows_creators_products_in_order() {
        let (s, store, clock) = service(10);
        let me = creator();
        let new = NewShow {
            title: "Drop".into(),
            ..Default::default()
        };
        let show = Show::schedule(ShowId(Uuid::now_v7()), me, new, clock.now()).unwrap();
        store.insert_show(&show).await.unwrap();
        let theirs = s.create(creator(), draft("MUG")).await.unwrap();
        let e = refusal(s.add_to_lineup(&show, theirs.id).await);
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::NotFound, "product_not_found")
        );
        let cup = s.create(me, draft("CUP")).await.unwrap();
        let mug = s.create(me, draft("MUG")).await.unwrap();
        s.add_to_lineup(&show, cup.id).await.unwrap();
        let lineup = s.add_to_lineup(&show, mug.id).await.unwrap();
        assert_eq!(lineup, vec![cup.clone(), mug.clone()]);
        assert_eq!(s.lineup(&show).await.unwrap(), vec![cup, mug]);
    }

    #[tokio::test]
    async fn a_dry_run_classifies_like_the_import_and_writes_nothing() {
        let (s, store, _) = service(2);
        let me = creator();
        let mug = s.create(me, draft("MUG")).await.unwrap();
        let file = s.read_import(CSV.as_bytes(), Some("EUR")).unwrap();
        assert_eq!(file.rows(), 4);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let dry = s
            .start_import(me, file.clone(), true, Some(tx))
            .await
            .unwrap()
            .unwrap();
        assert!(dry.dry_run);
        let mut seen = Vec::new();
        while let Some(p) = rx.recv().await {
            seen.push((p.done, p.total));
        }
        assert_eq!(seen, vec![(0, 4), (4, 4)]);
        assert_eq!(store.products(me).await.unwrap(), vec![mug.clone()]);
        assert_eq!(dry.created[0].id, None, "nothing was created");
        let real = s
            .start_import(me, file, false, None)
            .await
            .unwrap()
            .unwrap();
        let lines = |r: &ImportReport| {
            let of = |l: &[ImportedProduct]| {
                l.iter()
                    .map(|p| (p.line, p.sku.clone()))
                    .collect::<Vec<_>>()
            };
            (of(&r.created), of(&r.updated), r.rejected.clone())
        };
        assert_eq!(lines(&dry), lines(&real));
        assert!(!real.dry_run && real.created[0].id.is_some());
        assert_eq!(store.products(me).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn an_edit_is_the_owners_and_a_search_finds_title_or_sku() {
        let (s, store, _) = service(10);
        let me = creator();
        let mug = s.create(me, draft("MUG-1")).await.unwrap();
        s.create(me, draft("CUP-1")).await.unwrap();
        let e = refusal(s.edit(creator(), mug.id, ProductEdit::default()).await);
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ErrorKind::Forbidden, "not_product_owner")
        );
        let edit = ProductEdit {
            title: Some("Tall mug".into()),
            stock: Some(9),
            ..Default::default()
        };
        let edited = s.edit(me, mug.id, edit).await.unwrap();
        assert_eq!((edited.title.as_str(), edited.stock), ("Tall mug", 9));
        assert!(edited.updated_at > mug.updated_at);
        assert_eq!(store.product(mug.id).await.unwrap().unwrap(), edited);
        // Without a stock, the stored one stays whatever it became meanwhile.
        let mut sold = edited.clone();
        sold.stock = 4;
        store.update_product(&sold).await.unwrap();
        let renamed = ProductEdit {
            title: Some("Mug".into()),
            ..Default::default()
        };
        assert_eq!(s.edit(me, mug.id, renamed).await.unwrap().stock, 4);
        let page = ListQuery::Page {
            after: None,
            limit: 10,
        };
        let Listing::Page(found) = s.list(me, page, Some("mug-")).await.unwrap() else {
            panic!("asked for a page");
        };
        assert_eq!(
            found.items.iter().map(|p| p.id).collect::<Vec<_>>(),
            [mug.id]
        );
    }
}
