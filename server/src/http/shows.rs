//! Shows over HTTP: schedule, list, read, edit, go live, end, cancel, the creator's own
//! listing (`/api/me/shows`), and the lineup of products. Handlers extract, call
//! `services::shows` / `services::catalog` and map the outcome.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{PageParams, PageRequest, next_cursor};
use crate::domain::{NewShow, Product, ProductId, Show, ShowEdit, ShowId, ShowsWhen, Timestamp};
use crate::services::shows::{ListQuery, Listing, ShowsError};
use crate::store::PageAfter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_show, list_shows))
        .routes(routes!(get_show, edit_show))
        .routes(routes!(start_show))
        .routes(routes!(end_show))
        .routes(routes!(cancel_show))
        .routes(routes!(my_shows))
        .routes(routes!(add_to_lineup, get_lineup))
        .routes(routes!(remove_from_lineup))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShow {
    #[schema(schema_with = super::openapi::text::show_title)]
    title: String,
    #[schema(schema_with = super::openapi::text::show_description)]
    description: Option<String>,
    /// RFC 3339 time the show is announced for; defaults to now.
    #[schema(value_type = Option<String>, format = DateTime)]
    scheduled_at: Option<Timestamp>,
    #[schema(schema_with = super::openapi::text::cover_url)]
    cover_url: Option<String>,
}

/// Schedule a new show (creators).
#[utoipa::path(post, path = "/api/shows", tag = "shows", request_body = CreateShow,
    responses((status = 201, body = Show), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_show(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<CreateShow>,
) -> ApiResult<(StatusCode, Json<Show>)> {
    let creator = caller.creator()?;
    let body = body.value()?;
    let new = NewShow {
        title: body.title,
        description: body.description,
        scheduled_at: body.scheduled_at,
        cover_url: body.cover_url,
    };
    let show = state.shows.schedule(creator, new).await?;
    Ok((StatusCode::CREATED, Json(show)))
}

/// A change to a scheduled show: only the fields present change; `null` clears the
/// description or the cover (a show always keeps a title and a start time).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditShow {
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::text::show_title)]
    title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::text::show_description)]
    description: Option<Option<String>>,
    /// RFC 3339 with an offset, e.g. `2026-12-24T18:00:00+01:00`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = String, format = DateTime)]
    scheduled_at: Option<Option<Timestamp>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::openapi::text::cover_url)]
    cover_url: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`) from a field left out (`None`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// Edit a scheduled show (its creator): title, description, start time, cover image. 409
/// `show_not_scheduled` once it is live, ended or cancelled.
#[utoipa::path(patch, path = "/api/shows/{id}", tag = "shows", params(("id" = ShowId, Path)),
    request_body = EditShow,
    responses((status = 200, body = Show), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem),
              (status = 422, body = Problem, description = "e.g. `invalid_title`, `invalid_cover_url`, `invalid_scheduled_at`")),
    security(("bearer" = [])))]
async fn edit_show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<EditShow>,
) -> ApiResult<Json<Show>> {
    state.shows.managed(caller.principal(), id).await?;
    let body = body.value()?;
    let edit = ShowEdit {
        title: body.title,
        description: body.description,
        scheduled_at: body.scheduled_at,
        cover_url: body.cover_url,
    };
    Ok(Json(state.shows.edit(caller.principal(), id, edit).await?))
}

/// Cancel a scheduled show (its creator): Scheduled → Cancelled, told to the room. Viewers
/// see that it was cancelled; nobody can join it, shop in it or take it live. 409
/// `illegal_transition` for a show that is live, ended or already cancelled.
#[utoipa::path(post, path = "/api/shows/{id}/cancel", tag = "shows", params(("id" = ShowId, Path)),
    responses((status = 200, body = Show), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn cancel_show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Show>> {
    Ok(Json(state.shows.cancel(caller.principal(), id).await?))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WhenParams {
    /// `upcoming` (scheduled, soonest first), `live`, `past` (ended or cancelled, newest
    /// first) or `all` (by start time; the default).
    #[param(inline)]
    when: Option<ShowsWhen>,
}

/// One of the caller's shows, with the size of its lineup.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MyShow {
    #[serde(flatten)]
    show: Show,
    /// Products in the show's lineup.
    lineup_count: u64,
}

/// A page of the caller's shows.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MyShowPage {
    items: Vec<MyShow>,
    /// The `cursor` of the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// The caller's own shows, a page at a time (creators): `?when=upcoming|live|past|all`.
#[utoipa::path(get, path = "/api/me/shows", tag = "shows", params(WhenParams, PageParams),
    responses((status = 200, body = MyShowPage), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn my_shows(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(when): ApiQuery<WhenParams>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<MyShowPage>> {
    let creator = caller.creator()?;
    let page = params.check()?;
    let when = when.when.unwrap_or_default();
    // `?legacy=1` has no older shape here: it asks for every show on one page.
    let (after, limit) = match page.legacy {
        true => (None, usize::MAX),
        false => (page.after, page.limit),
    };
    let found = state.shows.mine(creator, when, after, limit).await?;
    let counts = state.catalog.lineup_counts(&found.items).await?;
    let next_cursor = next_cursor(&found, PageAfter::show);
    let items = found
        .items
        .into_iter()
        .zip(counts)
        .map(|(show, lineup_count)| MyShow { show, lineup_count })
        .collect();
    Ok(Json(MyShowPage { items, next_cursor }))
}

/// The old answer of `GET /api/shows?legacy=1`: every show at once.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ShowList {
    shows: Vec<Show>,
}

/// A page of shows.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ShowPage {
    items: Vec<Show>,
    /// The `cursor` of the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// A page of shows, or with `?legacy=1` the old whole list.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ShowListing {
    Page(ShowPage),
    Legacy(ShowList),
}

/// Shows by scheduled time, a page at a time (anyone).
#[utoipa::path(get, path = "/api/shows", tag = "shows", params(PageParams),
    responses((status = 200, body = ShowListing), (status = 422, body = Problem)))]
async fn list_shows(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<ShowListing>> {
    let query = list_query(params.check()?);
    Ok(Json(match state.shows.list(query).await? {
        Listing::All(shows) => ShowListing::Legacy(ShowList { shows }),
        Listing::Page(found) => ShowListing::Page(ShowPage {
            next_cursor: next_cursor(&found, PageAfter::show),
            items: found.items,
        }),
    }))
}

/// One show (anyone).
#[utoipa::path(get, path = "/api/shows/{id}", tag = "shows", params(("id" = ShowId, Path)),
    responses((status = 200, body = Show), (status = 404, body = Problem)))]
async fn get_show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Show>> {
    Ok(Json(state.shows.get(id).await?))
}

/// Go live: Scheduled → Live (the show's creator).
#[utoipa::path(post, path = "/api/shows/{id}/start", tag = "shows", params(("id" = ShowId, Path)),
    responses((status = 200, body = Show), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn start_show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Show>> {
    Ok(Json(state.shows.start(caller.principal(), id).await?))
}

/// End the show: Live → Ended (the show's creator).
#[utoipa::path(post, path = "/api/shows/{id}/end", tag = "shows", params(("id" = ShowId, Path)),
    responses((status = 200, body = Show), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn end_show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Show>> {
    Ok(Json(state.shows.end(caller.principal(), id).await?))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineupAdd {
    product_id: ProductId,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Lineup {
    /// The show's products, in the order they were added.
    products: Vec<Product>,
}

/// Add one of the creator's products to the show's lineup (the show's creator).
#[utoipa::path(post, path = "/api/shows/{id}/lineup", tag = "shows", params(("id" = ShowId, Path)),
    request_body = LineupAdd,
    responses((status = 200, body = Lineup), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn add_to_lineup(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<LineupAdd>,
) -> ApiResult<Json<Lineup>> {
    let show = state.shows.managed(caller.principal(), id).await?;
    let body = body.value()?;
    let products = state.catalog.add_to_lineup(&show, body.product_id).await?;
    Ok(Json(Lineup { products }))
}

/// Take a product out of the show's lineup (the show's creator). A product pinned in the
/// show is refused with 409 `product_pinned` (unpin it first); one not in the lineup is 404
/// `not_in_lineup`.
#[utoipa::path(delete, path = "/api/shows/{id}/lineup/{product_id}", tag = "shows",
    params(("id" = ShowId, Path), ("product_id" = ProductId, Path)),
    responses((status = 204), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn remove_from_lineup(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, product)): ApiPath<(ShowId, ProductId)>,
) -> ApiResult<StatusCode> {
    let show = state.shows.managed(caller.principal(), id).await?;
    state.catalog.remove_from_lineup(&show, product).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The show's lineup (anyone).
#[utoipa::path(get, path = "/api/shows/{id}/lineup", tag = "shows", params(("id" = ShowId, Path)),
    responses((status = 200, body = Lineup), (status = 404, body = Problem)))]
async fn get_lineup(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Lineup>> {
    let show = state.shows.get(id).await?;
    let products = state.catalog.lineup(&show).await?;
    Ok(Json(Lineup { products }))
}

/// A checked page request as the services take it.
pub(super) fn list_query(page: PageRequest) -> ListQuery {
    if page.legacy {
        ListQuery::All
    } else {
        ListQuery::Page {
            after: page.after,
            limit: page.limit,
        }
    }
}

impl From<ShowsError> for ApiError {
    fn from(e: ShowsError) -> Self {
        match e {
            ShowsError::Refused(e) => e.into(),
            ShowsError::JoinRateLimited(wait) => super::identity::rate_limited(
                wait,
                "too many joins from your address; try again shortly",
            ),
            ShowsError::Store(e) => e.into(),
        }
    }
}
