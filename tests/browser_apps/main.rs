//! The browser apps end to end: Debian's headless Chromium (fake camera and microphone) drives
//! the real pages (web/, templates/) against the real server on a real Redis (the private one
//! scripts/test.sh starts). Each scenario is a node script in tests/browser (playwright-core);
//! this crate prepares the show through the public API, runs the script bounded in time and
//! asserts on the one JSON line it prints. Screenshots of every page at phone and desktop sizes
//! land in test-artifacts/ (kept by CI as artifacts).
//!
//! These tests fail, never skip, when Chromium or the node modules are missing: scripts/test.sh
//! installs them (`scripts/test.sh --setup` does only that).

#[path = "../common/mod.rs"]
mod common;

mod a11y;
mod accounts;
mod auction;
mod camera;
mod dashboard;
mod flow;
mod hls;
mod moderate;
mod replay;
mod stripe;
mod studio;
mod tls_camera;
mod units;
mod viewer;

use common::server::{Backend, TestServer, s, test_config};
use livesale::config::Config;
use serde_json::json;
use tokio::sync::{Semaphore, SemaphorePermit};

/// At most two scenarios drive Chromium at once, whatever `--test-threads` says: each runs
/// several browser contexts with WebRTC, and more than two at once on a 2-core machine starve
/// each other's media and timers (ICE consent, countdowns) into failures that say nothing
/// about the pages.
static BROWSERS: Semaphore = Semaphore::const_new(2);

/// A place among the scenarios allowed to run now; held until dropped.
pub async fn browser_slot() -> SemaphorePermit<'static> {
    BROWSERS
        .acquire()
        .await
        .expect("the semaphore is never closed")
}

/// A show as the scenarios find it: a creator with a catalog of three products in the show's
/// lineup (one with a right-to-left title), a moderator invite, and the show `live` or not.
pub struct Fixture {
    pub srv: TestServer,
    pub show: String,
    pub creator: String,
    pub moderator: String,
    /// (product id, title) in lineup order.
    pub products: Vec<(String, String)>,
    /// This scenario's place among those running Chromium now (see [`browser_slot`]).
    _slot: SemaphorePermit<'static>,
}

impl Fixture {
    /// A fresh server on the private Redis with the show prepared; `live` starts it.
    pub async fn new(live: bool) -> Fixture {
        Self::on(Backend::Redis, live).await
    }

    pub async fn on(backend: Backend, live: bool) -> Fixture {
        Self::with_config(test_config(backend), live).await
    }

    /// The same show on a server started with `config` (e.g. with TLS).
    pub async fn with_config(config: Config, live: bool) -> Fixture {
        let slot = browser_slot().await;
        let srv = TestServer::start_with(config).await;
        let (_, creator) = srv.creator("Maya's Ceramics").await;
        let show = srv.show(&creator, "Friday mug drop").await;
        let mut products = Vec::new();
        for (sku, title, cents, stock) in [
            ("MUG-1", "Speckled mug", 1800, 40),
            ("BOWL-1", "קערת קרמיקה", 2400, 10),
            ("VASE-1", "Tall vase", 5200, 5),
        ] {
            let (status, body) = srv
                .post(
                    "/api/products",
                    Some(&creator),
                    json!({
                        "sku": sku, "title": title, "stock": stock,
                        "price": {"amount": cents, "currency": "USD"},
                        "image_url": "/static/img/demo/mug.svg",
                    }),
                )
                .await;
            assert_eq!(status, 201, "product {sku}: {body}");
            let id = s(&body["id"]);
            let (status, body) = srv
                .post(
                    &format!("/api/shows/{show}/lineup"),
                    Some(&creator),
                    json!({ "product_id": id }),
                )
                .await;
            assert_eq!(status, 200, "lineup {sku}: {body}");
            products.push((id, title.to_string()));
        }
        let moderator = srv.invite(&creator, &show, "moderator").await;
        if live {
            let (status, body) = srv
                .post(
                    &format!("/api/shows/{show}/start"),
                    Some(&creator),
                    json!({}),
                )
                .await;
            assert_eq!(status, 200, "start: {body}");
        }
        Fixture {
            _slot: slot,
            srv,
            show,
            creator,
            moderator,
            products,
        }
    }

    /// The arguments every scenario script takes.
    pub fn args(&self) -> Vec<String> {
        let mut a = vec![
            "--base".to_string(),
            self.srv.base.clone(),
            "--show".into(),
            self.show.clone(),
            "--creator-token".into(),
            self.creator.clone(),
            "--moderator-token".into(),
            self.moderator.clone(),
        ];
        for (id, _) in &self.products {
            a.push("--product".into());
            a.push(id.clone());
        }
        a
    }
}
