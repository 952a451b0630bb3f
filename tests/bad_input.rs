//! Bad input never produces a 500 or a panic: bad JSON, wrong types, huge bodies, unknown
//! fields, out-of-range values, illegal status changes, unknown ids, bad uploads and a seeded
//! fuzz loop. Each gets a 4xx problem+json with a stable code, and the state stays intact.

mod common;

use std::fmt::Display;
use std::time::Duration;

use common::server::{ADMIN, Backend, TestServer, assert_problem, s, test_config};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Memory).await })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Redis).await })*
        }
    };
}

on_both_backends!(
    json_bodies_are_checked,
    bodies_must_be_json_objects,
    body_limits_hold_with_or_without_a_length,
    field_rules_are_enforced,
    illegal_status_changes_conflict,
    unknown_ids_routes_and_methods,
    csv_import_refuses_bad_uploads,
    fuzzed_json_never_breaks_the_server,
    product_quota_holds_on_create_and_import,
);

/// (status, content type, body) of one answer.
type Answer = (u16, String, Value);

const JSON: Option<&str> = Some("application/json");
const CSV: Option<&str> = Some("text/csv");

/// A server with one creator, and every mismatch collected to fail once with the full list.
struct Ctx {
    srv: TestServer,
    token: String,
    failures: Vec<String>,
}

impl Ctx {
    async fn new(backend: Backend) -> Ctx {
        Self::on(TestServer::start(backend).await).await
    }

    async fn on(srv: TestServer) -> Ctx {
        let (_, token) = srv.creator("Jo").await;
        let failures = vec![];
        Ctx {
            srv,
            token,
            failures,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut req = self.srv.http.request(method, self.srv.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("request sent");
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("?"));
        let ct = ct.unwrap_or("").to_string();
        let (status, body) = TestServer::finish(resp).await;
        (status, ct, body)
    }

    /// POSTs a JSON body (as text, so it can be malformed).
    async fn json(&self, path: &str, token: Option<&str>, body: impl Display) -> Answer {
        self.send("POST", path, token, JSON, body.to_string()).await
    }

    /// Expects a problem+json answer with this status and code.
    fn problem(&mut self, what: impl Display, got: &Answer, status: u16, code: &str) {
        let (st, ct, body) = got;
        let problem = ct.starts_with("application/problem+json") && body["status"] == status;
        if *st != status || body["code"] != code || !problem {
            let c = &body["code"];
            self.failures.push(format!(
                "{what}: expected {status} {code} problem+json, got {st} {c} ({ct:?}): {body}"
            ));
        }
    }

    fn status(&mut self, what: impl Display, got: &Answer, status: u16) {
        let detail = format!("expected {status}, got {} {}", got.0, got.2);
        self.that(what, got.0 == status, detail);
    }

    fn that(&mut self, what: impl Display, ok: bool, detail: impl Display) {
        if !ok {
            self.failures.push(format!("{what}: {detail}"));
        }
    }

    /// The catalog of `token`'s creator is exactly these (sku, stock) pairs.
    async fn catalog(&mut self, token: &str, want: &[(&str, i64)]) {
        let (status, body) = self.srv.get("/api/products", Some(token)).await;
        let products = body["items"].as_array().cloned().unwrap_or_default();
        let stock = |p: &Value| p["stock"].as_i64().unwrap_or(-1);
        let mut got: Vec<(String, i64)> =
            products.iter().map(|p| (s(&p["sku"]), stock(p))).collect();
        got.sort();
        let mut want: Vec<(String, i64)> = want.iter().map(|(k, n)| (k.to_string(), *n)).collect();
        want.sort();
        let detail = format!("want {want:?}, got {status} {got:?}");
        self.that("catalog afterwards", status == 200 && got == want, detail);
    }

    /// The number of shows, all creators included.
    async fn show_count(&self) -> Option<usize> {
        let (_, body) = self.srv.get("/api/shows", None).await;
        body["items"].as_array().map(Vec::len)
    }

    fn finish(self, test: &str) {
        let (n, list) = (self.failures.len(), self.failures.join("\n"));
        assert!(n == 0, "{test}: {n} wrong answers:\n{list}");
    }
}

/// A product body; the values are JSON text, so they can be of any type.
fn product(sku: &str, amount: &str, currency: &str, stock: &str) -> String {
    format!(
        r#"{{"sku":"{sku}","title":"Product {sku}","price":{{"amount":{amount},"currency":"{currency}"}},"stock":{stock}}}"#
    )
}

/// Sends `head` and `body` over a bare TCP connection (for chunked bodies and lying
/// Content-Length headers, which an HTTP client will not produce) and parses the answer.
async fn raw_http(srv: &TestServer, head: String, body: &[u8], half_close: bool) -> Answer {
    let mut stream = tokio::net::TcpStream::connect(srv.addr)
        .await
        .expect("connect");
    // The server may answer and close before it has read everything: write errors are fine.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
    if half_close {
        let _ = stream.shutdown().await;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Ok(n @ 1..)) = tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
    let status = status.unwrap_or(0);
    let lower = head.to_ascii_lowercase();
    let ct = lower.lines().find_map(|l| l.strip_prefix("content-type:"));
    let ct = ct.unwrap_or("").trim().to_string();
    let body = serde_json::from_str(rest.trim()).unwrap_or(Value::String(rest.to_string()));
    (status, ct, body)
}

async fn json_bodies_are_checked(backend: Backend) {
    let mut x = Ctx::new(backend).await;
    let show = x.srv.show(&x.token, "Body checks").await;
    let (inv, view, lineup) = (
        &format!("/api/shows/{show}/invites"),
        &format!("/api/shows/{show}/viewers"),
        &format!("/api/shows/{show}/lineup"),
    );
    let token = x.token.clone();
    let (c, a) = (Some(token.as_str()), Some(ADMIN));
    let good = product("GOOD-1", "1999", "USD", "5");
    let got = x.json("/api/products", c, good).await;
    x.status("a valid product", &got, 201);

    #[rustfmt::skip]
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        // Syntax.
        ("/api/products", c, r#"{"sku": "A","#.into(), 400, "invalid_json"),
        ("/api/products", c, "{'sku': 'A'}".into(), 400, "invalid_json"),
        ("/api/shows", c, r#"{"title": "x"} trailing"#.into(), 400, "invalid_json"),
        ("/api/creators", a, r#"{"name": }"#.into(), 400, "invalid_json"),
        (view, None, "not json at all".into(), 400, "invalid_json"),
        (inv, c, "".into(), 400, "invalid_json"),
        // Types and shapes.
        ("/api/products", c, product("T-1", "100", "USD", r#""ten""#), 422, "invalid_body"),
        ("/api/products", c, r#"{"sku":"T-2","title":"T","price":5,"stock":1}"#.into(), 422, "invalid_body"),
        ("/api/products", c, product("T-3", r#""100""#, "USD", "1"), 422, "invalid_body"),
        ("/api/products", c, product("T-4", "1.5", "USD", "1"), 422, "invalid_body"),
        ("/api/products", c, product("T-5", "100", "USD", "null"), 422, "invalid_body"),
        ("/api/products", c, "[1, 2, 3]".into(), 422, "invalid_body"),
        ("/api/products", c, r#"{"sku":"T-6"}"#.into(), 422, "invalid_body"),
        ("/api/shows", c, r#"{"title": 42}"#.into(), 422, "invalid_body"),
        ("/api/shows", c, r#"{"title":"x","scheduled_at":"next friday"}"#.into(), 422, "invalid_body"),
        (inv, c, r#"{"role":"admin"}"#.into(), 422, "invalid_body"),
        (inv, c, r#"{"role":"viewer"}"#.into(), 422, "invalid_role"),
        (lineup, c, r#"{"product_id":"not-a-uuid"}"#.into(), 422, "invalid_body"),
        // Unknown fields, at the top and nested.
        ("/api/products", c, product("U-1", "100", "USD", r#"1,"colour":"red""#), 422, "unknown_field"),
        ("/api/products", c, product("U-2", r#"100,"cents":100"#, "USD", "1"), 422, "unknown_field"),
        ("/api/shows", c, r#"{"title":"x","status":"live"}"#.into(), 422, "unknown_field"),
        ("/api/creators", a, r#"{"name":"x","admin":true}"#.into(), 422, "unknown_field"),
        (view, None, r#"{"display_name":"x","role":"creator"}"#.into(), 422, "unknown_field"),
    ];
    for (path, token, body, status, code) in cases {
        let got = x.json(path, token, &body).await;
        x.problem(format!("POST {path} {body}"), &got, status, code);
    }

    let (show_body, form) = (r#"{"title":"x"}"#, "application/x-www-form-urlencoded");
    for ct in [None, Some("text/plain"), Some(form)] {
        let got = x.send("POST", "/api/shows", c, ct, show_body).await;
        x.problem(format!("type {ct:?}"), &got, 415, "unsupported_media_type");
    }
    let shows = x.show_count().await;
    x.that("one show only", shows == Some(1), format!("{shows:?}"));
    x.catalog(&token, &[("GOOD-1", 5)]).await;
    x.finish("json_bodies_are_checked");
}

/// Every route that documents an object body answers anything else (an array, a string, a
/// number, `true`, `null`) with 422 `invalid_body`, and changes nothing. serde would read a
/// struct from an array of its fields in order, so `["Sneaky", null, null]` made a show.
async fn bodies_must_be_json_objects(backend: Backend) {
    let mut x = Ctx::new(backend).await;
    let token = x.token.clone();
    let c = Some(token.as_str());
    let show = x.srv.show(&token, "Objects only").await;
    let product = x.srv.product(&token, "OBJ-1", 1000, 5).await;
    let lineup = format!("/api/shows/{show}/lineup");
    let got = x.json(&lineup, c, json!({ "product_id": product })).await;
    x.status("lineup", &got, 200);
    let (_, viewer) = x.srv.viewer(&show, "Vi").await;
    let v = Some(viewer.as_str());
    let a = Some(ADMIN);

    // Each route with a body that would pass as an array of its fields, then the other kinds.
    #[rustfmt::skip]
    let routes: Vec<(&str, String, Option<&str>, String)> = vec![
        ("POST", "/api/creators".into(), a, r#"["Sneaky"]"#.into()),
        ("POST", "/api/shows".into(), c, r#"["Sneaky", null, null]"#.into()),
        ("POST", "/api/products".into(), c, r#"["SN-1", "Sneaky", {"amount": 1, "currency": "USD"}, 1, null, null]"#.into()),
        ("POST", format!("/api/shows/{show}/invites"), c, r#"["moderator", null]"#.into()),
        ("POST", format!("/api/shows/{show}/viewers"), None, r#"["Sneaky"]"#.into()),
        ("POST", lineup.clone(), c, format!(r#"["{product}"]"#)),
        ("POST", format!("/api/shows/{show}/pins"), c, format!(r#"["{product}", null]"#)),
        ("PUT", format!("/api/shows/{show}/cart/items/{product}"), v, "[1]".into()),
        ("POST", format!("/api/shows/{show}/moderation"), c, r#"["mod.clear"]"#.into()),
        ("POST", format!("/api/shows/{show}/program"), c, "[null, null]".into()),
        ("PUT", "/api/webhook".into(), c, r#"["http://127.0.0.1:9/hook"]"#.into()),
        ("POST", "/api/qr".into(), None, r#"["sneaky"]"#.into()),
    ];
    for (method, path, token, sneaky) in &routes {
        for body in [sneaky.as_str(), "[]", r#""text""#, "42", "true", "null"] {
            let got = x.send(method, path, *token, JSON, body.to_string()).await;
            x.problem(format!("{method} {path} {body}"), &got, 422, "invalid_body");
        }
    }
    // Checkout's body is optional, but when there is one it is an object too.
    let checkout = format!("/api/shows/{show}/checkout");
    for (n, body) in ["[]", "[true]", "42"].iter().enumerate() {
        let resp = x
            .srv
            .http
            .post(x.srv.url(&checkout))
            .bearer_auth(&viewer)
            .header("content-type", "application/json")
            .header("idempotency-key", format!("objects-{n}"))
            .body(body.to_string())
            .send()
            .await
            .expect("request sent");
        let ct = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let (status, value) = TestServer::finish(resp).await;
        x.problem(
            format!("checkout {body}"),
            &(status, ct, value),
            422,
            "invalid_body",
        );
    }

    let shows = x.show_count().await;
    x.that("one show only", shows == Some(1), format!("{shows:?}"));
    x.catalog(&token, &[("OBJ-1", 5)]).await;
    x.finish("bodies_must_be_json_objects");
}

async fn body_limits_hold_with_or_without_a_length(backend: Backend) {
    let mut x = Ctx::new(backend).await;
    let (addr, token) = (x.srv.addr, x.token.clone());
    let c = Some(token.as_str());
    // ~1 MiB of valid JSON: a product with a huge description.
    let pad = "x".repeat(1 << 20);
    let huge = product("HUGE-1", "1", "USD", &format!(r#"1,"description":"{pad}""#));
    let head = |framing: String| {
        format!(
            "POST /api/products HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: application/json\r\nConnection: close\r\n{framing}\r\n"
        )
    };
    // Sent raw: the server answers 413 before the body and closes, and an HTTP client library
    // that is still writing the body may report that as a failed send instead of reading the
    // answer (reqwest did, now and then).
    let h = head(format!("Content-Length: {}\r\n", huge.len()));
    let got = raw_http(&x.srv, h, huge.as_bytes(), false).await;
    x.problem("1 MiB, Content-Length", &got, 413, "payload_too_large");

    let chunked = |body: &str| {
        let framing = format!("Transfer-Encoding: chunked\r\n\r\n{:x}", body.len());
        (head(framing), format!("{body}\r\n0\r\n\r\n"))
    };
    // Chunked, so no Content-Length at all: the limit still applies...
    let (h, b) = chunked(&huge);
    let got = raw_http(&x.srv, h, b.as_bytes(), false).await;
    x.problem("1 MiB chunked body", &got, 413, "payload_too_large");
    // ... and a small chunked body is read normally.
    let (h, b) = chunked(&product("CHUNKED-1", "100", "USD", "2"));
    let got = raw_http(&x.srv, h, b.as_bytes(), false).await;
    x.status("small chunked body", &got, 201);
    // A Content-Length that understates the body: only that many bytes are the body.
    let h = head("Content-Length: 64\r\n".into());
    let got = raw_http(&x.srv, h, huge.as_bytes(), false).await;
    x.problem("1 MiB, Content-Length 64", &got, 400, "invalid_json");
    // A Content-Length that overstates the body, then end of input: refused, quickly.
    let started = std::time::Instant::now();
    let h = head("Content-Length: 1000\r\n".into());
    let got = raw_http(&x.srv, h, b"{\"sku\":", true).await;
    x.problem("7 bytes, Content-Length 1000", &got, 400, "invalid_body");
    let elapsed = started.elapsed();
    let quick = elapsed < Duration::from_secs(5);
    x.that("refused at once", quick, format!("{elapsed:?}"));
    // A Content-Length over the route's limit is refused before the body (tests/connections.rs).
    let h = head("Content-Length: 100000\r\n".into());
    let got = raw_http(&x.srv, h, b"{\"sku\":", true).await;
    x.problem(
        "7 bytes, Content-Length 100000",
        &got,
        413,
        "payload_too_large",
    );

    // A body well under the limit is fine: the limit is about size, not about content.
    let text = "y ".repeat(4000);
    let text = format!(r#"3,"description":"{text}""#);
    let near = product("NEAR-1", "1", "USD", &text);
    let got = x.json("/api/products", c, near).await;
    x.status("an 8 KB body", &got, 201);
    x.catalog(&token, &[("CHUNKED-1", 2), ("NEAR-1", 3)]).await;

    // The import route has its own limit.
    let mut config = test_config(backend);
    config.max_import_bytes = 4096;
    let mut y = Ctx::on(TestServer::start_with(config).await).await;
    let rows = "h,T,S,1.00\n".repeat(1000);
    let csv = format!("Handle,Title,Variant SKU,Variant Price\n{rows}");
    let token2 = y.token.clone();
    let import = "/api/products/import";
    let got = y.send("POST", import, Some(&token2), CSV, csv).await;
    y.problem("CSV over its limit", &got, 413, "payload_too_large");
    y.catalog(&token2, &[]).await;
    x.failures.append(&mut y.failures);
    x.finish("body_limits_hold_with_or_without_a_length");
}

async fn field_rules_are_enforced(backend: Backend) {
    let mut x = Ctx::new(backend).await;
    let (_, other) = x.srv.creator("Noa").await;
    let show = x.srv.show(&x.token, "Rules").await;
    let token = x.token.clone();
    let c = Some(token.as_str());
    let ok = product("OK-1", "500", "EUR", "7");
    let got = x.json("/api/products", c, ok).await;
    x.status("a valid product", &got, 201);

    let titled = |title: &str| {
        let body = product("E-1", "100", "USD", "1");
        body.replace(r#""title":"Product E-1""#, &format!(r#""title":"{title}""#))
    };
    #[rustfmt::skip]
    let cases = [
        (product("P-1", "-1", "USD", "1"), "invalid_price"),
        (product("P-2", "1000000000001", "USD", "1"), "invalid_price"),
        (product("C-1", "100", "XYZ", "1"), "unknown_currency"),
        (product("C-2", "100", "", "1"), "unknown_currency"),
        (product("S-1", "100", "USD", "-1"), "invalid_stock"),
        (product("S-2", "100", "USD", "1000000001"), "invalid_stock"),
        (titled(""), "invalid_title"),
        (titled("   "), "invalid_title"),
        (titled("a\\u0007b"), "invalid_title"),
        (product("", "100", "USD", "1"), "invalid_sku"),
    ];
    for (body, code) in cases {
        let got = x.json("/api/products", c, &body).await;
        x.problem(format!("product {body}"), &got, 422, code);
    }
    for title in ["", "   ", "bad\u{202E}title"] {
        let got = x.json("/api/shows", c, json!({ "title": title })).await;
        x.problem(format!("show title {title:?}"), &got, 422, "invalid_title");
    }

    let join = format!("/api/shows/{show}/viewers");
    let long = "a".repeat(33);
    let bad_names = ["", "   ", &long, "Dana\u{202E}", "Da\nna", "nul\u{0}"];
    for name in bad_names {
        let got = x.json(&join, None, json!({ "display_name": name })).await;
        x.problem(format!("name {name:?}"), &got, 422, "invalid_display_name");
    }
    // Names that show nothing, break lines or stack marks (issue 13, item 6).
    #[rustfmt::skip]
    let unseen = [
        "\u{200B}", "\u{2060}\u{FEFF}", "\u{3164}", "\u{E0041}\u{E007F}", "\u{00AD}",
        "\u{FE0F}", " \u{200B} \u{3164} ", "Da\u{2028}na", "Da\u{2029}na",
        "Z\u{301}\u{302}\u{303}\u{304}\u{305}algo",
    ];
    for name in unseen {
        let got = x.json(&join, None, json!({ "display_name": name })).await;
        x.problem(format!("name {name:?}"), &got, 422, "invalid_display_name");
    }
    // Names that read as the host's (the creator here is "Jo") or as the staff's.
    #[rustfmt::skip]
    let impostors = [
        "Creator", "MODERATOR", "\u{FF4D}\u{FF4F}\u{FF44}\u{FF45}\u{FF52}\u{FF41}\u{FF54}\u{FF4F}\u{FF52}",
        "H o s t", "Jo", "jo", "\u{FF2A}\u{FF2F}", "J\u{200B}o", "J0", "Jo!",
    ];
    for name in impostors {
        let got = x.json(&join, None, json!({ "display_name": name })).await;
        x.problem(format!("name {name:?}"), &got, 422, "reserved_display_name");
    }
    let name = |n: &str| json!({ "display_name": n });
    let got = x.json(&join, None, name("Joanna \u{2764}\u{FE0F}")).await;
    x.status("a name that only starts like the host's", &got, 201);
    let got = x.json(&join, None, name(&"é".repeat(32))).await;
    x.status("a 32-character display name", &got, 201);
    let got = x.json(&join, None, name("  Dana  ")).await;
    x.status("a display name with spaces around", &got, 201);
    if got.0 == 201 {
        let (status, me) = x.srv.get("/api/me", Some(&s(&got.2["token"]))).await;
        let dana = status == 200 && me["name"] == "Dana";
        x.that("/api/me of Dana", dana, &me);
    }
    let blank = r#"{"name":" "}"#;
    let got = x.json("/api/creators", Some(ADMIN), blank).await;
    x.problem("a blank creator name", &got, 422, "invalid_name");

    // SKUs are unique per catalog: a duplicate changes nothing, another creator may reuse it.
    let first = product("DUP-1", "100", "USD", "3");
    let got = x.json("/api/products", c, first).await;
    x.status("the first DUP-1", &got, 201);
    let again = product("DUP-1", "999", "USD", "99");
    let got = x.json("/api/products", c, &again).await;
    x.problem("a duplicate SKU", &got, 409, "duplicate_sku");
    let got = x.json("/api/products", Some(&other), &again).await;
    x.status("the same SKU for another creator", &got, 201);

    x.catalog(&token, &[("OK-1", 7), ("DUP-1", 3)]).await;
    x.catalog(&other, &[("DUP-1", 99)]).await;
    x.finish("field_rules_are_enforced");
}

async fn illegal_status_changes_conflict(backend: Backend) {
    let mut x = Ctx::new(backend).await;
    let token = x.token.clone();
    let show = x.srv.show(&token, "Lifecycle").await;
    #[rustfmt::skip]
    let steps = [
        ("end a scheduled show", "end", 409, "illegal_transition", "scheduled"),
        ("start it", "start", 200, "", "live"),
        ("start it twice", "start", 409, "illegal_transition", "live"),
        ("end it", "end", 200, "", "ended"),
        ("start an ended show", "start", 409, "illegal_transition", "ended"),
        ("end it twice", "end", 409, "illegal_transition", "ended"),
    ];
    for (what, action, status, code, after) in steps {
        let path = format!("/api/shows/{show}/{action}");
        let got = x.send("POST", &path, Some(&token), None, "").await;
        if status == 200 {
            x.status(what, &got, 200);
            x.that(format!("{what}: answer"), got.2["status"] == after, &got.2);
        } else {
            x.problem(what, &got, status, code);
        }
        let (_, now) = x.srv.get(&format!("/api/shows/{show}"), None).await;
        let same = now["status"] == after;
        x.that(format!("{what}: status after"), same, &now);
    }
    x.finish("illegal_status_changes_conflict");
}

async fn unknown_ids_routes_and_methods(backend: Backend) {
    let mut x = Ctx::new(backend).await;
    let (_, other) = x.srv.creator("Quinn").await;
    let token = x.token.clone();
    let c = Some(token.as_str());
    let show = x.srv.show(&token, "Ids").await;
    let mine = x.srv.product(&token, "MINE-1", 1000, 4).await;
    let theirs = x.srv.product(&other, "THEIRS-1", 1000, 4).await;
    let unknown = "0190a6c4-5b2e-7000-8000-0000deadbeef";
    #[rustfmt::skip]
    let cases = [
        ("GET", "/api/shows/not-a-uuid".to_string(), 404, "not_found"),
        ("GET", format!("/api/shows/{unknown}"), 404, "show_not_found"),
        ("GET", format!("/api/shows/{unknown}/lineup"), 404, "show_not_found"),
        ("POST", "/api/shows/12345/start".to_string(), 404, "not_found"),
        ("POST", format!("/api/shows/{unknown}/start"), 404, "show_not_found"),
        ("GET", "/api/products/not-a-uuid".to_string(), 404, "not_found"),
        ("GET", format!("/api/products/{unknown}"), 404, "product_not_found"),
        ("GET", "/api/nothing-here".to_string(), 404, "not_found"),
        ("GET", format!("/api/shows/{show}/nothing"), 404, "not_found"),
        ("POST", "/nope".to_string(), 404, "not_found"),
        ("DELETE", "/api/shows".to_string(), 405, "method_not_allowed"),
        ("PUT", format!("/api/shows/{show}"), 405, "method_not_allowed"),
        ("PUT", format!("/api/products/{mine}"), 405, "method_not_allowed"),
        ("GET", format!("/api/shows/{show}/start"), 405, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        let got = x.send(method, &path, c, None, "").await;
        x.problem(format!("{method} {path}"), &got, status, code);
    }
    let path = format!("/api/shows/{unknown}/viewers");
    let got = x.json(&path, None, json!({ "display_name": "V" })).await;
    x.problem("joining an unknown show", &got, 404, "show_not_found");

    let lineup = format!("/api/shows/{show}/lineup");
    let got = x.json(&lineup, c, json!({ "product_id": mine })).await;
    x.status("adding my product to the lineup", &got, 200);
    for id in [unknown, theirs.as_str()] {
        let got = x.json(&lineup, c, json!({ "product_id": id })).await;
        x.problem(format!("lineup {id}"), &got, 404, "product_not_found");
    }
    let (_, body) = x.srv.get(&lineup, None).await;
    let products = body["products"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&Value> = products.iter().map(|p| &p["id"]).collect();
    x.that("the lineup is unchanged", ids == [&json!(mine)], &body);
    x.catalog(&token, &[("MINE-1", 4)]).await;
    x.finish("unknown_ids_routes_and_methods");
}

/// (what, path, content type, body, status, code) of one refused upload.
type UploadCase<'a> = (&'a str, String, Option<&'a str>, Vec<u8>, u16, &'a str);

async fn csv_import_refuses_bad_uploads(backend: Backend) {
    let mut x = Ctx::new(backend).await;
    let token = x.token.clone();
    let c = Some(token.as_str());
    let import = "/api/products/import";
    let header = "Handle,Title,Variant SKU,Variant Price,Variant Inventory Qty";
    let csv_text = format!("{header}\nmug,Mug,CSV-1,12.00,6\n");
    let csv = csv_text.as_str();
    let binary = std::fs::read("tests/fixtures/not-a-csv.bin").expect("the binary fixture");
    let bad_utf8 = vec![0xEF, 0xBB, 0xBF, 0xFF, 0xFE, b'\n'];
    #[rustfmt::skip]
    let cases: Vec<UploadCase> = vec![
        ("a binary file", import.into(), CSV, binary, 400, "invalid_csv"),
        ("a CSV without Shopify columns", import.into(), CSV, b"name,price\nx,1\n".to_vec(), 400, "invalid_csv"),
        ("invalid UTF-8 after a BOM", import.into(), CSV, bad_utf8, 400, "invalid_csv"),
        ("CSV sent as JSON", import.into(), JSON, csv.into(), 415, "unsupported_media_type"),
        ("CSV sent as PNG", import.into(), Some("image/png"), csv.into(), 415, "unsupported_media_type"),
        ("CSV with no content type", import.into(), None, csv.into(), 415, "unsupported_media_type"),
        ("?currency=XYZ", format!("{import}?currency=XYZ"), CSV, csv.into(), 422, "unknown_currency"),
        ("an unknown query parameter", format!("{import}?colour=red"), CSV, csv.into(), 400, "invalid_query"),
    ];
    for (what, path, ct, body, status, code) in cases {
        let got = x.send("POST", &path, c, ct, body).await;
        x.problem(what, &got, status, code);
    }
    x.catalog(&token, &[]).await;

    let path = format!("{import}?currency=eur");
    let ct = Some("text/csv; charset=utf-8");
    let got = x.send("POST", &path, c, ct, csv_text.clone()).await;
    let created = got.2["created"].as_array().map(Vec::len);
    x.that("a valid import", got.0 == 200 && created == Some(1), &got.2);
    x.catalog(&token, &[("CSV-1", 6)]).await;
    x.finish("csv_import_refuses_bad_uploads");
}

/// `--max-products-per-creator`: creating beyond it is 409 `product_quota`; an import reports
/// the new SKUs beyond it as rejected rows and still updates existing ones; concurrent creates
/// cannot overshoot; other creators are not affected.
async fn product_quota_holds_on_create_and_import(backend: Backend) {
    let mut config = test_config(backend);
    config.max_products_per_creator = 3;
    let mut x = Ctx::on(TestServer::start_with(config).await).await;
    let token = x.token.clone();
    let c = Some(token.as_str());
    for sku in ["Q-1", "Q-2"] {
        let got = x
            .json("/api/products", c, product(sku, "100", "USD", "1"))
            .await;
        x.status(format!("product {sku} within the quota"), &got, 201);
    }
    let header = "Handle,Title,Variant SKU,Variant Price,Variant Inventory Qty";
    let csv = format!(
        "{header}
q1,Q one,Q-1,1.00,9
q3,Q three,Q-3,1.00,3
q4,Q four,Q-4,1.00,4
q5,Q five,Q-5,1.00,5
"
    );
    let got = x.send("POST", "/api/products/import", c, CSV, csv).await;
    let lines = |key: &str| -> Vec<u64> {
        got.2[key]
            .as_array()
            .map(|rows| rows.iter().filter_map(|r| r["line"].as_u64()).collect())
            .unwrap_or_default()
    };
    let (created, updated, rejected) = (lines("created"), lines("updated"), lines("rejected"));
    let reasons_name_the_quota = got.2["rejected"].as_array().is_some_and(|rows| {
        rows.iter()
            .all(|r| s(&r["reason"]).contains("at most 3 products"))
    });
    let report_ok = got.0 == 200
        && updated == [2]
        && created == [3]
        && rejected == [4, 5]
        && reasons_name_the_quota;
    x.that("an import that crosses the quota", report_ok, &got.2);
    let got = x
        .json("/api/products", c, product("Q-6", "100", "USD", "1"))
        .await;
    x.problem("a product beyond the quota", &got, 409, "product_quota");
    // A duplicate SKU is still named as such at the quota.
    let got = x
        .json("/api/products", c, product("Q-1", "100", "USD", "1"))
        .await;
    x.problem("a duplicate SKU at the quota", &got, 409, "duplicate_sku");
    x.catalog(&token, &[("Q-1", 9), ("Q-2", 1), ("Q-3", 3)])
        .await;

    // Concurrent creates by a fresh creator: exactly the quota gets in.
    let (_, other) = x.srv.creator("Noa").await;
    let o = Some(other.as_str());
    let bodies: Vec<String> = (0..10)
        .map(|i| product(&format!("N-{i}"), "100", "USD", "1"))
        .collect();
    let answers =
        futures::future::join_all(bodies.iter().map(|b| x.json("/api/products", o, b))).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.0).collect();
    let made = statuses.iter().filter(|st| **st == 201).count();
    let refused = answers
        .iter()
        .filter(|a| a.0 == 409 && a.2["code"] == "product_quota")
        .count();
    x.that(
        "ten concurrent creates with a quota of 3",
        made == 3 && refused == 7,
        format!("{statuses:?}"),
    );
    x.finish("product_quota_holds_on_create_and_import");
}

/// xorshift64*: a fixed-seed generator, so a failing input reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Values that are never valid where a required field goes.
#[rustfmt::skip]
const WEIRD: &[&str] = &[
    "1e400", "-1e400", "99999999999999999999", "-99999999999999999999", "1.5", "NaN", "Infinity",
    "-Infinity", "null", "true", "[]", "{}", "0x10", "+1", "01", ".5", "1e", "--1", "\"\"",
    "\"\\u0000\"", "\"\\u202e\"", "\"\\ud800\"", "[[[[[[[[[[]]]]]]]]]]",
];

/// JSON-ish tokens for soup; none of them is a real field name, so soup is never valid.
#[rustfmt::skip]
const SOUP: &[&str] = &[
    "{", "}", "[", "]", ",", ":", "\"a\"", "\"\u{202E}\"", "1", "-0", "1e400", "null", "true",
    "\"\\ud83d\"", "\"\\", "\u{0}", "😀", "\u{FEFF}", " ",
];

/// One hostile body for a route whose valid body is `template` with required `fields`.
fn hostile(rng: &mut Rng, i: usize, template: &Value, fields: &[&str]) -> Vec<u8> {
    let valid = template.to_string();
    match i % 6 {
        // Random bytes.
        0 => (0..rng.below(256)).map(|_| rng.next() as u8).collect(),
        // Truncated valid JSON (a strict prefix of an object is never valid).
        1 => valid.as_bytes()[..rng.below(valid.len())].to_vec(),
        // Deep nesting.
        2 => {
            let depth = [100, 129, 1000, 10_000][rng.below(4)];
            let mut text = rng.pick(&["[", "{\"a\":"]).repeat(depth);
            if rng.below(2) == 0 {
                text.push_str(&"]".repeat(depth));
            }
            text.into_bytes()
        }
        // A huge, non-finite, malformed or mistyped value in a required field.
        3 => {
            let mut v = template.clone();
            let field = rng.pick(fields);
            let slot = match field.split_once('.') {
                Some((a, b)) => &mut v[a][b],
                None => &mut v[field],
            };
            *slot = json!("@@WEIRD@@");
            let weird = rng.pick(WEIRD);
            v.to_string().replace("\"@@WEIRD@@\"", weird).into_bytes()
        }
        // A valid body plus a field named with unicode garbage.
        4 => {
            let random_char = |r: &mut Rng| char::from_u32(r.next() as u32 % 0x11_0000);
            let len = 1 + rng.below(8);
            let key: String = (0..len).filter_map(|_| random_char(rng)).collect();
            let mut v = template.clone();
            v[key] = json!(1);
            v.to_string().into_bytes()
        }
        // Token soup.
        _ => {
            let len = 1 + rng.below(40);
            (0..len).map(|_| rng.pick(SOUP)).collect::<String>().into()
        }
    }
}

async fn fuzzed_json_never_breaks_the_server(backend: Backend) {
    let mut x = Ctx::new(backend).await;
    let token = x.token.clone();
    let (c, a) = (Some(token.as_str()), Some(ADMIN));
    let show = x.srv.show(&token, "Fuzz").await;
    let product_id = x.srv.product(&token, "FUZZ-1", 700, 9).await;
    let lineup = format!("/api/shows/{show}/lineup");
    let add = json!({ "product_id": &product_id });
    let got = x.json(&lineup, c, add).await;
    assert_eq!(got.0, 200, "lineup add: {}", got.2);
    let p: Value = serde_json::from_str(&product("FUZZ-2", "100", "USD", "1")).expect("json");
    let p_fields = ["sku", "title", "price", "stock", "price.amount"];
    let p_fields = [&p_fields[..], &["price.currency"]].concat();
    #[rustfmt::skip]
    let routes: Vec<(String, Option<&str>, Value, &[&str])> = vec![
        ("/api/creators".into(), a, json!({ "name": "F" }), &["name"]),
        ("/api/shows".into(), c, json!({ "title": "F" }), &["title"]),
        ("/api/products".into(), c, p, &p_fields),
        (format!("/api/shows/{show}/invites"), c, json!({ "role": "camera" }), &["role"]),
        (format!("/api/shows/{show}/viewers"), None, json!({ "display_name": "F" }), &["display_name"]),
        (lineup.clone(), c, json!({ "product_id": product_id }), &["product_id"]),
    ];
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut failures = Vec::new();
    let mut check = |what: String, got: Answer| {
        let problem = got.1.starts_with("application/problem+json")
            && got.2["code"].is_string()
            && got.2["status"] == got.0;
        if !(400..500).contains(&got.0) || !problem {
            failures.push(format!(
                "{what}: expected a 4xx problem+json, got {} ({}) {}",
                got.0, got.1, got.2
            ));
        }
    };
    for (path, token, template, fields) in &routes {
        for i in 0..300 {
            let input = hostile(&mut rng, i, template, fields);
            let shown = String::from_utf8_lossy(&input[..input.len().min(160)]).to_string();
            let got = x.send("POST", path, *token, JSON, input).await;
            check(format!("POST {path} #{i} {shown:?}"), got);
        }
    }
    for i in 0..50 {
        let input: Vec<u8> = (0..rng.below(2048)).map(|_| rng.next() as u8).collect();
        let got = x.send("POST", "/api/products/import", c, CSV, input).await;
        check(format!("import of random bytes #{i}"), got);
    }
    x.failures.append(&mut failures);

    let (status, _) = x.srv.get("/healthz", None).await;
    x.that("/healthz after the fuzz", status == 200, status);
    let shows = x.show_count().await;
    x.that("no new show", shows == Some(1), format!("{shows:?}"));
    let (_, body) = x.srv.get(&lineup, None).await;
    let one = body["products"].as_array().map(Vec::len) == Some(1);
    x.that("the lineup is unchanged", one, &body);
    x.catalog(&token, &[("FUZZ-1", 9)]).await;
    x.finish("fuzzed_json_never_breaks_the_server");
}

/// Webhook URLs that point into the server's own network are refused unless the operator
/// allows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_urls_into_private_networks_are_refused() {
    let mut config = test_config(Backend::Memory);
    config.webhook_allow_private = false;
    let srv = TestServer::start_with(config).await;
    let (_, creator) = srv.creator("Hooks").await;
    for url in [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[fd00::1]/hook",
    ] {
        let got = put_json(
            &srv,
            "/api/webhook",
            &creator,
            serde_json::json!({ "url": url }),
        )
        .await;
        assert_problem(&got, 422, "private_address");
    }
    for url in ["ftp://shop.example/hook", "not a url", "https://"] {
        let got = put_json(
            &srv,
            "/api/webhook",
            &creator,
            serde_json::json!({ "url": url }),
        )
        .await;
        assert_problem(&got, 422, "invalid_url");
    }
    let ok = put_json(
        &srv,
        "/api/webhook",
        &creator,
        serde_json::json!({ "url": "https://shop.example/hook" }),
    )
    .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    assert!(ok.1["secret"].as_str().is_some_and(|s| s.len() >= 32));
}

async fn put_json(
    srv: &TestServer,
    path: &str,
    token: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let resp = srv
        .http
        .put(srv.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    TestServer::finish(resp).await
}
