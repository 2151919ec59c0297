//! Executions, their history and API-made state machines in SQLite: `{data}/states.sqlite`
//! (WAL, `synchronous=NORMAL`), or in memory.
//!
//! SQLite rather than JSON files: a history only grows, one event at a time, and each step of
//! an execution (its events plus where it now stands) must be written together or not at all,
//! which is one transaction here and would be a rewrite of a whole file there; ListExecutions'
//! filters and pages are queries. The SQLite is the one the workspace already links
//! (`rusqlite` 0.36, bundled), as SQS uses it.

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};
use std::path::Path;

pub(crate) const FILE: &str = "states.sqlite";

pub(crate) struct Store {
    conn: Connection,
}

/// An execution as stored.
#[derive(Debug, Clone)]
pub(crate) struct ExecRow {
    pub seq: i64,
    pub arn: String,
    pub machine_arn: String,
    pub machine_name: String,
    pub name: String,
    pub status: String,
    pub input: String,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub start_ms: i64,
    pub stop_ms: Option<i64>,
    /// The definition the execution runs (the machine's at its start).
    pub definition: String,
    pub role_arn: String,
    /// Where a running execution stands (JSON), to resume it after a restart.
    pub cursor: Option<String>,
}

/// A state machine made through the API.
#[derive(Debug, Clone)]
pub(crate) struct MachineRow {
    pub arn: String,
    pub name: String,
    pub kind: String,
    pub definition: String,
    pub role_arn: String,
    pub created_ms: i64,
}

/// One history event to append: its type and its details member.
#[derive(Debug, Clone)]
pub(crate) struct Ev {
    pub ty: String,
    pub details: Option<(&'static str, Value)>,
}

impl Ev {
    pub fn new(ty: impl Into<String>, key: &'static str, details: Value) -> Self {
        Self {
            ty: ty.into(),
            details: Some((key, details)),
        }
    }

    pub fn bare(ty: impl Into<String>) -> Self {
        Self {
            ty: ty.into(),
            details: None,
        }
    }
}

/// How an execution ends.
#[derive(Debug, Clone)]
pub(crate) struct Finish {
    pub status: &'static str,
    pub output: Option<String>,
    pub error: Option<String>,
    pub cause: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    #[error("the execution is not running")]
    NotRunning,
    #[error(transparent)]
    Db(#[from] rusqlite::Error),
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS machines (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    arn TEXT NOT NULL UNIQUE,
    machine_arn TEXT NOT NULL,
    machine_name TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    error TEXT,
    cause TEXT,
    start_ms INTEGER NOT NULL,
    stop_ms INTEGER,
    definition TEXT NOT NULL,
    role_arn TEXT NOT NULL,
    cursor TEXT
);
CREATE INDEX IF NOT EXISTS executions_by_machine ON executions (machine_arn, seq);
CREATE TABLE IF NOT EXISTS events (
    execution_arn TEXT NOT NULL,
    id INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (execution_arn, id)
) WITHOUT ROWID;
";

const EXEC_COLUMNS: &str = "seq, arn, machine_arn, machine_name, name, status, input, output, \
     error, cause, start_ms, stop_ms, definition, role_arn, cursor";

fn exec_row(r: &rusqlite::Row) -> rusqlite::Result<ExecRow> {
    Ok(ExecRow {
        seq: r.get(0)?,
        arn: r.get(1)?,
        machine_arn: r.get(2)?,
        machine_name: r.get(3)?,
        name: r.get(4)?,
        status: r.get(5)?,
        input: r.get(6)?,
        output: r.get(7)?,
        error: r.get(8)?,
        cause: r.get(9)?,
        start_ms: r.get(10)?,
        stop_ms: r.get(11)?,
        definition: r.get(12)?,
        role_arn: r.get(13)?,
        cursor: r.get(14)?,
    })
}

impl Store {
    pub fn open(dir: Option<&Path>) -> rusqlite::Result<Store> {
        let conn = match dir {
            Some(d) => {
                let _ = std::fs::create_dir_all(d);
                let conn = Connection::open(d.join(FILE))?;
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Store { conn })
    }

    pub fn save_machine(&self, m: &MachineRow) -> rusqlite::Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO machines (arn, name, kind, definition, role_arn, created_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                m.arn,
                m.name,
                m.kind,
                m.definition,
                m.role_arn,
                m.created_ms
            ],
        )?;
        Ok(())
    }

    pub fn machines(&self) -> rusqlite::Result<Vec<MachineRow>> {
        let mut st = self.conn.prepare(
            "SELECT arn, name, kind, definition, role_arn, created_ms FROM machines ORDER BY name",
        )?;
        st.query_map([], |r| {
            Ok(MachineRow {
                arn: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                definition: r.get(3)?,
                role_arn: r.get(4)?,
                created_ms: r.get(5)?,
            })
        })?
        .collect()
    }

    /// A new execution with its first event and its starting position, in one transaction.
    pub fn insert_execution(
        &mut self,
        row: &ExecRow,
        first: &Ev,
        now_ms: i64,
    ) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO executions (arn, machine_arn, machine_name, name, status, input, \
             start_ms, definition, role_arn, cursor) VALUES (?1, ?2, ?3, ?4, 'RUNNING', ?5, ?6, ?7, ?8, ?9)",
            params![
                row.arn,
                row.machine_arn,
                row.machine_name,
                row.name,
                row.input,
                row.start_ms,
                row.definition,
                row.role_arn,
                row.cursor
            ],
        )?;
        insert_event(&tx, &row.arn, 1, now_ms, first)?;
        tx.commit()
    }

    /// Appends `events` to a running execution's history and moves it on: a new `cursor`
    /// (when Some), or to its end (`finish`). Refused, with nothing written, when the
    /// execution is no longer running (stopped meanwhile). Returns the new events' ids.
    pub fn append(
        &mut self,
        arn: &str,
        now_ms: i64,
        events: &[Ev],
        cursor: Option<&str>,
        finish: Option<&Finish>,
    ) -> Result<Vec<i64>, AppendError> {
        let tx = self.conn.transaction()?;
        let status: Option<String> = tx
            .query_row("SELECT status FROM executions WHERE arn = ?1", [arn], |r| {
                r.get(0)
            })
            .optional()?;
        if status.as_deref() != Some("RUNNING") {
            return Err(AppendError::NotRunning);
        }
        let last: i64 = tx.query_row(
            "SELECT COALESCE(MAX(id), 0) FROM events WHERE execution_arn = ?1",
            [arn],
            |r| r.get(0),
        )?;
        let mut ids = Vec::with_capacity(events.len());
        for (i, ev) in events.iter().enumerate() {
            let id = last + 1 + i as i64;
            insert_event(&tx, arn, id, now_ms, ev)?;
            ids.push(id);
        }
        if let Some(f) = finish {
            tx.execute(
                "UPDATE executions SET status = ?2, output = ?3, error = ?4, cause = ?5, \
                 stop_ms = ?6, cursor = NULL WHERE arn = ?1",
                params![arn, f.status, f.output, f.error, f.cause, now_ms],
            )?;
        } else if let Some(c) = cursor {
            tx.execute(
                "UPDATE executions SET cursor = ?2 WHERE arn = ?1",
                params![arn, c],
            )?;
        }
        tx.commit()?;
        Ok(ids)
    }

    pub fn execution(&self, arn: &str) -> rusqlite::Result<Option<ExecRow>> {
        self.conn
            .query_row(
                &format!("SELECT {EXEC_COLUMNS} FROM executions WHERE arn = ?1"),
                [arn],
                exec_row,
            )
            .optional()
    }

    /// Newest first; `before_seq` continues a page.
    pub fn executions(
        &self,
        machine_arn: Option<&str>,
        status: Option<&str>,
        before_seq: Option<i64>,
        limit: usize,
    ) -> rusqlite::Result<Vec<ExecRow>> {
        let mut st = self.conn.prepare(&format!(
            "SELECT {EXEC_COLUMNS} FROM executions WHERE (?1 IS NULL OR machine_arn = ?1) \
             AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR seq < ?3) \
             ORDER BY seq DESC LIMIT ?4"
        ))?;
        st.query_map(
            params![machine_arn, status, before_seq, limit as i64],
            exec_row,
        )?
        .collect()
    }

    pub fn running(&self) -> rusqlite::Result<Vec<ExecRow>> {
        self.executions(None, Some("RUNNING"), None, usize::MAX >> 1)
    }

    pub fn history(&self, arn: &str) -> rusqlite::Result<Vec<Value>> {
        let mut st = self
            .conn
            .prepare("SELECT body FROM events WHERE execution_arn = ?1 ORDER BY id")?;
        let rows: Vec<String> = st
            .query_map([arn], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|b| serde_json::from_str(&b).ok())
            .collect())
    }
}

fn insert_event(
    tx: &rusqlite::Transaction,
    arn: &str,
    id: i64,
    now_ms: i64,
    ev: &Ev,
) -> rusqlite::Result<()> {
    let mut body = json!({
        "timestamp": crate::time::epoch_seconds(now_ms),
        "type": ev.ty,
        "id": id,
        "previousEventId": id - 1,
    });
    if let Some((key, details)) = &ev.details {
        body[*key] = details.clone();
    }
    tx.execute(
        "INSERT INTO events (execution_arn, id, body) VALUES (?1, ?2, ?3)",
        params![arn, id, body.to_string()],
    )?;
    Ok(())
}
