//! The function concurrency limit: the template's `RedirectReservedConcurrency` sets the
//! redirect function's reserved concurrency, and Lambda throttles a visit that finds no free
//! slot. The gateway then answers for the function: no redirect, and no click published.

use e2e::{Stack, User};
use serde_json::{Value, json};

/// What the HTTP API answers when Lambda throttles its integration (a 429
/// TooManyRequestsException from Invoke): `500 {"message": "Internal Server Error"}`, as API
/// Gateway answers any refusal by the Lambda API (`crates/apigw`).
const THROTTLED: u16 = 500;

/// The target every scenario's link points at.
const TARGET: &str = "https://example.com/limited";

/// The operator's kill switch: with the redirect function's reserved concurrency at 0, every
/// visit of a short URL is throttled before the function runs (no redirect, no Location), and
/// so publishes no click: after the pipeline settles the link still has none. The other
/// functions keep their own concurrency: the owner creates and reads the link as usual.
#[tokio::test]
async fn reserved_concurrency_zero_turns_redirects_off() {
    let stack = Stack::start(&[("RedirectReservedConcurrency", "0")])
        .await
        .unwrap();
    stack.note("RedirectReservedConcurrency", json!(0));
    let alice = stack.sign_up("alice").await.unwrap();
    let code = stack.create_link(&alice, TARGET, "code-1").await.unwrap();
    // Moderation (its own function) runs to its verdict, so the link is active.
    stack.settle().await.unwrap();

    for _ in 0..3 {
        let visit = stack.resolve(&code).await.unwrap();
        assert_eq!(visit.status, THROTTLED, "{:?}", visit.body);
        assert_eq!(visit.location, None);
    }
    // Were a throttled visit to publish its click, the aggregator would count it by now.
    stack.settle().await.unwrap();
    let link = stack
        .call(Some(&alice), "GET", &format!("/links/{code}"), None)
        .await
        .unwrap();
    assert_eq!(link.status, 200, "{:?}", link.body);
    assert_eq!(link.body["status"], "active", "{:?}", link.body);
    assert_eq!(link.body["clicks"], 0, "no click counted: {:?}", link.body);

    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// A cap of one redirect in flight under a burst of concurrent visits: each visit is either
/// redirected (301 to the target) or throttled, at least one gets through, and the link's
/// count is exactly the number of redirects: a throttled visit published no click and a
/// redirected one is counted once. Which visits are throttled depends on timing (the first
/// one holds the only slot through the function's cold start), so the burst goes through a
/// client of its own, outside the transcript, which records only what holds in every run.
/// A visit alone afterwards, with no other in flight, is redirected.
#[tokio::test]
async fn a_cap_of_one_throttles_a_burst_and_counts_only_redirects() {
    const VISITS: usize = 8;
    let stack = Stack::start(&[("RedirectReservedConcurrency", "1")])
        .await
        .unwrap();
    stack.note("RedirectReservedConcurrency", json!(1));
    let alice = stack.sign_up("alice").await.unwrap();
    let code = stack.create_link(&alice, TARGET, "code-1").await.unwrap();
    stack.settle().await.unwrap();

    // A browser does not follow a short URL's redirect for the test: the 301 is the answer.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}/{code}", stack.api());
    let answers = futures::future::join_all((0..VISITS).map(|_| {
        let request = http.get(&url).send();
        async move {
            let resp = request.await.expect("the gateway answers every visit");
            let location = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .map(str::to_owned);
            (resp.status().as_u16(), location)
        }
    }))
    .await;
    let mut redirects = 0;
    for (status, location) in &answers {
        match status {
            301 => {
                assert_eq!(location.as_deref(), Some(TARGET));
                redirects += 1;
            }
            s if *s == THROTTLED => assert_eq!(location, &None),
            other => panic!("a visit answered {other}: {answers:?}"),
        }
    }
    assert!(redirects >= 1, "no visit got through: {answers:?}");
    // The first visit holds the only slot through the function's start: the cap bites.
    assert!(
        redirects < VISITS,
        "the cap of one throttled nothing: {answers:?}"
    );
    eprintln!(
        "limits: {redirects} of {VISITS} concurrent visits redirected, {} throttled",
        VISITS - redirects
    );
    stack.note(
        "concurrent visits, each answered 301 to the target or 500 without a Location, some of each",
        json!(VISITS),
    );

    let alone = stack.resolve(&code).await.unwrap();
    assert_eq!(alone.status, 301);
    stack.settle().await.unwrap();

    // Unrecorded: the count depends on how many of the burst got through.
    let link = read_link(&http, &stack, &alice, &code).await;
    assert_eq!(
        link["clicks"],
        redirects + 1,
        "the burst's redirects and the visit alone, each counted once: {link}"
    );
    stack.note("clicks counted == visits redirected", json!(true));

    insta::assert_json_snapshot!(stack.transcript());
    stack.shutdown().await;
}

/// `GET /links/{code}` as `user`, outside the transcript: the link's JSON.
async fn read_link(http: &reqwest::Client, stack: &Stack, user: &User, code: &str) -> Value {
    let resp = http
        .get(format!("{}/links/{code}", stack.api()))
        .bearer_auth(&user.id_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}
