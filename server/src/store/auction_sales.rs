//! The sales area of the store ([`AuctionSaleStore`]): what happens to a closed lot's sale. A
//! sold lot is offered to its winner, then (if they do not pay) to the runner-up; each offer
//! is an order (one line: the lot's product, quantity 1, at the offer's price, stock taken,
//! pending payment, kept with the show's other orders exactly as a checkout keeps them) and a
//! deadline. The sale's record says who was offered the lot at what price, which order, until
//! when, and how it ended, so the step to the next offer happens once across nodes: an offer
//! is settled by a compare-and-set, and the next order is created in the same atomic step.
//!
//! Also the merchant's outbox entries that are no order's step (`auction.closed`, whose body
//! carries the result and the bid log).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::auction::{AuctionId, Bidder};
use crate::domain::commerce::Order;
use crate::domain::{CreatorId, DomainError, Money, OrderId, ProductId, Show, ShowId, Timestamp};

/// How an offer ended (or that it still waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OfferOutcome {
    /// The buyer may still pay, until the deadline.
    Waiting,
    /// The order was paid.
    Paid,
    /// The card was declined (or the charge failed).
    Declined,
    /// The deadline passed without a payment.
    Lapsed,
}

/// One offer of a lot: the winner's (number 0) or the runner-up's (1).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Offer {
    pub number: u32,
    pub buyer: Bidder,
    /// The price, in the lot's currency.
    pub price: Money,
    pub order: OrderId,
    /// Until when the buyer may pay.
    pub deadline: Timestamp,
    pub outcome: OfferOutcome,
}

/// A closed lot's sale: its offers, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sale {
    pub show: ShowId,
    pub creator: CreatorId,
    pub auction: AuctionId,
    pub offers: Vec<Offer>,
}

impl Sale {
    /// The latest offer.
    pub fn current(&self) -> Option<&Offer> {
        self.offers.last()
    }

    /// The offer still waiting for its buyer, if any.
    pub fn waiting(&self) -> Option<&Offer> {
        self.current()
            .filter(|o| o.outcome == OfferOutcome::Waiting)
    }
}

/// A new offer and its order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOffer {
    pub auction: AuctionId,
    /// 0 for the winner, 1 for the runner-up: one offer (and one order) per number.
    pub number: u32,
    pub buyer: Bidder,
    pub product: ProductId,
    pub price: Money,
    /// The id the order gets if it is created.
    pub order_id: OrderId,
    pub now: Timestamp,
    /// When the offer lapses.
    pub deadline: Timestamp,
    /// Until when the order holds its stock (at or after the deadline: the sale settles the
    /// order itself, the reservation sweeper is the fallback).
    pub reserved_until: Timestamp,
}

/// The answer of [`AuctionSaleStore::offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Offered {
    /// The order was created now (stock taken, pending payment).
    Created(Order),
    /// The offer was made before (by this node or another): its order as it is now.
    Existing(Order),
}

impl Offered {
    pub fn order(&self) -> &Order {
        match self {
            Offered::Created(o) | Offered::Existing(o) => o,
        }
    }
}

/// The answer of [`AuctionSaleStore::settle_offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Whether this call settled the offer (`false`: it was settled before; nothing changed).
    pub changed: bool,
    pub sale: Sale,
    /// With a next offer, when this call settled: the next offer's order, or why it could not
    /// be made (sold out, the show cancelled).
    pub next: Option<Result<Order, DomainError>>,
}

/// A sale whose waiting offer has reached its deadline (the sales ticker's work).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueSale {
    pub show: ShowId,
    pub creator: CreatorId,
    pub auction: AuctionId,
}

#[async_trait]
pub trait AuctionSaleStore: Send + Sync + 'static {
    /// Makes offer `offer.number` of a lot, as one atomic step: with no such offer yet, its
    /// order is created (one line, quantity 1, unit price `price`; stock taken; pending
    /// payment until `reserved_until`; channel by `SalesChannel::of` of the stored show;
    /// `order.created` in the outbox) and the offer recorded as waiting. Offer 0 starts the
    /// sale; a later number needs the one before it settled. The same number again answers
    /// the existing order. Refused (nothing changed) when the product is sold out
    /// (`sold_out`) or unknown, the show cancelled, or the offer out of turn.
    async fn offer(
        &self,
        show: &Show,
        offer: &NewOffer,
    ) -> Result<Result<Offered, DomainError>, StoreError>;

    /// Settles waiting offer `number` of the lot's sale with `outcome` (not `Waiting`), and,
    /// when this call settled it and `next` is given, makes that next offer in the same atomic
    /// step (as [`Self::offer`] would). An offer settled before is left as it is
    /// (`changed: false`). `None` when the lot has no sale or no such offer.
    async fn settle_offer(
        &self,
        show: &Show,
        auction: AuctionId,
        number: u32,
        outcome: OfferOutcome,
        next: Option<&NewOffer>,
    ) -> Result<Option<Settled>, StoreError>;

    /// The lot's sale, if it has one.
    async fn sale(&self, show: &Show, auction: AuctionId) -> Result<Option<Sale>, StoreError>;

    /// Sales (of every show) with a waiting offer whose deadline is at or before `now`.
    async fn due_sales(&self, now: Timestamp) -> Result<Vec<DueSale>, StoreError>;

    /// Appends an event that is no order's step to the creator's outbox, with its whole JSON
    /// `body`, delivered like the order events (at least once, in order).
    async fn queue_body_event(
        &self,
        creator: CreatorId,
        event_id: &str,
        kind: &str,
        at: Timestamp,
        body: &str,
    ) -> Result<(), StoreError>;
}
