//! Where function output goes: devstack's console (prefixed with the function name), one file
//! per function in the data folder, and a short in-memory history (for `X-Amz-Log-Type: Tail`
//! and tests).

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Lines kept in memory per function.
const HISTORY: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// A sequence number across all functions: lines after `n` are those with `seq > n`.
    pub seq: u64,
    pub function: String,
    pub text: String,
}

#[derive(Default)]
struct Inner {
    seq: u64,
    history: HashMap<String, VecDeque<LogLine>>,
    files: HashMap<String, std::fs::File>,
}

/// Cheap to clone; all clones share one history.
#[derive(Clone)]
pub struct LogSink {
    console: bool,
    dir: Option<PathBuf>,
    inner: Arc<Mutex<Inner>>,
}

impl LogSink {
    /// `console`: echo lines to stderr as `[function] line`. `dir`: append to
    /// `dir/<function>.log`.
    pub fn new(console: bool, dir: Option<PathBuf>) -> Self {
        if let Some(d) = &dir {
            // A missing folder only costs the files; the console and history still work.
            let _ = std::fs::create_dir_all(d);
        }
        Self {
            console,
            dir,
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    pub fn write(&self, function: &str, text: &str) {
        let mut inner = self.inner.lock().expect("log sink");
        inner.seq += 1;
        let line = LogLine {
            seq: inner.seq,
            function: function.to_owned(),
            text: text.to_owned(),
        };
        if self.console {
            // A closed stderr must not take the service down.
            let _ = writeln!(std::io::stderr(), "[{function}] {text}");
        }
        if let Some(dir) = &self.dir {
            let file = inner.files.entry(function.to_owned()).or_insert_with(|| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("{function}.log")))
                    .unwrap_or_else(|_| tempfile_fallback())
            });
            let _ = writeln!(file, "{text}");
        }
        if !inner.history.contains_key(function) {
            inner.history.insert(function.to_owned(), VecDeque::new());
        }
        let history = inner.history.get_mut(function).expect("inserted above");
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(line);
    }

    /// The sequence number of the latest line (0 before any).
    pub fn position(&self) -> u64 {
        self.inner.lock().expect("log sink").seq
    }

    /// `function`'s lines after position `after`.
    pub fn since(&self, function: &str, after: u64) -> Vec<LogLine> {
        let inner = self.inner.lock().expect("log sink");
        let Some(h) = inner.history.get(function) else {
            return Vec::new();
        };
        // Lines are in sequence order: the wanted ones are a suffix, found from the back
        // without walking the whole history on every invocation.
        let from = h.len() - h.iter().rev().take_while(|l| l.seq > after).count();
        h.range(from..).cloned().collect()
    }
}

/// A sink for a log file that cannot be opened: /dev/null, so logging never fails the caller.
fn tempfile_fallback() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .expect("/dev/null opens")
}
