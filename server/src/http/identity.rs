//! Who is who: creators (minted by the operator), invites for moderators and cameras (minted
//! by a show's creator), guest viewers (anyone, with a display name), and `GET /api/me`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, Caller, Identity};
use crate::domain::access::{Action, authorize};
use crate::domain::{
    Creator, CreatorId, InviteId, Principal, Role, ShowId, Viewer, ViewerId, names,
};

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
    role: Role,
    /// A name for the invitee, e.g. "Back camera" or "Sam".
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
    display_name: String,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CreatedViewer {
    viewer_id: ViewerId,
    token: String,
}

/// Join a show as a guest viewer with a display name (anyone).
#[utoipa::path(post, path = "/api/shows/{id}/viewers", tag = "identity",
    params(("id" = ShowId, Path)), request_body = NewViewer,
    responses((status = 201, body = CreatedViewer), (status = 404, body = Problem),
              (status = 422, body = Problem)))]
async fn create_viewer(
    State(state): State<AppState>,
    identity: Identity,
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
    // A guest who presents an earlier viewer token (of any show) keeps that identity, so a
    // moderator's ban follows them; a banned identity gets no new token for the show.
    let id = match identity {
        Identity::Principal(Principal::Viewer { viewer_id, .. }) => viewer_id,
        _ => ViewerId(Uuid::now_v7()),
    };
    if !crate::moderation::admitted(state.store.as_ref(), &show, &id.to_string()).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "banned",
            "you are banned from this show",
        ));
    }
    let now = state.now();
    let viewer = Viewer {
        id,
        show_id: show.id,
        display_name: name.clone(),
        created_at: now,
    };
    state.store.insert_viewer(&show, &viewer).await?;
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
