//! The product's own template.

use crate::options;
use std::collections::BTreeMap;
use template::model::{RouteAuth, Stack, Throttle};
use template::{Template, TemplateError};

const PRODUCT: &str = "../../template.yaml";

fn product(overrides: &[(&str, &str)]) -> Result<Stack, TemplateError> {
    let mut opts = options("url-shortener");
    opts.parameter_overrides = overrides
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    template::resolve(&Template::load(PRODUCT)?, &opts)
}

fn env<'s>(stack: &'s Stack, function: &str) -> &'s BTreeMap<String, String> {
    &stack
        .functions
        .iter()
        .find(|f| f.logical_id == function)
        .unwrap_or_else(|| panic!("no function {function}"))
        .environment
}

#[test]
fn resolves_without_warnings() {
    let stack = product(&[]).unwrap();
    assert_eq!(stack.warnings, vec![]);
    assert_eq!(stack.functions.len(), 11);
}

#[test]
fn functions_get_the_environment_the_code_reads() {
    let stack = product(&[]).unwrap();
    let pool = &stack.user_pools[0];
    let client = &stack.user_pool_clients[0];

    let create = env(&stack, "CreateLinkFunction");
    assert_eq!(create["SHORT_BASE_URL"], "http://127.0.0.1:3000");
    assert_eq!(create["API_ENDPOINT"], "http://127.0.0.1:3000");
    assert_eq!(create["EVENT_BUS_NAME"], "url-shortener-events");
    // From Globals, merged with the function's own variables.
    assert_eq!(create["TABLE_NAME"], "url-shortener-LinksTable");
    assert_eq!(create["METRICS_NAMESPACE"], "UrlShortener");
    assert_eq!(create["METRICS_SERVICE"], "url-shortener");

    let aggregator = env(&stack, "ClickAggregatorFunction");
    assert_eq!(
        aggregator["WS_MANAGEMENT_ENDPOINT"],
        "http://127.0.0.1:3001/prod"
    );
    assert_eq!(aggregator["CLICK_QUEUE_RETENTION_SECONDS"], "345600");
    assert_eq!(aggregator["CLICK_DLQ_RETENTION_SECONDS"], "1209600");
    assert_eq!(aggregator["CLICK_REDRIVE_WINDOW_SECONDS"], "604800");

    let connect = env(&stack, "WsConnectFunction");
    let issuer = &connect["USER_POOL_ISSUER"];
    let pool_id = issuer
        .strip_prefix("http://127.0.0.1:4566/us-east-1_")
        .unwrap();
    assert_eq!(pool_id.len(), 9);
    assert!(pool_id.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(issuer, &pool.provider_url);
    assert_eq!(connect["USER_POOL_CLIENT_ID"], client.id);

    let check = env(&stack, "ModerateCheckFunction");
    assert_eq!(check["BLOCKLIST"], "malware,phishing,evil");
    assert_eq!(
        check["SAFE_BROWSING_ENDPOINT"],
        "https://safebrowsing.googleapis.com"
    );
    assert_eq!(check["SAFE_BROWSING_API_KEY"], "");

    for f in &stack.functions {
        assert_eq!(f.runtime.as_deref(), Some("provided.al2023"));
        assert_eq!(f.handler.as_deref(), Some("bootstrap"));
        // The hook waits for the new version's cold start and 10 s timeout, then reports.
        let timeout = if f.logical_id == "PreTrafficHookFunction" {
            30
        } else {
            10
        };
        assert_eq!((f.memory_mb, f.timeout_secs), (256, timeout));
        assert_eq!(f.log_format.as_deref(), Some("JSON"));
        assert_eq!(f.code.build_method.as_deref(), Some("rust-cargolambda"));
        assert_eq!(
            f.code.code_uri.as_deref(),
            Some(std::path::Path::new("../../crates/functions"))
        );
        // SAM's CodeDeploy role may invoke only hooks named CodeDeployHook_*.
        if f.logical_id == "PreTrafficHookFunction" {
            assert_eq!(f.name, "CodeDeployHook_url-shortener_preTraffic");
        } else {
            assert_eq!(f.name, format!("url-shortener-{}", f.logical_id));
        }
    }
    // The PreTraffic hook tests the version being deployed; locally there is only the first.
    let resolve = stack
        .functions
        .iter()
        .find(|f| f.logical_id == "ResolveLinkFunction")
        .unwrap();
    assert_eq!(
        env(&stack, "PreTrafficHookFunction")["TARGET_VERSION_ARN"],
        format!("{}:1", resolve.arn)
    );
    let create = &stack.functions[0];
    assert_eq!(create.code.binary.as_deref(), Some("create_link"));
    assert_eq!(create.alias.as_deref(), Some("live"));
    assert_eq!(
        create.arn,
        "arn:aws:lambda:us-east-1:000000000000:function:url-shortener-CreateLinkFunction"
    );
}

#[test]
fn http_api_routes_auth_cors_and_throttling() {
    let stack = product(&[]).unwrap();
    assert_eq!(stack.http_apis.len(), 1);
    let api = &stack.http_apis[0];
    assert_eq!(api.logical_id, "HttpApi");
    assert_eq!(api.api_id.len(), 10);
    assert_eq!(api.stage, "$default");
    let routes: Vec<(&str, &str, &RouteAuth)> = api
        .routes
        .iter()
        .map(|r| (r.route_key.as_str(), r.function.as_str(), &r.auth))
        .collect();
    // A route names its authorizer by the authorizer's id, which the gateway looks up.
    let jwt = RouteAuth::Jwt {
        authorizer: api.authorizers[0].id.clone(),
        scopes: vec![],
    };
    assert_eq!(
        routes,
        vec![
            ("POST /links", "CreateLinkFunction", &jwt),
            ("GET /links", "ListLinksFunction", &jwt),
            ("GET /links/{code}", "GetLinkFunction", &jwt),
            ("PATCH /links/{code}", "UpdateLinkFunction", &jwt),
            ("DELETE /links/{code}", "DeleteLinkFunction", &jwt),
            ("GET /{code}", "ResolveLinkFunction", &RouteAuth::None),
        ]
    );
    assert!(api.routes.iter().all(|r| r.payload_format == "2.0"));

    let authorizer = &api.authorizers[0];
    assert_eq!(api.authorizers.len(), 1);
    assert_eq!(authorizer.name, "CognitoJwt");
    assert_eq!(authorizer.issuer, stack.user_pools[0].provider_url);
    assert_eq!(
        authorizer.audience,
        vec![stack.user_pool_clients[0].id.clone()]
    );
    assert_eq!(
        authorizer.identity_source,
        vec!["$request.header.Authorization"]
    );

    let cors = api.cors.as_ref().unwrap();
    assert_eq!(cors.allow_origins, vec!["*"]);
    assert_eq!(
        cors.allow_methods,
        vec!["GET", "POST", "PATCH", "DELETE", "OPTIONS"]
    );
    assert_eq!(
        cors.allow_headers,
        vec!["content-type", "authorization", "idempotency-key"]
    );
    assert_eq!(cors.max_age, Some(600));
    assert!(!cors.allow_credentials);

    let throttle = Throttle {
        rate: 50.0,
        burst: 100,
    };
    assert_eq!(api.default_throttle, Some(throttle.clone()));
    assert!(api.route_throttles.is_empty());

    let ws = &stack.websocket_apis[0];
    assert_eq!(stack.websocket_apis.len(), 1);
    assert_eq!(ws.logical_id, "WebSocketApi");
    assert_ne!(ws.api_id, api.api_id);
    assert_eq!(ws.stage, "prod");
    assert_eq!(ws.route_selection_expression, "$request.body.action");
    let ws_routes: Vec<(&str, &str)> = ws
        .routes
        .iter()
        .map(|r| (r.route_key.as_str(), r.function.as_str()))
        .collect();
    assert_eq!(
        ws_routes,
        vec![
            ("$connect", "WsConnectFunction"),
            ("$disconnect", "WsDisconnectFunction")
        ]
    );
    assert_eq!(ws.default_throttle, Some(throttle));
}

#[test]
fn data_events_and_workflows() {
    let stack = product(&[]).unwrap();

    let table = &stack.tables[0];
    assert_eq!(stack.tables.len(), 1);
    assert_eq!(table.name, "url-shortener-LinksTable");
    assert_eq!(
        table.arn,
        "arn:aws:dynamodb:us-east-1:000000000000:table/url-shortener-LinksTable"
    );
    assert_eq!(
        (
            table.hash.name.as_str(),
            table.range.as_ref().unwrap().name.as_str()
        ),
        ("PK", "SK")
    );
    assert_eq!(table.global_indexes[0].name, "GSI1");
    assert_eq!(table.global_indexes[0].projection, "ALL");
    assert_eq!(table.ttl_attribute.as_deref(), Some("ttl"));

    let [queue, dlq] = stack.queues.as_slice() else {
        panic!("two queues expected");
    };
    assert_eq!(queue.name, "url-shortener-ClickQueue");
    assert_eq!(
        queue.url,
        "http://127.0.0.1:4566/000000000000/url-shortener-ClickQueue"
    );
    assert_eq!(queue.visibility_timeout, 60);
    assert_eq!(queue.retention_period, 345_600);
    let redrive = queue.redrive.as_ref().unwrap();
    assert_eq!(redrive.dead_letter_arn, dlq.arn);
    assert_eq!(redrive.max_receive_count, 3);
    assert_eq!(dlq.retention_period, 1_209_600);
    assert_eq!(dlq.visibility_timeout, 30);
    assert!(dlq.redrive.is_none());

    let bus = &stack.event_buses[0];
    assert_eq!(bus.name, "url-shortener-events");
    assert_eq!(
        bus.arn,
        "arn:aws:events:us-east-1:000000000000:event-bus/url-shortener-events"
    );

    let [click, moderation] = stack.rules.as_slice() else {
        panic!("two rules expected");
    };
    assert_eq!(click.bus, bus.name);
    assert_eq!(
        click.pattern,
        serde_json::json!({"source": ["urlshortener"], "detail-type": ["link.clicked"]})
    );
    assert_eq!(click.targets[0].arn, queue.arn);
    assert_eq!(click.targets[0].dead_letter_arn.as_ref(), Some(&dlq.arn));
    assert_eq!(click.targets[0].max_retry_attempts, Some(185));
    assert_eq!(click.targets[0].max_event_age_secs, Some(86_400));

    let machine = &stack.state_machines[0];
    assert_eq!(moderation.bus, bus.name);
    assert_eq!(
        moderation.name,
        "url-shortener-ModerationStateMachineLinkNeedsModeration"
    );
    assert_eq!(moderation.targets[0].arn, machine.arn);
    assert_eq!(
        moderation.pattern["detail"]["needsModeration"],
        serde_json::json!([true])
    );

    assert_eq!(machine.kind, "STANDARD");
    let check = stack
        .functions
        .iter()
        .find(|f| f.logical_id == "ModerateCheckFunction")
        .unwrap();
    assert_eq!(
        machine.definition["States"]["CheckSafety"]["Resource"],
        serde_json::json!(check.arn)
    );
    assert_eq!(
        machine.definition["States"]["Activate"]["Parameters"]["TableName"],
        serde_json::json!("url-shortener-LinksTable")
    );

    let [mapping] = stack.event_source_mappings.as_slice() else {
        panic!("one mapping expected");
    };
    assert_eq!(mapping.function, "ClickAggregatorFunction");
    assert_eq!(mapping.queue_arn, queue.arn);
    // No batching window by default: a watched count moves as soon as the click is counted.
    assert_eq!(
        (mapping.batch_size, mapping.max_batching_window_secs),
        (10, 0)
    );
    assert!(mapping.report_batch_item_failures);
    assert!(mapping.enabled);

    let pool = &stack.user_pools[0];
    assert_eq!(pool.name, "url-shortener-users");
    assert_eq!(pool.username_attributes, vec!["email"]);
    assert!(!pool.password_policy.require_symbols);
    assert!(pool.password_policy.require_numbers);
    let client = &stack.user_pool_clients[0];
    assert_eq!(client.user_pool_id, pool.id);
    assert_eq!(client.id.len(), 26);
    assert_eq!(
        (
            client.access_token_validity,
            client.id_token_validity,
            client.refresh_token_validity
        ),
        (3_600, 3_600, 30 * 86_400)
    );

    assert_eq!(stack.outputs["ApiUrl"], "http://127.0.0.1:3000");
    assert_eq!(stack.outputs["WebSocketUrl"], "ws://127.0.0.1:3001/prod");
    assert_eq!(stack.outputs["UserPoolId"], pool.id);
    assert_eq!(stack.outputs["ClickQueueUrl"], queue.url);
    // The alarm e-mail subscription's condition is false: it is not in the stack at all.
    assert!(
        !stack
            .ignored
            .iter()
            .any(|i| i.resource == "AlarmEmailSubscription")
    );
    assert!(stack.ignored.iter().any(|i| i.resource == "Dashboard"));
}

#[test]
fn snapshot() {
    let stack = product(&[]).unwrap();
    insta::with_settings!({sort_maps => true}, {
        insta::assert_json_snapshot!("product_stack", stack);
    });
}

#[test]
fn parameter_overrides_change_values() {
    let stack = product(&[
        ("ThrottleRateLimit", "5"),
        ("CustomDomainName", "sho.rt"),
        ("StageName", "dev"),
        ("AlarmEmail", "ops@example.com"),
        ("CorsAllowOrigins", "https://a.example,https://b.example"),
    ])
    .unwrap();
    assert_eq!(stack.warnings, vec![]);
    assert_eq!(
        env(&stack, "CreateLinkFunction")["SHORT_BASE_URL"],
        "https://sho.rt"
    );
    // API_ENDPOINT does not depend on the domain.
    assert_eq!(
        env(&stack, "CreateLinkFunction")["API_ENDPOINT"],
        "http://127.0.0.1:3000"
    );
    assert_eq!(
        env(&stack, "ClickAggregatorFunction")["WS_MANAGEMENT_ENDPOINT"],
        "http://127.0.0.1:3001/dev"
    );
    assert_eq!(
        stack.http_apis[0].default_throttle,
        Some(Throttle {
            rate: 5.0,
            burst: 100
        })
    );
    assert_eq!(
        stack.http_apis[0].cors.as_ref().unwrap().allow_origins,
        vec!["https://a.example", "https://b.example"]
    );
    assert_eq!(
        stack.parameters["CorsAllowOrigins"],
        "https://a.example,https://b.example"
    );
    assert_eq!(stack.websocket_apis[0].stage, "dev");
    assert!(
        stack
            .ignored
            .iter()
            .any(|i| i.resource == "AlarmEmailSubscription")
    );
}

/// `RedirectReservedConcurrency`: -1 (the default) leaves the property out through
/// `!If [.., !Ref AWS::NoValue]`, so the redirect function is unreserved like the others; 0
/// (the kill switch) and a cap reach the model as numbers, on the redirect function only.
#[test]
fn redirect_reserved_concurrency_is_absent_unless_set() {
    let reserved = |overrides: &[(&str, &str)]| -> Vec<(String, Option<u32>)> {
        product(overrides)
            .unwrap()
            .functions
            .iter()
            .filter(|f| f.reserved_concurrency.is_some() || f.logical_id == "ResolveLinkFunction")
            .map(|f| (f.logical_id.clone(), f.reserved_concurrency))
            .collect()
    };
    let resolve = |n| vec![("ResolveLinkFunction".to_owned(), n)];
    assert_eq!(reserved(&[]), resolve(None));
    assert_eq!(
        reserved(&[("RedirectReservedConcurrency", "-1")]),
        resolve(None)
    );
    assert_eq!(
        reserved(&[("RedirectReservedConcurrency", "0")]),
        resolve(Some(0))
    );
    assert_eq!(
        reserved(&[("RedirectReservedConcurrency", "25")]),
        resolve(Some(25))
    );
    assert_eq!(
        product(&[("RedirectReservedConcurrency", "-2")])
            .unwrap_err()
            .to_string(),
        "parameter RedirectReservedConcurrency: value -2 is below the MinValue -1"
    );
}

#[test]
fn bad_overrides_are_errors() {
    for (overrides, expected) in [
        (
            &[("ThrottleRateLimits", "5")][..],
            "parameter override ThrottleRateLimits: the template declares no such parameter",
        ),
        (
            &[("Architecture", "sparc")][..],
            "parameter Architecture: value \"sparc\" is not one of the AllowedValues [\"arm64\", \"x86_64\"]",
        ),
        (
            &[("ThrottleRateLimit", "0")][..],
            "parameter ThrottleRateLimit: value 0 is below the MinValue 1",
        ),
        (
            &[("ClickQueueVisibilitySeconds", "50000")][..],
            "parameter ClickQueueVisibilitySeconds: value 50000 is above the MaxValue 43200",
        ),
        (
            &[("ThrottleBurstLimit", "lots")][..],
            "parameter ThrottleBurstLimit: value \"lots\" is not a number",
        ),
        (
            &[("StageName", "not a stage")][..],
            "parameter StageName: value \"not a stage\" does not match the AllowedPattern \"^[A-Za-z0-9_-]{1,128}$\"",
        ),
    ] {
        let e = product(overrides).unwrap_err().to_string();
        assert_eq!(e, expected);
    }
}
