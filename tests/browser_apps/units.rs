//! The pages' pure modules in node, without a browser (tests/browser/units.mjs, node's own test
//! runner): the wire vocabulary of web/js/protocol.js against docs/protocol.md, the code → words
//! tables, the deal arithmetic, the connection banner, the viewer's playback choice and the
//! commerce it holds until its picture gets there (feature/hls.js, feature/intime.js).

use crate::common::browser::repo;

#[test]
fn web_modules_pass_their_unit_tests() {
    let out = std::process::Command::new("node")
        .arg("--test")
        .arg(repo().join("tests/browser/units.mjs"))
        .current_dir(repo())
        .output()
        .expect("node runs (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "node --test tests/browser/units.mjs failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
