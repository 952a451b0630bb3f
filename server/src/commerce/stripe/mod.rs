//! Stripe, as the checkout uses it: amounts in Stripe's units ([`amount`]), the API client for
//! PaymentIntents, refunds, customers, SetupIntents and saved cards ([`client`]), webhook
//! signatures ([`signature`]) and the events they carry ([`event`]), with the objects read
//! from Stripe's answers ([`objects`]). It follows Stripe's API
//! reference (<https://docs.stripe.com/api>); each file names the pages it follows. It decides
//! nothing about orders or stock (that is `services::commerce`) and never lets a secret key into
//! `Debug` output, logs or errors ([`Secret`]).

pub mod amount;
pub mod client;
pub mod event;
pub mod objects;
pub mod signature;

use std::fmt;

pub use amount::{AmountError, StripeAmount};
pub use client::{NewPaymentIntent, StripeClient, StripeError};
pub use event::{Event, EventError, EventType};
pub use objects::{PaymentIntent, PaymentIntentStatus};
pub use signature::{SignatureError, TOLERANCE_S};

/// A secret Stripe key (`sk_…`) or webhook signing secret (`whsec_…`). Its `Debug` prints `***`
/// and it has no `Display`, so it cannot reach a log line or an error message by accident; the
/// text is read only where it is sent or used as a key ([`Secret::expose`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The secret's text, for the `Authorization` header or the HMAC key only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Self {
        Secret(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug_output() {
        let secret = Secret::new("sk_test_very_secret_123");
        assert_eq!(format!("{secret:?}"), "***");
        assert_eq!(format!("{:#?}", Some(&secret)), "Some(\n    ***,\n)");
        assert_eq!(secret.expose(), "sk_test_very_secret_123");
        assert!(!secret.is_empty());
    }
}
