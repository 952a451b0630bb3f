//! The program as LL-HLS over HTTP (docs/hls.md): the media playlist with blocking reload and
//! the files it names. Open to anyone (no token), CORS `*`, GET and HEAD (axum answers HEAD
//! from the GET handler, without the body); a single byte `Range` on files gets 206 (416 when
//! it cannot be satisfied). Caching is what a CDN needs: files are immutable; a playlist lives
//! a second, and a blocking answer for a given `_HLS_msn`/`_HLS_part` longer. The packaging
//! and waiting are `crate::media`'s; another node's show gets 307 to its media home.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, Problem};
use super::extract::{ApiPath, ApiQuery};
use super::media::{cors, redirect, via};
use crate::domain::{Code, ShowId};
use crate::media::{Block, FileKind, Media, MediaError, Reply};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(playlist))
        .routes(routes!(file))
}

const FILE_CACHE: &str = "public, max-age=31536000, immutable";

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PlaylistParams {
    /// Blocking reload: answer once the playlist holds this media sequence number's segment
    /// (or, with `_HLS_part`, that part of it).
    #[serde(rename = "_HLS_msn")]
    #[param(rename = "_HLS_msn")]
    msn: Option<u64>,
    /// With `_HLS_msn`: the part index within that segment (alone, it is ignored).
    #[serde(rename = "_HLS_part")]
    #[param(rename = "_HLS_part")]
    part: Option<u32>,
    /// Delta updates are not offered; the parameter is ignored.
    #[serde(rename = "_HLS_skip")]
    #[param(rename = "_HLS_skip")]
    #[allow(dead_code)]
    skip: Option<String>,
}

fn count(kind: FileKind) {
    metrics::counter!("livesale_hls_requests_total", "kind" => kind.as_str()).increment(1);
}

/// A problem with the CORS header (players on any origin read the `code`), never cached.
pub(super) fn problem(e: ApiError) -> Response {
    problem_cached(e, "no-store")
}

fn problem_cached(e: ApiError, cache: &str) -> Response {
    let mut response = e.into_response();
    cors(response.headers_mut());
    if let Ok(v) = HeaderValue::from_str(cache) {
        response.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    response
}

/// How long a blocking playlist answer, or the final 404 of a file that will never be served
/// (`hls_gone`), may be cached: six target durations.
fn settled_cache(state: &AppState) -> String {
    format!(
        "public, max-age={}",
        state.media.hls_config().target_duration_s() * 6
    )
}

/// The show's LL-HLS media playlist (RFC 8216bis): one rendition, H.264 video (track 1) and,
/// when the program has audio, Opus (track 2) muxed in CMAF fMP4. `_HLS_msn`/`_HLS_part` hold
/// the request until that part exists (at most about three target durations, then the current
/// playlist); more than two segments ahead: 400 `hls_request_too_far`. Nothing packaged yet:
/// 404 `hls_not_started` with `Retry-After`; cameras that send VP8 only: 409
/// `program_not_packageable`; too many held requests: 503 `hls_busy`; `--hls false`: 404
/// `hls_disabled`.
#[utoipa::path(get, path = "/api/shows/{id}/hls/live.m3u8", tag = "media",
    params(("id" = ShowId, Path), PlaylistParams),
    responses((status = 200, description = "The media playlist", content_type = "application/vnd.apple.mpegurl", body = String),
              (status = 307, description = "Another node packages this show: `Location` is the same request there"),
              (status = 400, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 503, body = Problem)))]
async fn playlist(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
    query: Result<ApiQuery<PlaylistParams>, ApiError>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let ApiQuery(params) = match query {
        Ok(q) => q,
        Err(e) => return problem(e),
    };
    // `_HLS_part` alone asks nothing a playlist can wait for: the playlist as it is.
    let block = params.msn.map(|msn| Block {
        msn,
        part: params.part,
    });
    count(if block.is_some() {
        FileKind::BlockingPlaylist
    } else {
        FileKind::Playlist
    });
    let show = match state.show(id).await {
        Ok(show) => show,
        Err(e) => return problem(e),
    };
    let reply = state.media.hls_playlist(&show, block, via(&headers)).await;
    let body = match reply {
        Ok(Reply::Here(body)) => body,
        Ok(Reply::AtHome(home)) => return redirect(&home, &uri),
        Err(e) => return problem(e.into()),
    };
    let cache = if block.is_some() {
        settled_cache(&state)
    } else {
        "public, max-age=1".to_string()
    };
    ok(
        StatusCode::OK,
        body,
        "application/vnd.apple.mpegurl",
        &cache,
        None,
    )
}

/// A file of the live window: `init-{V}.mp4` (an init segment: a new version when the codec
/// parameters change), `seg-{MSN}.m4s` (a segment), `part-{MSN}.{P}.m4s` (a partial segment).
/// Immutable. The part the playlist's preload hint names is held until it is complete. A file
/// the window no longer holds: 404 `hls_gone`. `Range` (one byte range) gets 206, or 416.
#[utoipa::path(get, path = "/api/shows/{id}/hls/{file}", tag = "media",
    params(("id" = ShowId, Path), ("file" = String, Path, description = "init-{V}.mp4, seg-{MSN}.m4s or part-{MSN}.{P}.m4s")),
    responses((status = 200, description = "The file", content_type = "video/iso.segment", body = Vec<u8>),
              (status = 206, description = "The requested byte range", content_type = "video/iso.segment", body = Vec<u8>),
              (status = 307, description = "Another node packages this show: `Location` is the same request there"),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 416, body = Problem), (status = 503, body = Problem)))]
async fn file(
    State(state): State<AppState>,
    ApiPath((id, name)): ApiPath<(ShowId, String)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let Some(kind) = Media::hls_file_kind(&name) else {
        return problem(ApiError::not_found(
            Code::NotFound,
            format!("{name} is not a file of an LL-HLS window"),
        ));
    };
    count(kind);
    let show = match state.show(id).await {
        Ok(show) => show,
        Err(e) => return problem(e),
    };
    let body = match state.media.hls_file(&show, &name, via(&headers)).await {
        Ok(Reply::Here(body)) => body,
        Ok(Reply::AtHome(home)) => return redirect(&home, &uri),
        // Final: names are never reused (numbering starts from the clock), so a cache may keep
        // it, and a crowd asking for a hinted part that was never made does not reach us.
        Err(MediaError::HlsGone) => {
            return problem_cached(MediaError::HlsGone.into(), &settled_cache(&state));
        }
        Err(e) => return problem(e.into()),
    };
    let content_type = if kind == FileKind::Init {
        "video/mp4"
    } else {
        "video/iso.segment"
    };
    ranged(body, content_type, &headers)
}

/// The file, or the one byte range the request asks for (206; 416 past the end).
pub(super) fn ranged(body: Bytes, content_type: &'static str, headers: &HeaderMap) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| byte_range(r, body.len()));
    match range {
        None => ok(StatusCode::OK, body, content_type, FILE_CACHE, None),
        Some(Ok((start, end))) => {
            let total = body.len();
            ok(
                StatusCode::PARTIAL_CONTENT,
                body.slice(start..=end),
                content_type,
                FILE_CACHE,
                Some(format!("bytes {start}-{end}/{total}")),
            )
        }
        Some(Err(())) => {
            let mut response = problem(ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                Code::InvalidQuery,
                format!("the file has {} bytes", body.len()),
            ));
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", body.len())) {
                response.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            response
        }
    }
}

pub(super) fn ok(
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    cache: &str,
    content_range: Option<String>,
) -> Response {
    let len = body.len();
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    if let Some(range) = content_range.and_then(|r| HeaderValue::from_str(&r).ok()) {
        h.insert(header::CONTENT_RANGE, range);
    }
    cors(h);
    response
}

/// The one byte range of a `Range` header over `len` bytes: `Some(Ok((first, last)))`,
/// `Some(Err(()))` when it cannot be satisfied, `None` when the header is not a single byte
/// range (the whole file is then sent, as RFC 9110 allows).
pub fn byte_range(header: &str, len: usize) -> Option<Result<(usize, usize), ()>> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    let range = if first.is_empty() {
        let suffix: usize = last.parse().ok()?;
        if suffix == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(suffix), len - 1)
    } else {
        let first: usize = first.parse().ok()?;
        let last: usize = if last.is_empty() {
            len.saturating_sub(1)
        } else {
            let last: usize = last.parse().ok()?;
            if last < first {
                return None;
            }
            last.min(len.saturating_sub(1))
        };
        if first >= len {
            return Some(Err(()));
        }
        (first, last)
    };
    Some(Ok(range))
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-9", 100), Some(Ok((0, 9))));
        assert_eq!(byte_range("bytes=90-", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=-10", 100), Some(Ok((90, 99))));
        assert_eq!(byte_range("bytes=50-500", 100), Some(Ok((50, 99))));
        assert_eq!(byte_range("bytes=100-", 100), Some(Err(())));
        assert_eq!(byte_range("bytes=-0", 100), Some(Err(())));
        assert_eq!(byte_range("bytes=0-1,5-6", 100), None);
        assert_eq!(byte_range("items=0-1", 100), None);
        assert_eq!(byte_range("bytes=9-1", 100), None);
        assert_eq!(byte_range("bytes=x-1", 100), None);
    }
}
