//! The moderator desk and the home page in a real browser (tests/browser/moderate.mjs, home.mjs):
//! the scripts drive the pages; this side prepares the show, bounds the run and checks from the
//! server's side what the pages claimed to have done.

use std::time::Duration;

use serde_json::Value;

use crate::Fixture;
use crate::common::browser::{print_log, require_browser_harness, run_node};
use crate::common::server::{Backend, TestServer};

/// The desk's whole scenario, browser start and screenshots included.
const DESK_TIMEOUT: Duration = Duration::from_secs(180);
const HOME_TIMEOUT: Duration = Duration::from_secs(90);

fn checks(result: &Value) -> Vec<String> {
    result["checks"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_desk() {
    require_browser_harness();
    let fx = Fixture::new(true).await;
    let run = run_node("moderate.mjs", &fx.args(), DESK_TIMEOUT).await;
    print_log("moderator desk", &run);
    run.expect_ok("the moderator desk");
    let done = checks(&run.result);
    for needed in [
        "viewer message on desk with delete/timeout/ban",
        "markup as text, RTL message and name right to left",
        "delete: desk and viewers",
        "timeout: viewer refused with timed_out, audit entry readable",
        "ban closes the viewer (4003), banned list, unban lets them back",
        "invalid term: clear error, live button",
        "blocked term → held → approve / reject",
        "slow mode / pause / links",
        "moderators-only channel round trip, second moderator on a phone, nothing leaks to viewers",
        "reconnect and resume",
        "clear chat with confirmation",
        "invalid or missing invite: clear message",
    ] {
        assert!(
            done.iter().any(|c| c == needed),
            "the desk's run skipped '{needed}': {done:?}"
        );
    }

    // What the desk did is on the server's record: the audit log, the terms and the policy.
    let (status, audit) = fx
        .srv
        .get(&format!("/api/shows/{}/audit", fx.show), Some(&fx.creator))
        .await;
    assert_eq!(status, 200, "audit: {audit}");
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    for action in [
        "mod.delete",
        "mod.pin",
        "mod.timeout",
        "mod.ban",
        "mod.unban",
        "mod.terms",
        "mod.approve",
        "mod.reject",
        "mod.slow",
        "mod.pause",
        "mod.links",
        "mod.clear",
    ] {
        assert!(
            actions.contains(&action),
            "no {action} in the audit log: {actions:?}"
        );
    }
    let timeout = audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "mod.timeout")
        .expect("a timeout entry");
    assert_eq!(timeout["details"]["seconds"], 600, "{timeout}");
    assert_eq!(timeout["reason"], "spam", "{timeout}");

    let (status, state) = fx
        .srv
        .get(
            &format!("/api/shows/{}/moderation", fx.show),
            Some(&fx.creator),
        )
        .await;
    assert_eq!(status, 200, "moderation state: {state}");
    let terms = state["policy"]["blocked_terms"].to_string();
    assert!(
        terms.contains("crypto*") && terms.contains("scam"),
        "{state}"
    );
    assert_eq!(state["policy"]["slow_mode_s"], 0, "{state}");
    assert_eq!(state["policy"]["links"], "hold", "{state}");
    assert_eq!(state["policy"]["paused"], false, "{state}");
}

/// A creator-wide moderator (`POST /api/me/moderators`) opens the desk of any of the creator's
/// shows with the same token, and acts there; another creator's desk turns it away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_wide_moderator_opens_every_desk_of_its_creator() {
    require_browser_harness();
    let fx = Fixture::new(true).await;
    let second = fx.srv.show(&fx.creator, "Saturday bowls").await;
    let started = fx
        .srv
        .post(
            &format!("/api/shows/{second}/start"),
            Some(&fx.creator),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(started.0, 200, "start: {}", started.1);
    let (status, team) = fx
        .srv
        .post(
            "/api/me/moderators",
            Some(&fx.creator),
            serde_json::json!({ "label": "Sam" }),
        )
        .await;
    assert_eq!(status, 201, "{team}");
    // The creator's terms for all their shows, which each desk lists (read-only).
    let terms = fx
        .srv
        .http
        .put(fx.srv.url("/api/me/terms"))
        .bearer_auth(&fx.creator)
        .json(&serde_json::json!({ "terms": ["crypto*", "giveaway"] }))
        .send()
        .await
        .expect("PUT /api/me/terms");
    assert_eq!(terms.status(), 200);
    let (_, stranger) = fx.srv.creator("Stranger").await;
    let foreign = fx.srv.show(&stranger, "Not theirs").await;
    let mut args = fx.args();
    for (flag, value) in [
        (
            "--team-token",
            team["token"].as_str().expect("a token").to_string(),
        ),
        ("--second-show", second.clone()),
        ("--foreign-show", foreign),
    ] {
        args.push(flag.into());
        args.push(value);
    }
    let run = run_node("team-desk.mjs", &args, HOME_TIMEOUT).await;
    print_log("creator-wide moderator desk", &run);
    run.expect_ok("the creator-wide moderator's desks");
    // What the desks did is on each show's record, by Sam.
    for show in [&fx.show, &second] {
        let (_, state) = fx
            .srv
            .get(&format!("/api/shows/{show}/moderation"), Some(&fx.creator))
            .await;
        assert_eq!(state["policy"]["slow_mode_s"], 10, "{state}");
        let (_, audit) = fx
            .srv
            .get(&format!("/api/shows/{show}/audit"), Some(&fx.creator))
            .await;
        let by_sam = audit["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| {
                e["action"] == "mod.slow"
                    && e["actor"]["name"] == "Sam"
                    && e["actor"]["role"] == "moderator"
            });
        assert!(by_sam, "no slow mode by Sam in {audit}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_page_lists_live_upcoming_and_ended_shows() {
    require_browser_harness();
    let fx = Fixture::new(true).await;
    let run = run_node("home.mjs", &fx.args(), HOME_TIMEOUT).await;
    print_log("home page", &run);
    run.expect_ok("the home page");
    assert!(
        checks(&run.result).len() >= 5,
        "the home page's run skipped checks: {}",
        run.result
    );
}

/// A server without shows says so instead of showing an empty grid (no browser needed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn home_page_empty_state() {
    let srv = TestServer::start(Backend::Redis).await;
    let res = srv.http.get(srv.url("/")).send().await.expect("GET /");
    assert_eq!(res.status().as_u16(), 200);
    let html = res.text().await.expect("body");
    assert!(html.contains("No shows yet"), "{html}");
    assert!(!html.contains("class=\"show "), "{html}");
    srv.stop().await;
}
