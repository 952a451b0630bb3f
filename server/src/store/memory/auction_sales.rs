//! MemoryStore's sales area: a closed lot's offers and their orders, under the one lock (the
//! order kept with the show's orders exactly as a checkout keeps it).

use async_trait::async_trait;

use super::{MemoryStore, State};
use crate::domain::auction::AuctionId;
use crate::domain::commerce::{Order, OrderLine, OrderStatus, SalesChannel};
use crate::domain::{Code, CreatorId, DomainError, Show, ShowId, Timestamp};
use crate::store::StoreError;
use crate::store::auction_sales::{
    AuctionSaleStore, DueSale, NewOffer, Offer, OfferOutcome, Offered, Sale, Settled,
};
use crate::store::commerce::OutboxEvent;

/// The refusal of an offer made out of turn (the one before still waits, or is missing).
pub(crate) fn out_of_turn(number: u32) -> DomainError {
    DomainError::conflict(
        Code::IllegalTransition,
        format!("offer {number} cannot be made: the offer before it is not settled"),
    )
}

impl State {
    /// [`AuctionSaleStore::offer`], under the lock.
    fn make_offer(&mut self, show: &Show, new: &NewOffer) -> Result<Offered, DomainError> {
        let key = (show.id, new.auction);
        let sale = self.sales.get(&key);
        if let Some(made) = sale.and_then(|s| s.offers.iter().find(|o| o.number == new.number)) {
            if let Some(order) = self.order(show.id, made.order) {
                return Ok(Offered::Existing(order.clone()));
            }
        }
        let in_turn = match sale {
            None => new.number == 0,
            Some(s) => s.waiting().is_none() && s.offers.len() == new.number as usize,
        };
        if !in_turn {
            return Err(out_of_turn(new.number));
        }
        // From the stored record: a show that ended a moment ago sells from its replay.
        let status = self.shows.get(&show.id).map(|stored| stored.status);
        let channel = status
            .map(SalesChannel::of)
            .transpose()?
            .unwrap_or_default();
        let product = self
            .products
            .get_mut(&new.product)
            .filter(|p| p.creator_id == show.creator_id)
            .ok_or_else(|| {
                DomainError::not_found(Code::ProductNotFound, "the lot's product is gone")
            })?;
        if product.stock < 1 {
            return Err(DomainError::conflict(
                Code::SoldOut,
                format!("{} is sold out", product.title),
            ));
        }
        product.stock -= 1;
        let order = sale_order(show, new, &product.title, channel);
        self.orders.entry(show.id).or_default().push(order.clone());
        self.reservation_shows.insert(show.id);
        self.push_event(show.creator_id, "order.created", new.now, &order);
        let sale = self.sales.entry(key).or_insert_with(|| Sale {
            show: show.id,
            creator: show.creator_id,
            auction: new.auction,
            offers: Vec::new(),
        });
        sale.offers.push(Offer {
            number: new.number,
            buyer: new.buyer.clone(),
            price: new.price,
            order: order.id,
            deadline: new.deadline,
            outcome: OfferOutcome::Waiting,
        });
        Ok(Offered::Created(order))
    }
}

/// The order of an offer: one line, the lot's product, quantity 1, at the offer's price.
pub(crate) fn sale_order(show: &Show, new: &NewOffer, title: &str, channel: SalesChannel) -> Order {
    Order {
        id: new.order_id,
        show_id: show.id,
        viewer_id: new.buyer.viewer_id,
        buyer_name: new.buyer.name.clone(),
        status: OrderStatus::PendingPayment,
        items: vec![OrderLine {
            product_id: new.product,
            title: title.to_string(),
            quantity: 1,
            unit_price: new.price,
            deal: false,
        }],
        total: new.price,
        created_at: new.now,
        reserved_until: new.reserved_until,
        paid_at: None,
        failure: None,
        email: None,
        shipping: None,
        payment: None,
        refunded_at: None,
        channel,
    }
}

#[async_trait]
impl AuctionSaleStore for MemoryStore {
    async fn offer(
        &self,
        show: &Show,
        offer: &NewOffer,
    ) -> Result<Result<Offered, DomainError>, StoreError> {
        Ok(self.with(|s| s.make_offer(show, offer)))
    }

    async fn settle_offer(
        &self,
        show: &Show,
        auction: AuctionId,
        number: u32,
        outcome: OfferOutcome,
        next: Option<&NewOffer>,
    ) -> Result<Option<Settled>, StoreError> {
        Ok(self.with(|s| {
            let sale = s.sales.get_mut(&(show.id, auction))?;
            let offer = sale.offers.iter_mut().find(|o| o.number == number)?;
            if offer.outcome != OfferOutcome::Waiting || outcome == OfferOutcome::Waiting {
                return Some(Settled {
                    changed: false,
                    sale: sale.clone(),
                    next: None,
                });
            }
            offer.outcome = outcome;
            let next = next.map(|n| s.make_offer(show, n).map(|o| o.order().clone()));
            let sale = s.sales.get(&(show.id, auction))?.clone();
            Some(Settled {
                changed: true,
                sale,
                next,
            })
        }))
    }

    async fn sale(&self, show: &Show, auction: AuctionId) -> Result<Option<Sale>, StoreError> {
        Ok(self.with(|s| s.sales.get(&(show.id, auction)).cloned()))
    }

    async fn due_sales(&self, now: Timestamp) -> Result<Vec<DueSale>, StoreError> {
        Ok(self.with(|s| {
            let mut due: Vec<(Timestamp, DueSale)> = s
                .sales
                .values()
                .filter_map(|sale| {
                    let waiting = sale.waiting().filter(|o| o.deadline <= now)?;
                    Some((waiting.deadline, due_sale(sale)))
                })
                .collect();
            due.sort_by_key(|(at, d)| (*at, d.auction));
            due.into_iter().map(|(_, d)| d).collect()
        }))
    }

    async fn queue_body_event(
        &self,
        creator: CreatorId,
        event_id: &str,
        kind: &str,
        _at: Timestamp,
        body: &str,
    ) -> Result<(), StoreError> {
        let event = OutboxEvent {
            id: event_id.to_string(),
            creator,
            kind: kind.to_string(),
            body: body.to_string(),
        };
        self.with(|s| s.outbox.entry(creator).or_default().push_back(event));
        Ok(())
    }
}

fn due_sale(sale: &Sale) -> DueSale {
    DueSale {
        show: sale.show,
        creator: sale.creator,
        auction: sale.auction,
    }
}

/// Keeps `ShowId` in this file's vocabulary for the state's key.
pub(super) type SaleKey = (ShowId, AuctionId);
