//! The commerce area of the store: pins and their deals' live numbers, carts, the checkout,
//! orders and their reservations, webhooks, the outbox and the log of webhook deliveries
//! ([`CommerceStore`]), and the types it speaks in.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::commerce::{CartLine, CartLines, DealState, Delivery, Order, Pin, Shipping};
use crate::domain::{
    CreatorId, DomainError, OrderId, ProductId, Show, ShowId, Timestamp, ViewerId,
};

/// A pin with its deal's live numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinState {
    pub pin: Pin,
    pub deal: DealState,
}

/// One checkout attempt.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub viewer: ViewerId,
    /// The name the room's purchase event shows ("Someone" when the buyer opted out).
    pub buyer_name: String,
    /// The client's `Idempotency-Key`.
    pub key: String,
    /// Digest of the request body; a reused key with another body is refused.
    pub body_fingerprint: String,
    /// The id the order gets if one is created.
    pub order_id: OrderId,
    pub now: Timestamp,
    /// How long stock stays reserved for the payment.
    pub reserve_for: chrono::Duration,
    /// The buyer's client address, held to [`crate::domain::commerce::check_address_allowance`];
    /// `None`: no address limit.
    pub address: Option<AddressAllowance>,
    /// The buyer's email and shipping address (already checked), kept with the order whatever
    /// the payment provider.
    pub email: Option<String>,
    pub shipping: Option<Box<Shipping>>,
}

/// A client address and how many buyers' allowances of each deal it may use
/// (`--deal-buyers-per-address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressAllowance {
    /// [`crate::domain::commerce::address_key`] of the address.
    pub key: String,
    pub buyers: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckoutOutcome {
    /// Stock is reserved and the order is pending payment; the cart was emptied.
    Created(Order),
    /// The key was used before with the same cart and body: that order, as it is now.
    Replayed(Order),
    /// The key was used before with a different cart or body.
    KeyReused,
    /// A rule refused it (empty cart, sold out, over the limit, deal ended, …); nothing changed.
    Refused(DomainError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    Paid {
        at: Timestamp,
    },
    /// The payment failed at `at` (the time of the `order.failed` event).
    Failed {
        reason: String,
        at: Timestamp,
    },
}

/// A merchant's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Webhook {
    pub url: String,
    /// Key of the HMAC-SHA256 signature of each delivery.
    pub secret: String,
}

/// An order event waiting for delivery to the creator's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Unique, stable id: receivers deduplicate deliveries on it.
    pub id: String,
    pub creator: CreatorId,
    /// `order.created`, `order.paid`, `order.failed` or `order.expired`.
    pub kind: String,
    /// The JSON body to deliver.
    pub body: String,
}

/// The JSON body of an order event.
pub fn event_body(id: &str, kind: &str, at: Timestamp, order: &Order) -> String {
    serde_json::json!({ "id": id, "type": kind, "created_at": at, "order": order }).to_string()
}

/// A stable digest of a cart's content, for idempotency checks.
pub fn cart_fingerprint(lines: &crate::domain::commerce::CartLines) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (product, line) in lines {
        h.update(format!(
            "{product}:{}:{:?};",
            line.quantity,
            line.deal_ends_at.map(|t| t.timestamp_millis())
        ));
    }
    format!("{:x}", h.finalize())
}

/// Selling in a show: pins, carts, the atomic checkout, orders, and the merchant's outbox.
#[async_trait]
pub trait CommerceStore: Send + Sync + 'static {
    /// The show's pins in the order they were pinned, with their deals' live numbers.
    async fn pins(&self, show: &Show) -> Result<Vec<PinState>, StoreError>;

    /// Pins (or re-pins) `pin.product_id`, applying `domain::commerce::add_pin` against the
    /// stored lineup and pins atomically. A pin with a deal starts that deal afresh: its
    /// remaining quantity is the deal's quantity and no buyer has bought in it yet (units of an
    /// earlier deal stay sold). Returns the new pins, or the rule's refusal.
    async fn pin(
        &self,
        show: &Show,
        pin: &Pin,
    ) -> Result<Result<Vec<PinState>, DomainError>, StoreError>;

    /// Unpins a product; `None` when it was not pinned.
    async fn unpin(
        &self,
        show: &Show,
        product: ProductId,
    ) -> Result<Option<Vec<PinState>>, StoreError>;

    /// The viewer's cart in the show (empty when none or expired).
    async fn cart(&self, show: &Show, viewer: ViewerId) -> Result<CartLines, StoreError>;

    /// Sets (`Some`) or removes (`None`) one cart line, and refreshes the cart's lifetime.
    async fn set_cart_line(
        &self,
        show: &Show,
        viewer: ViewerId,
        product: ProductId,
        line: Option<CartLine>,
    ) -> Result<(), StoreError>;

    /// Gives a failed or expired order's lines back to the viewer's cart
    /// ([`crate::domain::commerce::give_back`]: products in the cart since stay as they are).
    async fn give_back_cart(
        &self,
        show: &Show,
        viewer: ViewerId,
        lines: &CartLines,
    ) -> Result<(), StoreError>;

    /// Deal units of `product` that the viewer bought or holds reserved in the current deal.
    async fn deal_bought(
        &self,
        show: &Show,
        product: ProductId,
        viewer: ViewerId,
    ) -> Result<i64, StoreError>;

    /// The checkout, as one atomic step, judged by the stored show
    /// (`domain::commerce::SalesChannel::of`): a cancelled show is the refusal
    /// `show_cancelled`; the order's channel is `replay` when the show has ended, else `live`.
    /// With a known idempotency key, the earlier order (same
    /// cart — or the cart this checkout emptied — and same body) or `KeyReused`. Otherwise read
    /// the cart and, for each line, the product's stock, its pin, the deal's remaining units
    /// and the buyer's deal count; apply `domain::commerce::plan_checkout`; and on success
    /// take the stock, deal units and buyer counts, store the order as pending payment with
    /// its reservation deadline and the key, append an `order.created` outbox event, and empty
    /// the cart. A refusal changes nothing.
    async fn checkout(
        &self,
        show: &Show,
        req: &CheckoutRequest,
    ) -> Result<CheckoutOutcome, StoreError>;

    /// Settles a pending order atomically: paid (appends `order.paid`), or failed (returns its
    /// stock, deal units and buyer counts; appends `order.failed`). An order that is not
    /// pending any more is returned as it is. `None` for an unknown order.
    async fn complete_order(
        &self,
        show: &Show,
        order: OrderId,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError>;

    /// [`Self::complete_order`] for an order the checkout just answered with: `placed` is
    /// that answer. The outcome is exactly `complete_order(show, placed.id, outcome)`'s (the
    /// stored order is what gets settled); a store may use `placed` to skip reading the order
    /// first (RedisStore declares the script's keys from it, and reads only if the stored
    /// order needs other keys).
    async fn complete_placed_order(
        &self,
        show: &Show,
        placed: &Order,
        outcome: &Completion,
    ) -> Result<Option<Order>, StoreError> {
        self.complete_order(show, placed.id, outcome).await
    }

    /// Expires the show's pending orders whose reservation ended before `now`: returns their
    /// stock like a failure, marks them expired, appends `order.expired`. Returns them.
    async fn expire_reservations(
        &self,
        show: &Show,
        now: Timestamp,
    ) -> Result<Vec<Order>, StoreError>;

    /// Shows that have had reservations (the sweeper visits these).
    async fn shows_with_reservations(&self) -> Result<Vec<ShowId>, StoreError>;

    /// The show's orders, oldest first.
    async fn orders(&self, show: &Show) -> Result<Vec<Order>, StoreError>;

    /// One viewer's orders in the show, oldest first.
    async fn viewer_orders(&self, show: &Show, viewer: ViewerId) -> Result<Vec<Order>, StoreError>;

    async fn order(&self, show: &Show, id: OrderId) -> Result<Option<Order>, StoreError>;

    /// Sets or removes a creator's webhook.
    async fn set_webhook(
        &self,
        creator: CreatorId,
        hook: Option<&Webhook>,
    ) -> Result<(), StoreError>;

    async fn webhook(&self, creator: CreatorId) -> Result<Option<Webhook>, StoreError>;

    /// Creators with a webhook (the delivery worker visits these).
    async fn webhook_creators(&self) -> Result<Vec<CreatorId>, StoreError>;

    /// Up to `max` of the creator's undelivered events, oldest first. An event stays here until
    /// acknowledged, across restarts (at-least-once delivery).
    async fn outbox_pending(
        &self,
        creator: CreatorId,
        max: usize,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    /// Marks an event delivered.
    async fn outbox_ack(&self, creator: CreatorId, event_id: &str) -> Result<(), StoreError>;

    /// Appends an event that is no order's step (the creator's `test` event, whose body is an
    /// order-like sample) to the creator's outbox under the id `event_id`, delivered like any
    /// other.
    async fn queue_event(
        &self,
        creator: CreatorId,
        event_id: &str,
        kind: &str,
        at: Timestamp,
        sample: &Order,
    ) -> Result<(), StoreError>;

    /// Records an event's delivery in the creator's log, atomically by
    /// [`crate::domain::commerce::record_delivery`]'s rule (one entry per event, newest first,
    /// bounded).
    async fn record_delivery(
        &self,
        creator: CreatorId,
        delivery: &Delivery,
    ) -> Result<(), StoreError>;

    /// The creator's delivery log, newest first.
    async fn deliveries(&self, creator: CreatorId) -> Result<Vec<Delivery>, StoreError>;
}
