//! The Stripe objects livesale reads, with only the fields it needs, following the API
//! reference's object pages (<https://docs.stripe.com/api/payment_intents/object>,
//! `/api/refunds/object`, `/api/customers/object`, `/api/setup_intents/object`,
//! `/api/payment_methods/object`, `/api/pagination`). Parsing is lenient, as Stripe asks of
//! integrations ("API upgrades": new fields and enum values may appear at any time): unknown
//! fields are ignored, missing ones take their defaults, unknown statuses parse as `Unknown`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::amount::{self, AmountError};
use crate::domain::{Money, OrderId, ShowId, ViewerId};

/// The metadata keys livesale writes on its PaymentIntents and Customers.
pub const ORDER_ID: &str = "order_id";
pub const SHOW_ID: &str = "show_id";
pub const VIEWER_ID: &str = "viewer_id";

/// A PaymentIntent's `status` (<https://docs.stripe.com/payments/paymentintents/lifecycle>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    RequiresCapture,
    Canceled,
    Succeeded,
    #[default]
    #[serde(other)]
    Unknown,
}

/// Why the last attempt to pay failed (`last_payment_error`, the API's error object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PaymentError {
    #[serde(rename = "type")]
    pub type_: Option<String>,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct PaymentIntent {
    pub id: String,
    pub status: PaymentIntentStatus,
    /// In Stripe's unit for `currency` (see [`PaymentIntent::money`]).
    pub amount: i64,
    /// Lowercase ISO code, as Stripe writes it.
    pub currency: String,
    pub client_secret: Option<String>,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub last_payment_error: Option<PaymentError>,
    /// What the payer must do next (3-D Secure): present when `status` is `requires_action`.
    pub next_action: Option<serde_json::Value>,
    pub created: i64,
}

impl PaymentIntent {
    /// The amount as `Money` (Stripe's units undone, see `amount.rs`).
    pub fn money(&self) -> Result<Money, AmountError> {
        amount::from_stripe(self.amount, &self.currency)
    }

    /// The order this intent pays for, from its metadata (`None` when absent or not an id).
    pub fn order_id(&self) -> Option<OrderId> {
        self.metadata.get(ORDER_ID)?.parse().ok()
    }

    pub fn show_id(&self) -> Option<ShowId> {
        self.metadata.get(SHOW_ID)?.parse().ok()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Refund {
    pub id: String,
    /// `pending`, `requires_action`, `succeeded`, `failed` or `canceled`.
    pub status: Option<String>,
    pub amount: i64,
    pub currency: String,
    pub payment_intent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Customer {
    pub id: String,
    pub email: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

impl Customer {
    pub fn viewer_id(&self) -> Option<ViewerId> {
        self.metadata.get(VIEWER_ID)?.parse().ok()
    }
}

/// A SetupIntent's `status` (<https://docs.stripe.com/payments/setupintents/lifecycle>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetupIntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Processing,
    Canceled,
    Succeeded,
    #[default]
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SetupIntent {
    pub id: String,
    pub status: SetupIntentStatus,
    pub client_secret: Option<String>,
    pub customer: Option<String>,
    pub payment_method: Option<String>,
}

/// The card of a saved payment method, as a viewer may see it ("Visa ending 4242").
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Card {
    /// The same for every payment method of one card number (Stripe's `card.fingerprint`).
    pub fingerprint: Option<String>,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct PaymentMethod {
    pub id: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub card: Option<Card>,
    pub customer: Option<String>,
}

/// A page of a list (`GET /v1/…` answers `{"object":"list","data":[…],"has_more":…}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct List<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            data: Vec::new(),
            has_more: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_intent_parses_leniently() {
        let order = uuid::Uuid::new_v4();
        let pi: PaymentIntent = serde_json::from_value(serde_json::json!({
            "id": "pi_1", "object": "payment_intent", "status": "succeeded",
            "amount": 500, "currency": "isk", "customer": null,
            "metadata": {"order_id": order.to_string(), "show_id": "not-a-uuid"},
            "latest_charge": {"id": "ch_1", "object": "charge"},
            "some_future_field": [1, 2, 3],
        }))
        .unwrap();
        assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
        assert_eq!(pi.money().unwrap(), Money::price(5, "ISK").unwrap());
        assert_eq!(pi.order_id(), Some(OrderId(order)));
        assert_eq!(pi.show_id(), None);
        assert_eq!(pi.customer, None);

        let odd: PaymentIntent =
            serde_json::from_value(serde_json::json!({"id": "pi_2", "status": "brand_new"}))
                .unwrap();
        assert_eq!(odd.status, PaymentIntentStatus::Unknown);
        assert_eq!(odd.order_id(), None);
        assert!(odd.money().is_err());
    }

    #[test]
    fn a_list_of_payment_methods_parses() {
        let list: List<PaymentMethod> = serde_json::from_value(serde_json::json!({
            "object": "list", "has_more": false, "url": "/v1/payment_methods",
            "data": [{"id": "pm_1", "type": "card", "customer": "cus_1",
                      "card": {"brand": "visa", "last4": "4242", "exp_month": 12,
                               "exp_year": 2030, "fingerprint": "x"}}],
        }))
        .unwrap();
        assert_eq!(list.data.len(), 1);
        assert_eq!(
            list.data[0].card.as_ref().unwrap().last4.as_deref(),
            Some("4242")
        );
    }
}
