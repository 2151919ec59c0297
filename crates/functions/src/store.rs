//! The single table, through typed operations. Every key comes from `domain::keys`; every
//! attribute name of a stored entity is spelled here and only here (the moderation state
//! machine's `status`/`target` update, in `statemachine/`, is the one other writer).

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Delete, DeleteRequest, KeysAndAttributes, Put, ReturnValue, TransactWriteItem,
    Update, WriteRequest,
};
use domain::keys::{self, Key, attr};
use domain::{ClickEvent, Day, EpochMillis, LinkStatus, ShortCode, TargetUrl};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB {op} failed: {message}")]
    Sdk {
        op: &'static str,
        /// The AWS error code when there is one (e.g. `ProvisionedThroughputExceededException`).
        code: Option<String>,
        message: String,
    },
    #[error("stored item {key} is malformed: {reason}")]
    Corrupt { key: String, reason: String },
}

impl StoreError {
    fn sdk<E, R>(op: &'static str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().map(str::to_owned);
        let message = match &err {
            SdkError::ServiceError(s) => format!(
                "{}: {}",
                s.err().code().unwrap_or("ServiceError"),
                s.err().message().unwrap_or_default()
            ),
            other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
        };
        Self::Sdk { op, code, message }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key_item(k: &Key) -> Item {
    HashMap::from([(attr::PK.into(), s(&k.pk)), (attr::SK.into(), s(&k.sk))])
}

fn get_s<'i>(item: &'i Item, name: &str) -> Option<&'i str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// A link as stored in its META item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub code: ShortCode,
    pub owner: String,
    pub target: TargetUrl,
    /// The stored status; see [`Link::status_at`] for what a reader sees.
    pub status: LinkStatus,
    pub redirect: u16,
    pub clicks: u64,
    pub created_at: EpochMillis,
    pub updated_at: EpochMillis,
    pub expires_at: Option<EpochMillis>,
    /// Incremented by every owner update; the condition of the next one.
    pub version: u64,
    pub moderation_reason: Option<String>,
}

impl Link {
    pub fn status_at(&self, now: EpochMillis) -> LinkStatus {
        self.status.effective(self.expires_at, now)
    }

    fn to_item(&self) -> Item {
        let k = keys::link(&self.code);
        let gsi = keys::link_by_owner(&self.owner, self.created_at, &self.code);
        let mut item = key_item(&k);
        item.insert(attr::GSI1PK.into(), s(gsi.pk));
        item.insert(attr::GSI1SK.into(), s(gsi.sk));
        item.insert("code".into(), s(self.code.as_str()));
        item.insert("ownerId".into(), s(&self.owner));
        item.insert("target".into(), s(self.target.as_str()));
        item.insert("status".into(), s(self.status.as_str()));
        item.insert("redirect".into(), n(self.redirect));
        item.insert("clicks".into(), n(self.clicks));
        item.insert("createdAt".into(), n(self.created_at.0));
        item.insert("updatedAt".into(), n(self.updated_at.0));
        item.insert("version".into(), n(self.version));
        if let Some(e) = self.expires_at {
            item.insert("expiresAt".into(), n(e.0));
        }
        if let Some(r) = &self.moderation_reason {
            item.insert("moderationReason".into(), s(r));
        }
        item
    }

    fn from_item(item: &Item) -> Result<Self, StoreError> {
        let key = get_s(item, attr::PK).unwrap_or("?").to_owned();
        let bad = |reason: &str| StoreError::Corrupt {
            key: key.clone(),
            reason: reason.to_owned(),
        };
        let code = get_s(item, "code")
            .and_then(|c| ShortCode::parse(c).ok())
            .ok_or_else(|| bad("code"))?;
        Ok(Self {
            code,
            owner: get_s(item, "ownerId")
                .ok_or_else(|| bad("ownerId"))?
                .to_owned(),
            target: TargetUrl::from_stored(
                get_s(item, "target")
                    .ok_or_else(|| bad("target"))?
                    .to_owned(),
            ),
            status: get_s(item, "status")
                .and_then(LinkStatus::parse)
                .ok_or_else(|| bad("status"))?,
            redirect: get_n(item, "redirect")
                .and_then(|r| u16::try_from(r).ok())
                .unwrap_or(301),
            clicks: get_n(item, "clicks").unwrap_or(0).max(0) as u64,
            created_at: EpochMillis(get_n(item, "createdAt").ok_or_else(|| bad("createdAt"))?),
            updated_at: EpochMillis(get_n(item, "updatedAt").unwrap_or(0)),
            expires_at: get_n(item, "expiresAt").map(EpochMillis),
            version: get_n(item, "version").unwrap_or(0).max(0) as u64,
            moderation_reason: get_s(item, "moderationReason").map(str::to_owned),
        })
    }
}

/// A remembered create request, for `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub owner: String,
    pub key: String,
    pub fingerprint: String,
    pub code: ShortCode,
    /// The response body sent the first time, replayed verbatim.
    pub response: String,
    pub expires_at: EpochMillis,
}

impl IdempotencyRecord {
    fn to_item(&self) -> Item {
        let mut item = key_item(&keys::idempotency(&self.owner, &self.key));
        item.insert("fingerprint".into(), s(&self.fingerprint));
        item.insert("code".into(), s(self.code.as_str()));
        item.insert("response".into(), s(&self.response));
        item.insert(attr::TTL.into(), n(self.expires_at.as_secs()));
        item
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    Created,
    /// The code exists already (a generated collision, or a taken alias).
    CodeTaken,
    /// A concurrent request with the same idempotency key won the race.
    IdempotencyKeyTaken,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ClickOutcome {
    Counted,
    /// The marker exists: this click was counted before.
    Duplicate,
    /// The link is gone (deleted, or deleted and its code reused): nothing may be written.
    LinkGone,
    /// Worth another delivery: a transaction conflict, throttling, a server error.
    Retryable(String),
}

/// The key of the last item of a page of a GSI1 query.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageKey {
    pub pk: String,
    pub sk: String,
    pub gsi1pk: String,
    pub gsi1sk: String,
}

impl PageKey {
    fn from_item(item: &Item) -> Option<Self> {
        Some(Self {
            pk: get_s(item, attr::PK)?.to_owned(),
            sk: get_s(item, attr::SK)?.to_owned(),
            gsi1pk: get_s(item, attr::GSI1PK)?.to_owned(),
            gsi1sk: get_s(item, attr::GSI1SK)?.to_owned(),
        })
    }

    fn to_item(&self) -> Item {
        HashMap::from([
            (attr::PK.into(), s(&self.pk)),
            (attr::SK.into(), s(&self.sk)),
            (attr::GSI1PK.into(), s(&self.gsi1pk)),
            (attr::GSI1SK.into(), s(&self.gsi1sk)),
        ])
    }
}

/// A WebSocket watcher of one link's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub code: ShortCode,
    pub owner: String,
    pub connected_at: EpochMillis,
    pub expires_at: EpochMillis,
}

#[derive(Clone, Debug)]
pub struct Store {
    ddb: Client,
    table: String,
}

impl Store {
    pub fn new(ddb: Client, table: impl Into<String>) -> Self {
        Self {
            ddb,
            table: table.into(),
        }
    }

    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, crate::config::ConfigError> {
        Ok(Self::new(
            Client::new(sdk),
            crate::config::required("TABLE_NAME")?,
        ))
    }

    pub async fn get_link(
        &self,
        code: &ShortCode,
        consistent: bool,
    ) -> Result<Option<Link>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::link(code))))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem", e))?;
        out.item().map(Link::from_item).transpose()
    }

    /// Writes a new link (and its idempotency record, atomically) if the code is free.
    pub async fn create_link(
        &self,
        link: &Link,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<CreateOutcome, StoreError> {
        let put_link = Put::builder()
            .table_name(&self.table)
            .set_item(Some(link.to_item()))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .expect("table, item and condition are set");
        let Some(record) = idempotency else {
            return match self
                .ddb
                .put_item()
                .table_name(&self.table)
                .set_item(Some(link.to_item()))
                .condition_expression("attribute_not_exists(PK)")
                .send()
                .await
            {
                Ok(_) => Ok(CreateOutcome::Created),
                Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                    Ok(CreateOutcome::CodeTaken)
                }
                Err(e) => Err(StoreError::sdk("PutItem", e)),
            };
        };
        // An expired record may be overwritten: DynamoDB deletes TTL'd items lazily, up to days
        // late, and a key must not stay blocked for that long.
        let put_record = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record.to_item()))
            .condition_expression("attribute_not_exists(PK) OR #ttl <= :now")
            .expression_attribute_names("#ttl", attr::TTL)
            .expression_attribute_values(":now", n(link.created_at.as_secs()))
            .build()
            .expect("table, item and condition are set");
        let result = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_link).build())
            .transact_items(TransactWriteItem::builder().put(put_record).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(CreateOutcome::Created),
            Err(e) => {
                let reasons = cancellation_codes(&e);
                match reasons.as_deref() {
                    Some([_, r, ..]) if r == "ConditionalCheckFailed" => {
                        Ok(CreateOutcome::IdempotencyKeyTaken)
                    }
                    Some([r, ..]) if r == "ConditionalCheckFailed" => Ok(CreateOutcome::CodeTaken),
                    _ => Err(StoreError::sdk("TransactWriteItems", e)),
                }
            }
        }
    }

    /// Writes `link` whole, replacing whatever item its code has. Only for the deployment
    /// canary (`domain::code::CANARY`), which no owner edits, so no conditional write of an
    /// owner's can be lost to it; owners' links go through `create_link` and `update_link`.
    pub async fn put_link(&self, link: &Link) -> Result<(), StoreError> {
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(link.to_item()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("PutItem", e))
    }

    /// Undoes a create whose `link.created` could not be published, so that no link is left
    /// unmoderated; the client retries (with the same idempotency key, safely).
    pub async fn remove_created(
        &self,
        link: &Link,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let mut tx = self.ddb.transact_write_items().transact_items(
            TransactWriteItem::builder()
                .delete(
                    Delete::builder()
                        .table_name(&self.table)
                        .set_key(Some(key_item(&keys::link(&link.code))))
                        .build()
                        .expect("table and key are set"),
                )
                .build(),
        );
        if let Some(r) = idempotency {
            tx = tx.transact_items(
                TransactWriteItem::builder()
                    .delete(
                        Delete::builder()
                            .table_name(&self.table)
                            .set_key(Some(key_item(&keys::idempotency(&r.owner, &r.key))))
                            .build()
                            .expect("table and key are set"),
                    )
                    .build(),
            );
        }
        tx.send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("TransactWriteItems", e))
    }

    /// The live idempotency record of `owner`'s `key`, if any (expired ones are ignored: TTL
    /// deletion lags).
    pub async fn get_idempotency(
        &self,
        owner: &str,
        key: &str,
        now: EpochMillis,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::idempotency(owner, key))))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem", e))?;
        let Some(item) = out.item() else {
            return Ok(None);
        };
        let expires_at = EpochMillis(get_n(item, attr::TTL).unwrap_or(0).saturating_mul(1000));
        if expires_at <= now {
            return Ok(None);
        }
        let corrupt = |f: &str| StoreError::Corrupt {
            key: keys::idempotency(owner, key).pk,
            reason: f.to_owned(),
        };
        Ok(Some(IdempotencyRecord {
            owner: owner.to_owned(),
            key: key.to_owned(),
            fingerprint: get_s(item, "fingerprint")
                .ok_or_else(|| corrupt("fingerprint"))?
                .to_owned(),
            code: get_s(item, "code")
                .and_then(|c| ShortCode::parse(c).ok())
                .ok_or_else(|| corrupt("code"))?,
            response: get_s(item, "response")
                .ok_or_else(|| corrupt("response"))?
                .to_owned(),
            expires_at,
        }))
    }

    /// One page of `owner`'s links, newest first.
    pub async fn links_by_owner(
        &self,
        owner: &str,
        limit: i32,
        start: Option<&PageKey>,
    ) -> Result<(Vec<Link>, Option<PageKey>), StoreError> {
        // One item more than the page: DynamoDB returns a LastEvaluatedKey whenever it stops
        // at the Limit, even with nothing after it, which would hand the client a cursor to
        // an empty last page. The extra item says whether there is a next page.
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .index_name(attr::GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", attr::GSI1PK)
            .expression_attribute_values(":pk", s(keys::owner_partition(owner)))
            .scan_index_forward(false)
            .limit(limit.saturating_add(1))
            .set_exclusive_start_key(start.map(PageKey::to_item))
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", e))?;
        let page = usize::try_from(limit).unwrap_or(0);
        let items = out.items();
        let next = if items.len() > page {
            // The page's last item is where the next one starts.
            items[..page].last().and_then(PageKey::from_item)
        } else {
            // Fewer than asked: the end, unless DynamoDB stopped at its 1 MB page size.
            out.last_evaluated_key().and_then(PageKey::from_item)
        };
        let links = items
            .iter()
            .take(page)
            .map(Link::from_item)
            .collect::<Result<Vec<_>, _>>()?;
        Ok((links, next))
    }

    /// Daily click counts of `code` from `from` to `to` inclusive; days without clicks are
    /// absent.
    pub async fn daily_stats(
        &self,
        code: &ShortCode,
        from: Day,
        to: Day,
    ) -> Result<Vec<(Day, u64)>, StoreError> {
        let out = self
            .ddb
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#sk", attr::SK)
            .expression_attribute_values(":pk", s(keys::link_pk(code)))
            .expression_attribute_values(":from", s(keys::stat(code, from).sk))
            .expression_attribute_values(":to", s(keys::stat(code, to).sk))
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query", e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|i| {
                let day = keys::stat_day(get_s(i, attr::SK)?)?;
                Some((day, get_n(i, "count").unwrap_or(0).max(0) as u64))
            })
            .collect())
    }

    /// Replaces the owner-editable fields of `link`, if it is still at `expected_version` and
    /// owned by `link.owner`. Returns false when the condition failed.
    pub async fn update_link(
        &self,
        link: &Link,
        expected_version: u64,
    ) -> Result<bool, StoreError> {
        let mut names = HashMap::from([
            ("#target".to_owned(), "target".to_owned()),
            ("#status".to_owned(), "status".to_owned()),
            ("#redirect".to_owned(), "redirect".to_owned()),
            ("#updatedAt".to_owned(), "updatedAt".to_owned()),
            ("#version".to_owned(), "version".to_owned()),
            ("#owner".to_owned(), "ownerId".to_owned()),
            ("#expiresAt".to_owned(), "expiresAt".to_owned()),
            ("#reason".to_owned(), "moderationReason".to_owned()),
        ]);
        let mut values = HashMap::from([
            (":target".to_owned(), s(link.target.as_str())),
            (":status".to_owned(), s(link.status.as_str())),
            (":redirect".to_owned(), n(link.redirect)),
            (":updatedAt".to_owned(), n(link.updated_at.0)),
            (":version".to_owned(), n(link.version)),
            (":expected".to_owned(), n(expected_version)),
            (":owner".to_owned(), s(&link.owner)),
        ]);
        let mut set = vec![
            "#target = :target",
            "#status = :status",
            "#redirect = :redirect",
            "#updatedAt = :updatedAt",
            "#version = :version",
        ];
        let mut remove = vec![];
        match link.expires_at {
            Some(e) => {
                set.push("#expiresAt = :expiresAt");
                values.insert(":expiresAt".into(), n(e.0));
            }
            None => remove.push("#expiresAt"),
        }
        match &link.moderation_reason {
            Some(r) => {
                set.push("#reason = :reason");
                values.insert(":reason".into(), s(r));
            }
            None => remove.push("#reason"),
        }
        let mut expr = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expr.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        names.retain(|k, _| expr.contains(k.as_str()) || k == "#owner" || k == "#version");
        let result = self
            .ddb
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::link(&link.code))))
            .update_expression(expr)
            .condition_expression(
                "attribute_exists(PK) AND #owner = :owner AND #version = :expected",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => Ok(false),
            Err(e) => Err(StoreError::sdk("UpdateItem", e)),
        }
    }

    /// Deletes `code` if `owner` owns it, then its daily stats and its watchers' connections.
    /// Returns the deleted link, or None for "missing" and "not yours" alike.
    pub async fn delete_link(
        &self,
        code: &ShortCode,
        owner: &str,
    ) -> Result<Option<Link>, StoreError> {
        let result = self
            .ddb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::link(code))))
            .condition_expression("attribute_exists(PK) AND ownerId = :me")
            .expression_attribute_values(":me", s(owner))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let deleted = match result {
            Ok(out) => match out.attributes() {
                Some(item) => Link::from_item(item)?,
                None => return Ok(None),
            },
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => return Ok(None),
            Err(e) => return Err(StoreError::sdk("DeleteItem", e)),
        };
        // The META item is gone first, so no click can add to a stat from here on (the
        // aggregator's transaction requires it); whatever stats exist now are all there are.
        let stats = self
            .query_all(
                self.ddb
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :stat)")
                    .expression_attribute_names("#pk", attr::PK)
                    .expression_attribute_names("#sk", attr::SK)
                    .expression_attribute_values(":pk", s(keys::link_pk(code)))
                    .expression_attribute_values(":stat", s(keys::stat_prefix()))
                    .projection_expression("#pk, #sk"),
            )
            .await?;
        let mut doomed: Vec<Key> = stats
            .iter()
            .filter_map(|i| {
                Some(Key {
                    pk: get_s(i, attr::PK)?.to_owned(),
                    sk: get_s(i, attr::SK)?.to_owned(),
                })
            })
            .collect();
        doomed.extend(
            self.watchers(code)
                .await?
                .into_iter()
                .map(|c| keys::connection(&c)),
        );
        self.delete_keys(doomed).await?;
        Ok(Some(deleted))
    }

    async fn delete_keys(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        for chunk in keys.chunks(25) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(key_item(k)))
                                .build()
                                .expect("key is set"),
                        )
                        .build()
                })
                .collect();
            // Unprocessed items are retried with a short backoff; DynamoDB returns them under
            // throttling, and giving up would leave orphans.
            for attempt in 0..8u32 {
                let out = self
                    .ddb
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| StoreError::sdk("BatchWriteItem", e))?;
                pending = out
                    .unprocessed_items()
                    .and_then(|u| u.get(&self.table))
                    .cloned()
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == 7 {
                    return Err(StoreError::Sdk {
                        op: "BatchWriteItem",
                        code: None,
                        message: format!(
                            "{} deletes still unprocessed after retries",
                            pending.len()
                        ),
                    });
                }
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
        }
        Ok(())
    }

    /// Counts one click exactly once: the link's total and the click's day go up, and a marker
    /// for the click id is written, all in one transaction. The marker's condition makes a
    /// redelivery a no-op; the link's condition keeps a late click from resurrecting a deleted
    /// link (or counting toward a new link that reuses its code).
    pub async fn count_click(
        &self,
        click: &ClickEvent,
        marker_expires: EpochMillis,
    ) -> Result<ClickOutcome, StoreError> {
        let link_key = keys::link(&click.code);
        let stat_key = keys::stat(&click.code, click.at.day());
        let marker_key = keys::click_marker(&click.click_id);
        let bump_link = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&link_key)))
            .update_expression("ADD clicks :one")
            .condition_expression("attribute_exists(PK) AND createdAt = :created")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":created", n(click.link_created_at.0))
            .build()
            .expect("table, key and expression are set");
        let bump_day = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key_item(&stat_key)))
            .update_expression("ADD #count :one SET code = :code")
            .expression_attribute_names("#count", "count")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":code", s(click.code.as_str()))
            .build()
            .expect("table, key and expression are set");
        let mut marker = key_item(&marker_key);
        marker.insert("code".into(), s(click.code.as_str()));
        marker.insert("at".into(), n(click.at.0));
        marker.insert(attr::TTL.into(), n(marker_expires.as_secs()));
        let put_marker = Put::builder()
            .table_name(&self.table)
            .set_item(Some(marker))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .expect("table, item and condition are set");
        let result = self
            .ddb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(bump_link).build())
            .transact_items(TransactWriteItem::builder().update(bump_day).build())
            .transact_items(TransactWriteItem::builder().put(put_marker).build())
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(ClickOutcome::Counted),
            Err(e) => e,
        };
        Ok(match cancellation_codes(&err) {
            // The reasons are in item order: link, day, marker.
            Some(reasons) => {
                let is = |i: usize, code: &str| reasons.get(i).is_some_and(|r| r == code);
                if is(0, "ConditionalCheckFailed") {
                    ClickOutcome::LinkGone
                } else if is(2, "ConditionalCheckFailed") {
                    ClickOutcome::Duplicate
                } else {
                    ClickOutcome::Retryable(format!(
                        "transaction cancelled: {}",
                        reasons.join(", ")
                    ))
                }
            }
            None => ClickOutcome::Retryable(StoreError::sdk("TransactWriteItems", err).to_string()),
        })
    }

    /// The link's total clicks and its count on `day`, read after a commit (strongly
    /// consistent, so a push never shows less than what was just counted).
    pub async fn counts(
        &self,
        code: &ShortCode,
        day: Day,
    ) -> Result<Option<(u64, u64)>, StoreError> {
        let out = self
            .ddb
            .batch_get_item()
            .request_items(
                &self.table,
                KeysAndAttributes::builder()
                    .keys(key_item(&keys::link(code)))
                    .keys(key_item(&keys::stat(code, day)))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set"),
            )
            .send()
            .await
            .map_err(|e| StoreError::sdk("BatchGetItem", e))?;
        let items = out
            .responses()
            .and_then(|r| r.get(&self.table))
            .cloned()
            .unwrap_or_default();
        let meta_sk = keys::link(code).sk;
        let Some(meta) = items
            .iter()
            .find(|i| get_s(i, attr::SK) == Some(meta_sk.as_str()))
        else {
            return Ok(None);
        };
        let today = items
            .iter()
            .find(|i| get_s(i, attr::SK).and_then(keys::stat_day) == Some(day))
            .and_then(|i| get_n(i, "count"))
            .unwrap_or(0);
        Ok(Some((
            get_n(meta, "clicks").unwrap_or(0).max(0) as u64,
            today.max(0) as u64,
        )))
    }

    pub async fn put_connection(&self, c: &Connection) -> Result<(), StoreError> {
        let gsi = keys::connection_by_code(&c.code, &c.id);
        let mut item = key_item(&keys::connection(&c.id));
        item.insert(attr::GSI1PK.into(), s(gsi.pk));
        item.insert(attr::GSI1SK.into(), s(gsi.sk));
        item.insert("connectionId".into(), s(&c.id));
        item.insert("code".into(), s(c.code.as_str()));
        item.insert("ownerId".into(), s(&c.owner));
        item.insert("connectedAt".into(), n(c.connected_at.0));
        item.insert(attr::TTL.into(), n(c.expires_at.as_secs()));
        self.ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("PutItem", e))
    }

    pub async fn delete_connection(&self, connection_id: &str) -> Result<(), StoreError> {
        self.ddb
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(&keys::connection(connection_id))))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::sdk("DeleteItem", e))
    }

    /// The connection ids watching `code`.
    pub async fn watchers(&self, code: &ShortCode) -> Result<Vec<String>, StoreError> {
        let items = self
            .query_all(
                self.ddb
                    .query()
                    .table_name(&self.table)
                    .index_name(attr::GSI1)
                    .key_condition_expression("#pk = :pk")
                    .expression_attribute_names("#pk", attr::GSI1PK)
                    .expression_attribute_values(":pk", s(keys::watchers_partition(code))),
            )
            .await?;
        Ok(items
            .iter()
            .filter_map(|i| get_s(i, "connectionId").map(str::to_owned))
            .collect())
    }

    /// Every item a query matches, following its pages.
    async fn query_all(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = query
                .clone()
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::sdk("Query", e))?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(items),
            }
        }
    }
}

/// The cancellation reason codes of a cancelled transaction, in item order ("None" for items
/// that did not cause it), or None if the error is not a cancellation.
fn cancellation_codes<R>(err: &SdkError<TransactWriteItemsError, R>) -> Option<Vec<String>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}
