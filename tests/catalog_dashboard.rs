//! The catalog routes of the creator's dashboard over real HTTP, on both stores: editing,
//! cancelling and listing one's own shows (`when=`), searching and editing products (a stock
//! set racing checkouts loses or doubles nothing), taking products out of a lineup, the
//! import's dry run (the same classification, nothing written) and its ndjson progress
//! stream (parsed line by line; a client that leaves mid-stream leaves no half-applied row).
//! Who may call each route is in tests/role_matrix.rs; here another creator's show or
//! product is refused too. On Redis, shows stored before the per-creator show set existed are
//! still listed.

mod common;

use std::time::{Duration, Instant};

use common::server::{Backend, TestServer, assert_problem, s, test_config};
use common::ws::{WAIT, WsClient};
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

on_both_stores!(
    a_scheduled_show_is_edited_and_nothing_else_is,
    a_cancelled_show_is_final_and_says_so,
    my_shows_are_listed_by_when_they_happen,
    products_are_searched_and_edited_by_their_owner_only,
    a_stock_set_racing_checkouts_loses_nothing,
    a_pinned_product_stays_in_the_lineup,
    an_edit_of_a_pinned_product_reaches_the_room,
    a_dry_run_writes_nothing_and_predicts_the_import,
    the_import_streams_its_progress_as_ndjson,
    a_client_that_leaves_mid_stream_leaves_whole_rows,
);

// ---- Helpers ---------------------------------------------------------------------------

/// Any request with JSON (or no) body; returns status and parsed body.
async fn call(
    srv: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = srv.http.request(method, srv.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    TestServer::finish(req.send().await.expect("request sent")).await
}

/// Puts `product` in the show's lineup (`what` "lineup") or pins it (`what` "pins") as `token`,
/// and expects a 200.
async fn put(srv: &TestServer, token: &str, show: &str, what: &str, product: &str) {
    let got = srv
        .post(
            &format!("/api/shows/{show}/{what}"),
            Some(token),
            json!({ "product_id": product }),
        )
        .await;
    assert_eq!(got.0, 200, "{what}: {}", got.1);
}

/// PATCHes `path` with each body as `token`, expects 422 with its code, and that `path` still
/// reads as `before`.
async fn refused_and_unchanged(
    srv: &TestServer,
    path: &str,
    token: &str,
    cases: &[(Value, &str)],
    before: &Value,
) {
    for (body, code) in cases {
        let got = patch(srv, path, Some(token), body.clone()).await;
        assert_problem(&got, 422, code);
        assert_eq!(
            &srv.get(path, None).await.1,
            before,
            "unchanged after {body}"
        );
    }
}

async fn patch(srv: &TestServer, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
    call(srv, Method::PATCH, path, token, Some(body)).await
}

/// Creates a show with `body` (its title and more); returns the show JSON.
async fn new_show(srv: &TestServer, creator: &str, body: Value) -> Value {
    let got = srv.post("/api/shows", Some(creator), body).await;
    assert_eq!(got.0, 201, "create a show: {}", got.1);
    got.1
}

async fn post_empty(srv: &TestServer, path: &str, token: &str) -> (u16, Value) {
    call(srv, Method::POST, path, Some(token), None).await
}

/// POSTs a CSV to the import with `query`, optionally asking for the ndjson stream.
async fn import(
    srv: &TestServer,
    token: &str,
    query: &str,
    csv: String,
    ndjson: bool,
) -> reqwest::Response {
    let mut req = srv
        .http
        .post(srv.url(&format!("/api/products/import{query}")))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(csv);
    if ndjson {
        req = req.header("accept", "application/x-ndjson");
    }
    req.send().await.expect("import sent")
}

/// A Shopify export of `n` products `P-0…` with `stock` units each.
fn export_of(n: usize, stock: i64) -> String {
    let mut csv = String::from("Handle,Title,Variant SKU,Variant Price,Variant Inventory Qty\n");
    for i in 0..n {
        csv.push_str(&format!(
            "p-{i},Product {i},P-{i},{}.50,{stock}\n",
            1 + i % 50
        ));
    }
    csv
}

/// Every product of the creator's catalog, through the paged listing.
async fn catalog(srv: &TestServer, token: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/products?limit=200{query}&cursor={c}"),
            None => format!("/api/products?limit=200{query}"),
        };
        let (status, page) = srv.get(&path, Some(token)).await;
        assert_eq!(status, 200, "catalog page: {page}");
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return items,
        }
    }
}

/// (line, sku) of each row of a report's list.
fn rows(list: &Value) -> Vec<(u64, String)> {
    list.as_array()
        .expect("a list of rows")
        .iter()
        .map(|r| (r["line"].as_u64().expect("a line"), s(&r["sku"])))
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|v| s(&v["id"]))
        .collect()
}

// ---- Shows -------------------------------------------------------------------------------

async fn a_scheduled_show_is_edited_and_nothing_else_is(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, maker) = srv.creator("Maker").await;
    let (_, other) = srv.creator("Other").await;
    let show = new_show(
        &srv,
        &maker,
        json!({ "title": "Friday drop", "cover_url": " https://cdn.example/friday.jpg " }),
    )
    .await;
    assert_eq!(show["cover_url"], "https://cdn.example/friday.jpg");
    assert_eq!(show["status"], "scheduled");
    let bad_cover = srv
        .post(
            "/api/shows",
            Some(&maker),
            json!({ "title": "X", "cover_url": "javascript:alert(1)" }),
        )
        .await;
    assert_problem(&bad_cover, 422, "invalid_cover_url");
    let id = s(&show["id"]);
    let path = format!("/api/shows/{id}");

    let edited = patch(
        &srv,
        &path,
        Some(&maker),
        json!({
            "title": " Sunday drop ",
            "description": "Mugs and cups",
            "scheduled_at": "2031-05-04T18:30:00+02:00",
            "cover_url": "https://cdn.example/sunday.jpg",
        }),
    )
    .await;
    assert_eq!(edited.0, 200, "edit: {}", edited.1);
    let e = &edited.1;
    assert_eq!(
        (&e["title"], &e["description"], &e["cover_url"]),
        (
            &json!("Sunday drop"),
            &json!("Mugs and cups"),
            &json!("https://cdn.example/sunday.jpg")
        )
    );
    let at = chrono::DateTime::parse_from_rfc3339(&s(&e["scheduled_at"])).expect("RFC 3339");
    assert_eq!(
        at.to_rfc3339(),
        "2031-05-04T16:30:00+00:00",
        "the offset is kept"
    );
    assert_eq!(srv.get(&path, None).await.1, edited.1, "what GET answers");

    // Null clears what a show may lack; the title and start time stay.
    let cleared = patch(
        &srv,
        &path,
        Some(&maker),
        json!({ "description": null, "cover_url": null }),
    )
    .await;
    assert_eq!(cleared.0, 200, "clear: {}", cleared.1);
    assert_eq!(
        (&cleared.1["description"], &cleared.1["cover_url"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(cleared.1["title"], "Sunday drop");

    // Bad input: 422 with its code, and the show as it was.
    let cases = [
        (json!({ "title": null }), "invalid_title"),
        (json!({ "title": "  " }), "invalid_title"),
        (json!({ "scheduled_at": null }), "invalid_scheduled_at"),
        (
            json!({ "scheduled_at": "2031-05-04T18:30:00" }),
            "invalid_body",
        ),
        (
            json!({ "cover_url": "ftp://cdn.example/a.jpg" }),
            "invalid_cover_url",
        ),
        (
            json!({ "cover_url": "https://cdn.example/a b.jpg" }),
            "invalid_cover_url",
        ),
        (
            json!({ "description": "x".repeat(5001) }),
            "invalid_description",
        ),
        (json!({ "status": "live" }), "unknown_field"),
    ];
    refused_and_unchanged(&srv, &path, &maker, &cases, &cleared.1).await;

    // Another creator's show, nobody's show, no token.
    let theirs = patch(&srv, &path, Some(&other), json!({ "title": "Mine now" })).await;
    assert_problem(&theirs, 403, "wrong_show");
    let nobody = format!("/api/shows/{}", uuid::Uuid::now_v7());
    assert_problem(
        &patch(&srv, &nobody, Some(&maker), json!({})).await,
        404,
        "show_not_found",
    );
    assert_problem(
        &patch(&srv, &path, None, json!({})).await,
        401,
        "missing_token",
    );

    // Live, it can no longer be edited.
    let started = post_empty(&srv, &format!("{path}/start"), &maker).await;
    assert_eq!(started.0, 200, "start: {}", started.1);
    let late = patch(&srv, &path, Some(&maker), json!({ "title": "Too late" })).await;
    assert_problem(&late, 409, "show_not_scheduled");
    assert_eq!(srv.get(&path, None).await.1["title"], "Sunday drop");
}

async fn a_cancelled_show_is_final_and_says_so(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, maker) = srv.creator("Maker").await;
    let (_, other) = srv.creator("Other").await;
    let show = s(&new_show(&srv, &maker, json!({ "title": "Called off" })).await["id"]);
    let product = srv.product(&maker, "MUG", 1800, 5).await;
    put(&srv, &maker, &show, "lineup", &product).await;
    // A viewer who joined before, and a guest watching the room.
    let (_, viewer) = srv.viewer(&show, "Early bird").await;
    let (mut room, welcome) = WsClient::join(&srv, &show, None).await;
    assert_eq!(welcome["show"]["status"], "scheduled");

    let cancel = format!("/api/shows/{show}/cancel");
    assert_problem(&post_empty(&srv, &cancel, &other).await, 403, "wrong_show");
    let cancelled = post_empty(&srv, &cancel, &maker).await;
    assert_eq!(cancelled.0, 200, "cancel: {}", cancelled.1);
    assert_eq!(cancelled.1["status"], "cancelled");
    assert!(cancelled.1["cancelled_at"].is_string(), "{}", cancelled.1);
    let frame = room.next_of_type("show.status", WAIT).await;
    assert_eq!(frame["status"], "cancelled", "the room is told: {frame}");

    // Visible as such to anyone, in the listing too.
    let (_, got) = srv.get(&format!("/api/shows/{show}"), None).await;
    assert_eq!(got["status"], "cancelled");
    let (_, all) = srv.get("/api/shows?limit=200", None).await;
    let listed = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|s| s["id"] == show.as_str())
        .expect("the cancelled show is listed");
    assert_eq!(listed["status"], "cancelled");

    // Final: no second cancel, no start, no edit, no joining, no shopping.
    assert_problem(
        &post_empty(&srv, &cancel, &maker).await,
        409,
        "illegal_transition",
    );
    let start = post_empty(&srv, &format!("/api/shows/{show}/start"), &maker).await;
    assert_problem(&start, 409, "illegal_transition");
    let edit = patch(
        &srv,
        &format!("/api/shows/{show}"),
        Some(&maker),
        json!({ "title": "Back on" }),
    )
    .await;
    assert_problem(&edit, 409, "show_not_scheduled");
    let join = srv
        .post(
            &format!("/api/shows/{show}/viewers"),
            None,
            json!({ "display_name": "Late" }),
        )
        .await;
    assert_problem(&join, 409, "show_cancelled");
    let cart = call(
        &srv,
        Method::PUT,
        &format!("/api/shows/{show}/cart/items/{product}"),
        Some(&viewer),
        Some(json!({ "quantity": 1 })),
    )
    .await;
    assert_problem(&cart, 409, "show_cancelled");

    // The viewer page says so before any script runs.
    let page = srv
        .http
        .get(srv.url(&format!("/s/{show}")))
        .send()
        .await
        .expect("viewer page");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("This show was cancelled"), "{html}");
    assert!(html.contains(r#"data-status="cancelled""#));

    // A live show cannot be cancelled.
    let live = s(&new_show(&srv, &maker, json!({ "title": "On air" })).await["id"]);
    assert_eq!(
        post_empty(&srv, &format!("/api/shows/{live}/start"), &maker)
            .await
            .0,
        200
    );
    let refused = post_empty(&srv, &format!("/api/shows/{live}/cancel"), &maker).await;
    assert_problem(&refused, 409, "illegal_transition");
    room.close().await;
}

async fn my_shows_are_listed_by_when_they_happen(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, maker) = srv.creator("Maker").await;
    let (_, other) = srv.creator("Other").await;
    let at = |day: u32| format!("2031-01-{day:02}T10:00:00Z");
    let mut made = Vec::new();
    for (day, title) in [
        (5, "Later"),
        (2, "Soon"),
        (1, "Was live"),
        (3, "Ended"),
        (4, "Off"),
    ] {
        let body = json!({ "title": title, "scheduled_at": at(day) });
        made.push(s(&new_show(&srv, &maker, body).await["id"]));
    }
    let [later, soon, live, ended, off] = made.clone().try_into().expect("five shows");
    for id in [&live, &ended] {
        assert_eq!(
            post_empty(&srv, &format!("/api/shows/{id}/start"), &maker)
                .await
                .0,
            200
        );
    }
    assert_eq!(
        post_empty(&srv, &format!("/api/shows/{ended}/end"), &maker)
            .await
            .0,
        200
    );
    assert_eq!(
        post_empty(&srv, &format!("/api/shows/{off}/cancel"), &maker)
            .await
            .0,
        200
    );
    let product = srv.product(&maker, "MUG", 1800, 5).await;
    let lineup = srv
        .post(
            &format!("/api/shows/{soon}/lineup"),
            Some(&maker),
            json!({ "product_id": product }),
        )
        .await;
    assert_eq!(lineup.0, 200);
    // Another creator's shows never show up in mine.
    new_show(
        &srv,
        &other,
        json!({ "title": "Theirs", "scheduled_at": at(2) }),
    )
    .await;

    let list = |when: &'static str| {
        let srv = &srv;
        let maker = maker.clone();
        async move {
            let (status, page) = srv.get(&format!("/api/me/shows{when}"), Some(&maker)).await;
            assert_eq!(status, 200, "{when}: {page}");
            assert_eq!(page["next_cursor"], Value::Null);
            page
        }
    };
    assert_eq!(
        ids(&list("?when=upcoming").await["items"]),
        [soon.clone(), later.clone()]
    );
    assert_eq!(ids(&list("?when=live").await["items"]), vec![live.clone()]);
    assert_eq!(
        ids(&list("?when=past").await["items"]),
        [off.clone(), ended.clone()]
    );
    let all = list("").await;
    assert_eq!(
        ids(&all["items"]),
        [
            live.clone(),
            soon.clone(),
            ended.clone(),
            off.clone(),
            later.clone()
        ]
    );
    assert_eq!(ids(&list("?when=all").await["items"]), ids(&all["items"]));
    let counts: Vec<(String, u64)> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|s| {
            (
                s["title"].as_str().unwrap().to_string(),
                s["lineup_count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(
        counts.contains(&("Soon".into(), 1)) && counts.contains(&("Later".into(), 0)),
        "{counts:?}"
    );
    assert_eq!(
        all["items"][0]["status"], "live",
        "each item is the show JSON"
    );

    // Pages follow the order: past shows newest first, one per page.
    let (_, first) = srv
        .get("/api/me/shows?when=past&limit=1", Some(&maker))
        .await;
    assert_eq!(ids(&first["items"]), vec![off.clone()]);
    let cursor = s(&first["next_cursor"]);
    let (_, second) = srv
        .get(
            &format!("/api/me/shows?when=past&limit=1&cursor={cursor}"),
            Some(&maker),
        )
        .await;
    assert_eq!(ids(&second["items"]), vec![ended.clone()]);
    assert_eq!(second["next_cursor"], Value::Null);

    let (_, theirs) = srv.get("/api/me/shows", Some(&other)).await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(1));
    assert_problem(
        &srv.get("/api/me/shows?when=soonish", Some(&maker)).await,
        400,
        "invalid_query",
    );
    assert_problem(
        &srv.get("/api/me/shows?limit=0", Some(&maker)).await,
        422,
        "invalid_limit",
    );
    assert_problem(&srv.get("/api/me/shows", None).await, 401, "missing_token");
    let (_, viewer) = srv.viewer(&soon, "Vera").await;
    assert_problem(
        &srv.get("/api/me/shows", Some(&viewer)).await,
        403,
        "forbidden_role",
    );
}

// ---- Products ----------------------------------------------------------------------------

/// Shows stored before Redis kept a set of each creator's shows are found all the same: the
/// first listing adds them from the global show index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_shows_stored_before_the_creator_set_are_listed() {
    let srv = TestServer::start(Backend::Redis).await;
    let (maker_id, maker) = srv.creator("Maker").await;
    let mut made = Vec::new();
    for day in 1..=3 {
        let body = json!({ "title": format!("Day {day}"), "scheduled_at": format!("2031-02-0{day}T10:00:00Z") });
        made.push(s(&new_show(&srv, &maker, body).await["id"]));
    }
    // As an older server left them: no set, no marker.
    let set = format!("{}:{{c:{maker_id}}}:shows", srv.config.redis_prefix);
    let client = ::redis::Client::open(common::redis::redis_url()).expect("a redis client");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("a redis connection");
    let removed: i64 = ::redis::cmd("DEL")
        .arg(&set)
        .arg(format!("{set}:indexed"))
        .query_async(&mut con)
        .await
        .expect("DEL");
    assert!(removed >= 1, "the creator's show set {set} exists");
    let (status, page) = srv.get("/api/me/shows", Some(&maker)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page["items"]), made);
    let marked: bool = ::redis::cmd("EXISTS")
        .arg(format!("{set}:indexed"))
        .query_async(&mut con)
        .await
        .expect("EXISTS");
    assert!(marked, "the backfill is done once");
    let later = s(&new_show(
        &srv,
        &maker,
        json!({ "title": "Day 4", "scheduled_at": "2031-02-04T10:00:00Z" }),
    )
    .await["id"]);
    let (_, page) = srv.get("/api/me/shows", Some(&maker)).await;
    assert_eq!(ids(&page["items"]).last(), Some(&later));
}

async fn products_are_searched_and_edited_by_their_owner_only(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, maker) = srv.creator("Maker").await;
    let (_, other) = srv.creator("Other").await;
    let mut made = Vec::new();
    for (sku, title) in [
        ("MUG-1", "Blue mug"),
        ("MUG-2", "Red Mug"),
        ("CUP-1", "Tea cup"),
    ] {
        let body = json!({ "sku": sku, "title": title, "price": { "amount": 1800, "currency": "EUR" }, "stock": 5 });
        let got = srv.post("/api/products", Some(&maker), body).await;
        assert_eq!(got.0, 201, "{}", got.1);
        made.push(s(&got.1["id"]));
    }
    srv.product(&other, "MUG-9", 900, 1).await;
    let found = |q: &'static str| {
        let (srv, maker) = (&srv, maker.clone());
        async move {
            let items = catalog(srv, &maker, &format!("&q={q}")).await;
            items.iter().map(|p| s(&p["sku"])).collect::<Vec<_>>()
        }
    };
    assert_eq!(found("mug").await, ["MUG-1", "MUG-2"]);
    assert_eq!(found("MUG").await, ["MUG-1", "MUG-2"]);
    assert_eq!(found("cup").await, ["CUP-1"]);
    assert_eq!(found("ug-2").await, ["MUG-2"], "SKUs too");
    assert_eq!(found("hat").await, Vec::<String>::new());
    assert_eq!(found("").await.len(), 3);
    let (_, page) = srv.get("/api/products?q=mug&limit=1", Some(&maker)).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    let cursor = s(&page["next_cursor"]);
    let (_, next) = srv
        .get(
            &format!("/api/products?q=mug&limit=1&cursor={cursor}"),
            Some(&maker),
        )
        .await;
    assert_eq!(
        (s(&next["items"][0]["sku"]), &next["next_cursor"]),
        ("MUG-2".into(), &Value::Null)
    );

    let path = format!("/api/products/{}", made[0]);
    let edited = patch(
        &srv,
        &path,
        Some(&maker),
        json!({
            "title": " Big blue mug ",
            "price": { "amount": 2400, "currency": "eur" },
            "stock": 12,
            "description": "Holds a lot",
            "image_url": "https://cdn.example/mug.jpg",
        }),
    )
    .await;
    assert_eq!(edited.0, 200, "edit: {}", edited.1);
    let e = &edited.1;
    assert_eq!(
        (&e["title"], &e["price"], &e["stock"], &e["sku"]),
        (
            &json!("Big blue mug"),
            &json!({ "amount": 2400, "currency": "EUR" }),
            &json!(12),
            &json!("MUG-1")
        )
    );
    assert_eq!(srv.get(&path, None).await.1, edited.1);
    let cleared = patch(
        &srv,
        &path,
        Some(&maker),
        json!({ "description": null, "image_url": null }),
    )
    .await;
    assert_eq!(cleared.0, 200);
    assert_eq!(
        (
            &cleared.1["description"],
            &cleared.1["image_url"],
            &cleared.1["stock"]
        ),
        (&Value::Null, &Value::Null, &json!(12))
    );

    let cases = [
        (
            json!({ "price": { "amount": 100, "currency": "USD" } }),
            "currency_mismatch",
        ),
        (
            json!({ "price": { "amount": -1, "currency": "EUR" } }),
            "invalid_price",
        ),
        (json!({ "price": null }), "invalid_price"),
        (json!({ "stock": -1 }), "invalid_stock"),
        (json!({ "stock": 1_000_000_001 }), "invalid_stock"),
        (json!({ "stock": 1.5 }), "invalid_body"),
        (json!({ "stock": null }), "invalid_body"),
        (json!({ "title": "" }), "invalid_title"),
        (json!({ "title": null }), "invalid_title"),
        (
            json!({ "image_url": "javascript:alert(1)" }),
            "invalid_image_url",
        ),
        (json!({ "sku": "NEW" }), "unknown_field"),
    ];
    refused_and_unchanged(&srv, &path, &maker, &cases, &cleared.1).await;
    let theirs = patch(&srv, &path, Some(&other), json!({ "stock": 0 })).await;
    assert_problem(&theirs, 403, "not_product_owner");
    let nothing = format!("/api/products/{}", uuid::Uuid::now_v7());
    assert_problem(
        &patch(&srv, &nothing, Some(&maker), json!({})).await,
        404,
        "product_not_found",
    );
    assert_problem(
        &patch(&srv, &path, None, json!({})).await,
        401,
        "missing_token",
    );
    assert_eq!(
        srv.get(&path, None).await.1["stock"],
        12,
        "never theirs to change"
    );
}

async fn a_stock_set_racing_checkouts_loses_nothing(backend: Backend) {
    const BUYERS: usize = 40;
    let srv = TestServer::start(backend).await;
    let (maker, show) = srv.live_show("Maker", "Race").await;
    let product = srv.product(&maker, "MUG", 1000, 1000).await;
    put(&srv, &maker, &show, "lineup", &product).await;
    let path = format!("/api/products/{product}");
    let stock = || async {
        srv.get(&path, None).await.1["stock"]
            .as_i64()
            .expect("stock")
    };

    // Buyers with one unit each in their carts, `BUYERS` at a time.
    let carts = |round: usize| {
        let (srv, show, product) = (&srv, show.clone(), product.clone());
        async move {
            let mut tokens = Vec::new();
            for i in 0..BUYERS {
                let (_, token) = srv.viewer(&show, &format!("Buyer {round}-{i}")).await;
                let got = call(
                    srv,
                    Method::PUT,
                    &format!("/api/shows/{show}/cart/items/{product}"),
                    Some(&token),
                    Some(json!({ "quantity": 1 })),
                )
                .await;
                assert_eq!(got.0, 200, "cart: {}", got.1);
                tokens.push(token);
            }
            tokens
        }
    };
    let checkouts = |tokens: Vec<String>, round: usize| {
        let (srv, show) = (&srv, show.clone());
        futures::future::join_all(tokens.into_iter().enumerate().map(move |(i, token)| {
            let url = srv.url(&format!("/api/shows/{show}/checkout"));
            async move {
                let resp = srv
                    .http
                    .post(url)
                    .bearer_auth(token)
                    .header("Idempotency-Key", format!("race-{round}-{i}"))
                    .send()
                    .await
                    .expect("checkout sent");
                TestServer::finish(resp).await
            }
        }))
    };

    // Edits that leave the stock alone, from four editors for as long as the checkouts run:
    // every sale stays counted.
    let tokens = carts(1).await;
    let done = std::sync::atomic::AtomicBool::new(false);
    let editor = |k: usize| {
        let (srv, path, maker, done) = (&srv, &path, &maker, &done);
        async move {
            let mut saved = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let body = json!({ "title": format!("Mug {k}-{saved}") });
                let got = patch(srv, path, Some(maker), body).await;
                match got.0 {
                    200 => saved += 1,
                    _ => assert_problem(&got, 409, "concurrent_update"),
                }
            }
            saved
        }
    };
    let selling = async {
        let sold = checkouts(tokens, 1).await;
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        sold
    };
    let (sold, edited) = tokio::join!(selling, futures::future::join_all((0..4).map(editor)));
    assert!(edited.iter().sum::<usize>() > 0, "{edited:?}");
    let placed = sold.iter().filter(|o| o.0 == 201).count() as i64;
    assert_eq!(placed, BUYERS as i64, "{sold:?}");
    assert_eq!(stock().await, 1000 - placed, "no sale undone by an edit");

    // A stock set racing checkouts: the set wins over what was before it, and every sale
    // after it is taken from it; never below zero.
    const SET: i64 = 15;
    let tokens = carts(2).await;
    let set = patch(&srv, &path, Some(&maker), json!({ "stock": SET }));
    let (sold, set) = tokio::join!(checkouts(tokens, 2), set);
    assert_eq!(set.0, 200, "{}", set.1);
    let placed = sold.iter().filter(|o| o.0 == 201).count() as i64;
    let sold_out = sold
        .iter()
        .filter(|o| o.0 == 409 && o.1["code"] == "sold_out")
        .count();
    assert_eq!(
        placed + sold_out as i64,
        BUYERS as i64,
        "only sales or sold-outs: {sold:?}"
    );
    let left = stock().await;
    assert!(
        (0..=SET).contains(&left),
        "stock {left} after setting {SET}"
    );
    assert!(
        SET - left <= placed,
        "{} units gone, only {placed} sold",
        SET - left
    );
    if sold_out > 0 {
        assert_eq!(left, 0, "a sold-out comes only once the set stock is gone");
    }
    // And nothing moves afterwards: what is left is what the product says everywhere.
    let listed = catalog(&srv, &maker, "").await;
    assert_eq!(listed[0]["stock"], left);
}

async fn a_pinned_product_stays_in_the_lineup(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, maker) = srv.creator("Maker").await;
    let (_, other) = srv.creator("Other").await;
    let show = s(&new_show(&srv, &maker, json!({ "title": "Lineup" })).await["id"]);
    let mug = srv.product(&maker, "MUG", 1800, 5).await;
    let cup = srv.product(&maker, "CUP", 900, 5).await;
    for p in [&mug, &cup] {
        put(&srv, &maker, &show, "lineup", p).await;
    }
    put(&srv, &maker, &show, "pins", &mug).await;
    let lineup = || async {
        let (_, got) = srv.get(&format!("/api/shows/{show}/lineup"), None).await;
        ids(&got["products"])
    };
    let remove = |p: &str, token: &str| {
        let path = format!("/api/shows/{show}/lineup/{p}");
        let token = token.to_string();
        let srv = &srv;
        async move { call(srv, Method::DELETE, &path, Some(&token), None).await }
    };

    assert_problem(&remove(&mug, &maker).await, 409, "product_pinned");
    assert_problem(&remove(&cup, &other).await, 403, "wrong_show");
    assert_eq!(lineup().await, [mug.clone(), cup.clone()]);
    assert_eq!(remove(&cup, &maker).await, (204, Value::Null));
    assert_eq!(lineup().await, vec![mug.clone()]);
    assert_problem(&remove(&cup, &maker).await, 404, "not_in_lineup");
    let stranger = uuid::Uuid::now_v7().to_string();
    assert_problem(&remove(&stranger, &maker).await, 404, "not_in_lineup");
    let unpin = call(
        &srv,
        Method::DELETE,
        &format!("/api/shows/{show}/pins/{mug}"),
        Some(&maker),
        None,
    )
    .await;
    assert!((200..300).contains(&unpin.0), "unpin: {}", unpin.1);
    assert_eq!(remove(&mug, &maker).await.0, 204);
    assert_eq!(lineup().await, Vec::<String>::new());
}

async fn an_edit_of_a_pinned_product_reaches_the_room(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, maker) = srv.creator("Maker").await;
    let show = s(&new_show(&srv, &maker, json!({ "title": "Live edit" })).await["id"]);
    let mug = srv.product(&maker, "MUG", 1800, 5).await;
    put(&srv, &maker, &show, "lineup", &mug).await;
    put(&srv, &maker, &show, "pins", &mug).await;
    let (mut room, welcome) = WsClient::join(&srv, &show, None).await;
    assert_eq!(welcome["pins"][0]["stock_left"], 5, "{welcome}");

    let edited = patch(
        &srv,
        &format!("/api/products/{mug}"),
        Some(&maker),
        json!({ "title": "Mug, glazed", "stock": 2, "price": { "amount": 1500, "currency": "USD" } }),
    )
    .await;
    assert_eq!(edited.0, 200, "edit: {}", edited.1);
    // The room sees the new title, price and stock without any pin change.
    let frame = room.next_of_type("pin.updated", WAIT).await;
    let pinned = &frame["pins"][0];
    assert_eq!(pinned["product_id"], mug.as_str(), "{frame}");
    assert_eq!(pinned["title"], "Mug, glazed", "{frame}");
    assert_eq!(pinned["stock_left"], 2, "{frame}");
    assert_eq!(pinned["price"]["amount"], 1500, "{frame}");
}

// ---- The import ----------------------------------------------------------------------------

async fn a_dry_run_writes_nothing_and_predicts_the_import(backend: Backend) {
    let mut config = test_config(backend);
    config.max_products_per_creator = 3;
    let srv = TestServer::start_with(config).await;
    let (_, maker) = srv.creator("Maker").await;
    let (_, other) = srv.creator("Other").await;
    srv.product(&maker, "MUG", 1800, 5).await;
    let csv = "Handle,Title,Variant SKU,Variant Price,Variant Inventory Qty\n\
               mug,Mug,MUG,18.00,4\n\
               cup,Cup,CUP,5.00,1\n\
               hat,Hat,HAT,9.00,-1\n\
               cap,Cap,CAP,7.50,2\n\
               bag,Bag,BAG,3.00,2\n\
               ,Nameless,NONE,1.00,1\n"
        .to_string();
    let before = catalog(&srv, &maker, "").await;

    let dry = import(&srv, &maker, "?dry_run=true", csv.clone(), false).await;
    let (status, dry) = TestServer::finish(dry).await;
    assert_eq!(status, 200, "dry run: {dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(rows(&dry["updated"]), [(2, "MUG".to_string())]);
    assert_eq!(
        rows(&dry["created"]),
        [(3, "CUP".to_string()), (5, "CAP".to_string())]
    );
    assert!(
        dry["created"][0].get("id").is_none(),
        "nothing was created: {dry}"
    );
    let rejected: Vec<u64> = dry["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(
        rejected,
        [4, 6, 7],
        "a bad quantity, the full catalog, no handle"
    );
    assert_eq!(
        catalog(&srv, &maker, "").await,
        before,
        "a dry run writes nothing"
    );
    assert_eq!(catalog(&srv, &other, "").await, Vec::<Value>::new());

    let real = import(&srv, &maker, "", csv.clone(), false).await;
    let (status, real) = TestServer::finish(real).await;
    assert_eq!(status, 200, "import: {real}");
    assert_eq!(real["dry_run"], false);
    for list in ["created", "updated"] {
        assert_eq!(rows(&real[list]), rows(&dry[list]), "{list}");
    }
    assert_eq!(real["rejected"], dry["rejected"]);
    assert!(real["created"][0]["id"].is_string());
    assert_eq!(catalog(&srv, &maker, "").await.len(), 3);

    // The same file again: every product is now an update, predicted alike.
    let again = TestServer::finish(import(&srv, &maker, "?dry_run=true", csv, false).await)
        .await
        .1;
    assert_eq!(rows(&again["updated"]).len(), 3);
    assert_eq!(again["created"], json!([]));
    for (query, code, status) in [
        ("?dry_run=maybe", "invalid_query", 400),
        ("?currency=XXX&dry_run=true", "unknown_currency", 422),
    ] {
        let got =
            TestServer::finish(import(&srv, &maker, query, "Handle\n".into(), false).await).await;
        assert_problem(&got, status, code);
    }
    let not_an_export = import(
        &srv,
        &maker,
        "?dry_run=true",
        "name,price\nx,1\n".into(),
        false,
    )
    .await;
    assert_problem(&TestServer::finish(not_an_export).await, 400, "invalid_csv");
}

/// The lines of an ndjson answer, parsed as they arrive.
async fn ndjson_lines(mut resp: reqwest::Response) -> Vec<Value> {
    let mut lines = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(chunk) = resp.chunk().await.expect("a chunk") {
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            lines.push(serde_json::from_slice(&line).expect("each line is JSON"));
        }
    }
    assert!(pending.is_empty(), "the stream ends with a whole line");
    lines
}

/// Checks the progress lines and returns the final line.
fn check_progress(lines: &[Value], total: u64) -> Value {
    let (last, progress) = lines.split_last().expect("some lines");
    let mut seen = Vec::new();
    for line in progress {
        let p = &line["progress"];
        assert_eq!(p["total"], total, "{line}");
        seen.push(p["done"].as_u64().expect("done"));
    }
    assert_eq!(seen.first(), Some(&0), "{seen:?}");
    assert_eq!(seen.last(), Some(&total), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1] && w[1] - w[0] <= 200),
        "{seen:?}"
    );
    last.clone()
}

async fn the_import_streams_its_progress_as_ndjson(backend: Backend) {
    const ROWS: usize = 1050;
    let srv = TestServer::start(backend).await;
    let (_, maker) = srv.creator("Maker").await;
    let csv = export_of(ROWS, 3);

    let dry = import(&srv, &maker, "?dry_run=true", csv.clone(), true).await;
    assert_eq!(dry.status(), 200);
    assert_eq!(dry.headers()["content-type"], "application/x-ndjson");
    let report = check_progress(&ndjson_lines(dry).await, ROWS as u64)["report"].clone();
    assert_eq!(
        (report["dry_run"].clone(), rows(&report["created"]).len()),
        (json!(true), ROWS)
    );
    assert_eq!(
        catalog(&srv, &maker, "").await.len(),
        0,
        "the dry run wrote nothing"
    );

    let real = import(&srv, &maker, "", csv, true).await;
    assert_eq!(real.status(), 200);
    let lines = ndjson_lines(real).await;
    assert!(lines.len() >= ROWS / 200 + 2, "{} lines", lines.len());
    let report = check_progress(&lines, ROWS as u64)["report"].clone();
    assert_eq!(rows(&report["created"]).len(), ROWS);
    assert_eq!(report["rejected"], json!([]));
    let stored = catalog(&srv, &maker, "").await;
    assert_eq!(stored.len(), ROWS);
    assert!(stored.iter().all(|p| p["stock"] == 3));

    // A file refused whole is a plain problem, not a stream.
    let bad = import(&srv, &maker, "", "name,price\nx,1\n".into(), true).await;
    assert_problem(&TestServer::finish(bad).await, 400, "invalid_csv");
}

async fn a_client_that_leaves_mid_stream_leaves_whole_rows(backend: Backend) {
    const ROWS: usize = 3000;
    let srv = TestServer::start(backend).await;
    let (_, maker) = srv.creator("Maker").await;
    let mut resp = import(&srv, &maker, "", export_of(ROWS, 7), true).await;
    assert_eq!(resp.status(), 200);
    let first = resp.chunk().await.expect("a chunk").expect("a first line");
    let first: Value =
        serde_json::from_slice(first.split(|b| *b == b'\n').next().unwrap()).expect("a JSON line");
    assert_eq!(first["progress"]["total"], ROWS, "{first}");
    // Gone mid-stream: the connection closes with the response.
    drop(resp);

    // The run goes on to its end; wait for it rather than for a time.
    let deadline = Instant::now() + Duration::from_secs(90);
    let stored = loop {
        let stored = catalog(&srv, &maker, "").await;
        if stored.len() == ROWS || Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(stored.len(), ROWS, "every row applied");
    // Whole rows: each product is readable by its id and by its SKU (the same file again
    // finds every one of them to update, and creates nothing).
    let readable = futures::stream::iter(stored.iter().map(|p| s(&p["id"])))
        .map(|id| {
            let srv = &srv;
            async move { srv.get(&format!("/api/products/{id}"), None).await }
        })
        .buffer_unordered(16)
        .filter(|(status, p)| futures::future::ready(*status == 200 && p["stock"] == 7))
        .count()
        .await;
    assert_eq!(readable, ROWS);
    let again =
        TestServer::finish(import(&srv, &maker, "?dry_run=true", export_of(ROWS, 7), false).await)
            .await
            .1;
    assert_eq!(
        (rows(&again["updated"]).len(), rows(&again["created"]).len()),
        (ROWS, 0)
    );
}
