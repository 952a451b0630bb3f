//! Media over HTTP: WHIP (RFC 9725) for cameras, WHEP for viewers, the camera list and the
//! on-air switch. The WebRTC work is `crate::media`'s; here are the HTTP rules:
//!
//! - `POST …/whip` and `POST …/whep` take `Content-Type: application/sdp` (else 415) and answer
//!   201 with the SDP answer, a `Location` (the session URL, relative), and one `Link` header
//!   per configured STUN/TURN server (`rel="ice-server"`).
//! - `DELETE` on the session URL ends the session (200). `PATCH` (trickle ICE, ICE restart) is
//!   not supported: 501, as RFC 9725 asks of a server that supports neither; the answer
//!   already carries every server candidate. `OPTIONS` answers CORS preflights with
//!   `Accept-Post: application/sdp`.
//! - Errors are problem+json: 400 `invalid_sdp`/`invalid_offer`, 401/403 from `authorize`,
//!   404, 409 `codec_mismatch`/`show_ended`, 415 `unsupported_media_type`, 503
//!   `media_at_capacity` with `Retry-After`.
//! - With several nodes, WHIP/WHEP that reach a node other than the show's media home get 307
//!   to the home (same path and query); the camera list and the program are forwarded there.
//!
//! The session URLs (`DELETE`, `PATCH`, `OPTIONS`) and the endpoints' `OPTIONS` are protocol
//! plumbing, left out of the OpenAPI document; `tests/media.rs` walks their status codes.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{options, patch};
use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiBytes, ApiJson, ApiPath, ApiQuery, Caller};
use crate::domain::access::{Action, authorize};
use crate::domain::media_ids::CameraId;
use crate::domain::{Code, Principal, Show, ShowId};
use crate::media::{
    Answer, CameraView, MediaError, ProgramChoice, ProgramView, Reply, SessionKind, Via, Watch,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(whip))
        .routes(routes!(whep))
        .routes(routes!(cameras))
        .routes(routes!(program, program_state))
        .route("/api/shows/{id}/whip", options(preflight_endpoint))
        .route("/api/shows/{id}/whep", options(preflight_endpoint))
        .route(
            "/api/shows/{id}/whip/{session}",
            patch(patch_whip)
                .delete(end_whip)
                .options(preflight_session),
        )
        .route(
            "/api/shows/{id}/whep/{session}",
            patch(patch_whep)
                .delete(end_whep)
                .options(preflight_session),
        )
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> Self {
        let retry =
            |e: ApiError| e.with_header(header::RETRY_AFTER, HeaderValue::from_static("10"));
        match e {
            MediaError::BadSdp(m) => ApiError::bad_request(Code::InvalidSdp, m),
            MediaError::Tracks(m) => ApiError::bad_request(Code::InvalidOffer, m),
            MediaError::CodecMismatch(m) => {
                ApiError::new(StatusCode::CONFLICT, Code::CodecMismatch, m)
            }
            MediaError::AtCapacity => retry(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Code::MediaAtCapacity,
                "this node is serving as many viewers as it can; try again shortly",
            )),
            MediaError::PortsExhausted => retry(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Code::MediaPortsExhausted,
                "every media port of this node is in use; try again shortly",
            )),
            MediaError::NoVideo(id) => ApiError::new(
                StatusCode::CONFLICT,
                Code::CameraWithoutVideo,
                format!("camera {id} sends no video; it can only be the audio source"),
            ),
            MediaError::CameraNotFound(id) => {
                ApiError::not_found(Code::CameraNotFound, format!("no camera {id} in this show"))
            }
            MediaError::SessionNotFound => {
                ApiError::not_found(Code::SessionNotFound, "no such media session")
            }
            MediaError::ShowEnded => {
                ApiError::new(StatusCode::CONFLICT, Code::ShowEnded, "this show has ended")
            }
            MediaError::NothingToDirect => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                Code::InvalidBody,
                "give \"camera\" (an id, or null for off air) and/or \"audio\"",
            ),
            MediaError::Refused(e) => e.into(),
            MediaError::Store(e) => e.into(),
            MediaError::Internal(cause) => ApiError::internal(cause),
            MediaError::HlsDisabled => {
                ApiError::not_found(Code::HlsDisabled, "LL-HLS is off on this node")
            }
            MediaError::HlsNotStarted => ApiError::not_found(
                Code::HlsNotStarted,
                "nothing of this show's program has been packaged yet; try again shortly",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            MediaError::NotPackageable(m) => {
                ApiError::new(StatusCode::CONFLICT, Code::ProgramNotPackageable, m)
            }
            MediaError::HlsTooFar => ApiError::bad_request(
                Code::HlsRequestTooFar,
                "_HLS_msn is more than two segments ahead of the playlist",
            ),
            MediaError::HlsGone => ApiError::not_found(
                Code::HlsGone,
                "this file is not in the live window and never will be (it rolled out, or was the hinted part of a segment that ended early); reload the playlist",
            ),
            MediaError::HlsFileNotFound => {
                ApiError::not_found(Code::NotFound, "no such file in the live window")
            }
            MediaError::HlsBusy => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                Code::HlsBusy,
                "this node holds as many blocking requests as it may; try again shortly",
            )
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("1")),
            MediaError::ReplayNotReady
            | MediaError::ReplayFileNotFound
            | MediaError::RecordingNodeUnreachable => replay_error(&e),
        }
    }
}

/// The replay's refusals (docs/replay.md "Codes").
fn replay_error(e: &MediaError) -> ApiError {
    match e {
        MediaError::ReplayNotReady => ApiError::not_found(
            Code::ReplayNotReady,
            "this show has no replay (yet): it has not ended, or nothing was recorded",
        ),
        MediaError::RecordingNodeUnreachable => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::RecordingNodeUnreachable,
            "the node that recorded this file did not answer; try again shortly",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")),
        _ => ApiError::not_found(Code::NotFound, "no such file in the recording"),
    }
}

/// The body as SDP: `Content-Type: application/sdp` (415 otherwise), UTF-8 (400 otherwise).
fn sdp_body(headers: &HeaderMap, body: ApiBytes) -> ApiResult<String> {
    let is_sdp = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"));
    if !is_sdp {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::UnsupportedMediaType,
            "send the offer as Content-Type: application/sdp",
        ));
    }
    let bytes = body.value()?;
    String::from_utf8(bytes.to_vec())
        .map_err(|_| ApiError::bad_request(Code::InvalidSdp, "the offer is not UTF-8 text"))
}

pub(super) fn cors(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Location, Link, Retry-After, X-Camera-Id"),
    );
}

/// 307 to the show's media home (another node), keeping the path and query: WHIP and WHEP
/// clients follow it, and the session URL they get there is the home's.
pub(super) fn redirect(home: &str, uri: &axum::http::Uri) -> Response {
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or_else(|| uri.path());
    let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}{path}", home.trim_end_matches('/'))) {
        headers.insert(header::LOCATION, v);
    }
    cors(headers);
    response
}

/// Whether this request was forwarded by another node (then it is answered here, whatever
/// the lease says, so two nodes that disagree never bounce a request between them).
pub(super) fn via(headers: &HeaderMap) -> Via {
    if headers.contains_key(crate::media::FORWARDED_HEADER) {
        Via::Node
    } else {
        Via::Client
    }
}

/// Asks the show's home node on the caller's behalf (same method, path, token and JSON body)
/// and answers what it answered.
async fn proxy(
    state: &AppState,
    home: &str,
    method: axum::http::Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Option<serde_json::Value>,
) -> ApiResult<Response> {
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{}{path}", home.trim_end_matches('/'));
    let mut req = state
        .media
        .client()
        .request(method, &url)
        .header(crate::media::FORWARDED_HEADER, "1");
    if let Some(auth) = headers.get(header::AUTHORIZATION) {
        req = req.header(header::AUTHORIZATION, auth.clone());
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let unreachable = |e: reqwest::Error| {
        tracing::warn!(home, error = %e, "the show's media home did not answer");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::MediaHomeUnreachable,
            "the node that holds this show's media did not answer; try again shortly",
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("2"))
    };
    let resp = req.send().await.map_err(unreachable)?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    let bytes = resp.bytes().await.map_err(unreachable)?;
    let mut response = (status, bytes).into_response();
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    Ok(response)
}

/// 201 with the answer, the session URL and the ICE servers.
fn created(state: &AppState, show: ShowId, kind: SessionKind, answer: Answer) -> Response {
    let mut response = (StatusCode::CREATED, answer.sdp).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/sdp"),
    );
    let location = format!("/api/shows/{show}/{}/{}", kind.as_str(), answer.session);
    if let Ok(v) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, v);
    }
    for server in &state.media.config.ice_servers {
        if let Ok(v) = HeaderValue::from_str(&server.link_header()) {
            headers.append(header::LINK, v);
        }
    }
    if let Some(camera) = answer.camera
        && let Ok(v) = HeaderValue::from_str(camera.as_str())
    {
        headers.insert(HeaderName::from_static("x-camera-id"), v);
    }
    cors(headers);
    response
}

/// A new session's answer here, or 307 to the show's media home.
fn session_reply(
    state: &AppState,
    show: ShowId,
    kind: SessionKind,
    reply: Reply<Answer>,
    uri: &axum::http::Uri,
) -> Response {
    match reply {
        Reply::Here(answer) => created(state, show, kind, answer),
        Reply::AtHome(home) => redirect(&home, uri),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WhipParams {
    /// The camera's name in the studio (a camera invite's own label wins).
    label: Option<String>,
}

/// Publish a camera (WHIP, RFC 9725): the body is the SDP offer (at most one video and one
/// audio section, sendonly; VP8 or H.264 constrained baseline with packetization-mode 1, and
/// Opus). A show's cameras share one video codec: a camera offering only another gets 409
/// `codec_mismatch`. A camera invite that publishes again replaces its earlier session.
#[utoipa::path(post, path = "/api/shows/{id}/whip", tag = "media",
    params(("id" = ShowId, Path), WhipParams),
    request_body(content = String, content_type = "application/sdp"),
    responses((status = 201, description = "The SDP answer; `Location` is the session URL, `X-Camera-Id` the camera's id, `Link` the ICE servers", content_type = "application/sdp", body = String),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 415, body = Problem),
              (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn whip(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    ApiQuery(params): ApiQuery<WhipParams>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: ApiBytes,
) -> ApiResult<Response> {
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::Publish, Some(&show))?;
    let offer = sdp_body(&headers, body)?;
    let who = caller.signed_in()?;
    let label = params.label.as_deref();
    let reply = (state.media)
        .publish(&show, who, label, &offer, via(&headers))
        .await?;
    Ok(session_reply(
        &state,
        show.id,
        SessionKind::Whip,
        reply,
        &uri,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WhepParams {
    /// Watch this camera instead of the program (creator and moderators).
    camera: Option<String>,
}

/// Watch the show (WHEP): the body is the SDP offer (one video and one audio section,
/// recvonly). The answer sends the program: the on-air camera's video and the program audio.
/// The creator and moderators may add `?camera=<id>` to watch one camera. Beyond the node's
/// viewer capacity: 503 with `Retry-After`.
#[utoipa::path(post, path = "/api/shows/{id}/whep", tag = "media",
    params(("id" = ShowId, Path), WhepParams),
    request_body(content = String, content_type = "application/sdp"),
    responses((status = 201, description = "The SDP answer; `Location` is the session URL, `Link` the ICE servers", content_type = "application/sdp", body = String),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 415, body = Problem),
              (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn whep(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    ApiQuery(params): ApiQuery<WhepParams>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: ApiBytes,
) -> ApiResult<Response> {
    let show = state.show(id).await?;
    let watch = params
        .camera
        .map_or(Watch::Program, |c| Watch::Camera(CameraId::new(c)));
    authorize(caller.principal(), watch.action(), Some(&show))?;
    let offer = sdp_body(&headers, body)?;
    let who = caller.signed_in()?;
    let reply = (state.media)
        .watch(&show, who, watch, &offer, via(&headers))
        .await?;
    Ok(session_reply(
        &state,
        show.id,
        SessionKind::Whep,
        reply,
        &uri,
    ))
}

/// Who asks about a session of a show: 401 without a token, then the show (404).
async fn session_caller<'a>(
    state: &AppState,
    caller: &'a Caller,
    id: ShowId,
) -> ApiResult<(&'a Principal, Show)> {
    let who = caller.signed_in()?;
    Ok((who, state.show(id).await?))
}

/// Ends a session of `kind` of the show, for its owner or the show's creator.
async fn end(
    state: &AppState,
    caller: &Caller,
    id: ShowId,
    session: &str,
    kind: SessionKind,
) -> ApiResult<Response> {
    let (who, show) = session_caller(state, caller, id).await?;
    state.media.end(&show, who, session, kind).await?;
    let mut response = StatusCode::OK.into_response();
    cors(response.headers_mut());
    Ok(response)
}

async fn end_whip(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, session)): ApiPath<(ShowId, String)>,
) -> ApiResult<Response> {
    end(&state, &caller, id, &session, SessionKind::Whip).await
}

async fn end_whep(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, session)): ApiPath<(ShowId, String)>,
) -> ApiResult<Response> {
    end(&state, &caller, id, &session, SessionKind::Whep).await
}

async fn patch_whip(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, session)): ApiPath<(ShowId, String)>,
) -> ApiResult<Response> {
    let (who, show) = session_caller(&state, &caller, id).await?;
    (state.media).check_control(&show, who, &session, SessionKind::Whip)?;
    Err(not_implemented())
}

async fn patch_whep(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, session)): ApiPath<(ShowId, String)>,
) -> ApiResult<Response> {
    let (who, show) = session_caller(&state, &caller, id).await?;
    (state.media).check_control(&show, who, &session, SessionKind::Whep)?;
    Err(not_implemented())
}

/// Trickle ICE and ICE restarts are not supported (RFC 9725 §4.3.1: 501 for a session that
/// supports neither). The answer already lists every server candidate.
fn not_implemented() -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        Code::NotImplemented,
        "trickle ICE and ICE restarts are not supported; the answer carries every candidate. Start a new session instead",
    )
}

fn preflight(methods: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::ALLOW, HeaderValue::from_static(methods));
    headers.insert(
        HeaderName::from_static("accept-post"),
        HeaderValue::from_static("application/sdp"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, If-Match"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    cors(headers);
    response
}

/// CORS preflight of the WHIP/WHEP endpoint.
async fn preflight_endpoint() -> Response {
    preflight("POST, OPTIONS")
}

/// CORS preflight of a session URL.
async fn preflight_session() -> Response {
    preflight("DELETE, PATCH, OPTIONS")
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Cameras {
    cameras: Vec<CameraView>,
    program: ProgramView,
}

/// The show's cameras on this node, in the order they joined, and what is on air (creator,
/// moderators).
#[utoipa::path(get, path = "/api/shows/{id}/cameras", tag = "media",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = Cameras), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn cameras(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::Preview, Some(&show))?;
    match state.media.cameras(show.id, via(&headers)).await? {
        Reply::Here((cameras, program)) => Ok(Json(Cameras { cameras, program }).into_response()),
        Reply::AtHome(home) => {
            proxy(&state, &home, axum::http::Method::GET, &uri, &headers, None).await
        }
    }
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OnAir {
    /// The camera on air (or being switched to); `null`: nothing is.
    #[schema(value_type = Option<String>)]
    camera: Option<CameraId>,
}

/// What is on air (anyone): the camera id, as `program.changed` announces it.
#[utoipa::path(get, path = "/api/shows/{id}/program", tag = "media",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = OnAir), (status = 404, body = Problem)))]
async fn program_state(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let show = state.show(id).await?;
    match state.media.on_air(show.id, via(&headers)).await? {
        Reply::Here(camera) => Ok(Json(OnAir { camera }).into_response()),
        Reply::AtHome(home) => {
            proxy(&state, &home, axum::http::Method::GET, &uri, &headers, None).await
        }
    }
}

/// Distinguishes a missing field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Direct {
    /// The camera to put on air; `null` takes the program off air ("we'll be right back").
    /// The cut happens on that camera's next keyframe.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    camera: Option<Option<String>>,
    /// The camera whose audio is on air; `null` goes back to the first camera with audio.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    audio: Option<Option<String>>,
}

/// Choose what is on air (creator): `{"camera": "<id>"}` switches the program video at the
/// new camera's next keyframe and announces `program.changed` in the room; `{"audio": …}`
/// fixes the audio source.
#[utoipa::path(post, path = "/api/shows/{id}/program", tag = "media",
    params(("id" = ShowId, Path)), request_body = Direct,
    responses((status = 200, body = ProgramView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn program(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: ApiJson<Direct>,
) -> ApiResult<Response> {
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::Direct, Some(&show))?;
    let body = body.value()?;
    let choice = ProgramChoice {
        camera: body.camera.map(|c| c.map(CameraId::new)),
        audio: body.audio.map(|a| a.map(CameraId::new)),
    };
    match state.media.direct(&show, &choice, via(&headers)).await? {
        Reply::Here(program) => Ok(Json(program).into_response()),
        Reply::AtHome(home) => {
            let body = Some(forwarded_choice(&choice));
            proxy(
                &state,
                &home,
                axum::http::Method::POST,
                &uri,
                &headers,
                body,
            )
            .await
        }
    }
}

/// The body of a program change forwarded to the show's home: the parts the caller gave.
fn forwarded_choice(choice: &ProgramChoice) -> serde_json::Value {
    let mut json = serde_json::Map::new();
    for (key, value) in [("camera", &choice.camera), ("audio", &choice.audio)] {
        if let Some(v) = value {
            json.insert(key.into(), serde_json::json!(v));
        }
    }
    serde_json::Value::Object(json)
}
