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
}

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
struct IndexPage {
    shows: Vec<Show>,
}

#[derive(Template, WebTemplate)]
#[template(path = "show.html")]
struct ShowPage {
    page: &'static str,
    show: Show,
    lineup: Vec<Product>,
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
    match state.store.shows().await {
        Ok(mut shows) => {
            // Live first, then upcoming, then past.
            shows.sort_by_key(|s| (s.status as u8 != 1, s.status as u8, s.scheduled_at));
            IndexPage { shows }.into_response()
        }
        Err(e) => unavailable(e),
    }
}

async fn load_show(state: &AppState, raw: &str) -> Result<(Show, Vec<Product>), Response> {
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
    Ok((show, lineup))
}

async fn show_page(state: AppState, raw: String, page: &'static str) -> Response {
    match load_show(&state, &raw).await {
        Ok((show, lineup)) => ShowPage { page, show, lineup }.into_response(),
        Err(r) => r,
    }
}

async fn viewer(State(state): State<AppState>, Path(show): Path<String>) -> Response {
    show_page(state, show, "viewer").await
}

async fn studio(State(state): State<AppState>, Path(show): Path<String>) -> Response {
    show_page(state, show, "studio").await
}

async fn moderate(State(state): State<AppState>, Path(show): Path<String>) -> Response {
    show_page(state, show, "moderate").await
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
        Ok((show, _)) => CameraPage { show, label }.into_response(),
        Err(r) => r,
    }
}
