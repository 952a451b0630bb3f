//! The payment seam. Real providers (Stripe, Adyen, …) implement [`PaymentProvider`] and
//! answer with a typed [`PaymentError`]; the built-in [`TestPayments`] approves, declines, or
//! never answers, as configured, so every path of a checkout can be exercised without a
//! network. The checkout (`services::commerce`) owns the timeout and what a failure means for
//! the order.

use async_trait::async_trait;

use crate::domain::Code;
use crate::domain::ViewerId;
use crate::domain::commerce::{Order, PaymentProcessor, PaymentRef, Shipping, StripeCustomerId};

/// Why a charge did not go through. Its text is what the order records as its failure
/// (`Order::failure`) and what the buyer reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The payer's bank or the provider said no.
    #[error("payment declined: {reason}")]
    Declined { reason: String },
    /// The provider could not be asked, or failed (network, outage).
    #[error("payment unavailable: {reason}")]
    Unavailable { reason: String },
    /// The provider did not answer within the payment timeout.
    #[error("the payment provider did not answer in time")]
    TimedOut,
}

impl PaymentError {
    /// The stable problem code the buyer gets: `payment_declined` or `payment_failed`.
    pub fn code(&self) -> Code {
        match self {
            PaymentError::Declined { .. } => Code::PaymentDeclined,
            PaymentError::Unavailable { .. } => Code::PaymentUnavailable,
            PaymentError::TimedOut => Code::PaymentFailed,
        }
    }

    /// [`Self::code`] of the error an order recorded as its failure (this type's text), for
    /// answering a retry as the first attempt was answered. A failure recorded by something
    /// else (or none) is `payment_failed`.
    pub fn recorded_code(failure: &str) -> Code {
        let declined = PaymentError::Declined {
            reason: String::new(),
        }
        .to_string();
        let unavailable = PaymentError::Unavailable {
            reason: String::new(),
        }
        .to_string();
        if failure.starts_with(&declined) {
            Code::PaymentDeclined
        } else if failure.starts_with(&unavailable) {
            Code::PaymentUnavailable
        } else {
            Code::PaymentFailed
        }
    }
}

/// Proof of a successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub reference: String,
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Whether a checkout must carry the buyer's email and shipping address (a card payment
    /// at a processor does; the built-in test provider does not).
    fn needs_buyer(&self) -> bool {
        false
    }

    /// Starts taking the order's total: charged at once ([`Begun::Charged`]), or handed to
    /// the buyer's browser to finish ([`Begun::Awaiting`]: a card confirmed with the
    /// processor, whose webhook then settles the order). Called with the stock already
    /// reserved; the caller gives it back when this fails or takes longer than the payment
    /// timeout. `key` is the checkout's idempotency key, for the processor's own.
    async fn begin(&self, order: &Order, buyer: &Buyer, key: &str) -> Result<Begun, PaymentError>;

    /// The payment a pending order's buyer finishes in the browser again (a retried
    /// checkout): `None` for a provider that charges at once.
    async fn resume(&self, order: &Order) -> Result<Option<ClientPayment>, PaymentError> {
        let _ = order;
        Ok(None)
    }

    /// Pays a pending order with the buyer's card `payment_method` (`pm_…`, from Stripe.js).
    /// Only a provider whose orders wait for the browser ([`Begun::Awaiting`]) has pending
    /// orders to pay; the others refuse.
    async fn confirm(
        &self,
        order: &Order,
        payment_method: &str,
    ) -> Result<Confirmed, PaymentError> {
        let _ = (order, payment_method);
        Err(no_cards())
    }

    /// Gives a paid order's money back (the test provider moved none, so it has nothing to do).
    async fn refund(&self, order: &Order) -> Result<(), PaymentError> {
        let _ = order;
        Ok(())
    }

    /// The processor's customer for a buyer, under which their cards are saved: `known` when
    /// the store had one, else a new one (`None` for a provider without saved cards).
    async fn customer(
        &self,
        known: Option<&StripeCustomerId>,
        email: Option<&str>,
        viewer: ViewerId,
    ) -> Result<Option<StripeCustomerId>, PaymentError> {
        let _ = (email, viewer);
        Ok(known.cloned())
    }

    /// A card setup for the buyer's browser to confirm (Stripe.js `confirmCardSetup`): its
    /// client secret.
    async fn setup_card(&self, customer: &StripeCustomerId) -> Result<String, PaymentError> {
        let _ = customer;
        Err(no_cards())
    }

    /// The cards saved under `customer`.
    async fn saved_cards(
        &self,
        customer: &StripeCustomerId,
    ) -> Result<Vec<SavedCard>, PaymentError> {
        let _ = customer;
        Ok(Vec::new())
    }

    /// Keeps `payment_method` saved under `customer` (after it paid).
    async fn keep_card(
        &self,
        customer: &StripeCustomerId,
        payment_method: &str,
    ) -> Result<(), PaymentError> {
        let _ = (customer, payment_method);
        Ok(())
    }

    /// Removes a saved card; `false` when `customer` has no such card.
    async fn remove_card(
        &self,
        customer: &StripeCustomerId,
        payment_method: &str,
    ) -> Result<bool, PaymentError> {
        let _ = (customer, payment_method);
        Ok(false)
    }

    /// Stops a pending order's payment from being taken later (its reservation lapsed).
    async fn cancel(&self, order: &Order) -> Result<(), PaymentError> {
        let _ = order;
        Ok(())
    }

    /// Charges a pending order to its buyer's saved card off-session: the buyer is not at the
    /// page (an auction's winner, charged at the close). `customer` is the buyer's customer at
    /// the processor (`None`: they saved no card there); `key` makes a retry find the same
    /// charge. A refusal of the card is [`PaymentError::Declined`].
    async fn charge_saved(
        &self,
        order: &Order,
        customer: Option<&StripeCustomerId>,
        key: &str,
    ) -> Result<SavedCharge, PaymentError> {
        let _ = (order, customer, key);
        Err(no_cards())
    }
}

fn no_cards() -> PaymentError {
    PaymentError::Unavailable {
        reason: "this server's payment provider takes no cards".into(),
    }
}

/// The buyer's details a checkout took (checked: `domain::commerce::email`,
/// `Shipping::checked`), and their customer at the processor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buyer {
    pub email: Option<String>,
    pub shipping: Option<Box<Shipping>>,
    pub customer: Option<StripeCustomerId>,
}

/// A saved card as its owner sees it ("Visa •••• 4242").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SavedCard {
    /// The payment method (`pm_…`) to pay with in one tap.
    pub id: String,
    pub brand: String,
    pub last4: String,
}

/// What a provider did when asked to take an order's payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The money was taken.
    Charged(Receipt),
    /// The buyer's browser finishes the payment with this; the order stays pending until
    /// the processor says it succeeded (or its reservation lapses).
    Awaiting(ClientPayment),
}

/// Where a card payment stands after the server confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmed {
    /// The processor took the money; its webhook settles the order.
    Succeeded,
    /// Being processed; its webhook settles the order.
    Processing,
    /// The bank asks the buyer to authenticate (3-D Secure): the browser finishes it with
    /// this client secret.
    RequiresAction { client_secret: String },
    /// The order's first payment could not be confirmed again (after a decline), so a new
    /// one was made: keep its reference with the order, then confirm again.
    Replaced(ClientPayment),
}

/// What an off-session charge of a saved card did ([`PaymentProvider::charge_saved`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavedCharge {
    /// The money was taken at once (the built-in test provider): the caller settles the order.
    Charged(Receipt),
    /// The processor has the payment: keep `payment` with the order at once (its webhook
    /// finds the order by it and settles it, as for a checkout's card payment).
    Submitted {
        payment: PaymentRef,
        status: SubmittedCharge,
    },
}

/// Where a charge the processor has stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmittedCharge {
    /// Taken; the webhook settles the order paid.
    Succeeded,
    /// Being processed; the webhook settles it.
    Processing,
    /// The bank asks the buyer to authenticate (3-D Secure): their page finishes it with this
    /// client secret (Stripe.js `confirmCardPayment`, given the publishable key).
    RequiresAction {
        client_secret: String,
        publishable_key: String,
    },
}

/// A payment for the buyer's browser to finish (Stripe.js confirms a PaymentIntent).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ClientPayment {
    /// The processor, `stripe`.
    pub provider: PaymentProcessor,
    /// The PaymentIntent's client secret: lets the buyer's browser confirm this one payment.
    pub client_secret: String,
    /// The publishable key the page gives Stripe.js.
    pub publishable_key: String,
    /// The buyer's saved cards: paying with one is one tap.
    pub saved_cards: Vec<SavedCard>,
    /// The processor's reference, kept with the order.
    #[serde(skip)]
    pub reference: PaymentRef,
}

/// How the built-in test provider answers: a setting, so it lives with the settings.
pub use crate::config::TestPaymentMode;

pub struct TestPayments {
    pub mode: TestPaymentMode,
}

#[async_trait]
impl PaymentProvider for TestPayments {
    async fn begin(&self, order: &Order, _: &Buyer, _: &str) -> Result<Begun, PaymentError> {
        match self.mode {
            TestPaymentMode::Approve => Ok(Begun::Charged(Receipt {
                reference: format!("test_{}", order.id.0.simple()),
            })),
            TestPaymentMode::Decline => Err(PaymentError::Declined {
                reason: "the test provider is configured to decline".into(),
            }),
            TestPaymentMode::Hang => std::future::pending().await,
        }
    }

    /// Every buyer counts as having a saved card here: approved or declined as configured.
    async fn charge_saved(
        &self,
        order: &Order,
        _: Option<&StripeCustomerId>,
        key: &str,
    ) -> Result<SavedCharge, PaymentError> {
        match self.begin(order, &Buyer::default(), key).await? {
            Begun::Charged(receipt) => Ok(SavedCharge::Charged(receipt)),
            Begun::Awaiting(_) => Err(no_cards()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_failure_keeps_its_code() {
        let errors = [
            PaymentError::Declined {
                reason: "insufficient funds".into(),
            },
            PaymentError::Unavailable {
                reason: "connection reset; card declined upstream".into(),
            },
            PaymentError::TimedOut,
        ];
        for e in errors {
            assert_eq!(PaymentError::recorded_code(&e.to_string()), e.code(), "{e}");
        }
        assert_eq!(PaymentError::recorded_code(""), "payment_failed");
        assert_eq!(
            PaymentError::recorded_code("the payment did not go through"),
            "payment_failed"
        );
    }

    #[test]
    fn texts_are_what_orders_recorded_before() {
        let declined = PaymentError::Declined {
            reason: "the test provider is configured to decline".into(),
        };
        assert_eq!(
            declined.to_string(),
            "payment declined: the test provider is configured to decline"
        );
        assert_eq!(
            PaymentError::TimedOut.to_string(),
            "the payment provider did not answer in time"
        );
    }
}
