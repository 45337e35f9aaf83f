//! What a running session reports: lifecycle [`SessionEvent`]s, sent without ever
//! waiting for the reader, and how the session ended ([`CloseOutcome`]).
//!
//! The session and the tunnel loop both emit events; this module depends on neither.

use std::time::Duration;

use gambi_protocol as proto;
use tokio::sync::mpsc;

/// Lifecycle events buffered for a reader; when the buffer is full, newer events are
/// dropped rather than slowing the session down.
pub(crate) const EVENT_CAPACITY: usize = 64;

/// The hub's answer to a registration, without the secrets (tunnel token, session token).
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The participant as the hub stored it.
    pub participant: proto::ParticipantSummary,
    /// The room's internal id.
    pub room_id: String,
    /// The tunnel URL, without its token.
    pub tunnel_url: String,
    /// The tunnel extensions the hub granted (none from a hub that speaks only the
    /// original protocol).
    pub extensions: proto::TunnelExtensions,
}

impl Registration {
    /// The public part of the hub's answer.
    pub(crate) fn from_answer(registered: &proto::UpsertParticipantResponse) -> Self {
        Self {
            participant: registered.participant.clone(),
            room_id: registered.room_id.clone(),
            tunnel_url: registered.tunnel.url.clone(),
            extensions: registered.tunnel.extensions.unwrap_or_default(),
        }
    }
}

/// Something that happened to a running session, for display.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Registered with the hub (at start and after every re-registration).
    Registered(Box<Registration>),
    /// The tunnel is open; requests can flow.
    TunnelConnected,
    /// The tunnel closed or failed; the session will reconnect unless told not to.
    TunnelLost {
        /// What happened.
        message: String,
    },
    /// The hub no longer has this registration (a heartbeat was refused); the session
    /// registers again.
    Unregistered {
        /// What the hub said.
        message: String,
    },
    /// The next reconnection attempt starts after `delay`.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Wait before the attempt.
        delay: Duration,
        /// Why the last connection or attempt failed.
        reason: String,
    },
    /// A heartbeat failed for a reason that may pass (network, hub error); the next one
    /// is sent on schedule.
    HeartbeatFailed {
        /// What failed.
        message: String,
    },
    /// The session is ending and removing itself from the room.
    Leaving,
    /// The session has ended.
    Left,
}

impl SessionEvent {
    /// Stable snake_case name of the event, e.g. `tunnel_connected`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Registered(_) => "registered",
            Self::TunnelConnected => "tunnel_connected",
            Self::TunnelLost { .. } => "tunnel_lost",
            Self::Unregistered { .. } => "unregistered",
            Self::Reconnecting { .. } => "reconnecting",
            Self::HeartbeatFailed { .. } => "heartbeat_failed",
            Self::Leaving => "leaving",
            Self::Left => "left",
        }
    }
}

/// Sends lifecycle events without ever waiting for the reader.
#[derive(Debug, Clone)]
pub(crate) struct EventSender(mpsc::Sender<SessionEvent>);

impl EventSender {
    pub(crate) fn new(sender: mpsc::Sender<SessionEvent>) -> Self {
        Self(sender)
    }

    pub(crate) fn emit(&self, event: SessionEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.0.try_send(event) {
            tracing::debug!(kind = event.kind(), "event buffer full; event dropped");
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Closed on request ([`crate::ParticipantSession::close`], the shutdown token, or
    /// the handle was dropped).
    Closed,
    /// A heartbeat found the registration gone and registering again failed for good.
    HeartbeatFailed,
    /// The tunnel was lost and could not be reopened (or reconnection is off).
    TunnelClosed,
}

impl CloseReason {
    /// Wire-style name: `closed`, `heartbeat_failed` or `tunnel_closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HeartbeatFailed => "heartbeat_failed",
            Self::TunnelClosed => "tunnel_closed",
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOutcome {
    /// Why.
    pub reason: CloseReason,
    /// The error that ended it, if any.
    pub error: Option<String>,
}

impl CloseOutcome {
    /// Ended on request, without an error.
    pub(crate) fn closed() -> Self {
        Self {
            reason: CloseReason::Closed,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_kinds_and_reasons_are_stable() {
        assert_eq!(SessionEvent::TunnelConnected.kind(), "tunnel_connected");
        assert_eq!(
            SessionEvent::HeartbeatFailed {
                message: String::new()
            }
            .kind(),
            "heartbeat_failed"
        );
        assert_eq!(CloseReason::TunnelClosed.as_str(), "tunnel_closed");
        assert_eq!(CloseReason::HeartbeatFailed.as_str(), "heartbeat_failed");
    }

    #[tokio::test]
    async fn a_full_buffer_drops_events_instead_of_waiting() {
        let (sender, mut receiver) = mpsc::channel(1);
        let events = EventSender::new(sender);
        events.emit(SessionEvent::TunnelConnected);
        events.emit(SessionEvent::Leaving);
        assert_eq!(receiver.recv().await, Some(SessionEvent::TunnelConnected));
        assert!(receiver.try_recv().is_err(), "the second event was dropped");
    }
}
