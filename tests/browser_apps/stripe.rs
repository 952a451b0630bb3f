//! Paying by card in the viewer's cart drawer (`--payments stripe`) in Chromium at phone size,
//! driven by tests/browser/stripe.mjs (its header lists what it checks). Stripe is localstripe
//! (tests/common/localstripe.rs), whose webhook posts to the server, and the page loads
//! localstripe's Stripe.js stand-in from `--stripe-js-url`; the script fails on any
//! Content-Security-Policy refusal, so the viewer page's policy is checked with Stripe.js in it.
//! This side then reads every order the page paid through the public API.

use std::time::Duration;

use livesale::config::{PaymentsMode, Secret};
use serde_json::Value;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};
use crate::common::localstripe::{LocalStripe, SECRET_KEY};
use crate::common::server::{Backend, test_config};

const RUN_TIMEOUT: Duration = Duration::from_secs(240);
const PUBLISHABLE_KEY: &str = "pk_test_livesale";
const WEBHOOK_SECRET: &str = "whsec_livesale_browser";

fn step<'a>(r: &'a Value, name: &str) -> &'a Value {
    let v = &r["steps"][name];
    assert!(!v.is_null(), "step '{name}' missing from the result: {r}");
    v
}

/// A new card (4242) pays in the drawer, a declined card (0341) is explained and a retry with
/// 4242 pays the same order, and the saved card pays the next order in one tap; every order is
/// `paid` and the stock went down by one each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_pays_by_card_in_the_drawer_retries_a_decline_and_pays_in_one_tap() {
    require_browser_harness();
    let stripe = LocalStripe::start().await;
    let mut config = test_config(Backend::Redis);
    config.payments = PaymentsMode::Stripe;
    config.stripe_secret_key = Some(Secret::new(SECRET_KEY));
    config.stripe_publishable_key = Some(PUBLISHABLE_KEY.into());
    config.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    config.stripe_api_base = stripe.base();
    config.stripe_js_url = stripe.js_url();
    let fx = Fixture::with_config(config, true).await;
    let hook = format!("{}/api/webhooks/stripe", fx.srv.base);
    stripe
        .register_webhook("livesale", &hook, WEBHOOK_SECRET)
        .await;

    let mut args = fx.args();
    args.extend([
        "--deadline-ms".to_string(),
        (RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string(),
    ]);
    let run = run_node("stripe.mjs", &args, RUN_TIMEOUT).await;
    print_log("stripe", &run);
    run.expect_ok("paying by card in the drawer");
    let r = run.result;
    println!("stripe: {r}");

    let first = step(&r, "A pays with 4242 and the drawer says Paid");
    assert_eq!(first["status"], "paid", "{r}");
    let retry = step(
        &r,
        "a declined card is explained and a retry in the same drawer pays",
    );
    assert_eq!(retry["declined_status"], 402, "{r}");
    assert!(
        retry["message"]
            .as_str()
            .is_some_and(|m| m.to_lowercase().contains("declined")),
        "{r}"
    );
    let tap = step(&r, "the saved card pays the next order in one tap");
    assert_eq!(tap["button"], "Pay with Visa •••• 4242", "{r}");
    for s in [first, retry, tap] {
        assert_eq!(
            s["stock_after"].as_i64(),
            s["stock_before"].as_i64().map(|n| n - 1),
            "{r}"
        );
    }

    // The server's side of it: three orders, all paid, through the creator's view.
    let orders: Vec<&str> = r["orders"]
        .as_array()
        .expect("the orders the page paid")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(orders.len(), 3, "{r}");
    for id in &orders {
        let (status, order) = fx
            .srv
            .get(
                &format!("/api/shows/{}/orders/{id}", fx.show),
                Some(&fx.creator),
            )
            .await;
        assert_eq!(status, 200, "{order}");
        assert_eq!(order["status"], "paid", "{order}");
        assert_eq!(order["email"], "dana@example.com", "{order}");
        assert_eq!(order["shipping"]["city"], "Springfield", "{order}");
    }
    let product = r["product"].as_str().expect("the product id");
    let (status, p) = fx
        .srv
        .get(&format!("/api/products/{product}"), Some(&fx.creator))
        .await;
    assert_eq!(status, 200, "{p}");
    assert_eq!(p["stock"], 40 - 3, "three mugs sold of 40: {p}");
}
