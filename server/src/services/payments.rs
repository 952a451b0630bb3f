//! The payments service: what Stripe tells livesale through its webhook. A delivery's
//! signature is checked first (nothing is read before it, nothing changes without it), the
//! event is handled once per event id (the store records ids atomically, so two nodes or a
//! redelivery never both act), and a PaymentIntent's outcome moves its order:
//! `payment_intent.succeeded` settles it paid (then the room's `purchase` and `pin.updated`,
//! the merchant's `order.paid` webhook through the outbox, and the buyer's `order.updated`);
//! a success that arrives after the reservation lapsed is refunded at Stripe and logged; an
//! intent this server does not know is answered 200 and ignored, so Stripe does not retry it
//! for days. Other event types are acknowledged and ignored.

use std::sync::Arc;

use crate::clock::SharedClock;
use crate::commerce::stripe::{
    Event, EventError, EventType, PaymentIntent, Secret, SignatureError, StripeClient, StripeError,
    signature,
};
use crate::domain::commerce::{Order, OrderStatus, StripeEventId};
use crate::domain::{OrderId, Show};
use crate::hub::Hub;
use crate::store::{
    CatalogStore, CommerceStore, Completion, PaymentStore, SharedStore, ShowStore, StoreError,
};

/// The Stripe side of the service: the webhook's signing secret and the API client (for
/// refunds of late successes).
pub struct StripeWebhook {
    pub secret: Secret,
    pub client: StripeClient,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The order was settled paid.
    Paid(OrderId),
    /// The order's reservation had lapsed: the payment was refunded at Stripe.
    RefundedLate(OrderId),
    /// The event was handled before (a redelivery).
    Repeated,
    /// Nothing to do: another event type, an unknown intent, an order already settled.
    Ignored,
}

/// Why a webhook delivery was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// This server does not take Stripe payments.
    #[error("Stripe payments are not enabled on this server")]
    NotEnabled,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error(transparent)]
    Event(#[from] EventError),
    /// The store could not be asked: Stripe retries the delivery later.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Stripe could not be asked (a late payment's refund): Stripe retries the delivery later.
    #[error("Stripe could not be asked: {0}")]
    Stripe(#[from] StripeError),
}

/// Payments settled by the processor. Cheap to clone.
#[derive(Clone)]
pub struct PaymentsService {
    shows: Arc<dyn ShowStore>,
    catalog: Arc<dyn CatalogStore>,
    commerce: Arc<dyn CommerceStore>,
    paid: Arc<dyn PaymentStore>,
    hub: Arc<Hub>,
    clock: SharedClock,
    stripe: Option<Arc<StripeWebhook>>,
}

impl PaymentsService {
    /// Keeps, of `store`, only the areas this service uses; `stripe` is `None` unless
    /// `--payments stripe`.
    pub fn new(
        store: SharedStore,
        hub: Arc<Hub>,
        clock: SharedClock,
        stripe: Option<StripeWebhook>,
    ) -> Self {
        PaymentsService {
            shows: store.clone(),
            catalog: store.clone(),
            paid: store.clone(),
            commerce: store,
            hub,
            clock,
            stripe: stripe.map(Arc::new),
        }
    }

    /// Handles one delivery of Stripe's webhook: `signature` is its `Stripe-Signature`
    /// header, `payload` its body as received.
    pub async fn stripe_webhook(
        &self,
        signature: Option<&str>,
        payload: &[u8],
    ) -> Result<Handled, WebhookError> {
        let Some(stripe) = self.stripe.as_ref() else {
            // A delivery without a signature is refused as such, enabled or not.
            return Err(match signature {
                None => SignatureError::Missing.into(),
                Some(_) => WebhookError::NotEnabled,
            });
        };
        let now = self.clock.now();
        signature::verify(signature, payload, &stripe.secret, now.timestamp())?;
        let event = Event::parse(payload)?;
        let Ok(id) = StripeEventId::parse(&event.id) else {
            tracing::warn!(event = %event.id.chars().take(80).collect::<String>(), "Stripe event id of an unexpected shape; ignored");
            return Ok(Handled::Ignored);
        };
        if !self.paid.record_event(&id, now).await? {
            return Ok(Handled::Repeated);
        }
        let handled = self.handle(stripe, &event).await;
        if handled.is_err() {
            // Let Stripe's next delivery of it be handled again.
            if let Err(e) = self.paid.forget_event(&id).await {
                tracing::warn!(event = %event.id, error = %e, "cannot forget a failed event");
            }
        }
        handled
    }

    async fn handle(&self, stripe: &StripeWebhook, event: &Event) -> Result<Handled, WebhookError> {
        let Some(intent) = &event.data.object else {
            return Ok(Handled::Ignored);
        };
        match event.type_ {
            EventType::PaymentIntentSucceeded => self.succeeded(stripe, intent).await,
            EventType::PaymentIntentPaymentFailed => {
                // The order stays pending: the buyer may try another card until the
                // reservation lapses (then the sweeper gives the stock back).
                tracing::info!(intent = %intent.id, "a card payment failed; the order waits for another try");
                Ok(Handled::Ignored)
            }
            _ => Ok(Handled::Ignored),
        }
    }

    /// The show and order an intent pays for (its metadata, checked against the index the
    /// checkout wrote), or `None` for an intent this server does not know.
    async fn locate(&self, intent: &PaymentIntent) -> Result<Option<(Show, Order)>, StoreError> {
        let (Some(show_id), Some(order_id)) = (intent.show_id(), intent.order_id()) else {
            return Ok(None);
        };
        let Some(show) = self.shows.show(show_id).await? else {
            return Ok(None);
        };
        let Some(order) = self.commerce.order(&show, order_id).await? else {
            return Ok(None);
        };
        // The order must name this intent (or have named it before a retry replaced it).
        let known = order
            .payment
            .as_ref()
            .is_some_and(|p| p.intent_id.as_str() == intent.id);
        if !known {
            let parsed = crate::domain::commerce::PaymentIntentId::parse(&intent.id);
            let indexed = match parsed {
                Ok(id) => self.paid.intent_order(&id).await?,
                Err(_) => None,
            };
            if indexed.is_none_or(|i| i.order != order.id) {
                return Ok(None);
            }
        }
        Ok(Some((show, order)))
    }

    async fn succeeded(
        &self,
        stripe: &StripeWebhook,
        intent: &PaymentIntent,
    ) -> Result<Handled, WebhookError> {
        let Some((show, order)) = self.locate(intent).await? else {
            tracing::warn!(intent = %intent.id, "payment_intent.succeeded for an intent this server does not know; ignored");
            return Ok(Handled::Ignored);
        };
        if order.status == OrderStatus::Paid || order.status == OrderStatus::Refunded {
            return Ok(Handled::Ignored);
        }
        let paid = Completion::Paid {
            at: self.clock.now(),
        };
        let settled = if order.status == OrderStatus::PendingPayment {
            self.commerce.complete_order(&show, order.id, &paid).await?
        } else {
            Some(order)
        };
        let Some(settled) = settled else {
            return Ok(Handled::Ignored);
        };
        if settled.status == OrderStatus::Paid {
            self.announce_paid(&show, &settled).await;
            return Ok(Handled::Paid(settled.id));
        }
        // Expired (or failed) before Stripe's answer: the stock is gone to others, so the
        // money goes back.
        let key = format!("livesale-late-refund-{}", intent.id);
        match stripe.client.create_refund(&intent.id, None, &key).await {
            Ok(_) => {
                tracing::warn!(show = %show.id, order = %settled.id, intent = %intent.id, status = settled.status.as_str(), "a payment succeeded after its reservation lapsed; refunded");
                Ok(Handled::RefundedLate(settled.id))
            }
            Err(e) => {
                tracing::error!(show = %show.id, order = %settled.id, intent = %intent.id, error = %e, "a late payment could not be refunded; Stripe will redeliver the event");
                Err(e.into())
            }
        }
    }

    /// The room hears of the purchase, the buyer of their paid order.
    async fn announce_paid(&self, show: &Show, order: &Order) {
        let (commerce, catalog) = (self.commerce.as_ref(), self.catalog.as_ref());
        let clock = self.clock.as_ref();
        crate::commerce::announce_paid(commerce, catalog, &self.hub, clock, show, order).await;
    }
}
