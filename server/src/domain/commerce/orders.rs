//! Orders: their lines, their status, their sales channel, and the record a checkout stores.
//! The buyer's email, shipping address and payment reference are optional and absent from the
//! JSON when unset, so orders stored before they existed still decode (and are written back
//! without them); the channel, newer, reads as `live` when absent and is always written.

use super::buyer::{PaymentRef, Shipping};
use crate::domain::{
    Code, DomainError, Money, OrderId, ProductId, ShowId, ShowStatus, Timestamp, ViewerId,
};

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    /// Bought at the deal price (counts against the deal's quantity and per-buyer limit).
    pub deal: bool,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Stock is reserved; the payment is being taken.
    PendingPayment,
    Paid,
    /// The payment was declined or failed; the stock went back.
    Failed,
    /// The reservation ran out before the payment finished; the stock went back.
    Expired,
    /// The creator refunded the paid order; the stock went back.
    Refunded,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Failed => "failed",
            OrderStatus::Expired => "expired",
            OrderStatus::Refunded => "refunded",
        }
    }
}

/// Where an order was sold: in the live show (or before it), or from its replay after the end.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SalesChannel {
    #[default]
    Live,
    Replay,
}

impl SalesChannel {
    pub fn as_str(self) -> &'static str {
        match self {
            SalesChannel::Live => "live",
            SalesChannel::Replay => "replay",
        }
    }

    /// The channel a cart change or a checkout in a show of `status` sells through: `live`
    /// while the show is scheduled or live, `replay` once it has ended; a cancelled show sells
    /// nothing (409 `show_cancelled`). The one rule of who sells: the services and the memory
    /// store call it, the Redis checkout script (`lua/checkout.lua`) mirrors it, and
    /// tests/checkout_differential.rs holds the two stores to the same answers.
    pub fn of(status: ShowStatus) -> Result<SalesChannel, DomainError> {
        match status {
            ShowStatus::Scheduled | ShowStatus::Live => Ok(SalesChannel::Live),
            ShowStatus::Ended => Ok(SalesChannel::Replay),
            ShowStatus::Cancelled => Err(DomainError::conflict(
                Code::ShowCancelled,
                "this show was cancelled",
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Order {
    #[schema(value_type = String, format = Uuid)]
    pub id: OrderId,
    pub show_id: ShowId,
    pub viewer_id: ViewerId,
    /// The name shown in the room's purchase event ("Someone" when the buyer opted out).
    pub buyer_name: String,
    pub status: OrderStatus,
    pub items: Vec<OrderLine>,
    pub total: Money,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    /// Until when the reserved stock is held for the payment.
    #[schema(value_type = String, format = DateTime)]
    pub reserved_until: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub paid_at: Option<Timestamp>,
    /// Why a failed order failed (e.g. the card was declined).
    pub failure: Option<String>,
    /// Where the buyer gets the receipt (set with the payment, absent before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(format = Email, max_length = 254)]
    pub email: Option<String>,
    /// Where the order is sent (boxed: an order travels in enums whose other variants are
    /// small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping: Option<Box<Shipping>>,
    /// The payment at its processor (a Stripe PaymentIntent); absent with the built-in test
    /// provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<PaymentRef>,
    /// When the creator refunded the order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub refunded_at: Option<Timestamp>,
    /// Where it was sold: `live`, or `replay` when its show had ended (orders stored before
    /// channels existed read as `live`).
    #[serde(default)]
    pub channel: SalesChannel,
}
