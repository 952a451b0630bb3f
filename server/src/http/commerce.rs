//! Commerce over HTTP: pins and deals, the viewer's cart, checkout, orders, and the
//! merchant's webhook. Each handler extracts, calls one [`CommerceService`] method (after the
//! service's access step where a body must wait for it), and maps the outcome; the refusal →
//! problem mapping is `From<CommerceError> for ApiError` here, over `ApiError`'s own.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiBytes, ApiJson, ApiPath, Caller, ClientIp};
use crate::commerce::payment::ClientPayment;
use crate::domain::commerce::{Order, PinView, Shipping};
use crate::domain::{Code, ProductId, ShowId};
use crate::services::commerce::{
    CartView, Checkout, CheckoutAttempt, CheckoutOutcome, CommerceError, DealOffer, NewPin,
    ShowOrders, Unpaid,
};
use crate::store::Webhook;

impl From<CommerceError> for ApiError {
    fn from(e: CommerceError) -> ApiError {
        match e {
            CommerceError::Refused(refusal) => refusal.into(),
            CommerceError::Store(e) => e.into(),
            CommerceError::Unpaid(unpaid) => payment_required(unpaid),
        }
    }
}

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

impl From<PinInput> for NewPin {
    fn from(input: PinInput) -> NewPin {
        NewPin {
            product_id: input.product_id,
            deal: input.deal.map(DealOffer::from),
        }
    }
}

impl From<DealInput> for DealOffer {
    fn from(d: DealInput) -> DealOffer {
        let (price, currency) = match d.price {
            DealPrice::Minor(amount) => (amount, None),
            DealPrice::Money { amount, currency } => (amount, Some(currency)),
        };
        DealOffer {
            price,
            currency,
            quantity: d.quantity,
            per_buyer_limit: d.per_buyer_limit,
            duration_s: d.duration_s,
        }
    }
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
    let curator = state.commerce.curator(caller.principal(), id).await?;
    let body = body.value()?;
    let pins = state.commerce.pin(&curator, body.into()).await?;
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
    let pins = state.commerce.pins(id).await?;
    Ok(Json(Pins { pins }))
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
    state
        .commerce
        .unpin(caller.principal(), id, product)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---- Cart ------------------------------------------------------------------------------

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
    Ok(Json(state.commerce.cart(caller.principal(), id).await?))
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
    let shopper = state.commerce.shopper(caller.principal(), id).await?;
    let quantity = body.value()?.quantity;
    let cart = state.commerce.set_cart_item(&shopper, product_id, quantity);
    Ok(Json(cart.await?))
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
    let cart = state
        .commerce
        .remove_cart_item(caller.principal(), id, product_id);
    Ok(Json(cart.await?))
}

// ---- Checkout --------------------------------------------------------------------------

#[derive(serde::Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckoutInput {
    /// Show "Someone" instead of the buyer's name in the room's purchase event.
    #[serde(default)]
    anonymous: bool,
    /// The buyer's email (required with `--payments stripe`, with `shipping`).
    #[serde(default)]
    #[schema(max_length = 254, example = "ada@example.com")]
    email: Option<String>,
    /// Where the order goes (required with `--payments stripe`, with `email`).
    #[serde(default)]
    shipping: Option<Shipping>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Placed {
    order: Order,
    /// With `--payments stripe`: the PaymentIntent for the buyer's browser to confirm.
    #[serde(skip_serializing_if = "Option::is_none")]
    payment: Option<ClientPayment>,
}

/// The `Idempotency-Key` header, if any (only it: the `HeaderMap` extractor copies them all).
pub(super) struct IdempotencyKey(pub(super) Option<HeaderValue>);

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
    let shopper = state
        .commerce
        .shopper_recent(caller.principal(), id)
        .await?;
    let key = idempotency_key(key)?;
    let input = checkout_input(body)?;
    let attempt = CheckoutAttempt {
        key,
        anonymous: input.anonymous,
        ip,
        email: input.email,
        shipping: input.shipping,
    };
    Ok(checkout_response(
        state.commerce.checkout(shopper, attempt).await?,
    ))
}

/// The idempotency key: 1-200 visible characters, trimmed (`domain::commerce::idempotency_key`);
/// 400 when it is missing or malformed.
pub(super) fn idempotency_key(key: Option<HeaderValue>) -> ApiResult<String> {
    let Some(key) = key else {
        return Err(ApiError::bad_request(
            Code::MissingIdempotencyKey,
            "this needs an Idempotency-Key header (a fresh random value per attempt)",
        ));
    };
    let shaped = key
        .to_str()
        .map_err(|_| ())
        .and_then(|k| crate::domain::commerce::idempotency_key(k).map_err(|_| ()));
    shaped.map_err(|()| {
        ApiError::bad_request(
            Code::InvalidIdempotencyKey,
            format!(
                "the Idempotency-Key must be 1-{} visible characters",
                crate::domain::commerce::MAX_IDEMPOTENCY_KEY
            ),
        )
    })
}

/// The checkout's body: none (or only whitespace), or a [`CheckoutInput`] object.
fn checkout_input(body: ApiBytes) -> ApiResult<CheckoutInput> {
    let body = body.value()?;
    if body.iter().all(u8::is_ascii_whitespace) {
        Ok(CheckoutInput::default())
    } else {
        super::extract::json_object(&body)
    }
}

/// 201 with the placed order, 402 for a payment that did not go through, or the refusal; a
/// retry's answer is marked `Idempotent-Replayed: true`.
fn checkout_response(checkout: Checkout) -> Response {
    let mut response = match checkout.outcome {
        CheckoutOutcome::Placed(order) => {
            let placed = Placed {
                order,
                payment: None,
            };
            (StatusCode::CREATED, Json(placed)).into_response()
        }
        CheckoutOutcome::AwaitingPayment { order, payment } => {
            let placed = Placed {
                order,
                payment: Some(payment),
            };
            (StatusCode::CREATED, Json(placed)).into_response()
        }
        CheckoutOutcome::Unpaid(unpaid) => payment_required(unpaid).into_response(),
        CheckoutOutcome::Refused(refusal) => ApiError::from(refusal).into_response(),
    };
    if checkout.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    response
}

/// 402 for a payment that did not go through, 503 with `Retry-After` when the processor
/// could not be asked (nothing was charged either way).
fn payment_required(unpaid: Unpaid) -> ApiError {
    let detail = match unpaid.order {
        Some(order) => format!("{}; nothing was charged for order {order}", unpaid.why),
        None => format!("{}; nothing was charged", unpaid.why),
    };
    if unpaid.code == Code::PaymentUnavailable {
        return ApiError::new(StatusCode::SERVICE_UNAVAILABLE, unpaid.code, detail)
            .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    ApiError::new(StatusCode::PAYMENT_REQUIRED, unpaid.code, detail)
}

// ---- Orders ----------------------------------------------------------------------------

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
    Ok(Json(
        state.commerce.show_orders(caller.principal(), id).await?,
    ))
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
    let orders = state.commerce.my_orders(caller.principal(), id).await?;
    Ok(Json(MyOrders { orders }))
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

impl From<Webhook> for WebhookView {
    fn from(hook: Webhook) -> WebhookView {
        WebhookView {
            url: hook.url,
            secret: hook.secret,
        }
    }
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
    let hook = state.commerce.set_webhook(creator, &body.url).await?;
    Ok(Json(hook.into()))
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
    Ok(Json(state.commerce.webhook(creator).await?.into()))
}

/// Stop delivering order events (creators).
#[utoipa::path(delete, path = "/api/webhook", tag = "commerce",
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem)),
    security(("bearer" = [])))]
async fn delete_webhook(State(state): State<AppState>, caller: Caller) -> ApiResult<StatusCode> {
    let creator = caller.creator()?;
    state.commerce.delete_webhook(creator).await?;
    Ok(StatusCode::NO_CONTENT)
}
