//! The HTTP boundary's one error type, and the only `IntoResponse` for errors.
//!
//! Every error leaves as `application/problem+json` (RFC 9457) with a stable `code`. A 5xx
//! body never carries internals: the cause is logged here and the client gets a generic detail.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::domain::error::ErrorKind;
use crate::domain::{Code, DomainError};
use crate::store::StoreError;

/// The problem+json body (also the OpenAPI schema of every error response).
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type; `about:blank` plus `code` in practice.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short human summary (the status's reason phrase).
    pub title: String,
    pub status: u16,
    /// Human explanation of this occurrence, safe to show to a person.
    pub detail: String,
    /// Stable machine-readable code, e.g. `sold_out`, `invalid_token`.
    pub code: String,
    /// With `bid_too_low`: the smallest acceptable bid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_minimum: Option<crate::domain::Money>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
    pub detail: String,
    /// Extra headers (e.g. `Retry-After`).
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
    /// With `bid_too_low`: the smallest acceptable bid, in the body.
    pub next_minimum: Option<crate::domain::Money>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            detail: detail.into(),
            headers: Vec::new(),
            next_minimum: None,
        }
    }

    pub fn not_found(code: Code, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, detail)
    }

    pub fn bad_request(code: Code, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, detail)
    }

    /// A server-side failure: log the cause, tell the client nothing about it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Code::Internal,
            "something went wrong on our side; it has been logged",
        )
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        let status = match e.kind {
            ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Forbidden => StatusCode::FORBIDDEN,
            ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        };
        ApiError::new(status, e.code, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(cause) => {
                tracing::warn!(%cause, "store unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::StoreUnavailable,
                    "the store is unreachable right now; try again shortly",
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("2"))
            }
            StoreError::Corrupt(cause) => ApiError::internal(format!("corrupt record: {cause}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Problem {
            type_: "about:blank".into(),
            title: self
                .status
                .canonical_reason()
                .unwrap_or("Error")
                .to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
            next_minimum: self.next_minimum,
        };
        let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (self.status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"livesale\""),
            );
        }
        for (name, value) in self.headers {
            headers.insert(name, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
