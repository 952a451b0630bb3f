//! Moderation over HTTP: the same `mod.*` commands as the WebSocket (one body shape, one
//! implementation: `services::moderation`), the moderation state, the audit log, and revoking
//! invitations. Handlers extract, call the moderation service and map its outcome.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::domain::access::{Action, authorize};
use crate::domain::chat::ChatMessage;
use crate::domain::moderation::{Actor, AuditEntry, ChatPolicy};
use crate::domain::protocol::ModCommand;
use crate::domain::{InviteId, Show, ShowId};
use crate::services::moderation::ModError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(moderate, moderation_state))
        .routes(routes!(audit_log))
        .routes(routes!(revoke_invite))
}

/// The calling moderator or creator of the show, as an audit actor.
async fn moderator(state: &AppState, caller: &Caller, show: &Show) -> ApiResult<Actor> {
    Ok(state.moderation.actor(caller.principal(), show).await?)
}

impl From<ModError> for ApiError {
    fn from(e: ModError) -> Self {
        match e {
            ModError::Rule(e) => e.into(),
            ModError::Store(e) => e.into(),
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Applied {
    applied: String,
}

/// Apply a moderation command (creator, moderators): the same JSON as the WebSocket's
/// `mod.*` messages, e.g. `{"type":"mod.timeout","viewer_id":"…","seconds":60}`.
#[utoipa::path(post, path = "/api/shows/{id}/moderation", tag = "moderation",
    params(("id" = ShowId, Path)), request_body = ModCommand,
    responses((status = 200, body = Applied), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn moderate(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<ModCommand>,
) -> ApiResult<Json<Applied>> {
    let show = state.show(id).await?;
    let actor = moderator(&state, &caller, &show).await?;
    let command = body.value()?;
    let applied = state.moderation.apply(&show, &actor, command).await?;
    Ok(Json(Applied {
        applied: applied.command.to_string(),
    }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HeldView {
    #[schema(value_type = Object)]
    message: ChatMessage,
    reason: crate::domain::moderation::HoldReason,
    #[schema(value_type = String, format = DateTime)]
    held_at: crate::domain::Timestamp,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ModerationState {
    policy: ChatPolicy,
    held: Vec<HeldView>,
    #[schema(value_type = Option<Object>)]
    pinned_message: Option<ChatMessage>,
}

/// The chat policy, the held-for-review queue and the pinned message (creator, moderators).
#[utoipa::path(get, path = "/api/shows/{id}/moderation", tag = "moderation",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = ModerationState), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn moderation_state(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<ModerationState>> {
    let show = state.show(id).await?;
    moderator(&state, &caller, &show).await?;
    let overview = state.moderation.overview(&show).await?;
    let held = overview
        .held
        .into_iter()
        .map(|h| HeldView {
            message: h.message,
            reason: h.reason,
            held_at: h.held_at,
        })
        .collect();
    Ok(Json(ModerationState {
        policy: overview.policy,
        held,
        pinned_message: overview.pinned_message,
    }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// How many of the newest entries, 1-1000 (default 200).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Audit {
    entries: Vec<AuditEntry>,
}

/// The show's audit log, oldest first (creator, moderators).
#[utoipa::path(get, path = "/api/shows/{id}/audit", tag = "moderation",
    params(("id" = ShowId, Path), AuditParams),
    responses((status = 200, body = Audit), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn audit_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<Audit>> {
    let show = state.show(id).await?;
    moderator(&state, &caller, &show).await?;
    let entries = state.moderation.audit_log(&show, params.limit).await?;
    Ok(Json(Audit { entries }))
}

/// Revoke a moderator or camera invitation (the show's creator): its token stops working on
/// every route and its open connections are closed.
#[utoipa::path(delete, path = "/api/shows/{id}/invites/{invite_id}", tag = "moderation",
    params(("id" = ShowId, Path), ("invite_id" = InviteId, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn revoke_invite(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, invite)): ApiPath<(ShowId, InviteId)>,
) -> ApiResult<StatusCode> {
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::ManageShow, Some(&show))?;
    let actor = moderator(&state, &caller, &show).await?;
    state
        .moderation
        .revoke_invite(&show, &actor, invite)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
