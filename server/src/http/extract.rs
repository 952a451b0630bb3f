//! Extractors whose rejections are problem+json with stable codes: JSON bodies, path ids,
//! query strings, raw bodies, and the caller's token.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::ApiError;
use crate::domain::access::{Action, authorize};
use crate::domain::{Code, CreatorId, Principal};

/// A JSON body, which must be a JSON object. Syntax errors are 400 `invalid_json`; type and
/// shape errors, a document that is not an object (an array, a string, a number) included,
/// 422 `invalid_body` (or `unknown_field`); a wrong content type 415, an oversized body 413.
///
/// The rejection is held, not raised, so a handler checks who is calling first and only then
/// takes the body with [`ApiJson::value`]: a caller without the right role learns 401/403,
/// never how its body would have been judged.
pub struct ApiJson<T>(Result<T, ApiError>);

impl<T> ApiJson<T> {
    pub fn value(self) -> Result<T, ApiError> {
        self.0
    }
}

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            return Ok(ApiJson(Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Code::UnsupportedMediaType,
                "send the body as Content-Type: application/json",
            ))));
        }
        if let Some(e) = declared_too_large(&req) {
            return Ok(ApiJson(Err(e)));
        }
        Ok(ApiJson(match Bytes::from_request(req, state).await {
            Ok(bytes) => json_object(&bytes),
            Err(e) => Err(bytes_rejection(e)),
        }))
    }
}

/// `application/json`, or any `application/*+json`, as axum's own `Json` accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// Parses a body that must be a JSON object into `T`.
///
/// serde's derived structs also accept a JSON array (their fields in order), so the document's
/// kind is checked first: only `{…}` is a body. A document that is well-formed but not an
/// object is 422 `invalid_body`; anything malformed stays 400 `invalid_json`.
pub fn json_object<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Code::InvalidBody,
            "the body must be a JSON object",
        ));
    }
    axum::Json::<T>::from_bytes(bytes)
        .map(|axum::Json(v)| v)
        .map_err(json_rejection)
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            Code::InvalidJson,
            format!("the body is not valid JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let code = if text.contains("unknown field") {
                Code::UnknownField
            } else {
                Code::InvalidBody
            };
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, text)
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::UnsupportedMediaType,
            "send the body as Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) => bytes_rejection(e),
        other => ApiError::bad_request(Code::InvalidBody, other.body_text()),
    }
}

/// A raw body, with the body limit answered as 413 `payload_too_large`; like [`ApiJson`],
/// the rejection waits until the handler has checked the caller.
pub struct ApiBytes(Result<Bytes, ApiError>);

impl ApiBytes {
    pub fn value(self) -> Result<Bytes, ApiError> {
        self.0
    }
}

impl<S: Send + Sync> FromRequest<S> for ApiBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(e) = declared_too_large(&req) {
            return Ok(ApiBytes(Err(e)));
        }
        Ok(ApiBytes(
            Bytes::from_request(req, state)
                .await
                .map_err(bytes_rejection),
        ))
    }
}

fn bytes_rejection(e: BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        payload_too_large()
    } else if let Some(timeout) = cause::<crate::connections::BodyTimeout>(&e) {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            Code::BodyTimeout,
            format!(
                "the request body did not arrive within {} ms",
                timeout.0.as_millis()
            ),
        )
        .with_header(
            header::CONNECTION,
            header::HeaderValue::from_static("close"),
        )
    } else {
        ApiError::bad_request(Code::InvalidBody, e.body_text())
    }
}

fn payload_too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Code::PayloadTooLarge,
        "the request body is larger than this route accepts",
    )
}

/// The first error of type `E` in `e`'s chain of causes.
fn cause<'a, E: std::error::Error + 'static>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut next = Some(e);
    while let Some(e) = next {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        next = e.source();
    }
    None
}

/// The body limit of a route, for [`declared_too_large`]: set by [`body_limit`] next to
/// axum's own limit, the innermost (the route's) last, so it wins.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// A route's body limit, in bytes: axum's (which stops reading past it) and ours (which
/// answers a larger declared `Content-Length` before reading anything).
pub fn body_limit(
    bytes: usize,
) -> tower::ServiceBuilder<
    tower::layer::util::Stack<
        axum::Extension<BodyLimit>,
        tower::layer::util::Stack<axum::extract::DefaultBodyLimit, tower::layer::util::Identity>,
    >,
> {
    tower::ServiceBuilder::new()
        .layer(axum::extract::DefaultBodyLimit::max(bytes))
        .layer(axum::Extension(BodyLimit(bytes)))
}

/// 413 at once when the body's declared length is over the route's limit: waiting for a body
/// that will be refused anyway (`Content-Length: 2^63-1`) would only hold the connection.
fn declared_too_large(req: &Request) -> Option<ApiError> {
    let BodyLimit(limit) = *req.extensions().get::<BodyLimit>()?;
    let declared: u64 = req
        .headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (declared > limit as u64).then(payload_too_large)
}

/// Path parameters. An id that does not parse names nothing: 404 `not_found`.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(v)| ApiPath(v))
            .map_err(|e: PathRejection| {
                ApiError::not_found(
                    Code::NotFound,
                    format!("no such resource: {}", e.body_text()),
                )
            })
    }
}

/// Query parameters; a bad one is 400 `invalid_query`.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e: QueryRejection| ApiError::bad_request(Code::InvalidQuery, e.body_text()))
    }
}

/// Who is calling, settled once per request by [`authenticate`]: nobody, the operator (admin
/// token), or a verified principal.
#[derive(Debug, Clone, Default)]
pub enum Identity {
    #[default]
    Anonymous,
    Admin,
    Principal(Principal),
}

/// Middleware: reads `Authorization: Bearer <token>` or a `token` query parameter (browsers
/// cannot set headers on WebSockets). A token that is present but bad, forged or expired is
/// refused here with 401 on every route, public ones included; no token is `Anonymous`, and a
/// route that needs one answers 401 `missing_token` through `authorize`.
pub async fn authenticate(
    axum::extract::State(state): axum::extract::State<AppState>,
    mut req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let identity = match bearer_token(req.headers(), req.uri(), is_websocket_upgrade(&req)) {
        Err(e) => return e.into_response(),
        Ok(None) => Identity::Anonymous,
        Ok(Some(token)) if crate::auth::constant_time_eq(&token, &state.admin_token) => {
            Identity::Admin
        }
        Ok(Some(token)) => match state.signer.verify_generation(&token, state.now()) {
            Ok((p, generation)) => match revoked(&state, &p, generation).await {
                Ok(None) => Identity::Principal(p),
                Ok(Some(e)) => {
                    if is_websocket_upgrade(&req) {
                        req.extensions_mut().insert(TokenProblem(e));
                        Identity::Anonymous
                    } else {
                        return ApiError::from(e).into_response();
                    }
                }
                Err(e) => return e.into_response(),
            },
            Err(e) if is_websocket_upgrade(&req) => {
                req.extensions_mut().insert(TokenProblem(e));
                Identity::Anonymous
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    req.extensions_mut().insert(identity);
    next.run(req).await
}

/// A token that was present but not valid, on a WebSocket upgrade: the WebSocket handler
/// answers it with a close code after the handshake (browsers cannot read HTTP statuses of a
/// failed handshake), instead of the 401 other routes give.
#[derive(Debug, Clone)]
pub struct TokenProblem(pub crate::domain::DomainError);

fn is_websocket_upgrade(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Why a valid token no longer counts, if it does not: an invitation that was revoked, or a
/// creator token minted before its creator signed out everywhere (viewer tokens are never
/// revoked; viewers are banned instead).
async fn revoked(
    state: &AppState,
    p: &Principal,
    generation: u64,
) -> Result<Option<crate::domain::DomainError>, ApiError> {
    match p {
        Principal::Moderator {
            show_id, invite_id, ..
        }
        | Principal::Camera {
            show_id, invite_id, ..
        } => Ok(state
            .store
            .is_revoked(*show_id, *invite_id)
            .await?
            .then(|| {
                crate::domain::DomainError::unauthenticated(
                    Code::TokenRevoked,
                    "this invitation was revoked",
                )
            })),
        // Valid while its creator keeps it.
        Principal::CreatorModerator {
            creator_id,
            moderator_id,
            ..
        } => Ok((!state
            .store
            .has_creator_moderator(*creator_id, *moderator_id)
            .await?)
            .then(|| {
                crate::domain::DomainError::unauthenticated(
                    Code::TokenRevoked,
                    "this moderator was removed by the creator",
                )
            })),
        Principal::Creator { creator_id } => Ok(state
            .accounts
            .is_signed_out(*creator_id, generation)
            .await?
            .then(crate::domain::account::token_signed_out)),
        Principal::Viewer { .. } => Ok(None),
    }
}

/// The caller's principal, if a valid token came with the request.
pub struct Caller(pub Option<Principal>);

impl Caller {
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_ref()
    }

    /// The caller's principal, or 401 `missing_token`.
    pub fn signed_in(&self) -> Result<&Principal, ApiError> {
        self.principal().ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                Code::MissingToken,
                "this needs a token (Authorization: Bearer)",
            )
        })
    }

    /// The calling creator, for actions on their own catalog (401/403 otherwise).
    pub fn creator(&self) -> Result<CreatorId, ApiError> {
        authorize(self.principal(), Action::ManageCatalog, None)?;
        match self.0 {
            Some(Principal::Creator { creator_id }) => Ok(creator_id),
            _ => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Code::ForbiddenRole,
                "only creators manage a catalog",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<Identity>() {
            Some(Identity::Principal(p)) => Caller(Some(p.clone())),
            // The admin token is valid but only creates creators: a wrong role, not a missing token.
            Some(Identity::Admin) => {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    Code::ForbiddenRole,
                    "the admin token is for the operator's routes (creators, sign-in links, the overview)",
                ));
            }
            _ => Caller(None),
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Identity>()
            .cloned()
            .unwrap_or_default())
    }
}

/// The client's address (`crate::limits::client_ip`): the peer's, or what a trusted proxy
/// says. Without a peer address (a listener that gives none), the unspecified address, so
/// such requests share one set of per-address limits rather than escaping them.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0)
            .unwrap_or_else(|| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        Ok(ClientIp(crate::limits::client_ip(
            peer,
            &parts.headers,
            &state.config.trusted_proxies,
        )))
    }
}

/// The token of a request: the `Authorization: Bearer` header, or, on WebSocket upgrades only
/// (browsers cannot set headers there), a `token` query parameter. Elsewhere a token in the
/// URL is ignored: URLs end up in logs and `Referer` headers.
fn bearer_token(
    headers: &axum::http::HeaderMap,
    uri: &axum::http::Uri,
    websocket: bool,
) -> Result<Option<String>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let bad = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                Code::InvalidToken,
                "use Authorization: Bearer <token>",
            )
        };
        let text = value.to_str().map_err(|_| bad())?;
        let (scheme, token) = text.trim().split_once(' ').ok_or_else(bad)?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(bad());
        }
        return Ok(Some(token.trim().to_string()));
    }
    if !websocket {
        return Ok(None);
    }
    let query = uri.query().unwrap_or("");
    Ok(query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty()))
}
