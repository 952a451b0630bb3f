//! The browser harness of the end-to-end tests: Debian's Chromium driven by playwright-core
//! from tests/browser (one node script per scenario, one JSON line of result), bounded in time,
//! failing (never skipping) with the fix when a prerequisite is missing.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn chromium() -> PathBuf {
    std::env::var_os("LIVESALE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Fails (never skips) with the fix when a prerequisite is missing.
pub fn require_browser_harness() {
    const FIX: &str = "run scripts/test.sh (or `scripts/test.sh --setup`): it installs Debian's \
                       chromium and nodejs and runs `npm ci` in tests/browser";
    let chromium = chromium();
    assert!(
        chromium.exists(),
        "{} is missing: {FIX}",
        chromium.display()
    );
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        matches!(&node, Ok(out) if out.status.success()),
        "node does not run ({node:?}): {FIX}"
    );
    let pw = repo().join("tests/browser/node_modules/playwright-core/package.json");
    assert!(pw.exists(), "{} is missing: {FIX}", pw.display());
}

/// What one run of a harness script left: its JSON result and its log.
pub struct Run {
    pub result: Value,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.result["ok"] == true
    }

    /// Panics with the failed step, the error and the browser's log.
    pub fn expect_ok(&self, what: &str) {
        if !self.ok() {
            panic!(
                "{what} failed at step '{}': {}\n\nresult: {}\n\nharness log:\n{}",
                self.result["failed_step"].as_str().unwrap_or("?"),
                self.result["error"].as_str().unwrap_or("?"),
                serde_json::to_string_pretty(&self.result).unwrap_or_default(),
                self.stderr
            );
        }
    }
}

/// Runs `node tests/browser/<script> <args>` in its own process group, bounded by `timeout`
/// (the whole group, Chromium included, is killed when it runs over), and parses the one JSON
/// line it prints on stdout.
pub async fn run_node(script: &str, args: &[String], timeout: Duration) -> Run {
    let script_path = repo().join("tests/browser").join(script);
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(&script_path)
        .args(args)
        .current_dir(repo())
        .env("LIVESALE_CHROMIUM", chromium())
        .env(
            "LIVESALE_ARTIFACTS",
            repo().join("test-artifacts").as_os_str(),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn node {}: {e}", script_path.display()));
    let pid = child.id().expect("the child's pid");
    let out = match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Ok(out) => out.expect("node's output"),
        Err(_) => {
            kill_group(pid);
            panic!("node {script} did not finish within {timeout:?}; its process group was killed");
        }
    };
    // Chromium's helpers never outlive the run.
    kill_group(pid);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .unwrap_or_else(|| {
            panic!(
                "node {script} printed no JSON result (exit {:?}).\nstdout:\n{stdout}\nstderr:\n{stderr}",
                out.status
            )
        });
    let result: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("node {script}: bad JSON result ({e}): {line}\n{stderr}"));
    assert_eq!(
        out.status.success(),
        result["ok"] == true,
        "node {script}: exit status {:?} disagrees with its result {result}",
        out.status
    );
    Run {
        result,
        stderr,
        elapsed: started.elapsed(),
    }
}

pub fn kill_group(pid: u32) {
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
}

pub fn print_log(what: &str, run: &Run) {
    println!(
        "---- {what}: harness log ({:.1} s) ----\n{}",
        run.elapsed.as_secs_f64(),
        run.stderr
    );
}
