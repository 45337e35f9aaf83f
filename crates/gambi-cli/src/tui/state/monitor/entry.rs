//! The entries of a room's log: request attempts (updated in place when they end),
//! participants' presence changes and notices about the stream.

use gambi_protocol as proto;
use proto::Millis;

/// How a request attempt ended, or that it has not.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Still running.
    Running,
    /// Completed, with its metrics.
    Done(proto::LlmMetrics),
    /// Failed at `stage`.
    Failed {
        /// Where: routing, dispatch, stream or cancelled.
        stage: String,
        /// What failed.
        error: String,
        /// Timings up to the failure.
        metrics: Option<proto::LlmMetrics>,
    },
}

/// One request attempt in the log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestRow {
    /// The request id.
    pub(crate) request_id: String,
    /// 1, or 2 for a failover retry.
    pub(crate) attempt: u32,
    /// The participant serving it, when one was chosen.
    pub(crate) participant_id: Option<String>,
    /// The model: as requested, then the participant's.
    pub(crate) model: String,
    /// Whether it is translated between the two APIs.
    pub(crate) adapted: bool,
    /// Time it waited for a free slot.
    pub(crate) queue_ms: Option<u64>,
    /// How it ended.
    pub(crate) outcome: Outcome,
}

/// Something that happened to a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// It registered.
    Joined,
    /// It was removed.
    Left,
    /// It missed its heartbeats or lost its tunnel.
    Offline,
    /// It is reachable again.
    Back,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entry {
    /// A request attempt, updated in place when it ends.
    Request(Box<RequestRow>),
    /// A participant joined, left, went offline or came back.
    Participant {
        /// The participant id.
        id: String,
        /// What happened.
        what: Presence,
    },
    /// Something about the stream itself (missed events).
    Notice(String),
}

/// A timestamped log entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogEntry {
    /// When the hub emitted the event (the start, for requests).
    pub(crate) at: Millis,
    /// What happened.
    pub(crate) entry: Entry,
}
