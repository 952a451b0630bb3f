//! The WebSocket handshake of HTTP/1.1 (RFC 6455 section 4.2), checked like axum's
//! `WebSocketUpgrade`, except that the connection's raw stream is ours afterwards, so the
//! room's writers can write to it directly (`hub::outlet`).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;

use crate::domain::Code;
use crate::http::error::ApiError;

/// A request to upgrade to a WebSocket.
pub(super) struct Upgrade {
    key: HeaderValue,
    on_upgrade: hyper::upgrade::OnUpgrade,
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotUpgrade> {
        fn has(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
            headers.get_all(name).iter().any(|v| {
                v.to_str()
                    .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
            })
        }
        let h = &parts.headers;
        if parts.version != Version::HTTP_11
            || parts.method != Method::GET
            || !has(h, header::CONNECTION, "upgrade")
            || !has(h, header::UPGRADE, "websocket")
            || !has(h, header::SEC_WEBSOCKET_VERSION, "13")
        {
            return Err(NotUpgrade);
        }
        let key = h.get(header::SEC_WEBSOCKET_KEY).ok_or(NotUpgrade)?.clone();
        let on_upgrade = parts
            .extensions
            .remove::<hyper::upgrade::OnUpgrade>()
            .ok_or(NotUpgrade)?;
        Ok(Upgrade { key, on_upgrade })
    }
}

/// Not a WebSocket handshake.
pub(super) struct NotUpgrade;

impl IntoResponse for NotUpgrade {
    fn into_response(self) -> Response {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            Code::UpgradeRequired,
            "this address speaks WebSocket only",
        )
        .into_response()
    }
}

/// The connection's stream once upgraded.
pub(super) type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

impl Upgrade {
    /// The 101 answer; `then` runs with the connection's stream once hyper hands it over.
    pub(super) fn on_upgrade<F, Fut>(self, then: F) -> Response
    where
        F: FnOnce(Upgraded) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let on_upgrade = self.on_upgrade;
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => then(TokioIo::new(upgraded)).await,
                Err(e) => tracing::debug!(error = %e, "WebSocket upgrade failed"),
            }
        });
        let accept = tungstenite::handshake::derive_accept_key(self.key.as_bytes());
        Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(header::SEC_WEBSOCKET_ACCEPT, accept)
            .body(axum::body::Body::empty())
            .unwrap_or_default()
    }
}
