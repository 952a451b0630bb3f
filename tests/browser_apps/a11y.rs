//! Accessibility of every page (tests/browser/a11y.mjs): axe-core's WCAG 2.0 A/AA and 2.1 AA
//! rules on the home page, the viewer (scheduled, live with a deal and right-to-left chat, cart
//! drawer open, ended), the studio (live with a camera and the camera link; a paid order in its
//! order list and the refund dialog), the phone camera (before start and on air) and the
//! moderator desk (a held message, audit entries, the action dialog), an auction (the viewer's
//! card and max-bid sheet, the studio's auction panel), at phone and desktop
//! sizes; no violation of impact serious or critical may remain.
//! And the viewer page by keyboard alone: Tab reaches the chat, the reactions, add-to-cart and
//! the cart; Enter and Space work them; Esc closes the drawer and the focus returns.

use std::time::Duration;

use crate::Fixture;
use crate::common::browser::{print_log, repo, require_browser_harness, run_node};

const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_the_accessibility_audit_and_the_keyboard() {
    require_browser_harness();
    let axe = repo().join("tests/browser/node_modules/axe-core/axe.min.js");
    assert!(
        axe.exists(),
        "{} is missing: run scripts/test.sh --setup (npm ci in tests/browser)",
        axe.display()
    );
    let fx = Fixture::new(false).await;
    let mut args = fx.args();
    args.push("--deadline-ms".into());
    args.push((RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string());
    let run = run_node("a11y.mjs", &args, RUN_TIMEOUT).await;
    print_log("accessibility audit", &run);
    run.expect_ok("the accessibility audit and the keyboard pass in Chromium");
    let r = &run.result;

    let audited: Vec<&str> = r["audited"]
        .as_array()
        .expect("audited")
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    for page in [
        "viewer-scheduled",
        "studio-live",
        "studio-orders",
        "studio-refund-dialog",
        "home",
        "camera-before-start",
        "camera-on-air",
        "viewer-live",
        "viewer-cart-open",
        "moderate",
        "moderate-dialog",
        "viewer-auction",
        "viewer-max-sheet",
        "studio-auction",
        "viewer-ended",
    ] {
        for size in ["phone", "desktop"] {
            let key = format!("{page}@{size}");
            assert!(
                audited.contains(&key.as_str()),
                "{key} was not audited: {r}"
            );
        }
    }
    let blocking = r["violations"].as_array().expect("violations");
    assert!(
        blocking.is_empty(),
        "serious or critical violations: {blocking:#?}"
    );
    for part in ["chat", "reactions", "add_to_cart", "cart"] {
        assert!(
            r["keyboard"][part].is_object(),
            "keyboard: {part} not checked: {r}"
        );
    }
    assert_eq!(r["keyboard"]["cart"]["focus_returned"], true, "{r}");
    let minor = r["minor"].as_array().map(Vec::len).unwrap_or(0);
    println!(
        "a11y: axe-core {} on {} page states, no serious or critical violations ({minor} minor or moderate)",
        r["axe"],
        audited.len()
    );
    fx.srv.stop().await;
}
