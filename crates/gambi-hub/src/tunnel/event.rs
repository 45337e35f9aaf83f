//! What a request sent down a tunnel gets back, and how long it may wait for it.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

/// One event of a response coming back through the tunnel.
#[derive(Debug, Clone, PartialEq)]
pub enum TunnelEvent {
    /// The provider answered with this status and headers.
    Start {
        /// HTTP status.
        status: u16,
        /// Provider response headers.
        headers: BTreeMap<String, String>,
        /// What the runtime measured, with the `timing` extension granted.
        timing: Option<gambi_protocol::ResponseTiming>,
    },
    /// A piece of the body.
    Chunk(Bytes),
    /// The body is complete.
    End,
    /// The request failed; nothing follows.
    Error(TunnelFailure),
}

/// Why a request ended without a complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelFailure {
    /// The participant reported a failure (`tunnel.response.error`).
    Participant {
        /// Where it failed, as the participant says.
        stage: String,
        /// What failed.
        message: String,
    },
    /// The tunnel closed.
    Disconnected,
    /// A newer tunnel of the same participant replaced this one.
    Superseded,
    /// The participant was removed from its room.
    Removed,
    /// The hub is shutting down.
    Shutdown,
    /// The caller took nothing of what it was sent for the slow-client grace.
    SlowClient,
    /// The participant did not start answering in time.
    NoStart(Duration),
    /// The participant sent nothing more for this long in the middle of a response.
    Idle(Duration),
    /// The tunnel already carries as many requests as it allows.
    TooManyPending,
}

impl std::fmt::Display for TunnelFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Participant { stage, message } => {
                write!(f, "Participant failed ({stage}): {message}")
            }
            Self::Disconnected => f.write_str("Participant tunnel disconnected."),
            Self::Superseded => f.write_str("Participant tunnel superseded by a newer session."),
            Self::Removed => f.write_str("Participant was removed from the room."),
            Self::Shutdown => f.write_str("Hub shutting down."),
            Self::SlowClient => {
                f.write_str("The client stopped reading the response; it was cut off.")
            }
            Self::NoStart(after) => write!(
                f,
                "The participant did not start answering within {} s.",
                after.as_secs()
            ),
            Self::Idle(after) => {
                write!(f, "The participant sent nothing for {} s.", after.as_secs())
            }
            Self::TooManyPending => {
                f.write_str("Participant tunnel has too many requests in flight.")
            }
        }
    }
}

impl std::error::Error for TunnelFailure {}

/// Why a request could not be sent down the tunnel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    /// The tunnel is closed.
    #[error("Participant tunnel is not connected.")]
    Closed,
    /// The request is larger than a participant runtime accepts in one message.
    #[error(
        "The request is {size} bytes once framed for the tunnel; participants accept at most {limit}."
    )]
    TooLarge {
        /// Its size, framed.
        size: usize,
        /// The most a tunnel message may hold.
        limit: usize,
    },
}

/// How long a request may wait for its participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From dispatch to the response's start.
    pub start: Duration,
    /// Longest silence in the middle of the response.
    pub idle: Duration,
}
