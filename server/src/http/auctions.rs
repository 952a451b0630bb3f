//! Auctions over HTTP (issue 18): a show's lots, bids, the creator's stop and the bid log.
//! Each handler extracts, calls one [`AuctionsService`] method (after its access step where a
//! body must wait for it) and maps the outcome; `From<AuctionError> for ApiError` is the one
//! refusal mapping.
//!
//! [`AuctionsService`]: crate::services::auctions::AuctionsService

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::AppState;
use super::commerce::{IdempotencyKey, idempotency_key};
use super::error::{ApiError, ApiResult, Problem};
use super::extract::{ApiJson, ApiPath, ApiQuery, Caller};
use crate::domain::auction::{
    AuctionId, AuctionMode, AuctionSpec, AuctionView, IncrementBand, IncrementTable,
};
use crate::domain::{Code, Money, ProductId, ShowId};
use crate::services::auctions::{AuctionError, BidAsk, NewAuction};

impl From<AuctionError> for ApiError {
    fn from(e: AuctionError) -> ApiError {
        match e {
            AuctionError::Refused(refusal) => refusal.into(),
            AuctionError::Bid {
                refusal,
                next_minimum,
            } => {
                let mut e = ApiError::from(refusal);
                if e.code == Code::BidTooLow {
                    e.next_minimum = Some(next_minimum);
                }
                e
            }
            AuctionError::RateLimited { refusal, wait } => {
                super::identity::rate_limited(wait, &refusal.message)
            }
            AuctionError::PaymentUnavailable(why) => {
                tracing::warn!(%why, "saved cards not read");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Code::PaymentUnavailable,
                    "the payment processor cannot be asked right now; try again shortly",
                )
                .with_header(header::RETRY_AFTER, HeaderValue::from_static("5"))
            }
            AuctionError::Store(e) => e.into(),
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_auction, list_auctions))
        .routes(routes!(get_auction))
        .routes(routes!(open_auction))
        .routes(routes!(close_auction))
        .routes(routes!(place_bid))
        .routes(routes!(auction_log))
}

/// One band of an increment table: from `from` (minor units) up, bids rise by `step`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BandInput {
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    #[serde(deserialize_with = "crate::domain::whole::i64")]
    from: i64,
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    #[serde(deserialize_with = "crate::domain::whole::i64")]
    step: i64,
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuctionInput {
    /// A product of the show's lineup.
    product_id: ProductId,
    /// Above zero, in the product's currency.
    start_price: Money,
    /// How long the lot runs once open, 10 to 3600 seconds.
    #[schema(minimum = 10, maximum = 3600)]
    #[serde(deserialize_with = "crate::domain::whole::i64")]
    duration_s: i64,
    mode: AuctionMode,
    /// Soft close: a bid in the last `extend_s` seconds pushes the end to `extend_s` after
    /// it; 5 to 120, 10 when absent.
    #[schema(minimum = 5, maximum = 120)]
    #[serde(default, deserialize_with = "crate::domain::whole::opt_i64")]
    extend_s: Option<i64>,
    /// No sale below it (same currency, at least the start price).
    #[serde(default)]
    reserve_price: Option<Money>,
    /// The increment table (1 to 16 bands, the first from 0, steps never shrinking); a
    /// default table when absent.
    #[serde(default)]
    #[schema(max_items = 16)]
    increments: Option<Vec<BandInput>>,
    /// Open at once (the default), or schedule the lot: it takes pre-bids (`max_amount`)
    /// until `POST …/open`.
    #[serde(default = "yes")]
    open: bool,
}

fn yes() -> bool {
    true
}

impl From<AuctionInput> for NewAuction {
    fn from(input: AuctionInput) -> NewAuction {
        let increments = input.increments.map(|bands| IncrementTable {
            bands: bands
                .into_iter()
                .map(|b| IncrementBand {
                    from: b.from,
                    step: b.step,
                })
                .collect(),
        });
        NewAuction {
            product_id: input.product_id,
            spec: AuctionSpec {
                start_price: input.start_price,
                duration_s: input.duration_s,
                mode: input.mode,
                extend_s: input.extend_s,
                reserve_price: input.reserve_price,
                increments,
            },
            open: input.open,
        }
    }
}

/// Create an auction lot of a lineup product (creator, moderators): opened at once unless
/// `"open": false` (409 `auction_running` while another lot is open).
#[utoipa::path(post, path = "/api/shows/{id}/auctions", tag = "auctions",
    params(("id" = ShowId, Path)), request_body = AuctionInput,
    responses((status = 201, body = AuctionView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
async fn create_auction(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<ShowId>,
    body: ApiJson<AuctionInput>,
) -> ApiResult<(StatusCode, Json<AuctionView>)> {
    let manager = state.auctions.manager(caller.principal(), id).await?;
    let new = body.value()?.into();
    let view = state.auctions.create(&manager, new).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Auctions {
    /// Oldest first.
    auctions: Vec<AuctionView>,
}

/// The show's auction lots, oldest first (anyone).
#[utoipa::path(get, path = "/api/shows/{id}/auctions", tag = "auctions",
    params(("id" = ShowId, Path)),
    responses((status = 200, body = Auctions), (status = 404, body = Problem)))]
async fn list_auctions(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<ShowId>,
) -> ApiResult<Json<Auctions>> {
    let auctions = state.auctions.list(id).await?;
    Ok(Json(Auctions { auctions }))
}

/// One auction lot (anyone).
#[utoipa::path(get, path = "/api/shows/{id}/auctions/{auction_id}", tag = "auctions",
    params(("id" = ShowId, Path), ("auction_id" = String, Path, format = Uuid)),
    responses((status = 200, body = AuctionView), (status = 404, body = Problem)))]
async fn get_auction(
    State(state): State<AppState>,
    ApiPath((id, auction)): ApiPath<(ShowId, AuctionId)>,
) -> ApiResult<Json<AuctionView>> {
    Ok(Json(state.auctions.get(id, auction).await?))
}

/// Open a scheduled lot (creator, moderators); its pre-bids are resolved at once.
#[utoipa::path(post, path = "/api/shows/{id}/auctions/{auction_id}/open", tag = "auctions",
    params(("id" = ShowId, Path), ("auction_id" = String, Path, format = Uuid)),
    responses((status = 200, body = AuctionView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn open_auction(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, auction)): ApiPath<(ShowId, AuctionId)>,
) -> ApiResult<Json<AuctionView>> {
    Ok(Json(
        state.auctions.open(caller.principal(), id, auction).await?,
    ))
}

/// Stop a lot now (creator, moderators): it closes with the bids so far, and the winner (if
/// any) is charged as at a normal end.
#[utoipa::path(post, path = "/api/shows/{id}/auctions/{auction_id}/close", tag = "auctions",
    params(("id" = ShowId, Path), ("auction_id" = String, Path, format = Uuid)),
    responses((status = 200, body = AuctionView), (status = 401, body = Problem),
              (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem)),
    security(("bearer" = [])))]
async fn close_auction(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, auction)): ApiPath<(ShowId, AuctionId)>,
) -> ApiResult<Json<AuctionView>> {
    Ok(Json(
        state
            .auctions
            .close(caller.principal(), id, auction)
            .await?,
    ))
}

#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BidInput {
    /// A plain bid, minor units: at least `next_minimum`. Give this or `max_amount`.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::domain::whole::opt_i64")]
    amount: Option<i64>,
    /// A proxy bid: the server bids for you by the increment, up to this (the only bid a
    /// scheduled lot takes).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    #[serde(default, deserialize_with = "crate::domain::whole::opt_i64")]
    max_amount: Option<i64>,
    /// The lot's currency, if you name one (`wrong_currency` otherwise).
    #[serde(default)]
    #[schema(example = "USD")]
    currency: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct BidPlaced {
    /// Always true: a refused bid is a problem answer.
    accepted: bool,
    /// `accepted` (the price rose), `max_raised` (you lead and raised your maximum) or
    /// `pre_bid` (a maximum on a scheduled lot).
    outcome: String,
    auction: AuctionView,
}

/// Bid on a lot (viewers with a saved card; needs an `Idempotency-Key`: a retry with the same
/// key and bid answers the same, a different bid under a used key is 422).
#[utoipa::path(post, path = "/api/shows/{id}/auctions/{auction_id}/bids", tag = "auctions",
    params(("id" = ShowId, Path), ("auction_id" = String, Path, format = Uuid),
           ("Idempotency-Key" = String, Header, description = "unique per bid")),
    request_body = BidInput,
    responses((status = 201, body = BidPlaced), (status = 400, body = Problem),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem), (status = 409, body = Problem),
              (status = 422, body = Problem), (status = 429, body = Problem)),
    security(("bearer" = [])))]
async fn place_bid(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, auction)): ApiPath<(ShowId, AuctionId)>,
    IdempotencyKey(key): IdempotencyKey,
    body: ApiJson<BidInput>,
) -> ApiResult<Response> {
    let bidding = state.auctions.bidder(caller.principal(), id).await?;
    let key = idempotency_key(key)?;
    let input = body.value()?;
    let ask = BidAsk {
        amount: input.amount,
        max_amount: input.max_amount,
        currency: input.currency,
        key: Some(key),
    };
    let placed = state.auctions.bid(&bidding, auction, ask).await?;
    let mut response = (
        StatusCode::CREATED,
        Json(BidPlaced {
            accepted: true,
            outcome: placed.outcome.to_string(),
            auction: placed.auction,
        }),
    )
        .into_response();
    if placed.replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

#[derive(Debug, Clone, Copy, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Csv,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// `json` (the default) or `csv` (the creator's export: one line per bid).
    #[serde(default)]
    format: LogFormat,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuctionLog {
    auction: AuctionView,
    /// Every handled bid in order, refusals included: `seq`, `received_ms`, `bidder` (a
    /// viewer id), `kind` (`amount`/`max`), `amount`, `outcome` (`accepted`, `max_raised`,
    /// `pre_bid` or the refusal's code), and the lot's `current`, `leader`, `ends_at_ms` after it.
    #[schema(value_type = Vec<Object>)]
    entries: Vec<crate::domain::auction::LogEntry>,
}

/// A lot's bid log, proxy maxima included (creator, moderators); `?format=csv` for the export.
#[utoipa::path(get, path = "/api/shows/{id}/auctions/{auction_id}/log", tag = "auctions",
    params(("id" = ShowId, Path), ("auction_id" = String, Path, format = Uuid), LogParams),
    responses((status = 200, description = "the log, or its CSV export (columns: seq, received_at, bidder, kind, amount, outcome, current, leader, ends_at, currency)",
               content((AuctionLog = "application/json"), (String = "text/csv"))),
              (status = 401, body = Problem), (status = 403, body = Problem),
              (status = 404, body = Problem)),
    security(("bearer" = [])))]
async fn auction_log(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, auction)): ApiPath<(ShowId, AuctionId)>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> ApiResult<Response> {
    let log = state.auctions.log(caller.principal(), id, auction).await?;
    Ok(match params.format {
        LogFormat::Json => Json(AuctionLog {
            auction: log.auction,
            entries: log.entries,
        })
        .into_response(),
        LogFormat::Csv => {
            let name = format!("attachment; filename=\"auction-{auction}.csv\"");
            let disposition = HeaderValue::from_str(&name)
                .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
            let csv = log.csv();
            (
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
                .into_response()
        }
    })
}
