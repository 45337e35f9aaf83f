//! A participant as the hub knows it, and what is derived from it.
//!
//! Status is derived, not stored: `offline` without an open tunnel or after missed
//! heartbeats, `busy` when every slot is taken, `online` otherwise, so it can never disagree
//! with the facts it summarises.

use gambi_protocol as proto;

use crate::tunnel::TunnelHandle;

/// A participant as the hub knows it.
#[derive(Debug)]
pub(super) struct Participant {
    /// Participant id.
    pub(super) id: String,
    /// Display name.
    pub(super) nickname: String,
    /// Model name as the provider knows it.
    pub(super) model: String,
    /// Provider endpoint (informational).
    pub(super) endpoint: String,
    /// Runtime defaults, instructions included.
    pub(super) config: proto::RuntimeConfig,
    /// Shared hardware specs.
    pub(super) specs: proto::MachineSpecs,
    /// Probed protocol support.
    pub(super) capabilities: proto::ParticipantCapabilities,
    /// Requests served at once.
    pub(super) max_concurrency: u32,
    /// First registration time.
    pub(super) joined_at: i64,
    /// Last registration or heartbeat.
    pub(super) last_seen: i64,
    /// Last change.
    pub(super) updated_at: i64,
    /// The open tunnel, if any.
    pub(super) tunnel: Option<TunnelHandle>,
    /// Secret proving ownership of this id while the tunnel is live.
    pub(super) session_token: String,
    /// Whether `participant.offline` was announced since the last heartbeat.
    pub(super) offline_announced: bool,
}

impl Participant {
    /// Whether a tunnel is open.
    pub(super) fn connected(&self) -> bool {
        self.tunnel
            .as_ref()
            .is_some_and(|tunnel| !tunnel.is_closed())
    }

    /// Whether heartbeats stopped for longer than [`proto::PARTICIPANT_TIMEOUT`].
    pub(super) fn stale(&self, now_ms: i64) -> bool {
        let timeout = i64::try_from(proto::PARTICIPANT_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(self.last_seen) > timeout
    }

    /// Whether requests may be routed here (tunnel open, heartbeats fresh).
    pub(super) fn available(&self, now_ms: i64) -> bool {
        self.connected() && !self.stale(now_ms)
    }

    /// The derived routing status, given how many requests it serves right now.
    pub(super) fn status(&self, now_ms: i64, active: u32) -> proto::ParticipantStatus {
        if !self.available(now_ms) {
            proto::ParticipantStatus::Offline
        } else if active >= self.max_concurrency {
            proto::ParticipantStatus::Busy
        } else {
            proto::ParticipantStatus::Online
        }
    }

    /// The public summary, given how many requests it serves right now.
    pub(super) fn summary(&self, now_ms: i64, active: u32) -> proto::ParticipantSummary {
        let connected = self.connected();
        proto::ParticipantSummary {
            id: self.id.clone(),
            nickname: self.nickname.clone(),
            model: self.model.clone(),
            endpoint: self.endpoint.clone(),
            config: self.config.to_public(),
            specs: self.specs.clone(),
            capabilities: self.capabilities,
            connection: proto::ParticipantConnection {
                kind: "tunnel".into(),
                connected,
                last_tunnel_seen_at: self
                    .tunnel
                    .as_ref()
                    .filter(|_| connected)
                    .map(TunnelHandle::last_seen_ms),
            },
            status: self.status(now_ms, active),
            joined_at: self.joined_at,
            last_seen: self.last_seen,
            updated_at: self.updated_at,
            max_concurrency: self.max_concurrency,
            active_requests: active,
        }
    }
}
