//! Queues as the template loader makes them, and an SQS over them on a clock the test moves.

#![allow(dead_code)]

use clock::ManualClock;
use sqs::Sqs;
use std::path::Path;
use std::sync::Arc;
use template::model::{Queue, Redrive};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";
pub const EDGE: &str = "http://127.0.0.1:4566";
/// 2024-01-01T00:00:00Z.
pub const T0: i64 = 1_704_067_200_000;

pub fn arn(name: &str) -> String {
    format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}")
}

pub fn url(name: &str) -> String {
    format!("{EDGE}/{ACCOUNT}/{name}")
}

pub fn queue(name: &str) -> Queue {
    Queue {
        logical_id: name.replace('-', ""),
        name: name.into(),
        url: url(name),
        arn: arn(name),
        fifo: false,
        visibility_timeout: 30,
        retention_period: 345_600,
        delay_seconds: 0,
        receive_wait_seconds: 0,
        max_message_size: 262_144,
        redrive: None,
    }
}

/// A source queue whose messages go to `dlq` after `max_receive_count` receives.
pub fn with_dlq(name: &str, dlq: &str, max_receive_count: u32) -> Queue {
    Queue {
        redrive: Some(Redrive {
            dead_letter_arn: arn(dlq),
            max_receive_count,
        }),
        ..queue(name)
    }
}

pub fn open(dir: Option<&Path>, queues: &[Queue], clock: &Arc<ManualClock>) -> Sqs {
    Sqs::open(dir, queues, REGION, ACCOUNT, EDGE, clock.clone()).expect("open sqs")
}

pub fn manual() -> Arc<ManualClock> {
    ManualClock::starting_at(T0)
}
