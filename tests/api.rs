//! The JSON API end to end, on both stores: creators, shows and their lifecycle, products,
//! lineup, invites, viewers, and the Shopify catalog import.

mod common;

use common::server::{Backend, TestServer, assert_problem, s};
use serde_json::{Value, json};

on_both_stores!(
    show_lifecycle_and_lineup,
    invites_and_viewers,
    catalog_import_reports_each_row,
    sample_catalog_imports_cleanly,
    listings_come_in_pages,
);

async fn show_lifecycle_and_lineup(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (creator_id, token) = srv.creator("Ann's Studio").await;
    let (status, show) = srv
        .post(
            "/api/shows",
            Some(&token),
            json!({ "title": "  Friday drop ", "description": "Mugs!", "scheduled_at": "2030-01-02T03:04:05Z" }),
        )
        .await;
    assert_eq!(status, 201, "{show}");
    assert_eq!(show["title"], "Friday drop");
    assert_eq!(show["status"], "scheduled");
    assert_eq!(show["creator_id"], creator_id.as_str());
    assert_eq!(show["scheduled_at"], "2030-01-02T03:04:05Z");
    let id = s(&show["id"]);

    // Anyone can read it, alone and in the list.
    let (status, got) = srv.get(&format!("/api/shows/{id}"), None).await;
    assert_eq!((status, &got), (200, &show));
    let (_, list) = srv.get("/api/shows", None).await;
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id.as_str())
    );

    // Products and the lineup, in order and without duplicates.
    let mug = srv.product(&token, "MUG", 1800, 5).await;
    let hat = srv.product(&token, "HAT", 2400, 3).await;
    for p in [&hat, &mug, &hat] {
        let (status, body) = srv
            .post(
                &format!("/api/shows/{id}/lineup"),
                Some(&token),
                json!({ "product_id": p }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, lineup) = srv.get(&format!("/api/shows/{id}/lineup"), None).await;
    let ids: Vec<&str> = lineup["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![hat.as_str(), mug.as_str()]);
    assert_eq!(
        lineup["products"][1]["price"],
        json!({ "amount": 1800, "currency": "USD" })
    );
    assert_eq!(lineup["products"][1]["stock"], 5);

    // Scheduled → Live → Ended, and nothing else.
    let (status, live) = srv
        .post(&format!("/api/shows/{id}/start"), Some(&token), json!({}))
        .await;
    assert_eq!(status, 200, "{live}");
    assert_eq!(live["status"], "live");
    assert!(live["started_at"].is_string());
    let again = srv
        .post(&format!("/api/shows/{id}/start"), Some(&token), json!({}))
        .await;
    assert_problem(&again, 409, "illegal_transition");
    let (status, ended) = srv
        .post(&format!("/api/shows/{id}/end"), Some(&token), json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(ended["status"], "ended");
    let (_, stored) = srv.get(&format!("/api/shows/{id}"), None).await;
    assert_eq!(stored["status"], "ended");

    // Concurrent starts of a fresh show: exactly one wins.
    let fresh = srv.show(&token, "Race").await;
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let http = srv.http.clone();
        let url = srv.url(&format!("/api/shows/{fresh}/start"));
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 1, "{codes:?}");
    assert!(codes.iter().all(|c| *c == 200 || *c == 409), "{codes:?}");
}

async fn invites_and_viewers(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, token) = srv.creator("Ann").await;
    let show = srv.show(&token, "Show").await;
    let (status, invite) = srv
        .post(
            &format!("/api/shows/{show}/invites"),
            Some(&token),
            json!({ "role": "camera", "label": "Back camera" }),
        )
        .await;
    assert_eq!(status, 201, "{invite}");
    let cam_token = s(&invite["token"]);
    assert_eq!(
        s(&invite["url"]),
        format!("{}/camera/{cam_token}", srv.base)
    );
    let (_, me) = srv.get("/api/me", Some(&cam_token)).await;
    assert_eq!(me["role"], "camera");
    assert_eq!(me["show_id"], show.as_str());
    assert_eq!(me["name"], "Back camera");
    // The camera page opens for a camera link and refuses anything else.
    let page = srv.http.get(s(&invite["url"])).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Back camera"));
    let bad = srv
        .http
        .get(srv.url("/camera/not-a-token"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    let (status, invite) = srv
        .post(
            &format!("/api/shows/{show}/invites"),
            Some(&token),
            json!({ "role": "moderator" }),
        )
        .await;
    assert_eq!(status, 201);
    assert!(s(&invite["url"]).starts_with(&format!("{}/moderate/{show}#token=", srv.base)));
    let bad_role = srv
        .post(
            &format!("/api/shows/{show}/invites"),
            Some(&token),
            json!({ "role": "viewer" }),
        )
        .await;
    assert_problem(&bad_role, 422, "invalid_role");

    let (viewer_id, viewer_token) = srv.viewer(&show, "  Dana  ").await;
    let (_, me) = srv.get("/api/me", Some(&viewer_token)).await;
    assert_eq!(me["role"], "viewer");
    assert_eq!(me["viewer_id"], viewer_id.as_str());
    assert_eq!(me["name"], "Dana");
    let unknown = srv
        .post(
            &format!("/api/shows/{}/viewers", uuid::Uuid::nil()),
            None,
            json!({ "display_name": "Dana" }),
        )
        .await;
    assert_problem(&unknown, 404, "show_not_found");
}

fn rejected_lines(report: &Value) -> Vec<u64> {
    report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(
                !r["reason"].as_str().unwrap().is_empty(),
                "rejections say why: {r}"
            );
            r["line"].as_u64().unwrap()
        })
        .collect()
}

fn skus(list: &Value) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| s(&p["sku"]))
        .collect();
    v.sort();
    v
}

async fn import(srv: &TestServer, token: &str, bytes: Vec<u8>) -> (u16, Value) {
    let resp = srv
        .http
        .post(srv.url("/api/products/import"))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await
        .unwrap();
    TestServer::finish(resp).await
}

async fn catalog_import_reports_each_row(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, token) = srv.creator("Importer").await;
    let csv = std::fs::read("tests/fixtures/shopify-mixed.csv").unwrap();
    let (status, report) = import(&srv, &token, csv.clone()).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(rejected_lines(&report), vec![4, 5, 6, 8, 9, 10]);
    assert_eq!(
        skus(&report["created"]),
        vec!["FX-CANDLE", "FX-MUG-BLK", "FX-MUG-WHT", "FX-NAPKINS"]
    );
    assert_eq!(report["updated"], json!([]));
    let (_, catalog) = srv.get("/api/products", Some(&token)).await;
    let products = catalog["items"].as_array().unwrap();
    assert_eq!(products.len(), 4);
    let napkins = products.iter().find(|p| p["sku"] == "FX-NAPKINS").unwrap();
    assert_eq!(napkins["title"], "Fixture Napkins, Set of 2");
    assert_eq!(
        napkins["price"],
        json!({ "amount": 999, "currency": "USD" })
    );
    assert_eq!(napkins["stock"], 0);

    // A second import updates the same SKUs and creates nothing.
    let (status, again) = import(&srv, &token, csv).await;
    assert_eq!(status, 200);
    assert_eq!(again["created"], json!([]));
    assert_eq!(skus(&again["updated"]), skus(&report["created"]));
    let (_, catalog) = srv.get("/api/products", Some(&token)).await;
    assert_eq!(catalog["items"].as_array().unwrap().len(), 4);

    // A malformed upload is a 400 and changes nothing.
    let garbage = std::fs::read("tests/fixtures/not-a-csv.bin").unwrap();
    let bad = import(&srv, &token, garbage).await;
    assert_problem(&bad, 400, "invalid_csv");
    let (_, after) = srv.get("/api/products", Some(&token)).await;
    assert_eq!(after, catalog);
}

async fn sample_catalog_imports_cleanly(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, token) = srv.creator("Sample").await;
    let csv = std::fs::read("docs/samples/shopify-products.csv").unwrap();
    let (status, report) = import(&srv, &token, csv).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["rejected"], json!([]), "the sample is clean");
    assert!(
        report["created"].as_array().unwrap().len() >= 10,
        "{report}"
    );
    let (_, catalog) = srv.get("/api/products", Some(&token)).await;
    for p in catalog["items"].as_array().unwrap() {
        assert!(p["price"]["amount"].as_i64().unwrap() > 0, "{p}");
        assert!(
            !p["title"].as_str().unwrap().contains('<'),
            "HTML is stripped: {p}"
        );
    }
}

/// Every page of `path` (`limit` each), following `next_cursor`: the ids in order and the
/// page sizes. Fails on a page that is not `{"items","next_cursor"}`.
async fn walk(
    srv: &TestServer,
    path: &str,
    token: Option<&str>,
    limit: usize,
) -> (Vec<String>, Vec<usize>) {
    let (mut ids, mut sizes, mut cursor) = (Vec::new(), Vec::new(), None::<String>);
    loop {
        let url = match &cursor {
            None => format!("{path}?limit={limit}"),
            Some(c) => format!("{path}?limit={limit}&cursor={c}"),
        };
        let (status, page) = srv.get(&url, token).await;
        assert_eq!(status, 200, "{url}: {page}");
        let items = page["items"]
            .as_array()
            .unwrap_or_else(|| panic!("{url}: {page}"));
        sizes.push(items.len());
        ids.extend(items.iter().map(|i| s(&i["id"])));
        match &page["next_cursor"] {
            Value::Null => return (ids, sizes),
            Value::String(next) => cursor = Some(next.clone()),
            other => panic!("{url}: next_cursor {other}"),
        }
        assert!(sizes.len() < 100, "{path} never ends");
    }
}

async fn listings_come_in_pages(backend: Backend) {
    let srv = TestServer::start(backend).await;
    let (_, token) = srv.creator("Pager").await;
    let t = Some(token.as_str());
    // 20 shows at one instant (ties broken by id, more than one Redis read of a score), two a
    // microsecond apart within one millisecond, and two at other times.
    let mut times = vec!["2031-05-05T10:00:00Z"; 20];
    times.extend(["2031-05-05T10:00:00.000300Z", "2031-05-05T10:00:00.000100Z"]);
    times.extend(["2031-05-04T00:00:00Z", "2031-06-01T00:00:00Z"]);
    for (n, at) in times.iter().enumerate() {
        let body = json!({ "title": format!("Show {n}"), "scheduled_at": at });
        let (status, show) = srv.post("/api/shows", t, body).await;
        assert_eq!(status, 201, "{show}");
    }
    let (status, legacy) = srv.get("/api/shows?legacy=1", None).await;
    assert_eq!(status, 200, "{legacy}");
    let all: Vec<String> = legacy["shows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(all.len(), 24, "legacy answers the old whole list: {legacy}");

    let (ids, sizes) = walk(&srv, "/api/shows", None, 5).await;
    assert_eq!(ids, all, "pages of 5 list every show once, in order");
    assert_eq!(sizes, vec![5, 5, 5, 5, 4]);
    let (ids, _) = walk(&srv, "/api/shows", None, 200).await;
    assert_eq!(ids, all);
    let (status, first) = srv.get("/api/shows", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        first["items"].as_array().unwrap().len(),
        24,
        "the default page holds 50"
    );
    assert_eq!(first["next_cursor"], Value::Null);

    // A cursor is a position: shows added before it afterwards do not shift the next page.
    let (_, page) = srv.get("/api/shows?limit=3", None).await;
    let cursor = s(&page["next_cursor"]);
    let early = json!({ "title": "Earlier", "scheduled_at": "2031-01-01T00:00:00Z" });
    let (status, _) = srv.post("/api/shows", t, early).await;
    assert_eq!(status, 201);
    let (_, next) = srv
        .get(&format!("/api/shows?limit=3&cursor={cursor}"), None)
        .await;
    let next: Vec<String> = next["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(next, all[3..6].to_vec());

    // The catalog pages the same way, per creator.
    let mut skus = Vec::new();
    for n in 0..7 {
        let sku = format!("PAGE-{n}");
        skus.push(srv.product(&token, &sku, 100 + n, 1).await);
    }
    let (_, other) = srv.creator("Other").await;
    srv.product(&other, "NOT-MINE", 100, 1).await;
    let (ids, sizes) = walk(&srv, "/api/products", t, 3).await;
    assert_eq!(ids, skus, "in creation order, only the caller's");
    assert_eq!(sizes, vec![3, 3, 1]);
    let (status, legacy) = srv.get("/api/products?legacy=1", t).await;
    assert_eq!(status, 200);
    assert_eq!(legacy["products"].as_array().unwrap().len(), 7, "{legacy}");

    // Bad paging is refused with its own code.
    for (query, status, code) in [
        ("limit=0", 422, "invalid_limit"),
        ("limit=201", 422, "invalid_limit"),
        ("limit=ten", 400, "invalid_query"),
        ("cursor=not-a-cursor", 422, "invalid_cursor"),
        (
            "cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D",
            422,
            "invalid_cursor",
        ),
        ("legacy=yes", 400, "invalid_query"),
    ] {
        for path in ["/api/shows", "/api/products"] {
            let got = srv.get(&format!("{path}?{query}"), t).await;
            assert_problem(&got, status, code);
        }
    }
    let (status, page) = srv.get("/api/shows?limit=200", None).await;
    assert_eq!(status, 200, "{page}");
}
