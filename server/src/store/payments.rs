//! The payments area of the store: what a card payment at a processor (Stripe) needs kept
//! beside the orders ([`PaymentStore`]): the PaymentIntent attached to a pending order and the
//! index back from it, the processor's webhook events already handled, refunds, and a
//! viewer's saved customer per creator. It makes no processor calls.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::commerce::{
    Order, PaymentIntentId, PaymentRef, Shipping, StripeCustomerId, StripeEventId,
};
use crate::domain::{CreatorId, DomainError, OrderId, Show, ShowId, Timestamp, ViewerId};

/// How long a processed webhook event id is remembered. Stripe retries a failed delivery for
/// up to three days, so a week covers every retry with room to spare.
pub const EVENT_MEMORY: chrono::Duration = chrono::Duration::days(7);

/// What a payment attaches to its pending order: the buyer's email and address (checked by
/// `domain::commerce::email` and `Shipping::checked` before they get here) and the
/// processor's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAttachment {
    pub email: Option<String>,
    pub shipping: Option<Box<Shipping>>,
    pub payment: PaymentRef,
}

/// The answer of [`PaymentStore::attach_payment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attached {
    /// The pending order now carries the attachment (it replaced an earlier one, whose
    /// intent still finds the order).
    Attached(Order),
    /// The order is no longer pending (paid, failed, expired, refunded): it is returned as it
    /// is and nothing changed.
    NotPending(Order),
    /// No such order in this show.
    NotFound,
}

/// Where an order paid by a PaymentIntent lives (answer of [`PaymentStore::intent_order`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntentOrder {
    pub creator: CreatorId,
    pub show: ShowId,
    pub order: OrderId,
}

/// Payment state kept with the orders.
#[async_trait]
pub trait PaymentStore: Send + Sync + 'static {
    /// Attaches a payment (and the buyer's email and address) to a pending order, atomically
    /// with respect to its settlement: a paid, failed, expired or refunded order is left as it
    /// is ([`Attached::NotPending`]). Attaching again (a new PaymentIntent after a decline, or
    /// a retry of the same call) replaces the order's reference; every intent ever attached
    /// keeps finding the order through [`Self::intent_order`].
    async fn attach_payment(
        &self,
        show: &Show,
        order: OrderId,
        attachment: &PaymentAttachment,
    ) -> Result<Attached, StoreError>;

    /// The order a PaymentIntent was attached to, if any. The webhook prefers the order and
    /// show ids of the intent's metadata; this index is the check (and the way back when the
    /// metadata is missing).
    async fn intent_order(
        &self,
        intent: &PaymentIntentId,
    ) -> Result<Option<IntentOrder>, StoreError>;

    /// Records a processor event as handled at `now`: `true` when it was new, `false` when it
    /// was already recorded in the last [`EVENT_MEMORY`] (a redelivery to skip). Atomic, so two
    /// nodes receiving the same event never both see it as new.
    async fn record_event(&self, event: &StripeEventId, now: Timestamp)
    -> Result<bool, StoreError>;

    /// Forgets a recorded event, so the processor's next delivery of it is handled again: for
    /// a handler that recorded the event and then failed (a store outage) before finishing.
    async fn forget_event(&self, event: &StripeEventId) -> Result<(), StoreError>;

    /// Refunds a paid order in one atomic step: it becomes `refunded` at `at`, its stock, deal
    /// units and buyer counts go back (deal units only to the deal they came from, like a
    /// failure), and an `order.refunded` outbox event is appended. An order that is not paid
    /// (pending, failed, expired, already refunded) is refused with 409
    /// `order_not_refundable` and nothing changes; an order not in this show (another show's,
    /// another creator's, unknown) is 404 `not_found`.
    async fn refund_order(
        &self,
        show: &Show,
        order: OrderId,
        at: Timestamp,
    ) -> Result<Result<Order, DomainError>, StoreError>;

    /// Saves (`Some`) or clears (`None`) the viewer's processor customer for one creator's
    /// shows: the card on file that one-tap buying pays with.
    async fn set_customer(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
        customer: Option<&StripeCustomerId>,
    ) -> Result<(), StoreError>;

    /// The viewer's saved customer with this creator, if any.
    async fn customer(
        &self,
        creator: CreatorId,
        viewer: ViewerId,
    ) -> Result<Option<StripeCustomerId>, StoreError>;
}

/// The refusal of refunding an order that is not paid.
pub fn not_refundable(order: &Order) -> DomainError {
    DomainError::conflict(
        crate::domain::Code::OrderNotRefundable,
        format!(
            "only a paid order can be refunded; this one is {}",
            order.status.as_str()
        ),
    )
}

/// The refusal of refunding an order that is not in the show.
pub fn order_not_found(order: OrderId) -> DomainError {
    DomainError::not_found(
        crate::domain::Code::NotFound,
        format!("no order {order} in this show"),
    )
}
