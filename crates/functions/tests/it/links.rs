//! The links API: create, resolve, list, get, update, delete; tenants; idempotency; expiry.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn create_then_resolve_redirects_and_publishes_one_click() {
    let stack = Stack::start().await;
    let h = stack.create();
    let r = call(
        |q| h.handle(q),
        Req::owner(ALICE)
            .route("POST", "/links", "/links")
            .json(json!({"url": "HTTPS://Example.com:443/a/../docs?q=1"})),
    )
    .await;
    assert_eq!(r.status, 201);
    let body = r.json();
    let code = body["code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 7);
    assert_eq!(
        r.header("location"),
        Some(format!("/links/{code}").as_str())
    );
    assert_eq!(body["shortUrl"], json!(format!("{BASE}/{code}")));
    redact_link().bind(|| insta::assert_json_snapshot!("create_response", body));

    // link.created went out, for moderation, carrying the normalised target.
    let published = stack.published().await;
    assert_eq!(published.len(), 1);
    assert_eq!(published[0].0, "link.created");
    assert_eq!(published[0].1["needsModeration"], json!(true));
    assert_eq!(
        published[0].1["target"],
        json!("https://example.com/docs?q=1")
    );

    // A pending link redirects like an active one.
    let r = click(&stack, &code, "req-1", T0 + 1000).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://example.com/docs?q=1"));
    assert_eq!(r.header("cache-control"), Some("private, no-store"));
    assert_eq!(r.body, "");
    let clicks: Vec<_> = stack
        .published()
        .await
        .into_iter()
        .filter(|e| e.0 == "link.clicked")
        .collect();
    assert_eq!(clicks.len(), 1);
    let detail = &clicks[0].1;
    assert_eq!(detail["code"], json!(code));
    assert_eq!(detail["at"], json!(T0 + 1000));
    assert_eq!(detail["version"], json!(1));
    assert_eq!(detail["referer"], json!("https://news.example/post/1"));
    // The event's time is the request's, not the publisher's clock.
    assert_eq!(clicks[0].2, (T0 + 1000) as f64 / 1000.0);
    let totals = stack.metric_totals();
    assert_eq!(totals.get("LinkCreated"), Some(&1));
    assert_eq!(totals.get("LinkResolved"), Some(&1));
}

#[tokio::test]
async fn create_options_alias_expiry_and_redirect_type() {
    let stack = Stack::start().await;
    let body = create_link(
        &stack,
        ALICE,
        json!({"url": "https://example.com/", "alias": "spring-sale", "expiresAt": "2026-12-01T00:00:00Z", "redirect": 307}),
    )
    .await;
    assert_eq!(body["code"], json!("spring-sale"));
    assert_eq!(body["redirect"], json!(307));
    assert_eq!(body["expiresAt"], json!("2026-12-01T00:00:00.000Z"));
    let r = click(&stack, "spring-sale", "r1", T0).await;
    assert_eq!(r.status, 307);

    // The alias is now taken, for everyone.
    let h = stack.create();
    let r = call(
        |q| h.handle(q),
        Req::owner(BOB)
            .route("POST", "/links", "/links")
            .json(json!({"url": "https://other.example/", "alias": "spring-sale"})),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(r.problem_type(), "urn:url-shortener:problem:alias-taken");
}

#[tokio::test]
async fn create_refuses_bad_input_each_with_its_own_problem() {
    let stack = Stack::start().await;
    let h = stack.create();
    let cases = [
        (Req::owner(ALICE).raw_body("{not json"), 400, "bad-request"),
        (Req::owner(ALICE).raw_body(""), 400, "bad-request"),
        (
            Req::owner(ALICE).json(json!(["https://a.example/"])),
            400,
            "bad-request",
        ),
        (
            Req::owner(ALICE).json(json!({"url": "https://a.example/", "color": "red"})),
            400,
            "bad-request",
        ),
        // The owner is the token's sub; a body cannot name one.
        (
            Req::owner(ALICE).json(json!({"url": "https://a.example/", "owner": BOB})),
            400,
            "bad-request",
        ),
        (
            Req::owner(ALICE).json(json!({"url": "ftp://a.example/"})),
            400,
            "invalid-url",
        ),
        (
            Req::owner(ALICE).json(json!({"url": "https://u:p@a.example/"})),
            400,
            "invalid-url",
        ),
        (
            Req::owner(ALICE).json(json!({"url": format!("{BASE}/abc")})),
            400,
            "invalid-url",
        ),
        (
            Req::owner(ALICE).json(json!({"url": "https://a.example/", "alias": "links"})),
            400,
            "invalid-alias",
        ),
        (
            Req::owner(ALICE).json(json!({"url": "https://a.example/", "alias": "a b"})),
            400,
            "invalid-alias",
        ),
        (
            Req::owner(ALICE).json(json!({"url": "https://a.example/", "expiresAt": "tomorrow"})),
            400,
            "invalid-expiry",
        ),
        (
            Req::owner(ALICE)
                .json(json!({"url": "https://a.example/", "expiresAt": "2026-11-27T09:00:00Z"})),
            400,
            "invalid-expiry",
        ),
        (
            Req::owner(ALICE).json(json!({"url": "https://a.example/", "redirect": 200})),
            400,
            "invalid-redirect",
        ),
        (
            Req::owner(ALICE)
                .json(json!({"url": "https://a.example/"}))
                .header("idempotency-key", "has space"),
            400,
            "invalid-idempotency-key",
        ),
    ];
    let mut seen = Vec::new();
    for (req, status, kind) in cases {
        let r = call(|q| h.handle(q), req.route("POST", "/links", "/links")).await;
        assert_eq!(r.status, status, "{r:?}");
        assert_eq!(
            r.problem_type(),
            format!("urn:url-shortener:problem:{kind}")
        );
        seen.push(r.json());
    }
    insta::assert_json_snapshot!("create_refusals", seen);
    assert!(
        stack.published().await.is_empty(),
        "nothing refused is published"
    );
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_a_different_body() {
    let stack = Stack::start().await;
    let h = stack.create();
    let req = |owner: &str, url: &str| {
        Req::owner(owner)
            .route("POST", "/links", "/links")
            .json(json!({"url": url}))
            .header("Idempotency-Key", "order-42")
    };
    let first = call(|q| h.handle(q), req(ALICE, "https://a.example/")).await;
    assert_eq!(first.status, 201);
    let again = call(|q| h.handle(q), req(ALICE, "https://a.example/")).await;
    assert_eq!(again.status, 201);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(
        again.json(),
        first.json(),
        "the same link, not a second one"
    );
    let other = call(|q| h.handle(q), req(ALICE, "https://b.example/")).await;
    assert_eq!(other.status, 422);
    assert_eq!(
        other.problem_type(),
        "urn:url-shortener:problem:idempotency-key-reused"
    );
    // Keys are scoped to their owner: Bob's "order-42" is his own.
    let bob = call(|q| h.handle(q), req(BOB, "https://b.example/")).await;
    assert_eq!(bob.status, 201);
    assert_ne!(bob.json()["code"], first.json()["code"]);
    let created = stack
        .published()
        .await
        .into_iter()
        .filter(|e| e.0 == "link.created")
        .count();
    assert_eq!(created, 2);
    // After 24 h (by the requests' clock) the key is free again.
    let later = call(
        |q| h.handle(q),
        req(ALICE, "https://b.example/").at(T0 + DAY_MS + 1),
    )
    .await;
    assert_eq!(later.status, 201);
    assert_eq!(later.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn create_is_undone_when_moderation_cannot_be_started() {
    let stack = Stack::start_with(BusMode::RejectAll).await;
    let h = stack.create();
    let r = call(
        |q| h.handle(q),
        Req::owner(ALICE)
            .route("POST", "/links", "/links")
            .json(json!({"url": "https://a.example/", "alias": "retry-me"}))
            .header("idempotency-key", "k1"),
    )
    .await;
    assert_eq!(r.status, 503);
    assert_eq!(r.problem_type(), "urn:url-shortener:problem:publish-failed");
    // Nothing is left behind: neither an unmoderated link nor the idempotency record.
    let r = click(&stack, "retry-me", "r1", T0).await;
    assert_eq!(r.status, 404);
    assert!(
        stack
            .store()
            .get_idempotency(ALICE, "k1", domain::EpochMillis(T0))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(stack.metric_totals().get("PublishFailed"), Some(&1));
}

#[tokio::test]
async fn resolve_answers_404_and_410_as_problems() {
    let stack = Stack::start().await;
    let r = click(&stack, "nope123", "r1", T0).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.problem_type(), "urn:url-shortener:problem:not-found");
    let r = click(&stack, "..%2F", "r2", T0).await;
    assert_eq!(r.status, 404);

    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "off-soon"}),
    )
    .await;
    let upd = stack.update();
    let r = call(
        |q| upd.handle(q),
        Req::owner(ALICE)
            .route("PATCH", "/links/{code}", "/links/off-soon")
            .json(json!({"disabled": true})),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], json!("disabled"));
    let r = click(&stack, "off-soon", "r3", T0).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.problem_type(), "urn:url-shortener:problem:gone");
    insta::assert_json_snapshot!("resolve_gone", r.json());
    assert!(
        stack
            .published()
            .await
            .iter()
            .all(|e| e.0 != "link.clicked"),
        "no click for a refused redirect"
    );
    assert_eq!(stack.metric_totals().get("LinkNotFound"), Some(&2));
}

#[tokio::test]
async fn expiry_is_decided_by_the_request_time_not_the_system_clock() {
    let stack = Stack::start().await;
    // Expires one minute after T0. T0 is in 2026; whatever the machine's clock says, only the
    // requests' timeEpoch decides.
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "flash", "expiresAt": "2026-11-27T10:01:00Z"}),
    )
    .await;
    assert_eq!(click(&stack, "flash", "r1", T0 + 59_999).await.status, 301);
    let r = click(&stack, "flash", "r2", T0 + 60_000).await;
    assert_eq!(r.status, 410);
    assert_eq!(r.json()["detail"], json!("link flash is expired"));
    // The owner sees it as expired at that time, and can extend it.
    let get = stack.get();
    let r = call(
        |q| get.handle(q),
        Req::owner(ALICE)
            .route("GET", "/links/{code}", "/links/flash")
            .at(T0 + 60_000),
    )
    .await;
    assert_eq!(r.json()["status"], json!("expired"));
    let upd = stack.update();
    let r = call(
        |q| upd.handle(q),
        Req::owner(ALICE)
            .route("PATCH", "/links/{code}", "/links/flash")
            .json(json!({"expiresAt": null}))
            .at(T0 + 61_000),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["status"], json!("pending"));
    assert_eq!(click(&stack, "flash", "r3", T0 + 62_000).await.status, 301);
}

#[tokio::test]
async fn click_publish_retries_failed_entries_with_the_same_click_id() {
    let stack = Stack::start_with(BusMode::FailFirstEntryOnce).await;
    // Create with a store write only, so the bus's single failure is the click's.
    put_active_link(&stack, "retry01", 302).await;
    let r = click(&stack, "retry01", "gw-req-7", T0).await;
    assert_eq!(r.status, 302);
    let published = stack.published().await;
    assert_eq!(published.len(), 2, "the failed entry was sent again");
    assert_eq!(
        published[0].1, published[1].1,
        "byte for byte the same detail, click id included"
    );
    assert_eq!(
        published[0].1["clickId"],
        json!(domain::ClickEvent::click_id_for("gw-req-7"))
    );
    assert_eq!(stack.metric_totals().get("PublishFailed"), None);
}

#[tokio::test]
async fn a_failed_publish_never_fails_the_redirect() {
    let stack = Stack::start_with(BusMode::RejectAll).await;
    put_active_link(&stack, "still-ok", 301).await;
    let r = click(&stack, "still-ok", "r1", T0).await;
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://a.example/"));
    assert_eq!(stack.published().await.len(), 3, "three attempts");
    assert_eq!(stack.metric_totals().get("PublishFailed"), Some(&1));
}

#[tokio::test]
async fn list_pages_newest_first_and_cursors_are_bound_to_their_tenant() {
    let stack = Stack::start().await;
    let h = stack.create();
    for i in 0..5 {
        let r = call(
            |q| h.handle(q),
            Req::owner(ALICE)
                .route("POST", "/links", "/links")
                .json(
                    json!({"url": format!("https://a.example/{i}"), "alias": format!("alice-{i}")}),
                )
                .at(T0 + i * 1000),
        )
        .await;
        assert_eq!(r.status, 201);
    }
    create_link(
        &stack,
        BOB,
        json!({"url": "https://b.example/", "alias": "bob-0"}),
    )
    .await;

    let list = stack.list();
    let page = |q: &[(&str, &str)], owner: &str| {
        let req = Req::owner(owner).route("GET", "/links", "/links").query(q);
        call(|r| list.handle(r), req)
    };
    let p1 = page(&[("limit", "2")], ALICE).await.json();
    let codes = |p: &serde_json::Value| -> Vec<String> {
        p["links"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(codes(&p1), ["alice-4", "alice-3"]);
    let c1 = p1["nextCursor"].as_str().unwrap().to_owned();
    let p2 = page(&[("limit", "2"), ("cursor", &c1)], ALICE).await.json();
    assert_eq!(codes(&p2), ["alice-2", "alice-1"]);
    let c2 = p2["nextCursor"].as_str().unwrap().to_owned();
    let p3 = page(&[("limit", "2"), ("cursor", &c2)], ALICE).await.json();
    assert_eq!(codes(&p3), ["alice-0"]);
    assert!(
        p3.get("nextCursor").is_none(),
        "the last page has no cursor: {p3}"
    );
    // A page that ends exactly at the last link has none either (DynamoDB's own
    // LastEvaluatedKey would point at an empty page).
    let all = page(&[("limit", "5")], ALICE).await.json();
    assert_eq!(codes(&all).len(), 5);
    assert!(all.get("nextCursor").is_none(), "{all}");
    redact_link().bind(|| insta::assert_json_snapshot!("list_page", p1));

    // Bob cannot use Alice's cursor, nor a damaged one.
    let r = page(&[("cursor", &c1)], BOB).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.problem_type(), "urn:url-shortener:problem:invalid-cursor");
    assert_eq!(page(&[("cursor", "garbage!")], ALICE).await.status, 400);
    assert_eq!(page(&[("limit", "0")], ALICE).await.status, 400);
    assert_eq!(page(&[("limit", "101")], ALICE).await.status, 400);
    // And Bob's own list holds only his link.
    assert_eq!(codes(&page(&[], BOB).await.json()), ["bob-0"]);
}

#[tokio::test]
async fn another_tenant_can_neither_read_change_nor_delete_a_link() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "alices"}),
    )
    .await;
    let (get, upd, del) = (stack.get(), stack.update(), stack.delete());

    let r = call(
        |q| get.handle(q),
        Req::owner(BOB).route("GET", "/links/{code}", "/links/alices"),
    )
    .await;
    assert_eq!(r.status, 404);
    let missing = call(
        |q| get.handle(q),
        Req::owner(BOB).route("GET", "/links/{code}", "/links/nothere"),
    )
    .await;
    assert_eq!(missing.status, 404);
    // "not yours" and "missing" differ only in the code they echo.
    assert_eq!(r.json()["title"], missing.json()["title"]);

    let r = call(
        |q| upd.handle(q),
        Req::owner(BOB)
            .route("PATCH", "/links/{code}", "/links/alices")
            .json(json!({"url": "https://evil.example/"})),
    )
    .await;
    assert_eq!(r.status, 404);
    let r = call(
        |q| del.handle(q),
        Req::owner(BOB).route("DELETE", "/links/{code}", "/links/alices"),
    )
    .await;
    assert_eq!(r.status, 404);

    // Untouched: still Alice's, same target.
    let r = call(
        |q| get.handle(q),
        Req::owner(ALICE).route("GET", "/links/{code}", "/links/alices"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["target"], json!("https://a.example/"));
    assert_eq!(
        click(&stack, "alices", "r1", T0).await.header("location"),
        Some("https://a.example/")
    );
}

#[tokio::test]
async fn owner_routes_without_claims_are_refused() {
    // The gateway's authorizer guards these routes; a function reached without claims (a
    // misconfigured route) must still refuse rather than act for nobody.
    let stack = Stack::start().await;
    let list = stack.list();
    let r = call(
        |q| list.handle(q),
        Req::public().route("GET", "/links", "/links"),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.problem_type(), "urn:url-shortener:problem:unauthorized");
}

#[tokio::test]
async fn get_shows_thirty_days_of_clicks_zero_filled() {
    let stack = Stack::start().await;
    let h = stack.create();
    let r = call(
        |q| h.handle(q),
        Req::owner(ALICE)
            .route("POST", "/links", "/links")
            .json(json!({"url": "https://a.example/", "alias": "stats"}))
            .at(T0 - 41 * DAY_MS),
    )
    .await;
    assert_eq!(r.status, 201);
    // Two clicks today, one three days ago, one 40 days ago (outside the window).
    for (i, at) in [T0, T0 + 5, T0 - 3 * DAY_MS, T0 - 40 * DAY_MS]
        .into_iter()
        .enumerate()
    {
        click(&stack, "stats", &format!("r{i}"), at).await;
    }
    let out = aggregate(&stack.aggregator(), stack.click_batch().await).await;
    assert!(failures(&out).is_empty());
    let get = stack.get();
    let r = call(
        |q| get.handle(q),
        Req::owner(ALICE).route("GET", "/links/{code}", "/links/stats"),
    )
    .await;
    assert_eq!(r.status, 200);
    let body = r.json();
    assert_eq!(body["clicks"], json!(4));
    let daily = body["daily"].as_array().unwrap();
    assert_eq!(daily.len(), 30);
    assert_eq!(daily[29], json!({"day": "2026-11-27", "clicks": 2}));
    assert_eq!(daily[26], json!({"day": "2026-11-24", "clicks": 1}));
    assert_eq!(daily[0]["day"], json!("2026-10-29"));
    assert_eq!(
        daily
            .iter()
            .map(|d| d["clicks"].as_u64().unwrap())
            .sum::<u64>(),
        3
    );
    insta::assert_json_snapshot!("get_detail", body);
}

#[tokio::test]
async fn update_retargets_to_pending_and_asks_for_moderation() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "moving"}),
    )
    .await;
    let upd = stack.update();
    let patch = |body: serde_json::Value| {
        Req::owner(ALICE)
            .route("PATCH", "/links/{code}", "/links/moving")
            .json(body)
            .at(T0 + 1000)
    };
    let r = call(
        |q| upd.handle(q),
        patch(json!({"url": "https://b.example/", "redirect": 308})),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let body = r.json();
    assert_eq!(body["target"], json!("https://b.example/"));
    assert_eq!(body["redirect"], json!(308));
    assert_eq!(body["status"], json!("pending"));
    let updated: Vec<_> = stack
        .published()
        .await
        .into_iter()
        .filter(|e| e.0 == "link.updated")
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].1["needsModeration"], json!(true));
    assert_eq!(updated[0].1["target"], json!("https://b.example/"));

    // Disable, then enable: enabling moderates again.
    assert_eq!(
        call(|q| upd.handle(q), patch(json!({"disabled": true})))
            .await
            .json()["status"],
        json!("disabled")
    );
    assert_eq!(
        call(|q| upd.handle(q), patch(json!({"disabled": false})))
            .await
            .json()["status"],
        json!("pending")
    );
    let flags: Vec<_> = stack
        .published()
        .await
        .into_iter()
        .filter(|e| e.0 == "link.updated")
        .map(|e| e.1["needsModeration"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [true, false, true]);

    // Refusals.
    let r = call(|q| upd.handle(q), patch(json!({}))).await;
    assert_eq!(r.problem_type(), "urn:url-shortener:problem:bad-request");
    let r = call(
        |q| upd.handle(q),
        patch(json!({"url": "javascript:alert(1)"})),
    )
    .await;
    assert_eq!(r.problem_type(), "urn:url-shortener:problem:invalid-url");
    let r = call(|q| upd.handle(q), patch(json!({"owner": BOB}))).await;
    assert_eq!(
        r.status, 400,
        "unknown fields, the owner among them, are refused"
    );
}

#[tokio::test]
async fn a_rejected_link_cannot_be_enabled_only_retargeted() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://phishing.example/", "alias": "bad-one"}),
    )
    .await;
    // What the moderation state machine's Reject state writes.
    stack
        .ddb()
        .update_item()
        .table_name(&stack.table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("LINK#bad-one".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("META".into()),
        )
        .update_expression("SET #s = :r, moderationReason = :why")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(
            ":r",
            aws_sdk_dynamodb::types::AttributeValue::S("rejected".into()),
        )
        .expression_attribute_values(
            ":why",
            aws_sdk_dynamodb::types::AttributeValue::S("blocklisted".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(click(&stack, "bad-one", "r1", T0).await.status, 410);
    let upd = stack.update();
    let r = call(
        |q| upd.handle(q),
        Req::owner(ALICE)
            .route("PATCH", "/links/{code}", "/links/bad-one")
            .json(json!({"disabled": false})),
    )
    .await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.problem_type(),
        "urn:url-shortener:problem:invalid-transition"
    );
    let r = call(
        |q| upd.handle(q),
        Req::owner(ALICE)
            .route("PATCH", "/links/{code}", "/links/bad-one")
            .json(json!({"url": "https://fine.example/"})),
    )
    .await;
    assert_eq!(r.json()["status"], json!("pending"));
    assert!(r.json().get("moderationReason").is_none());
}

#[tokio::test]
async fn delete_cascades_to_stats_and_watchers() {
    let stack = Stack::start().await;
    create_link(
        &stack,
        ALICE,
        json!({"url": "https://a.example/", "alias": "doomed"}),
    )
    .await;
    click(&stack, "doomed", "r1", T0).await;
    click(&stack, "doomed", "r2", T0 - DAY_MS).await;
    aggregate(&stack.aggregator(), stack.click_batch().await).await;
    let store = stack.store();
    store
        .put_connection(&functions::store::Connection {
            id: "conn-1".into(),
            code: domain::ShortCode::parse("doomed").unwrap(),
            owner: ALICE.into(),
            connected_at: domain::EpochMillis(T0),
            expires_at: domain::EpochMillis(T0 + 7_200_000),
        })
        .await
        .unwrap();

    let del = stack.delete();
    let r = call(
        |q| del.handle(q),
        Req::owner(ALICE).route("DELETE", "/links/{code}", "/links/doomed"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!({"deleted": "doomed"}));
    assert!(
        stack
            .published()
            .await
            .iter()
            .any(|e| e.0 == "link.deleted")
    );

    // Nothing of the link is left but its click markers (which expire by TTL).
    let items = stack
        .ddb()
        .scan()
        .table_name(&stack.table)
        .send()
        .await
        .unwrap();
    let left: Vec<String> = items
        .items()
        .iter()
        .map(|i| i["PK"].as_s().unwrap().clone())
        .filter(|pk| !pk.starts_with("CLICK#"))
        .collect();
    assert_eq!(left, Vec::<String>::new());
    // Deleting again is a plain 404.
    let r = call(
        |q| del.handle(q),
        Req::owner(ALICE).route("DELETE", "/links/{code}", "/links/doomed"),
    )
    .await;
    assert_eq!(r.status, 404);
}
