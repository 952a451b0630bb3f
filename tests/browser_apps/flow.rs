//! The judged scenario: studio → phone camera → take → viewer watches, chats, reacts, buys →
//! numbers and toasts → a moderator deletes a message for everyone (tests/browser/flow.mjs).

use std::time::Duration;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};

const RUN_TIMEOUT: Duration = Duration::from_secs(300);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_show_from_studio_to_purchase_to_moderation() {
    require_browser_harness();
    let fx = Fixture::new(false).await;
    let mut args = fx.args();
    args.push("--deadline-ms".into());
    args.push((RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string());
    let run = run_node("flow.mjs", &args, RUN_TIMEOUT).await;
    print_log("the whole flow", &run);
    run.expect_ok("studio, phone camera, viewers and moderator in Chromium");
    let r = &run.result;
    let steps = r["steps"].as_object().expect("steps");
    for required in [
        "1. go live",
        "1. laptop camera",
        "2. phone camera publishes",
        "3. take the phone camera",
        "4. video plays",
        "4. viewer chats",
        "4. reactions",
        "4. checkout",
        "5. studio numbers",
        "5. purchase toasts",
        "6. delete",
    ] {
        assert!(
            steps.contains_key(required),
            "step '{required}' missing: {r}"
        );
    }
    let frames = r["steps"]["4. video plays"]["frames"].as_u64().unwrap_or(0);
    assert!(
        frames >= 5,
        "the viewer's video presented {frames} frames: {r}"
    );

    // What the server ended up with, independently of the pages.
    let (status, orders) = fx
        .srv
        .get(&format!("/api/shows/{}/orders", fx.show), Some(&fx.creator))
        .await;
    assert_eq!(status, 200, "{orders}");
    assert_eq!(
        orders["orders"].as_array().map(Vec::len),
        Some(1),
        "{orders}"
    );
    assert_eq!(orders["total"]["amount"], 1250, "{orders}");
    println!(
        "flow: tally ON AIR {} ms after Take",
        r["steps"]["3. take the phone camera"]["tally_ms"]
    );
    fx.srv.stop().await;
}
