//! Scenarios of the links API, driven from outside: each asserts its invariant in code and
//! snapshots its transcript (`e2e/tests/snapshots/`).

mod common;

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
    // The click is counted behind the redirect (EventBridge, SQS, the aggregator): the link's
    // stats show it on today's date, the last of 30 days.
    stack.settle().await.unwrap();
    let stats = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(stats.body["clicks"], 1, "{:?}", stats.body);
    let daily = stats.body["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    assert_eq!(daily[29], json!({"day": "2026-01-01", "clicks": 1}));

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

/// Two tenants: neither can read, change, delete, list or watch the other's links, and
/// neither learns whether a code it does not own exists.
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
    // Nor watch it: the WebSocket API's $connect refuses the handshake, as for a code nobody
    // owns.
    let watch = |user: &e2e::User, code: &str| {
        let url = stack.watch_url(code, user).unwrap();
        async move {
            match tokio_tungstenite::connect_async(url).await {
                Ok(_) => 101,
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
                Err(e) => panic!("the handshake failed otherwise: {e}"),
            }
        }
    };
    let (bobs_watch, nobodys_watch) = (watch(&bob, &code).await, watch(&bob, "nobody42").await);
    assert_eq!((bobs_watch, nobodys_watch), (403, 403));
    assert_eq!(watch(&alice, &code).await, 101, "the owner may watch");
    stack.note(
        "bob's WebSocket $connect to watch alice's code",
        json!(bobs_watch),
    );
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

/// Deleting a link removes what hangs off it: its daily stats and its watchers. A new link
/// under the same alias starts from zero clicks, and the old link's watcher hears nothing of
/// the new one's clicks.
#[tokio::test]
async fn deleting_a_link_removes_its_stats_and_watchers() {
    let stack = Stack::start(&[]).await.unwrap();
    let alice = stack.sign_up("alice").await.unwrap();
    let create = |url: &'static str| {
        let alice = alice.clone();
        let stack = &stack;
        async move {
            let r = stack
                .call(
                    Some(&alice),
                    "POST",
                    "/links",
                    Some(json!({"url": url, "alias": "launch-day"})),
                )
                .await
                .unwrap();
            assert_eq!(r.status, 201, "{:?}", r.body);
        }
    };
    create("https://example.com/first").await;
    stack.settle().await.unwrap();
    let (mut watcher, _) =
        tokio_tungstenite::connect_async(stack.watch_url("launch-day", &alice).unwrap())
            .await
            .expect("the owner may watch");
    assert_eq!(stack.resolve("launch-day").await.unwrap().status, 301);
    stack.settle().await.unwrap();
    let frame = next_frame(&mut watcher)
        .await
        .expect("the click's count is pushed");
    assert_eq!(frame["clicks"], 1);
    stack.note("frame pushed to alice's watcher", frame);

    let deleted = stack
        .call(Some(&alice), "DELETE", "/links/launch-day", None)
        .await
        .unwrap();
    assert_eq!(deleted.status, 200);
    // The alias is free again: a new link takes it, with no clicks and empty stats.
    create("https://example.com/second").await;
    stack.settle().await.unwrap();
    let fresh = stack
        .call(Some(&alice), "GET", "/links/launch-day", None)
        .await
        .unwrap();
    assert_eq!(fresh.body["clicks"], 0, "{:?}", fresh.body);
    assert!(
        fresh.body["daily"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["clicks"] == 0),
        "the old link's stats are gone: {:?}",
        fresh.body
    );
    assert_eq!(stack.resolve("launch-day").await.unwrap().status, 301);
    stack.settle().await.unwrap();
    // The push of the new link's click went to its watchers: the old socket is not one.
    assert_eq!(
        next_frame(&mut watcher).await,
        None,
        "the deleted link's watcher was removed"
    );
    let counted = stack
        .call(Some(&alice), "GET", "/links/launch-day", None)
        .await
        .unwrap();
    assert_eq!(counted.body["clicks"], 1);
    stack.note("frames the old watcher got after the delete", json!(0));

    common::assert_transcript_with_frames!(stack);
    stack.shutdown().await;
}

/// The next count frame on a watcher's socket, or `None` if none comes within a second (the
/// pushes of a settled stack have all been sent by then).
async fn next_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Option<serde_json::Value> {
    use futures::StreamExt;
    let read = async {
        loop {
            match ws.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                    break serde_json::from_str(&t).ok();
                }
                Some(Ok(_)) => continue,
                _ => break None,
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(1), read)
        .await
        .ok()
        .flatten()
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
