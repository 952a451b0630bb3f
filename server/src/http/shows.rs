//! Shows over HTTP: schedule, list, read, go live, end, and the lineup of products. Handlers
//! extract, call `services::shows` / `services::catalog` and map the outcome.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{PageParams, PageRequest, next_cursor};
use crate::domain::{NewShow, Product, ProductId, Show, ShowId, Timestamp};
use crate::services::shows::{ListQuery, Listing, ShowsError};
use crate::store::PageAfter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_show, list_shows))
        .routes(routes!(get_show))
        .routes(routes!(start_show))
        .routes(routes!(end_show))
        .routes(routes!(add_to_lineup, get_lineup))
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
    };
    let show = state.shows.schedule(creator, new).await?;
    Ok((StatusCode::CREATED, Json(show)))
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
