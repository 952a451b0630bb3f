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
pub mod provider;
pub mod signature;

pub use amount::{AmountError, StripeAmount};
pub use client::{NewPaymentIntent, StripeClient, StripeError};
pub use event::{Event, EventError, EventType};
pub use objects::{PaymentIntent, PaymentIntentStatus};
pub use provider::StripePayments;
pub use signature::{SignatureError, TOLERANCE_S};

/// A secret Stripe key (`sk_…`) or webhook signing secret (`whsec_…`): the settings' secret
/// type, whose `Debug` prints `***` and whose text is read only through `expose()`.
pub use crate::config::Secret;
