//! The Stripe API client: form-encoded requests as the API reference describes them
//! (<https://docs.stripe.com/api>: "Authentication" with `Authorization: Bearer <secret key>`,
//! nested parameters such as `metadata[order_id]=…`, "Idempotent requests" with an
//! `Idempotency-Key` on every create, "Versioning" with a pinned `Stripe-Version`, and
//! "Errors" for the status codes and the error object). Its errors tell apart what the
//! checkout answers differently ([`StripeError`]): a declined card, a refused request, a bad key,
//! rate limiting, and Stripe being unreachable, failing or slow (every request has a timeout).
//!
//! The requests carry only what both Stripe and the localstripe test server accept for the
//! core flow; where real Stripe wants more, a comment says so at the request.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::Secret;
use super::amount::{self, AmountError};
use super::objects::{
    Customer, List, ORDER_ID, PaymentIntent, PaymentMethod, Refund, SHOW_ID, SetupIntent, VIEWER_ID,
};
use crate::domain::{Money, OrderId, ShowId, ViewerId};

/// The API version every request pins, so an account upgraded in Stripe's dashboard does not
/// change the answers under the server ("Versioning").
pub const API_VERSION: &str = "2024-06-20";

/// How long a request may take before it counts as "Stripe is down".
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a Stripe request failed, by what the caller does about it. No variant carries the
/// secret key (Stripe's own 401 text is dropped, though Stripe masks the key in it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// The card was declined (402, or an error of type `card_error`): tell the buyer in words.
    #[error("the card was declined: {message}")]
    Declined {
        code: Option<String>,
        decline_code: Option<String>,
        message: String,
        /// The PaymentIntent the declined attempt belongs to, when Stripe names it (an
        /// off-session charge that needs the buyer: `authentication_required`).
        payment_intent: Option<String>,
    },
    /// Stripe refused the request as invalid (400, 404, 409 …): a bug or a stale id here.
    #[error("Stripe refused the request ({status}): {message}")]
    InvalidRequest {
        status: u16,
        code: Option<String>,
        param: Option<String>,
        message: String,
    },
    /// The secret key is wrong, revoked or lacks the permission (401, 403).
    #[error("Stripe refused the API key ({status})")]
    Authentication { status: u16 },
    /// Too many requests (429): try again later.
    #[error("Stripe is rate limiting requests")]
    RateLimited,
    /// Stripe could not be reached, failed (5xx) or did not answer within the timeout: the
    /// checkout answers 503 with `Retry-After`.
    #[error("Stripe is unavailable: {reason}")]
    Unavailable { reason: String },
    /// The amount has no Stripe form (checked before anything is sent).
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// Stripe answered, but not with what this client can read.
    #[error("unexpected answer from Stripe ({status}): {reason}")]
    UnexpectedAnswer { status: u16, reason: String },
}

impl StripeError {
    /// Stripe down, failing or slow: nothing was decided, the same request may be retried.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StripeError::Unavailable { .. } | StripeError::RateLimited
        )
    }

    /// The error Stripe's answer with `status` and `body` stands for.
    pub fn from_answer(status: StatusCode, body: &[u8]) -> StripeError {
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct Envelope {
            error: Option<ErrorObject>,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct ErrorObject {
            #[serde(rename = "type")]
            type_: Option<String>,
            code: Option<String>,
            decline_code: Option<String>,
            message: Option<String>,
            param: Option<String>,
            payment_intent: Option<IntentRef>,
        }
        #[derive(Deserialize, Default)]
        #[serde(default)]
        struct IntentRef {
            id: Option<String>,
        }
        let error = serde_json::from_slice::<Envelope>(body)
            .ok()
            .and_then(|e| e.error)
            .unwrap_or_default();
        let message = error
            .message
            .map(|m| m.chars().take(500).collect())
            .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
        let card_error = error.type_.as_deref() == Some("card_error");
        match status.as_u16() {
            402 => StripeError::Declined {
                code: error.code,
                decline_code: error.decline_code,
                message,
                payment_intent: error.payment_intent.and_then(|p| p.id),
            },
            400..=499 if card_error => StripeError::Declined {
                code: error.code,
                decline_code: error.decline_code,
                message,
                payment_intent: error.payment_intent.and_then(|p| p.id),
            },
            401 | 403 => StripeError::Authentication {
                status: status.as_u16(),
            },
            429 => StripeError::RateLimited,
            400..=499 => StripeError::InvalidRequest {
                status: status.as_u16(),
                code: error.code,
                param: error.param,
                message,
            },
            500..=599 => StripeError::Unavailable {
                reason: format!("HTTP {}: {message}", status.as_u16()),
            },
            other => StripeError::UnexpectedAnswer {
                status: other,
                reason: message,
            },
        }
    }
}

/// A new PaymentIntent for an order (`POST /v1/payment_intents`).
#[derive(Debug, Clone)]
pub struct NewPaymentIntent<'a> {
    /// The order's total; converted to Stripe's units (`amount.rs`).
    pub amount: Money,
    pub order_id: OrderId,
    pub show_id: ShowId,
    /// A Stripe Customer (`cus_…`) whose saved card may pay.
    pub customer: Option<&'a str>,
    /// A payment method (`pm_…`) to pay with.
    pub payment_method: Option<&'a str>,
    /// Confirm at once (with `payment_method`): one-tap buying with a saved card.
    pub confirm: bool,
    /// The buyer is not at the page (an auction's winner charged later); needs `confirm`.
    pub off_session: bool,
}

/// Form parameters, in order.
type Form = Vec<(String, String)>;

fn param(form: &mut Form, key: &str, value: impl Into<String>) {
    form.push((key.to_string(), value.into()));
}

/// Talks to Stripe's API at `api_base` (`https://api.stripe.com`, or a local stand-in in tests).
#[derive(Debug, Clone)]
pub struct StripeClient {
    pub api_base: Url,
    pub secret_key: Secret,
    pub http: reqwest::Client,
}

impl StripeClient {
    /// A client whose every request gives up after `timeout` (connecting included).
    pub fn new(api_base: Url, secret_key: Secret, timeout: Duration) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("livesale/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(StripeClient {
            api_base,
            secret_key,
            http,
        })
    }

    /// `api_base` + `/v1/` + the segments, each percent-encoded (an id cannot change the path).
    fn url(&self, segments: &[&str]) -> Result<Url, StripeError> {
        let mut url = self.api_base.clone();
        url.path_segments_mut()
            .map_err(|()| StripeError::UnexpectedAnswer {
                status: 0,
                reason: "the Stripe API base cannot take a path".into(),
            })?
            .pop_if_empty()
            .push("v1")
            .extend(segments);
        Ok(url)
    }

    #[tracing::instrument(skip_all, fields(%method, path = segments.join("/")))]
    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        form: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let url = self.url(segments)?;
        let mut request = self
            .http
            .request(method.clone(), url)
            .bearer_auth(self.secret_key.expose())
            .header("Stripe-Version", API_VERSION);
        request = if method == Method::GET {
            request.query(form)
        } else {
            request.form(form)
        };
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(unavailable)?;
        let status = response.status();
        let body = response.bytes().await.map_err(unavailable)?;
        tracing::debug!(status = status.as_u16(), "stripe answered");
        if status.is_success() {
            serde_json::from_slice(&body).map_err(|e| StripeError::UnexpectedAnswer {
                status: status.as_u16(),
                reason: e.to_string(),
            })
        } else {
            Err(StripeError::from_answer(status, &body))
        }
    }

    async fn post<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        form: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        self.send(Method::POST, segments, form, idempotency_key)
            .await
    }

    /// Creates a PaymentIntent for an order's total, with the order and show in its metadata.
    /// `idempotency_key` makes a retried checkout find the first intent instead of a second one
    /// (localstripe ignores the header; real Stripe honours it for 24 hours).
    pub async fn create_payment_intent(
        &self,
        intent: &NewPaymentIntent<'_>,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let amount = amount::to_stripe(intent.amount)?;
        let mut form = Form::new();
        param(&mut form, "amount", amount.amount.to_string());
        param(&mut form, "currency", amount.currency);
        param(
            &mut form,
            &format!("metadata[{ORDER_ID}]"),
            intent.order_id.to_string(),
        );
        param(
            &mut form,
            &format!("metadata[{SHOW_ID}]"),
            intent.show_id.to_string(),
        );
        // Cards only, named: without it, API versions from 2023-08-16 turn on automatic
        // payment methods, whose server-side confirmation needs a `return_url`. Real Stripe
        // would also take `receipt_email`, `shipping`, `description` and `setup_future_usage`
        // (the buyer's email and address help Radar); localstripe refuses all of them, so the
        // order keeps them and a SetupIntent saves the card instead.
        param(&mut form, "payment_method_types[]", "card");
        if let Some(customer) = intent.customer {
            param(&mut form, "customer", customer);
        }
        if let Some(payment_method) = intent.payment_method {
            param(&mut form, "payment_method", payment_method);
        }
        if intent.confirm {
            param(&mut form, "confirm", "true");
        }
        if intent.off_session {
            param(&mut form, "off_session", "true");
        }
        self.post(&["payment_intents"], &form, Some(idempotency_key))
            .await
    }

    pub async fn retrieve_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        self.send(Method::GET, &["payment_intents", id], &Form::new(), None)
            .await
    }

    /// Confirms a PaymentIntent with `payment_method`. Done as two requests, setting the
    /// payment method and then confirming: Stripe also takes `payment_method` on `/confirm`
    /// itself, but localstripe answers that with 500 "Not implemented", and both accept this.
    /// A card that needs 3-D Secure comes back `requires_action` with its `next_action`.
    pub async fn confirm_payment_intent(
        &self,
        id: &str,
        payment_method: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let mut form = Form::new();
        param(&mut form, "payment_method", payment_method);
        let _: PaymentIntent = self.post(&["payment_intents", id], &form, None).await?;
        self.post(&["payment_intents", id, "confirm"], &Form::new(), None)
            .await
    }

    /// Cancels a PaymentIntent that has not succeeded (an expired reservation).
    pub async fn cancel_payment_intent(&self, id: &str) -> Result<PaymentIntent, StripeError> {
        self.post(&["payment_intents", id, "cancel"], &Form::new(), None)
            .await
    }

    /// Refunds a succeeded PaymentIntent: all of it, or `amount` (in the intent's currency).
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        amount: Option<Money>,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        let mut form = Form::new();
        param(&mut form, "payment_intent", payment_intent);
        if let Some(money) = amount {
            param(
                &mut form,
                "amount",
                amount::to_stripe(money)?.amount.to_string(),
            );
        }
        self.post(&["refunds"], &form, Some(idempotency_key)).await
    }

    /// Creates the Stripe Customer that holds a viewer's saved cards.
    pub async fn create_customer(
        &self,
        email: Option<&str>,
        viewer_id: ViewerId,
        idempotency_key: &str,
    ) -> Result<Customer, StripeError> {
        let mut form = Form::new();
        if let Some(email) = email {
            param(&mut form, "email", email);
        }
        param(
            &mut form,
            &format!("metadata[{VIEWER_ID}]"),
            viewer_id.to_string(),
        );
        self.post(&["customers"], &form, Some(idempotency_key))
            .await
    }

    /// A SetupIntent that saves a card on `customer` for later payments, on and off session;
    /// the page confirms it with Stripe.js (`confirmCardSetup`).
    pub async fn create_setup_intent(
        &self,
        customer: &str,
        idempotency_key: &str,
    ) -> Result<SetupIntent, StripeError> {
        let mut form = Form::new();
        param(&mut form, "customer", customer);
        param(&mut form, "payment_method_types[]", "card");
        self.post(&["setup_intents"], &form, Some(idempotency_key))
            .await
    }

    /// A SetupIntent as it is now: after the page's `confirmCardSetup`, its `payment_method`
    /// is the saved card.
    pub async fn retrieve_setup_intent(&self, id: &str) -> Result<SetupIntent, StripeError> {
        self.send(Method::GET, &["setup_intents", id], &Form::new(), None)
            .await
    }

    /// The cards saved on `customer` (the first 100, which is Stripe's page limit).
    pub async fn list_payment_methods(
        &self,
        customer: &str,
    ) -> Result<Vec<PaymentMethod>, StripeError> {
        let mut form = Form::new();
        param(&mut form, "customer", customer);
        param(&mut form, "type", "card");
        param(&mut form, "limit", "100");
        let list: List<PaymentMethod> = self
            .send(Method::GET, &["payment_methods"], &form, None)
            .await?;
        Ok(list.data)
    }

    /// Saves a card on `customer` (one the page's SetupIntent made; real Stripe has attached
    /// it already and answers it as it is).
    pub async fn attach_payment_method(
        &self,
        id: &str,
        customer: &str,
    ) -> Result<PaymentMethod, StripeError> {
        let mut form = Form::new();
        param(&mut form, "customer", customer);
        self.post(&["payment_methods", id, "attach"], &form, None)
            .await
    }

    pub async fn retrieve_payment_method(&self, id: &str) -> Result<PaymentMethod, StripeError> {
        self.send(Method::GET, &["payment_methods", id], &Form::new(), None)
            .await
    }

    /// Removes a saved card from its customer.
    pub async fn detach_payment_method(&self, id: &str) -> Result<PaymentMethod, StripeError> {
        self.post(&["payment_methods", id, "detach"], &Form::new(), None)
            .await
    }
}

/// A request that got no answer: refused connection, reset, or the timeout.
fn unavailable(error: reqwest::Error) -> StripeError {
    let reason = if error.is_timeout() {
        "no answer within the timeout".to_string()
    } else if error.is_connect() {
        "could not connect".to_string()
    } else {
        error.without_url().to_string()
    };
    StripeError::Unavailable { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: serde_json::Value) -> StripeError {
        StripeError::from_answer(
            StatusCode::from_u16(status).unwrap(),
            body.to_string().as_bytes(),
        )
    }

    #[test]
    fn answers_map_to_typed_errors() {
        let declined = answer(
            402,
            serde_json::json!({"error": {"type": "card_error", "code": "card_declined",
                "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."}}),
        );
        assert_eq!(
            declined,
            StripeError::Declined {
                code: Some("card_declined".into()),
                decline_code: Some("insufficient_funds".into()),
                message: "Your card has insufficient funds.".into(),
                payment_intent: None,
            }
        );
        let needs_buyer = answer(
            402,
            serde_json::json!({"error": {"type": "card_error", "code": "authentication_required",
                "message": "This payment requires authentication.",
                "payment_intent": {"id": "pi_123", "status": "requires_payment_method"}}}),
        );
        assert!(matches!(
            needs_buyer,
            StripeError::Declined { payment_intent: Some(ref id), .. } if id == "pi_123"
        ));
        // localstripe types its declines invalid_request_error; the 402 decides.
        assert!(matches!(
            answer(
                402,
                serde_json::json!({"error": {"type": "invalid_request_error",
                "code": "card_declined", "message": "Your card was declined."}})
            ),
            StripeError::Declined { .. }
        ));
        assert_eq!(
            answer(
                400,
                serde_json::json!({"error": {"type": "invalid_request_error",
                "code": "parameter_missing", "param": "amount", "message": "Missing amount"}})
            ),
            StripeError::InvalidRequest {
                status: 400,
                code: Some("parameter_missing".into()),
                param: Some("amount".into()),
                message: "Missing amount".into(),
            }
        );
        assert!(matches!(
            answer(
                404,
                serde_json::json!({"error": {"message": "No such payment_intent"}})
            ),
            StripeError::InvalidRequest { status: 404, .. }
        ));
        let auth = answer(
            401,
            serde_json::json!({"error": {"message": "Invalid API Key provided: sk_test_secret"}}),
        );
        assert_eq!(auth, StripeError::Authentication { status: 401 });
        assert!(!format!("{auth} {auth:?}").contains("sk_test"));
        assert_eq!(answer(429, serde_json::json!({})), StripeError::RateLimited);
        let down = answer(503, serde_json::json!({}));
        assert!(down.is_unavailable(), "{down:?}");
        assert!(!answer(400, serde_json::json!({})).is_unavailable());
    }

    #[test]
    fn an_unreadable_error_body_still_maps_by_status() {
        let err = StripeError::from_answer(StatusCode::BAD_GATEWAY, b"<html>oops</html>");
        assert_eq!(
            err,
            StripeError::Unavailable {
                reason: "HTTP 502: HTTP 502".into()
            }
        );
        let err = StripeError::from_answer(StatusCode::BAD_REQUEST, b"");
        assert!(matches!(
            err,
            StripeError::InvalidRequest { status: 400, .. }
        ));
    }

    #[test]
    fn the_client_never_shows_its_key() {
        let client = StripeClient::new(
            Url::parse("http://127.0.0.1:9").unwrap(),
            Secret::new("sk_test_never_printed"),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        let shown = format!("{client:?} {client:#?}");
        assert!(!shown.contains("never_printed"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn ids_stay_inside_their_path_segment() {
        let client = StripeClient::new(
            Url::parse("http://127.0.0.1:9/base/").unwrap(),
            Secret::new("sk_test_x"),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        let url = client
            .url(&["payment_intents", "pi_1/../../customers?x=1", "cancel"])
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:9/base/v1/payment_intents/pi_1%2F..%2F..%2Fcustomers%3Fx=1/cancel"
        );
        let root = StripeClient::new(
            Url::parse("http://127.0.0.1:9").unwrap(),
            Secret::new("sk_test_x"),
            DEFAULT_TIMEOUT,
        )
        .unwrap();
        assert_eq!(
            root.url(&["refunds"]).unwrap().as_str(),
            "http://127.0.0.1:9/v1/refunds"
        );
    }
}
