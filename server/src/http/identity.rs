//! Who is who: creators (minted by the operator), invites for moderators and cameras (minted
//! by a show's creator), guest viewers (anyone, with a display name), and `GET /api/me`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, Caller, ClientIp, Identity};
use crate::domain::access::{Action, authorize};
use crate::domain::limits::{Budget, BudgetKey, DeviceId};
use crate::domain::{
    Creator, CreatorId, InviteId, Principal, Role, ShowId, Viewer, ViewerId, names,
};
use crate::limits::JoinRefusal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_creator))
        .routes(routes!(create_invite))
        .routes(routes!(create_viewer))
        .routes(routes!(me))
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
    match identity {
        Identity::Admin => {}
        Identity::Anonymous => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing_token",
                "creating creators needs the operator's admin token",
            ));
        }
        Identity::Principal(_) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_role",
                "only the operator's admin token can create creators",
            ));
        }
    }
    let body = body.value()?;
    let now = state.now();
    let creator = Creator::new(CreatorId(Uuid::now_v7()), &body.name, now)?;
    state.store.insert_creator(&creator).await?;
    let token = state.signer.mint(
        &Principal::Creator {
            creator_id: creator.id,
        },
        now,
        state.config.creator_token_ttl_s,
    );
    tracing::info!(creator = %creator.id, "creator created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedCreator {
            id: creator.id,
            token,
        }),
    ))
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
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::ManageShow, Some(&show))?;
    let body = body.value()?;
    let label = body
        .label
        .as_deref()
        .map(|l| names::required(l, "label", 40, "invalid_label"))
        .transpose()?;
    let invite_id = InviteId(Uuid::now_v7());
    let principal = match body.role {
        Role::Moderator => Principal::Moderator {
            show_id: show.id,
            invite_id,
            label,
        },
        Role::Camera => Principal::Camera {
            show_id: show.id,
            invite_id,
            label,
        },
        other => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_role",
                format!(
                    "invites are for moderators and cameras, not {}",
                    other.as_str()
                ),
            ));
        }
    };
    state.store.record_invite(show.id, invite_id).await?;
    let token = state
        .signer
        .mint(&principal, state.now(), state.config.invite_token_ttl_s);
    let url = invite_url(&state.public_url, &principal, &token);
    Ok((StatusCode::CREATED, Json(CreatedInvite { token, url })))
}

/// The page an invite opens. Tokens for pages that take the show in the path travel in the
/// fragment, which browsers never send to servers or log.
pub fn invite_url(base: &str, principal: &Principal, token: &str) -> String {
    match principal {
        Principal::Camera { .. } => format!("{base}/camera/{token}"),
        Principal::Moderator { show_id, .. } => format!("{base}/moderate/{show_id}#token={token}"),
        Principal::Creator { .. } => format!("{base}/#token={token}"),
        Principal::Viewer { show_id, .. } => format!("{base}/s/{show_id}#token={token}"),
    }
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
/// `rate_limited` (and `Retry-After`) beyond `--join-rate` joins per address.
#[utoipa::path(post, path = "/api/shows/{id}/viewers", tag = "identity",
    params(("id" = ShowId, Path)), request_body = NewViewer,
    responses((status = 201, body = CreatedViewer), (status = 403, body = Problem,
               description = "`banned`"),
              (status = 404, body = Problem),
              (status = 422, body = Problem, description = "e.g. `invalid_display_name`, `invalid_device_id`"),
              (status = 429, body = Problem, description = "`rate_limited`, with `Retry-After`")))]
async fn create_viewer(
    State(state): State<AppState>,
    identity: Identity,
    ClientIp(ip): ClientIp,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<NewViewer>,
) -> ApiResult<(StatusCode, Json<CreatedViewer>)> {
    let show = state.show(id).await?;
    let body = body.value()?;
    // The host's name is reserved in their shows (a deleted creator leaves only the role
    // names reserved).
    let host = state.store.creator(show.creator_id).await?;
    let host_name = host.as_ref().map_or("", |c| c.name.as_str());
    let name = names::viewer_name(&body.display_name, host_name)?;
    let device = body.device_id.as_deref().map(DeviceId::parse).transpose()?;
    join_budget(&state, ip).await?;
    // A guest who presents an earlier viewer token (of any show), or whose browser joined one
    // of the creator's shows before, keeps that identity, so a moderator's ban, a deal's
    // per-buyer limit and the chat budget follow them; a banned identity gets no new token.
    let token_viewer = match identity {
        Identity::Principal(Principal::Viewer { viewer_id, .. }) => Some(viewer_id),
        _ => None,
    };
    let id = match crate::limits::resolve_join(
        state.store.as_ref(),
        &show,
        token_viewer,
        device.as_ref(),
        ip,
        state.now(),
        ViewerId(Uuid::now_v7()),
    )
    .await?
    {
        Ok(id) => id,
        Err(JoinRefusal::Banned) => return Err(banned("you are banned from this show")),
        Err(JoinRefusal::AddressCoolingDown) => {
            return Err(banned(
                "a viewer banned from this show joined from your address recently; try again later",
            ));
        }
    };
    let now = state.now();
    let viewer = Viewer {
        id,
        show_id: show.id,
        display_name: name.clone(),
        created_at: now,
    };
    state.store.insert_viewer(&show, &viewer).await?;
    let remember = Duration::from_secs(state.config.device_memory_days.saturating_mul(86_400));
    crate::limits::record_join(
        state.store.as_ref(),
        &show,
        viewer.id,
        device.as_ref(),
        ip,
        remember,
    )
    .await?;
    let token = state.signer.mint(
        &Principal::Viewer {
            show_id: show.id,
            viewer_id: viewer.id,
            name,
        },
        now,
        state.config.viewer_token_ttl_s,
    );
    Ok((
        StatusCode::CREATED,
        Json(CreatedViewer {
            viewer_id: viewer.id,
            token,
        }),
    ))
}

fn banned(detail: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "banned", detail.to_string())
}

/// One join from `ip` out of its `--join-rate` budget, shared by every node; 429 beyond.
async fn join_budget(state: &AppState, ip: std::net::IpAddr) -> ApiResult<()> {
    let config = &state.config;
    if config.join_rate == 0 {
        return Ok(());
    }
    let budget = Budget::new(
        config.join_rate,
        Duration::from_secs(config.join_rate_period_s),
    );
    let now_ms = state.now().timestamp_millis().max(0) as u64;
    match state
        .store
        .take_budget(&BudgetKey::Join { address: ip }, budget, now_ms)
        .await?
    {
        Ok(()) => Ok(()),
        Err(wait) => {
            metrics::counter!("livesale_limits_refused_total", "limit" => "join_rate").increment(1);
            Err(rate_limited(
                wait,
                "too many joins from your address; try again shortly",
            ))
        }
    }
}

/// 429 `rate_limited` with `Retry-After` in whole seconds (at least 1).
pub fn rate_limited(wait: Duration, detail: &str) -> ApiError {
    let secs = wait.as_millis().div_ceil(1000).max(1);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
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
    /// Display name (viewers) or label (invites).
    name: Option<String>,
}

/// Who the bearer token says the caller is (any valid token).
#[utoipa::path(get, path = "/api/me", tag = "identity",
    responses((status = 200, body = Me), (status = 401, body = Problem)),
    security(("bearer" = [])))]
async fn me(caller: Caller) -> ApiResult<Json<Me>> {
    let Some(p) = caller.0 else {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "this needs a token (Authorization: Bearer)",
        ));
    };
    let role = p.role();
    let me = match p {
        Principal::Creator { creator_id } => Me {
            role: Role::Creator,
            show_id: None,
            creator_id: Some(creator_id),
            viewer_id: None,
            name: None,
        },
        Principal::Moderator { show_id, label, .. } | Principal::Camera { show_id, label, .. } => {
            Me {
                role,
                show_id: Some(show_id),
                creator_id: None,
                viewer_id: None,
                name: label,
            }
        }
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
