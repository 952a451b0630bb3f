//! The payment seam. Real providers (Stripe, Adyen, …) implement [`PaymentProvider`] and
//! answer with a typed [`PaymentError`]; the built-in [`TestPayments`] approves, declines, or
//! never answers, as configured, so every path of a checkout can be exercised without a
//! network. The checkout (`services::commerce`) owns the timeout and what a failure means for
//! the order.

use async_trait::async_trait;

use crate::domain::Code;
use crate::domain::commerce::Order;

/// Why a charge did not go through. Its text is what the order records as its failure
/// (`Order::failure`) and what the buyer reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The payer's bank or the provider said no.
    #[error("payment declined: {reason}")]
    Declined { reason: String },
    /// The provider could not be asked, or failed (network, outage).
    #[error("payment failed: {reason}")]
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
            PaymentError::Unavailable { .. } | PaymentError::TimedOut => Code::PaymentFailed,
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
        if failure.starts_with(&declined) {
            Code::PaymentDeclined
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
                reference: format!("test_{}", order.id.0.simple()),
            }),
            TestPaymentMode::Decline => Err(PaymentError::Declined {
                reason: "the test provider is configured to decline".into(),
            }),
            TestPaymentMode::Hang => std::future::pending().await,
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
