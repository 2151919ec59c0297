//! What a message carries besides its body (message attributes, the trace header), the rules
//! SQS checks them by, and the MD5 digests it answers with, which the SDKs recompute and
//! compare.

use crate::SqsError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// At most 10 message attributes per message.
pub(crate) const MAX_ATTRIBUTES: usize = 10;

/// A message attribute's value: a `String`, `Number` or `Binary` data type (optionally with a
/// custom suffix, `Number.int`) and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageAttributeValue {
    pub data_type: String,
    pub value: AttributeValue,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    /// For the `String` and `Number` data types.
    String(String),
    Binary(Vec<u8>),
}

impl MessageAttributeValue {
    pub fn string(value: impl Into<String>) -> Self {
        Self {
            data_type: "String".into(),
            value: AttributeValue::String(value.into()),
        }
    }

    pub fn number(value: impl Into<String>) -> Self {
        Self {
            data_type: "Number".into(),
            value: AttributeValue::String(value.into()),
        }
    }

    pub fn binary(value: impl Into<Vec<u8>>) -> Self {
        Self {
            data_type: "Binary".into(),
            value: AttributeValue::Binary(value.into()),
        }
    }

    pub fn string_value(&self) -> Option<&str> {
        match &self.value {
            AttributeValue::String(s) => Some(s),
            AttributeValue::Binary(_) => None,
        }
    }

    pub fn binary_value(&self) -> Option<&[u8]> {
        match &self.value {
            AttributeValue::Binary(b) => Some(b),
            AttributeValue::String(_) => None,
        }
    }

    fn value_bytes(&self) -> &[u8] {
        match &self.value {
            AttributeValue::String(s) => s.as_bytes(),
            AttributeValue::Binary(b) => b,
        }
    }

    /// The wire form (`{"DataType", "StringValue" | "BinaryValue" (base64)}`), which is also
    /// how the store keeps it.
    pub(crate) fn to_json(&self) -> Value {
        match &self.value {
            AttributeValue::String(s) => json!({"DataType": self.data_type, "StringValue": s}),
            AttributeValue::Binary(b) => {
                json!({"DataType": self.data_type, "BinaryValue": BASE64.encode(b)})
            }
        }
    }
}

pub type MessageAttributes = BTreeMap<String, MessageAttributeValue>;

/// The digest SQS gives of a body: hex MD5 of its UTF-8 bytes.
pub fn md5_of_body(body: &str) -> String {
    format!("{:x}", md5::compute(body.as_bytes()))
}

/// The digest SQS gives of message attributes (and, the same way, of message system
/// attributes): for each attribute in name order, the name, the data type and the value, each
/// preceded by its length as 4 big-endian bytes, with a transport byte (1 for a string value,
/// 2 for a binary one) before the value. `None` for no attributes, which SQS answers without
/// a digest.
pub fn md5_of_attributes<'a>(
    attributes: impl IntoIterator<Item = (&'a String, &'a MessageAttributeValue)>,
) -> Option<String> {
    let mut sorted: Vec<_> = attributes.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    fn framed(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    let mut buf = Vec::new();
    for (name, value) in sorted {
        framed(&mut buf, name.as_bytes());
        framed(&mut buf, value.data_type.as_bytes());
        buf.push(match value.value {
            AttributeValue::String(_) => 1,
            AttributeValue::Binary(_) => 2,
        });
        framed(&mut buf, value.value_bytes());
    }
    Some(format!("{:x}", md5::compute(&buf)))
}

/// The bytes a message's attributes count towards `MaximumMessageSize`: each name, data type
/// and value.
pub(crate) fn attributes_size(attributes: &MessageAttributes) -> usize {
    attributes
        .iter()
        .map(|(n, v)| n.len() + v.data_type.len() + v.value_bytes().len())
        .sum()
}

/// Characters SQS accepts in a body (XML 1.0's `Char`).
fn valid_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// The body as SQS stores it: characters outside XML's set become U+FFFD, as AWS does, as
/// long as one valid character remains.
pub(crate) fn clean_body(body: &str) -> Result<Cow<'_, str>, SqsError> {
    if body.is_empty() {
        return Err(SqsError::MissingParameter("MessageBody".into()));
    }
    if body.chars().all(valid_char) {
        return Ok(Cow::Borrowed(body));
    }
    if !body.chars().any(valid_char) {
        return Err(SqsError::InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
                .into(),
        ));
    }
    Ok(Cow::Owned(
        body.chars()
            .map(|c| if valid_char(c) { c } else { '\u{FFFD}' })
            .collect(),
    ))
}

fn invalid(message: String) -> SqsError {
    SqsError::InvalidParameterValue(message)
}

/// Checks an attribute name as SQS does: at most 256 of `[A-Za-z0-9_.-]`, no leading,
/// trailing or doubled period, no `AWS.` or `Amazon.` prefix.
fn check_name(name: &str) -> Result<(), SqsError> {
    let lower = name.to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 256
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !name.starts_with('.')
        && !name.ends_with('.')
        && !name.contains("..")
        && !lower.starts_with("aws.")
        && !lower.starts_with("amazon.");
    if ok {
        Ok(())
    } else {
        Err(invalid(format!(
            "Message (user) attribute name '{name}' is invalid. The attribute name can contain only alphanumeric characters, hyphens (-), underscores (_) and periods (.); it must not start or end with a period, contain two consecutive periods, or start with AWS. or Amazon., and it can be up to 256 characters long."
        )))
    }
}

/// A decimal number, as the `Number` data type requires.
fn is_number(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.chars().all(|c| c.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    !(int.is_empty() && frac.is_empty()) && digits(int) && digits(frac) && exponent_ok
}

/// One attribute from its wire form, checked.
fn parse_value(name: &str, v: &Value, kind: &str) -> Result<MessageAttributeValue, SqsError> {
    let data_type = v
        .get("DataType")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            invalid(format!(
                "The message {kind} attribute '{name}' must contain non-empty message attribute type."
            ))
        })?;
    let base = data_type.split_once('.').map_or(data_type, |(b, _)| b);
    if data_type.len() > 256 || !matches!(base, "String" | "Number" | "Binary") {
        return Err(invalid(format!(
            "The type of message {kind} attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
        )));
    }
    let empty = || {
        invalid(format!(
            "The message {kind} attribute '{name}' must contain a non-empty message attribute value for message attribute type '{base}'."
        ))
    };
    let value = if base == "Binary" {
        let text = v.get("BinaryValue").and_then(Value::as_str).unwrap_or("");
        let bytes = BASE64.decode(text).map_err(|_| {
            SqsError::Serialization(format!(
                "The BinaryValue of message {kind} attribute '{name}' is not valid base64."
            ))
        })?;
        if bytes.is_empty() {
            return Err(empty());
        }
        AttributeValue::Binary(bytes)
    } else {
        let text = v.get("StringValue").and_then(Value::as_str).unwrap_or("");
        if text.is_empty() {
            return Err(empty());
        }
        if base == "Number" && !is_number(text) {
            return Err(invalid(format!(
                "Can't cast the value of message {kind} attribute '{name}' to a number."
            )));
        }
        if !text.chars().all(valid_char) {
            return Err(SqsError::InvalidMessageContents(format!(
                "Message {kind} attribute '{name}' contains invalid characters."
            )));
        }
        AttributeValue::String(text.to_owned())
    };
    Ok(MessageAttributeValue {
        data_type: data_type.to_owned(),
        value,
    })
}

/// `MessageAttributes` of a send request.
pub(crate) fn parse_attributes(v: Option<&Value>) -> Result<MessageAttributes, SqsError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(MessageAttributes::new());
    };
    let map = v.as_object().ok_or_else(|| {
        SqsError::Serialization("MessageAttributes must be a map of name to value.".into())
    })?;
    if map.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            map.len()
        )));
    }
    let mut out = MessageAttributes::new();
    for (name, value) in map {
        check_name(name)?;
        out.insert(name.clone(), parse_value(name, value, "(user)")?);
    }
    Ok(out)
}

/// Checks attributes given through the library as the wire's would be.
pub(crate) fn check_attributes(attributes: &MessageAttributes) -> Result<(), SqsError> {
    if attributes.len() > MAX_ATTRIBUTES {
        return Err(invalid(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [{MAX_ATTRIBUTES}].",
            attributes.len()
        )));
    }
    for (name, value) in attributes {
        check_name(name)?;
        parse_value(name, &value.to_json(), "(user)")?;
    }
    Ok(())
}

/// `MessageSystemAttributes` of a send request: only `AWSTraceHeader`, a `String`.
pub(crate) fn parse_trace_header(v: Option<&Value>) -> Result<Option<String>, SqsError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let map = v.as_object().ok_or_else(|| {
        SqsError::Serialization("MessageSystemAttributes must be a map of name to value.".into())
    })?;
    let mut trace = None;
    for (name, value) in map {
        if name != "AWSTraceHeader" {
            return Err(invalid(format!(
                "Message system attribute name '{name}' is invalid."
            )));
        }
        let parsed = parse_value(name, value, "system")?;
        if parsed.data_type != "String" {
            return Err(invalid(format!(
                "The message system attribute '{name}' must be of type 'String'."
            )));
        }
        trace = parsed.string_value().map(str::to_owned);
    }
    Ok(trace)
}

/// The MD5 of the system attributes a trace header makes.
pub(crate) fn md5_of_trace_header(trace: &str) -> String {
    let name = "AWSTraceHeader".to_owned();
    let value = MessageAttributeValue::string(trace);
    md5_of_attributes([(&name, &value)]).unwrap_or_default()
}

/// The wire form of attributes (also how the store keeps them) back as values.
pub fn attributes_from_json(text: &str) -> MessageAttributes {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return MessageAttributes::new();
    };
    map.into_iter()
        .filter_map(|(name, v)| {
            let data_type = v.get("DataType")?.as_str()?.to_owned();
            let value = if let Some(b) = v.get("BinaryValue").and_then(Value::as_str) {
                AttributeValue::Binary(BASE64.decode(b).ok()?)
            } else {
                AttributeValue::String(v.get("StringValue")?.as_str()?.to_owned())
            };
            Some((name, MessageAttributeValue { data_type, value }))
        })
        .collect()
}

pub(crate) fn attributes_to_json(attributes: &MessageAttributes) -> Value {
    Value::Object(
        attributes
            .iter()
            .map(|(n, v)| (n.clone(), v.to_json()))
            .collect::<Map<_, _>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(items: &[(&str, MessageAttributeValue)]) -> MessageAttributes {
        items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn body_digest() {
        assert_eq!(md5_of_body("hello"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(md5_of_body("test"), "098f6bcd4621d373cade4e832627b4f6");
    }

    /// Values from AWS's samples of the algorithm, as other SQS implementations test them.
    #[test]
    fn attribute_digests_match_aws_samples() {
        let a = attrs(&[
            (
                "test_attribute_name_2",
                MessageAttributeValue::string("test_attribute_value_2"),
            ),
            (
                "test_attribute_name_1",
                MessageAttributeValue::string("test_attribute_value_1"),
            ),
        ]);
        assert_eq!(
            md5_of_attributes(&a).as_deref(),
            Some("d53f3b558fe951154770f25cb63dbba9")
        );
        let b = attrs(&[(
            "test_attribute_name",
            MessageAttributeValue::binary(b"test_attribute_value".to_vec()),
        )]);
        assert_eq!(
            md5_of_attributes(&b).as_deref(),
            Some("23f6bd27ea87aab7dfeadcc9aebee495")
        );
        let c = attrs(&[
            ("ordinal", MessageAttributeValue::number("1")),
            ("category", MessageAttributeValue::string("test")),
        ]);
        assert_eq!(
            md5_of_attributes(&c).as_deref(),
            Some("d21ae90c49061e927f57df5f5d72be1f")
        );
        let d = attrs(&[("SellerName", MessageAttributeValue::string("Example Store"))]);
        assert_eq!(
            md5_of_attributes(&d).as_deref(),
            Some("cd28f3b68aeee4b2eac9c66f2f694b58")
        );
        assert_eq!(md5_of_attributes(&MessageAttributes::new()), None);
    }

    #[test]
    fn bodies_are_cleaned_as_aws_does() {
        assert!(matches!(clean_body("ok"), Ok(Cow::Borrowed("ok"))));
        assert_eq!(clean_body("a\u{0}b").unwrap(), "a\u{FFFD}b");
        assert!(matches!(
            clean_body("\u{0}\u{1}"),
            Err(SqsError::InvalidMessageContents(_))
        ));
        assert!(matches!(clean_body(""), Err(SqsError::MissingParameter(_))));
    }

    #[test]
    fn attribute_rules() {
        let ok = json!({"a.b-c_1": {"DataType": "Number.int", "StringValue": "-1.5e3"}});
        let parsed = parse_attributes(Some(&ok)).unwrap();
        assert_eq!(parsed["a.b-c_1"].data_type, "Number.int");
        for bad in [
            json!({"AWS.x": {"DataType": "String", "StringValue": "v"}}),
            json!({".x": {"DataType": "String", "StringValue": "v"}}),
            json!({"a..b": {"DataType": "String", "StringValue": "v"}}),
            json!({"x": {"DataType": "Text", "StringValue": "v"}}),
            json!({"x": {"DataType": "String", "StringValue": ""}}),
            json!({"x": {"DataType": "Number", "StringValue": "1x"}}),
            json!({"x": {"StringValue": "v"}}),
        ] {
            assert!(
                matches!(
                    parse_attributes(Some(&bad)),
                    Err(SqsError::InvalidParameterValue(_))
                ),
                "{bad}"
            );
        }
        let eleven: Map<String, Value> = (0..11)
            .map(|i| {
                (
                    format!("a{i}"),
                    json!({"DataType": "String", "StringValue": "v"}),
                )
            })
            .collect();
        assert!(parse_attributes(Some(&Value::Object(eleven))).is_err());
        let bin = json!({"b": {"DataType": "Binary", "BinaryValue": "AAEC"}});
        let parsed = parse_attributes(Some(&bin)).unwrap();
        assert_eq!(parsed["b"].binary_value(), Some(&[0u8, 1, 2][..]));
        assert_eq!(
            attributes_from_json(&attributes_to_json(&parsed).to_string()),
            parsed
        );
    }

    #[test]
    fn trace_header_only() {
        let t = json!({"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5"}});
        assert_eq!(
            parse_trace_header(Some(&t)).unwrap().as_deref(),
            Some("Root=1-5")
        );
        let other = json!({"Other": {"DataType": "String", "StringValue": "x"}});
        assert!(parse_trace_header(Some(&other)).is_err());
    }
}
