//! Card payments over HTTP: one order as its buyer or creator sees it, paying a pending order
//! with a card from Stripe.js, the creator's refund, and Stripe's webhook endpoint, which reads the
//! raw body (the signature covers the exact bytes), hands it to `services::payments` and maps
//! the outcome: 200 for anything handled, repeated or ignored (an unknown intent included, so
//! Stripe stops retrying it), 400 for a bad signature or body (nothing changed), 503 when the
//! store is down (Stripe retries later).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiBytes, ApiJson, ApiPath, Caller};
use crate::commerce::payment::SavedCard;
use crate::domain::commerce::Order;
use crate::domain::{Code, OrderId, ShowId};
use crate::services::commerce::CardStatus;
use crate::services::payments::{Handled, WebhookError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_order))
        .routes(routes!(pay_order))
        .routes(routes!(refund_order))
        .routes(routes!(setup_card))
        .routes(routes!(saved_cards))
        .routes(routes!(remove_card))
        .routes(routes!(stripe_webhook))
}

/// One order of the show (its buyer, or the show's creator).
#[utoipa::path(get, path = "/api/shows/{id}/orders/{order_id}", tag = "payments",
    params(("id" = ShowId, Path), ("order_id" = uuid::Uuid, Path, description = "the order's id")),
    responses((status = 200, body = Order), (status = 401, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn get_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, order)): ApiPath<(ShowId, OrderId)>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        state.commerce.order(caller.principal(), id, order).await?,
    ))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayInput {
    /// The card Stripe.js made (`pm_…`): `confirmCardSetup`'s `setupIntent.payment_method`.
    #[schema(example = "pm_1Nx…")]
    payment_method: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct PayAnswer {
    order: Order,
    status: CardStatus,
    /// With `requires_action`: for Stripe.js's `handleCardAction` / `confirmCardPayment`.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

/// Pays the caller's pending order with a card (`--payments stripe`). The order turns `paid`
/// when Stripe's webhook arrives (the buyer's WebSocket gets `order.updated`); a decline is
/// 402 in words and may be retried with another card while the reservation lasts.
#[utoipa::path(post, path = "/api/shows/{id}/orders/{order_id}/pay", tag = "payments",
    params(("id" = ShowId, Path), ("order_id" = uuid::Uuid, Path, description = "the order's id")),
    request_body = PayInput,
    responses((status = 200, body = PayAnswer), (status = 401, body = Problem),
              (status = 402, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn pay_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, order)): ApiPath<(ShowId, OrderId)>,
    body: ApiJson<PayInput>,
) -> ApiResult<Json<PayAnswer>> {
    let input = body.value()?;
    let paid = state
        .commerce
        .pay_order(caller.principal(), id, order, input.payment_method.trim())
        .await?;
    Ok(Json(PayAnswer {
        order: paid.order,
        status: paid.status,
        client_secret: paid.client_secret,
    }))
}

/// Refunds a paid order (the show's creator): the money back at the processor, the order
/// `refunded`, its stock back, the merchant's `order.refunded` webhook.
#[utoipa::path(post, path = "/api/shows/{id}/orders/{order_id}/refund", tag = "payments",
    params(("id" = ShowId, Path), ("order_id" = uuid::Uuid, Path, description = "the order's id")),
    responses((status = 200, body = Order), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn refund_order(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, order)): ApiPath<(ShowId, OrderId)>,
) -> ApiResult<Json<Order>> {
    Ok(Json(
        state.commerce.refund(caller.principal(), id, order).await?,
    ))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct CardSetup {
    /// The SetupIntent's client secret, for Stripe.js's `confirmCardSetup`.
    client_secret: String,
}

/// A new card for the caller (viewers, `--payments stripe`): a SetupIntent under their
/// customer with this show's creator; confirming it in the page saves the card.
#[utoipa::path(post, path = "/api/shows/{id}/cards/setup", tag = "payments",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = CardSetup), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn setup_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<CardSetup>> {
    let client_secret = state.commerce.setup_card(caller.principal(), id).await?;
    Ok(Json(CardSetup { client_secret }))
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SavedCards {
    cards: Vec<SavedCard>,
}

/// The caller's saved cards with this show's creator (one tap to pay with).
#[utoipa::path(get, path = "/api/shows/{id}/cards", tag = "payments",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = SavedCards), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn saved_cards(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<SavedCards>> {
    let cards = state.commerce.saved_cards(caller.principal(), id).await?;
    Ok(Json(SavedCards { cards }))
}

/// Removes one of the caller's saved cards.
#[utoipa::path(delete, path = "/api/shows/{id}/cards/{card}", tag = "payments",
    params(("id" = ShowId, Path), ("card" = String, Path, description = "pm_…")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn remove_card(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, card)): ApiPath<(ShowId, String)>,
) -> ApiResult<StatusCode> {
    state
        .commerce
        .remove_card(caller.principal(), id, &card)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a webhook delivery did (for Stripe's dashboard and logs).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Received {
    /// `paid`, `refunded_late`, `repeated` or `ignored`.
    outcome: &'static str,
}

/// Stripe's webhook: `payment_intent.succeeded` settles the order it pays for. The
/// `Stripe-Signature` header must sign the body with the endpoint's secret
/// (`--stripe-webhook-secret`), within 5 minutes.
#[utoipa::path(post, path = "/api/webhooks/stripe", tag = "payments",
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    request_body(content = String, content_type = "application/json"),
    responses((status = 200, body = Received), (status = 400, body = Problem),
              (status = 404, body = Problem), (status = 413, body = Problem),
              (status = 503, body = Problem)))]
async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: ApiBytes,
) -> ApiResult<Json<Received>> {
    let body = body.value()?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let handled = state
        .payments
        .stripe_webhook(signature, &body)
        .await
        .map_err(refusal)?;
    let outcome = match handled {
        Handled::Paid(_) => "paid",
        Handled::RefundedLate(_) => "refunded_late",
        Handled::Repeated => "repeated",
        Handled::Ignored => "ignored",
    };
    Ok(Json(Received { outcome }))
}

fn refusal(e: WebhookError) -> ApiError {
    match e {
        WebhookError::NotEnabled => ApiError::not_found(Code::NotFound, e.to_string()),
        WebhookError::Signature(e) => {
            tracing::warn!(error = %e, "Stripe webhook refused");
            ApiError::bad_request(Code::InvalidSignature, e.to_string())
        }
        WebhookError::Event(e) => {
            ApiError::new(StatusCode::BAD_REQUEST, Code::InvalidEvent, e.to_string())
        }
        WebhookError::Store(e) => e.into(),
        WebhookError::Stripe(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            Code::PaymentUnavailable,
            format!("the event could not be handled now ({e}); deliver it again"),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from_static("5")),
    }
}
