//! `just publish-dashboard` (deploy/publish_site.py) against moto: the dashboard's files and the
//! stack's config output in the site's bucket, changes only, stale objects deleted, the
//! distribution invalidated, `--dry-run`, `--empty` and the errors. The cases are Python
//! (`deploy/test_publish_site.py`, boto3 as the script's own client); this runs them on a
//! fresh moto server.

use e2e::Moto;
use std::path::Path;
use std::time::Duration;
use tokio::process::Command;

#[tokio::test]
async fn the_dashboard_publishes_to_its_bucket() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `just tools`",
        python.display()
    );
    let moto = Moto::start().await.expect("moto starts");
    let run = Command::new(&python)
        .args(["-m", "unittest", "-v", "deploy/test_publish_site.py"])
        .current_dir(&root)
        .env("MOTO_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("the publish tests end within 5 minutes")
        .expect("python runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "the publish tests failed:\n{report}");
    // unittest exits 0 when every test was skipped: they must have run.
    assert!(report.contains("Ran 3 tests"), "{report}");
    assert!(!report.contains("skipped"), "{report}");
}
