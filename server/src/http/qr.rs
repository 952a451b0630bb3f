//! `POST /api/qr`: a QR code of a text as SVG, for pages that show a link to open on a phone
//! (the studio's "add a phone as a camera"). The text travels in a POST body so invite tokens
//! never land in URLs, browser history or access logs. Open to anyone: it reads nothing and
//! stores nothing; the body is capped at [`BODY_LIMIT`] bytes and the text at
//! [`crate::qr::MAX_TEXT_BYTES`].

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::ApiJson;
use crate::domain::Code;
use crate::qr::{self, QrError};

/// Largest request body of this route, in bytes (the text plus JSON around it).
pub const BODY_LIMIT: usize = 4096;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(qr_svg))
        .layer(super::extract::body_limit(BODY_LIMIT))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QrRequest {
    /// What the code says: usually a link. 1 to 2048 bytes of UTF-8.
    #[schema(min_length = 1, max_length = 2048)]
    text: String,
}

/// A QR code (error correction M) of the text: an SVG with black modules on white and a
/// four-module quiet zone. No token needed.
#[utoipa::path(post, path = "/api/qr", tag = "pages",
    request_body = QrRequest,
    responses((status = 200, description = "The QR code", content_type = "image/svg+xml", body = String),
              (status = 400, body = Problem), (status = 413, body = Problem),
              (status = 415, body = Problem), (status = 422, body = Problem)))]
async fn qr_svg(body: ApiJson<QrRequest>) -> ApiResult<Response> {
    let body = body.value()?;
    let svg = qr::svg(&body.text).map_err(|e| {
        let code = match e {
            QrError::Empty => Code::QrTextEmpty,
            QrError::TooLong | QrError::DoesNotFit(_) => Code::QrTextTooLong,
        };
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, e.to_string())
    })?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            // The text may carry an invite token: keep the picture out of shared caches.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        svg,
    )
        .into_response())
}
