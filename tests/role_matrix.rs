//! The role matrix: every API route, tried by every kind of caller, answers exactly what the
//! access policy says. Wrong role → 403 `forbidden_role`; right role for another show → 403
//! `wrong_show`; no token on a protected route → 401 `missing_token`; a bad, non-Bearer,
//! expired or foreign-signed token → 401 on every route, public ones included. Allowed callers
//! get a 2xx. A coverage guard ties the table to the server's OpenAPI document, so a route
//! added without a row fails here.

mod common;

use std::collections::BTreeSet;

use common::sdp::MINIMAL_OFFER;
use common::server::{ADMIN, Backend, TestServer, test_config};
use livesale::auth::TokenSigner;
use livesale::domain::Principal;
use serde_json::{Value, json};

/// Who a route is open to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// Public: no token needed (a bad token is still refused).
    Anyone,
    /// The operator's admin token.
    Admin,
    /// The creator who owns the show in the path.
    CreatorOwner,
    /// A moderator of the show in the path (of any show when the route names none).
    Moderator,
    /// A camera of the show in the path (of any show when the route names none).
    Camera,
    /// A viewer of the show in the path (of any show when the route names none).
    Viewer,
    /// Any creator, no show involved.
    AnyCreator,
}

/// Who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    NoToken,
    Garbage,
    NotBearer,
    Expired,
    ForeignSecret,
    Admin,
    Owner,
    OtherCreator,
    Moderator,
    Camera,
    Viewer,
    ForeignModerator,
    ForeignCamera,
    ForeignViewer,
    /// A creator-wide moderator of the owner (`POST /api/me/moderators`): a moderator of every
    /// show of the owner.
    CreatorModerator,
    /// A creator-wide moderator of the other creator.
    OtherCreatorModerator,
}

const CALLERS: [Caller; 16] = [
    Caller::NoToken,
    Caller::Garbage,
    Caller::NotBearer,
    Caller::Expired,
    Caller::ForeignSecret,
    Caller::Admin,
    Caller::Owner,
    Caller::OtherCreator,
    Caller::Moderator,
    Caller::Camera,
    Caller::Viewer,
    Caller::ForeignModerator,
    Caller::ForeignCamera,
    Caller::ForeignViewer,
    Caller::CreatorModerator,
    Caller::OtherCreatorModerator,
];

/// Fresh state an allowed caller needs for a 2xx (a status change only works once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fresh {
    No,
    ScheduledShow,
    LiveShow,
    /// The product is pinned on the main show before the call.
    Pinned,
    /// The calling viewer has one unit in the cart before the call.
    CartReady,
    /// The calling creator has a webhook before the call.
    Webhook,
    /// `{order_id}` is a new paid order of the show's viewer (the built-in test provider pays
    /// at checkout).
    Order,
    /// A new scheduled show whose lineup holds the product.
    LineupShow,
    /// A creator caller calls as a new creator of its own (the route signs it out or renames it).
    NewCreator,
    /// `{auction_id}` is a scheduled lot of a new show whose lineup holds the product.
    ScheduledLot,
    /// `{auction_id}` is an open lot of a new show whose lineup holds the product.
    OpenLot,
}

enum Body {
    Empty,
    Json(Value),
    Csv(String),
    /// A checkout: an empty body with this `Idempotency-Key`.
    Checkout(String),
    /// An SDP offer (`application/sdp`), for WHIP and WHEP.
    Sdp(&'static str),
    /// A bid: this JSON body with this `Idempotency-Key`.
    Bid(String, Value),
}

struct Route {
    method: &'static str,
    /// The template exactly as in the OpenAPI document.
    path: &'static str,
    allowed: &'static [Allowed],
    fresh: Fresh,
    /// A valid request body; `n` is unique per call (for SKUs and names).
    body: fn(&World, u32) -> Body,
    /// What an allowed caller gets: a 2xx, or, for a route whose success needs what the
    /// matrix's server does not have (Stripe), the problem that shows it passed the checks of
    /// who may call it.
    answer: Expect,
    /// What another creator gets where the route hides a show's orders from other creators
    /// (404 rather than 403), if anything else than the policy's 403.
    other_creator: Option<Expect>,
    /// What a caller of a role the route is not open to gets, if anything else than 403
    /// `forbidden_role` (a bid from anyone but a viewer is `bidder_not_allowed`).
    wrong_role: Option<Expect>,
}

impl Route {
    const fn answers(mut self, status: u16, code: &'static str) -> Route {
        self.answer = Expect::Problem(status, code);
        self
    }

    const fn hidden(mut self, status: u16, code: &'static str) -> Route {
        self.other_creator = Some(Expect::Problem(status, code));
        self
    }

    const fn wrong_role(mut self, status: u16, code: &'static str) -> Route {
        self.wrong_role = Some(Expect::Problem(status, code));
        self
    }
}

fn empty(_: &World, _: u32) -> Body {
    Body::Empty
}

use Allowed as A;

/// Every API route. A new route needs a row here (the coverage guard insists).
#[rustfmt::skip]
const ROUTES: &[Route] = &[
    r("POST", "/api/creators", &[A::Admin], Fresh::No, |_, n| Body::Json(json!({ "name": format!("Creator {n}") }))),
    r("GET", "/api/me", &[A::AnyCreator, A::Moderator, A::Camera, A::Viewer], Fresh::No, empty),
    r("POST", "/api/shows", &[A::AnyCreator], Fresh::No, |_, n| Body::Json(json!({ "title": format!("Matrix show {n}") }))),
    r("GET", "/api/shows", &[A::Anyone], Fresh::No, empty),
    r("GET", "/api/shows/{id}", &[A::Anyone], Fresh::No, empty),
    r("POST", "/api/shows/{id}/start", &[A::CreatorOwner], Fresh::ScheduledShow, empty),
    r("POST", "/api/shows/{id}/end", &[A::CreatorOwner], Fresh::LiveShow, empty),
    r("POST", "/api/shows/{id}/lineup", &[A::CreatorOwner], Fresh::No, |w, _| Body::Json(json!({ "product_id": w.product }))),
    r("GET", "/api/shows/{id}/lineup", &[A::Anyone], Fresh::No, empty),
    r("POST", "/api/shows/{id}/invites", &[A::CreatorOwner], Fresh::No, |_, n| {
        let role = if n % 2 == 0 { "moderator" } else { "camera" };
        Body::Json(json!({ "role": role, "label": format!("Invitee {n}") }))
    }),
    r("POST", "/api/shows/{id}/viewers", &[A::Anyone], Fresh::No, |_, n| Body::Json(json!({ "display_name": format!("Guest {n}") }))),
    r("POST", "/api/products", &[A::AnyCreator], Fresh::No, |_, n| Body::Json(json!({
        "sku": format!("RM-{n}"), "title": format!("Matrix product {n}"),
        "price": { "amount": 1500, "currency": "USD" }, "stock": 4,
    }))),
    r("GET", "/api/products", &[A::AnyCreator], Fresh::No, empty),
    r("GET", "/api/products/{id}", &[A::Anyone], Fresh::No, empty),
    r("POST", "/api/products/import", &[A::AnyCreator], Fresh::No, |_, n| Body::Csv(format!(
        "Handle,Title,Variant SKU,Variant Price,Variant Inventory Qty\n\
         rm-import-{n},Imported {n},IMP-{n},9.99,3\n"
    ))),
    r("POST", "/api/shows/{id}/pins", &[A::CreatorOwner, A::Moderator], Fresh::No, |w, _| Body::Json(json!({ "product_id": w.product }))),
    r("GET", "/api/shows/{id}/pins", &[A::Anyone], Fresh::No, empty),
    r("DELETE", "/api/shows/{id}/pins/{product_id}", &[A::CreatorOwner, A::Moderator], Fresh::Pinned, empty),
    r("GET", "/api/shows/{id}/cart", &[A::Viewer], Fresh::No, empty),
    r("PUT", "/api/shows/{id}/cart/items/{product_id}", &[A::Viewer], Fresh::No, |_, _| Body::Json(json!({ "quantity": 1 }))),
    r("DELETE", "/api/shows/{id}/cart/items/{product_id}", &[A::Viewer], Fresh::No, empty),
    r("POST", "/api/shows/{id}/checkout", &[A::Viewer], Fresh::CartReady, |_, n| Body::Checkout(format!("matrix-{n}"))),
    r("GET", "/api/shows/{id}/orders", &[A::CreatorOwner], Fresh::No, empty),
    r("GET", "/api/shows/{id}/orders/mine", &[A::Viewer], Fresh::No, empty),
    r("GET", "/api/shows/{id}/orders/{order_id}", &[A::CreatorOwner, A::Viewer], Fresh::Order, empty).hidden(404, "order_not_found"),
    r("POST", "/api/shows/{id}/orders/{order_id}/pay", &[A::Viewer], Fresh::Order, |_, _| Body::Json(json!({ "payment_method": "pm_matrix" })))
        .answers(409, "order_not_pending"),
    r("POST", "/api/shows/{id}/orders/{order_id}/refund", &[A::CreatorOwner], Fresh::Order, empty).hidden(404, "order_not_found"),
    r("POST", "/api/shows/{id}/cards/setup", &[A::Viewer], Fresh::No, empty).answers(409, "card_payments_off"),
    r("GET", "/api/shows/{id}/cards", &[A::Viewer], Fresh::No, empty),
    r("DELETE", "/api/shows/{id}/cards/{card}", &[A::Viewer], Fresh::No, empty).answers(404, "card_not_found"),
    r("POST", "/api/webhooks/stripe", &[A::Anyone], Fresh::No, |_, _| Body::Json(json!({ "id": "evt_matrix" })))
        .answers(400, "invalid_signature"),
    r("PUT", "/api/webhook", &[A::AnyCreator], Fresh::No, |_, _| Body::Json(json!({ "url": "http://127.0.0.1:9/hook" }))),
    r("GET", "/api/webhook", &[A::AnyCreator], Fresh::Webhook, empty),
    r("DELETE", "/api/webhook", &[A::AnyCreator], Fresh::No, empty),
    r("POST", "/api/shows/{id}/moderation", &[A::CreatorOwner, A::Moderator], Fresh::No, |_, _| Body::Json(json!({ "type": "mod.slow", "seconds": 0 }))),
    r("GET", "/api/shows/{id}/moderation", &[A::CreatorOwner, A::Moderator], Fresh::No, empty),
    r("GET", "/api/shows/{id}/audit", &[A::CreatorOwner, A::Moderator], Fresh::No, empty),
    r("DELETE", "/api/shows/{id}/invites/{invite_id}", &[A::CreatorOwner], Fresh::No, empty),
    r("POST", "/api/shows/{id}/whip", &[A::CreatorOwner, A::Camera], Fresh::No, |_, _| Body::Sdp(MINIMAL_OFFER)),
    r("POST", "/api/shows/{id}/whep", &[A::CreatorOwner, A::Moderator, A::Viewer], Fresh::No, |_, _| Body::Sdp(MINIMAL_OFFER)),
    r("GET", "/api/shows/{id}/cameras", &[A::CreatorOwner, A::Moderator], Fresh::No, empty),
    r("POST", "/api/shows/{id}/program", &[A::CreatorOwner], Fresh::No, |_, _| Body::Json(json!({ "camera": null }))),
    r("GET", "/api/shows/{id}/program", &[A::Anyone], Fresh::No, empty),
    r("POST", "/api/qr", &[A::Anyone], Fresh::No, |_, n| Body::Json(json!({ "text": format!("https://example.com/camera/{n}") }))),
    // Catalog (issue 20).
    r("PATCH", "/api/shows/{id}", &[A::CreatorOwner], Fresh::No, |_, n| Body::Json(json!({ "title": format!("Matrix show {n}"), "cover_url": "https://cdn.example/c.jpg" }))),
    r("POST", "/api/shows/{id}/cancel", &[A::CreatorOwner], Fresh::ScheduledShow, empty),
    r("GET", "/api/me/shows", &[A::AnyCreator], Fresh::No, empty),
    r("PATCH", "/api/products/{id}", &[A::AnyCreator], Fresh::No, |_, n| Body::Json(json!({ "title": format!("Matrix product {n}") })))
        .hidden(403, "not_product_owner"),
    r("DELETE", "/api/shows/{id}/lineup/{product_id}", &[A::CreatorOwner], Fresh::LineupShow, empty),
    // Issue 20: orders and settings (the creator's own; no show in the path).
    r("GET", "/api/me/orders", &[A::AnyCreator], Fresh::No, empty),
    r("GET", "/api/me/orders.csv", &[A::AnyCreator], Fresh::No, empty),
    r("POST", "/api/webhook/test", &[A::AnyCreator], Fresh::Webhook, empty),
    r("GET", "/api/webhook/deliveries", &[A::AnyCreator], Fresh::No, empty),
    r("GET", "/api/me/terms", &[A::AnyCreator], Fresh::No, empty),
    r("PUT", "/api/me/terms", &[A::AnyCreator], Fresh::No, |_, n| Body::Json(json!({ "terms": [format!("matrix{n}")] }))),
    r("POST", "/api/me/moderators", &[A::AnyCreator], Fresh::No, |_, n| Body::Json(json!({ "label": format!("Mod {n}") }))),
    r("GET", "/api/me/moderators", &[A::AnyCreator], Fresh::No, empty),
    r("DELETE", "/api/me/moderators/{moderator_id}", &[A::AnyCreator], Fresh::No, empty),
    // Accounts: `{id}` of /api/creators/… is the owner's creator id; a route that signs its
    // caller out or renames it gets a throwaway creator (Fresh::NewCreator).
    r("GET", "/api/creators", &[A::Admin], Fresh::No, empty),
    r("POST", "/api/creators/{id}/signin-links", &[A::Admin], Fresh::No, empty),
    r("PATCH", "/api/me", &[A::AnyCreator], Fresh::NewCreator, |_, n| Body::Json(json!({ "name": format!("Renamed {n}") }))),
    r("POST", "/api/me/signout", &[A::AnyCreator], Fresh::NewCreator, empty),
    r("POST", "/api/me/passkeys/options", &[A::AnyCreator], Fresh::No, empty),
    r("POST", "/api/me/passkeys", &[A::AnyCreator], Fresh::No, |_, _| Body::Json(json!({ "ceremony": "matrix", "credential": {} })))
        .answers(422, "invalid_ceremony"),
    r("GET", "/api/me/passkeys", &[A::AnyCreator], Fresh::No, empty),
    r("DELETE", "/api/me/passkeys/{id}", &[A::AnyCreator], Fresh::No, empty).answers(404, "passkey_not_found"),
    r("POST", "/api/signin/passkey/options", &[A::Anyone], Fresh::No, empty),
    r("POST", "/api/signin/passkey", &[A::Anyone], Fresh::No, |_, _| Body::Json(json!({ "ceremony": "matrix", "credential": {} })))
        .answers(422, "invalid_ceremony"),
    r("GET", "/api/admin/overview", &[A::Admin], Fresh::No, empty),
    // LL-HLS: open to anyone; a fresh show has no camera, so nothing is packaged yet.
    r("GET", "/api/shows/{id}/hls/live.m3u8", &[A::Anyone], Fresh::ScheduledShow, empty).answers(404, "hls_not_started"),
    r("GET", "/api/shows/{id}/hls/{file}", &[A::Anyone], Fresh::ScheduledShow, empty).answers(404, "hls_not_started"),
    // Replay chapters (issue 17): markers only while live; an unknown chapter is 404.
    r("GET", "/api/shows/{id}/chapters", &[A::Anyone], Fresh::No, empty),
    r("POST", "/api/shows/{id}/chapters", &[A::CreatorOwner], Fresh::LiveShow, |_, n| Body::Json(json!({ "title": format!("Marker {n}") }))),
    r("PATCH", "/api/shows/{id}/chapters/{chapter_id}", &[A::CreatorOwner], Fresh::No, |_, _| Body::Json(json!({ "hidden": true })))
        .answers(404, "chapter_not_found"),
    // Replay: the playlist and its files are open to anyone, the MP4 is the creator's; a
    // scheduled show has no replay yet.
    r("GET", "/api/shows/{id}/replay.m3u8", &[A::Anyone], Fresh::ScheduledShow, empty).answers(404, "replay_not_ready"),
    r("GET", "/api/shows/{id}/replay/{file}", &[A::Anyone], Fresh::ScheduledShow, empty).answers(404, "replay_not_ready"),
    r("GET", "/api/shows/{id}/recording.mp4", &[A::CreatorOwner], Fresh::ScheduledShow, empty).answers(404, "replay_not_ready"),
    // Replay metrics: beacons from anyone (a scheduled show has no replay yet), the stats are
    // the creator's.
    r("POST", "/api/shows/{id}/replay/views", &[A::Anyone], Fresh::ScheduledShow, |_, _| Body::Json(json!({ "view_id": "0190d6a4-5d6e-7c4f-9a7b-1c2d3e4f5a6b", "watched_ms": 1000 })))
        .answers(404, "replay_not_ready"),
    r("GET", "/api/shows/{id}/replay/stats", &[A::CreatorOwner], Fresh::No, empty),
    // Replay events and highlights (issue 17, items 4-5): anyone, once there is a replay.
    r("GET", "/api/shows/{id}/replay/events", &[A::Anyone], Fresh::ScheduledShow, empty).answers(404, "replay_not_ready"),
    r("GET", "/api/shows/{id}/highlights", &[A::Anyone], Fresh::ScheduledShow, empty).answers(404, "replay_not_ready"),
    // Live auctions (issue 18): `{auction_id}` is a scheduled lot of the main show, or a new
    // show's lot where the call changes it. A bid from anyone but a viewer is
    // `bidder_not_allowed`.
    r("POST", "/api/shows/{id}/auctions", &[A::CreatorOwner, A::Moderator], Fresh::No, |w, _| Body::Json(scheduled_lot(&w.product))),
    r("GET", "/api/shows/{id}/auctions", &[A::Anyone], Fresh::No, empty),
    r("GET", "/api/shows/{id}/auctions/{auction_id}", &[A::Anyone], Fresh::No, empty),
    r("POST", "/api/shows/{id}/auctions/{auction_id}/open", &[A::CreatorOwner, A::Moderator], Fresh::ScheduledLot, empty),
    r("POST", "/api/shows/{id}/auctions/{auction_id}/close", &[A::CreatorOwner, A::Moderator], Fresh::OpenLot, empty),
    r("POST", "/api/shows/{id}/auctions/{auction_id}/bids", &[A::Viewer], Fresh::OpenLot, |_, n| Body::Bid(format!("matrix-bid-{n}"), json!({ "max_amount": 5000 })))
        .wrong_role(403, "bidder_not_allowed"),
    r("GET", "/api/shows/{id}/auctions/{auction_id}/log", &[A::CreatorOwner, A::Moderator], Fresh::No, empty),
    // The runner-up takes a lot offered to them: a viewer without an offer learns so.
    r("POST", "/api/shows/{id}/auctions/{auction_id}/offer", &[A::Viewer], Fresh::No, |_, _| Body::Json(json!({})))
        .answers(409, "offer_not_found"),
];

/// A scheduled lot of `product` (USD 10.00, one minute).
fn scheduled_lot(product: &str) -> Value {
    json!({
        "product_id": product,
        "start_price": { "amount": 1000, "currency": "USD" },
        "duration_s": 60,
        "mode": "soft_close",
        "open": false,
    })
}

const fn r(
    method: &'static str,
    path: &'static str,
    allowed: &'static [Allowed],
    fresh: Fresh,
    body: fn(&World, u32) -> Body,
) -> Route {
    Route {
        method,
        path,
        allowed,
        fresh,
        body,
        answer: Expect::Success,
        other_creator: None,
        wrong_role: None,
    }
}

/// The cast: one creator owning two shows, another creator, and tokens of every kind.
struct World {
    server: TestServer,
    owner: String,
    owner_id: String,
    other_creator: String,
    /// The show routes are called on.
    show: String,
    /// A product of the owner.
    product: String,
    /// A scheduled auction lot of the show.
    auction: String,
    moderator: String,
    camera: String,
    viewer: String,
    /// Tokens for another show of the same creator.
    foreign_moderator: String,
    foreign_camera: String,
    foreign_viewer: String,
    creator_moderator: String,
    other_creator_moderator: String,
    expired: String,
    foreign_secret: String,
}

impl World {
    async fn new(backend: Backend) -> World {
        // A domain name in the public URL, so the passkey routes run (an RP id is never an IP).
        let mut config = test_config(backend);
        config.public_url = Some("http://matrix.localhost".into());
        let server = TestServer::start_with(config).await;
        let (owner_id, owner) = server.creator("Owner").await;
        let (_, other_creator) = server.creator("Other").await;
        let show = server.show(&owner, "Matrix show").await;
        let other_show = server.show(&owner, "Another show of the owner").await;
        let product = server.product(&owner, "OWNER-1", 2500, 10).await;
        let lineup = server
            .post(
                &format!("/api/shows/{show}/lineup"),
                Some(&owner),
                json!({ "product_id": product }),
            )
            .await;
        assert_eq!(lineup.0, 200, "lineup: {}", lineup.1);
        let auction = lot(&server, &owner, &show, &product, false).await;
        let moderator = server.invite(&owner, &show, "moderator").await;
        let camera = server.invite(&owner, &show, "camera").await;
        let (_, viewer) = server.viewer(&show, "Vera").await;
        let foreign_moderator = server.invite(&owner, &other_show, "moderator").await;
        let foreign_camera = server.invite(&owner, &other_show, "camera").await;
        let (_, foreign_viewer) = server.viewer(&other_show, "Fred").await;
        let principal: Principal =
            serde_json::from_value(json!({ "role": "creator", "creator_id": owner_id }))
                .expect("a creator principal");
        let expired = server.mint(&principal, 0);
        let foreign_secret =
            TokenSigner::new("other-secret").mint(&principal, chrono::Utc::now(), 3600);
        let team = |creator: String| {
            let server = &server;
            async move {
                let (status, body) = server
                    .post(
                        "/api/me/moderators",
                        Some(&creator),
                        json!({ "label": "Team" }),
                    )
                    .await;
                assert_eq!(status, 201, "a creator-wide moderator: {body}");
                body["token"].as_str().expect("a token").to_string()
            }
        };
        let creator_moderator = team(owner.clone()).await;
        let other_creator_moderator = team(other_creator.clone()).await;
        World {
            server,
            owner,
            owner_id,
            other_creator,
            show,
            product,
            auction,
            moderator,
            camera,
            viewer,
            foreign_moderator,
            foreign_camera,
            foreign_viewer,
            creator_moderator,
            other_creator_moderator,
            expired,
            foreign_secret,
        }
    }

    /// The Authorization header value a caller sends, if any.
    fn authorization(&self, caller: Caller) -> Option<String> {
        let bearer = |t: &str| Some(format!("Bearer {t}"));
        match caller {
            Caller::NoToken => None,
            Caller::Garbage => bearer("abc"),
            Caller::NotBearer => Some("Basic xyz".into()),
            Caller::Expired => bearer(&self.expired),
            Caller::ForeignSecret => bearer(&self.foreign_secret),
            Caller::Admin => bearer(ADMIN),
            Caller::Owner => bearer(&self.owner),
            Caller::OtherCreator => bearer(&self.other_creator),
            Caller::Moderator => bearer(&self.moderator),
            Caller::Camera => bearer(&self.camera),
            Caller::Viewer => bearer(&self.viewer),
            Caller::ForeignModerator => bearer(&self.foreign_moderator),
            Caller::ForeignCamera => bearer(&self.foreign_camera),
            Caller::ForeignViewer => bearer(&self.foreign_viewer),
            Caller::CreatorModerator => bearer(&self.creator_moderator),
            Caller::OtherCreatorModerator => bearer(&self.other_creator_moderator),
        }
    }

    /// A new show of the owner in the wanted state, and the caller's token for it (callers
    /// scoped to one show get a token for the new show, minted through the API).
    async fn fresh_show(&self, fresh: Fresh, caller: Caller) -> (String, Option<String>) {
        let s = &self.server;
        let show = s.show(&self.owner, "Fresh show").await;
        if fresh == Fresh::LiveShow {
            let got = s
                .post(
                    &format!("/api/shows/{show}/start"),
                    Some(&self.owner),
                    json!({}),
                )
                .await;
            assert_eq!(got.0, 200, "starting a fresh show: {}", got.1);
        }
        if fresh == Fresh::LineupShow {
            let got = s
                .post(
                    &format!("/api/shows/{show}/lineup"),
                    Some(&self.owner),
                    json!({ "product_id": self.product }),
                )
                .await;
            assert_eq!(got.0, 200, "a fresh show's lineup: {}", got.1);
        }
        let token = match caller {
            Caller::Moderator => Some(s.invite(&self.owner, &show, "moderator").await),
            Caller::Camera => Some(s.invite(&self.owner, &show, "camera").await),
            Caller::Viewer => Some(s.viewer(&show, "Fresh viewer").await.1),
            _ => None,
        };
        (show, token.map(|t| format!("Bearer {t}")))
    }
}

impl World {
    /// Sets up what an allowed caller needs for a 2xx on the main show.
    async fn prepare(&self, fresh: Fresh, authorization: Option<&str>) {
        let (method, path, body) = match fresh {
            Fresh::Pinned => (
                "POST",
                format!("/api/shows/{}/pins", self.show),
                json!({ "product_id": self.product }),
            ),
            Fresh::CartReady => (
                "PUT",
                format!("/api/shows/{}/cart/items/{}", self.show, self.product),
                json!({ "quantity": 1 }),
            ),
            Fresh::Webhook => (
                "PUT",
                "/api/webhook".to_string(),
                json!({ "url": "http://127.0.0.1:9/hook" }),
            ),
            _ => return,
        };
        let auth = match fresh {
            Fresh::Pinned => Some(format!("Bearer {}", self.owner)),
            _ => authorization.map(str::to_string),
        };
        let got = send(
            &self.server,
            method,
            &path,
            auth.as_deref(),
            Body::Json(body),
        )
        .await;
        assert!(
            (200..300).contains(&got.0),
            "preparing {fresh:?}: {} {}",
            got.0,
            got.2
        );
    }
}

impl World {
    /// A new paid order of the show's viewer (one unit; the built-in provider pays at once).
    async fn paid_order(&self, n: u32) -> String {
        let viewer = format!("Bearer {}", self.viewer);
        self.prepare(Fresh::CartReady, Some(&viewer)).await;
        let got = send(
            &self.server,
            "POST",
            &format!("/api/shows/{}/checkout", self.show),
            Some(&viewer),
            Body::Checkout(format!("matrix-order-{n}")),
        )
        .await;
        assert_eq!(got.0, 201, "a paid order for the matrix: {}", got.2);
        got.2["order"]["id"]
            .as_str()
            .expect("an order id")
            .to_string()
    }
}

impl World {
    /// A new creator-wide moderator of the calling creator; returns its id.
    async fn creator_moderator(&self, authorization: Option<&str>) -> String {
        let got = send(
            &self.server,
            "POST",
            "/api/me/moderators",
            authorization,
            Body::Json(json!({ "label": "Throwaway" })),
        )
        .await;
        assert_eq!(
            got.0, 201,
            "a creator-wide moderator for the matrix: {}",
            got.2
        );
        got.2["id"].as_str().expect("a moderator id").to_string()
    }
}

/// A new lot of `product` in `show` (scheduled, or opened at once); returns its id.
async fn lot(server: &TestServer, owner: &str, show: &str, product: &str, open: bool) -> String {
    let mut body = scheduled_lot(product);
    body["open"] = json!(open);
    let (status, lot) = server
        .post(&format!("/api/shows/{show}/auctions"), Some(owner), body)
        .await;
    assert_eq!(status, 201, "an auction lot for the matrix: {lot}");
    lot["id"].as_str().expect("a lot id").to_string()
}

/// The invite id inside an invitation token (a JWT: the claims are the middle part).
fn invite_id_of(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("base64url claims"),
    )
    .expect("JSON claims");
    claims["invite_id"]
        .as_str()
        .expect("an invite id")
        .to_string()
}

/// What a call must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A 2xx.
    Success,
    /// This status and problem code.
    Problem(u16, &'static str),
}

fn route_names_a_show(route: &Route) -> bool {
    route.path.starts_with("/api/shows/{id}")
}

/// The policy, spelled out independently of the server's code.
fn expected(route: &Route, caller: Caller) -> Expect {
    match (policy(route, caller), route.other_creator) {
        (_, Some(hidden)) if caller == Caller::OtherCreator => hidden,
        (Expect::Success, _) => route.answer,
        // The admin token is refused before any route's own rule.
        (problem @ Expect::Problem(403, "forbidden_role"), _) if caller != Caller::Admin => {
            route.wrong_role.unwrap_or(problem)
        }
        (problem, _) => problem,
    }
}

/// What the access policy says a caller gets on a route.
fn policy(route: &Route, caller: Caller) -> Expect {
    let allows = |a: Allowed| route.allowed.contains(&a);
    let forbidden = Expect::Problem(403, "forbidden_role");
    // A show-scoped role: allowed for its own show, `wrong_show` for another show's route.
    let scoped = |role: Allowed, foreign: bool| {
        if !allows(role) {
            forbidden
        } else if foreign && route_names_a_show(route) {
            Expect::Problem(403, "wrong_show")
        } else {
            Expect::Success
        }
    };
    match caller {
        Caller::Garbage | Caller::NotBearer | Caller::ForeignSecret => {
            Expect::Problem(401, "invalid_token")
        }
        Caller::Expired => Expect::Problem(401, "token_expired"),
        _ if allows(A::Anyone) => Expect::Success,
        Caller::NoToken => Expect::Problem(401, "missing_token"),
        Caller::Admin if allows(A::Admin) => Expect::Success,
        Caller::Admin => forbidden,
        Caller::Owner if allows(A::AnyCreator) || allows(A::CreatorOwner) => Expect::Success,
        Caller::OtherCreator if allows(A::AnyCreator) => Expect::Success,
        Caller::OtherCreator if allows(A::CreatorOwner) => Expect::Problem(403, "wrong_show"),
        Caller::Owner | Caller::OtherCreator => forbidden,
        Caller::Moderator => scoped(A::Moderator, false),
        Caller::Camera => scoped(A::Camera, false),
        Caller::Viewer => scoped(A::Viewer, false),
        Caller::ForeignModerator => scoped(A::Moderator, true),
        Caller::ForeignCamera => scoped(A::Camera, true),
        Caller::ForeignViewer => scoped(A::Viewer, true),
        Caller::CreatorModerator => scoped(A::Moderator, false),
        Caller::OtherCreatorModerator => scoped(A::Moderator, true),
    }
}

fn concrete_path(template: &str, show: &str, product: &str) -> String {
    let path = if template.starts_with("/api/products/") {
        template.replace("{id}", product)
    } else {
        template.replace("{id}", show)
    };
    path.replace("{product_id}", product)
        .replace("{card}", "pm_matrix")
        .replace("{file}", "init-1.mp4")
        .replace("{chapter_id}", "0000000000000-00000000")
}

/// Checks one answer against the expectation; returns a description of any mismatch.
fn check(expect: Expect, status: u16, content_type: &str, body: &Value) -> Option<String> {
    match expect {
        Expect::Success if (200..300).contains(&status) => None,
        Expect::Success => Some(format!("expected a 2xx, got {status} {body}")),
        Expect::Problem(want, code) => {
            let problem_json = content_type.starts_with("application/problem+json");
            let ok =
                status == want && problem_json && body["code"] == code && body["status"] == want;
            (!ok).then(|| {
                format!(
                    "expected {want} {code} problem+json, got {status} {} ({content_type:?}): {body}",
                    body["code"]
                )
            })
        }
    }
}

async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: Body,
) -> (u16, String, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
    let mut req = server.http.request(method, server.url(path));
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req = match body {
        Body::Empty => req,
        Body::Json(v) => req.json(&v),
        Body::Csv(text) => req.header("content-type", "text/csv").body(text),
        Body::Checkout(key) => req.header("idempotency-key", key),
        Body::Sdp(offer) => req.header("content-type", "application/sdp").body(offer),
        Body::Bid(key, v) => req.header("idempotency-key", key).json(&v),
    };
    let resp = req.send().await.expect("request sent");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let (status, body) = TestServer::finish(resp).await;
    (status, content_type, body)
}

async fn run_matrix(backend: Backend) {
    let world = World::new(backend).await;
    let mut failures = Vec::new();
    let mut n = 0u32;
    let mut calls = 0usize;
    for route in ROUTES {
        for caller in CALLERS {
            n += 1;
            let expect = expected(route, caller);
            let allowed = policy(route, caller) == Expect::Success;
            let mut show = world.show.clone();
            let mut authorization = world.authorization(caller);
            let mut order = uuid::Uuid::now_v7().to_string();
            let mut auction = world.auction.clone();
            if allowed {
                match route.fresh {
                    Fresh::No => {}
                    Fresh::ScheduledShow | Fresh::LiveShow | Fresh::LineupShow => {
                        let (fresh, token) = world.fresh_show(route.fresh, caller).await;
                        show = fresh;
                        authorization = token.or(authorization);
                    }
                    Fresh::Pinned | Fresh::CartReady | Fresh::Webhook => {
                        world.prepare(route.fresh, authorization.as_deref()).await;
                    }
                    Fresh::Order => order = world.paid_order(n).await,
                    Fresh::ScheduledLot | Fresh::OpenLot => {
                        let (fresh, token) = world.fresh_show(Fresh::LineupShow, caller).await;
                        let open = route.fresh == Fresh::OpenLot;
                        let s = &world.server;
                        auction = lot(s, &world.owner, &fresh, &world.product, open).await;
                        show = fresh;
                        authorization = token.or(authorization);
                    }
                    Fresh::NewCreator => {
                        let (_, token) = world.server.creator(&format!("Fresh {n}")).await;
                        authorization = Some(format!("Bearer {token}"));
                    }
                }
            }
            let path =
                concrete_path(route.path, &show, &world.product).replace("{order_id}", &order);
            let mut path = path.replace("{auction_id}", &auction);
            if route.path.starts_with("/api/creators/{id}") {
                path = route.path.replace("{id}", &world.owner_id);
            }
            if path.contains("{invite_id}") {
                // Revoking needs a throwaway invitation of the show (never one the matrix uses).
                let invite = if expect == Expect::Success {
                    let token = world.server.invite(&world.owner, &show, "camera").await;
                    invite_id_of(&token)
                } else {
                    uuid::Uuid::now_v7().to_string()
                };
                path = path.replace("{invite_id}", &invite);
            }
            if path.contains("{moderator_id}") {
                // Removing needs a throwaway creator-wide moderator of the calling creator.
                let id = if expect == Expect::Success {
                    world.creator_moderator(authorization.as_deref()).await
                } else {
                    uuid::Uuid::now_v7().to_string()
                };
                path = path.replace("{moderator_id}", &id);
            }
            let body = (route.body)(&world, n);
            let got = send(
                &world.server,
                route.method,
                &path,
                authorization.as_deref(),
                body,
            )
            .await;
            calls += 1;
            if let Some(why) = check(expect, got.0, &got.1, &got.2) {
                failures.push(format!(
                    "{} {} as {caller:?}: {why}",
                    route.method, route.path
                ));
            }
        }
    }
    assert!(calls >= ROUTES.len() * CALLERS.len());

    // The show the disallowed callers tried to start and end is untouched.
    let (status, show) = world
        .server
        .get(&format!("/api/shows/{}", world.show), None)
        .await;
    if status != 200 || show["status"] != "scheduled" {
        failures.push(format!("the matrix show changed state: {status} {show}"));
    }

    // Operational routes are public, yet a presented token is verified there too.
    for path in ["/healthz", "/readyz", "/metrics", "/api/openapi.json"] {
        for caller in [
            Caller::NoToken,
            Caller::Owner,
            Caller::Viewer,
            Caller::Admin,
        ] {
            let auth = world.authorization(caller);
            let got = send(&world.server, "GET", path, auth.as_deref(), Body::Empty).await;
            if got.0 != 200 {
                failures.push(format!(
                    "GET {path} as {caller:?}: expected 200, got {}",
                    got.0
                ));
            }
        }
        for caller in [
            Caller::Garbage,
            Caller::NotBearer,
            Caller::Expired,
            Caller::ForeignSecret,
        ] {
            let expect = if caller == Caller::Expired {
                Expect::Problem(401, "token_expired")
            } else {
                Expect::Problem(401, "invalid_token")
            };
            let auth = world.authorization(caller);
            let got = send(&world.server, "GET", path, auth.as_deref(), Body::Empty).await;
            if let Some(why) = check(expect, got.0, &got.1, &got.2) {
                failures.push(format!("GET {path} as {caller:?}: {why}"));
            }
        }
    }

    assert!(
        failures.is_empty(),
        "{} of {calls} role-matrix calls on {backend:?} answered wrongly:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every (method, path) of the OpenAPI document has a matrix row, and every row is a route.
async fn coverage_guard(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (status, doc) = server.get("/api/openapi.json", None).await;
    assert_eq!(status, 200, "openapi.json: {doc}");
    let paths = doc["paths"]
        .as_object()
        .expect("the OpenAPI document has paths");
    let methods = [
        "get", "put", "post", "delete", "patch", "head", "options", "trace",
    ];
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(path, item)| {
            let item = item.as_object().cloned().unwrap_or_default();
            methods
                .iter()
                .filter(move |m| item.contains_key(**m))
                .map(move |m| (m.to_uppercase(), path.clone()))
        })
        .collect();
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(table.len(), ROUTES.len(), "the matrix lists a route twice");
    assert!(
        !documented.is_empty(),
        "the OpenAPI document lists no operations"
    );
    let missing: Vec<_> = documented.difference(&table).collect();
    let stale: Vec<_> = table.difference(&documented).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "the role matrix and /api/openapi.json disagree.\n\
         routes with no matrix row (add one to ROUTES): {missing:?}\n\
         matrix rows the server does not document: {stale:?}"
    );
}

#[test]
fn the_expectations_follow_the_policy() {
    // A few hand-checked cells, so a mistake in `expected` cannot hide a server bug.
    let row = |p: &str, m: &str| {
        ROUTES
            .iter()
            .find(|r| r.path == p && r.method == m)
            .unwrap()
    };
    let start = row("/api/shows/{id}/start", "POST");
    assert_eq!(
        expected(start, Caller::OtherCreator),
        Expect::Problem(403, "wrong_show")
    );
    assert_eq!(
        expected(start, Caller::ForeignModerator),
        Expect::Problem(403, "forbidden_role")
    );
    assert_eq!(
        expected(start, Caller::NoToken),
        Expect::Problem(401, "missing_token")
    );
    assert_eq!(expected(start, Caller::Owner), Expect::Success);
    let creators = row("/api/creators", "POST");
    assert_eq!(expected(creators, Caller::Admin), Expect::Success);
    assert_eq!(
        expected(creators, Caller::Owner),
        Expect::Problem(403, "forbidden_role")
    );
    let shows = row("/api/shows", "GET");
    assert_eq!(expected(shows, Caller::NoToken), Expect::Success);
    assert_eq!(
        expected(shows, Caller::Expired),
        Expect::Problem(401, "token_expired")
    );
    let bids = row("/api/shows/{id}/auctions/{auction_id}/bids", "POST");
    assert_eq!(
        expected(bids, Caller::Owner),
        Expect::Problem(403, "bidder_not_allowed")
    );
    assert_eq!(
        expected(bids, Caller::ForeignViewer),
        Expect::Problem(403, "wrong_show")
    );
    let me = row("/api/me", "GET");
    assert_eq!(expected(me, Caller::ForeignViewer), Expect::Success);
    assert_eq!(
        expected(me, Caller::Admin),
        Expect::Problem(403, "forbidden_role")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix_memory() {
    coverage_guard(Backend::Memory).await;
    run_matrix(Backend::Memory).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_matrix_redis() {
    coverage_guard(Backend::Redis).await;
    run_matrix(Backend::Redis).await;
}
