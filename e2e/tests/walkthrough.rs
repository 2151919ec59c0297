//! docs/reproducing-a-bug.md must work as written: its bug is a patch that has to apply to the
//! aggregator as it is now, and the scenario and flags it names have to exist.

use std::path::Path;

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn the_walkthroughs_bug_still_applies() {
    let out = std::process::Command::new("git")
        .args([
            "apply",
            "--check",
            "docs/walkthrough/report-click-ids.patch",
        ])
        .current_dir(repo())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "docs/walkthrough/report-click-ids.patch no longer applies to the aggregator; \
         update it and docs/reproducing-a-bug.md: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_walkthrough_names_what_exists() {
    let doc = std::fs::read_to_string(repo().join("docs/reproducing-a-bug.md")).unwrap();
    let scenarios = std::fs::read_to_string(repo().join("e2e/tests/flows.rs")).unwrap();
    assert!(scenarios.contains("async fn transaction_conflicts_lose_no_click()"));
    assert!(doc.contains("transaction_conflicts_lose_no_click"));
    // The replay flags it gives are the ones the harness prints for that scenario.
    assert!(scenarios.contains(r#"("ClickMaxReceiveCount", "10")"#));
    assert!(
        doc.contains("--parameter-overrides ClickBatchingWindowSeconds=0 ClickMaxReceiveCount=10")
    );
    let harness = std::fs::read_to_string(repo().join("e2e/src/lib.rs")).unwrap();
    assert!(harness.contains("E2E_CHAOS_SEED"));
}
