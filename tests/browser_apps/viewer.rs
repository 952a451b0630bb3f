//! The viewer page (`/s/{show}`) in Chromium, driven by tests/browser/viewer.mjs, one scenario
//! per test (the script's header lists what each one checks). Every scenario saves screenshots
//! of the page at phone and desktop sizes in each state it walks through (test-artifacts/).

use std::time::Duration;

use serde_json::Value;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};
use crate::common::server::{Backend, test_config};

const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// Runs one scenario of viewer.mjs against `fx` and returns its result.
async fn scenario(fx: &Fixture, name: &str) -> Value {
    require_browser_harness();
    let mut args = fx.args();
    args.extend([
        "--scenario".to_string(),
        name.to_string(),
        "--deadline-ms".into(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]);
    let run = run_node("viewer.mjs", &args, RUN_TIMEOUT).await;
    print_log(&format!("viewer {name}"), &run);
    run.expect_ok(&format!("the viewer page's {name} scenario"));
    println!("viewer {name}: {}", run.result);
    run.result
}

fn step<'a>(r: &'a Value, name: &str) -> &'a Value {
    let v = &r["steps"][name];
    assert!(!v.is_null(), "step '{name}' missing from the result: {r}");
    v
}

/// Scheduled ("starts in …"), then live and ended as the creator starts and ends the show,
/// without a reload; a guest's name is remembered across a reload; another show cancelled
/// while its page is open says so, and again after a reload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_follows_the_show_from_scheduled_to_ended_and_remembers_the_name() {
    let fx = Fixture::new(false).await;
    let r = scenario(&fx, "lifecycle").await;
    let starts = step(&r, "scheduled: starts in")["text"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        starts.to_lowercase().contains("starts"),
        "scheduled state text: {starts}"
    );
    assert_eq!(step(&r, "live without a reload")["state"], "live", "{r}");
    assert_eq!(step(&r, "ended without a reload")["state"], "ended", "{r}");
    let cancelled = step(&r, "cancelled without a reload");
    assert_eq!(cancelled["state"], "cancelled", "{r}");
    assert_eq!(cancelled["badge"], "Cancelled", "{r}");
    assert_eq!(
        step(&r, "name remembered after reload")["name"],
        "Noa",
        "{r}"
    );
    let later = r["show_id"].as_str().expect("the scenario's show id");
    let (status, show) = fx.srv.get(&format!("/api/shows/{later}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(show["status"], "ended", "{show}");
}

/// Chat between two viewers (markup shown as text, right-to-left text laid out right to left),
/// reactions from one viewer as bursts at the other, and a network drop that loses nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_chat_react_and_resume_after_a_network_drop() {
    let fx = Fixture::new(true).await;
    let r = scenario(&fx, "chat").await;
    let xss = step(&r, "markup is text");
    assert_eq!(xss["img_elements"], 0, "{r}");
    assert_eq!(xss["alerts"], 0, "{r}");
    assert_eq!(step(&r, "rtl chat")["direction"], "rtl", "{r}");
    assert!(
        step(&r, "reaction bursts")["bursts"].as_u64().unwrap_or(0) >= 1,
        "{r}"
    );
    let drop = step(&r, "network drop resumes");
    assert_eq!(drop["banner_seen"], true, "{r}");
    assert_eq!(drop["duplicates"], 0, "{r}");
    assert_eq!(drop["missing"], 0, "{r}");
}

/// A pinned flash deal (price, deal price, a countdown that runs, units left), the cart drawer,
/// checkout with the order confirmation, the other viewer's units left and purchase toast, and
/// a sold-out checkout explained in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_buys_a_pinned_deal_and_sees_sold_out_explained() {
    let fx = Fixture::new(true).await;
    let r = scenario(&fx, "shop").await;
    let card = step(&r, "deal card");
    assert!(
        card["countdown_after"].as_f64() < card["countdown_before"].as_f64(),
        "the countdown did not run: {r}"
    );
    assert_eq!(step(&r, "checkout")["status"], 201, "{r}");
    assert!(
        step(&r, "sold out explained")["message"]
            .as_str()
            .is_some_and(|m| m.to_lowercase().contains("sold out")),
        "{r}"
    );
    let (status, orders) = fx
        .srv
        .get(&format!("/api/shows/{}/orders", fx.show), Some(&fx.creator))
        .await;
    assert_eq!(status, 200, "{orders}");
    assert!(
        !orders["orders"].as_array().expect("orders").is_empty(),
        "no order on the server: {orders}"
    );
}

/// Video: "we'll be right back" while no camera is on air; a camera publishes and the
/// program plays (frames advancing) for a guest, muted with a tap-to-unmute button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewer_plays_the_program_when_a_camera_publishes() {
    // The camera is web/test's canvas page, served only when asked for.
    let mut config = test_config(Backend::Redis);
    config.serve_test_pages = true;
    let fx = Fixture::with_config(config, true).await;
    let r = scenario(&fx, "video").await;
    assert_eq!(step(&r, "nothing on air")["right_back"], true, "{r}");
    let play = step(&r, "video plays");
    assert!(play["frames"].as_u64().unwrap_or(0) >= 5, "{r}");
    assert_eq!(play["muted"], true, "{r}");
    assert_eq!(step(&r, "unmute")["muted"], false, "{r}");
}
