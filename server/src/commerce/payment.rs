//! The payment seam. Real providers (Stripe, Adyen, …) implement [`PaymentProvider`]; the
//! built-in [`TestPayments`] approves, declines, or never answers, as configured, so every
//! path of a checkout can be exercised without a network.

use async_trait::async_trait;

use crate::domain::commerce::Order;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The payer's bank or the provider said no.
    #[error("payment declined: {0}")]
    Declined(String),
    /// The provider could not be asked (network, outage).
    #[error("payment failed: {0}")]
    Failed(String),
}

/// Proof of a successful charge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub reference: String,
}

#[async_trait]
pub trait PaymentProvider: Send + Sync + 'static {
    /// Charges the order's total. Called with the stock already reserved; the caller gives
    /// the stock back when this fails or takes longer than the payment timeout.
    async fn charge(&self, order: &Order) -> Result<Receipt, PaymentError>;
}

/// How the built-in test provider answers: a setting, so it lives with the settings.
pub use crate::config::TestPaymentMode;

pub struct TestPayments {
    pub mode: TestPaymentMode,
}

#[async_trait]
impl PaymentProvider for TestPayments {
    async fn charge(&self, order: &Order) -> Result<Receipt, PaymentError> {
        match self.mode {
            TestPaymentMode::Approve => Ok(Receipt {
                reference: format!("test_{}", order.id.simple()),
            }),
            TestPaymentMode::Decline => Err(PaymentError::Declined(
                "the test provider is configured to decline".into(),
            )),
            TestPaymentMode::Hang => std::future::pending().await,
        }
    }
}
