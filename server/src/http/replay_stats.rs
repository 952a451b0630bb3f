//! Replay metrics over HTTP (`services::replay_stats`): the view beacons a replay page sends
//! (anyone, no token) and the show creator's replay stats. Handlers extract, call the service
//! and map (docs/replay.md, "Selling from the replay, and its metrics").

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiBytes, ApiPath, Caller, ClientIp, json_object};
use crate::domain::ShowId;
use crate::domain::replay_stats::{ReplayStats, ViewBeat};
use crate::services::replay_stats::ReplayStatsError;

impl From<ReplayStatsError> for ApiError {
    fn from(e: ReplayStatsError) -> Self {
        match e {
            ReplayStatsError::Refused(e) => e.into(),
            ReplayStatsError::Store(e) => e.into(),
            ReplayStatsError::RateLimited(wait) => super::identity::rate_limited(
                wait,
                "too many replay beacons from your address; try again shortly",
            ),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(replay_view))
        .routes(routes!(replay_stats))
}

/// A replay view's beacon (anyone, no token): the page sends it about every 10 s while the
/// replay plays and when it is left, with the view's id and how much of the replay it has
/// watched so far. Each view id counts once; the show's watch time is the sum over views of
/// the furthest figure each reported, clamped to the recording's duration. The body is read
/// as JSON whatever its `Content-Type` (`navigator.sendBeacon` sends text). Malformed JSON:
/// 400 `invalid_json`; a wrong field: 422; no replay (yet): 404 `replay_not_ready`; too many
/// beacons from one address: 429 `rate_limited`.
#[utoipa::path(post, path = "/api/shows/{id}/replay/views", tag = "media",
    params(("id" = ShowId, Path)), request_body = ViewBeat,
    responses((status = 204, description = "Counted"),
              (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 413, body = Problem), (status = 422, body = Problem),
              (status = 429, body = Problem)))]
async fn replay_view(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
    ClientIp(address): ClientIp,
    body: ApiBytes,
) -> ApiResult<StatusCode> {
    let beat: ViewBeat = json_object(&body.value()?)?;
    state.replay_stats.beat(id, &beat, address).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The show's replay stats (the show's creator): distinct views, seconds watched, and the
/// paid orders (refunded ones excluded) live and from the replay, each with its units and its
/// revenue per currency.
#[utoipa::path(get, path = "/api/shows/{id}/replay/stats", tag = "media",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = ReplayStats), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn replay_stats(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<ReplayStats>> {
    Ok(Json(
        state.replay_stats.stats(caller.principal(), id).await?,
    ))
}
