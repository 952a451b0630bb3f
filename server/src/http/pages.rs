//! Server-rendered pages (askama). Templates escape every value, so user text is always text.
//! The interactive behaviour lives in web/ and speaks only the public API.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::domain::{Principal, Product, Show, ShowId};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/s/{show}", get(viewer))
        .route("/studio/{show}", get(studio))
        .route("/moderate/{show}", get(moderate))
        .route("/camera/{token}", get(camera))
        .route("/dashboard", get(dashboard))
        .layer(axum::middleware::from_fn(page_headers))
}

/// The Content-Security-Policy of every page: scripts, styles and fonts only from this
/// origin (no inline script or style anywhere in templates/ or web/js), images also from
/// `data:`/`blob:` (QR codes) and any http(s) host (a product's `image_url`), video and sound
/// from `blob:`/`mediastream:` (WHEP and the local camera), network requests only to this
/// origin and its WebSocket twin, and no framing (`frame-ancestors 'none'`, against
/// clickjacking a buy button). A page that pays with Stripe.js (`stripe`) also allows
/// Stripe.js's script, its frames and its API origin, and nothing more.
pub fn content_security_policy(host: Option<&str>, stripe: Option<&StripeOrigins>) -> String {
    let sockets = host
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    let (script, frames, api) = match stripe {
        Some(o) => (
            format!(" {}", o.script),
            format!("frame-src {}; ", o.frames.join(" ")),
            format!(" {}", o.api),
        ),
        None => Default::default(),
    };
    format!(
        "default-src 'none'; script-src 'self'{script}; style-src 'self'; font-src 'self'; \
         img-src 'self' data: blob: https: http:; media-src 'self' blob: mediastream:; \
         connect-src 'self'{sockets}{api}; {frames}manifest-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )
}

/// What a page paying with Stripe.js must reach besides this origin: the script's origin,
/// the origins of Stripe.js's frames, and the API origin Stripe.js calls from the browser.
/// A page that needs them puts them in its response's extensions; [`page_headers`] reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeOrigins {
    script: String,
    frames: Vec<String>,
    api: String,
}

/// Real Stripe.js's origin; its frames also come from `hooks.stripe.com` (3-D Secure) and it
/// calls `api.stripe.com` (Stripe's "Content Security Policy" documentation).
const STRIPE_JS_ORIGIN: &str = "https://js.stripe.com";

impl StripeOrigins {
    /// The origins for Stripe.js loaded from `js_url` (`--stripe-js-url`): real Stripe's
    /// three, or for a stand-in (localstripe) its own origin for all of them. `None` for a URL
    /// that is not http(s) with a host.
    pub fn for_js_url(js_url: &str) -> Option<StripeOrigins> {
        let url = url::Url::parse(js_url).ok()?;
        if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
            return None;
        }
        let origin = url.origin().ascii_serialization();
        if origin == STRIPE_JS_ORIGIN {
            return Some(StripeOrigins {
                script: origin.clone(),
                frames: vec![origin, "https://hooks.stripe.com".into()],
                api: "https://api.stripe.com".into(),
            });
        }
        Some(StripeOrigins {
            script: origin.clone(),
            frames: vec![origin.clone()],
            api: origin,
        })
    }
}

/// Adds the hardening headers of HTML pages: CSP, `nosniff`, no `Referer` (links carry
/// tokens in their fragment, and no page should tell another site where a viewer was) and
/// the older `X-Frame-Options` for browsers without `frame-ancestors`.
pub(super) async fn page_headers(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::{HeaderValue, header};
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let stripe = response.extensions_mut().remove::<StripeOrigins>();
    let headers = response.headers_mut();
    let csp = content_security_policy(host.as_deref(), stripe.as_ref());
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
struct IndexPage {
    /// Live now, longest running first.
    live: Vec<ShowCard>,
    /// Scheduled, soonest first.
    upcoming: Vec<ShowCard>,
    /// Recently ended, most recent first (at most [`RECENT_ENDED`]).
    ended: Vec<ShowCard>,
}

/// How many ended shows the home page lists.
const RECENT_ENDED: usize = 6;
/// How many scheduled shows the home page lists.
const MAX_UPCOMING: usize = 48;

/// One show on the home page, with what its card shows besides the show itself.
struct ShowCard {
    show: Show,
    /// The creator's name ("by Maya's Ceramics"), when known.
    host: Option<String>,
    /// Products in the lineup.
    items: usize,
    /// The first lineup product's image, when it is one of this server's own files.
    image: Option<String>,
}

impl ShowCard {
    /// The moment the card's time stands for, as RFC 3339 (the page's script localises it).
    fn when(&self) -> String {
        let at = match self.show.status {
            crate::domain::ShowStatus::Live => self.show.started_at,
            crate::domain::ShowStatus::Ended => self.show.ended_at,
            crate::domain::ShowStatus::Cancelled => self.show.cancelled_at,
            crate::domain::ShowStatus::Scheduled => None,
        };
        at.unwrap_or(self.show.scheduled_at).to_rfc3339()
    }

    /// The same moment as text for readers without scripts, in UTC.
    fn when_text(&self) -> String {
        let at = match self.show.status {
            crate::domain::ShowStatus::Live => self.show.started_at,
            crate::domain::ShowStatus::Ended => self.show.ended_at,
            crate::domain::ShowStatus::Cancelled => self.show.cancelled_at,
            crate::domain::ShowStatus::Scheduled => None,
        };
        at.unwrap_or(self.show.scheduled_at)
            .format("%a %-d %b %Y, %H:%M UTC")
            .to_string()
    }

    /// The first letter of the title, for the card's placeholder picture.
    fn initial(&self) -> String {
        self.show
            .title
            .chars()
            .find(|c| c.is_alphanumeric())
            .map(|c| c.to_uppercase().collect())
            .unwrap_or_else(|| "★".into())
    }

    /// A colour (0–5) for the placeholder picture, stable for a show.
    fn hue(&self) -> usize {
        self.show
            .id
            .to_string()
            .bytes()
            .map(usize::from)
            .sum::<usize>()
            % 6
    }
}

/// A page about one show. The behaviour lives in web/js/<page>.js; the template renders what
/// a page needs before its script runs (and what a text-only browser shows).
struct ShowData {
    show: Show,
    lineup: Vec<Product>,
}

impl ShowData {
    /// A price as text, e.g. "19.99 USD" (scripts re-render it in the reader's locale).
    fn price(&self, p: &Product) -> String {
        money_text(&p.price)
    }
}

fn money_text(m: &crate::domain::Money) -> String {
    let exp = u32::from(m.currency.exponent());
    if exp == 0 {
        return format!("{} {}", m.amount, m.currency.as_str());
    }
    let div = 10i64.pow(exp);
    let sign = if m.amount < 0 { "-" } else { "" };
    let a = m.amount.abs();
    format!(
        "{sign}{}.{:0width$} {}",
        a / div,
        a % div,
        m.currency.as_str(),
        width = exp as usize
    )
}

/// The version of hls.js vendored in web/vendor/hls/ (scripts/vendor-hls.sh writes it).
const HLS_JS_VERSION: &str = include_str!("../../../web/vendor/hls/VERSION");

#[derive(Template, WebTemplate)]
#[template(path = "viewer.html")]
struct ViewerPage {
    d: ShowData,
    /// `--viewer-playback`: `auto`, `webrtc` or `hls`.
    playback: &'static str,
    /// The vendored hls.js's version: the page asks for `/static/vendor/hls/hls.mjs?v=…`, so
    /// the long cache of /static/vendor/ never serves another copy.
    hls_version: &'static str,
    /// `--payments`: `approve`, `decline`, `hang` (the built-in test provider) or `stripe`.
    payments: &'static str,
    /// With `stripe`: what the page gives Stripe.js.
    stripe: Option<StripePage>,
}

/// The Stripe settings a page sees: the publishable key and where Stripe.js is. Never a secret.
struct StripePage {
    publishable_key: String,
    js_url: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "studio.html")]
struct StudioPage {
    d: ShowData,
}

#[derive(Template, WebTemplate)]
#[template(path = "moderate.html")]
struct ModeratePage {
    d: ShowData,
}

#[derive(Template, WebTemplate)]
#[template(path = "camera.html")]
struct CameraPage {
    show: Show,
    label: Option<String>,
}

/// The creator's dashboard: only the page's frame. Its script reads and changes everything
/// through the API with the creator token the browser keeps, so the server renders nothing
/// about the creator here (the token never reaches a page request).
#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
struct DashboardPage;

#[derive(Template, WebTemplate)]
#[template(path = "error.html")]
struct ErrorPage {
    heading: &'static str,
    detail: String,
}

fn error_page(status: StatusCode, heading: &'static str, detail: impl Into<String>) -> Response {
    let page = ErrorPage {
        heading,
        detail: detail.into(),
    };
    (status, page).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::warn!(cause = %e, "page could not load its data");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Temporarily unavailable",
        "We could not load this page. Please try again in a moment.",
    )
}

async fn index(State(state): State<AppState>) -> Response {
    let shows = match state.store.shows().await {
        Ok(shows) => shows,
        Err(e) => return unavailable(e),
    };
    use crate::domain::ShowStatus;
    let mut live: Vec<Show> = Vec::new();
    let mut upcoming: Vec<Show> = Vec::new();
    let mut ended: Vec<Show> = Vec::new();
    for show in shows {
        match show.status {
            ShowStatus::Live => live.push(show),
            ShowStatus::Scheduled => upcoming.push(show),
            ShowStatus::Ended => ended.push(show),
            // Called off: the home page lists only what can still be or was watched.
            ShowStatus::Cancelled => {}
        }
    }
    live.sort_by_key(|s| (s.started_at.unwrap_or(s.scheduled_at), s.id.to_string()));
    upcoming.sort_by_key(|s| (s.scheduled_at, s.id.to_string()));
    upcoming.truncate(MAX_UPCOMING);
    ended.sort_by_key(|s| std::cmp::Reverse(s.ended_at.unwrap_or(s.scheduled_at)));
    ended.truncate(RECENT_ENDED);
    let mut hosts = std::collections::HashMap::new();
    let mut lists = Vec::with_capacity(3);
    for list in [live, upcoming, ended] {
        let mut cards = Vec::with_capacity(list.len());
        for show in list {
            match show_card(&state, &mut hosts, show).await {
                Ok(card) => cards.push(card),
                Err(e) => return unavailable(e),
            }
        }
        lists.push(cards);
    }
    let ended = lists.pop().unwrap_or_default();
    let upcoming = lists.pop().unwrap_or_default();
    let live = lists.pop().unwrap_or_default();
    IndexPage {
        live,
        upcoming,
        ended,
    }
    .into_response()
}

async fn show_card(
    state: &AppState,
    hosts: &mut std::collections::HashMap<crate::domain::CreatorId, Option<String>>,
    show: Show,
) -> Result<ShowCard, crate::store::StoreError> {
    let host = match hosts.get(&show.creator_id) {
        Some(h) => h.clone(),
        None => {
            let h = state.store.creator(show.creator_id).await?.map(|c| c.name);
            hosts.insert(show.creator_id, h.clone());
            h
        }
    };
    let lineup = state.store.lineup(&show).await?;
    let mut image = None;
    if let Some(first) = lineup.first()
        && let Some(p) = state.store.product(*first).await?
    {
        // Only the server's own pictures: the home page loads nothing from elsewhere.
        image = p
            .image_url
            .filter(|u| u.starts_with('/') && !u.starts_with("//"));
    }
    Ok(ShowCard {
        items: lineup.len(),
        show,
        host,
        image,
    })
}

async fn load_show(state: &AppState, raw: &str) -> Result<ShowData, Response> {
    let not_found = || {
        error_page(
            StatusCode::NOT_FOUND,
            "Show not found",
            "There is no show at this address.",
        )
    };
    let id: ShowId = raw.parse().map_err(|_| not_found())?;
    let show = state
        .store
        .show(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(not_found)?;
    let mut lineup = Vec::new();
    for pid in state.store.lineup(&show).await.map_err(unavailable)? {
        if let Some(p) = state.store.product(pid).await.map_err(unavailable)? {
            lineup.push(p);
        }
    }
    Ok(ShowData { show, lineup })
}

async fn viewer(State(state): State<AppState>, Path(show): Path<String>) -> Response {
    use crate::config::PaymentsMode;
    let d = match load_show(&state, &show).await {
        Ok(d) => d,
        Err(r) => return r,
    };
    let payments = match state.config.payments {
        PaymentsMode::Approve => "approve",
        PaymentsMode::Decline => "decline",
        PaymentsMode::Hang => "hang",
        PaymentsMode::Stripe => "stripe",
    };
    // The settings were checked at start; a server without them never gets here with stripe.
    let stripe = state.config.stripe().ok().flatten().map(|s| StripePage {
        publishable_key: s.publishable_key,
        js_url: s.js_url,
    });
    let origins = stripe
        .as_ref()
        .and_then(|s| StripeOrigins::for_js_url(&s.js_url));
    let mut response = ViewerPage {
        d,
        playback: state.config.viewer_playback.as_str(),
        hls_version: HLS_JS_VERSION.trim(),
        payments,
        stripe,
    }
    .into_response();
    if let Some(origins) = origins {
        response.extensions_mut().insert(origins);
    }
    response
}

async fn studio(State(state): State<AppState>, Path(show): Path<String>) -> Response {
    match load_show(&state, &show).await {
        Ok(d) => StudioPage { d }.into_response(),
        Err(r) => r,
    }
}

async fn moderate(State(state): State<AppState>, Path(show): Path<String>) -> Response {
    match load_show(&state, &show).await {
        Ok(d) => ModeratePage { d }.into_response(),
        Err(r) => r,
    }
}

async fn dashboard() -> Response {
    DashboardPage.into_response()
}

async fn camera(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let invalid =
        |detail: &str| error_page(StatusCode::UNAUTHORIZED, "Camera link not valid", detail);
    let (show_id, label) = match state.signer.verify(&token, state.now()) {
        Ok(Principal::Camera { show_id, label, .. }) => (show_id, label),
        Ok(_) => return invalid("This link is not a camera invitation."),
        Err(e) => {
            return invalid(&format!(
                "{}. Ask the creator for a new camera link.",
                e.message
            ));
        }
    };
    match load_show(&state, &show_id.to_string()).await {
        Ok(d) => CameraPage {
            show: d.show,
            label,
        }
        .into_response(),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The policy's directives by name.
    fn directives(csp: &str) -> std::collections::BTreeMap<String, String> {
        csp.split(';')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| {
                let (name, value) = d.split_once(' ').unwrap_or((d, ""));
                (name.to_string(), value.to_string())
            })
            .collect()
    }

    #[test]
    fn without_stripe_the_policy_is_this_origin_only() {
        let csp = content_security_policy(Some("shop.example:8080"), None);
        assert_eq!(
            csp,
            "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; \
             img-src 'self' data: blob: https: http:; media-src 'self' blob: mediastream:; \
             connect-src 'self' ws://shop.example:8080 wss://shop.example:8080; \
             manifest-src 'self'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'; object-src 'none'"
        );
        assert!(!directives(&csp).contains_key("frame-src"));
    }

    #[test]
    fn real_stripe_adds_its_script_frames_and_api_and_nothing_else() {
        let stripe = StripeOrigins::for_js_url("https://js.stripe.com/v3/").expect("origins");
        let with = directives(&content_security_policy(Some("h"), Some(&stripe)));
        let without = directives(&content_security_policy(Some("h"), None));
        assert_eq!(with["script-src"], "'self' https://js.stripe.com");
        assert_eq!(
            with["frame-src"],
            "https://js.stripe.com https://hooks.stripe.com"
        );
        assert_eq!(
            with["connect-src"],
            "'self' ws://h wss://h https://api.stripe.com"
        );
        for (name, value) in &without {
            if !["script-src", "connect-src"].contains(&name.as_str()) {
                assert_eq!(&with[name], value, "{name} changed");
            }
        }
        assert_eq!(with.len(), without.len() + 1, "only frame-src is new");
        assert_eq!(with["frame-ancestors"], "'none'");
    }

    #[test]
    fn a_stand_in_is_allowed_at_its_own_origin_for_everything() {
        let stripe =
            StripeOrigins::for_js_url("http://127.0.0.1:41234/js.stripe.com/v3/").expect("origins");
        let csp = directives(&content_security_policy(None, Some(&stripe)));
        assert_eq!(csp["script-src"], "'self' http://127.0.0.1:41234");
        assert_eq!(csp["frame-src"], "http://127.0.0.1:41234");
        assert_eq!(csp["connect-src"], "'self' http://127.0.0.1:41234");
    }

    #[test]
    fn a_js_url_that_is_no_web_address_adds_nothing() {
        for bad in [
            "",
            "js.stripe.com/v3/",
            "javascript:alert(1)",
            "data:text/js,1",
            "file:///x.js",
        ] {
            assert_eq!(StripeOrigins::for_js_url(bad), None, "{bad}");
        }
        // Whatever the URL's path or query holds, only its origin reaches the policy.
        let o = StripeOrigins::for_js_url("https://cdn.example/v3/?a=b;script-src *").expect("ok");
        let csp = content_security_policy(None, Some(&o));
        assert!(!csp.contains('*'), "{csp}");
        assert_eq!(directives(&csp)["script-src"], "'self' https://cdn.example");
    }
}
