//! What devstack does not emulate is reported, loudly or quietly, never skipped silently.

use crate::{resolve, warnings};

const TEMPLATE: &str = r#"
Transform: [AWS::Serverless-2016-10-31, AWS::LanguageExtensions]
Resources:
  RestApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: prod
  LegacyApi:
    Type: AWS::ApiGateway::RestApi
    Properties:
      Name: legacy
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
  Deps:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer
  NodeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Handler: index.handler
      Runtime: nodejs20.x
      Layers: [!Ref Deps]
      Tracing: Active
      AutoPublishAlias: live
      DeploymentPreference:
        Type: AllAtOnce
      Events:
        Api:
          Type: Api
          Properties:
            Path: /
            Method: get
        Nightly:
          Type: Schedule
          Properties:
            Schedule: rate(1 day)
  RustFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src
      Runtime: provided.al2023
      Handler: bootstrap
      SnapStart:
        ApplyOn: PublishedVersions
      FunctionUrlConfig:
        AuthType: NONE
  Uploads:
    Type: AWS::S3::Bucket
  Stream:
    Type: AWS::Kinesis::Stream
    Properties:
      ShardCount: 1
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      StreamSpecification:
        StreamViewType: NEW_IMAGE
  Topic:
    Type: AWS::SNS::Topic
  ToLambda:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: lambda
      Endpoint: !GetAtt RustFunction.Arn
  ToEmail:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: email
      Endpoint: ops@example.com
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Domain:
        DomainName: api.example.com
        CertificateArn: arn:aws:acm:us-east-1:000000000000:certificate/x
      Auth:
        Authorizers:
          Custom:
            FunctionArn: !GetAtt RustFunction.Arn
  Domain:
    Type: AWS::ApiGatewayV2::DomainName
    Properties:
      DomainName: sho.rt
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      MetricName: Errors
      Namespace: AWS/Lambda
      Dimensions: [{Name: FunctionName, Value: !Ref RustFunction}]
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {}
  Odd:
    Type: AWS::Foo::Bar
    Properties:
      # Needs AWS, but the resource is not emulated anyway: tolerated.
      Vpc: !ImportValue shared-vpc
Outputs:
  # SAM's implicit REST API of the `Api` event without RestApiId resolves (to an opaque id).
  LegacyUrl:
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod"
"#;

#[test]
fn unemulated_features_are_warned_about() {
    let stack = resolve(TEMPLATE).unwrap();
    let expected: Vec<(&str, &str)> = vec![
        (
            "Transform",
            "transform AWS::LanguageExtensions is not applied by devstack",
        ),
        (
            "RestApi",
            "AWS::Serverless::Api is not emulated: REST APIs (API Gateway v1) are not served \
             locally; use AWS::Serverless::HttpApi or AWS::ApiGatewayV2",
        ),
        (
            "LegacyApi",
            "AWS::ApiGateway::RestApi is not emulated: REST APIs (API Gateway v1) are not served \
             locally; use AWS::ApiGatewayV2",
        ),
        (
            "Orders",
            "FIFO queues are not emulated yet: devstack does not create this queue, and \
             sends to it fail with QueueDoesNotExist",
        ),
        (
            "Deps",
            "AWS::Serverless::LayerVersion is not emulated: devstack runs function binaries \
             without layers",
        ),
        (
            "NodeFunction",
            "Runtime nodejs20.x is not emulated: devstack runs native binaries (provided.al2023 \
             / provided.al2)",
        ),
        (
            "NodeFunction",
            "Layers are not emulated: devstack runs the function binary without them",
        ),
        (
            "NodeFunction",
            "event Api of type Api is not emulated: nothing invokes the function from it",
        ),
        (
            "NodeFunction",
            "event Nightly of type Schedule is not emulated: nothing invokes the function from it",
        ),
        ("RustFunction", "SnapStart is not emulated"),
        (
            "RustFunction",
            "FunctionUrlConfig is not emulated: the function gets no URL",
        ),
        (
            "Uploads",
            "AWS::S3::Bucket is not emulated: nothing stores objects or sends bucket \
             notifications locally",
        ),
        (
            "Stream",
            "AWS::Kinesis::Stream is not emulated: records are neither stored nor delivered \
             locally",
        ),
        (
            "Table",
            "StreamSpecification is not emulated: DynamoDB streams are not delivered",
        ),
        (
            "ToLambda",
            "AWS::SNS::Subscription with protocol lambda is not emulated: SNS delivers nothing locally",
        ),
        (
            "Api",
            "authorizer Custom: only JWT authorizers are emulated; routes that use it answer 401 \
             (never served unauthenticated)",
        ),
        (
            "Api",
            "custom domains (Domain) are not emulated: the API is served at its local endpoint only",
        ),
        (
            "Domain",
            "AWS::ApiGatewayV2::DomainName is not emulated: custom domains are not served; APIs \
             answer at their local endpoints only",
        ),
        ("Odd", "AWS::Foo::Bar is not emulated"),
    ];
    let expected: Vec<(String, String)> = expected
        .into_iter()
        .map(|(r, m)| (r.to_owned(), m.to_owned()))
        .collect();
    assert_eq!(warnings(&stack), expected);

    let ignored: Vec<(&str, &str)> = stack
        .ignored
        .iter()
        .map(|i| (i.resource.as_str(), i.resource_type.as_str()))
        .collect();
    assert_eq!(
        ignored,
        vec![
            ("Topic", "AWS::SNS::Topic"),
            ("ToEmail", "AWS::SNS::Subscription"),
            ("Alarm", "AWS::CloudWatch::Alarm"),
            ("Role", "AWS::IAM::Role"),
        ]
    );
    // Emulated parts still come through.
    assert_eq!(stack.functions.len(), 2);
    assert!(stack.queues[0].fifo);
    assert_eq!(stack.queues[0].name, "s-Orders.fifo");
    assert_eq!(stack.tables.len(), 1);
    assert!(
        stack.outputs["LegacyUrl"].starts_with("https://")
            && stack.outputs["LegacyUrl"].ends_with(".execute-api.us-east-1.amazonaws.com/Prod")
    );
}

#[test]
fn parameter_checks_devstack_cannot_make_are_reported() {
    let stack = resolve(
        r#"
Parameters:
  Secret:
    Type: AWS::SSM::Parameter::Value<String>
    Default: /app/secret
  Word:
    Type: String
    Default: abc
    AllowedPattern: "(?=a)\\w+"
Resources:
  Q:
    Type: AWS::SQS::Queue
"#,
    )
    .unwrap();
    assert_eq!(
        warnings(&stack),
        vec![
            (
                "Secret".to_owned(),
                "SSM parameter types are not resolved: devstack uses \"/app/secret\" itself as \
                 the value"
                    .to_owned()
            ),
            (
                "Word".to_owned(),
                "AllowedPattern \"(?=a)\\\\w+\" is not checked: lookaround or inline flags"
                    .to_owned()
            ),
        ]
    );
}
