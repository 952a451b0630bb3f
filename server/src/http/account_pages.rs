//! The account pages: `/signin` (a sign-in link or a passkey signs the browser in, then it
//! goes to `/dashboard`) and `/admin` (the operator's page). Both are static shells: the
//! token is in the link's fragment, which never reaches the server, and the scripts
//! (web/js/signin.js, web/js/admin.js) speak only the public API. Same hardening headers as
//! every page, `Referrer-Policy: no-referrer` included.

use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::routing::get;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/signin", get(signin))
        .route("/admin", get(admin))
        .layer(axum::middleware::from_fn(super::pages::page_headers))
}

#[derive(Template, WebTemplate)]
#[template(path = "signin.html")]
struct SigninPage;

#[derive(Template, WebTemplate)]
#[template(path = "admin.html")]
struct AdminPage;

async fn signin() -> SigninPage {
    SigninPage
}

async fn admin() -> AdminPage {
    AdminPage
}
