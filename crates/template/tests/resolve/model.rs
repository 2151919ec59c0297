//! The typed model from SAM and raw CloudFormation forms.

use crate::{resolve, warnings};
use template::model::{RouteAuth, Throttle};

#[test]
fn sam_http_api_routes_come_from_function_events() {
    let stack = resolve(
        r#"
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref Pool
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: v1
      CorsConfiguration: true
      Auth:
        DefaultAuthorizer: Cognito
        Authorizers:
          Cognito:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: !Sub "https://cognito-idp.${AWS::Region}.amazonaws.com/${Pool}"
              audience: [!Ref Client]
      RouteSettings:
        "GET /items":
          ThrottlingBurstLimit: 5
  Items:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Runtime: provided.al2023
      Environment:
        Variables:
          API: !Sub "https://${Api}.execute-api.${AWS::Region}.amazonaws.com/v1/items"
          IMPLICIT: !Sub "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
      Events:
        List:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: get
            Path: /items
            Auth:
              AuthorizationScopes: [items/read]
        Health:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: ANY
            Path: /health
            PayloadFormatVersion: "1.0"
            Auth:
              Authorizer: NONE
            RouteSettings:
              ThrottlingRateLimit: 2
              ThrottlingBurstLimit: 4
        Anything:
          Type: HttpApi
"#,
    )
    .unwrap();
    assert_eq!(warnings(&stack), vec![]);
    let [api, implicit] = stack.http_apis.as_slice() else {
        panic!("two APIs expected");
    };
    let pool = &stack.user_pools[0];
    assert_eq!(api.stage, "v1");
    assert_eq!(api.cors.as_ref().unwrap().allow_origins, vec!["*"]);
    assert_eq!(api.authorizers.len(), 1);
    assert_eq!(api.authorizers[0].name, "Cognito");
    assert_eq!(api.authorizers[0].issuer, pool.provider_url);
    assert_eq!(
        api.authorizers[0].audience,
        vec![stack.user_pool_clients[0].id.clone()]
    );
    let routes: Vec<(&str, &str, &RouteAuth)> = api
        .routes
        .iter()
        .map(|r| (r.route_key.as_str(), r.payload_format.as_str(), &r.auth))
        .collect();
    // Events in the order of their names (resolved mappings are sorted).
    assert_eq!(
        routes,
        vec![
            ("ANY /health", "1.0", &RouteAuth::None),
            (
                "GET /items",
                "2.0",
                &RouteAuth::Jwt {
                    authorizer: "Cognito".into(),
                    scopes: vec!["items/read".into()]
                }
            ),
        ]
    );
    assert_eq!(
        api.route_throttles["GET /items"],
        Throttle {
            rate: 10_000.0,
            burst: 5
        }
    );
    assert_eq!(
        api.route_throttles["ANY /health"],
        Throttle {
            rate: 2.0,
            burst: 4
        }
    );

    assert_eq!(implicit.logical_id, "ServerlessHttpApi");
    assert_eq!(implicit.stage, "$default");
    assert_eq!(implicit.routes[0].route_key, "$default");
    assert_eq!(implicit.routes[0].function, "Items");

    let env = &stack.functions[0].environment;
    assert_eq!(env["API"], "http://127.0.0.1:3000/v1/items");
    assert_eq!(env["IMPLICIT"], "http://127.0.0.1:3000");
}

#[test]
fn raw_functions_and_event_source_mappings() {
    let stack = resolve(
        r#"
Resources:
  Worker:
    Type: AWS::Lambda::Function
    Metadata:
      BuildMethod: makefile
    Properties:
      FunctionName: worker
      Code: build/worker
      Handler: bootstrap
      Runtime: provided.al2
      MemorySize: 1024
      Timeout: 60
      ReservedConcurrentExecutions: 2
      Environment:
        Variables:
          N: 5
          FLAG: false
      LoggingConfig:
        LogFormat: JSON
        ApplicationLogLevel: DEBUG
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: jobs
      DelaySeconds: 5
      RedrivePolicy: '{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dead", "maxReceiveCount": "4"}'
  Dead:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: dead
  ByRef:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Ref Worker
      EventSourceArn: !GetAtt Jobs.Arn
  ByArn:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      FunctionName: !Sub "arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:worker:live"
      EventSourceArn: !GetAtt Dead.Arn
      BatchSize: 1
      MaximumBatchingWindowInSeconds: 2
      FunctionResponseTypes: [ReportBatchItemFailures]
      ScalingConfig:
        MaximumConcurrency: 3
      Enabled: false
"#,
    )
    .unwrap();
    assert_eq!(warnings(&stack), vec![]);
    let f = &stack.functions[0];
    assert_eq!(f.name, "worker");
    assert_eq!(
        f.code.code_uri.as_deref(),
        Some(std::path::Path::new("../../build/worker"))
    );
    assert_eq!(f.code.build_method.as_deref(), Some("makefile"));
    assert_eq!(f.code.binary, None);
    assert_eq!(
        (f.memory_mb, f.timeout_secs, f.reserved_concurrency),
        (1024, 60, Some(2))
    );
    assert_eq!(f.environment["N"], "5");
    assert_eq!(f.environment["FLAG"], "false");
    assert_eq!(f.log_level.as_deref(), Some("DEBUG"));
    assert_eq!(f.alias, None);

    let jobs = &stack.queues[0];
    assert_eq!(jobs.url, "http://127.0.0.1:4566/000000000000/jobs");
    assert_eq!(jobs.delay_seconds, 5);
    assert_eq!(jobs.redrive.as_ref().unwrap().max_receive_count, 4);
    assert_eq!(
        jobs.redrive.as_ref().unwrap().dead_letter_arn,
        stack.queues[1].arn
    );

    let [by_ref, by_arn] = stack.event_source_mappings.as_slice() else {
        panic!("two mappings expected");
    };
    assert_eq!(by_ref.function, "Worker");
    assert_eq!(
        (
            by_ref.batch_size,
            by_ref.max_batching_window_secs,
            by_ref.enabled
        ),
        (10, 0, true)
    );
    assert!(!by_ref.report_batch_item_failures);
    assert_eq!(by_arn.function, "Worker");
    assert_eq!(by_arn.queue_arn, "arn:aws:sqs:us-east-1:000000000000:dead");
    assert_eq!(
        (
            by_arn.batch_size,
            by_arn.max_batching_window_secs,
            by_arn.enabled
        ),
        (1, 2, false)
    );
    assert!(by_arn.report_batch_item_failures);
    assert_eq!(by_arn.max_concurrency, Some(3));
}

#[test]
fn tables() {
    let stack = resolve(
        r#"
Resources:
  Simple:
    Type: AWS::Serverless::SimpleTable
  Numbered:
    Type: AWS::Serverless::SimpleTable
    Properties:
      TableName: numbered
      PrimaryKey: {Name: n, Type: Number}
  Full:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: sk, AttributeType: N}
        - {AttributeName: lsk, AttributeType: S}
      KeySchema:
        - {AttributeName: pk, KeyType: HASH}
        - {AttributeName: sk, KeyType: RANGE}
      LocalSecondaryIndexes:
        - IndexName: ByL
          KeySchema:
            - {AttributeName: pk, KeyType: HASH}
            - {AttributeName: lsk, KeyType: RANGE}
          Projection: {ProjectionType: INCLUDE, NonKeyAttributes: [a, b]}
      TimeToLiveSpecification: {AttributeName: exp, Enabled: false}
"#,
    )
    .unwrap();
    let [simple, numbered, full] = stack.tables.as_slice() else {
        panic!("three tables expected");
    };
    assert_eq!(simple.name, "s-Simple");
    assert_eq!(
        (
            simple.hash.name.as_str(),
            simple.hash.attribute_type.as_str()
        ),
        ("id", "S")
    );
    assert_eq!(numbered.name, "numbered");
    assert_eq!(
        (
            numbered.hash.name.as_str(),
            numbered.hash.attribute_type.as_str()
        ),
        ("n", "N")
    );
    assert_eq!(full.range.as_ref().unwrap().attribute_type, "N");
    let lsi = &full.local_indexes[0];
    assert_eq!(lsi.name, "ByL");
    assert_eq!(lsi.projection, "INCLUDE");
    assert_eq!(lsi.non_key_attributes, vec!["a", "b"]);
    assert_eq!(full.ttl_attribute, None);
}

#[test]
fn sub_leaves_no_placeholder_for_definition_substitutions() {
    // `${Fn}` in a !Sub'd DefinitionString names no parameter or resource: the template must
    // escape it as `${!Fn}` to leave it to DefinitionSubstitutions, as on AWS.
    let e = crate::error(
        r#"
Resources:
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      DefinitionString: !Sub '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${Fn}", "End": true}}}'
      DefinitionSubstitutions:
        Fn: arn:aws:lambda:us-east-1:000000000000:function:f
"#,
    );
    assert_eq!(
        e,
        "resource Machine: property DefinitionString: !Sub variable ${Fn} names no resource, parameter or variable"
    );
}

#[test]
fn rules_buses_and_state_machines() {
    let stack = resolve(
        r#"
Resources:
  Bus:
    Type: AWS::Events::EventBus
    Properties:
      Name: orders
  Handler:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Runtime: provided.al2023
      AutoPublishAlias: live
      Events:
        OnOrder:
          Type: EventBridgeRule
          Properties:
            EventBusName: !GetAtt Bus.Arn
            Pattern: {source: [shop]}
            InputPath: $.detail
            RetryPolicy: {MaximumRetryAttempts: 2}
  Legacy:
    Type: AWS::Events::Rule
    Properties:
      Name: legacy
      State: DISABLED
      EventPattern: '{"source": ["legacy"]}'
      Targets:
        - Id: T
          Arn: !GetAtt Machine.Arn
          Input: {"fixed": 1}
  Machine:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineName: flow
      StateMachineType: EXPRESS
      DefinitionString: !Sub |
        {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "${!Fn}", "End": true}}}
      DefinitionSubstitutions:
        Fn: !GetAtt Handler.Arn
  Inline:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: W
        States:
          W: {Type: Wait, Seconds: 1, Next: P}
          P: {Type: Pass, Result: "${Missing}", End: true}
      Events:
        Kick:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [kick]}
            Input: '{"k": true}'
"#,
    )
    .unwrap();
    assert_eq!(
        warnings(&stack),
        vec![(
            "Inline".to_owned(),
            "the definition uses ${Missing}, which DefinitionSubstitutions lacks: it is left as is"
                .to_owned()
        )]
    );
    let [on_order, legacy, kick] = stack.rules.as_slice() else {
        panic!("three rules expected");
    };
    assert_eq!(on_order.logical_id, "HandlerOnOrder");
    assert_eq!(on_order.name, "s-HandlerOnOrder");
    assert_eq!(on_order.bus, "orders");
    assert_eq!(
        on_order.arn,
        "arn:aws:events:us-east-1:000000000000:rule/orders/s-HandlerOnOrder"
    );
    let target = &on_order.targets[0];
    assert_eq!(target.id, "HandlerOnOrderLambdaTarget");
    // SAM points event sources at the alias.
    assert_eq!(
        target.arn,
        "arn:aws:lambda:us-east-1:000000000000:function:s-Handler:live"
    );
    assert_eq!(target.input_path.as_deref(), Some("$.detail"));
    assert_eq!(target.max_retry_attempts, Some(2));

    assert_eq!(legacy.bus, "default");
    assert_eq!(
        legacy.arn,
        "arn:aws:events:us-east-1:000000000000:rule/legacy"
    );
    assert!(!legacy.enabled);
    assert_eq!(legacy.pattern, serde_json::json!({"source": ["legacy"]}));
    assert_eq!(legacy.targets[0].input.as_deref(), Some("{\"fixed\":1}"));
    assert_eq!(
        legacy.targets[0].arn,
        "arn:aws:states:us-east-1:000000000000:stateMachine:flow"
    );

    assert_eq!(kick.bus, "default");
    assert_eq!(kick.targets[0].id, "InlineKickStepFunctionsTarget");
    assert_eq!(kick.targets[0].input.as_deref(), Some("{\"k\": true}"));

    let [machine, inline] = stack.state_machines.as_slice() else {
        panic!("two state machines expected");
    };
    assert_eq!(machine.name, "flow");
    assert_eq!(machine.kind, "EXPRESS");
    assert_eq!(
        machine.definition["States"]["A"]["Resource"],
        serde_json::json!(stack.functions[0].arn)
    );
    assert_eq!(inline.kind, "STANDARD");
    assert_eq!(inline.name, "s-Inline");
    assert_eq!(
        inline.definition["States"]["W"]["Seconds"],
        serde_json::json!(1)
    );
}

#[test]
fn raw_api_gateway_v2() {
    let stack = resolve(
        r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Runtime: provided.al2023
      Environment:
        Variables:
          WS: !Sub "https://${Ws}.execute-api.${AWS::Region}.amazonaws.com/live"
          WSS: !Sub "wss://${Ws}.execute-api.${AWS::Region}.amazonaws.com/live"
          HTTP: !GetAtt Http.ApiEndpoint
          WS_ENDPOINT: !GetAtt Ws.ApiEndpoint
  Http:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      ProtocolType: HTTP
  Stage:
    Type: AWS::ApiGatewayV2::Stage
    Properties:
      ApiId: !Ref Http
      StageName: api
      RouteSettings:
        "GET /a": {ThrottlingRateLimit: 1, ThrottlingBurstLimit: 2}
  Lambda:
    Type: AWS::ApiGatewayV2::Authorizer
    Properties:
      ApiId: !Ref Http
      AuthorizerType: REQUEST
      Name: lambda
      AuthorizerUri: !GetAtt Fn.Arn
  Proxy:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: HTTP_PROXY
      IntegrationUri: https://example.com
  ToFn:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Http
      IntegrationType: AWS_PROXY
      IntegrationUri: !GetAtt Fn.Arn
  A:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: GET /a
      Target: !Sub integrations/${ToFn}
  B:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: GET /b
      AuthorizationType: AWS_IAM
      Target: !Join [/, [integrations, !Ref ToFn]]
  C:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Http
      RouteKey: GET /c
      Target: !Sub integrations/${Proxy}
  Ws:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.type
  WsIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Ws
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"
  WsDefault:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: $default
      Target: !Sub integrations/${WsIntegration}
"#,
    )
    .unwrap();
    assert_eq!(
        warnings(&stack),
        vec![
            (
                "Lambda".to_owned(),
                "AuthorizerType REQUEST: only JWT authorizers are emulated; routes that use it \
                 answer 401 (never served unauthenticated)"
                    .to_owned()
            ),
            (
                "Proxy".to_owned(),
                "IntegrationType HTTP_PROXY is not emulated (only AWS_PROXY to a function of the \
                 template is): routes that use it are not served"
                    .to_owned()
            ),
            (
                "B".to_owned(),
                "AuthorizationType AWS_IAM is not emulated: route GET /b answers 401".to_owned()
            ),
        ]
    );
    let env = &stack.functions[0].environment;
    assert_eq!(env["WS"], "http://127.0.0.1:3001/live");
    assert_eq!(env["WSS"], "ws://127.0.0.1:3001/live");
    assert_eq!(env["HTTP"], "http://127.0.0.1:3000");
    assert_eq!(env["WS_ENDPOINT"], "ws://127.0.0.1:3001");

    let http = &stack.http_apis[0];
    assert_eq!(http.stage, "api");
    assert!(http.authorizers.is_empty());
    let keys: Vec<(&str, &str)> = http
        .routes
        .iter()
        .map(|r| (r.route_key.as_str(), r.payload_format.as_str()))
        .collect();
    assert_eq!(keys, vec![("GET /a", "1.0"), ("GET /b", "1.0")]);
    assert_eq!(
        http.route_throttles["GET /a"],
        Throttle {
            rate: 1.0,
            burst: 2
        }
    );
    assert_eq!(http.default_throttle, None);

    let ws = &stack.websocket_apis[0];
    assert_eq!(ws.stage, "$default");
    assert_eq!(ws.route_selection_expression, "$request.body.type");
    assert_eq!(ws.routes[0].route_key, "$default");
    assert_eq!(ws.routes[0].function, "Fn");
}

#[test]
fn websocket_routes_know_their_route_responses_and_unsupported_authorizers() {
    let stack = resolve(
        r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Runtime: provided.al2023
  Ws:
    Type: AWS::ApiGatewayV2::Api
    Properties:
      ProtocolType: WEBSOCKET
      RouteSelectionExpression: $request.body.action
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Ws
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Fn.Arn}/invocations"
  Connect:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: $connect
      AuthorizationType: AWS_IAM
      Target: !Sub integrations/${Integration}
  TwoWay:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: ask
      RouteResponseSelectionExpression: $default
      Target: !Sub integrations/${Integration}
  TwoWayResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      ApiId: !Ref Ws
      RouteId: !Ref TwoWay
      RouteResponseKey: $default
  NoExpression:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Ws
      RouteKey: tell
      Target: !Sub integrations/${Integration}
  NoExpressionResponse:
    Type: AWS::ApiGatewayV2::RouteResponse
    Properties:
      ApiId: !Ref Ws
      RouteId: !Ref NoExpression
      RouteResponseKey: $default
"#,
    )
    .unwrap();
    assert_eq!(
        warnings(&stack),
        vec![(
            "Connect".to_owned(),
            "AuthorizationType AWS_IAM is not emulated: route $connect answers 401".to_owned()
        )]
    );
    let routes: Vec<(&str, bool, &RouteAuth)> = stack.websocket_apis[0]
        .routes
        .iter()
        .map(|r| (r.route_key.as_str(), r.route_response, &r.auth))
        .collect();
    assert_eq!(
        routes,
        vec![
            (
                "$connect",
                false,
                &RouteAuth::Unsupported {
                    authorizer: "AWS_IAM".into()
                }
            ),
            ("ask", true, &RouteAuth::None),
            // A route response without the route's expression sends nothing back.
            ("tell", false, &RouteAuth::None),
        ]
    );
}

#[test]
fn cognito_defaults() {
    let stack = resolve(
        r#"
Resources:
  Pool:
    Type: AWS::Cognito::UserPool
    Properties:
      Policies:
        PasswordPolicy:
          MinimumLength: 12
  Client:
    Type: AWS::Cognito::UserPoolClient
    Properties:
      UserPoolId: !Ref Pool
      GenerateSecret: true
      AccessTokenValidity: 15
      RefreshTokenValidity: 60
      TokenValidityUnits:
        AccessToken: minutes
        RefreshToken: minutes
Outputs:
  Issuer:
    Value: !Sub "https://cognito-idp.${AWS::Region}.amazonaws.com/${Pool}"
  Arn:
    Value: !GetAtt Pool.Arn
"#,
    )
    .unwrap();
    let pool = &stack.user_pools[0];
    assert_eq!(pool.name, "s-Pool");
    assert!(pool.id.starts_with("us-east-1_"));
    assert_eq!(
        pool.arn,
        format!(
            "arn:aws:cognito-idp:us-east-1:000000000000:userpool/{}",
            pool.id
        )
    );
    assert_eq!(
        pool.provider_url,
        format!("http://127.0.0.1:4566/{}", pool.id)
    );
    let policy = &pool.password_policy;
    assert_eq!(policy.minimum_length, 12);
    assert!(policy.require_lowercase && policy.require_uppercase);
    assert!(policy.require_numbers && policy.require_symbols);
    let client = &stack.user_pool_clients[0];
    assert_eq!(client.name, "s-Client");
    assert!(client.generate_secret);
    assert_eq!(
        (
            client.access_token_validity,
            client.id_token_validity,
            client.refresh_token_validity
        ),
        (900, 3_600, 3_600)
    );
    assert_eq!(stack.outputs["Issuer"], pool.provider_url);
    assert_eq!(stack.outputs["Arn"], pool.arn);
}
