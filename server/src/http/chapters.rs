//! A show's chapters over HTTP (`services::chapters`): the listing (anyone), the creator's
//! markers while live, renaming and hiding. Handlers extract, call the service and map.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller, Identity};
use crate::domain::chapter::{Chapter, ChapterKind};
use crate::domain::{Code, ProductId, Show, ShowId};
use crate::services::chapters::{ChapterEdit, ChaptersError, Listed};

impl From<ChaptersError> for ApiError {
    fn from(e: ChaptersError) -> Self {
        match e {
            ChaptersError::Refused(e) => e.into(),
            ChaptersError::Store(e) => e.into(),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chapters, add_marker))
        .routes(routes!(edit_chapter))
}

/// Where the show's replay starts (Unix ms): the program date of the recording's first
/// segment; before anything was recorded (or if the index cannot be read), the show's start.
async fn replay_origin(state: &AppState, show: &Show) -> Option<i64> {
    let recorded = state
        .media
        .recording_origin_ms(show.id)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(show = %show.id, error = %e, "chapters timed from the show's start");
            None
        });
    recorded.or_else(|| show.started_at.map(|t| t.timestamp_millis()))
}

/// One chapter of the show.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ChapterView {
    id: String,
    /// Ms into the replay (from the recording's first segment; before any recording, from the
    /// show's start).
    at_ms: i64,
    /// When it happened: server Unix ms, the `pts` of the room event it comes from.
    pts: i64,
    kind: ChapterKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    product_id: Option<ProductId>,
    title: String,
    /// Only in the creator's `?all=true` listing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hidden: Option<bool>,
}

impl ChapterView {
    fn new(at_ms: i64, c: Chapter, all: bool) -> Self {
        ChapterView {
            id: c.id,
            at_ms,
            pts: c.pts,
            kind: c.kind,
            product_id: c.product_id,
            title: c.title,
            hidden: all.then_some(c.hidden),
        }
    }
}

/// The show's chapters, in time order.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Chapters {
    chapters: Vec<ChapterView>,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ChaptersParams {
    /// `true`: hidden chapters too, each with `hidden` (the show's creator only).
    all: Option<bool>,
}

/// The show's chapters in time order, hidden ones left out (anyone; the creator sees them
/// with `?all=true`).
#[utoipa::path(get, path = "/api/shows/{id}/chapters", tag = "chapters",
    params(("id" = ShowId, Path), ChaptersParams),
    responses((status = 200, body = Chapters), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)))]
async fn list_chapters(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<ShowId>,
    ApiQuery(params): ApiQuery<ChaptersParams>,
) -> ApiResult<Json<Chapters>> {
    let all = params.all.unwrap_or(false);
    // Public (the admin token too); `?all=true` is the creator's, as for any creator route.
    let who = match identity {
        Identity::Principal(p) => Some(p),
        Identity::Admin if all => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Code::ForbiddenRole,
                "the admin token is for the operator's routes (creators, sign-in links, the overview)",
            ));
        }
        _ => None,
    };
    let show = state.chapters.show(id).await?;
    let origin = replay_origin(&state, &show).await;
    let listed = state
        .chapters
        .list(who.as_ref(), &show, all, origin)
        .await?;
    let chapters = listed
        .into_iter()
        .map(|Listed { at_ms, chapter }| ChapterView::new(at_ms, chapter, all))
        .collect();
    Ok(Json(Chapters { chapters }))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkerInput {
    #[schema(schema_with = super::openapi::text::chapter_title)]
    title: String,
}

/// Add a marker at the current time (the show's creator, while the show is live).
#[utoipa::path(post, path = "/api/shows/{id}/chapters", tag = "chapters",
    params(("id" = ShowId, Path)), request_body = MarkerInput,
    responses((status = 201, body = ChapterView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn add_marker(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<MarkerInput>,
) -> ApiResult<(StatusCode, Json<ChapterView>)> {
    let body = body.value()?;
    let chapter = state
        .chapters
        .mark(caller.principal(), id, &body.title)
        .await?;
    let show = state.chapters.show(id).await?;
    let origin = replay_origin(&state, &show).await.unwrap_or(chapter.pts);
    let at_ms = crate::domain::chapter::at_ms(chapter.pts, origin);
    Ok((
        StatusCode::CREATED,
        Json(ChapterView::new(at_ms, chapter, false)),
    ))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChapterPatch {
    #[serde(default, deserialize_with = "not_null")]
    #[schema(schema_with = super::openapi::text::chapter_title)]
    title: Option<String>,
    /// Hide it from the listing and the replay (or show it again).
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false)]
    hidden: Option<bool>,
}

/// A field left out is `None`; one sent as `null` is refused (422 `invalid_body`), as the
/// schema says: a chapter always has a title and is hidden or not.
fn not_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// Rename or hide a chapter (the show's creator, at any time).
#[utoipa::path(patch, path = "/api/shows/{id}/chapters/{chapter_id}", tag = "chapters",
    params(("id" = ShowId, Path), ("chapter_id" = String, Path)), request_body = ChapterPatch,
    responses((status = 200, body = ChapterView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn edit_chapter(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, chapter_id)): ApiPath<(ShowId, String)>,
    body: ApiJson<ChapterPatch>,
) -> ApiResult<Json<ChapterView>> {
    let body = body.value()?;
    let edit = ChapterEdit {
        title: body.title,
        hidden: body.hidden,
    };
    let chapter = state
        .chapters
        .edit(caller.principal(), id, &chapter_id, edit)
        .await?;
    let show = state.chapters.show(id).await?;
    let origin = replay_origin(&state, &show).await.unwrap_or(chapter.pts);
    let at_ms = crate::domain::chapter::at_ms(chapter.pts, origin);
    Ok(Json(ChapterView::new(at_ms, chapter, true)))
}
