//! What every HTML page sends to keep a browser safe (Content-Security-Policy with
//! `frame-ancestors`, `nosniff`, `Referrer-Policy`), and the media test pages that only a node
//! told `--serve-test-pages` serves. Whether the policy lets the pages work is checked by the
//! browser tests: tests/browser/lib.mjs fails any scenario whose pages the policy refused
//! anything.

mod common;

use common::server::{Backend, TestServer, test_config};

/// The directives of a policy, by name.
fn directives(csp: &str) -> std::collections::HashMap<String, Vec<String>> {
    csp.split(';')
        .filter_map(|d| {
            let mut words = d.split_whitespace();
            let name = words.next()?.to_string();
            Some((name, words.map(str::to_string).collect()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_sends_the_security_headers() {
    let srv = TestServer::start(Backend::Memory).await;
    let (_, creator) = srv.creator("Pat").await;
    let show = srv.show(&creator, "Headers").await;
    let camera = srv.invite(&creator, &show, "camera").await;
    for path in [
        "/".to_string(),
        format!("/s/{show}"),
        format!("/studio/{show}"),
        format!("/moderate/{show}"),
        format!("/camera/{camera}"),
        "/signin".to_string(),
        "/admin".to_string(),
        "/dashboard".to_string(),
    ] {
        let resp = srv.http.get(srv.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers();
        let header = |name: &str| {
            h.get(name)
                .unwrap_or_else(|| panic!("{path}: no {name}"))
                .to_str()
                .unwrap()
                .to_string()
        };
        let csp = directives(&header("content-security-policy"));
        assert_eq!(csp["default-src"], ["'none'"], "{path}: {csp:?}");
        assert_eq!(csp["script-src"], ["'self'"], "{path}: no inline script");
        assert_eq!(csp["style-src"], ["'self'"], "{path}: no inline style");
        assert_eq!(csp["frame-ancestors"], ["'none'"], "{path}");
        assert_eq!(csp["object-src"], ["'none'"], "{path}");
        assert_eq!(csp["base-uri"], ["'none'"], "{path}");
        for source in ["'self'", "blob:", "mediastream:"] {
            assert!(
                csp["media-src"].iter().any(|s| s == source),
                "{path}: {csp:?}"
            );
        }
        // The live room's WebSocket on this very host, and nothing else besides 'self'.
        let host = srv.addr.to_string();
        let mut connect = csp["connect-src"].clone();
        connect.sort();
        let mut want = vec![
            "'self'".to_string(),
            format!("ws://{host}"),
            format!("wss://{host}"),
        ];
        want.sort();
        assert_eq!(connect, want, "{path}");
        assert!(
            !csp.values().flatten().any(|s| s.contains("unsafe")),
            "{path}: {csp:?}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(header("x-frame-options"), "DENY", "{path}");
    }
    // A Host header cannot smuggle a directive into the policy.
    let resp = srv
        .http
        .get(srv.url("/"))
        .header("host", "evil.example; script-src *")
        .send()
        .await
        .unwrap();
    if let Some(csp) = resp.headers().get("content-security-policy") {
        let csp = directives(csp.to_str().unwrap());
        assert_eq!(csp["script-src"], ["'self'"], "{csp:?}");
        assert!(
            !csp["connect-src"].iter().any(|s| s.contains("evil")),
            "{csp:?}"
        );
    }
    // Static files are never sniffed into something else.
    let resp = srv
        .http
        .get(srv.url("/static/js/api.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_pages_are_served_only_when_asked_for() {
    let pages = [
        "/static/test/whip-canvas.html",
        "/static/test/whep-player.html",
        "/static/test/",
        "/static/test",
    ];
    let srv = TestServer::start(Backend::Memory).await;
    for path in pages {
        let resp = srv.http.get(srv.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path} on a production node");
    }
    srv.stop().await;

    let mut config = test_config(Backend::Memory);
    config.serve_test_pages = true;
    let srv = TestServer::start_with(config).await;
    for path in &pages[..2] {
        let resp = srv.http.get(srv.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path} with --serve-test-pages");
    }
    srv.stop().await;
}

/// hls.js is served by livesale itself (no CDN), vendored in web/vendor/hls/ with its licence:
/// the viewer page names it with its version, and the file is cached for a year (a new
/// version is a new URL); a missing vendored file is a plain 404, not cached. The page also
/// carries `--viewer-playback`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_js_is_vendored_and_cached_for_a_year() {
    let mut config = test_config(Backend::Memory);
    config.viewer_playback = livesale::config::ViewerPlayback::Hls;
    let srv = TestServer::start_with(config).await;
    let (_, creator) = srv.creator("Pat").await;
    let show = srv.show(&creator, "Vendored").await;
    let page = srv
        .http
        .get(srv.url(&format!("/s/{show}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let version = std::fs::read_to_string(common::browser::repo().join("web/vendor/hls/VERSION"))
        .expect("web/vendor/hls/VERSION (scripts/vendor-hls.sh writes it)");
    let src = format!("/static/vendor/hls/hls.mjs?v={}", version.trim());
    assert!(page.contains(&format!("data-hls-src=\"{src}\"")), "{page}");
    assert!(page.contains("data-playback=\"hls\""), "{page}");

    let resp = srv.http.get(srv.url(&src)).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{src}");
    assert_eq!(
        resp.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let kind = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        kind.contains("javascript"),
        "a module script needs a JS type: {kind}"
    );
    let body = resp.text().await.unwrap();
    assert!(body.contains("lowLatencyMode"), "not hls.js");
    let licence = srv
        .http
        .get(srv.url("/static/vendor/hls/LICENSE"))
        .send()
        .await
        .unwrap();
    assert_eq!(licence.status(), 200);
    assert!(licence.text().await.unwrap().contains("Apache License"));
    let missing = srv
        .http
        .get(srv.url("/static/vendor/hls/nothing.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(missing.headers().get("cache-control").is_none());
    srv.stop().await;
}
