//! Commerce over HTTP: pins and deals, the viewer's cart, checkout, orders, and the
//! merchant's webhook. Each handler authorizes, applies a domain rule, makes one atomic store
//! call, and tells the room.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiBytes, ApiJson, ApiPath, Caller, ClientIp};
use crate::commerce::{
    announce_deal_end, announce_pins, announce_purchase, pin_views, publish_pins,
};
use crate::domain::access::{Action, authorize};
use crate::domain::commerce::{
    CartLines, DealTerms, LineFacts, MAX_CART_ITEMS, Order, OrderStatus, Pin, PinView, address_key,
    check_cart_line, price_in_effect,
};
use crate::domain::{Money, Principal, ProductId, Show, ShowId, ShowStatus, ViewerId};
use crate::store::commerce::AddressAllowance;
use crate::store::{CheckoutOutcome, CheckoutRequest, Completion, Webhook};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pin_product, list_pins))
        .routes(routes!(unpin_product))
        .routes(routes!(get_cart))
        .routes(routes!(set_cart_item, remove_cart_item))
        .routes(routes!(checkout))
        .routes(routes!(show_orders))
        .routes(routes!(my_orders))
        .routes(routes!(set_webhook, get_webhook, delete_webhook))
}

// ---- Pins ------------------------------------------------------------------------------

/// A deal price: minor units of the product's currency, or a Money object (whose currency
/// must be the product's).
#[derive(serde::Deserialize)]
#[serde(untagged)]
pub enum DealPrice {
    Minor(#[serde(deserialize_with = "crate::domain::whole::i64")] i64),
    Money {
        #[serde(deserialize_with = "crate::domain::whole::i64")]
        amount: i64,
        currency: String,
    },
}

/// [`DealPrice`]'s schema: an amount, or a Money object (written out, since the derive cannot
/// put limits on an untagged variant).
fn deal_price_schema() -> utoipa::openapi::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let amount = || {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(Some(0))
            .maximum(Some(1_000_000_000_000_i64))
            .build()
    };
    let money = ObjectBuilder::new()
        .property("amount", amount())
        .property("currency", super::openapi::text::currency())
        .required("amount")
        .required("currency")
        .additional_properties(Some(
            utoipa::openapi::schema::AdditionalProperties::FreeForm(false),
        ))
        .build();
    utoipa::openapi::Schema::OneOf(OneOfBuilder::new().item(amount()).item(money).build())
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DealInput {
    /// Below the product's price, in its currency.
    #[schema(schema_with = deal_price_schema)]
    price: DealPrice,
    /// Units at the deal price, 1 to 10^6.
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[serde(deserialize_with = "crate::domain::whole::i64")]
    quantity: i64,
    /// 1 to the deal's quantity.
    #[schema(minimum = 1, maximum = 1_000_000)]
    #[serde(deserialize_with = "crate::domain::whole::i64")]
    per_buyer_limit: i64,
    /// How long the deal runs, in seconds.
    #[schema(minimum = 10, maximum = 86_400)]
    #[serde(deserialize_with = "crate::domain::whole::u64")]
    duration_s: u64,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PinInput {
    product_id: ProductId,
    deal: Option<DealInput>,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Pins {
    pins: Vec<PinView>,
}

/// Pin a product of the lineup, optionally with a flash deal (creator, moderators).
#[utoipa::path(post, path = "/api/shows/{id}/pins", tag = "commerce",
    params(("id" = ShowId, Path)), request_body = PinInput,
    responses((status = 200, body = Pins), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn pin_product(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<PinInput>,
) -> ApiResult<Json<Pins>> {
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::Pin, Some(&show))?;
    let body = body.value()?;
    let product = match state.store.product(body.product_id).await? {
        Some(p) if p.creator_id == show.creator_id => p,
        _ => {
            return Err(ApiError::not_found(
                "product_not_found",
                format!("no product {} in this show's catalog", body.product_id),
            ));
        }
    };
    let now = state.now();
    let deal = match body.deal {
        None => None,
        Some(d) => {
            let price = match d.price {
                DealPrice::Minor(amount) => amount,
                DealPrice::Money { amount, currency } => {
                    let currency = crate::domain::Currency::parse(&currency)?;
                    if currency != product.price.currency {
                        return Err(ApiError::new(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "currency_mismatch",
                            format!("the product is priced in {}", product.price.currency),
                        ));
                    }
                    amount
                }
            };
            let terms = DealTerms {
                price,
                quantity: d.quantity,
                per_buyer_limit: d.per_buyer_limit,
                duration_s: d.duration_s,
            };
            Some(terms.into_deal(&product, now)?)
        }
    };
    let ends_at = deal.as_ref().map(|d| d.ends_at);
    let pin = Pin {
        product_id: product.id,
        pinned_at: now,
        deal,
    };
    state.store.pin(&show, &pin).await??;
    let pins = publish_pins(state.store.as_ref(), &state.hub, &show, now).await?;
    if let Some(ends_at) = ends_at {
        announce_deal_end(
            state.store.clone(),
            state.hub.clone(),
            show.clone(),
            ends_at,
        );
    }
    Ok(Json(Pins { pins }))
}

/// The show's pinned products with live prices and stock (anyone).
#[utoipa::path(get, path = "/api/shows/{id}/pins", tag = "commerce",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = Pins), (status = 404, body = Problem)))]
async fn list_pins(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Pins>> {
    let show = state.show(id).await?;
    Ok(Json(Pins {
        pins: pin_views(state.store.as_ref(), &show, state.now()).await?,
    }))
}

/// Unpin a product (creator, moderators).
#[utoipa::path(delete, path = "/api/shows/{id}/pins/{product_id}", tag = "commerce",
    params(("id" = ShowId, Path), ("product_id" = ProductId, Path)),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn unpin_product(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, product)): ApiPath<(ShowId, ProductId)>,
) -> ApiResult<StatusCode> {
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::Pin, Some(&show))?;
    if state.store.unpin(&show, product).await?.is_none() {
        return Err(ApiError::not_found(
            "not_pinned",
            format!("product {product} is not pinned"),
        ));
    }
    announce_pins(state.store.as_ref(), &state.hub, &show).await;
    Ok(StatusCode::NO_CONTENT)
}

// ---- Cart ------------------------------------------------------------------------------

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CartItem {
    product_id: ProductId,
    title: String,
    image_url: Option<String>,
    quantity: i64,
    /// The price of one unit now (the deal's while it is open).
    unit_price: Money,
    /// Whether `unit_price` is a deal price.
    deal: bool,
    line_total: Money,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct CartView {
    items: Vec<CartItem>,
    total: Money,
}

/// The caller (a viewer of the show) and the show.
async fn shopper(
    state: &AppState,
    caller: &Caller,
    id: ShowId,
) -> ApiResult<(Show, ViewerId, String)> {
    let show = state.show(id).await?;
    shopper_in(caller, show)
}

/// The caller, who must be a viewer of `show`.
fn shopper_in(caller: &Caller, show: Show) -> ApiResult<(Show, ViewerId, String)> {
    authorize(caller.principal(), Action::Shop, Some(&show))?;
    match caller.principal() {
        Some(Principal::Viewer {
            viewer_id, name, ..
        }) => Ok((show, *viewer_id, name.clone())),
        _ => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_role",
            "only viewers shop",
        )),
    }
}

async fn cart_view(state: &AppState, show: &Show, lines: &CartLines) -> ApiResult<CartView> {
    let now = state.now();
    let pins = state.store.pins(show).await?;
    let mut items = Vec::with_capacity(lines.len());
    let mut total: Option<Money> = None;
    for (product_id, line) in lines {
        let Some(product) = state.store.product(*product_id).await? else {
            continue;
        };
        let pin = pins.iter().find(|p| p.pin.product_id == product.id);
        let (unit, deal) = price_in_effect(
            &product,
            pin.map(|p| &p.pin),
            pin.map(|p| p.deal).unwrap_or_default(),
            now,
        );
        let line_total = Money {
            amount: unit.amount.saturating_mul(line.quantity),
            currency: unit.currency,
        };
        let t = total.get_or_insert(Money::zero(unit.currency));
        t.amount = t.amount.saturating_add(line_total.amount);
        items.push(CartItem {
            product_id: product.id,
            title: product.title,
            image_url: product.image_url,
            quantity: line.quantity,
            unit_price: unit,
            deal,
            line_total,
        });
    }
    let total = match total {
        Some(t) => t,
        None => Money::zero(default_currency(state, show).await?),
    };
    Ok(CartView { items, total })
}

/// The currency of an empty cart: the show's first lineup product's, else USD.
async fn default_currency(state: &AppState, show: &Show) -> ApiResult<crate::domain::Currency> {
    if let Some(first) = state.store.lineup(show).await?.first()
        && let Some(p) = state.store.product(*first).await?
    {
        return Ok(p.price.currency);
    }
    Ok(crate::domain::Currency::parse("USD")?)
}

/// The caller's cart in this show (viewers).
#[utoipa::path(get, path = "/api/shows/{id}/cart", tag = "commerce",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = CartView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn get_cart(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<CartView>> {
    let (show, viewer, _) = shopper(&state, &caller, id).await?;
    let lines = state.store.cart(&show, viewer).await?;
    Ok(Json(cart_view(&state, &show, &lines).await?))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quantity {
    /// Units in the cart, 1 to 100 (the stock left and a deal's per-buyer limit also apply).
    #[schema(minimum = 1, maximum = 100)]
    #[serde(deserialize_with = "crate::domain::whole::i64")]
    quantity: i64,
}

/// Set how many units of a product are in the cart (viewers). Refused beyond the stock left
/// or the deal's per-buyer limit.
#[utoipa::path(put, path = "/api/shows/{id}/cart/items/{product_id}", tag = "commerce",
    params(("id" = ShowId, Path), ("product_id" = ProductId, Path)), request_body = Quantity,
    responses((status = 200, body = CartView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn set_cart_item(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, product_id)): ApiPath<(ShowId, ProductId)>,
    body: ApiJson<Quantity>,
) -> ApiResult<Json<CartView>> {
    let (show, viewer, _) = shopper(&state, &caller, id).await?;
    let body = body.value()?;
    if show.status == ShowStatus::Ended {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "show_ended",
            "this show has ended",
        ));
    }
    let product = match state.store.product(product_id).await? {
        Some(p) if p.creator_id == show.creator_id => p,
        _ => {
            return Err(ApiError::not_found(
                "product_not_found",
                format!("no product {product_id} in this show"),
            ));
        }
    };
    if !state.store.lineup(&show).await?.contains(&product.id) {
        return Err(ApiError::not_found(
            "product_not_found",
            format!("product {product_id} is not sold in this show"),
        ));
    }
    let mut lines = state.store.cart(&show, viewer).await?;
    if !lines.contains_key(&product.id) && lines.len() >= MAX_CART_ITEMS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "cart_full",
            format!("a cart holds at most {MAX_CART_ITEMS} different products"),
        ));
    }
    for other in lines.keys().filter(|p| **p != product.id) {
        if let Some(o) = state.store.product(*other).await?
            && o.price.currency != product.price.currency
        {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "currency_mismatch",
                format!(
                    "your cart is in {}; this product is in {}",
                    o.price.currency, product.price.currency
                ),
            ));
        }
    }
    let pins = state.store.pins(&show).await?;
    let pin = pins.iter().find(|p| p.pin.product_id == product.id);
    let facts = LineFacts {
        product: &product,
        pin: pin.map(|p| &p.pin),
        deal: pin.map(|p| p.deal).unwrap_or_default(),
        bought_in_deal: state.store.deal_bought(&show, product.id, viewer).await?,
    };
    let line = check_cart_line(&facts, body.quantity, state.now())?;
    state
        .store
        .set_cart_line(&show, viewer, product.id, Some(line))
        .await?;
    lines.insert(product.id, line);
    metrics::counter!("livesale_cart_updates_total").increment(1);
    Ok(Json(cart_view(&state, &show, &lines).await?))
}

/// Remove a product from the cart (viewers).
#[utoipa::path(delete, path = "/api/shows/{id}/cart/items/{product_id}", tag = "commerce",
    params(("id" = ShowId, Path), ("product_id" = ProductId, Path)),
    responses((status = 200, body = CartView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn remove_cart_item(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, product_id)): ApiPath<(ShowId, ProductId)>,
) -> ApiResult<Json<CartView>> {
    let (show, viewer, _) = shopper(&state, &caller, id).await?;
    state
        .store
        .set_cart_line(&show, viewer, product_id, None)
        .await?;
    let lines = state.store.cart(&show, viewer).await?;
    Ok(Json(cart_view(&state, &show, &lines).await?))
}

// ---- Checkout --------------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckoutInput {
    /// Show "Someone" instead of the buyer's name in the room's purchase event.
    #[serde(default)]
    anonymous: bool,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Placed {
    order: Order,
}

const MAX_IDEMPOTENCY_KEY: usize = 200;

/// The `Idempotency-Key` header, if any (only it: the `HeaderMap` extractor copies them all).
struct IdempotencyKey(Option<HeaderValue>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for IdempotencyKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Ok(IdempotencyKey(
            parts.headers.get("idempotency-key").cloned(),
        ))
    }
}

/// Buy the cart: reserve stock atomically, take the payment, and announce the purchase
/// (viewers). Requires an `Idempotency-Key` header: a retry with the same key and cart returns
/// the same order; the same key with a different cart or body is a 422.
#[utoipa::path(post, path = "/api/shows/{id}/checkout", tag = "commerce",
    params(("id" = ShowId, Path),
           ("Idempotency-Key" = String, Header, description = "unique per purchase attempt")),
    request_body(content = Option<CheckoutInput>, content_type = "application/json"),
    responses((status = 201, body = Placed), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 402, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn checkout(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    IdempotencyKey(key): IdempotencyKey,
    ClientIp(ip): ClientIp,
    body: ApiBytes,
) -> ApiResult<Response> {
    // A recent copy of the show is enough: its id and creator never change, and the store's
    // checkout refuses an ended show from the stored record (the check below only answers
    // early).
    let show = state.show_recent(id).await?;
    let (show, viewer, name) = shopper_in(&caller, show)?;
    let key = match key.as_ref().map(|v| v.to_str()) {
        None => {
            return Err(ApiError::bad_request(
                "missing_idempotency_key",
                "checkout needs an Idempotency-Key header (a fresh random value per purchase)",
            ));
        }
        Some(Ok(k)) if !k.trim().is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY => {
            k.trim().to_string()
        }
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                format!("the Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} visible characters"),
            ));
        }
    };
    let body = body.value()?;
    let input: CheckoutInput = if body.iter().all(u8::is_ascii_whitespace) {
        CheckoutInput::default()
    } else {
        super::extract::json_object(&body)?
    };
    if show.status == ShowStatus::Ended {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "show_ended",
            "this show has ended",
        ));
    }
    let now = state.now();
    let request = CheckoutRequest {
        viewer,
        buyer_name: if input.anonymous {
            "Someone".into()
        } else {
            name
        },
        key,
        body_fingerprint: if input.anonymous {
            "anonymous"
        } else {
            "named"
        }
        .into(),
        order_id: Uuid::now_v7(),
        now,
        reserve_for: chrono::Duration::seconds(state.config.reservation_ttl_s as i64),
        address: (state.config.deal_buyers_per_address > 0).then(|| AddressAllowance {
            key: address_key(ip),
            buyers: state.config.deal_buyers_per_address,
        }),
    };
    let order = match state.store.checkout(&show, &request).await? {
        CheckoutOutcome::Created(order) => order,
        CheckoutOutcome::Replayed(order) => {
            metrics::counter!("livesale_checkouts_total", "outcome" => "replayed").increment(1);
            // A retry answers as the first attempt did: a failed or expired order was not
            // placed, so it must not come back as 201 Created.
            let mut response = match unplaced(&order) {
                Some(refusal) => refusal.into_response(),
                None => placed_response(order)?,
            };
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            return Ok(response);
        }
        CheckoutOutcome::KeyReused => {
            metrics::counter!("livesale_checkouts_total", "outcome" => "key_reused").increment(1);
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "this Idempotency-Key was used for a different cart; use a new key",
            ));
        }
        CheckoutOutcome::Refused(e) => {
            metrics::counter!("livesale_checkouts_total", "outcome" => e.code).increment(1);
            return Err(e.into());
        }
    };
    let timeout = Duration::from_millis(state.config.payment_timeout_ms);
    let completion = match tokio::time::timeout(timeout, state.payments.charge(&order)).await {
        Ok(Ok(_receipt)) => Completion::Paid { at: state.now() },
        Ok(Err(e)) => Completion::Failed {
            reason: e.to_string(),
        },
        Err(_) => Completion::Failed {
            reason: "the payment provider did not answer in time".into(),
        },
    };
    let settled = state
        .store
        .complete_placed_order(&show, &order, &completion)
        .await?
        .unwrap_or(order);
    match settled.status {
        OrderStatus::Paid => {
            metrics::counter!("livesale_checkouts_total", "outcome" => "paid").increment(1);
            metrics::counter!("livesale_orders_total").increment(1);
            metrics::counter!(
                "livesale_revenue_minor_units_total",
                "show" => show.id.to_string(),
                "currency" => settled.total.currency.to_string()
            )
            .increment(settled.total.amount.max(0) as u64);
            // The order is paid and stored: the buyer need not wait for the room's news (in a
            // flash drop its reads and broadcasts queue behind thousands of other requests).
            let (store, hub, order) = (state.store.clone(), state.hub.clone(), settled.clone());
            tokio::spawn(async move {
                announce_purchase(store.as_ref(), &hub, &show, &order).await;
            });
            placed_response(settled)
        }
        OrderStatus::PendingPayment => placed_response(settled),
        OrderStatus::Failed => {
            metrics::counter!("livesale_checkouts_total", "outcome" => "payment_failed")
                .increment(1);
            crate::commerce::give_back_cart(state.store.as_ref(), &show, &settled).await;
            announce_pins(state.store.as_ref(), &state.hub, &show).await;
            let (code, why) = match &completion {
                Completion::Failed { reason } if reason.contains("declined") => {
                    ("payment_declined", reason.clone())
                }
                Completion::Failed { reason } => ("payment_failed", reason.clone()),
                Completion::Paid { .. } => {
                    ("payment_failed", "the payment did not go through".into())
                }
            };
            Err(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                code,
                format!(
                    "{why}; order {} was not placed and nothing was charged",
                    settled.id
                ),
            ))
        }
        OrderStatus::Expired => {
            crate::commerce::give_back_cart(state.store.as_ref(), &show, &settled).await;
            Err(ApiError::new(
                StatusCode::CONFLICT,
                "reservation_expired",
                "the reservation expired before the payment finished; nothing was charged",
            ))
        }
    }
}

fn placed_response(order: Order) -> ApiResult<Response> {
    Ok((StatusCode::CREATED, Json(Placed { order })).into_response())
}

/// The refusal a settled order that was not placed stands for (failed or expired), as the
/// first attempt answered it; `None` for a paid or pending order.
fn unplaced(order: &Order) -> Option<ApiError> {
    match order.status {
        OrderStatus::Failed => {
            let why = order
                .failure
                .clone()
                .unwrap_or_else(|| "the payment did not go through".into());
            let code = if why.contains("declined") {
                "payment_declined"
            } else {
                "payment_failed"
            };
            Some(ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                code,
                format!(
                    "{why}; order {} was not placed and nothing was charged",
                    order.id
                ),
            ))
        }
        OrderStatus::Expired => Some(ApiError::new(
            StatusCode::CONFLICT,
            "reservation_expired",
            "the reservation expired before the payment finished; nothing was charged",
        )),
        OrderStatus::Paid | OrderStatus::PendingPayment => None,
    }
}

// ---- Orders ----------------------------------------------------------------------------

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ShowOrders {
    orders: Vec<Order>,
    /// Sum of the paid orders.
    total: Money,
    /// Number of paid orders.
    paid: usize,
}

/// The show's orders with the paid total (the show's creator).
#[utoipa::path(get, path = "/api/shows/{id}/orders", tag = "commerce",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = ShowOrders), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn show_orders(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<ShowOrders>> {
    let show = state.show(id).await?;
    authorize(caller.principal(), Action::ManageShow, Some(&show))?;
    let orders = state.store.orders(&show).await?;
    let mut total = Money::zero(default_currency(&state, &show).await?);
    let mut paid = 0;
    for o in orders.iter().filter(|o| o.status == OrderStatus::Paid) {
        paid += 1;
        total.currency = o.total.currency;
        total.amount = total.amount.saturating_add(o.total.amount);
    }
    Ok(Json(ShowOrders {
        orders,
        total,
        paid,
    }))
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct MyOrders {
    orders: Vec<Order>,
}

/// The caller's own orders in this show (viewers).
#[utoipa::path(get, path = "/api/shows/{id}/orders/mine", tag = "commerce",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = MyOrders), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn my_orders(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<MyOrders>> {
    let (show, viewer, _) = shopper(&state, &caller, id).await?;
    Ok(Json(MyOrders {
        orders: state.store.viewer_orders(&show, viewer).await?,
    }))
}

// ---- Webhook ---------------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookInput {
    /// Where order events are POSTed (http or https).
    url: String,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct WebhookView {
    url: String,
    /// Key of the `X-Livesale-Hmac-Sha256` signature (base64 HMAC-SHA256 of the raw body).
    secret: String,
}

/// Set where the caller's order events are delivered (creators). A new secret is made each
/// time.
#[utoipa::path(put, path = "/api/webhook", tag = "commerce", request_body = WebhookInput,
    responses((status = 200, body = WebhookView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn set_webhook(
    State(state): State<AppState>,
    caller: Caller,
    body: ApiJson<WebhookInput>,
) -> ApiResult<Json<WebhookView>> {
    let creator = caller.creator()?;
    let body = body.value()?;
    let url = body.url.trim();
    let parsed = reqwest::Url::parse(url).ok().filter(|u| {
        matches!(u.scheme(), "http" | "https") && u.host().is_some() && url.len() <= 2048
    });
    let Some(parsed) = parsed else {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_url",
            "the webhook URL must be an absolute http(s) URL",
        ));
    };
    if !state.config.webhook_allow_private
        && let Some(why) = internal_destination(&parsed)
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "private_address",
            format!(
                "the webhook URL must point at a public address: {why} \
                 (loopback, private, link-local, CGNAT, multicast, broadcast, reserved and \
                 documentation ranges are refused)"
            ),
        ));
    }
    let hook = Webhook {
        url: url.to_string(),
        secret: crate::auth::random_secret(),
    };
    state.store.set_webhook(creator, Some(&hook)).await?;
    Ok(Json(WebhookView {
        url: hook.url,
        secret: hook.secret,
    }))
}

/// Why a URL's host may not receive webhooks, if it is a literal address in a refused range
/// ([`crate::domain::net`]) or a name that means this machine (`localhost`, `*.localhost`) or an
/// internal network (`*.internal`). Other names are judged at delivery time, by every address
/// they resolve to then.
fn internal_destination(url: &reqwest::Url) -> Option<String> {
    use std::net::IpAddr;
    let ip = match url.host()? {
        url::Host::Ipv4(ip) => IpAddr::V4(ip),
        url::Host::Ipv6(ip) => IpAddr::V6(ip),
        url::Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            let internal =
                d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal");
            return internal.then(|| format!("{d} names this machine or an internal network"));
        }
    };
    crate::domain::net::refusal(ip).map(|why| format!("{ip} is {why}"))
}

/// The caller's webhook (creators).
#[utoipa::path(get, path = "/api/webhook", tag = "commerce",
    responses((status = 200, body = WebhookView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn get_webhook(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<WebhookView>> {
    let creator = caller.creator()?;
    match state.store.webhook(creator).await? {
        Some(h) => Ok(Json(WebhookView {
            url: h.url,
            secret: h.secret,
        })),
        None => Err(ApiError::not_found("no_webhook", "no webhook is set")),
    }
}

/// Stop delivering order events (creators).
#[utoipa::path(delete, path = "/api/webhook", tag = "commerce",
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn delete_webhook(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    let creator = caller.creator()?;
    state.store.set_webhook(creator, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
