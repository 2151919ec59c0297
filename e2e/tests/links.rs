//! Scenarios of the links API, driven from outside: each asserts its invariant in code and
//! snapshots its transcript (`e2e/tests/snapshots/`).

use e2e::Stack;
use serde_json::json;

/// A user signs up, logs in, creates links, resolves one, pages through their list, changes
/// a link's target and deletes it; the redirect follows every change.
#[tokio::test]
async fn a_link_from_creation_to_deletion() {
    let stack = Stack::start(&[]).await.unwrap();
    let alice = stack.sign_up("alice").await.unwrap();

    let first = stack
        .call(
            Some(&alice),
            "POST",
            "/links",
            Some(json!({"url": "https://www.rust-lang.org/learn"})),
        )
        .await
        .unwrap();
    assert_eq!(first.status, 201, "{:?}", first.body);
    let code = first.body["code"].as_str().unwrap().to_owned();
    stack.alias(&code, "code-1");
    assert_eq!(
        first.body["status"], "pending",
        "a new link waits for moderation"
    );
    // A second later (the clock is devstack's virtual one): the list's order is by creation.
    stack.advance(1_000).await.unwrap();
    let second = stack
        .call(
            Some(&alice),
            "POST",
            "/links",
            Some(json!({"url": "https://docs.rs/tokio"})),
        )
        .await
        .unwrap();
    assert_eq!(second.status, 201, "{:?}", second.body);
    stack.alias(second.body["code"].as_str().unwrap(), "code-2");
    // Moderation (Step Functions) activates both.
    stack.settle().await.unwrap();

    let got = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(
        (got.status, got.body["status"].as_str()),
        (200, Some("active"))
    );
    let resolved = stack.resolve(&code).await.unwrap();
    assert_eq!(resolved.status, 301);
    assert_eq!(
        resolved.location.as_deref(),
        Some("https://www.rust-lang.org/learn")
    );
    // The click is counted behind the redirect (EventBridge, SQS, the aggregator).
    stack.settle().await.unwrap();

    // A page of one, then the rest through the cursor: newest first, nothing twice.
    let page1 = stack
        .call(Some(&alice), "GET", "/links?limit=1", None)
        .await
        .unwrap();
    assert_eq!(page1.status, 200);
    let cursor = page1.body["nextCursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    stack.alias(&cursor, "cursor-1");
    let page2 = stack
        .call(
            Some(&alice),
            "GET",
            &format!("/links?limit=1&cursor={cursor}"),
            None,
        )
        .await
        .unwrap();
    let codes: Vec<_> = [&page1, &page2]
        .iter()
        .flat_map(|p| p.body["links"].as_array().unwrap().iter())
        .map(|l| l["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 2);
    assert_eq!(codes[1], code, "newest first");
    assert_eq!(page2.body["links"][0]["clicks"], 1, "the click was counted");
    assert!(
        page2.body.get("nextCursor").is_none(),
        "two links, two pages"
    );

    let patched = stack
        .call(
            Some(&alice),
            "PATCH",
            &format!("/links/{code}"),
            Some(json!({"url": "https://www.rust-lang.org/tools"})),
        )
        .await
        .unwrap();
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    stack.settle().await.unwrap();
    let resolved = stack.resolve(&code).await.unwrap();
    assert_eq!(
        resolved.location.as_deref(),
        Some("https://www.rust-lang.org/tools")
    );

    let deleted = stack
        .call(Some(&alice), "DELETE", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(deleted.status, 200);
    assert_eq!(deleted.body["deleted"], code.as_str());
    let gone = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(gone.status, 404);
    let unresolved = stack.resolve(&code).await.unwrap();
    assert_eq!(unresolved.status, 404);
    assert_eq!(
        unresolved.content_type.as_deref(),
        Some("application/problem+json")
    );

    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// Two tenants: neither can read, change, delete or list the other's links, and neither
/// learns whether a code it does not own exists.
#[tokio::test]
async fn tenants_cannot_touch_each_others_links() {
    let stack = Stack::start(&[]).await.unwrap();
    let alice = stack.sign_up("alice").await.unwrap();
    let bob = stack.sign_up("bob").await.unwrap();
    let code = stack
        .create_link(&alice, "https://example.com/alice", "alices-code")
        .await
        .unwrap();
    stack.settle().await.unwrap();

    let path = format!("/links/{code}");
    let read = stack.call(Some(&bob), "GET", &path, None).await.unwrap();
    let changed = stack
        .call(
            Some(&bob),
            "PATCH",
            &path,
            Some(json!({"url": "https://example.com/bob"})),
        )
        .await
        .unwrap();
    let deleted = stack.call(Some(&bob), "DELETE", &path, None).await.unwrap();
    // Not found, as for a code nobody owns: a stranger learns nothing.
    let nobodys = stack
        .call(Some(&bob), "GET", "/links/nobody42", None)
        .await
        .unwrap();
    assert_eq!(
        [read.status, changed.status, deleted.status],
        [nobodys.status; 3],
        "{:?} {:?} {:?}",
        read.body,
        changed.body,
        deleted.body
    );
    assert_eq!(nobodys.status, 404);
    let bobs = stack.call(Some(&bob), "GET", "/links", None).await.unwrap();
    assert_eq!(bobs.body["links"], json!([]), "bob's list is his alone");
    let anonymous = stack.call(None, "GET", "/links", None).await.unwrap();
    assert_eq!(anonymous.status, 401);

    // Alice's link is untouched.
    let hers = stack.call(Some(&alice), "GET", &path, None).await.unwrap();
    assert_eq!(hers.body["target"], "https://example.com/alice");
    let resolved = stack.resolve(&code).await.unwrap();
    assert_eq!(
        resolved.location.as_deref(),
        Some("https://example.com/alice")
    );
    stack.note(
        "bob's sub differs from alice's",
        json!(alice.sub != bob.sub),
    );

    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// A scenario that fails leaves its journal in `target/e2e/` (named after the test) for
/// `devstack replay`: here one that panics on purpose after a click went through.
#[test]
fn a_failing_scenario_leaves_its_journal() {
    let name = "deliberately_failing_scenario";
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/e2e")
        .join(format!("{name}.journal.jsonl"));
    let _ = std::fs::remove_file(&path);
    let failed = std::thread::Builder::new()
        .name(name.into())
        .spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let stack = Stack::start(&[]).await.unwrap();
                let alice = stack.sign_up("alice").await.unwrap();
                let code = stack
                    .create_link(&alice, "https://example.com/x", "code-1")
                    .await
                    .unwrap();
                stack.settle().await.unwrap();
                stack.resolve(&code).await.unwrap();
                stack.settle().await.unwrap();
                panic!("a scenario failing on purpose");
            })
        })
        .unwrap()
        .join();
    assert!(failed.is_err());
    let journal = std::fs::read_to_string(&path).expect("the failed scenario's journal");
    assert!(
        journal.lines().any(|l| l.contains("ClickQueue")),
        "the click's delivery is in the journal:\n{journal}"
    );
    let _ = std::fs::remove_file(&path);
}
