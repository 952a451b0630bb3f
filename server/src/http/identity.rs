//! Who is who, over HTTP: creators (minted by the operator), invites for moderators and cameras
//! (minted by a show's creator), guest viewers (anyone, with a display name), and `GET /api/me`.
//! Handlers extract, call `services::shows` and map the outcome.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, ClientIp, Identity};
use super::page::{PageParams, next_cursor};
use crate::domain::{Code, CreatorId, Principal, Role, ShowId, ViewerId};
use crate::services::shows::{Invite, Join, Joined, Requester};
use crate::store::PageAfter;

pub use crate::services::shows::invite_url;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_creator, list_creators))
        .routes(routes!(create_invite))
        .routes(routes!(create_viewer))
        .routes(routes!(me, rename_me))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCreator {
    #[schema(schema_with = super::openapi::text::creator_name)]
    name: String,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatedCreator {
    id: CreatorId,
    /// The creator's bearer token.
    token: String,
    /// The creator's sign-in link (`<public URL>/signin#token=…`), to hand to them.
    signin_url: String,
}

/// Create a creator account (operator only, with the admin token).
#[utoipa::path(post, path = "/api/creators", tag = "identity",
    request_body = NewCreator,
    responses((status = 201, body = CreatedCreator), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_creator(
    State(state): State<AppState>,
    identity: Identity,
    body: ApiJson<NewCreator>,
) -> ApiResult<(StatusCode, Json<CreatedCreator>)> {
    state.shows.authorize_operator(requester(&identity))?;
    let body = body.value()?;
    let (id, token) = state.shows.create_creator(&body.name).await?;
    let signin_url = state.accounts.signin_url(&token);
    Ok((
        StatusCode::CREATED,
        Json(CreatedCreator {
            id,
            token,
            signin_url,
        }),
    ))
}

/// One creator in the operator's listing.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatorItem {
    id: CreatorId,
    name: String,
    #[schema(value_type = String, format = DateTime)]
    created_at: crate::domain::Timestamp,
}

/// A page of creators.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatorPage {
    items: Vec<CreatorItem>,
    /// The `cursor` of the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// Creators, oldest first, a page at a time (operator only, with the admin token).
#[utoipa::path(get, path = "/api/creators", tag = "identity", params(PageParams),
    responses((status = 200, body = CreatorPage), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn list_creators(
    State(state): State<AppState>,
    identity: Identity,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<CreatorPage>> {
    state.shows.authorize_operator(requester(&identity))?;
    let page = params.check()?;
    let found = state.accounts.creators(page.after, page.limit).await?;
    Ok(Json(CreatorPage {
        next_cursor: next_cursor(&found, PageAfter::creator),
        items: found
            .items
            .into_iter()
            .map(|c| CreatorItem {
                id: c.id,
                name: c.name,
                created_at: c.created_at,
            })
            .collect(),
    }))
}

pub(super) fn requester(identity: &Identity) -> Requester {
    match identity {
        Identity::Admin => Requester::Operator,
        Identity::Anonymous => Requester::Anonymous,
        Identity::Principal(_) => Requester::Principal,
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewInvite {
    /// `moderator` or `camera`.
    #[schema(schema_with = super::openapi::text::invite_role)]
    role: Role,
    /// A name for the invitee, e.g. "Back camera" or "Sam".
    #[schema(schema_with = super::openapi::text::invite_label)]
    label: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatedInvite {
    token: String,
    /// The link to open: the moderator desk, or the phone camera page.
    url: String,
}

/// Mint a moderator or camera invite link for a show (its creator only).
#[utoipa::path(post, path = "/api/shows/{id}/invites", tag = "identity",
    params(("id" = ShowId, Path)), request_body = NewInvite,
    responses((status = 201, body = CreatedInvite), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<NewInvite>,
) -> ApiResult<(StatusCode, Json<CreatedInvite>)> {
    let show = state.shows.managed(caller.principal(), id).await?;
    let body = body.value()?;
    let label = body.label.as_deref();
    let Invite { token, url } = state.shows.invite(&show, body.role, label).await?;
    Ok((StatusCode::CREATED, Json(CreatedInvite { token, url })))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewViewer {
    /// The name others see in chat and purchase events: 1-32 characters with something
    /// visible; not a role name ("Creator", "Moderator", …) or the host's name
    /// (`reserved_display_name`).
    #[schema(schema_with = super::openapi::text::display_name)]
    display_name: String,
    /// Optional: the browser's stable id, a random string of 16-64 characters
    /// (`A-Z a-z 0-9 - _`) created once and kept (the viewer page keeps it in localStorage).
    /// A device that joined one of the creator's shows before gets its earlier viewer
    /// identity back, so bans, per-buyer limits and budgets follow it. Keep it as secret as a
    /// token.
    #[schema(min_length = 16, max_length = 64, pattern = "^[A-Za-z0-9_-]+$")]
    device_id: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatedViewer {
    viewer_id: ViewerId,
    token: String,
}

/// Join a show as a guest viewer with a display name (anyone).
///
/// Joining again with an earlier viewer token, or with the same `device_id`, keeps the
/// earlier identity. Refused with 403 `banned` when that identity is banned, and for a new
/// identity from the address of a viewer banned within `--ban-address-cooldown-s`; with 429
/// `rate_limited` (and `Retry-After`) beyond `--join-rate` joins per address; with 409
/// `show_cancelled` for a show that was called off.
#[utoipa::path(post, path = "/api/shows/{id}/viewers", tag = "identity",
    params(("id" = ShowId, Path)), request_body = NewViewer,
    responses((status = 201, body = CreatedViewer), (status = 403, body = Problem,
               description = "`banned`"),
              (status = 404, body = Problem),
              (status = 409, body = Problem, description = "`show_cancelled`: the show was called off"),
              (status = 422, body = Problem, description = "e.g. `invalid_display_name`, `invalid_device_id`"),
              (status = 429, body = Problem, description = "`rate_limited`, with `Retry-After`")))]
async fn create_viewer(
    State(state): State<AppState>,
    identity: Identity,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<NewViewer>,
) -> ApiResult<(StatusCode, Json<CreatedViewer>)> {
    let show = state.shows.get(id).await?;
    let body = body.value()?;
    let earlier = match identity {
        Identity::Principal(Principal::Viewer { viewer_id, .. }) => Some(viewer_id),
        _ => None,
    };
    let join = Join {
        display_name: &body.display_name,
        device_id: body.device_id.as_deref(),
        address: ip,
        earlier,
    };
    let Joined { viewer_id, token } = state.shows.join(&show, join).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedViewer { viewer_id, token }),
    ))
}

/// 429 `rate_limited` with `Retry-After` in whole seconds (at least 1).
pub fn rate_limited(wait: Duration, detail: &str) -> ApiError {
    let secs = wait.as_millis().div_ceil(1000).max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        Code::RateLimited,
        detail.to_string(),
    )
    .with_header(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(secs as u64),
    )
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Me {
    role: Role,
    /// The show an invite or viewer token is for (absent for creators).
    show_id: Option<ShowId>,
    creator_id: Option<CreatorId>,
    viewer_id: Option<ViewerId>,
    /// Display name (creators and viewers) or label (invites).
    name: Option<String>,
}

/// Who the bearer token says the caller is (any valid token).
#[utoipa::path(get, path = "/api/me", tag = "identity",
    responses((status = 200, body = Me), (status = 401, body = Problem)),
    security(("bearer" = [])))]
async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Me>> {
    let p = caller.signed_in()?.clone();
    let role = p.role();
    let me = match p {
        Principal::Creator { creator_id } => {
            // A creator whose record is gone still has a valid token until it expires.
            let name = match state.accounts.creator(creator_id).await {
                Ok(c) => Some(c.name),
                Err(crate::services::accounts::AccountsError::Refused(_)) => None,
                Err(e) => return Err(e.into()),
            };
            creator_me(creator_id, name)
        }
        Principal::Moderator { show_id, label, .. } | Principal::Camera { show_id, label, .. } => {
            Me {
                role,
                show_id: Some(show_id),
                creator_id: None,
                viewer_id: None,
                name: label,
            }
        }
        Principal::CreatorModerator {
            creator_id, label, ..
        } => Me {
            role,
            show_id: None,
            creator_id: Some(creator_id),
            viewer_id: None,
            name: label,
        },
        Principal::Viewer {
            show_id,
            viewer_id,
            name,
        } => Me {
            role: Role::Viewer,
            show_id: Some(show_id),
            creator_id: None,
            viewer_id: Some(viewer_id),
            name: Some(name),
        },
    };
    Ok(Json(me))
}

fn creator_me(creator_id: CreatorId, name: Option<String>) -> Me {
    Me {
        role: Role::Creator,
        show_id: None,
        creator_id: Some(creator_id),
        viewer_id: None,
        name,
    }
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeChange {
    /// The creator's display name.
    #[schema(schema_with = super::openapi::text::creator_name)]
    name: String,
}

/// Change the calling creator's display name (creators).
#[utoipa::path(patch, path = "/api/me", tag = "identity", request_body = MeChange,
    responses((status = 200, body = Me), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn rename_me(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<MeChange>,
) -> ApiResult<Json<Me>> {
    let creator = caller.creator()?;
    let body = body.value()?;
    let renamed = state.accounts.rename(creator, &body.name).await?;
    Ok(Json(creator_me(creator, Some(renamed.name))))
}
