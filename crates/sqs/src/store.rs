//! Queues and messages in SQLite: `{data}/sqs.sqlite` (WAL, `synchronous=NORMAL`: a commit
//! survives the process being killed, which is what an acknowledged send promises locally),
//! or an in-memory database for tests.
//!
//! A message's whole state is its row: `visible_at` (clock ms) is when it can next be
//! received, so "visible" is `visible_at <= now`, "in flight" is a received message whose
//! `visible_at` is ahead, and "delayed" is one never received whose `visible_at` is ahead.
//! The index on `(queue_id, visible_at, seq)` serves receive (the oldest visible first), the
//! counts and the next visibility; the one on `(queue_id, sent_ms)` serves retention.

use crate::SqsError;
use crate::attributes::QueueAttrs;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use std::collections::BTreeMap;
use std::path::Path;

const FILE: &str = "sqs.sqlite";
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    last_purge_ms INTEGER
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    queue_id INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT,
    trace_header TEXT,
    sender_id TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive_ms INTEGER,
    last_receive_ms INTEGER,
    receipt TEXT,
    dead_letter_source TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_visibility ON messages (queue_id, visible_at, seq);
CREATE INDEX IF NOT EXISTS messages_by_age ON messages (queue_id, sent_ms);
";

pub(crate) fn open(dir: Option<&Path>) -> Result<Connection, SqsError> {
    let conn = match dir {
        None => Connection::open_in_memory()?,
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|source| SqsError::Io {
                action: "create",
                path: dir.to_owned(),
                source,
            })?;
            let conn = Connection::open(dir.join(FILE))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            conn
        }
    };
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(SqsError::NewerData(version));
    }
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(conn)
}

#[derive(Debug, Clone)]
pub(crate) struct QueueRow {
    pub id: i64,
    pub name: String,
    pub created_ms: i64,
    pub modified_ms: i64,
    pub attrs: QueueAttrs,
    pub tags: BTreeMap<String, String>,
    pub last_purge_ms: Option<i64>,
}

fn queue_row(r: &Row<'_>) -> rusqlite::Result<QueueRow> {
    let attrs: String = r.get(4)?;
    let tags: String = r.get(5)?;
    Ok(QueueRow {
        id: r.get(0)?,
        name: r.get(1)?,
        created_ms: r.get(2)?,
        modified_ms: r.get(3)?,
        attrs: serde_json::from_str(&attrs).unwrap_or_default(),
        tags: serde_json::from_str(&tags).unwrap_or_default(),
        last_purge_ms: r.get(6)?,
    })
}

const QUEUE_COLUMNS: &str = "id, name, created_ms, modified_ms, attributes, tags, last_purge_ms";

pub(crate) fn queue(tx: &Transaction<'_>, name: &str) -> Result<Option<QueueRow>, SqsError> {
    Ok(tx
        .prepare_cached(&format!(
            "SELECT {QUEUE_COLUMNS} FROM queues WHERE name = ?1"
        ))?
        .query_row([name], queue_row)
        .optional()?)
}

pub(crate) fn queues(tx: &Transaction<'_>) -> Result<Vec<QueueRow>, SqsError> {
    let mut stmt =
        tx.prepare_cached(&format!("SELECT {QUEUE_COLUMNS} FROM queues ORDER BY name"))?;
    let rows = stmt.query_map([], queue_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(crate) fn insert_queue(
    tx: &Transaction<'_>,
    name: &str,
    attrs: &QueueAttrs,
    tags: &BTreeMap<String, String>,
    now: i64,
) -> Result<i64, SqsError> {
    tx.prepare_cached(
        "INSERT INTO queues (name, created_ms, modified_ms, attributes, tags) VALUES (?1, ?2, ?2, ?3, ?4)",
    )?
    .execute(params![
        name,
        now,
        serde_json::to_string(attrs).unwrap_or_default(),
        serde_json::to_string(tags).unwrap_or_default()
    ])?;
    Ok(tx.last_insert_rowid())
}

pub(crate) fn update_queue(tx: &Transaction<'_>, q: &QueueRow) -> Result<(), SqsError> {
    tx.prepare_cached(
        "UPDATE queues SET modified_ms = ?2, attributes = ?3, tags = ?4, last_purge_ms = ?5 WHERE id = ?1",
    )?
    .execute(params![
        q.id,
        q.modified_ms,
        serde_json::to_string(&q.attrs).unwrap_or_default(),
        serde_json::to_string(&q.tags).unwrap_or_default(),
        q.last_purge_ms
    ])?;
    Ok(())
}

pub(crate) fn delete_queue(tx: &Transaction<'_>, id: i64) -> Result<(), SqsError> {
    tx.prepare_cached("DELETE FROM messages WHERE queue_id = ?1")?
        .execute([id])?;
    tx.prepare_cached("DELETE FROM queues WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// A message to store.
pub(crate) struct NewMessage<'a> {
    pub message_id: &'a str,
    pub body: &'a str,
    pub attributes: Option<String>,
    pub trace_header: Option<&'a str>,
    pub sender_id: &'a str,
    pub sent_ms: i64,
    pub visible_at: i64,
}

pub(crate) fn insert_message(
    tx: &Transaction<'_>,
    queue_id: i64,
    m: &NewMessage<'_>,
) -> Result<(), SqsError> {
    tx.prepare_cached(
        "INSERT INTO messages (queue_id, message_id, body, attributes, trace_header, sender_id, sent_ms, visible_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        queue_id,
        m.message_id,
        m.body,
        m.attributes,
        m.trace_header,
        m.sender_id,
        m.sent_ms,
        m.visible_at
    ])?;
    Ok(())
}

/// Removes the messages sent at or before `cutoff` (past their retention period).
pub(crate) fn expire(tx: &Transaction<'_>, queue_id: i64, cutoff: i64) -> Result<(), SqsError> {
    tx.prepare_cached("DELETE FROM messages WHERE queue_id = ?1 AND sent_ms <= ?2")?
        .execute(params![queue_id, cutoff])?;
    Ok(())
}

#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub seq: i64,
    pub message_id: String,
    pub body: String,
    pub attributes: Option<String>,
    pub trace_header: Option<String>,
    pub sender_id: String,
    pub sent_ms: i64,
    pub visible_at: i64,
    pub receive_count: i64,
    pub first_receive_ms: Option<i64>,
    pub dead_letter_source: Option<String>,
}

const MESSAGE_COLUMNS: &str = "seq, message_id, body, attributes, trace_header, sender_id, sent_ms, visible_at, receive_count, first_receive_ms, dead_letter_source";

fn stored(r: &Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        seq: r.get(0)?,
        message_id: r.get(1)?,
        body: r.get(2)?,
        attributes: r.get(3)?,
        trace_header: r.get(4)?,
        sender_id: r.get(5)?,
        sent_ms: r.get(6)?,
        visible_at: r.get(7)?,
        receive_count: r.get(8)?,
        first_receive_ms: r.get(9)?,
        dead_letter_source: r.get(10)?,
    })
}

/// Up to `limit` visible messages, the longest visible first.
pub(crate) fn visible(
    tx: &Transaction<'_>,
    queue_id: i64,
    now: i64,
    limit: usize,
) -> Result<Vec<Stored>, SqsError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue_id = ?1 AND visible_at <= ?2
         ORDER BY visible_at, seq LIMIT ?3"
    ))?;
    let rows = stmt.query_map(params![queue_id, now, limit as i64], stored)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Up to `limit` messages in the order they were stored, whatever their visibility.
pub(crate) fn oldest(
    tx: &Transaction<'_>,
    queue_id: i64,
    limit: usize,
) -> Result<Vec<Stored>, SqsError> {
    let mut stmt = tx.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue_id = ?1 ORDER BY seq LIMIT ?2"
    ))?;
    let rows = stmt.query_map(params![queue_id, limit as i64], stored)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Records a receive: hidden until `visible_at`, counted, and `receipt` the only handle that
/// may act on it now.
pub(crate) fn mark_received(
    tx: &Transaction<'_>,
    seq: i64,
    visible_at: i64,
    now: i64,
    receipt: &str,
) -> Result<(), SqsError> {
    tx.prepare_cached(
        "UPDATE messages SET visible_at = ?2, receive_count = receive_count + 1,
             first_receive_ms = COALESCE(first_receive_ms, ?3), last_receive_ms = ?3, receipt = ?4
         WHERE seq = ?1",
    )?
    .execute(params![seq, visible_at, now, receipt])?;
    Ok(())
}

/// Moves a message to a dead-letter queue: visible there at once, its receive count, id,
/// body, attributes and sent time kept (a standard queue's retention counts from the first
/// enqueue), and the source queue remembered for a redrive.
pub(crate) fn move_to_dead_letter(
    tx: &Transaction<'_>,
    seq: i64,
    dlq_id: i64,
    now: i64,
    source_arn: &str,
) -> Result<(), SqsError> {
    tx.prepare_cached(
        "UPDATE messages SET queue_id = ?2, visible_at = ?3, receipt = NULL, dead_letter_source = ?4
         WHERE seq = ?1",
    )?
    .execute(params![seq, dlq_id, now, source_arn])?;
    Ok(())
}

/// Moves a message out of a dead-letter queue (a redrive): it arrives as if new, with no
/// receives behind it.
pub(crate) fn redrive(
    tx: &Transaction<'_>,
    seq: i64,
    to_queue: i64,
    now: i64,
) -> Result<(), SqsError> {
    tx.prepare_cached(
        "UPDATE messages SET queue_id = ?2, visible_at = ?3, receipt = NULL, dead_letter_source = NULL,
             receive_count = 0, first_receive_ms = NULL, last_receive_ms = NULL
         WHERE seq = ?1",
    )?
    .execute(params![seq, to_queue, now])?;
    Ok(())
}

/// What a receipt handle is checked against.
pub(crate) struct Held {
    pub queue_id: i64,
    pub receipt: Option<String>,
    pub visible_at: i64,
    pub last_receive_ms: Option<i64>,
}

pub(crate) fn held(tx: &Transaction<'_>, seq: i64) -> Result<Option<Held>, SqsError> {
    Ok(tx
        .prepare_cached(
            "SELECT queue_id, receipt, visible_at, last_receive_ms FROM messages WHERE seq = ?1",
        )?
        .query_row([seq], |r| {
            Ok(Held {
                queue_id: r.get(0)?,
                receipt: r.get(1)?,
                visible_at: r.get(2)?,
                last_receive_ms: r.get(3)?,
            })
        })
        .optional()?)
}

pub(crate) fn delete_message(tx: &Transaction<'_>, seq: i64) -> Result<(), SqsError> {
    tx.prepare_cached("DELETE FROM messages WHERE seq = ?1")?
        .execute([seq])?;
    Ok(())
}

pub(crate) fn set_visible_at(tx: &Transaction<'_>, seq: i64, at: i64) -> Result<(), SqsError> {
    tx.prepare_cached("UPDATE messages SET visible_at = ?2 WHERE seq = ?1")?
        .execute(params![seq, at])?;
    Ok(())
}

pub(crate) fn purge(tx: &Transaction<'_>, queue_id: i64) -> Result<(), SqsError> {
    tx.prepare_cached("DELETE FROM messages WHERE queue_id = ?1")?
        .execute([queue_id])?;
    Ok(())
}

/// Messages visible, in flight (received, hidden) and delayed (never received, hidden).
pub(crate) fn counts(
    tx: &Transaction<'_>,
    queue_id: i64,
    now: i64,
) -> Result<(u64, u64, u64), SqsError> {
    let visible: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM messages WHERE queue_id = ?1 AND visible_at <= ?2")?
        .query_row(params![queue_id, now], |r| r.get(0))?;
    let (in_flight, delayed): (i64, i64) = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(receive_count > 0), 0), COALESCE(SUM(receive_count = 0), 0)
             FROM messages WHERE queue_id = ?1 AND visible_at > ?2",
        )?
        .query_row(params![queue_id, now], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok((visible as u64, in_flight as u64, delayed as u64))
}

pub(crate) fn any_visible(tx: &Transaction<'_>, queue_id: i64, now: i64) -> Result<bool, SqsError> {
    Ok(tx
        .prepare_cached("SELECT 1 FROM messages WHERE queue_id = ?1 AND visible_at <= ?2 LIMIT 1")?
        .query_row(params![queue_id, now], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The earliest time after `now` at which a hidden message becomes visible.
pub(crate) fn next_visible_at(
    tx: &Transaction<'_>,
    queue_id: i64,
    now: i64,
) -> Result<Option<i64>, SqsError> {
    Ok(tx
        .prepare_cached(
            "SELECT MIN(visible_at) FROM messages WHERE queue_id = ?1 AND visible_at > ?2",
        )?
        .query_row(params![queue_id, now], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements receive, send and delete run must use the indexes, so that they stay
    /// as fast with 100,000 messages as with ten.
    #[test]
    fn hot_statements_use_indexes() {
        let conn = open(None).unwrap();
        let plan = |sql: &str| -> String {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            rows.join(" | ")
        };
        let receive = plan(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages WHERE queue_id = 1 AND visible_at <= 5 ORDER BY visible_at, seq LIMIT 10"
        ));
        assert!(receive.contains("messages_by_visibility"), "{receive}");
        assert!(!receive.contains("TEMP B-TREE"), "{receive}");
        let expire = plan("DELETE FROM messages WHERE queue_id = 1 AND sent_ms <= 5");
        assert!(expire.contains("messages_by_age"), "{expire}");
        let next =
            plan("SELECT MIN(visible_at) FROM messages WHERE queue_id = 1 AND visible_at > 5");
        assert!(next.contains("messages_by_visibility"), "{next}");
        let by_seq = plan("SELECT queue_id FROM messages WHERE seq = 3");
        assert!(by_seq.contains("INTEGER PRIMARY KEY"), "{by_seq}");
    }
}
