//! Creator-wide moderation over HTTP: the blocked terms and the moderators that apply to all
//! of the caller's shows (`services::team`). Creators only; handlers extract, call the team
//! service and map its outcome.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::domain::InviteId;
use crate::domain::access::CreatorWideModerator;
use crate::services::team::TeamError;

impl From<TeamError> for ApiError {
    fn from(e: TeamError) -> Self {
        match e {
            TeamError::Refused(e) => e.into(),
            TeamError::Store(e) => e.into(),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_terms, put_terms))
        .routes(routes!(add_moderator, list_moderators))
        .routes(routes!(remove_moderator))
}

/// Blocked terms of every show of the creator.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// Up to 500 terms of 1-64 characters; `*` at either end is a wildcard. Compared like a
    /// show's terms (look-alike letters and accents folded).
    #[schema(max_items = 500)]
    terms: Vec<String>,
}

/// The blocked terms of all the caller's shows (creators).
#[utoipa::path(get, path = "/api/me/terms", tag = "moderation",
    responses((status = 200, body = Terms), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn get_terms(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Terms>> {
    let creator = caller.creator()?;
    let terms = state.team.terms(creator).await?;
    Ok(Json(Terms { terms }))
}

/// Replace the blocked terms of all the caller's shows (creators): every show's chat refuses
/// them as well as its own.
#[utoipa::path(put, path = "/api/me/terms", tag = "moderation", request_body = Terms,
    responses((status = 200, body = Terms), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn put_terms(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<Terms>,
) -> ApiResult<Json<Terms>> {
    let creator = caller.creator()?;
    let body = body.value()?;
    let terms = state.team.set_terms(creator, &body.terms).await?;
    Ok(Json(Terms { terms }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModeratorInput {
    /// Who it is for (shown in the chat and the audit log).
    #[schema(schema_with = super::openapi::text::moderator_label)]
    label: String,
}

/// A new creator-wide moderator with its token (shown once).
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NewModeratorView {
    #[schema(value_type = String, format = Uuid)]
    id: InviteId,
    label: String,
    /// A moderator token for every show of the creator: open `/moderate/{show}#token=…`.
    token: String,
}

/// Add a moderator for all the caller's shows, current and future (creators).
#[utoipa::path(post, path = "/api/me/moderators", tag = "moderation",
    request_body = ModeratorInput,
    responses((status = 201, body = NewModeratorView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn add_moderator(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<ModeratorInput>,
) -> ApiResult<(StatusCode, Json<NewModeratorView>)> {
    let creator = caller.creator()?;
    let body = body.value()?;
    let added = state.team.add_moderator(creator, &body.label).await?;
    let view = NewModeratorView {
        id: added.moderator.id,
        label: added.moderator.label,
        token: added.token,
    };
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Moderators {
    /// Oldest first.
    items: Vec<CreatorWideModerator>,
}

/// The caller's creator-wide moderators (creators).
#[utoipa::path(get, path = "/api/me/moderators", tag = "moderation",
    responses((status = 200, body = Moderators), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn list_moderators(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Moderators>> {
    let creator = caller.creator()?;
    let items = state.team.moderators(creator).await?;
    Ok(Json(Moderators { items }))
}

/// Remove a creator-wide moderator: its token stops working everywhere (creators).
#[utoipa::path(delete, path = "/api/me/moderators/{moderator_id}", tag = "moderation",
    params(("moderator_id" = String, Path, format = Uuid)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn remove_moderator(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<InviteId>,
) -> ApiResult<StatusCode> {
    let creator = caller.creator()?;
    state.team.remove_moderator(creator, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
