//! Every intrinsic, in short and long form, through a function's environment.

use crate::{resolve, resolve_with};
use std::collections::BTreeMap;

const HEADER: &str = r#"
Parameters:
  Env: {Type: String, Default: prod, AllowedValues: [prod, dev]}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
  Count: {Type: Number, Default: 3}
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsProd, {Condition: IsProd}]
  Either: !Or [!Condition IsDev, !Equals [a, b]]
  LongForm: {"Fn::Equals": [{"Ref": "Env"}, "prod"]}
  NumberIsThree: !Equals [!Ref Count, 3]
Mappings:
  Sizes:
    prod: {Memory: 512, Name: big}
    dev: {Memory: 128, Name: small}
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-t"
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Queue:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f
      Runtime: provided.al2023
      Handler: bootstrap
      AutoPublishAlias: live
      Environment:
        Variables:
"#;

/// The function's environment for `variables` (YAML lines at the Variables level).
fn env_with(variables: &[(&str, &str)], overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut yaml = HEADER.to_owned();
    for (name, expr) in variables {
        yaml.push_str(&format!("          {name}: {expr}\n"));
    }
    let stack = resolve_with(&yaml, overrides).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    stack.functions[0].environment.clone()
}

#[test]
fn every_intrinsic_resolves() {
    let fn_arn = "arn:aws:lambda:us-east-1:000000000000:function:s-Fn";
    let table_arn = "arn:aws:dynamodb:us-east-1:000000000000:table/s-t";
    let cases: &[(&str, &str)] = &[
        // Ref: parameters, pseudo parameters, resources; short and long form.
        ("!Ref Env", "prod"),
        (r#"{"Ref": "Env"}"#, "prod"),
        ("!Ref Count", "3"),
        ("!Ref AWS::Region", "us-east-1"),
        ("!Ref AWS::AccountId", "000000000000"),
        ("!Ref AWS::StackName", "s"),
        ("!Ref AWS::Partition", "aws"),
        ("!Ref AWS::URLSuffix", "amazonaws.com"),
        ("!Ref Table", "s-t"),
        ("!Ref Queue", "http://127.0.0.1:4566/000000000000/s-Queue"),
        ("!Ref Fn", "s-Fn"),
        (
            "!Ref Fn.Alias",
            "arn:aws:lambda:us-east-1:000000000000:function:s-Fn:live",
        ),
        (
            "!Ref Fn.Version",
            "arn:aws:lambda:us-east-1:000000000000:function:s-Fn:1",
        ),
        // GetAtt: dotted string, list, and both long forms.
        ("!GetAtt Table.Arn", table_arn),
        ("!GetAtt [Table, Arn]", table_arn),
        (r#"{"Fn::GetAtt": ["Table", "Arn"]}"#, table_arn),
        (r#"{"Fn::GetAtt": "Table.Arn"}"#, table_arn),
        ("!GetAtt Fn.Arn", fn_arn),
        ("!GetAtt Queue.QueueName", "s-Queue"),
        (
            "!GetAtt Queue.Arn",
            "arn:aws:sqs:us-east-1:000000000000:s-Queue",
        ),
        (
            "!GetAtt FnRole.Arn",
            "arn:aws:iam::000000000000:role/s-FnRole",
        ),
        // Sub: pseudo parameters, resources, attributes, variables, escapes.
        (r#"!Sub "${Env}-${AWS::Region}""#, "prod-us-east-1"),
        (
            r#"!Sub "${Table.Arn}/index/GSI1""#,
            "arn:aws:dynamodb:us-east-1:000000000000:table/s-t/index/GSI1",
        ),
        (r#"!Sub ["${A}-${Env}", {A: !Ref Count}]"#, "3-prod"),
        (r#"!Sub ["${Env}", {Env: shadowed}]"#, "shadowed"),
        (r#"!Sub "${!Literal}-${Env}""#, "${Literal}-prod"),
        (r#"!Sub "cost: $5, ${Env}""#, "cost: $5, prod"),
        (r#"!Sub "${Fn}:live""#, "s-Fn:live"),
        (r#"{"Fn::Sub": "x-${Env}"}"#, "x-prod"),
        // Join, Select, Split, GetAZs.
        (r#"!Join ["-", [a, !Ref Env, 3]]"#, "a-prod-3"),
        (r#"!Join [",", !Ref Names]"#, "a,b,c"),
        (r#"{"Fn::Join": ["", [x, y]]}"#, "xy"),
        (
            "!Join [\"-\", [a, !If [IsDev, b, !Ref AWS::NoValue], c]]",
            "a-c",
        ),
        ("!Select [1, !Ref Names]", "b"),
        (r#"!Select ["0", !Split [",", "x,y"]]"#, "x"),
        (r#"!Select [2, !Split ["/", !Sub "a/b/${Env}"]]"#, "prod"),
        (r#"{"Fn::Select": [1, {"Fn::Split": ["|", "p|q"]}]}"#, "q"),
        (r#"!Select [0, !GetAZs ""]"#, "us-east-1a"),
        (r#"!Select [1, !GetAZs {Ref: "AWS::Region"}]"#, "us-east-1b"),
        (r#"{"Fn::Select": [2, {"Fn::GetAZs": ""}]}"#, "us-east-1c"),
        // If and the condition functions.
        ("!If [IsProd, yes, no]", "yes"),
        ("!If [IsDev, yes, no]", "no"),
        ("!If [Both, both, no]", "both"),
        ("!If [Either, either, no]", "no"),
        ("!If [NumberIsThree, three, no]", "three"),
        (r#"{"Fn::If": ["LongForm", long, no]}"#, "long"),
        ("!Condition IsProd", "true"),
        ("!Equals [a, a]", "true"),
        // FindInMap, with a computed key and the DefaultValue extension.
        ("!FindInMap [Sizes, !Ref Env, Memory]", "512"),
        (r#"{"Fn::FindInMap": [Sizes, dev, Name]}"#, "small"),
        (
            "!FindInMap [Sizes, test, Name, {DefaultValue: fallback}]",
            "fallback",
        ),
        // Base64.
        ("!Base64 hello", "aGVsbG8="),
        (r#"{"Fn::Base64": !Ref Env}"#, "cHJvZA=="),
        // Literals are stringified.
        ("42", "42"),
        ("1.5", "1.5"),
        ("true", "true"),
    ];
    let variables: Vec<(String, &str)> = cases
        .iter()
        .enumerate()
        .map(|(i, (expr, _))| (format!("V{i}"), *expr))
        .collect();
    let borrowed: Vec<(&str, &str)> = variables.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    let env = env_with(&borrowed, &[]);
    for (i, (expr, expected)) in cases.iter().enumerate() {
        assert_eq!(env[&format!("V{i}")], *expected, "{expr}");
    }
}

#[test]
fn stack_id_is_a_fake_arn() {
    let env = env_with(&[("ID", "!Ref AWS::StackId")], &[]);
    let id = &env["ID"];
    assert!(
        id.starts_with("arn:aws:cloudformation:us-east-1:000000000000:stack/s/"),
        "{id}"
    );
    assert_eq!(id, &env_with(&[("ID", "!Ref AWS::StackId")], &[])["ID"]);
}

#[test]
fn conditions_follow_parameters() {
    let env = env_with(
        &[
            ("A", "!If [IsProd, prod, other]"),
            ("B", "!FindInMap [Sizes, !Ref Env, Name]"),
        ],
        &[("Env", "dev")],
    );
    assert_eq!(env["A"], "other");
    assert_eq!(env["B"], "small");
}

#[test]
fn no_value_removes_the_property_or_item() {
    let env = env_with(
        &[
            ("GONE", "!If [IsProd, !Ref AWS::NoValue, kept]"),
            ("ALSO_GONE", "!Ref AWS::NoValue"),
            ("KEPT", "!If [IsDev, !Ref AWS::NoValue, kept]"),
        ],
        &[],
    );
    assert!(!env.contains_key("GONE"));
    assert!(!env.contains_key("ALSO_GONE"));
    assert_eq!(env["KEPT"], "kept");

    let stack = resolve(
        r#"
Parameters:
  Dlq: {Type: String, Default: ""}
Conditions:
  HasDlq: !Not [!Equals [!Ref Dlq, ""]]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: !If [HasDlq, {deadLetterTargetArn: !Ref Dlq, maxReceiveCount: 2}, !Ref AWS::NoValue]
      VisibilityTimeout: !If [HasDlq, 90, !Ref AWS::NoValue]
  R:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [x]}
      Targets:
        - Id: A
          Arn: !GetAtt Q.Arn
        - !If
          - HasDlq
          - Id: B
            Arn: !GetAtt Q.Arn
          - !Ref AWS::NoValue
"#,
    )
    .unwrap();
    assert!(stack.queues[0].redrive.is_none());
    assert_eq!(stack.queues[0].visibility_timeout, 30);
    assert_eq!(stack.rules[0].targets.len(), 1);
}

#[test]
fn a_false_condition_omits_the_resource() {
    let yaml = r#"
Parameters:
  WithQueue: {Type: String, Default: "no"}
Conditions:
  On: !Equals [!Ref WithQueue, "yes"]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Condition: On
  T:
    Type: AWS::SNS::Topic
Outputs:
  QueueUrl:
    Condition: On
    Value: !Ref Q
  Always:
    Value: !If [On, !Ref Q, none]
"#;
    let off = resolve(yaml).unwrap();
    assert!(off.queues.is_empty());
    assert!(!off.outputs.contains_key("QueueUrl"));
    assert_eq!(off.outputs["Always"], "none");
    let on = resolve_with(yaml, &[("WithQueue", "yes")]).unwrap();
    assert_eq!(on.queues.len(), 1);
    assert_eq!(on.outputs["QueueUrl"], on.queues[0].url);
}

/// SAM's CodeDeploy resources of a gradual deployment resolve to opaque names (a PreTraffic
/// hook's policy names them), and only when SAM would generate them.
#[test]
fn codedeploy_resources_of_gradual_deployments_resolve() {
    let template = |preference: &str| {
        format!(
            r#"
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f
      Runtime: provided.al2023
      AutoPublishAlias: live
{preference}
  Hook:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f
      Runtime: provided.al2023
      FunctionName: !Sub "CodeDeployHook_${{AWS::StackName}}_preTraffic"
      Environment:
        Variables:
          TARGET: !Ref Fn.Version
          GROUP: !Sub "${{ServerlessDeploymentApplication}}/${{FnDeploymentGroup}}"
"#
        )
    };
    let shifting = "      DeploymentPreference:\n        Type: AllAtOnce\n        Hooks:\n          PreTraffic: !Ref Hook";
    let stack = resolve(&template(shifting)).unwrap();
    let hook = &stack.functions[1];
    assert_eq!(hook.name, "CodeDeployHook_s_preTraffic");
    assert_eq!(
        hook.environment["TARGET"],
        "arn:aws:lambda:us-east-1:000000000000:function:s-Fn:1"
    );
    let group = &hook.environment["GROUP"];
    let (app, group) = group.split_once('/').unwrap();
    assert!(
        app.starts_with("s-ServerlessDeploymentApplication-"),
        "{app}"
    );
    assert!(group.starts_with("s-FnDeploymentGroup-"), "{group}");
    assert!(stack.warnings.is_empty(), "{:?}", stack.warnings);

    // No deployment preference, or a disabled one: SAM generates neither resource.
    for preference in [
        "",
        "      DeploymentPreference:\n        Type: AllAtOnce\n        Enabled: false",
    ] {
        let e = resolve(&template(preference)).unwrap_err().to_string();
        assert!(e.contains("ServerlessDeploymentApplication"), "{e}");
    }
}
