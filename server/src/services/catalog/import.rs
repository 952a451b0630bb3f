//! The Shopify import's run: each row of a parsed file classified as created, updated or
//! rejected by one piece of code whether the run writes (a real import) or not (a dry run),
//! so a preview and the import that follows it agree; progress is reported as rows are done.
//!
//! A run is its own task: a client that goes away (a closed stream, a dropped request) never
//! stops it between the store calls of one row, so every row is either applied whole or not
//! reached, and the run ends as if the client had stayed.

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::{
    CatalogError, CatalogResult, CatalogService, ImportReport, ImportedProduct, quota_reason,
};
use crate::domain::import::{ImportRow, parse_shopify_csv};
use crate::domain::{CreatorId, Currency, NewProduct, Product, ProductId, Timestamp};
use crate::store::{ProductInsert, StoreError};

/// Rows between two progress reports.
pub const PROGRESS_EVERY: u64 = 100;

/// An accepted import file: its rows, parsed and checked, ready to run.
#[derive(Debug, Clone)]
pub struct ImportFile {
    rows: Vec<ImportRow>,
}

impl ImportFile {
    /// Rows of the file that the run will classify.
    pub fn rows(&self) -> u64 {
        self.rows.len() as u64
    }
}

/// How far a run is: `done` of `total` rows classified.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub struct ImportProgress {
    pub done: u64,
    pub total: u64,
}

impl CatalogService {
    /// Reads a Shopify product export with prices in `currency` (USD when absent): a file
    /// that is no export, or an unknown currency, is refused whole before anything runs.
    pub fn read_import(&self, csv: &[u8], currency: Option<&str>) -> CatalogResult<ImportFile> {
        let currency = Currency::parse(currency.unwrap_or("USD"))?;
        let rows = parse_shopify_csv(csv, currency).map_err(CatalogError::BadFile)?;
        Ok(ImportFile { rows })
    }

    /// Imports a Shopify product export for `creator`. Each variant with a SKU becomes a
    /// product, an existing SKU is updated; bad rows are reported by line and never stop the
    /// good ones.
    pub async fn import(
        &self,
        creator: CreatorId,
        csv: &[u8],
        currency: Option<&str>,
    ) -> CatalogResult<ImportReport> {
        let file = self.read_import(csv, currency)?;
        self.run_import(creator, file, false, None).await
    }

    /// Starts a run of `file` in its own task (see the module documentation); with
    /// `dry_run` nothing is written. Progress goes to `progress` while anyone listens.
    pub fn start_import(
        &self,
        creator: CreatorId,
        file: ImportFile,
        dry_run: bool,
        progress: Option<UnboundedSender<ImportProgress>>,
    ) -> JoinHandle<CatalogResult<ImportReport>> {
        let service = self.clone();
        tokio::spawn(async move { service.run_import(creator, file, dry_run, progress).await })
    }

    async fn run_import(
        &self,
        creator: CreatorId,
        file: ImportFile,
        dry_run: bool,
        progress: Option<UnboundedSender<ImportProgress>>,
    ) -> CatalogResult<ImportReport> {
        let total = file.rows();
        let tell = |done: u64| {
            if let Some(tx) = &progress {
                // Nobody listening is fine: the run goes on.
                let _ = tx.send(ImportProgress { done, total });
            }
        };
        tell(0);
        let mut run = Run {
            service: self,
            creator,
            now: self.clock.now(),
            planned: match dry_run {
                true => Some(self.catalog.product_count(creator).await?),
                false => None,
            },
            report: ImportReport {
                dry_run,
                ..ImportReport::default()
            },
        };
        let mut done = 0;
        for row in file.rows {
            match row {
                ImportRow::Rejected { line, reason } => run.report.reject(line, reason),
                ImportRow::Product { line, fields } => run.row(line, fields).await?,
            }
            done += 1;
            if done % PROGRESS_EVERY == 0 || done == total {
                tell(done);
            }
        }
        let report = run.report;
        tracing::info!(
            creator = %creator,
            dry_run,
            created = report.created.len(),
            updated = report.updated.len(),
            rejected = report.rejected.len(),
            "catalog imported"
        );
        Ok(report)
    }
}

/// One run's state.
struct Run<'a> {
    service: &'a CatalogService,
    creator: CreatorId,
    now: Timestamp,
    /// In a dry run, the catalog's size had the rows so far been imported (for the quota).
    planned: Option<u64>,
    report: ImportReport,
}

impl Run<'_> {
    /// One variant of the file: updates the product of its SKU, or creates one.
    async fn row(&mut self, line: u64, fields: NewProduct) -> Result<(), StoreError> {
        let catalog = &self.service.catalog;
        let sku = fields.sku.clone();
        if let Some(mut existing) = catalog.product_by_sku(self.creator, &sku).await? {
            if let Err(e) = existing.update(fields, self.now) {
                self.report.reject(line, e.message);
                return Ok(());
            }
            if self.planned.is_none() {
                catalog.update_product(&existing).await?;
            }
            let id = Some(existing.id);
            self.report.updated.push(ImportedProduct { line, id, sku });
            return Ok(());
        }
        let product =
            match Product::create(ProductId(Uuid::now_v7()), self.creator, fields, self.now) {
                Ok(p) => p,
                Err(e) => {
                    self.report.reject(line, e.message);
                    return Ok(());
                }
            };
        let quota = self.service.quota;
        // Rows beyond the quota are rejected one by one (updates of existing SKUs still
        // apply), so the report says exactly which lines did not make it in.
        let outcome = match &mut self.planned {
            Some(size) if *size >= quota => ProductInsert::OverQuota,
            Some(size) => {
                *size += 1;
                ProductInsert::Inserted
            }
            None => catalog.insert_product_within(&product, quota).await?,
        };
        let id = self.planned.is_none().then_some(product.id);
        match outcome {
            ProductInsert::Inserted => self.report.created.push(ImportedProduct { line, id, sku }),
            ProductInsert::DuplicateSku => self.report.reject(
                line,
                format!("SKU '{sku}' was created by another request meanwhile"),
            ),
            ProductInsert::OverQuota => self.report.reject(line, quota_reason(quota)),
        }
        Ok(())
    }
}
