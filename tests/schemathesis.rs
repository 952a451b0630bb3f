//! The API document tells the truth: Schemathesis (a fuzzer nobody here wrote) reads
//! `/api/openapi.json` from the real server on port 0 and sends it schema-valid and
//! schema-breaking requests, with every check on: no 5xx, every status and content type
//! documented, every answer matching its schema, valid data accepted and invalid data refused.
//!
//! It runs on both stores, three times each: as a creator, as a viewer, and with no token.
//! The seed and the number of examples per operation are fixed, so a run is repeatable and
//! bounded. scripts/test.sh installs the pinned version (tests/schemathesis/requirements.txt)
//! into a venv and exports `LIVESALE_TEST_SCHEMATHESIS`, the path of its `st`; the settings
//! that are not command-line flags are in tests/schemathesis/schemathesis.toml.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::server::{Backend, TestServer};
use serde_json::json;

/// The seed of every run (Hypothesis's; a failure reproduces with it).
const SEED: &str = "20261207";
/// Test cases per operation and phase.
const MAX_EXAMPLES: &str = "12";
/// The least a passing run must have covered (the document has 69 operations; the excluded
/// ones and a few the fuzzer cannot shape leave about 63).
const MIN_OPERATIONS: usize = 55;
const MIN_CASES: usize = 300;
/// A run that takes longer than this has hung.
const RUN_LIMIT: Duration = Duration::from_secs(300);

/// Operations left out, and why: each would do something a stateless fuzzer must not.
/// (Joined into one regex: Schemathesis keeps only the last `--exclude-path-regex`.)
const EXCLUDED_PATHS: &[&str] = &[
    // WHIP/WHEP open WebRTC sessions (UDP sockets, ICE gathering) from any SDP offer that
    // parses; tests/media.rs covers every status code these routes answer.
    "/(whip|whep)$",
    // The merchant's webhook URL: orders made by the viewer run would be delivered to whatever
    // address the fuzzer wrote there, and traffic must stay on this machine. tests/webhooks.rs
    // covers the route.
    "^/api/webhook$",
    // Signing out everywhere ends the very token the creator's run fuzzes with, so every
    // later request would be 401. tests/accounts.rs and the role matrix cover the route.
    "^/api/me/signout$",
];

on_both_stores!(the_api_document_holds_for_every_caller);

async fn the_api_document_holds_for_every_caller(backend: Backend) {
    let st = schemathesis();
    let srv = TestServer::start(backend).await;
    let (_, creator) = srv.creator("Fuzz Host").await;
    let show = srv.show(&creator, "Fuzzed show").await;
    let product = srv.product(&creator, "FUZZ-1", 2500, 1000).await;
    let (status, body) = srv
        .post(
            &format!("/api/shows/{show}/lineup"),
            Some(&creator),
            json!({ "product_id": product }),
        )
        .await;
    assert_eq!(status, 200, "lineup: {body}");
    let (_, viewer) = srv.viewer(&show, "Fuzz Viewer").await;
    // A scheduled auction lot, so the auction routes reach their logic (pre-bids, open, stop).
    let lot = json!({
        "product_id": product, "start_price": { "amount": 1000, "currency": "USD" },
        "duration_s": 60, "mode": "soft_close", "open": false,
    });
    let (status, body) = srv
        .post(&format!("/api/shows/{show}/auctions"), Some(&creator), lot)
        .await;
    assert_eq!(status, 201, "an auction lot: {body}");
    let auction = body["id"].as_str().expect("a lot id").to_string();

    let dir = tempfile::tempdir().expect("a temp dir");
    let config = dir.path().join("schemathesis.toml");
    let settings =
        std::fs::read_to_string(settings_path()).expect("tests/schemathesis/schemathesis.toml");
    std::fs::write(
        &config,
        format!(
            "{settings}\n[dictionaries.shows]\nvalues = [\"{show}\"]\n\n\
             [dictionaries.products]\nvalues = [\"{product}\"]\n\n\
             [dictionaries.auctions]\nvalues = [\"{auction}\"]\n"
        ),
    )
    .expect("write the run's settings");

    let mut failures = Vec::new();
    for (who, token) in [
        ("creator", Some(creator.as_str())),
        ("viewer", Some(viewer.as_str())),
        ("no token", None),
    ] {
        if let Some(report) = run(&st, &srv, &config, dir.path(), who, token).await {
            failures.push(report);
        }
    }
    srv.stop().await;
    assert!(
        failures.is_empty(),
        "Schemathesis found problems ({backend:?} store):\n{}",
        failures.join("\n\n")
    );
}

/// One Schemathesis run; `Some(output)` when it failed.
async fn run(
    st: &PathBuf,
    srv: &TestServer,
    config: &std::path::Path,
    dir: &std::path::Path,
    who: &str,
    token: Option<&str>,
) -> Option<String> {
    let mut cmd = tokio::process::Command::new(st);
    cmd.arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(srv.url("/api/openapi.json"))
        .args(["--checks", "all"])
        .args(["--seed", SEED])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--workers", "1"])
        // Stateless phases only: requests built from the document alone. The stateful phase
        // chains requests along links it infers, takes minutes on this API, and is not what
        // the document promises.
        .args(["--phases", "examples,coverage,fuzzing"])
        // Requests go to this server only, never anywhere a response points.
        .args(["--max-redirects", "0"])
        .args(["--generation-database", "none"])
        .args(["--no-color"])
        .args(["--report-dir"])
        .arg(dir.join(format!("report-{}", who.replace(' ', "-"))))
        .current_dir(dir)
        .env("SCHEMATHESIS_HOOKS", "")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd.arg("--exclude-path-regex")
        .arg(EXCLUDED_PATHS.join("|"));
    if let Some(token) = token {
        cmd.arg("-H").arg(format!("Authorization: Bearer {token}"));
    }
    let output = tokio::time::timeout(RUN_LIMIT, cmd.output())
        .await
        .unwrap_or_else(|_| panic!("Schemathesis ({who}) did not finish within {RUN_LIMIT:?}"))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", st.display()));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = || {
        format!(
            "---- as {who} (exit {:?}) ----\n{stdout}\n{}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        )
    };
    if !output.status.success() {
        return Some(report());
    }
    // A run that passed must have tested something: the operations of the document, less
    // the excluded ones, with many generated cases.
    let (selected, generated) = (
        count_after(&stdout, "Operations:"),
        count_after(&stdout, "Test cases:"),
    );
    if selected < MIN_OPERATIONS || generated < MIN_CASES {
        return Some(format!(
            "Schemathesis passed but tested too little ({selected} operations, {generated} \
             cases; want at least {MIN_OPERATIONS} and {MIN_CASES}):\n{}",
            report()
        ));
    }
    eprintln!("schemathesis as {who}: {selected} operations, {generated} cases, no failures");
    None
}

/// The `st` that scripts/test.sh installed; a loud failure when there is none.
fn schemathesis() -> PathBuf {
    match std::env::var("LIVESALE_TEST_SCHEMATHESIS") {
        Ok(path) if !path.trim().is_empty() && std::path::Path::new(&path).is_file() => {
            PathBuf::from(path)
        }
        Ok(path) if !path.trim().is_empty() => panic!(
            "LIVESALE_TEST_SCHEMATHESIS={path} is not a file: run scripts/test.sh, which \
             installs Schemathesis into a venv"
        ),
        _ => panic!(
            "LIVESALE_TEST_SCHEMATHESIS is not set: run scripts/test.sh, which installs \
             Schemathesis (tests/schemathesis/requirements.txt) into a venv and exports the \
             path of its `st`"
        ),
    }
}

fn settings_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/schemathesis/schemathesis.toml")
}

/// The first number after `label` in Schemathesis's output (`Operations:  34 selected / 37
/// total`, `Test cases:\n  1228 generated, …`); 0 when absent.
fn count_after(output: &str, label: &str) -> usize {
    output
        .split_once(label)
        .map(|(_, rest)| rest.trim_start())
        .and_then(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .unwrap_or(0)
}
