//! The replay over HTTP (docs/replay.md): the VOD playlist of an ended show and the files it
//! names, open to anyone with CORS `*` like LL-HLS; and `recording.mp4` for the show's
//! creator. Files are immutable; one byte `Range` gets 206 (416 past the end), through
//! `http/hls.rs`'s helpers. The recording and its files are `crate::media`'s. The replay's
//! events and highlights (JSON, anyone) are `services::replay`'s.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiPath, Caller};
use super::hls::{ok, problem, ranged};
use super::media::via;
use crate::domain::replay::{ReplayEvent, ReplayProduct};
use crate::domain::{Code, Show, ShowId};
use crate::media::recording::RecordedFile;
use crate::services::replay::{Highlight, ReplayError, ReplayEvents};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(replay_playlist))
        .routes(routes!(replay_file))
        .routes(routes!(recording_mp4))
        .routes(routes!(replay_events))
        .routes(routes!(highlights))
}

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::Refused(e) => e.into(),
            ReplayError::Media(e) => e.into(),
            ReplayError::Store(e) => e.into(),
        }
    }
}

/// The replay's room events and the products they pin.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ReplayEventsView {
    /// Unix ms of the replay's time zero: the recording's first `EXT-X-PROGRAM-DATE-TIME`.
    origin_ms: i64,
    /// From the origin to the end of the last recorded segment.
    duration_ms: i64,
    /// In time order, each `{"at_ms", "type", …}` with the fields of the room event as it was
    /// broadcast: `pin.updated` (`pins`), `chat.message` (`id`, `author`, `role`, `text`,
    /// `at`), `purchase` (`buyer`, `product_id`, `title`, `quantity`), `program.changed`
    /// (`camera`), `chat.cleared`. Deleted messages are left out.
    #[schema(value_type = Vec<Object>)]
    events: Vec<ReplayEvent>,
    /// Every product a `pin.updated` shows, by id, at its price and stock now.
    products: BTreeMap<String, ReplayProduct>,
}

impl From<ReplayEvents> for ReplayEventsView {
    fn from(e: ReplayEvents) -> Self {
        ReplayEventsView {
            origin_ms: e.origin_ms,
            duration_ms: e.duration_ms,
            events: e.events,
            products: e
                .products
                .into_iter()
                .map(|(id, p)| (id.to_string(), p))
                .collect(),
        }
    }
}

/// What the replay shows beside the picture, once the show has ended (as `replay.m3u8`):
/// chat, pins, purchases and cuts at their times in the replay (ms after the recording's first
/// segment), and the pinned products at today's price and stock (a deal's price only while
/// it is open; `deal_ended` when the deal shown is over). Unknown show: 404 `show_not_found`;
/// no replay (yet): 404 `replay_not_ready`.
#[utoipa::path(get, path = "/api/shows/{id}/replay/events", tag = "media",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = ReplayEventsView), (status = 404, body = Problem)))]
async fn replay_events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<ReplayEventsView>> {
    Ok(Json(state.replay.events(id).await?.into()))
}

/// A clip of the replay around the moment a sold product was pinned.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HighlightView {
    #[schema(value_type = String, format = Uuid)]
    product_id: crate::domain::ProductId,
    title: String,
    /// Ms into the replay (a segment's start).
    start_ms: i64,
    /// Ms into the replay (a segment's end).
    end_ms: i64,
    /// The show's page opened at the clip: `…/s/{id}?t={start s}&end={end s}`.
    url: String,
}

/// The replay's highlights.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Highlights {
    highlights: Vec<HighlightView>,
}

/// Highlights of an ended show's replay: for every product with a paid order in the show, a
/// clip from the segment where it was first pinned to the next pin (at most 60 s, at least
/// about 15 s), on segment boundaries, in replay order. Unknown show: 404 `show_not_found`;
/// no replay (yet): 404 `replay_not_ready`.
#[utoipa::path(get, path = "/api/shows/{id}/highlights", tag = "media",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = Highlights), (status = 404, body = Problem)))]
async fn highlights(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Highlights>> {
    let highlights = state
        .replay
        .highlights(id)
        .await?
        .into_iter()
        .map(|h: Highlight| HighlightView {
            product_id: h.product_id,
            title: h.title,
            start_ms: h.start_ms,
            end_ms: h.end_ms,
            url: h.url,
        })
        .collect();
    Ok(Json(Highlights { highlights }))
}

/// The show's visible chapters, shown as `EXT-X-DATERANGE` (a store error leaves them out:
/// the replay still plays).
async fn dateranges(state: &AppState, show: &Show) -> Vec<crate::media::recording::vod::DateRange> {
    match state.chapters.dateranges(show).await {
        Ok(ranges) => ranges,
        Err(e) => {
            tracing::warn!(show = %show.id, error = %e, "replay playlist without its chapters");
            Vec::new()
        }
    }
}

/// The replay of an ended show: an HLS VOD playlist (`EXT-X-PLAYLIST-TYPE:VOD`, `EXT-X-ENDLIST`)
/// of the whole recorded program, with `EXT-X-MAP` per init version, `EXT-X-DISCONTINUITY`
/// at off-air gaps and restarts, `EXT-X-PROGRAM-DATE-TIME` on every segment and chapters as
/// `EXT-X-DATERANGE`. Its files are under `replay/`. A show that is live or has no recording:
/// 404 `replay_not_ready`; unknown: 404 `show_not_found`.
#[utoipa::path(get, path = "/api/shows/{id}/replay.m3u8", tag = "media",
    params(("id" = ShowId, Path)),
    responses((status = 200, description = "The VOD playlist", content_type = "application/vnd.apple.mpegurl", body = String),
              (status = 404, body = Problem)))]
async fn replay_playlist(State(state): State<AppState>, ApiPath(id): ApiPath<ShowId>) -> Response {
    let show = match state.show(id).await {
        Ok(show) => show,
        Err(e) => return problem(e),
    };
    let ranges = dateranges(&state, &show).await;
    match state.media.replay_playlist(&show, &ranges).await {
        Ok(text) => ok(
            StatusCode::OK,
            Bytes::from(text),
            "application/vnd.apple.mpegurl",
            "public, max-age=60",
            None,
        ),
        Err(e) => problem(e.into()),
    }
}

/// A file of the replay: `init-{V}.mp4` or `seg-{MSN}.m4s` of the show's recording. Immutable;
/// `Range` (one byte range) gets 206, or 416. Any other name: 404 `not_found`. Asked of a
/// node that did not record it, it is fetched from the one that did (503
/// `recording_node_unreachable` if that node does not answer).
#[utoipa::path(get, path = "/api/shows/{id}/replay/{file}", tag = "media",
    params(("id" = ShowId, Path), ("file" = String, Path, description = "init-{V}.mp4 or seg-{MSN}.m4s")),
    responses((status = 200, description = "The file", content_type = "video/iso.segment", body = Vec<u8>),
              (status = 206, description = "The requested byte range", content_type = "video/iso.segment", body = Vec<u8>),
              (status = 404, body = Problem), (status = 416, body = Problem),
              (status = 503, body = Problem)))]
async fn replay_file(
    State(state): State<AppState>,
    ApiPath((id, name)): ApiPath<(ShowId, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(file) = RecordedFile::parse(&name) else {
        return problem(ApiError::not_found(
            Code::NotFound,
            "not a file of a recording (init-{V}.mp4 or seg-{MSN}.m4s)",
        ));
    };
    let show = match state.show(id).await {
        Ok(show) => show,
        Err(e) => return problem(e),
    };
    let content_type = match file {
        RecordedFile::Init(_) => "video/mp4",
        RecordedFile::Segment(_) => "video/iso.segment",
    };
    match state.media.replay_file(&show, &name, via(&headers)).await {
        Ok(body) => ranged(body, content_type, &headers),
        Err(e) => problem(e.into()),
    }
}

/// The whole program as one MP4 file (the show's creator only: 401 without a token, 403 for
/// anyone else), joined when first asked for after the show ended. `Range` gets 206, or 416.
/// A show that is live or has no recording: 404 `replay_not_ready`. Recorded on another node:
/// fetched from it with the caller's token (503 `recording_node_unreachable` if it does not
/// answer).
#[utoipa::path(get, path = "/api/shows/{id}/recording.mp4", tag = "media",
    params(("id" = ShowId, Path)),
    responses((status = 200, description = "The MP4 file", content_type = "video/mp4", body = Vec<u8>),
              (status = 206, description = "The requested byte range", content_type = "video/mp4", body = Vec<u8>),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 416, body = Problem),
              (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn recording_mp4(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    headers: HeaderMap,
) -> Response {
    let show = match state.shows.managed(caller.principal(), id).await {
        Ok(show) => show,
        Err(e) => return problem(e.into()),
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match state
        .media
        .recording_mp4(&show, via(&headers), authorization)
        .await
    {
        Ok(body) => {
            let mut response = ranged(body, "video/mp4", &headers);
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.mp4\"")) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, v);
            }
            // Only for its creator: not for shared caches.
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, max-age=3600"),
            );
            response
        }
        Err(e) => problem(e.into()),
    }
}
