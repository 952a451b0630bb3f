//! A live auction from the viewer page (tests/browser/auction.mjs; its header lists the steps):
//! two viewers bid against each other in Chromium (one at phone size), the outbid one sees it and
//! re-bids, a max bid leads by proxy, the lot closes on its own, the winner's page says the order
//! is paid and the other's says who bought it for how much; the studio shows the result and the
//! bid log. This side then reads what the server ended up with through the public API.

use std::time::Duration;

use crate::Fixture;
use livesale::config::{PaymentsMode, Secret};

use crate::common::browser::{print_log, require_browser_harness, run_node};
use crate::common::localstripe::{LocalStripe, SECRET_KEY};
use crate::common::server::{Backend, test_config};

const RUN_TIMEOUT: Duration = Duration::from_secs(240);
const WEBHOOK_SECRET: &str = "whsec_livesale_auction";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_viewers_bid_against_each_other_and_the_winner_sees_the_order_paid() {
    require_browser_harness();
    let fx = Fixture::new(true).await;
    let mut args = fx.args();
    args.push("--deadline-ms".into());
    args.push((RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string());
    let run = run_node("auction.mjs", &args, RUN_TIMEOUT).await;
    print_log("the auction", &run);
    run.expect_ok("two viewers bidding from the viewer page in Chromium");
    let r = &run.result;
    let steps = r["steps"].as_object().expect("steps");
    for required in [
        "2. at phone width the card and its bid button are on screen",
        "3. Ben bids $11.00: Ada sees that she has been outbid",
        "3. Ada re-bids in one tap (no confirmation the second time)",
        "3. Ben sets a max bid of $20.00 and leads by proxy at $13.00",
        "4. the lot closes: Ben won and his order is paid",
        "4. Ada sees \"Sold to Ben for $15.00\"",
        "4. the studio shows the result and the bid log",
    ] {
        assert!(
            steps.contains_key(required),
            "step '{required}' missing: {r}"
        );
    }

    // What the server ended up with, independently of the pages.
    let id = r["auction"]["id"].as_str().expect("the auction's id");
    let (status, a) = fx
        .srv
        .get(&format!("/api/shows/{}/auctions/{id}", fx.show), None)
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["status"], "closed", "{a}");
    assert_eq!(a["winner"]["name"], "Ben", "{a}");
    assert_eq!(a["current"]["amount"], 1500, "{a}");
    let (status, orders) = fx
        .srv
        .get(&format!("/api/shows/{}/orders", fx.show), Some(&fx.creator))
        .await;
    assert_eq!(status, 200, "{orders}");
    let list = orders["orders"].as_array().expect("orders");
    assert_eq!(list.len(), 1, "exactly one order, the winner's: {orders}");
    assert_eq!(list[0]["status"], "paid", "{orders}");
    assert_eq!(list[0]["total"]["amount"], 1500, "{orders}");
    fx.srv.stop().await;
}

/// With `--payments stripe` (localstripe): a bid without a saved card is refused in words with
/// "Save a card" and leaves the lot as it was; the sheet saves 4242 with a SetupIntent
/// (tests/browser/auction-card.mjs; its header says why bidding with that card is not driven
/// here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bidder_without_a_card_is_told_so_and_saves_one_from_the_auction_card() {
    require_browser_harness();
    let stripe = LocalStripe::start().await;
    let mut config = test_config(Backend::Redis);
    config.payments = PaymentsMode::Stripe;
    config.stripe_secret_key = Some(Secret::new(SECRET_KEY));
    config.stripe_publishable_key = Some("pk_test_livesale".into());
    config.stripe_webhook_secret = Some(Secret::new(WEBHOOK_SECRET));
    config.stripe_api_base = stripe.base();
    config.stripe_js_url = stripe.js_url();
    let fx = Fixture::with_config(config, true).await;
    let hook = format!("{}/api/webhooks/stripe", fx.srv.base);
    stripe
        .register_webhook("livesale", &hook, WEBHOOK_SECRET)
        .await;
    let mut args = fx.args();
    args.push("--deadline-ms".into());
    args.push((RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string());
    let run = run_node("auction-card.mjs", &args, RUN_TIMEOUT).await;
    print_log("an auction bid without a saved card", &run);
    run.expect_ok("card_required in words and a card saved from the auction card");
    let r = &run.result;
    let said = r["steps"]["1. a bid without a saved card is refused in words, with \"Save a card\""]["said"]
        .as_str()
        .unwrap_or_default();
    assert!(said.contains("saved card"), "{r}");
    let id = r["auction"].as_str().expect("the auction's id");
    let (status, a) = fx
        .srv
        .get(&format!("/api/shows/{}/auctions/{id}", fx.show), None)
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["bids"], 0, "the refused bid left the lot as it was: {a}");
    assert!(a["leader"].is_null(), "{a}");
    fx.srv.stop().await;
}

/// A scheduled lot takes a pre-bid from the max-bid sheet, the studio's "Open the lot now" opens
/// it (the pre-bid leads) and its Stop ends it; the winner's card is declined (`--payments
/// decline`): their card says the payment did not go through, the runner-up's shows the offer
/// ("Buy it for $10.00" until a time), and the studio shows the alert
/// (tests/browser/auction-offer.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_winner_is_told_the_runner_up_gets_the_offer_and_the_studio_the_alert() {
    require_browser_harness();
    let mut config = test_config(Backend::Redis);
    config.payments = PaymentsMode::Decline;
    let fx = Fixture::with_config(config, true).await;
    let mut args = fx.args();
    args.push("--deadline-ms".into());
    args.push((RUN_TIMEOUT.as_millis() as u64 - 20_000).to_string());
    let run = run_node("auction-offer.mjs", &args, RUN_TIMEOUT).await;
    print_log("a declined winner and the runner-up's offer", &run);
    run.expect_ok("the decline, the offer and the alert on the pages");
    let r = &run.result;
    let alert = r["steps"]["4. the studio shows the alert"]["text"]
        .as_str()
        .unwrap_or_default();
    assert!(!alert.is_empty(), "{r}");
    let id = r["auction"].as_str().expect("the auction's id");
    let (status, a) = fx
        .srv
        .get(&format!("/api/shows/{}/auctions/{id}", fx.show), None)
        .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["winner"]["name"], "Ben", "{a}");
    fx.srv.stop().await;
}
