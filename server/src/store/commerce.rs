//! Types the commerce part of the `Store` trait speaks in.

use crate::domain::commerce::{DealState, Order, Pin};
use crate::domain::{CreatorId, DomainError, Timestamp, ViewerId};

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
    pub order_id: uuid::Uuid,
    pub now: Timestamp,
    /// How long stock stays reserved for the payment.
    pub reserve_for: chrono::Duration,
    /// The buyer's client address, held to [`crate::domain::commerce::check_address_allowance`];
    /// `None`: no address limit.
    pub address: Option<AddressAllowance>,
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
    Paid { at: Timestamp },
    Failed { reason: String },
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
