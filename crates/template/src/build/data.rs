//! DynamoDB tables and SQS queues.

use super::Builder;
use crate::error::TemplateError;
use crate::intrinsics::RawResource;
use crate::model::{IndexDef, KeyAttribute, Queue, Redrive, Table};
use crate::props::Props;

impl Builder<'_, '_> {
    pub(super) fn table(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let mut types = Vec::new();
        for def in p.list("AttributeDefinitions")? {
            types.push((
                def.required_text("AttributeName")?,
                def.required_text("AttributeType")?,
            ));
        }
        let key = |schema: &Props,
                   key: &str|
         -> Result<(KeyAttribute, Option<KeyAttribute>), TemplateError> {
            let mut hash = None;
            let mut range = None;
            let entries = schema.list(key)?;
            if entries.is_empty() {
                return Err(schema.fail(key, "is missing"));
            }
            for k in entries {
                let name = k.required_text("AttributeName")?;
                let attribute_type = types
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, t)| t.clone())
                    .ok_or_else(|| {
                        k.fail(
                            "AttributeName",
                            format!("names {name}, which AttributeDefinitions lacks"),
                        )
                    })?;
                let attr = KeyAttribute {
                    name,
                    attribute_type,
                };
                match k.required_text("KeyType")?.as_str() {
                    "HASH" => hash = Some(attr),
                    "RANGE" => range = Some(attr),
                    other => {
                        return Err(
                            k.fail("KeyType", format!("must be HASH or RANGE, got {other}"))
                        );
                    }
                }
            }
            Ok((
                hash.ok_or_else(|| schema.fail(key, "has no HASH key"))?,
                range,
            ))
        };
        let (hash, range) = key(&p, "KeySchema")?;
        let indexes = |list: &str| -> Result<Vec<IndexDef>, TemplateError> {
            p.list(list)?
                .iter()
                .map(|index| {
                    let (hash, range) = key(index, "KeySchema")?;
                    let projection = index.child_or_empty("Projection")?;
                    Ok(IndexDef {
                        name: index.required_text("IndexName")?,
                        hash,
                        range,
                        projection: projection.text_or("ProjectionType", "ALL")?,
                        non_key_attributes: projection.texts("NonKeyAttributes")?,
                    })
                })
                .collect()
        };
        let global_indexes = indexes("GlobalSecondaryIndexes")?;
        let local_indexes = indexes("LocalSecondaryIndexes")?;
        let ttl = p.child_or_empty("TimeToLiveSpecification")?;
        let ttl_attribute = if ttl.bool_or("Enabled", false)? {
            Some(ttl.required_text("AttributeName")?)
        } else {
            None
        };
        if p.has("StreamSpecification") {
            self.warn(
                &res.id,
                "StreamSpecification is not emulated: DynamoDB streams are not delivered",
            );
        }
        if p.has("KinesisStreamSpecification") {
            self.warn(
                &res.id,
                "KinesisStreamSpecification is not emulated: changes are not streamed to Kinesis",
            );
        }
        self.stack.tables.push(Table {
            logical_id: res.id.clone(),
            name: ident.ref_value.clone(),
            arn: ident.attr("Arn").unwrap_or_default().into(),
            hash,
            range,
            global_indexes,
            local_indexes,
            ttl_attribute,
        });
        Ok(())
    }

    /// SAM's `AWS::Serverless::SimpleTable`: one hash key, `id` of type String by default.
    pub(super) fn simple_table(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let key = p.child_or_empty("PrimaryKey")?;
        let attribute_type = match key.text_or("Type", "String")?.as_str() {
            "String" => "S",
            "Number" => "N",
            "Binary" => "B",
            other => {
                return Err(key.fail(
                    "Type",
                    format!("must be String, Number or Binary, got {other}"),
                ));
            }
        };
        self.stack.tables.push(Table {
            logical_id: res.id.clone(),
            name: ident.ref_value.clone(),
            arn: ident.attr("Arn").unwrap_or_default().into(),
            hash: KeyAttribute {
                name: key.text_or("Name", "id")?,
                attribute_type: attribute_type.into(),
            },
            range: None,
            global_indexes: Vec::new(),
            local_indexes: Vec::new(),
            ttl_attribute: None,
        });
        Ok(())
    }

    pub(super) fn queue(&mut self, res: &RawResource) -> Result<(), TemplateError> {
        let ident = self.r.identity_of(res)?;
        let props = self.r.properties(res)?;
        let p = Props::new(&res.id, &props);
        let fifo = p.bool_or("FifoQueue", false)?;
        if fifo {
            self.warn(
                &res.id,
                "FIFO queues are not emulated yet: devstack does not create this queue, and \
                 sends to it fail with QueueDoesNotExist",
            );
        }
        let redrive = match p.get("RedrivePolicy") {
            None => None,
            // CloudFormation also accepts the policy as a JSON string.
            Some(serde_json::Value::String(json)) => {
                let parsed: crate::intrinsics::Obj = serde_json::from_str(json)
                    .map_err(|e| p.fail("RedrivePolicy", format!("is not a JSON object: {e}")))?;
                let policy = Props::new(&res.id, &parsed);
                Some(redrive_of(&policy).map_err(|_| {
                    p.fail(
                        "RedrivePolicy",
                        "needs deadLetterTargetArn and a whole-number maxReceiveCount",
                    )
                })?)
            }
            Some(_) => Some(redrive_of(&p.child_or_empty("RedrivePolicy")?)?),
        };
        let attr = |name: &str| ident.attr(name).unwrap_or_default().to_owned();
        self.stack.queues.push(Queue {
            logical_id: res.id.clone(),
            name: attr("QueueName"),
            url: ident.ref_value.clone(),
            arn: attr("Arn"),
            fifo,
            visibility_timeout: p.u32_or("VisibilityTimeout", 30)?,
            retention_period: p.u32_or("MessageRetentionPeriod", 345_600)?,
            delay_seconds: p.u32_or("DelaySeconds", 0)?,
            receive_wait_seconds: p.u32_or("ReceiveMessageWaitTimeSeconds", 0)?,
            max_message_size: p.u32_or("MaximumMessageSize", 262_144)?,
            redrive,
        });
        Ok(())
    }
}

fn redrive_of(policy: &Props) -> Result<Redrive, TemplateError> {
    Ok(Redrive {
        dead_letter_arn: policy.required_text("deadLetterTargetArn")?,
        max_receive_count: policy
            .u32("maxReceiveCount")?
            .ok_or_else(|| policy.fail("maxReceiveCount", "is missing"))?,
    })
}
