//! Accounts over HTTP: sign-in links (operator), sign-out everywhere, passkeys (adding them as
//! a signed-in creator, signing in with one as anyone) and the operator's overview. Handlers
//! extract, call `services::accounts` and map the outcome.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, Caller, Identity};
use super::identity::requester;
use crate::domain::account::NodeInfo;
use crate::domain::account::Passkey;
use crate::domain::{CreatorId, Show, Timestamp};
use crate::services::accounts::{AccountsError, Started};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signin_link))
        .routes(routes!(sign_out))
        .routes(routes!(passkey_options))
        .routes(routes!(add_passkey, list_passkeys))
        .routes(routes!(delete_passkey))
        .routes(routes!(signin_options))
        .routes(routes!(signin))
        .routes(routes!(overview))
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct SigninLink {
    /// `<public URL>/signin#token=<creator token>`: opening it signs a browser in.
    url: String,
}

/// A fresh sign-in link for a creator (operator only, with the admin token).
#[utoipa::path(post, path = "/api/creators/{id}/signin-links", tag = "accounts",
    params(("id" = CreatorId, Path)),
    responses((status = 201, body = SigninLink), (status = 401, body = Problem),
              (status = 403, body = Problem),
              (status = 404, body = Problem, description = "`creator_not_found`")),
    security(("bearer" = [])))]
async fn signin_link(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<CreatorId>,
) -> ApiResult<(StatusCode, Json<SigninLink>)> {
    state.shows.authorize_operator(requester(&identity))?;
    let url = state.accounts.signin_link(id).await?;
    Ok((StatusCode::CREATED, Json(SigninLink { url })))
}

/// Sign out everywhere (creators): every creator token of the caller minted before this
/// call is refused from now on with 401 `token_revoked`, on every node, over HTTP and the
/// WebSocket alike; tokens minted after it (a new sign-in link, a passkey sign-in) work.
#[utoipa::path(post, path = "/api/me/signout", tag = "accounts",
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn sign_out(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    let creator = caller.creator()?;
    state.accounts.sign_out_everywhere(creator).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The first half of a passkey ceremony.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CeremonyOptions {
    /// Send it back with the browser's answer.
    ceremony: String,
    /// The options of `navigator.credentials.create()` or `.get()` in their JSON form
    /// (binary fields base64url), for `PublicKeyCredential.parseCreationOptionsFromJSON` /
    /// `parseRequestOptionsFromJSON`.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    public_key: serde_json::Value,
}

impl From<Started> for CeremonyOptions {
    fn from(s: Started) -> Self {
        CeremonyOptions {
            ceremony: s.ceremony,
            public_key: s.public_key,
        }
    }
}

/// Start adding a passkey (creators). Refused with 409 `passkeys_unavailable` when the
/// server's public URL has no domain name.
#[utoipa::path(post, path = "/api/me/passkeys/options", tag = "accounts",
    responses((status = 200, body = CeremonyOptions), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn passkey_options(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<CeremonyOptions>> {
    let creator = caller.creator()?;
    Ok(Json(
        state.accounts.registration_options(creator).await?.into(),
    ))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPasskey {
    /// The `ceremony` of `POST /api/me/passkeys/options`.
    #[schema(max_length = 64)]
    ceremony: String,
    /// The browser's answer: `PublicKeyCredential.toJSON()` (RegistrationResponseJSON).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// A name for it, e.g. "Maya's phone" (1-40 characters; "Passkey" when absent).
    #[schema(schema_with = super::openapi::text::invite_label)]
    label: Option<String>,
}

/// A creator's passkey.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PasskeyItem {
    /// The credential id (base64url).
    id: String,
    label: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<Timestamp>,
}

impl From<Passkey> for PasskeyItem {
    fn from(p: Passkey) -> Self {
        PasskeyItem {
            id: p.id,
            label: p.label,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

/// The new passkey, as it is listed.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatedPasskey {
    id: String,
    label: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: Timestamp,
}

/// Finish adding a passkey (creators): 422 `invalid_ceremony` for a ceremony that is
/// unknown, used or expired, 422 `invalid_credential` for an answer that does not verify.
#[utoipa::path(post, path = "/api/me/passkeys", tag = "accounts", request_body = NewPasskey,
    responses((status = 201, body = CreatedPasskey), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn add_passkey(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<NewPasskey>,
) -> ApiResult<(StatusCode, Json<CreatedPasskey>)> {
    let creator = caller.creator()?;
    let body = body.value()?;
    let label = body.label.as_deref();
    let p = state
        .accounts
        .register(creator, &body.ceremony, &body.credential, label)
        .await?;
    let created = CreatedPasskey {
        id: p.id,
        label: p.label,
        created_at: p.created_at,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PasskeyList {
    items: Vec<PasskeyItem>,
}

/// The calling creator's passkeys, oldest first (creators).
#[utoipa::path(get, path = "/api/me/passkeys", tag = "accounts",
    responses((status = 200, body = PasskeyList), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list_passkeys(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<PasskeyList>> {
    let creator = caller.creator()?;
    let items = state.accounts.passkeys(creator).await?;
    Ok(Json(PasskeyList {
        items: items.into_iter().map(PasskeyItem::from).collect(),
    }))
}

/// Delete one of the calling creator's passkeys (creators); 404 `passkey_not_found`.
#[utoipa::path(delete, path = "/api/me/passkeys/{id}", tag = "accounts",
    params(("id" = String, Path, description = "the passkey's credential id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn delete_passkey(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let creator = caller.creator()?;
    state.accounts.delete_passkey(creator, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Start signing in with a passkey (anyone; no name is typed: the authenticator offers its
/// passkeys for this site).
#[utoipa::path(post, path = "/api/signin/passkey/options", tag = "accounts",
    responses((status = 200, body = CeremonyOptions), (status = 409, body = Problem)))]
async fn signin_options(State(state): State<AppState>) -> ApiResult<Json<CeremonyOptions>> {
    Ok(Json(state.accounts.signin_options().await?.into()))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeySignin {
    /// The `ceremony` of `POST /api/signin/passkey/options`.
    #[schema(max_length = 64)]
    ceremony: String,
    /// The browser's answer: `PublicKeyCredential.toJSON()` (AuthenticationResponseJSON).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PasskeySignedIn {
    /// A fresh creator token.
    token: String,
    creator_id: CreatorId,
}

/// Finish signing in with a passkey (anyone): 401 `passkey_rejected` for an answer that does
/// not verify or a passkey not registered here, 422 `invalid_ceremony` for a ceremony that is
/// unknown, used or expired.
#[utoipa::path(post, path = "/api/signin/passkey", tag = "accounts", request_body = PasskeySignin,
    responses((status = 200, body = PasskeySignedIn), (status = 401, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn signin(
    State(state): State<AppState>,
    body: ApiJson<PasskeySignin>,
) -> ApiResult<Json<PasskeySignedIn>> {
    let body = body.value()?;
    let done = state
        .accounts
        .signin(&body.ceremony, &body.credential)
        .await?;
    Ok(Json(PasskeySignedIn {
        token: done.token,
        creator_id: done.creator_id,
    }))
}

/// What the operator's page shows.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Overview {
    /// The store answers and this node is not shutting down.
    ready: bool,
    /// `memory` or `redis`.
    store: String,
    /// Nodes whose heartbeat is recent, by id.
    nodes: Vec<NodeInfo>,
    /// Shows live now, longest running first.
    live_shows: Vec<Show>,
}

/// Readiness, the store, the nodes and the live shows (operator only, with the admin token).
#[utoipa::path(get, path = "/api/admin/overview", tag = "accounts",
    responses((status = 200, body = Overview), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn overview(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Overview>> {
    state.shows.authorize_operator(requester(&identity))?;
    let within = state.config.redis_timeout() + std::time::Duration::from_millis(500);
    let o = state.accounts.overview(within).await?;
    Ok(Json(Overview {
        ready: o.ready && !state.shutdown.is_cancelled(),
        store: o.store.to_string(),
        nodes: o.nodes,
        live_shows: o.live_shows,
    }))
}

impl From<AccountsError> for ApiError {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::Refused(e) => e.into(),
            AccountsError::Store(e) => e.into(),
        }
    }
}
