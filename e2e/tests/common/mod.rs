//! What the scenario files share.

/// Snapshots a transcript that holds pushed count frames. A frame's `today` is the day of the
/// message's SentTimestamp: on a backend whose queues keep real time (moto, external) that is
/// the machine's date, not the virtual clock's, so those backends keep their own snapshot
/// (the exception is listed in e2e/README.md).
macro_rules! assert_transcript_with_frames {
    ($stack:expr) => {{
        let mut settings = insta::Settings::clone_current();
        if $stack.backend().real_time_queues() {
            settings.set_snapshot_suffix("real-time-queues");
        }
        settings.bind(|| insta::assert_json_snapshot!($stack.transcript()));
    }};
}

pub(crate) use assert_transcript_with_frames;
