//! The creator's dashboard (`/dashboard`) in Chromium at phone size (tests/browser/dashboard.mjs):
//! a new creator opens the sign-in link the operator got, schedules a show in their own time
//! zone (and finds an ended one under Past with its replay's stats line), imports the sample Shopify CSV through the page (preview, then commit), puts two
//! products in the lineup, invites a moderator, opens the studio and goes live, then finds the
//! order in the orders list, exports it as CSV and refunds it, and uses the settings (name,
//! webhook with a test event, moderators and blocked terms for all shows, signing out
//! everywhere, and signing in again with the passkey added there). The script checks the server's state through the API after each step; this test
//! checks it once more at the end, and that every section passed the accessibility audit, never
//! scrolled sideways at 360 px and left its screenshots (360×740 and 1280×800) in
//! test-artifacts/ (kept by CI with the other pages' pictures).

use std::time::Duration;

use serde_json::json;

use crate::common::browser::{print_log, repo, require_browser_harness, run_node};
use crate::common::server::{ADMIN, s};

const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_creator_runs_a_show_from_the_dashboard_on_a_phone() {
    require_browser_harness();
    let axe = repo().join("tests/browser/node_modules/axe-core/axe.min.js");
    assert!(
        axe.exists(),
        "{} is missing: run scripts/test.sh --setup",
        axe.display()
    );
    let _slot = crate::browser_slot().await;
    // On http://localhost:<port>: a passkey's relying party must be a domain name.
    let srv = crate::accounts::localhost_server().await;
    let base = srv.config.public_url.clone().expect("a public URL");
    let (status, made) = srv
        .post(
            "/api/creators",
            Some(ADMIN),
            json!({ "name": "Maya's Ceramics" }),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let creator = s(&made["token"]);
    let creator_id = s(&made["id"]);
    let signin = made["signin_url"]
        .as_str()
        .map(str::to_string)
        // A server without sign-in links: the dashboard takes the token from its own fragment
        // (the script then reports the sign-in page as missing, which fails below).
        .unwrap_or_else(|| format!("{base}/dashboard#token={creator}"));
    let screens = repo().join("test-artifacts");
    // Only this run's pictures count: those of an earlier run go first.
    if let Ok(dir) = std::fs::read_dir(&screens) {
        for entry in dir.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("dashboard-") || name.starts_with("failed-dashboard-") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let csv = repo().join("docs/samples/shopify-products.csv");
    let args: Vec<String> = vec![
        "--base".into(),
        base,
        "--signin-url".into(),
        signin,
        "--creator-token".into(),
        creator.clone(),
        "--creator-id".into(),
        creator_id.clone(),
        "--csv".into(),
        csv.display().to_string(),
        "--screens".into(),
        screens.display().to_string(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ];
    let run = run_node("dashboard.mjs", &args, RUN_TIMEOUT).await;
    print_log("dashboard", &run);
    run.expect_ok("the dashboard journey at phone size in Chromium");
    let r = &run.result;

    let missing = r["missing"].as_array().expect("missing");
    assert!(
        missing.is_empty(),
        "routes the dashboard needs are not on this server, so their steps were skipped: {missing:?}"
    );
    assert!(
        r["violations"].as_array().expect("violations").is_empty(),
        "serious or critical accessibility violations: {:#?}",
        r["violations"]
    );
    assert!(
        r["overflow"].as_array().expect("overflow").is_empty(),
        "pages scrolling sideways at 360 px: {:#?}",
        r["overflow"]
    );
    let audited: Vec<&str> = r["audited"]
        .as_array()
        .expect("audited")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    for page in [
        "signed-out",
        "shows",
        "shows-new",
        "show",
        "shows-past",
        "show-cancel-dialog",
        "catalog",
        "catalog-preview",
        "catalog-preview-rejected",
        "catalog-edit",
        "orders",
        "orders-refund-dialog",
        "settings",
        "settings-webhook",
        "settings-moderators",
        "settings-passkey",
    ] {
        for size in ["phone", "desktop"] {
            let key = format!("{page}@{size}");
            assert!(audited.contains(&key.as_str()), "{key} was not audited");
        }
        for size in ["360x740", "1280x800"] {
            let shot = screens.join(format!("dashboard-{page}-{size}.png"));
            assert!(shot.exists(), "{} is missing", shot.display());
        }
    }

    // The server's state at the end, read independently of the page.
    let show = r["show"].as_str().expect("the show's id").to_string();
    let (status, body) = srv.get(&format!("/api/shows/{show}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "live", "{body}");
    assert_eq!(body["title"], "Spring pottery drop", "{body}");
    assert_eq!(body["creator_id"], creator_id.as_str(), "{body}");
    let (_, lineup) = srv.get(&format!("/api/shows/{show}/lineup"), None).await;
    assert_eq!(
        lineup["products"].as_array().map(Vec::len),
        Some(2),
        "{lineup}"
    );
    let imported = &r["steps"]["import the sample CSV: commit"];
    let created = imported["created"].as_u64().expect("created");
    assert!(created >= 5, "{imported}");
    // The token was signed out everywhere: only a fresh one could read the catalog now.
    let (status, _) = srv.get("/api/products", Some(&creator)).await;
    assert_eq!(status, 401, "the signed-out token still works");
    assert_eq!(
        r["steps"]["edit and cancel a second show"]["replay_line"],
        "Replay: 0 views · 0:00 watched · 0 sold (live 0)",
        "the ended show's line under Past: {r}"
    );
    assert_eq!(
        r["steps"]["refund the order"]["status"], "refunded",
        "the refund, as the server answered it before signing out: {r}"
    );
    println!(
        "dashboard: {} page states audited, {} screenshots, {created} products imported",
        audited.len(),
        r["screenshots"].as_array().map(Vec::len).unwrap_or(0)
    );
    srv.stop().await;
}
