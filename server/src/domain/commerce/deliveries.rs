//! The log of a creator's webhook deliveries the dashboard shows ("the last deliveries with
//! their status"): one entry per event, updated by each attempt, newest first, at most
//! [`DELIVERIES_KEPT`]. The delivery worker records; both stores keep the same bounded list
//! by [`record_delivery`]'s rule.

use uuid::Uuid;

use super::{Order, OrderLine, OrderStatus, Shipping};
use crate::domain::{Currency, Money, OrderId, ProductId, ShowId, Timestamp, ViewerId};

/// Entries kept per creator.
pub const DELIVERIES_KEPT: usize = 50;
/// Longest error text kept with an entry.
pub const DELIVERY_ERROR_CHARS: usize = 300;

/// Where an event's delivery stands.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The receiver answered 2xx.
    Delivered,
    /// The receiver answered otherwise, or could not be reached; the worker retries.
    Failed,
    /// The destination may not be reached (a private address); nothing was sent.
    Refused,
    /// Queued, not attempted yet.
    Pending,
}

/// One event's delivery, as of its last attempt.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    /// The event's id (`X-Livesale-Delivery`).
    pub event_id: String,
    /// `order.created`, `order.paid`, …, or `test`.
    pub kind: String,
    /// When it was queued or last attempted.
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    pub outcome: DeliveryOutcome,
    /// The receiver's HTTP status, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Attempts so far (0 while pending; counted per process, like `X-Livesale-Attempt`).
    pub attempts: u32,
    /// Why the last attempt failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Delivery {
    /// `error` cut to [`DELIVERY_ERROR_CHARS`].
    pub fn with_error(mut self, error: Option<&str>) -> Self {
        self.error = error.map(|e| e.chars().take(DELIVERY_ERROR_CHARS).collect());
        self
    }
}

/// The kind of the event `POST /api/webhook/test` queues.
pub const TEST_EVENT: &str = "test";

/// The order-like body of a test event: a paid order of one sample line, with made-up buyer
/// details, in no show (nil show and viewer ids), so a receiver can exercise its parsing.
pub fn test_order(id: OrderId, currency: Currency, now: Timestamp) -> Order {
    let price = Money {
        amount: 1999,
        currency,
    };
    Order {
        id,
        show_id: ShowId(Uuid::nil()),
        viewer_id: ViewerId(Uuid::nil()),
        buyer_name: "Test Buyer".into(),
        status: OrderStatus::Paid,
        items: vec![OrderLine {
            product_id: ProductId(Uuid::nil()),
            title: "Test product".into(),
            quantity: 1,
            unit_price: price,
            deal: false,
        }],
        total: price,
        created_at: now,
        reserved_until: now,
        paid_at: Some(now),
        failure: None,
        email: Some("buyer@example.com".into()),
        shipping: Some(Box::new(Shipping {
            name: "Test Buyer".into(),
            line1: "1 Example Street".into(),
            line2: None,
            city: "Springfield".into(),
            postal_code: "12345".into(),
            country: "US".into(),
            state: Some("IL".into()),
        })),
        payment: None,
        refunded_at: None,
        channel: Default::default(),
    }
}

/// `log` (newest first) after `entry`: the event's earlier entry is replaced and the entry goes
/// first; beyond [`DELIVERIES_KEPT`] the oldest are dropped.
pub fn record_delivery(log: &mut Vec<Delivery>, entry: Delivery) {
    log.retain(|d| d.event_id != entry.event_id);
    log.insert(0, entry);
    log.truncate(DELIVERIES_KEPT);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: usize, outcome: DeliveryOutcome) -> Delivery {
        Delivery {
            event_id: id.to_string(),
            kind: "test".into(),
            at: Timestamp::default(),
            outcome,
            http_status: None,
            attempts: 1,
            error: None,
        }
    }

    #[test]
    fn an_event_has_one_entry_and_the_log_is_bounded() {
        let mut log = Vec::new();
        for i in 0..DELIVERIES_KEPT + 5 {
            record_delivery(&mut log, entry(i, DeliveryOutcome::Failed));
        }
        assert_eq!(log.len(), DELIVERIES_KEPT);
        assert_eq!(log[0].event_id, (DELIVERIES_KEPT + 4).to_string());
        record_delivery(&mut log, entry(20, DeliveryOutcome::Delivered));
        assert_eq!(log.len(), DELIVERIES_KEPT);
        assert_eq!(log[0].outcome, DeliveryOutcome::Delivered);
        assert_eq!(log.iter().filter(|d| d.event_id == "20").count(), 1);
        let long = entry(1, DeliveryOutcome::Failed).with_error(Some(&"x".repeat(1000)));
        assert_eq!(long.error.unwrap().len(), DELIVERY_ERROR_CHARS);
    }
}
