//! Broken templates fail with an error that names the place to fix.

use crate::{error, resolve, resolve_with};
use template::{Problem, TemplateError};

/// A template whose function has one environment variable `X: {expr}`, next to a table `T`.
fn with_variable(expr: &str) -> String {
    format!(
        r#"
Parameters:
  P: {{Type: String, Default: p}}
Conditions:
  Yes: !Equals [a, a]
Mappings:
  Sizes:
    prod: {{Memory: 512}}
Resources:
  T:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{{AttributeName: id, AttributeType: S}}]
      KeySchema: [{{AttributeName: id, KeyType: HASH}}]
  CreateLinkFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: f
      Runtime: provided.al2023
      Environment:
        Variables:
          X: {expr}
"#
    )
}

#[test]
fn broken_references_name_resource_and_property() {
    let prefix = "resource CreateLinkFunction: property Environment.Variables.X: ";
    for (expr, problem) in [
        (
            "!GetAtt Nope.Arn",
            "!GetAtt Nope.Arn names no resource or parameter",
        ),
        (
            r#"{"Fn::GetAtt": [Nope, Arn]}"#,
            "!GetAtt Nope.Arn names no resource or parameter",
        ),
        ("!Ref Nope", "!Ref Nope names no resource or parameter"),
        (
            "!Ref AWS::Nope",
            "!Ref AWS::Nope names no resource or parameter",
        ),
        (
            "!GetAtt P.Arn",
            "!GetAtt P.Arn names no resource or parameter",
        ),
        (
            "!GetAtt T.Nope",
            "!GetAtt T.Nope: AWS::DynamoDB::Table T has no attribute Nope (it has Arn, StreamArn)",
        ),
        (
            r#"!Sub "${Nope}-x""#,
            "!Sub variable ${Nope} names no resource, parameter or variable",
        ),
        (
            r#"!Sub "${Nope.Arn}""#,
            "!Sub variable ${Nope.Arn} names no resource, parameter or variable",
        ),
        (
            r#"!Sub "${T.Nope}""#,
            "${T.Nope} in !Sub: AWS::DynamoDB::Table T has no attribute Nope (it has Arn, StreamArn)",
        ),
        (
            "!If [Nope, a, b]",
            "!If names condition Nope, which Conditions lacks",
        ),
        (
            "!FindInMap [Sizes, dev, Memory]",
            "!FindInMap: Mappings has no Sizes.dev.Memory",
        ),
        (
            "!ImportValue SharedVpc",
            "Fn::ImportValue is not supported by devstack",
        ),
        (
            r#"{"Fn::ImportValue": "SharedVpc"}"#,
            "Fn::ImportValue is not supported by devstack",
        ),
        (
            r#"{"Fn::Transform": {Name: "AWS::Include"}}"#,
            "Fn::Transform is not supported by devstack",
        ),
        (
            "!Select [5, [a]]",
            "!Select: index 5 is out of range for a list of 1",
        ),
        ("!Join [\",\"]", "!Join: takes a list of 2 items"),
        (
            "!Ref Fn.Alias",
            "!Ref Fn.Alias names no resource or parameter",
        ),
        (
            "!Ref CreateLinkFunction.Alias",
            "!Ref CreateLinkFunction.Alias: CreateLinkFunction has no AutoPublishAlias",
        ),
        (
            "[a, b]",
            "must be a string, number or boolean, got [\"a\",\"b\"]",
        ),
    ] {
        assert_eq!(
            error(&with_variable(expr)),
            format!("{prefix}{problem}"),
            "{expr}"
        );
    }
}

#[test]
fn errors_are_typed() {
    let e = resolve(&with_variable("!GetAtt Nope.Arn")).unwrap_err();
    let TemplateError::Resource {
        resource,
        property,
        problem,
    } = e
    else {
        panic!("{e:?}");
    };
    assert_eq!(resource, "CreateLinkFunction");
    assert_eq!(property, "Environment.Variables.X");
    assert_eq!(
        problem,
        Problem::UnknownName {
            expr: "!GetAtt Nope.Arn".into()
        }
    );
}

#[test]
fn paths_go_through_lists_and_other_sections() {
    assert_eq!(
        error(
            r#"
Resources:
  R:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [x]}
      Targets:
        - Id: A
          Arn: !GetAtt Nope.Arn
"#
        ),
        "resource R: property Targets[0].Arn: !GetAtt Nope.Arn names no resource or parameter"
    );
    assert_eq!(
        error("Resources:\n  Q: {Type: AWS::SQS::Queue}\nOutputs:\n  O:\n    Value: !Ref Nope\n"),
        "output O: property Value: !Ref Nope names no resource or parameter"
    );
    assert_eq!(
        error("Conditions:\n  C: !Equals [!Ref Q, x]\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"),
        "condition C: !Ref Q: a condition can reference only parameters"
    );
    assert_eq!(
        error("Conditions:\n  C: !Condition D\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"),
        "condition C: !Condition names condition D, which Conditions lacks"
    );
    assert_eq!(
        error("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Condition: Nope\n"),
        "resource Q: property Condition: the resource's Condition names condition Nope, which Conditions lacks"
    );
    assert_eq!(
        error("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    DependsOn: [Nope]\n"),
        "resource Q: property DependsOn: names Nope, which is not a resource of the template"
    );
    assert_eq!(
        error("Resources:\n  Q:\n    Properties: {}\n"),
        "resource Q: property Type: is missing"
    );
}

#[test]
fn references_to_omitted_resources_and_cycles() {
    assert_eq!(
        error(
            r#"
Conditions:
  Off: !Equals [a, b]
Resources:
  Q:
    Type: AWS::SQS::Queue
    Condition: Off
  T:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: !Ref Q
"#
        ),
        "resource T: property DisplayName: !Ref Q names a resource that is omitted because condition Off is false"
    );
    assert_eq!(
        error(
            r#"
Resources:
  A:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${B.QueueName}-a"
  B:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !GetAtt A.QueueName
"#
        ),
        "resource B: property QueueName: references form a cycle: A -> B -> A"
    );
    assert_eq!(
        error(
            "Conditions:\n  A: !Condition B\n  B: !Condition A\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"
        ),
        "condition B: references form a cycle: condition A depends on itself"
    );
}

#[test]
fn parameters_need_a_value() {
    assert_eq!(
        error("Parameters:\n  P: {Type: String}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"),
        "parameter P: has no Default and no override"
    );
    assert_eq!(
        error(
            "Parameters:\n  P: {Type: Strin, Default: x}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n"
        ),
        "parameter P: has type Strin, which devstack does not know"
    );
    let yaml = "Parameters:\n  P: {Type: String, MinLength: 2, MaxLength: 3}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n";
    assert_eq!(
        resolve_with(yaml, &[("P", "x")]).unwrap_err().to_string(),
        "parameter P: value \"x\" is shorter than the MinLength 2"
    );
    assert_eq!(
        resolve_with(yaml, &[("P", "abcd")])
            .unwrap_err()
            .to_string(),
        "parameter P: value \"abcd\" is longer than the MaxLength 3"
    );
    assert!(resolve_with(yaml, &[("P", "abc")]).is_ok());
    let list = "Parameters:\n  P: {Type: CommaDelimitedList, Default: \"a,b\", AllowedValues: [a, b, c]}\nResources:\n  Q: {Type: AWS::SQS::Queue}\n";
    assert!(resolve(list).is_ok());
    assert_eq!(
        resolve_with(list, &[("P", "a,d")]).unwrap_err().to_string(),
        "parameter P: value \"d\" is not one of the AllowedValues [\"a\", \"b\", \"c\"]"
    );
}

#[test]
fn model_errors_name_the_property() {
    assert_eq!(
        error(
            "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      Code: f\n      MemorySize: lots\n"
        ),
        "resource F: property MemorySize: must be a whole number, got \"lots\""
    );
    assert_eq!(
        error(
            "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      AttributeDefinitions: [{AttributeName: A, AttributeType: S}]\n      KeySchema: [{AttributeName: B, KeyType: HASH}]\n"
        ),
        "resource T: property KeySchema[0].AttributeName: names B, which AttributeDefinitions lacks"
    );
    assert_eq!(
        error(
            "Resources:\n  M:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n      DefinitionUri: nope.json\n"
        ),
        "resource M: property DefinitionUri: cannot read ../../nope.json: No such file or directory (os error 2)"
    );
}
