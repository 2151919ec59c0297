//! devstack's seeded fault injection and its append-only delivery journal.
//!
//! Users reproduce at-least-once and duplicate-delivery bugs deterministically: deliver every
//! message twice, lose the delete after a successful batch (the real-world cause of most
//! duplicates), fail chosen PutEvents entries, answer chosen DynamoDB operations with
//! `TransactionConflict` / `ProvisionedThroughputExceeded` / `InternalServerError` /
//! `ThrottlingException`, crash or time out a chosen invocation, reorder within a batch and
//! delay across batches, make a chosen WebSocket connection gone (dropped without a close
//! frame or `$disconnect`, so that the product's next push to it answers 410). One seed drives it all: the same seed and the same sequence of
//! questions give the same answers (and, on devstack's virtual clock, byte-identical
//! journals); another seed gives another run.
//!
//! This crate knows nothing of the services. The embedder asks [`Chaos`] at its decision
//! points ([`Chaos::on_receive`], [`Chaos::on_batch`], [`Chaos::on_batch_done`],
//! [`Chaos::on_put_events_entry`], [`Chaos::on_dynamodb`], [`Chaos::on_invoke`],
//! [`Chaos::on_post_to_connection`]) and does what it is told; it writes what happened to a
//! [`Journal`].
//!
//! - [`rules`]: the rule model, its compact grammar, files, validation.
//! - [`engine`]: the decisions and their determinism.
//! - [`journal`]: the JSONL journal, reading it back, filters and rendering.
//! - [`admin`]: the runtime admin API's logic (list, add, remove, reset), without HTTP.
//!
//! # Rules on the command line
//!
//! One `--chaos` flag per rule; a rule is space-separated `key=value` tokens, in any order:
//!
//! ```text
//! TARGET [op=OPERATION | connection=ID] FAULT [PARAMS] [WHEN] [max=N] [id=ID]
//!
//! TARGET  queue=P | bus=P | table=P [op=OPERATION] | function=P
//!         | websocket=P [connection=ID]
//!         P is a name, an ARN, or a glob (`*` matches any run of characters); a WebSocket
//!         API's P is its logical id or API id, ID a connection id or a glob
//! FAULT   duplicate[=WHEN]    queue     deliver the message twice
//!         lose-delete[=WHEN]  queue     lose the delete after a successful batch
//!         reorder[=WHEN]      queue     shuffle the messages within a batch
//!         delay=MS            queue     hold the message back (500, 500ms, 2s)
//!         fail-entry[=WHEN]   bus       fail the PutEvents entry [code=CODE] [message=TEXT]
//!         error=CODE          table     TransactionConflict [item=N] | ProvisionedThroughputExceeded
//!                                       | InternalServerError | ThrottlingException
//!         crash[=WHEN]        function  crash the invocation
//!         timeout[=WHEN]      function  time the invocation out
//!         gone[=WHEN]         websocket the connection a @connections POST is for is gone:
//!                                       dropped without a close frame or $disconnect, 410
//! WHEN    every | nth:N | times:N | 0.3 | 30% | message:ID       as the fault's value, or
//!         nth=N | times=N | p=0.3 | message-id=ID | when=WHEN    as a token of its own
//! ```
//!
//! A rule has exactly one target, one fault and at most one WHEN (default `every`). `nth:N`
//! fires on the Nth, 2Nth, ... matching occurrence; `times:N` on the first N; a probability on
//! each occurrence independently; `message:ID` on occurrences that carry that message (queues
//! and functions only). `max=N` caps the firings per resource, so `crash=message:m-1 max=1`
//! crashes the first invocation carrying `m-1` and lets the retry succeed. For WebSocket rules
//! the resource is the connection: `gone=nth:3` makes each connection gone at its 3rd POST. Keys are
//! case-insensitive; a value with spaces is quoted (`'...'`, or `"..."` with `\"` escapes).
//! An error names the token at fault: ``bad value in `duplicate=3`: probability 3 is outside
//! 0..=1 (for every Nth occurrence write nth:N, ...)``. [`Rules::help`] has the same text for
//! `--help`. `Display` prints a rule in this form, and it parses back to an equal rule.
//!
//! ```
//! let rule: chaos::Rule = "table=* op=TransactWriteItems error=TransactionConflict nth=3"
//!     .parse()
//!     .unwrap();
//! assert_eq!(
//!     rule.to_string(),
//!     "table=* op=TransactWriteItems error=TransactionConflict nth=3"
//! );
//! ```
//!
//! Files (YAML, or JSON by extension) and the admin API use the structured form, described at
//! [`Rules`] and [`admin`]; a file may also list compact strings.
//!
//! # Determinism
//!
//! Randomness comes only from PRNGs seeded per (seed, rule ordinal, resource), and `nth` /
//! `times` / `max` count per rule and resource, so unrelated questions (the order in which two
//! queues are polled) do not shift each other's streams; see [`engine`]. The journal stamps
//! nothing but a sequence number: times are the caller's (devstack's clock) and ids the
//! services' (deterministic in seeded mode).
//!
//! # Cost when off
//!
//! [`Chaos::disabled`] (or a `Chaos` without rules for a question) answers after one relaxed
//! atomic load; [`Journal::disabled`] records after one branch.

pub mod admin;
pub mod engine;
pub mod journal;
pub mod rules;

pub use admin::AdminResponse;
pub use engine::{Chaos, DeliveryPlan, DynamoFault, InvokeFault};
pub use journal::{
    Delivered, Entry, Filter, Journal, JournalError, Kind, Outcome, Record, render_line,
};
pub use rules::{
    DynamoErrorCode, Fault, LoadError, Rule, RuleError, Rules, Target, TargetKind, When,
};
