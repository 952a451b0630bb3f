//! The creator's orders across shows and the webhook's test event and deliveries over HTTP
//! (the dashboard's Orders and Settings). Handlers extract, call the commerce service and map
//! its outcome; refunds stay `POST /api/shows/{id}/orders/{order_id}/refund`.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{ApiQuery, Caller};
use super::page::{PageParams, encode_cursor};
use crate::domain::ShowId;
use crate::domain::commerce::{CreatorOrder, Delivery, OrderFilter, OrderStatus, order_key};
use crate::store::PageAfter;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(my_orders))
        .routes(routes!(my_orders_csv))
        .routes(routes!(send_test_event))
        .routes(routes!(deliveries))
}

/// Which of the caller's orders, and which page.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrdersParams {
    /// Only orders in this status.
    #[param(inline)]
    status: Option<OrderStatus>,
    /// Only orders of this show (one of the caller's; another creator's is 403).
    show: Option<ShowId>,
    /// Items per page, 1-200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// The `next_cursor` of the previous page; absent for the first page.
    #[param(pattern = "^[A-Za-z0-9_-]{38}$")]
    cursor: Option<String>,
}

/// Which of the caller's orders go into the export.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// Only orders in this status.
    #[param(inline)]
    status: Option<OrderStatus>,
    /// Only orders of this show (one of the caller's; another creator's is 403).
    show: Option<ShowId>,
}

/// A page of the caller's orders, newest first.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct OrderPage {
    items: Vec<CreatorOrder>,
    /// The `cursor` of the next page; `null` on the last page.
    next_cursor: Option<String>,
}

/// The caller's orders across all their shows, newest first (creators).
#[utoipa::path(get, path = "/api/me/orders", tag = "orders", params(OrdersParams),
    responses((status = 200, body = OrderPage), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn my_orders(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<OrdersParams>,
) -> ApiResult<Json<OrderPage>> {
    let page = PageParams::of(params.limit, params.cursor).check()?;
    let filter = OrderFilter {
        status: params.status,
        show: params.show,
    };
    let found = state
        .commerce
        .creator_orders(caller.principal(), filter, page.after, page.limit)
        .await?;
    let next_cursor = found
        .more
        .then(|| found.items.last())
        .flatten()
        .map(|last| {
            let (at, id) = order_key(last);
            encode_cursor(PageAfter { at, id })
        });
    Ok(Json(OrderPage {
        items: found.items,
        next_cursor,
    }))
}

/// The caller's orders as CSV, one row per order line, newest first (creators). Every text
/// cell is made safe for spreadsheets (a leading `'` before `=`, `+`, `-`, `@`, …).
#[utoipa::path(get, path = "/api/me/orders.csv", tag = "orders", params(ExportParams),
    responses((status = 200, content_type = "text/csv", body = String,
               description = "columns: order_id, created_at, status, show_title, buyer_name, email, shipping_name, shipping_line1, shipping_line2, shipping_city, shipping_state, shipping_postal_code, shipping_country, sku, title, quantity, unit_price, order_total, currency"),
              (status = 400, body = Problem), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn my_orders_csv(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> ApiResult<Response> {
    let filter = OrderFilter {
        status: params.status,
        show: params.show,
    };
    let csv = state
        .commerce
        .creator_orders_csv(caller.principal(), filter)
        .await?;
    let name = format!(
        "attachment; filename=\"orders-{}.csv\"",
        state.now().format("%Y-%m-%d")
    );
    let disposition = HeaderValue::from_str(&name)
        .unwrap_or_else(|_| HeaderValue::from_static("attachment; filename=\"orders.csv\""));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        csv,
    )
        .into_response())
}

/// The id of a queued test event.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct QueuedEvent {
    /// Its `X-Livesale-Delivery` id, as it appears in the deliveries.
    event_id: String,
}

/// Send a `test` event (an order-like sample) to the caller's webhook through the normal
/// delivery path (creators); 409 `no_webhook` when no webhook is set.
#[utoipa::path(post, path = "/api/webhook/test", tag = "commerce",
    responses((status = 202, body = QueuedEvent), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn send_test_event(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<(StatusCode, Json<QueuedEvent>)> {
    let creator = caller.creator()?;
    let event_id = state.commerce.send_test_event(creator).await?;
    Ok((StatusCode::ACCEPTED, Json(QueuedEvent { event_id })))
}

/// The last deliveries to the caller's webhook.
#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Deliveries {
    /// One entry per event as of its last attempt, newest first, at most 50.
    items: Vec<Delivery>,
}

/// The last deliveries to the caller's webhook with their outcome (creators).
#[utoipa::path(get, path = "/api/webhook/deliveries", tag = "commerce",
    responses((status = 200, body = Deliveries), (status = 401, body = Problem),
              (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn deliveries(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Deliveries>> {
    let creator = caller.creator()?;
    let items = state.commerce.deliveries(creator).await?;
    Ok(Json(Deliveries { items }))
}
