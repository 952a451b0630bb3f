//! Moderation over HTTP: the same `mod.*` commands as the WebSocket (one body shape, one
//! implementation in `crate::moderation`), the moderation state, the audit log, and revoking
//! invitations.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::domain::access::{Action, authorize};
use crate::domain::moderation::{Actor, AuditEntry, ChatPolicy};
use crate::domain::room::{Broadcast, ChatMessage, ChatRules, ModCommand};
use crate::domain::{InviteId, Principal, Show, ShowId};
use crate::moderation::ModError;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(moderate, moderation_state))
        .routes(routes!(audit_log))
        .routes(routes!(revoke_invite))
}

/// The calling moderator or creator of the show, as an audit actor.
async fn moderator(state: &AppState, caller: &Caller, show: &Show) -> ApiResult<Actor> {
    authorize(caller.principal(), Action::Moderate, Some(show))?;
    Ok(match caller.principal() {
        Some(Principal::Creator { creator_id }) => {
            let name = state
                .store
                .creator(*creator_id)
                .await?
                .map(|c| c.name)
                .unwrap_or_else(|| "Host".into());
            Actor {
                id: creator_id.to_string(),
                name,
                role: crate::domain::Role::Creator,
            }
        }
        Some(Principal::Moderator {
            invite_id, label, ..
        }) => Actor {
            id: invite_id.to_string(),
            name: label.clone().unwrap_or_else(|| "Moderator".into()),
            role: crate::domain::Role::Moderator,
        },
        _ => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden_role",
                "only the creator and moderators moderate",
            ));
        }
    })
}

fn mod_error(e: ModError) -> ApiError {
    match e {
        ModError::Rule(e) => e.into(),
        ModError::Store(e) => e.into(),
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
    let applied = command.type_name().to_string();
    let rules = ChatRules {
        max_chars: state.config.chat_max_chars,
    };
    crate::moderation::apply(
        state.store.as_ref(),
        &state.hub,
        &show,
        &actor,
        command,
        rules,
        std::time::Duration::from_secs(state.config.ban_address_cooldown_s),
        state.now(),
    )
    .await
    .map_err(mod_error)?;
    Ok(Json(Applied { applied }))
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
    let held = state
        .store
        .held_messages(&show)
        .await?
        .into_iter()
        .map(|h| HeldView {
            message: h.message,
            reason: h.reason,
            held_at: h.held_at,
        })
        .collect();
    Ok(Json(ModerationState {
        policy: state.store.chat_policy(&show).await?,
        held,
        pinned_message: state.store.pinned_message(&show).await?,
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
    let limit = params.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_limit",
            "limit must be 1-1000",
        ));
    }
    let limit = limit as usize;
    Ok(Json(Audit {
        entries: state.store.audit_log(&show, limit).await?,
    }))
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
    if !state.store.revoke_invite(show.id, invite).await? {
        return Err(ApiError::not_found(
            "invite_not_found",
            format!("show {} has no invitation {invite}", show.id),
        ));
    }
    state
        .hub
        .publish(
            &show,
            &Broadcast::ModNotice {
                to: invite.to_string(),
                action: "revoked".into(),
                until: None,
                reason: None,
            },
        )
        .await?;
    let entry = AuditEntry {
        id: uuid::Uuid::now_v7().to_string(),
        at: state.now(),
        actor,
        action: "invite.revoke".into(),
        target: Some(invite.to_string()),
        reason: None,
        details: serde_json::Value::Null,
    };
    state.store.append_audit(&show, &entry).await?;
    state
        .hub
        .publish(&show, &Broadcast::ModAudit { entry })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
