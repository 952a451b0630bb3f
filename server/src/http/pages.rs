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
        .layer(axum::middleware::from_fn(page_headers))
}

/// The Content-Security-Policy of every page: scripts, styles and fonts only from this
/// origin (no inline script or style anywhere in templates/ or web/js), images also from
/// `data:`/`blob:` (QR codes) and any http(s) host (a product's `image_url`), video and sound
/// from `blob:`/`mediastream:` (WHEP and the local camera), network requests only to this
/// origin and its WebSocket twin, and no framing (`frame-ancestors 'none'`, against
/// clickjacking a buy button).
pub fn content_security_policy(host: Option<&str>) -> String {
    let sockets = host
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        })
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; font-src 'self'; \
         img-src 'self' data: blob: https: http:; media-src 'self' blob: mediastream:; \
         connect-src 'self'{sockets}; manifest-src 'self'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'; object-src 'none'"
    )
}

/// Adds the hardening headers of HTML pages: CSP, `nosniff`, no `Referer` (links carry
/// tokens in their fragment, and no page should tell another site where a viewer was) and
/// the older `X-Frame-Options` for browsers without `frame-ancestors`.
async fn page_headers(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use axum::http::{HeaderValue, header};
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(host.as_deref())) {
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
            crate::domain::ShowStatus::Scheduled => None,
        };
        at.unwrap_or(self.show.scheduled_at).to_rfc3339()
    }

    /// The same moment as text for readers without scripts, in UTC.
    fn when_text(&self) -> String {
        let at = match self.show.status {
            crate::domain::ShowStatus::Live => self.show.started_at,
            crate::domain::ShowStatus::Ended => self.show.ended_at,
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

#[derive(Template, WebTemplate)]
#[template(path = "viewer.html")]
struct ViewerPage {
    d: ShowData,
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
    match load_show(&state, &show).await {
        Ok(d) => ViewerPage { d }.into_response(),
        Err(r) => r,
    }
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
