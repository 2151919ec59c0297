//! Table tests for the pattern language: each documented example pattern with the documented
//! (or a documented-shape) event and whether it matches, then edge cases from event-ruler's
//! README, then patterns EventBridge refuses.

use super::*;
use serde_json::json;

/// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
fn ec2_event(state: &str) -> Value {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "111122223333",
        "time": "2017-12-22T18:43:48Z",
        "region": "us-west-1",
        "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
        "detail": {"instance-id": "i-1234567890abcdef0", "state": state}
    })
}

/// The event-ruler README's example event, which the guide's content-filtering examples
/// (numeric, cidr, exists, the complex example) are written against.
fn ruler_event() -> Value {
    json!({
        "version": "0",
        "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
        "detail-type": "EC2 Instance State-change Notification",
        "source": "aws.ec2",
        "account": "012345679012",
        "time": "2017-10-02T16:24:49Z",
        "region": "us-east-1",
        "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
        "detail": {
            "c-count": 5,
            "d-count": 3,
            "x-limit": 301.8,
            "source-ip": "10.0.0.33",
            "instance-id": "i-000000aaaaaa00000",
            "state": "running"
        }
    })
}

fn check(cases: &[(&str, Value, Value, bool)]) {
    for (name, pattern, event, expected) in cases {
        let p = Pattern::parse(pattern).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            p.matches(event),
            *expected,
            "{name}: {pattern} against {event}"
        );
    }
}

fn detail(fields: Value) -> Value {
    json!({"source": "app", "detail": fields})
}

#[test]
fn creating_event_patterns_examples() {
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
    let termination = json!({
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["terminated"]}
    });
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html
    // ("Matching event values": either source).
    let either_source = json!({"source": ["aws.ec2", "aws.fargate"]});
    // Auto Scaling event and the `responseElements: [null]` pattern (same page).
    let autoscaling = json!({
        "version": "0",
        "id": "3e3c153a-8339-4e30-8c35-687ebef853fe",
        "detail-type": "EC2 Instance Launch Successful",
        "source": "aws.autoscaling",
        "account": "123456789012",
        "time": "2015-11-11T21:31:47Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"eventVersion": "", "responseElements": null}
    });
    // Macie event and the risk-score pattern (same page, "Value matching").
    let macie = json!({
        "source": "aws.macie",
        "detail-type": "Macie Alert",
        "detail": {"notification-type": "ALERT_CREATED", "tags": ["Custom_Alert", "Insider"],
                   "risk-score": 80, "trigger": {"alert-type": "basic", "risk": 8}}
    });
    check(&[
        (
            "termination",
            termination.clone(),
            ec2_event("terminated"),
            true,
        ),
        (
            "termination/running",
            termination,
            ec2_event("running"),
            false,
        ),
        ("either source", either_source.clone(), ec2_event("x"), true),
        (
            "either source/other",
            either_source,
            json!({"source": "aws.s3"}),
            false,
        ),
        (
            "responseElements null",
            json!({"source": ["aws.autoscaling"], "detail-type": ["EC2 Instance Launch Successful"],
                   "detail": {"responseElements": [null]}}),
            autoscaling.clone(),
            true,
        ),
        (
            "macie risk",
            json!({"source": ["aws.macie"], "detail-type": ["Macie Alert"],
                   "detail": {"risk-score": [80], "trigger": {"risk": [8]}}}),
            macie.clone(),
            true,
        ),
        (
            "macie risk/other",
            json!({"detail": {"risk-score": [80], "trigger": {"risk": [9]}}}),
            macie,
            false,
        ),
        // A field the event lacks never matches a value.
        (
            "missing field",
            json!({"detail": {"nope": ["x"]}}),
            ec2_event("x"),
            false,
        ),
        // Strings are compared exactly, without case folding.
        (
            "case",
            json!({"source": ["AWS.EC2"]}),
            ec2_event("x"),
            false,
        ),
    ]);
}

#[test]
fn null_values_and_empty_strings() {
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html
    let event = json!({"source": "aws.autoscaling",
                       "detail": {"eventVersion": "", "responseElements": null}});
    check(&[
        (
            "empty string",
            json!({"detail": {"eventVersion": [""]}}),
            event.clone(),
            true,
        ),
        (
            "null",
            json!({"detail": {"responseElements": [null]}}),
            event.clone(),
            true,
        ),
        // "Null values and empty strings are not interchangeable in pattern matching."
        (
            "null is not empty",
            json!({"detail": {"responseElements": [""]}}),
            event.clone(),
            false,
        ),
        (
            "empty is not null",
            json!({"detail": {"eventVersion": [null]}}),
            event.clone(),
            false,
        ),
        (
            "missing is not null",
            json!({"detail": {"other": [null]}}),
            event,
            false,
        ),
    ]);
}

#[test]
fn arrays() {
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
    let pattern = json!({"resources": [
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f",
        "arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f"
    ]});
    let event = json!({"resources": [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate",
        "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"
    ]});
    check(&[
        ("intersection", pattern.clone(), event, true),
        (
            "no intersection",
            pattern.clone(),
            json!({"resources": ["arn:x"]}),
            false,
        ),
        (
            "empty event array",
            pattern,
            json!({"resources": []}),
            false,
        ),
        // Nested arrays are flattened.
        (
            "nested arrays",
            json!({"a": ["x"]}),
            json!({"a": [["y"], ["x"]]}),
            true,
        ),
    ]);
    // event-ruler README, "JSON Array Matching": objects in an array are matched one element at
    // a time, so fields from two different elements never combine.
    let employees = json!({"employees": [
        {"firstName": "John", "lastName": "Doe"},
        {"firstName": "Anna", "lastName": "Smith"},
        {"firstName": "Peter", "lastName": "Jones"}
    ]});
    check(&[
        (
            "element",
            json!({"employees": {"firstName": ["Anna"]}}),
            employees.clone(),
            true,
        ),
        (
            "same element",
            json!({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}),
            employees.clone(),
            true,
        ),
        (
            "across elements",
            json!({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}),
            employees,
            false,
        ),
    ]);
}

#[test]
fn comparison_operators_table() {
    // Each "Rule syntax" of https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html
    // with an event that satisfies it and one that does not.
    let cases: Vec<(&str, Value, Value, bool)> = vec![
        (
            "and",
            json!({"Location": ["New York"], "Day": ["Monday"]}),
            json!({"Location": "New York", "Day": "Monday"}),
            true,
        ),
        (
            "and/one",
            json!({"Location": ["New York"], "Day": ["Monday"]}),
            json!({"Location": "New York", "Day": "Sunday"}),
            false,
        ),
        (
            "anything-but",
            json!({"state": [{"anything-but": "initializing"}]}),
            json!({"state": "running"}),
            true,
        ),
        (
            "anything-but/same",
            json!({"state": [{"anything-but": "initializing"}]}),
            json!({"state": "initializing"}),
            false,
        ),
        (
            "anything-but begins with",
            json!({"Region": [{"anything-but": {"prefix": "us-"}}]}),
            json!({"Region": "eu-west-1"}),
            true,
        ),
        (
            "anything-but begins with/us",
            json!({"Region": [{"anything-but": {"prefix": "us-"}}]}),
            json!({"Region": "us-east-1"}),
            false,
        ),
        (
            "anything-but ends with",
            json!({"FileName": [{"anything-but": {"suffix": ".png"}}]}),
            json!({"FileName": "a.jpg"}),
            true,
        ),
        (
            "anything-but ends with/png",
            json!({"FileName": [{"anything-but": {"suffix": ".png"}}]}),
            json!({"FileName": "a.png"}),
            false,
        ),
        (
            "anything-but ignore case",
            json!({"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}),
            json!({"state": "INITIALIZING"}),
            false,
        ),
        (
            "anything-but ignore case/other",
            json!({"state": [{"anything-but": {"equals-ignore-case": "initializing"}}]}),
            json!({"state": "running"}),
            true,
        ),
        (
            "anything-but wildcard",
            json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
            json!({"FilePath": "/usr/lib/libc.so"}),
            false,
        ),
        (
            "anything-but wildcard/other",
            json!({"FilePath": [{"anything-but": {"wildcard": "*/lib/*"}}]}),
            json!({"FilePath": "/usr/bin/ls"}),
            true,
        ),
        (
            "begins with",
            json!({"Region": [{"prefix": "us-"}]}),
            json!({"Region": "us-east-1"}),
            true,
        ),
        (
            "begins with/other",
            json!({"Region": [{"prefix": "us-"}]}),
            json!({"Region": "eu-west-1"}),
            false,
        ),
        (
            "begins with ignore case",
            json!({"service": [{"prefix": {"equals-ignore-case": "eventb"}}]}),
            json!({"service": "EventBridge"}),
            true,
        ),
        (
            "empty",
            json!({"LastName": [""]}),
            json!({"LastName": ""}),
            true,
        ),
        (
            "equals",
            json!({"Name": ["Alice"]}),
            json!({"Name": "Alice"}),
            true,
        ),
        (
            "equals ignore case",
            json!({"Name": [{"equals-ignore-case": "alice"}]}),
            json!({"Name": "ALICE"}),
            true,
        ),
        (
            "equals ignore case/other",
            json!({"Name": [{"equals-ignore-case": "alice"}]}),
            json!({"Name": "Bob"}),
            false,
        ),
        (
            "ends with",
            json!({"FileName": [{"suffix": ".png"}]}),
            json!({"FileName": "image.png"}),
            true,
        ),
        (
            "ends with/case",
            json!({"FileName": [{"suffix": ".png"}]}),
            json!({"FileName": "image.PNG"}),
            false,
        ),
        (
            "ends with ignore case",
            json!({"service": [{"suffix": {"equals-ignore-case": "tbridge"}}]}),
            json!({"service": "EVENTBRIDGE"}),
            true,
        ),
        (
            "exists",
            json!({"ProductName": [{"exists": true}]}),
            json!({"ProductName": "x"}),
            true,
        ),
        (
            "exists/absent",
            json!({"ProductName": [{"exists": true}]}),
            json!({"Other": "x"}),
            false,
        ),
        (
            "does not exist",
            json!({"ProductName": [{"exists": false}]}),
            json!({"Other": "x"}),
            true,
        ),
        (
            "does not exist/present",
            json!({"ProductName": [{"exists": false}]}),
            json!({"ProductName": "x"}),
            false,
        ),
        (
            "not",
            json!({"Weather": [{"anything-but": ["Raining"]}]}),
            json!({"Weather": "Sunny"}),
            true,
        ),
        (
            "null",
            json!({"UserID": [null]}),
            json!({"UserID": null}),
            true,
        ),
        (
            "numeric equals",
            json!({"Price": [{"numeric": ["=", 100]}]}),
            json!({"Price": 100}),
            true,
        ),
        (
            "numeric range",
            json!({"Price": [{"numeric": [">", 10, "<=", 20]}]}),
            json!({"Price": 20}),
            true,
        ),
        (
            "numeric range/out",
            json!({"Price": [{"numeric": [">", 10, "<=", 20]}]}),
            json!({"Price": 10}),
            false,
        ),
        (
            "or",
            json!({"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}),
            json!({"Location": "Boston", "Day": "Monday"}),
            true,
        ),
        (
            "or/neither",
            json!({"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]}),
            json!({"Location": "Boston", "Day": "Sunday"}),
            false,
        ),
        (
            "or values",
            json!({"Location": ["New York", "Miami"]}),
            json!({"Location": "Miami"}),
            true,
        ),
        (
            "wildcard",
            json!({"FileName": [{"wildcard": "*.png"}]}),
            json!({"FileName": "dir/a.png"}),
            true,
        ),
        (
            "wildcard/other",
            json!({"FileName": [{"wildcard": "*.png"}]}),
            json!({"FileName": "a.png.txt"}),
            false,
        ),
        (
            "ip address",
            json!({"SourceIP": [{"cidr": "10.0.0.0/24"}]}),
            json!({"SourceIP": "10.0.0.7"}),
            true,
        ),
        (
            "ip address/out",
            json!({"SourceIP": [{"cidr": "10.0.0.0/24"}]}),
            json!({"SourceIP": "10.0.1.7"}),
            false,
        ),
    ];
    check(&cases);
}

#[test]
fn content_filtering_examples() {
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
    let prefix_time = json!({"time": [{"prefix": "2017-10-02"}]});
    let numeric = json!({"detail": {
        "c-count": [{"numeric": [">", 0, "<=", 5]}],
        "d-count": [{"numeric": ["<", 10]}],
        "x-limit": [{"numeric": ["=", 3.018e2]}]
    }});
    let complex = json!({
        "time": [{"prefix": "2017-10-02"}],
        "detail": {
            "state": [{"anything-but": "initializing"}],
            "c-count": [{"numeric": [">", 0, "<=", 5]}],
            "d-count": [{"numeric": ["<", 10]}],
            "x-limit": [{"anything-but": [100, 200, 300]}]
        }
    });
    let not_exists = json!({"detail": {"c-count": [{"exists": false}]}});
    check(&[
        ("prefix", prefix_time.clone(), ruler_event(), true),
        ("prefix/other day", prefix_time, ec2_event("x"), false),
        (
            "prefix eu (autoscaling)",
            json!({"source": ["aws.autoscaling"], "region": [{"prefix": "eu-"}]}),
            json!({"source": "aws.autoscaling", "region": "eu-west-1"}),
            true,
        ),
        (
            "prefix ignore case",
            json!({"detail": {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]}}),
            detail(json!({"service": "eventbridge"})),
            true,
        ),
        (
            "suffix ignore case",
            json!({"detail": {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]}}),
            detail(json!({"FileName": "A.PNG"})),
            true,
        ),
        (
            "anything-but number",
            json!({"detail": {"x-limit": [{"anything-but": 123}]}}),
            detail(json!({"x-limit": 123})),
            false,
        ),
        (
            "anything-but number/other",
            json!({"detail": {"x-limit": [{"anything-but": 123}]}}),
            detail(json!({"x-limit": 124})),
            true,
        ),
        (
            "anything-but strings",
            json!({"detail": {"state": [{"anything-but": ["stopped", "overloaded"]}]}}),
            detail(json!({"state": "overloaded"})),
            false,
        ),
        (
            "anything-but numbers",
            json!({"detail": {"x-limit": [{"anything-but": [100, 200, 300]}]}}),
            detail(json!({"x-limit": 200.0})),
            false,
        ),
        (
            "anything-but prefix",
            json!({"detail": {"state": [{"anything-but": {"prefix": "init"}}]}}),
            detail(json!({"state": "initializing"})),
            false,
        ),
        ("numeric", numeric.clone(), ruler_event(), true),
        (
            "numeric/c-count out",
            numeric,
            detail(json!({"c-count": 6, "d-count": 3, "x-limit": 301.8})),
            false,
        ),
        ("complex", complex.clone(), ruler_event(), true),
        (
            "cidr",
            json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/24"}]}}),
            detail(json!({"sourceIPAddress": "10.0.0.255"})),
            true,
        ),
        (
            "cidr ipv6",
            json!({"detail": {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]}}),
            detail(json!({"sourceIPAddress": "2001:db8:1234::1"})),
            true,
        ),
        (
            "cidr ipv6/out",
            json!({"detail": {"sourceIPAddress": [{"cidr": "2001:db8::/32"}]}}),
            detail(json!({"sourceIPAddress": "2001:db9::1"})),
            false,
        ),
        (
            "cidr is not for v4 in a v6 net",
            json!({"detail": {"ip": [{"cidr": "::/1"}]}}),
            detail(json!({"ip": "10.0.0.1"})),
            false,
        ),
        // Exists matching: both of the guide's events match `c-count: exists false`, the
        // second "because c-count isn't a leaf node".
        (
            "exists false",
            not_exists.clone(),
            json!({"detail-type": "x", "detail": {"state": ["initializing", "running"]}}),
            true,
        ),
        (
            "exists false/not a leaf",
            not_exists.clone(),
            json!({"detail": {"state": ["initializing", "running"], "c-count": {"c1": 100}}}),
            true,
        ),
        (
            "exists false/present",
            not_exists.clone(),
            ruler_event(),
            false,
        ),
        (
            "exists false/no detail at all",
            not_exists,
            json!({"source": "x"}),
            true,
        ),
        (
            "exists true/not a leaf",
            json!({"detail": {"c-count": [{"exists": true}]}}),
            detail(json!({"c-count": {"c1": 100}})),
            false,
        ),
        (
            "exists true/null is a value",
            json!({"detail": {"c-count": [{"exists": true}]}}),
            detail(json!({"c-count": null})),
            true,
        ),
        (
            "exists false/empty array",
            json!({"detail": {"c-count": [{"exists": false}]}}),
            detail(json!({"c-count": []})),
            true,
        ),
    ]);
}

#[test]
fn or_at_every_level() {
    // The guide's `$or` examples (content filtering, "Multiple matching") and event-ruler's.
    let detail_or = json!({"detail": {"$or": [
        {"c-count": [{"numeric": [">", 0, "<=", 5]}]},
        {"d-count": [{"numeric": ["<", 10]}]},
        {"x-limit": [{"numeric": ["=", 3.018e2]}]}
    ]}});
    let source_and_or = json!({
        "source": ["aws.cloudwatch"],
        "$or": [{"metricName": ["CPUUtilization", "ReadLatency"]}, {"namespace": ["AWS/EC2", "AWS/ES"]}]
    });
    let nested = json!({
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization", "ReadLatency"]},
            {"metricType": ["MetricType"], "namespace": ["AWS/EC2", "AWS/ES"],
             "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
            {"scope": ["Service"]}
        ]
    });
    check(&[
        (
            "detail or",
            detail_or.clone(),
            detail(json!({"c-count": 50, "d-count": 50, "x-limit": 301.8})),
            true,
        ),
        (
            "detail or/none",
            detail_or,
            detail(json!({"c-count": 50, "d-count": 50, "x-limit": 1})),
            false,
        ),
        (
            "and or",
            source_and_or.clone(),
            json!({"source": "aws.cloudwatch", "namespace": "AWS/ES"}),
            true,
        ),
        (
            "and or/wrong source",
            source_and_or,
            json!({"source": "aws.ec2", "namespace": "AWS/ES"}),
            false,
        ),
        (
            "nested or",
            nested.clone(),
            json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000}),
            true,
        ),
        (
            "nested or/inner fails",
            nested,
            json!({"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1}),
            false,
        ),
    ]);
}

#[test]
fn wildcards() {
    let w = |p: &str, s: &str| {
        Pattern::parse(&json!({"v": [{"wildcard": p}]}))
            .unwrap()
            .matches(&json!({"v": s}))
    };
    assert!(w("Simple*Service", "SimpleQueueService"));
    assert!(
        w("Simple*Service", "SimpleService"),
        "* matches nothing too"
    );
    assert!(!w("Simple*Service", "SimpleQueueServices"));
    assert!(w("*", ""));
    assert!(w("a*b*c", "abbbc"));
    assert!(!w("a*b*c", "acb"));
    assert!(w("*Title*", "The Title page"));
    assert!(w("ab*ab", "abab"));
    assert!(!w("ab*ab", "aba"), "prefix and suffix may not overlap");
    assert!(w(r"lit\*eral", "lit*eral"));
    assert!(!w(r"lit\*eral", "litXeral"));
    assert!(w(r"back\\slash", r"back\slash"));
    assert!(w("dir/*.png", "dir/sub/a.png"));
    // Only strings: a number is never matched by a wildcard.
    assert!(
        !Pattern::parse(&json!({"v": [{"wildcard": "*"}]}))
            .unwrap()
            .matches(&json!({"v": 5}))
    );
}

#[test]
fn value_types() {
    check(&[
        // Numbers compare numerically (event-ruler adds a numeric matcher for every number).
        ("number", json!({"n": [300]}), json!({"n": 300.0}), true),
        ("number exp", json!({"n": [3.0e2]}), json!({"n": 300}), true),
        (
            "number vs string",
            json!({"n": [300]}),
            json!({"n": "300"}),
            false,
        ),
        (
            "string vs number",
            json!({"n": ["300"]}),
            json!({"n": 300}),
            false,
        ),
        ("bool", json!({"b": [true]}), json!({"b": true}), true),
        (
            "bool vs string",
            json!({"b": [true]}),
            json!({"b": "true"}),
            false,
        ),
        // Numeric matching is for JSON numbers only.
        (
            "numeric vs numeric string",
            json!({"n": [{"numeric": [">", 1]}]}),
            json!({"n": "5"}),
            false,
        ),
        (
            "numeric bounds",
            json!({"n": [{"numeric": [">=", 1, "<", 2]}]}),
            json!({"n": 1}),
            true,
        ),
        (
            "numeric open top",
            json!({"n": [{"numeric": [">=", 1, "<", 2]}]}),
            json!({"n": 2}),
            false,
        ),
        (
            "numeric negative",
            json!({"n": [{"numeric": ["<", 0]}]}),
            json!({"n": -0.5}),
            true,
        ),
        // Prefix and suffix are for strings.
        (
            "prefix vs number",
            json!({"n": [{"prefix": "1"}]}),
            json!({"n": 12}),
            false,
        ),
        // Anything-but excludes values of its own type only, and needs a value to be there.
        (
            "anything-but string vs number",
            json!({"n": [{"anything-but": "x"}]}),
            json!({"n": 5}),
            true,
        ),
        (
            "anything-but numbers vs string",
            json!({"n": [{"anything-but": [1, 2]}]}),
            json!({"n": "1"}),
            true,
        ),
        (
            "anything-but missing",
            json!({"n": [{"anything-but": "x"}]}),
            json!({"m": "y"}),
            false,
        ),
        (
            "anything-but array",
            json!({"n": [{"anything-but": "x"}]}),
            json!({"n": ["x", "y"]}),
            true,
        ),
        (
            "anything-but prefix list",
            json!({"n": [{"anything-but": {"prefix": ["a", "b"]}}]}),
            json!({"n": "bee"}),
            false,
        ),
        (
            "anything-but suffix list",
            json!({"n": [{"anything-but": {"suffix": ["1234", "6789"]}}]}),
            json!({"n": "i-0006789"}),
            false,
        ),
        (
            "anything-but wildcard list",
            json!({"n": [{"anything-but": {"wildcard": ["*/bin/*.jar", "*/bin/*.class"]}}]}),
            json!({"n": "/opt/bin/a.class"}),
            false,
        ),
        // A leaf pattern never matches an object, a nested pattern never a scalar.
        (
            "leaf vs object",
            json!({"d": ["x"]}),
            json!({"d": {"x": 1}}),
            false,
        ),
        (
            "nested vs scalar",
            json!({"d": {"x": ["1"]}}),
            json!({"d": "x"}),
            false,
        ),
        // An IP written as a plain value matches the same address in another spelling.
        (
            "ip literal",
            json!({"ip": ["::1"]}),
            json!({"ip": "0:0:0:0:0:0:0:1"}),
            true,
        ),
        (
            "exactly",
            json!({"s": [{"exactly": "a"}]}),
            json!({"s": "a"}),
            true,
        ),
        // Several alternatives of different kinds.
        (
            "mixed alternatives",
            json!({"s": ["a", {"prefix": "zz"}, {"numeric": [">", 5]}]}),
            json!({"s": 6}),
            true,
        ),
    ]);
}

#[test]
fn invalid_patterns() {
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "Filter is not an object"),
        (json!({}), "Empty objects are not allowed"),
        (
            json!({"source": "aws.ec2"}),
            "\"source\" must be an object or an array",
        ),
        (json!({"source": []}), "Empty arrays are not allowed"),
        (json!({"detail": {}}), "Empty objects are not allowed"),
        (
            json!({"source": [["a"]]}),
            "Match value must be String, number, true, false, or null",
        ),
        (json!({"source": [{}]}), "Match expression name not found"),
        (
            json!({"source": [{"prefix": "a", "suffix": "b"}]}),
            "Only one key allowed in match expression",
        ),
        (
            json!({"source": [{"contains": "a"}]}),
            "Unrecognized match type contains",
        ),
        (
            json!({"source": [{"prefix": 5}]}),
            "prefix match pattern must be a string",
        ),
        (
            json!({"source": [{"prefix": {"nope": "a"}}]}),
            "Unsupported prefix pattern: nope",
        ),
        (
            json!({"source": [{"suffix": {"equals-ignore-case": 1}}]}),
            "equals-ignore-case match pattern must be a string",
        ),
        (
            json!({"source": [{"equals-ignore-case": ["a"]}]}),
            "equals-ignore-case match pattern must be a string",
        ),
        (
            json!({"source": [{"wildcard": "a**b"}]}),
            "Consecutive wildcard characters at pos 2",
        ),
        (
            json!({"source": [{"wildcard": "a\\b"}]}),
            "Invalid escape character at pos 2",
        ),
        (
            json!({"source": [{"wildcard": 1}]}),
            "wildcard match pattern must be a string",
        ),
        (
            json!({"n": [{"numeric": 5}]}),
            "Value of numeric must be an array.",
        ),
        (
            json!({"n": [{"numeric": []}]}),
            "Invalid member in numeric match: ]",
        ),
        (
            json!({"n": [{"numeric": [5]}]}),
            "Invalid member in numeric match: 5",
        ),
        (
            json!({"n": [{"numeric": ["=", "5"]}]}),
            "Value of equals must be numeric",
        ),
        (
            json!({"n": [{"numeric": ["=", 5, "<", 6]}]}),
            "Too many elements in numeric expression",
        ),
        (
            json!({"n": [{"numeric": ["!=", 5]}]}),
            "Unrecognized numeric range operator: !=",
        ),
        (
            json!({"n": [{"numeric": [">", 5, ">", 6]}]}),
            "Bad numeric range operator: >",
        ),
        (
            json!({"n": [{"numeric": [">", 5, 6]}]}),
            "Bad value in numeric range: 6",
        ),
        (
            json!({"n": [{"numeric": [">", 5, "<", 5]}]}),
            "Bottom must be less than top",
        ),
        (
            json!({"n": [{"numeric": [">", 1, "<", 5, "<", 6]}]}),
            "Too many terms in numeric range expression",
        ),
        (
            json!({"n": [{"numeric": ["<", "x"]}]}),
            "Value of < must be numeric",
        ),
        (
            json!({"n": [{"exists": "yes"}]}),
            "exists match pattern must be either true or false.",
        ),
        (
            json!({"n": [{"anything-but": null}]}),
            "Value of anything-but must be an array or single string/number value.",
        ),
        (
            json!({"n": [{"anything-but": ["a", 1]}]}),
            "Inside anything but list, either all values are number or string, mixed type is not supported",
        ),
        (
            json!({"n": [{"anything-but": [true]}]}),
            "Inside anything but list, start|null|boolean is not supported.",
        ),
        (
            json!({"n": [{"anything-but": {"nope": "a"}}]}),
            "Unsupported anything-but pattern: nope",
        ),
        (
            json!({"n": [{"anything-but": {"prefix": ""}}]}),
            "Null prefix/suffix not allowed",
        ),
        (
            json!({"n": [{"anything-but": {"suffix": 3}}]}),
            "prefix/suffix match pattern must be a string",
        ),
        (
            json!({"n": [{"anything-but": {"wildcard": "a**"}}]}),
            "Consecutive wildcard characters at pos 2",
        ),
        (
            json!({"n": [{"anything-but": {"equals-ignore-case": [1]}}]}),
            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0"}]}),
            "Malformed CIDR, one '/' required",
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/x"}]}),
            "Malformed CIDR, mask bits must be an integer",
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/-1"}]}),
            "Malformed CIDR, mask bits must not be negative",
        ),
        (
            json!({"ip": [{"cidr": "10.0.0.0/32"}]}),
            "IPv4 mask bits must be < 32",
        ),
        (
            json!({"ip": [{"cidr": "::/128"}]}),
            "IPv6 mask bits must be < 128",
        ),
        (
            json!({"ip": [{"cidr": "300.0.0.0/8"}]}),
            "Invalid IP address: 300.0.0.0",
        ),
        (
            json!({"ip": [{"cidr": "example.com/8"}]}),
            "Nonstandard IP address: example.com",
        ),
        (
            json!({"ip": [{"cidr": 10}]}),
            "cidr match pattern must be a string",
        ),
        (
            json!({"$or": {"a": ["b"]}}),
            "It must be an Array followed with $or.",
        ),
        (
            json!({"$or": [{"a": ["b"]}]}),
            "There must have at least 2 Objects in $or relationship.",
        ),
        (
            json!({"$or": [{"a": ["b"]}, "c"]}),
            "Only JSON object is allowed in array of $or relationship.",
        ),
        (
            json!({"$or": [{"a": ["b"]}, {"numeric": [1]}]}),
            "numeric is Ruler reserved fieldName which cannot be used inside $or.",
        ),
    ];
    for (pattern, reason) in cases {
        let err = Pattern::parse(&pattern).expect_err(&pattern.to_string());
        assert_eq!(err.reason(), reason, "{pattern}");
        assert_eq!(
            err.to_string(),
            format!("Event pattern is not valid. Reason: {reason}")
        );
    }
    assert!(
        Pattern::parse_str("{not json")
            .unwrap_err()
            .reason()
            .starts_with("the pattern is not valid JSON")
    );
}
