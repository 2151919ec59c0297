//! SQS's failures, and how each goes on the wire.
//!
//! SQS speaks awsJson 1.0 in "query compatible" mode: the body's `__type` names the error's
//! Smithy shape (`com.amazonaws.sqs#QueueDoesNotExist`), and the header
//! `x-amzn-query-error: AWS.SimpleQueueService.NonExistentQueue;Sender` carries the code the
//! old query protocol used. The SDKs match on the header's code when it is there (aws-sdk-sqs
//! maps `AWS.SimpleQueueService.NonExistentQueue`, not `QueueDoesNotExist`, to its
//! `QueueDoesNotExist` variant, and the JavaScript SDK fails to parse an error without it), so
//! an edge serving SQS must send the header that [`query_error`] derives from an answer.

use awsjson::Answer;
use serde_json::json;
use std::path::PathBuf;

/// Why an SQS call failed. Each variant up to `Serialization` is an error AWS itself answers
/// with, its `Display` the message AWS gives; the rest are devstack's own failures.
#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("The specified queue does not exist.")]
    QueueDoesNotExist,
    #[error("A queue already exists with the same name and a different value for attribute {0}")]
    QueueNameExists(String),
    #[error("{0}")]
    InvalidAttributeName(String),
    #[error("{0}")]
    InvalidAttributeValue(String),
    #[error("{0}")]
    InvalidParameterValue(String),
    #[error("The request must contain the parameter {0}.")]
    MissingParameter(String),
    #[error("{0}")]
    InvalidMessageContents(String),
    #[error("The input receipt handle \"{0}\" is not a valid receipt handle.")]
    ReceiptHandleIsInvalid(String),
    #[error("There should be at least one {0} in the request.")]
    EmptyBatchRequest(&'static str),
    #[error("Maximum number of entries per request are 10. You have sent {0}.")]
    TooManyEntriesInBatchRequest(usize),
    #[error("Id {0} repeated.")]
    BatchEntryIdsNotDistinct(String),
    #[error(
        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long."
    )]
    InvalidBatchEntryId,
    #[error("Batch requests cannot be longer than {limit} bytes. You have sent {sent} bytes.")]
    BatchRequestTooLong { limit: usize, sent: usize },
    #[error("Only one PurgeQueue operation on {0} is allowed every 60 seconds.")]
    PurgeQueueInProgress(String),
    #[error("{0}")]
    UnsupportedOperation(String),
    #[error("{0}")]
    ResourceNotFound(String),
    #[error("devstack's SQS does not implement {0}")]
    UnknownOperation(String),
    #[error("{0}")]
    Serialization(String),
    #[error("SQS storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A template queue devstack cannot emulate.
    #[error("{0}")]
    Template(String),
    #[error(
        "the SQS data was written by a newer devstack (schema {0}); use that version or remove the data"
    )]
    NewerData(i64),
}

/// How an error is written: status, `__type`, and the query-compatible code (with its fault
/// side) for `x-amzn-query-error`.
struct Wire {
    status: u16,
    shape: &'static str,
    query: Option<&'static str>,
}

const fn sender(shape: &'static str, query: &'static str) -> Wire {
    Wire {
        status: 400,
        shape,
        query: Some(query),
    }
}

const NON_EXISTENT_QUEUE: Wire = sender(
    "com.amazonaws.sqs#QueueDoesNotExist",
    "AWS.SimpleQueueService.NonExistentQueue;Sender",
);
const QUEUE_NAME_EXISTS: Wire = sender(
    "com.amazonaws.sqs#QueueNameExists",
    "QueueAlreadyExists;Sender",
);
const INVALID_ATTRIBUTE_NAME: Wire = sender(
    "com.amazonaws.sqs#InvalidAttributeName",
    "InvalidAttributeName;Sender",
);
const INVALID_ATTRIBUTE_VALUE: Wire = sender(
    "com.amazonaws.sqs#InvalidAttributeValue",
    "InvalidAttributeValue;Sender",
);
const INVALID_PARAMETER_VALUE: Wire = sender(
    "com.amazonaws.sqs#InvalidParameterValue",
    "InvalidParameterValue;Sender",
);
const MISSING_PARAMETER: Wire = sender(
    "com.amazonaws.sqs#MissingParameter",
    "MissingParameter;Sender",
);
const INVALID_MESSAGE_CONTENTS: Wire = sender(
    "com.amazonaws.sqs#InvalidMessageContents",
    "InvalidMessageContents;Sender",
);
const RECEIPT_HANDLE_IS_INVALID: Wire = sender(
    "com.amazonaws.sqs#ReceiptHandleIsInvalid",
    "ReceiptHandleIsInvalid;Sender",
);
const EMPTY_BATCH_REQUEST: Wire = sender(
    "com.amazonaws.sqs#EmptyBatchRequest",
    "AWS.SimpleQueueService.EmptyBatchRequest;Sender",
);
const TOO_MANY_ENTRIES: Wire = sender(
    "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
    "AWS.SimpleQueueService.TooManyEntriesInBatchRequest;Sender",
);
const BATCH_IDS_NOT_DISTINCT: Wire = sender(
    "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
    "AWS.SimpleQueueService.BatchEntryIdsNotDistinct;Sender",
);
const INVALID_BATCH_ENTRY_ID: Wire = sender(
    "com.amazonaws.sqs#InvalidBatchEntryId",
    "AWS.SimpleQueueService.InvalidBatchEntryId;Sender",
);
const BATCH_REQUEST_TOO_LONG: Wire = sender(
    "com.amazonaws.sqs#BatchRequestTooLong",
    "AWS.SimpleQueueService.BatchRequestTooLong;Sender",
);
const PURGE_QUEUE_IN_PROGRESS: Wire = sender(
    "com.amazonaws.sqs#PurgeQueueInProgress",
    "AWS.SimpleQueueService.PurgeQueueInProgress;Sender",
);
const UNSUPPORTED_OPERATION: Wire = sender(
    "com.amazonaws.sqs#UnsupportedOperation",
    "AWS.SimpleQueueService.UnsupportedOperation;Sender",
);
const RESOURCE_NOT_FOUND: Wire = sender(
    "com.amazonaws.sqs#ResourceNotFoundException",
    "ResourceNotFoundException;Sender",
);
const INTERNAL_ERROR: Wire = Wire {
    status: 500,
    shape: "com.amazonaws.sqs#InternalError",
    query: Some("InternalError;Receiver"),
};
// Protocol-level failures come from the service framework, before SQS's own code, and carry
// no query code.
const UNKNOWN_OPERATION: Wire = Wire {
    status: 400,
    shape: "com.amazon.coral.service#UnknownOperationException",
    query: None,
};
const SERIALIZATION: Wire = Wire {
    status: 400,
    shape: "com.amazon.coral.service#SerializationException",
    query: None,
};

/// Every wire form, for [`query_error`] to find a `__type`'s query code.
const WIRES: &[&Wire] = &[
    &NON_EXISTENT_QUEUE,
    &QUEUE_NAME_EXISTS,
    &INVALID_ATTRIBUTE_NAME,
    &INVALID_ATTRIBUTE_VALUE,
    &INVALID_PARAMETER_VALUE,
    &MISSING_PARAMETER,
    &INVALID_MESSAGE_CONTENTS,
    &RECEIPT_HANDLE_IS_INVALID,
    &EMPTY_BATCH_REQUEST,
    &TOO_MANY_ENTRIES,
    &BATCH_IDS_NOT_DISTINCT,
    &INVALID_BATCH_ENTRY_ID,
    &BATCH_REQUEST_TOO_LONG,
    &PURGE_QUEUE_IN_PROGRESS,
    &UNSUPPORTED_OPERATION,
    &RESOURCE_NOT_FOUND,
    &INTERNAL_ERROR,
    &UNKNOWN_OPERATION,
    &SERIALIZATION,
];

impl SqsError {
    fn wire(&self) -> &'static Wire {
        match self {
            Self::QueueDoesNotExist => &NON_EXISTENT_QUEUE,
            Self::QueueNameExists(_) => &QUEUE_NAME_EXISTS,
            Self::InvalidAttributeName(_) => &INVALID_ATTRIBUTE_NAME,
            Self::InvalidAttributeValue(_) => &INVALID_ATTRIBUTE_VALUE,
            Self::InvalidParameterValue(_) => &INVALID_PARAMETER_VALUE,
            Self::MissingParameter(_) => &MISSING_PARAMETER,
            Self::InvalidMessageContents(_) => &INVALID_MESSAGE_CONTENTS,
            Self::ReceiptHandleIsInvalid(_) => &RECEIPT_HANDLE_IS_INVALID,
            Self::EmptyBatchRequest(_) => &EMPTY_BATCH_REQUEST,
            Self::TooManyEntriesInBatchRequest(_) => &TOO_MANY_ENTRIES,
            Self::BatchEntryIdsNotDistinct(_) => &BATCH_IDS_NOT_DISTINCT,
            Self::InvalidBatchEntryId => &INVALID_BATCH_ENTRY_ID,
            Self::BatchRequestTooLong { .. } => &BATCH_REQUEST_TOO_LONG,
            Self::PurgeQueueInProgress(_) => &PURGE_QUEUE_IN_PROGRESS,
            Self::UnsupportedOperation(_) | Self::Template(_) => &UNSUPPORTED_OPERATION,
            Self::ResourceNotFound(_) => &RESOURCE_NOT_FOUND,
            Self::Storage(_) | Self::Io { .. } | Self::NewerData(_) => &INTERNAL_ERROR,
            Self::UnknownOperation(_) => &UNKNOWN_OPERATION,
            Self::Serialization(_) => &SERIALIZATION,
        }
    }

    /// The code a batch result entry (`Failed[].Code`) carries for this error: the query code.
    pub fn batch_code(&self) -> &'static str {
        let w = self.wire();
        w.query.and_then(|q| q.split(';').next()).unwrap_or(w.shape)
    }

    /// Whether the caller is at fault (`SenderFault` of a batch result entry).
    pub fn sender_fault(&self) -> bool {
        self.wire().status < 500
    }

    /// The error as an awsJson answer (`__type` and `message`).
    pub fn answer(&self) -> Answer {
        let w = self.wire();
        Answer {
            status: w.status,
            body: json!({"__type": w.shape, "message": self.to_string()}),
        }
    }
}

/// The value of the `x-amzn-query-error` header that must accompany an SQS error answer
/// (`AWS.SimpleQueueService.NonExistentQueue;Sender`), or `None` for a success or a
/// protocol-level error.
pub fn query_error(answer: &Answer) -> Option<&'static str> {
    let shape = answer.error_code()?;
    WIRES.iter().find(|w| w.shape == shape)?.query
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_names_its_shape_and_query_code() {
        let a = SqsError::QueueDoesNotExist.answer();
        assert_eq!(a.status, 400);
        assert_eq!(
            a.body,
            json!({"__type": "com.amazonaws.sqs#QueueDoesNotExist", "message": "The specified queue does not exist."})
        );
        assert_eq!(
            query_error(&a),
            Some("AWS.SimpleQueueService.NonExistentQueue;Sender")
        );
        assert_eq!(
            query_error(&SqsError::QueueNameExists("x".into()).answer()),
            Some("QueueAlreadyExists;Sender")
        );
        assert_eq!(
            SqsError::ReceiptHandleIsInvalid("x".into()).batch_code(),
            "ReceiptHandleIsInvalid"
        );
        assert_eq!(
            SqsError::InvalidBatchEntryId.batch_code(),
            "AWS.SimpleQueueService.InvalidBatchEntryId"
        );
        assert_eq!(query_error(&Answer::ok(json!({}))), None);
        assert_eq!(
            query_error(&SqsError::UnknownOperation("X".into()).answer()),
            None
        );
        let internal = SqsError::Storage(rusqlite::Error::InvalidQuery).answer();
        assert_eq!(internal.status, 500);
        assert_eq!(query_error(&internal), Some("InternalError;Receiver"));
    }
}
