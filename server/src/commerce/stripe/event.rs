//! A Stripe webhook's body, the Event object (<https://docs.stripe.com/api/events/object>:
//! `id`, `type`, `created`, `data.object`), read after its signature was checked
//! (`signature.rs`). Only PaymentIntent events are typed (the types listed in
//! <https://docs.stripe.com/api/events/types> under `payment_intent.*` that the checkout acts
//! on); any other type parses as [`EventType::Other`] with its object unread, so callers answer
//! 200 and ignore it, and Stripe does not retry it. Parsing is lenient like `objects.rs`.

use serde::Deserialize;

use super::objects::PaymentIntent;

/// Largest body read as an event: Stripe's events are a few kilobytes.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

/// The event types livesale acts on; everything else is `Other` (its wire text kept for logs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventType {
    PaymentIntentSucceeded,
    PaymentIntentPaymentFailed,
    PaymentIntentCanceled,
    PaymentIntentRequiresAction,
    PaymentIntentProcessing,
    Other(String),
}

impl EventType {
    fn parse(text: &str) -> EventType {
        match text {
            "payment_intent.succeeded" => EventType::PaymentIntentSucceeded,
            "payment_intent.payment_failed" => EventType::PaymentIntentPaymentFailed,
            "payment_intent.canceled" => EventType::PaymentIntentCanceled,
            "payment_intent.requires_action" => EventType::PaymentIntentRequiresAction,
            "payment_intent.processing" => EventType::PaymentIntentProcessing,
            other => EventType::Other(other.chars().take(100).collect()),
        }
    }

    /// Whether `data.object` is a PaymentIntent.
    pub fn is_payment_intent(&self) -> bool {
        !matches!(self, EventType::Other(_))
    }
}

/// `data` of an event this module types: its `object`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventData {
    /// The PaymentIntent of a `payment_intent.*` event; `None` for [`EventType::Other`].
    pub object: Option<PaymentIntent>,
}

/// A Stripe event, as its webhook delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `evt_…`: the key that makes handling idempotent (Stripe may deliver an event twice).
    pub id: String,
    pub type_: EventType,
    /// Unix seconds when Stripe made the event (events may arrive out of order).
    pub created: i64,
    pub data: EventData,
}

/// Why a webhook body is not an event this module can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the event is larger than {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("the body is not a Stripe event: {0}")]
    Malformed(String),
}

#[derive(Deserialize)]
struct RawEvent {
    id: String,
    #[serde(rename = "type")]
    type_: String,
    #[serde(default)]
    created: i64,
    #[serde(default)]
    data: Option<RawData>,
}

#[derive(Deserialize)]
struct RawData {
    #[serde(default)]
    object: serde_json::Value,
}

impl Event {
    /// Reads a webhook's raw body (the bytes whose signature was verified).
    pub fn parse(body: &[u8]) -> Result<Event, EventError> {
        if body.len() > MAX_EVENT_BYTES {
            return Err(EventError::TooLarge);
        }
        let malformed = |e: serde_json::Error| EventError::Malformed(e.to_string());
        let raw: RawEvent = serde_json::from_slice(body).map_err(malformed)?;
        if raw.id.is_empty() || raw.type_.is_empty() {
            return Err(EventError::Malformed("no id or type".into()));
        }
        let type_ = EventType::parse(&raw.type_);
        let object = if type_.is_payment_intent() {
            let value = raw
                .data
                .map(|d| d.object)
                .filter(|o| o.is_object())
                .ok_or_else(|| EventError::Malformed("no data.object".into()))?;
            let intent: PaymentIntent = serde_json::from_value(value).map_err(malformed)?;
            if intent.id.is_empty() {
                return Err(EventError::Malformed("the PaymentIntent has no id".into()));
            }
            Some(intent)
        } else {
            None
        };
        Ok(Event {
            id: raw.id,
            type_,
            created: raw.created,
            data: EventData { object },
        })
    }

    /// The PaymentIntent this event is about, if it is a `payment_intent.*` event.
    pub fn payment_intent(&self) -> Option<&PaymentIntent> {
        self.data.object.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commerce::stripe::objects::PaymentIntentStatus;

    fn body(value: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn a_succeeded_payment_intent_event_parses() {
        let event = Event::parse(&body(serde_json::json!({
            "id": "evt_1", "object": "event", "type": "payment_intent.succeeded",
            "created": 1_700_000_000, "api_version": "2017-08-15", "livemode": false,
            "data": {"object": {"id": "pi_1", "object": "payment_intent", "status": "succeeded",
                "amount": 1999, "currency": "usd", "metadata": {"order_id": "x"},
                "charges": {"object": "list", "data": []}}},
        })))
        .unwrap();
        assert_eq!(event.id, "evt_1");
        assert_eq!(event.type_, EventType::PaymentIntentSucceeded);
        assert_eq!(event.created, 1_700_000_000);
        let pi = event.payment_intent().unwrap();
        assert_eq!(pi.id, "pi_1");
        assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
        assert_eq!(pi.amount, 1999);
        assert_eq!(pi.metadata.get("order_id").map(String::as_str), Some("x"));
    }

    #[test]
    fn other_event_types_parse_as_other_with_their_object_unread() {
        let event = Event::parse(&body(serde_json::json!({
            "id": "evt_2", "type": "customer.created", "created": 5,
            "data": {"object": {"id": 42, "weird": true}},
        })))
        .unwrap();
        assert_eq!(event.type_, EventType::Other("customer.created".into()));
        assert_eq!(event.payment_intent(), None);
        let failed = Event::parse(&body(serde_json::json!({
            "id": "evt_3", "type": "payment_intent.payment_failed",
            "data": {"object": {"id": "pi_3", "status": "requires_payment_method",
                "last_payment_error": {"code": "card_declined", "message": "Your card was declined."}}},
        })))
        .unwrap();
        assert_eq!(failed.type_, EventType::PaymentIntentPaymentFailed);
        let error = failed.payment_intent().unwrap().last_payment_error.clone();
        assert_eq!(error.unwrap().code.as_deref(), Some("card_declined"));
    }

    #[test]
    fn bodies_that_are_not_events_are_refused() {
        for bad in [
            b"".to_vec(),
            b"not json".to_vec(),
            b"[1,2]".to_vec(),
            body(serde_json::json!({"type": "payment_intent.succeeded"})),
            body(serde_json::json!({"id": "", "type": "x"})),
            body(serde_json::json!({"id": "evt", "type": "payment_intent.succeeded"})),
            body(
                serde_json::json!({"id": "evt", "type": "payment_intent.succeeded",
                "data": {"object": "pi_1"}}),
            ),
            body(
                serde_json::json!({"id": "evt", "type": "payment_intent.succeeded",
                "data": {"object": {"status": "succeeded"}}}),
            ),
            body(
                serde_json::json!({"id": "evt", "type": "payment_intent.succeeded",
                "data": {"object": {"id": "pi", "amount": "lots"}}}),
            ),
        ] {
            assert!(
                matches!(Event::parse(&bad), Err(EventError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(&bad)
            );
        }
        let huge = vec![b' '; MAX_EVENT_BYTES + 1];
        assert_eq!(Event::parse(&huge), Err(EventError::TooLarge));
    }
}
