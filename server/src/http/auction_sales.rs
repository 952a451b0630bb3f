//! The sale of a closed lot over HTTP: the runner-up takes the lot they were offered
//! (`auction.offer`) and it is charged to their saved card. The rest of a sale (the winner's
//! order and charge, lapsed windows, alerts, the merchant's webhook) happens without a request
//! (`services::auction_sales`).

use axum::Json;
use axum::extract::State;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::error::{ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, Caller};
use crate::domain::ShowId;
use crate::domain::auction::AuctionId;
use crate::domain::commerce::Order;
use crate::services::commerce::CardStatus;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(accept_offer))
}

/// The body of `POST …/offer`: nothing to say (`{}`).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInput {}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AcceptAnswer {
    order: Order,
    status: CardStatus,
    /// With `requires_action`: for Stripe.js's `confirmCardPayment`.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<String>,
}

/// The runner-up takes the lot they were offered (`auction.offer`): the offer's order is
/// charged to their saved card off-session. `succeeded` (the order is paid, or Stripe's
/// webhook settles it a moment later: `order.updated`), `processing`, or `requires_action`
/// with the client secret for 3-D Secure. 409 `offer_not_found` unless the caller holds a live
/// offer of this lot; a decline is 402 and the lot goes to nobody.
#[utoipa::path(post, path = "/api/shows/{id}/auctions/{auction_id}/offer", tag = "auctions",
    params(("id" = ShowId, Path), ("auction_id" = uuid::Uuid, Path, description = "the auction's id")),
    request_body = AcceptInput,
    responses((status = 200, body = AcceptAnswer), (status = 401, body = Problem),
              (status = 402, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 503, body = Problem)),
    security(("bearer" = [])))]
async fn accept_offer(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, auction)): ApiPath<(ShowId, AuctionId)>,
    body: ApiJson<AcceptInput>,
) -> ApiResult<Json<AcceptAnswer>> {
    let AcceptInput {} = body.value()?;
    let paid = state
        .auctions
        .sales()
        .accept_offer(caller.principal(), id, auction)
        .await?;
    Ok(Json(AcceptAnswer {
        order: paid.order,
        status: paid.status,
        client_secret: paid.client_secret,
    }))
}
