//! The SQS event a function receives, field for field as Lambda builds it (and as
//! `aws_lambda_events::sqs::SqsEvent` reads it).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use sqs::{AttributeValue, Received};

pub fn sqs_event(records: &[Received], region: &str) -> Value {
    json!({ "Records": records.iter().map(|r| record(r, region)).collect::<Vec<_>>() })
}

fn record(r: &Received, region: &str) -> Value {
    let mut attributes = Map::new();
    for (k, v) in &r.attributes {
        attributes.insert(k.clone(), Value::String(v.clone()));
    }
    let mut message_attributes = Map::new();
    for (name, a) in &r.message_attributes {
        let mut v = Map::new();
        match &a.value {
            AttributeValue::String(s) => {
                v.insert("stringValue".into(), Value::String(s.clone()));
            }
            AttributeValue::Binary(b) => {
                v.insert("binaryValue".into(), Value::String(BASE64.encode(b)));
            }
        }
        v.insert("stringListValues".into(), json!([]));
        v.insert("binaryListValues".into(), json!([]));
        v.insert("dataType".into(), Value::String(a.data_type.clone()));
        message_attributes.insert(name.clone(), Value::Object(v));
    }
    let mut out = json!({
        "messageId": r.message_id,
        "receiptHandle": r.receipt_handle,
        "body": r.body,
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": r.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": r.event_source_arn,
        "awsRegion": region,
    });
    if let Some(md5) = &r.md5_of_message_attributes {
        out["md5OfMessageAttributes"] = Value::String(md5.clone());
    }
    out
}
