//! The HTTP boundary: one axum router made of per-module routers, the shared [`AppState`], and
//! the middleware every request passes (tracing, metrics, body limit, panic guard).
//!
//! Handlers extract, ask `domain::access::authorize`, call the domain and the store, and map
//! the result. Business rules live in `domain/`, never here. The OpenAPI document is generated
//! from the handlers' annotations as the router is assembled, so it cannot drift from it.

mod account_pages;
mod accounts;
mod auction_sales;
mod auctions;
mod chapters;
mod commerce;
pub mod error;
pub mod extract;
mod hls;
mod identity;
mod media;
mod moderation;
mod replay;
mod replay_stats;
pub use identity::invite_url;
mod openapi;
mod ops;
mod page;
mod pages;
mod payments;
mod products;
mod qr;
mod shows;
pub mod ws;
// Issue 20 (orders and settings).
mod orders;
mod team;

use std::collections::HashMap;
use std::future::Future;
use std::ops::Deref;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::services::ServeDir;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::TokenSigner;
use crate::config::Config;
use crate::domain::{Code, Show, ShowId, Timestamp};
use crate::store::SharedStore;
use error::{ApiError, ApiResult};

/// Everything a handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub store: SharedStore,
    pub signer: TokenSigner,
    pub admin_token: String,
    /// Base URL for generated links, without a trailing slash.
    pub public_url: String,
    /// Cancelled when the server starts shutting down; long-lived connections watch it.
    pub shutdown: CancellationToken,
    /// The live rooms of this node.
    pub hub: Arc<crate::hub::Hub>,
    /// Upgraded connections (WebSockets), so shutdown can wait for them to say goodbye.
    pub connections: tokio_util::task::TaskTracker,
    /// Pins, carts, checkouts (with the payment provider), orders and webhooks.
    pub commerce: crate::services::commerce::CommerceService,
    /// What the card processor (Stripe) reports through its webhook.
    pub payments: crate::services::payments::PaymentsService,
    /// WebRTC sessions and the on-air program of this node's shows.
    pub media: Arc<crate::media::Media>,
    /// This node's WebSocket connections per identity and per client address.
    pub conn_caps: crate::limits::ConnCaps,
    /// The one source of "now".
    pub clock: crate::clock::SharedClock,
    /// Every `mod.*` command, over HTTP and the WebSocket alike.
    pub moderation: crate::services::moderation::ModerationService,
    /// Creators, shows, invites and viewers joining.
    pub shows: crate::services::shows::ShowsService,
    /// Products, the Shopify import and lineups.
    pub catalog: crate::services::catalog::CatalogService,
    /// A creator's moderators and blocked terms for all their shows.
    pub team: crate::services::team::TeamService,
    /// The chapter log: markers, renaming and hiding, the listing.
    pub chapters: crate::services::chapters::ChaptersService,
    /// Sign-in links, sign-out everywhere, passkeys, the operator's overview, the heartbeat.
    pub accounts: Arc<crate::services::accounts::AccountsService>,
    /// Replay view beacons, and the creator's replay stats (views, watch time, sales by
    /// channel).
    pub replay_stats: Arc<crate::services::replay_stats::ReplayStatsService>,
    /// The replay's events (the room transcript) and highlights.
    pub replay: crate::services::replay::ReplayService,
    /// Auction lots, bids (HTTP and WebSocket) and the ticker that closes lots.
    pub auctions: crate::services::auctions::AuctionsService,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// The show, or 404 `show_not_found`.
    pub async fn show(&self, id: ShowId) -> ApiResult<Show> {
        Ok(self.shows.get(id).await?)
    }

    /// Like [`Self::show`], possibly as this node read it up to a second ago
    /// ([`crate::store::Store::show_recent`]): only where the store call re-checks it.
    pub async fn show_recent(&self, id: ShowId) -> ApiResult<Show> {
        self.store
            .show_recent(id)
            .await?
            .ok_or_else(|| ApiError::not_found(Code::ShowNotFound, format!("no show {id}")))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "livesale",
        description = "Livestream shopping server: shows, catalog, live room, commerce and media. \
                       Errors are application/problem+json with a stable `code`."
    ),
    modifiers(&BearerAuth),
    components(schemas(error::Problem, crate::domain::InviteId))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The whole application router, and the OpenAPI document generated from it.
pub fn router(state: AppState) -> Router {
    let (api, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(identity::router())
        .merge(shows::router())
        .merge(products::router(&state.config))
        .merge(commerce::router())
        .merge(payments::router())
        .merge(moderation::router())
        .merge(media::router())
        .merge(hls::router())
        .merge(replay::router())
        .merge(qr::router())
        .merge(orders::router())
        .merge(team::router())
        .merge(chapters::router())
        .merge(accounts::router())
        .merge(replay_stats::router())
        .merge(auctions::router())
        .merge(auction_sales::router())
        .split_for_parts();
    let mut openapi = openapi;
    openapi::settle_problems(&mut openapi);
    let openapi = Arc::new(openapi);

    Router::new()
        .merge(api)
        .merge(ops::router(openapi))
        .merge(pages::router())
        .merge(account_pages::router())
        .merge(ws::router())
        .nest_service("/static", static_files(&state.config))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(extract::body_limit(state.config.max_body_bytes))
        // One layer for both (each layer clones the route's service and boxes a future per
        // request): the metrics see every answer, the caller's 401s included.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            |state: axum::extract::State<AppState>, req: Request, next: Next| {
                record_metrics(req, |req| extract::authenticate(state, req, next))
            },
        ))
        .layer(TraceLayer::new_for_http())
        .layer(CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| {
                axum::response::IntoResponse::into_response(ApiError::internal(
                    "a handler panicked",
                ))
            },
        ))
        .with_state(state)
}

/// web/ under /static; its test/ pages only with `--serve-test-pages`. Every file gets
/// `nosniff`, so a user-controlled name can never be sniffed into script. Third-party code
/// vendored under web/vendor/ (hls.js) is cached for a year: pages ask for it with its version
/// in the query (`?v=`), so a new version is a new URL.
fn static_files(config: &Config) -> Router {
    let files = ServeDir::new(&config.web_dir);
    let router = Router::new()
        .nest_service("/vendor", ServeDir::new(config.web_dir.join("vendor")))
        .layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
            axum::http::header::CACHE_CONTROL,
            cached_for_a_year,
        ));
    let router = if config.serve_test_pages {
        router.fallback_service(files)
    } else {
        router
            .nest_service("/test", axum::routing::any(not_found))
            .fallback_service(files)
    };
    router.layer(tower_http::set_header::SetResponseHeaderLayer::overriding(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    ))
}

/// `Cache-Control` of a vendored file that was found (a 404 is not cached).
fn cached_for_a_year(response: &Response) -> Option<axum::http::HeaderValue> {
    let status = response.status();
    (status.is_success() || status == StatusCode::NOT_MODIFIED)
        .then(|| axum::http::HeaderValue::from_static("public, max-age=31536000, immutable"))
}

async fn not_found() -> ApiError {
    ApiError::not_found(Code::NotFound, "there is nothing at this address")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        Code::MethodNotAllowed,
        "this address does not accept that method",
    )
}

/// Counts requests by route template and status, and times them, around `inner`.
async fn record_metrics<F: Future<Output = Response>>(
    req: Request,
    inner: impl FnOnce(Request) -> F,
) -> Response {
    let started = Instant::now();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = req.method().clone();
    let response = inner(req).await;
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let (requests, duration) = http_metrics(&method, route, response.status().as_u16());
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
    response
}

/// The request counter and duration histogram of one method, route and status; registered
/// once (the labels are bounded: route templates, not paths), then reused.
fn http_metrics(
    method: &axum::http::Method,
    route: &str,
    status: u16,
) -> (metrics::Counter, metrics::Histogram) {
    type Handles =
        HashMap<(axum::http::Method, u16), HashMap<String, (metrics::Counter, metrics::Histogram)>>;
    static HANDLES: OnceLock<RwLock<Handles>> = OnceLock::new();
    let handles = HANDLES.get_or_init(|| {
        // Handles taken before a recorder exists would count nothing forever.
        crate::metrics::install();
        RwLock::default()
    });
    let key = (method.clone(), status);
    let known = handles
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .get(&key)
        .and_then(|routes| routes.get(route).cloned());
    if let Some(known) = known {
        return known;
    }
    let labels = [
        ("method", method.as_str().to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    let made = (
        metrics::counter!("livesale_http_requests_total", &labels),
        metrics::histogram!("livesale_http_request_duration_seconds", &labels[..2]),
    );
    handles
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default()
        .insert(route.to_string(), made.clone());
    made
}
