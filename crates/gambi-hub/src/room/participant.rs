//! A participant as the hub knows it, and what is derived from it.
//!
//! Status is derived, not stored: `offline` without an open tunnel or after missed
//! heartbeats, `busy` when every slot is taken, `online` otherwise, so it can never disagree
//! with the facts it summarises.

use gambi_protocol as proto;

use crate::scheduler::Presence;
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
    /// Whether a tunnel was ever attached to this registration.
    pub(super) ever_attached: bool,
    /// Since when it has had no tunnel (its registration, or the loss of its last tunnel);
    /// `None` while a tunnel is attached.
    pub(super) detached_since: Option<i64>,
    /// What the scheduler was last told of its presence, so that the sweep tells it only
    /// of changes.
    pub(super) told: std::cell::Cell<Presence>,
}

/// How long participants without a tunnel are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expiry {
    /// A registration that never attached a tunnel is dropped after this long (the
    /// lifetime of its tunnel token: it cannot attach later without registering again).
    pub(crate) unattached_ms: i64,
    /// A participant that had a tunnel and lost it is removed after this long.
    pub(crate) offline_ms: i64,
}

/// Why a participant was removed by the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    /// It registered but never opened its tunnel.
    NeverAttached,
    /// It lost its tunnel and did not come back.
    Offline,
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

    /// How the scheduler should treat it: available; reconnecting (its tunnel is up but
    /// its heartbeats lapsed, or its tunnel dropped within the liveness window, so requests
    /// for it may wait); or offline (requests for it fail at once).
    pub(super) fn presence(&self, now_ms: i64) -> Presence {
        let window = i64::try_from(proto::PARTICIPANT_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
        let connected = self.connected();
        if connected && !self.stale(now_ms) {
            Presence::Available
        } else if connected
            || (self.ever_attached
                && self
                    .detached_since
                    .is_none_or(|since| now_ms.saturating_sub(since) <= window))
        {
            Presence::Reconnecting
        } else {
            Presence::Offline
        }
    }

    /// Whether the sweep should remove it now. A participant with a tunnel (even one whose
    /// heartbeats stopped) is never expired: only its session may remove it.
    pub(super) fn expired(&self, now_ms: i64, expiry: Expiry) -> Option<Expired> {
        let since = self.detached_since?;
        if self.tunnel.is_some() {
            return None;
        }
        let (limit, why) = if self.ever_attached {
            (expiry.offline_ms, Expired::Offline)
        } else {
            (expiry.unattached_ms, Expired::NeverAttached)
        };
        (now_ms.saturating_sub(since) > limit).then_some(why)
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
