//! Shows: schedule, list, read, go live, end, and the lineup of products.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use super::page::{PageParams, next_cursor};
use crate::domain::access::{Action, authorize};
use crate::domain::protocol::Broadcast;
use crate::domain::{NewShow, Product, ProductId, Show, ShowId, Timestamp};
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
    let creator_id = caller.creator()?;
    let body = body.value()?;
    let new = NewShow {
        title: body.title,
        description: body.description,
        scheduled_at: body.scheduled_at,
    };
    let show = Show::schedule(ShowId(Uuid::now_v7()), creator_id, new, state.now())?;
    state.store.insert_show(&show).await?;
    tracing::info!(show = %show.id, creator = %creator_id, "show scheduled");
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
    let page = params.check()?;
    if page.legacy {
        return Ok(Json(ShowListing::Legacy(ShowList {
            shows: state.store.shows().await?,
        })));
    }
    let found = state.store.shows_page(page.after, page.limit).await?;
    let next_cursor = next_cursor(&found, PageAfter::show);
    Ok(Json(ShowListing::Page(ShowPage {
        items: found.items,
        next_cursor,
    })))
}

/// One show (anyone).
#[utoipa::path(get, path = "/api/shows/{id}", tag = "shows", params(("id" = ShowId, Path)),
    responses((status = 200, body = Show), (status = 404, body = Problem)))]
async fn get_show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Show>> {
    Ok(Json(state.show(id).await?))
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
    transition(&state, &caller, id, Show::start).await.map(Json)
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
    transition(&state, &caller, id, Show::end).await.map(Json)
}

/// Applies a lifecycle rule and saves it only if nobody changed the status meanwhile; on a
/// lost race the rule is re-applied to the fresh show (and usually refuses).
async fn transition(
    state: &AppState,
    caller: &Caller,
    id: ShowId,
    rule: fn(&mut Show, Timestamp) -> Result<(), crate::domain::DomainError>,
) -> ApiResult<Show> {
    for _ in 0..3 {
        let mut show = state.show(id).await?;
        authorize(caller.principal(), Action::ManageShow, Some(&show))?;
        let before = show.status;
        rule(&mut show, state.now())?;
        if state.store.update_show(&show, before).await? {
            tracing::info!(show = %id, status = show.status.as_str(), "show status changed");
            let event = Broadcast::ShowStatus {
                status: show.status,
            };
            // The change is saved; a room that cannot be told now learns it from `welcome`.
            if let Err(e) = state.hub.publish(&show, &event).await {
                tracing::warn!(show = %id, error = %e, "show.status not broadcast");
            }
            return Ok(show);
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "concurrent_update",
        "the show changed while this request ran; try again",
    ))
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
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::ManageShow, Some(&show))?;
    let body = body.value()?;
    // Another creator's product is reported as unknown: its existence is not ours to reveal.
    match state.store.product(body.product_id).await? {
        Some(p) if p.creator_id == show.creator_id => {}
        _ => {
            return Err(ApiError::not_found(
                "product_not_found",
                format!("no product {} in your catalog", body.product_id),
            ));
        }
    }
    state.store.add_to_lineup(&show, body.product_id).await?;
    Ok(Json(lineup(&state, &show).await?))
}

/// The show's lineup (anyone).
#[utoipa::path(get, path = "/api/shows/{id}/lineup", tag = "shows", params(("id" = ShowId, Path)),
    responses((status = 200, body = Lineup), (status = 404, body = Problem)))]
async fn get_lineup(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Lineup>> {
    let show = state.show(id).await?;
    Ok(Json(lineup(&state, &show).await?))
}

async fn lineup(state: &AppState, show: &Show) -> ApiResult<Lineup> {
    let mut products = Vec::new();
    for id in state.store.lineup(show).await? {
        if let Some(p) = state.store.product(id).await? {
            products.push(p);
        }
    }
    Ok(Lineup { products })
}
