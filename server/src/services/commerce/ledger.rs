//! The creator's side of orders across all their shows (the dashboard's Orders and Settings):
//! the newest-first listing with its filters and pages, the CSV export, and the webhook's test
//! event and delivery log. Which orders a filter keeps, how pages and CSV rows are made, is
//! `domain::commerce::ledger`; this gathers the orders from the store, show by show.
//!
//! Cost: a listing reads every order of every show of the creator (or of the one show asked
//! for), a few shows at a time. That is what a dashboard of one creator needs today; an index
//! of orders per creator would make it a page read when a creator has very many orders.

use std::collections::HashMap;

use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use super::{CommerceError, CommerceService};
use crate::domain::access::{Action, authorize};
use crate::domain::commerce::{
    CreatorOrder, Delivery, DeliveryOutcome, OrderFilter, TEST_EVENT, newest_first, orders_csv,
    page_before, test_order,
};
use crate::domain::{Code, CreatorId, Currency, DomainError, OrderId, Principal, Show};
use crate::store::{Page, PageAfter};

/// Shows whose orders are read at once.
const SHOWS_AT_ONCE: usize = 8;

impl CommerceService {
    /// The creator's orders newest first, one page after `before` (creators; another
    /// creator's show in the filter is 403 `wrong_show`).
    pub async fn creator_orders(
        &self,
        who: Option<&Principal>,
        filter: OrderFilter,
        before: Option<PageAfter>,
        limit: usize,
    ) -> Result<Page<CreatorOrder>, CommerceError> {
        let (_, orders) = self.ledger(who, filter).await?;
        let before = before.map(|b| (b.at, b.id));
        let (items, more) = page_before(orders, before, limit);
        Ok(Page { items, more })
    }

    /// The CSV export of the creator's orders (newest first, one row per order line).
    pub async fn creator_orders_csv(
        &self,
        who: Option<&Principal>,
        filter: OrderFilter,
    ) -> Result<Vec<u8>, CommerceError> {
        let (creator, orders) = self.ledger(who, filter).await?;
        let skus: HashMap<_, _> = self
            .catalog
            .products(creator)
            .await?
            .into_iter()
            .map(|p| (p.id, p.sku))
            .collect();
        Ok(orders_csv(&orders, &skus))
    }

    /// The caller's orders that `filter` keeps, newest first, with their shows' titles.
    async fn ledger(
        &self,
        who: Option<&Principal>,
        filter: OrderFilter,
    ) -> Result<(CreatorId, Vec<CreatorOrder>), CommerceError> {
        let creator = creator_of(who)?;
        let shows: Vec<Show> = match filter.show {
            Some(id) => vec![self.show_for(who, id, Action::ManageShow).await?],
            None => self.shows.creator_shows(creator).await?,
        };
        let commerce = &self.commerce;
        let per_show: Vec<(Show, Vec<_>)> = futures::stream::iter(shows)
            .map(|show| async move {
                let orders = commerce.orders(&show).await?;
                Ok::<_, crate::store::StoreError>((show, orders))
            })
            .buffered(SHOWS_AT_ONCE)
            .try_collect()
            .await?;
        let mut out = Vec::new();
        for (show, orders) in per_show {
            out.extend(
                orders
                    .into_iter()
                    .filter(|o| filter.keeps(o))
                    .map(|order| CreatorOrder {
                        order,
                        show_title: show.title.clone(),
                    }),
            );
        }
        newest_first(&mut out);
        Ok((creator, out))
    }

    /// Queues a `test` event (an order-like sample) to the creator's webhook through the
    /// normal delivery path, and logs it as pending; 409 `no_webhook` without a webhook.
    pub async fn send_test_event(&self, creator: CreatorId) -> Result<String, CommerceError> {
        if self.commerce.webhook(creator).await?.is_none() {
            return Err(DomainError::conflict(
                Code::NoWebhook,
                "no webhook is set; set one with PUT /api/webhook first",
            )
            .into());
        }
        let now = self.clock.now();
        let sample = test_order(OrderId(Uuid::now_v7()), Currency::parse("USD")?, now);
        let event_id = Uuid::now_v7().to_string();
        let pending = Delivery {
            event_id: event_id.clone(),
            kind: TEST_EVENT.into(),
            at: now,
            outcome: DeliveryOutcome::Pending,
            http_status: None,
            attempts: 0,
            error: None,
        };
        // Logged before it is queued, so the worker's entry for it always comes after.
        self.commerce.record_delivery(creator, &pending).await?;
        self.commerce
            .queue_event(creator, &event_id, TEST_EVENT, now, &sample)
            .await?;
        Ok(event_id)
    }

    /// The creator's last deliveries, newest first.
    pub async fn deliveries(&self, creator: CreatorId) -> Result<Vec<Delivery>, CommerceError> {
        Ok(self.commerce.deliveries(creator).await?)
    }
}

/// The calling creator: 401 without a token, 403 `forbidden_role` for anyone else.
fn creator_of(who: Option<&Principal>) -> Result<CreatorId, DomainError> {
    authorize(who, Action::ManageCatalog, None)?;
    match who {
        Some(Principal::Creator { creator_id }) => Ok(*creator_id),
        _ => Err(DomainError::forbidden(
            Code::ForbiddenRole,
            "only creators have orders",
        )),
    }
}
