//! The studio (`/studio/{show}`) and the phone camera page (`/camera/{invite}`) in Chromium
//! with its fake camera (tests/browser/studio.mjs): go live, this computer's camera, a phone
//! camera by link and QR code, Take with the phone's ON AIR tally, pins and deals with their
//! error messages, orders and revenue from a purchase, chat with inline deletion, screenshots
//! at phone and desktop sizes, and ending the show after a confirmation. And the order list
//! with refunds (scenario `orders`), at phone size.

use std::time::Duration;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};

const RUN_TIMEOUT: Duration = Duration::from_secs(240);
/// Take → the phone's tally says ON AIR (and back to Standby) within this bound.
const TALLY_BOUND_MS: u64 = 5_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_runs_a_show_with_a_phone_camera() {
    require_browser_harness();
    let fx = Fixture::new(false).await;
    let mut args = fx.args();
    args.extend([
        "--tally-bound-ms".into(),
        TALLY_BOUND_MS.to_string(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]);
    let run = run_node("studio.mjs", &args, RUN_TIMEOUT).await;
    print_log("studio and phone camera", &run);
    run.expect_ok("the studio and the phone camera page in Chromium");
    let r = &run.result;

    assert_eq!(r["went_live"], true, "{r}");
    assert!(
        r["laptop"]["frames_in_1200ms"].as_u64().unwrap_or(0) >= 3,
        "laptop tile: {r}"
    );
    assert!(
        r["phone_tile"]["frames_in_1200ms"].as_u64().unwrap_or(0) >= 3,
        "phone tile preview: {r}"
    );
    for key in ["tally_on_ms", "tally_off_ms"] {
        let ms = r[key].as_u64().unwrap_or(u64::MAX);
        assert!(ms <= TALLY_BOUND_MS, "{key} = {ms} ms: {r}");
    }
    assert_eq!(r["deal"]["price"]["amount"], 1250, "{r}");
    assert!(
        r["deal_validation"].as_str().is_some_and(|m| !m.is_empty()),
        "{r}"
    );
    assert!(
        r["pin_error"]
            .as_str()
            .is_some_and(|m| m.contains("sold out")),
        "{r}"
    );
    assert!(
        r["invite_error"].as_str().is_some_and(|m| !m.is_empty()),
        "{r}"
    );
    assert_eq!(r["deleted"], true, "{r}");
    assert!(r["viewers"].as_u64().unwrap_or(0) >= 3, "{r}");
    let artifacts = r["artifacts"].as_array().expect("artifacts");
    assert_eq!(artifacts.len(), 4, "studio and camera at two sizes: {r}");
    for a in artifacts {
        let path = a.as_str().expect("a path");
        assert!(std::path::Path::new(path).exists(), "{path} is missing");
    }

    // What the server ended up with, independently of the pages.
    let (status, orders) = fx
        .srv
        .get(&format!("/api/shows/{}/orders", fx.show), Some(&fx.creator))
        .await;
    assert_eq!(status, 200, "{orders}");
    assert_eq!(orders["total"]["amount"], 1250, "{orders}");
    let (status, show) = fx.srv.get(&format!("/api/shows/{}", fx.show), None).await;
    assert_eq!(status, 200, "{show}");
    assert_eq!(show["status"], "ended", "{show}");
    println!(
        "studio: tally ON AIR {} ms after Take, off {} ms after taking another camera",
        r["tally_on_ms"], r["tally_off_ms"]
    );
    fx.srv.stop().await;
}

/// The order list at phone size (scenario `orders` of studio.mjs, the built-in test payments):
/// paid orders appear with buyer, items, total and address; a refund through the confirmation
/// dialog turns the row Refunded, brings the stock back and is not offered again; refusals are
/// said in words. The server's own answers are checked here too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_lists_orders_and_refunds_one() {
    require_browser_harness();
    let fx = Fixture::new(false).await;
    let mut args = fx.args();
    args.extend([
        "--scenario".into(),
        "orders".into(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]);
    let run = run_node("studio.mjs", &args, RUN_TIMEOUT).await;
    print_log("studio orders", &run);
    run.expect_ok("the studio's order list and a refund in Chromium");
    let r = &run.result;
    let step = |name: &str| {
        let v = &r["steps"][name];
        assert!(!v.is_null(), "step '{name}' missing from the result: {r}");
        v.clone()
    };
    assert_eq!(
        step("the creator refunds through the dialog")["words"],
        "Refunded",
        "{r}"
    );
    assert_eq!(
        step("the creator refunds through the dialog")["refund"],
        false,
        "{r}"
    );
    let down = step("the payment service down: the refusal in words, nothing refunded");
    assert!(
        down["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot be reached")),
        "{r}"
    );
    let artifacts = r["artifacts"].as_array().expect("artifacts");
    assert_eq!(
        artifacts.len(),
        4,
        "the list and the dialog at two sizes: {r}"
    );
    for a in artifacts {
        let path = a.as_str().expect("a path");
        assert!(std::path::Path::new(path).exists(), "{path} is missing");
    }

    // What the server ended up with, independently of the page: both orders refunded (one
    // from the dialog, one behind the page's back), nothing paid, every unit back in stock.
    let (status, orders) = fx
        .srv
        .get(&format!("/api/shows/{}/orders", fx.show), Some(&fx.creator))
        .await;
    assert_eq!(status, 200, "{orders}");
    let list = orders["orders"].as_array().expect("orders");
    assert_eq!(list.len(), 2, "{orders}");
    assert!(list.iter().all(|o| o["status"] == "refunded"), "{orders}");
    assert_eq!(orders["paid"], 0, "{orders}");
    assert_eq!(orders["total"]["amount"], 0, "{orders}");
    let refunded = r["order"].as_str().expect("the refunded order's id");
    assert!(list.iter().any(|o| o["id"] == refunded), "{orders}");
    for ((id, _), stock) in fx.products.iter().zip([40, 10, 5]) {
        let (status, product) = fx
            .srv
            .get(&format!("/api/products/{id}"), Some(&fx.creator))
            .await;
        assert_eq!(status, 200, "{product}");
        assert_eq!(product["stock"], stock, "{product}");
    }
    let (status, again) = fx
        .srv
        .post(
            &format!("/api/shows/{}/orders/{refunded}/refund", fx.show),
            Some(&fx.creator),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["code"], "order_not_refundable", "{again}");
    fx.srv.stop().await;
}

/// Chapters in the studio (scenario `chapters` of studio.mjs) at phone size: a marker added
/// live with the Marker button, then after the end a chapter renamed and the marker hidden;
/// the server's own listing is checked here too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn studio_adds_a_marker_and_edits_chapters_after_the_end() {
    require_browser_harness();
    let fx = Fixture::new(false).await;
    let mut args = fx.args();
    args.extend([
        "--scenario".into(),
        "chapters".into(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]);
    let run = run_node("studio.mjs", &args, RUN_TIMEOUT).await;
    print_log("studio chapters", &run);
    run.expect_ok("the studio's marker button and chapter list in Chromium");
    let r = &run.result;
    assert_eq!(r["renamed"], "First look at the mug", "{r}");
    let marker = r["marker"].as_str().expect("the marker's id");

    let (status, public) = fx
        .srv
        .get(&format!("/api/shows/{}/chapters", fx.show), None)
        .await;
    assert_eq!(status, 200, "{public}");
    let public = public["chapters"].as_array().expect("chapters").clone();
    assert!(public.iter().all(|c| c["id"] != marker), "{public:?}");
    assert!(
        public
            .iter()
            .any(|c| c["kind"] == "pin" && c["title"] == "First look at the mug"),
        "{public:?}"
    );
    let (status, all) = fx
        .srv
        .get(
            &format!("/api/shows/{}/chapters?all=true", fx.show),
            Some(&fx.creator),
        )
        .await;
    assert_eq!(status, 200, "{all}");
    let hidden = all["chapters"]
        .as_array()
        .expect("chapters")
        .iter()
        .find(|c| c["id"] == marker)
        .cloned()
        .expect("the marker in the creator's list");
    assert_eq!(hidden["hidden"], true, "{hidden}");
    assert_eq!(hidden["kind"], "marker", "{hidden}");
    assert_eq!(hidden["title"], "Big reveal", "{hidden}");
    for a in r["artifacts"].as_array().expect("artifacts") {
        let path = a.as_str().expect("a path");
        assert!(std::path::Path::new(path).exists(), "{path} is missing");
    }
    fx.srv.stop().await;
}
