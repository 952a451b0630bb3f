//! The catalog's dashboard side: editing a product (its stock set atomically against
//! checkouts), searching the catalog, taking a product out of a show's lineup, and the
//! lineup sizes the show listing shows.

use super::{CatalogResult, CatalogService};
use crate::domain::{
    Code, CreatorId, DomainError, Product, ProductEdit, ProductId, Show, ShowStatus, Timestamp,
};
use crate::services::shows::{ListQuery, Listing};
use crate::store::{LineupRemoval, Page, PageAfter};

impl CatalogService {
    /// One of `creator`'s products: 404 `product_not_found` for none, 403 `not_product_owner`
    /// for another creator's (products are public, so their existence is no secret).
    pub async fn owned(&self, creator: CreatorId, id: ProductId) -> CatalogResult<Product> {
        let product = self.get(id).await?;
        if product.creator_id != creator {
            return Err(DomainError::forbidden(
                Code::NotProductOwner,
                format!("product {id} is another creator's"),
            )
            .into());
        }
        Ok(product)
    }

    /// Edits one of `creator`'s products. The record is saved only over the version the edit
    /// was applied to (a concurrent edit makes it re-apply); the stock, when given, is set in
    /// the same atomic step and otherwise left to the checkouts that change it meanwhile.
    pub async fn edit(
        &self,
        creator: CreatorId,
        id: ProductId,
        edit: ProductEdit,
    ) -> CatalogResult<Product> {
        for _ in 0..3 {
            let mut product = self.owned(creator, id).await?;
            let expected = product.updated_at;
            product.edit(edit.clone(), later_than(self.clock.now(), expected))?;
            let saved = self
                .catalog
                .edit_product(&product, expected, edit.stock)
                .await?;
            if let Some(stock) = saved {
                product.stock = stock;
                tracing::info!(product = %id, stock_set = edit.stock.is_some(), "product edited");
                self.announce_where_pinned(creator, id).await;
                return Ok(product);
            }
        }
        Err(DomainError::conflict(
            Code::ConcurrentUpdate,
            "the product changed while this request ran; try again",
        )
        .into())
    }

    /// Tells the room of every show of `creator` that has the product pinned (and has not
    /// ended) its new title, price and stock, as a pin change would. The edit holds already;
    /// a room not told now gets the truth with the next pin change or a viewer's `welcome`.
    async fn announce_where_pinned(&self, creator: CreatorId, id: ProductId) {
        let shows = match self.shows.creator_shows(creator).await {
            Ok(shows) => shows,
            Err(e) => {
                tracing::warn!(product = %id, error = %e, "edited product's shows not read");
                return;
            }
        };
        for show in shows
            .iter()
            .filter(|s| matches!(s.status, ShowStatus::Scheduled | ShowStatus::Live))
        {
            let pinned = match self.commerce.pins(show).await {
                Ok(pins) => pins.iter().any(|p| p.pin.product_id == id),
                Err(e) => {
                    tracing::warn!(show = %show.id, error = %e, "pins not read");
                    false
                }
            };
            if pinned {
                let (commerce, catalog) = (self.commerce.as_ref(), self.catalog.as_ref());
                crate::commerce::announce_pins(
                    commerce,
                    catalog,
                    &self.hub,
                    self.clock.as_ref(),
                    show,
                )
                .await;
            }
        }
    }

    /// `creator`'s catalog by creation time; with a `search`, only the products whose title
    /// or SKU holds it (any case).
    pub async fn list(
        &self,
        creator: CreatorId,
        query: ListQuery,
        search: Option<&str>,
    ) -> CatalogResult<Listing<Product>> {
        let Some(search) = search else {
            return Ok(match query {
                ListQuery::All => Listing::All(self.catalog.products(creator).await?),
                ListQuery::Page { after, limit } => {
                    Listing::Page(self.catalog.products_page(creator, after, limit).await?)
                }
            });
        };
        // A catalog is bounded by the quota, so a search reads it whole and pages the hits.
        let mut found = self.catalog.products(creator).await?;
        found.retain(|p| p.matches(search));
        Ok(match query {
            ListQuery::All => Listing::All(found),
            ListQuery::Page { after, limit } => {
                Listing::Page(Page::of(found, PageAfter::product, after, limit))
            }
        })
    }

    /// Takes a product out of `show`'s lineup (the caller already may manage the show):
    /// 404 `not_in_lineup` when it is not there, 409 `product_pinned` while it is pinned
    /// (unpin it first: viewers may be buying it right now).
    pub async fn remove_from_lineup(&self, show: &Show, product: ProductId) -> CatalogResult<()> {
        match self.catalog.remove_from_lineup(show, product).await? {
            LineupRemoval::Removed => Ok(()),
            LineupRemoval::NotInLineup => Err(DomainError::not_found(
                Code::NotInLineup,
                format!("product {product} is not in this show's lineup"),
            )
            .into()),
            LineupRemoval::Pinned => Err(DomainError::conflict(
                Code::ProductPinned,
                "the product is pinned in this show; unpin it first",
            )
            .into()),
        }
    }

    /// How many products each show's lineup holds, in the order of `shows`.
    pub async fn lineup_counts(&self, shows: &[Show]) -> CatalogResult<Vec<u64>> {
        let lineups =
            futures::future::try_join_all(shows.iter().map(|show| self.catalog.lineup(show)))
                .await?;
        Ok(lineups.iter().map(|l| l.len() as u64).collect())
    }
}

/// `now`, or just after `earlier` if the clock has not moved past it: every edit gets a new
/// version, so the store's check of the version always sees a concurrent one.
fn later_than(now: Timestamp, earlier: Timestamp) -> Timestamp {
    now.max(earlier + chrono::Duration::nanoseconds(1))
}
