//! Stripe as the checkout's payment provider ([`StripePayments`]): a checkout creates a
//! PaymentIntent for the order's total (the checkout's `Idempotency-Key` scoped to the order
//! goes to Stripe, so a retried checkout finds the same intent) and hands its client secret to
//! the buyer's browser, which confirms it with a card through Stripe.js. Nothing is charged
//! here: the order is settled by Stripe's `payment_intent.succeeded` webhook
//! (`services::payments`). Stripe's docs: "Accept a payment" (PaymentIntents, server-side
//! confirmation) and "Idempotent requests".

use async_trait::async_trait;

use super::PaymentIntentStatus;
use super::{NewPaymentIntent, StripeClient, StripeError};
use crate::commerce::payment::{
    Begun, Buyer, ClientPayment, Confirmed, PaymentError, PaymentProvider, SavedCard, SavedCharge,
    SubmittedCharge,
};
use crate::domain::ViewerId;
use crate::domain::commerce::{
    Order, PaymentIntentId, PaymentProcessor, PaymentRef, StripeCustomerId,
};

/// The Stripe provider: the API client and the key the buyer's page gives Stripe.js.
pub struct StripePayments {
    pub client: StripeClient,
    pub publishable_key: String,
}

impl StripePayments {
    /// The payment for the browser, from an intent Stripe answered with.
    fn client_payment(&self, intent: super::PaymentIntent) -> Result<ClientPayment, PaymentError> {
        let intent_id = PaymentIntentId::parse(&intent.id).map_err(|e| unavailable(&e))?;
        let client_secret = intent
            .client_secret
            .ok_or_else(|| unavailable(&"Stripe sent no client secret for the PaymentIntent"))?;
        Ok(ClientPayment {
            provider: PaymentProcessor::Stripe,
            client_secret,
            publishable_key: self.publishable_key.clone(),
            saved_cards: Vec::new(),
            reference: PaymentRef {
                provider: PaymentProcessor::Stripe,
                intent_id,
            },
        })
    }
}

#[async_trait]
impl PaymentProvider for StripePayments {
    fn needs_buyer(&self) -> bool {
        true
    }

    async fn begin(&self, order: &Order, buyer: &Buyer, key: &str) -> Result<Begun, PaymentError> {
        let customer = buyer.customer.as_ref().map(StripeCustomerId::as_str);
        let new = NewPaymentIntent {
            amount: order.total,
            order_id: order.id,
            show_id: order.show_id,
            customer,
            payment_method: None,
            confirm: false,
            off_session: false,
        };
        // The key is the buyer's, per purchase attempt; scoped to the order so it cannot
        // collide with another merchant's use of the same text at the same Stripe account.
        let idempotency = format!("livesale-pi-{}-{}", order.id, key);
        let intent = self
            .client
            .create_payment_intent(&new, &idempotency)
            .await
            .map_err(|e| payment_error(&e))?;
        let mut payment = self.client_payment(intent)?;
        if let Some(customer) = &buyer.customer {
            payment.saved_cards = self.saved_cards(customer).await?;
        }
        Ok(Begun::Awaiting(payment))
    }

    async fn customer(
        &self,
        known: Option<&StripeCustomerId>,
        email: Option<&str>,
        viewer: ViewerId,
    ) -> Result<Option<StripeCustomerId>, PaymentError> {
        if let Some(known) = known {
            return Ok(Some(known.clone()));
        }
        let key = format!("livesale-customer-{viewer}");
        let customer = self
            .client
            .create_customer(email, viewer, &key)
            .await
            .map_err(|e| payment_error(&e))?;
        StripeCustomerId::parse(&customer.id)
            .map(Some)
            .map_err(|e| unavailable(&e))
    }

    async fn setup_card(&self, customer: &StripeCustomerId) -> Result<String, PaymentError> {
        let key = format!("livesale-setup-{}", uuid::Uuid::now_v7());
        let setup = self
            .client
            .create_setup_intent(customer.as_str(), &key)
            .await
            .map_err(|e| payment_error(&e))?;
        setup
            .client_secret
            .ok_or_else(|| unavailable(&"Stripe sent no client secret for the SetupIntent"))
    }

    async fn saved_cards(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<SavedCard>, PaymentError> {
        let methods = self
            .client
            .list_payment_methods(customer.as_str())
            .await
            .map_err(|e| payment_error(&e))?;
        Ok(methods
            .into_iter()
            .filter_map(|m| {
                let card = m.card?;
                Some(SavedCard {
                    id: m.id,
                    brand: card.brand.unwrap_or_else(|| "card".into()),
                    last4: card.last4.unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn keep_card(
        &self,
        customer: &StripeCustomerId,
        payment_method: &str,
    ) -> Result<(), PaymentError> {
        let failed = |e: StripeError| payment_error(&e);
        let saved = self
            .client
            .list_payment_methods(customer.as_str())
            .await
            .map_err(failed)?;
        let new = self
            .client
            .retrieve_payment_method(payment_method)
            .await
            .map_err(failed)?;
        let twin = card_identity(&new).is_some_and(|id| {
            saved
                .iter()
                .any(|m| m.id != new.id && card_identity(m).as_ref() == Some(&id))
        });
        if !twin {
            return self
                .client
                .attach_payment_method(payment_method, customer.as_str())
                .await
                .map(|_| ())
                .map_err(failed);
        }
        // The same card is saved already: one "Visa •••• 4242" is enough (Stripe attached this
        // copy with its SetupIntent; localstripe did not).
        if new.customer.is_some() {
            self.client
                .detach_payment_method(payment_method)
                .await
                .map_err(failed)?;
        }
        Ok(())
    }

    async fn remove_card(
        &self,
        customer: &StripeCustomerId,
        payment_method: &str,
    ) -> Result<bool, PaymentError> {
        let saved = self.saved_cards(customer).await?;
        if !saved.iter().any(|c| c.id == payment_method) {
            return Ok(false);
        }
        self.client
            .detach_payment_method(payment_method)
            .await
            .map(|_| true)
            .map_err(|e| payment_error(&e))
    }

    async fn resume(&self, order: &Order) -> Result<Option<ClientPayment>, PaymentError> {
        let Some(reference) = &order.payment else {
            return Ok(None);
        };
        let intent = self
            .client
            .retrieve_payment_intent(reference.intent_id.as_str())
            .await
            .map_err(|e| payment_error(&e))?;
        self.client_payment(intent).map(Some)
    }

    async fn confirm(
        &self,
        order: &Order,
        payment_method: &str,
    ) -> Result<Confirmed, PaymentError> {
        let Some(reference) = &order.payment else {
            return Err(unavailable(&"the order has no PaymentIntent"));
        };
        let id = reference.intent_id.as_str();
        let intent = match self.client.confirm_payment_intent(id, payment_method).await {
            Ok(intent) => intent,
            // Real Stripe takes a new card on an intent a decline left in
            // `requires_payment_method`; one that cannot be confirmed again (localstripe's
            // declined intents, a canceled one) is replaced by a new intent for the order.
            Err(StripeError::InvalidRequest { .. }) => {
                let retry = format!("livesale-pi-{}-retry-{}", order.id, id);
                let new = NewPaymentIntent {
                    amount: order.total,
                    order_id: order.id,
                    show_id: order.show_id,
                    customer: None,
                    payment_method: None,
                    confirm: false,
                    off_session: false,
                };
                let intent = self
                    .client
                    .create_payment_intent(&new, &retry)
                    .await
                    .map_err(|e| payment_error(&e))?;
                return Ok(Confirmed::Replaced(self.client_payment(intent)?));
            }
            Err(e) => return Err(payment_error(&e)),
        };
        match intent.status {
            PaymentIntentStatus::Succeeded => Ok(Confirmed::Succeeded),
            PaymentIntentStatus::RequiresAction => Ok(Confirmed::RequiresAction {
                client_secret: intent.client_secret.unwrap_or_default(),
            }),
            PaymentIntentStatus::RequiresPaymentMethod => Err(PaymentError::Declined {
                reason: declined_reason(intent.last_payment_error),
            }),
            _ => Ok(Confirmed::Processing),
        }
    }

    /// One PaymentIntent for the order, created and confirmed at once with the customer's first
    /// saved card and `off_session` (Stripe's "charge a saved card later"). A bank that wants
    /// the buyer (3-D Secure) answers `requires_action`, or declines with
    /// `authentication_required` naming the intent: both leave it to the buyer's page.
    async fn charge_saved(
        &self,
        order: &Order,
        customer: Option<&StripeCustomerId>,
        key: &str,
    ) -> Result<SavedCharge, PaymentError> {
        let no_card = || PaymentError::Declined {
            reason: "no saved card to charge".into(),
        };
        let customer = customer.ok_or_else(no_card)?;
        let card = self.saved_cards(customer).await?.into_iter().next();
        let card = card.ok_or_else(no_card)?;
        let new = NewPaymentIntent {
            amount: order.total,
            order_id: order.id,
            show_id: order.show_id,
            customer: Some(customer.as_str()),
            payment_method: Some(&card.id),
            confirm: true,
            off_session: true,
        };
        let idempotency = format!("livesale-off-session-{}-{}", order.id, key);
        // The intent, and whether the bank asked for the buyer (3-D Secure).
        let (intent, needs_buyer) =
            match self.client.create_payment_intent(&new, &idempotency).await {
                Ok(intent) => {
                    let needs = intent.status == PaymentIntentStatus::RequiresAction;
                    (intent, needs)
                }
                Err(StripeError::Declined {
                    code: Some(code),
                    payment_intent: Some(id),
                    ..
                }) if code == "authentication_required" => {
                    let intent = self.client.retrieve_payment_intent(&id).await;
                    (intent.map_err(|e| payment_error(&e))?, true)
                }
                Err(e) => return Err(payment_error(&e)),
            };
        let status = match intent.status {
            _ if needs_buyer => SubmittedCharge::RequiresAction {
                client_secret: intent.client_secret.clone().ok_or_else(|| {
                    unavailable(&"Stripe sent no client secret for the PaymentIntent")
                })?,
                publishable_key: self.publishable_key.clone(),
            },
            PaymentIntentStatus::Succeeded => SubmittedCharge::Succeeded,
            PaymentIntentStatus::RequiresPaymentMethod => {
                return Err(PaymentError::Declined {
                    reason: declined_reason(intent.last_payment_error),
                });
            }
            _ => SubmittedCharge::Processing,
        };
        let payment = self.client_payment(intent)?.reference;
        Ok(SavedCharge::Submitted { payment, status })
    }

    async fn refund(&self, order: &Order) -> Result<(), PaymentError> {
        let Some(reference) = &order.payment else {
            return Err(unavailable(&"the order has no PaymentIntent"));
        };
        let id = reference.intent_id.as_str();
        let key = format!("livesale-refund-{}", order.id);
        self.client
            .create_refund(id, None, &key)
            .await
            .map(|_| ())
            .map_err(|e| payment_error(&e))
    }

    async fn cancel(&self, order: &Order) -> Result<(), PaymentError> {
        let Some(reference) = &order.payment else {
            return Ok(());
        };
        match self
            .client
            .cancel_payment_intent(reference.intent_id.as_str())
            .await
        {
            // Already canceled or succeeded: nothing more to stop.
            Ok(_) | Err(StripeError::InvalidRequest { .. }) => Ok(()),
            Err(e) => Err(payment_error(&e)),
        }
    }
}

/// The words of a decline Stripe recorded on an intent.
fn declined_reason(error: Option<super::objects::PaymentError>) -> String {
    error
        .and_then(|e| e.message)
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "the card was declined".into())
}

/// What tells two saved payment methods of one card apart from different cards: Stripe's
/// fingerprint, else brand, last four digits and expiry.
fn card_identity(method: &super::objects::PaymentMethod) -> Option<String> {
    let card = method.card.as_ref()?;
    if let Some(fingerprint) = &card.fingerprint {
        return Some(fingerprint.clone());
    }
    Some(format!(
        "{}/{}/{}/{}",
        card.brand.as_deref()?,
        card.last4.as_deref()?,
        card.exp_month?,
        card.exp_year?
    ))
}

/// What a failed Stripe request means for the checkout: a decline is the buyer's to fix,
/// anything else is "the payment could not be taken now".
pub fn payment_error(e: &StripeError) -> PaymentError {
    match e {
        StripeError::Declined { message, .. } => PaymentError::Declined {
            reason: message.clone(),
        },
        other => {
            tracing::warn!(error = %other, "Stripe request failed");
            unavailable(other)
        }
    }
}

fn unavailable(why: &dyn std::fmt::Display) -> PaymentError {
    PaymentError::Unavailable {
        reason: format!("the card processor could not be reached ({why})"),
    }
}
