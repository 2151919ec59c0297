//! SAM Globals merge as SAM merges them.

use crate::{resolve, warnings};

const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Conditions:
  Never: !Equals [a, b]
Globals:
  Function:
    Runtime: provided.al2023
    Handler: bootstrap
    Timeout: 10
    MemorySize: 256
    Environment:
      Variables:
        SHARED: global
        OVERRIDDEN: global
  HttpApi:
    CorsConfiguration:
      AllowOrigins: [https://global.example]
      MaxAge: 60
    DefaultRouteSettings:
      ThrottlingRateLimit: 10
      ThrottlingBurstLimit: 20
Resources:
  Plain:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f
  Custom:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f
      Timeout: 30
      Environment:
        Variables:
          OVERRIDDEN: local
          OWN: local
  Replaced:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f
      # An intrinsic counts as a scalar: it replaces the global map instead of merging.
      Environment: !If [Never, {Variables: {A: a}}, {Variables: {ONLY: this}}]
  Raw:
    Type: AWS::Lambda::Function
    Properties:
      Code: f
      Runtime: provided.al2023
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration:
        AllowOrigins: [https://local.example]
        AllowMethods: [GET]
"#;

#[test]
fn scalars_override_maps_merge_lists_concatenate() {
    let stack = resolve(TEMPLATE).unwrap();
    assert_eq!(warnings(&stack), vec![]);
    let [plain, custom, replaced, raw] = stack.functions.as_slice() else {
        panic!("four functions expected");
    };

    assert_eq!((plain.timeout_secs, plain.memory_mb), (10, 256));
    assert_eq!(plain.handler.as_deref(), Some("bootstrap"));
    assert_eq!(
        plain.environment,
        [("OVERRIDDEN", "global"), ("SHARED", "global")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
    );

    assert_eq!((custom.timeout_secs, custom.memory_mb), (30, 256));
    assert_eq!(
        custom.environment,
        [
            ("OVERRIDDEN", "local"),
            ("OWN", "local"),
            ("SHARED", "global")
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into()
    );

    assert_eq!(
        replaced.environment,
        [("ONLY", "this")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into()
    );

    // Globals apply to SAM functions only.
    assert_eq!((raw.timeout_secs, raw.memory_mb), (3, 128));
    assert!(raw.environment.is_empty());
    assert_eq!(raw.handler, None);

    let api = &stack.http_apis[0];
    let cors = api.cors.as_ref().unwrap();
    assert_eq!(
        cors.allow_origins,
        vec!["https://global.example", "https://local.example"]
    );
    assert_eq!(cors.allow_methods, vec!["GET"]);
    assert_eq!(cors.max_age, Some(60));
    assert_eq!(
        api.default_throttle.as_ref().map(|t| (t.rate, t.burst)),
        Some((10.0, 20))
    );
}

#[test]
fn unknown_globals_sections_are_reported() {
    let stack = resolve(
        "Globals:\n  Api: {Cors: \"'*'\"}\n  Functions: {Timeout: 3}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n",
    )
    .unwrap();
    assert_eq!(
        warnings(&stack),
        vec![(
            "Globals".to_owned(),
            "Globals.Functions is not a SAM globals section; ignored".to_owned()
        )]
    );
}

#[test]
fn a_malformed_section_is_an_error() {
    assert_eq!(
        crate::error("Globals:\n  Function: [Timeout]\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"),
        "Globals.Function: is not a mapping"
    );
}
