//! A room and its participants: the live state behind the management plane.
//!
//! Each [`Room`] keeps its participants behind one mutex (never held across an `.await`)
//! and fans its events out on a broadcast channel. Participant status is derived, not
//! stored: `offline` without an open tunnel or after missed heartbeats, `busy` when every
//! slot is taken, `online` otherwise — so it can never disagree with the facts it
//! summarises.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gambi_protocol as proto;
use indexmap::IndexMap;
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::password::VerifiedPassword;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::store::RoomRecord;
use crate::tunnel::TunnelHandle;

/// A participant as the hub knows it.
#[derive(Debug)]
pub struct Participant {
    /// Participant id.
    pub id: String,
    /// Display name.
    pub nickname: String,
    /// Model name as the provider knows it.
    pub model: String,
    /// Provider endpoint (informational).
    pub endpoint: String,
    /// Runtime defaults, instructions included.
    pub config: proto::RuntimeConfig,
    /// Shared hardware specs.
    pub specs: proto::MachineSpecs,
    /// Probed protocol support.
    pub capabilities: proto::ParticipantCapabilities,
    /// Requests served at once.
    pub max_concurrency: u32,
    /// First registration time.
    pub joined_at: i64,
    /// Last registration or heartbeat.
    pub last_seen: i64,
    /// Last change.
    pub updated_at: i64,
    /// The open tunnel, if any.
    pub tunnel: Option<TunnelHandle>,
    /// Secret proving ownership of this id while the tunnel is live.
    pub session_token: String,
    /// Whether `participant.offline` was announced since the last heartbeat.
    pub offline_announced: bool,
}

impl Participant {
    /// Whether a tunnel is open.
    pub fn connected(&self) -> bool {
        self.tunnel
            .as_ref()
            .is_some_and(|tunnel| !tunnel.is_closed())
    }

    /// Whether heartbeats stopped for longer than [`proto::PARTICIPANT_TIMEOUT`].
    pub fn stale(&self, now_ms: i64) -> bool {
        let timeout = i64::try_from(proto::PARTICIPANT_TIMEOUT.as_millis()).unwrap_or(i64::MAX);
        now_ms.saturating_sub(self.last_seen) > timeout
    }

    /// Whether requests may be routed here (tunnel open, heartbeats fresh).
    pub fn available(&self, now_ms: i64) -> bool {
        self.connected() && !self.stale(now_ms)
    }

    /// The derived routing status, given how many requests it serves right now.
    pub fn status(&self, now_ms: i64, active: u32) -> proto::ParticipantStatus {
        if !self.available(now_ms) {
            proto::ParticipantStatus::Offline
        } else if active >= self.max_concurrency {
            proto::ParticipantStatus::Busy
        } else {
            proto::ParticipantStatus::Online
        }
    }

    /// The public summary, given how many requests it serves right now.
    pub fn summary(&self, now_ms: i64, active: u32) -> proto::ParticipantSummary {
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

/// The mutable part of a room.
#[derive(Debug, Default)]
pub struct RoomState {
    /// Participants in first-registration order.
    pub participants: IndexMap<String, Participant>,
}

/// A room: its stored record, its participants and its event channel.
#[derive(Debug)]
pub struct Room {
    record: RoomRecord,
    state: Mutex<RoomState>,
    events: broadcast::Sender<Arc<proto::RoomEvent>>,
    clock: Clock,
    scheduler: Scheduler,
    /// The last password that verified, to skip Argon2 on repeat.
    pub verified_password: VerifiedPassword,
}

impl Room {
    /// A room with no participants.
    pub fn new(
        record: RoomRecord,
        clock: Clock,
        event_buffer: usize,
        scheduler: SchedulerConfig,
    ) -> Self {
        let (events, _) = broadcast::channel(event_buffer.max(1));
        Self {
            record,
            state: Mutex::new(RoomState::default()),
            events,
            clock,
            scheduler: Scheduler::new(scheduler),
            verified_password: VerifiedPassword::default(),
        }
    }

    /// The stored record.
    pub fn record(&self) -> &RoomRecord {
        &self.record
    }

    /// The canonical code.
    pub fn code(&self) -> &str {
        &self.record.code
    }

    /// Whether the room has a password.
    pub fn is_protected(&self) -> bool {
        self.record.password_hash.is_some()
    }

    /// Locks the participants. Never hold the guard across an `.await`.
    pub fn lock(&self) -> MutexGuard<'_, RoomState> {
        // Every critical section leaves the state consistent before it can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The room's scheduler (slots, leases, wait queue).
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Requests `participant` serves right now.
    pub fn active(&self, participant_id: &str) -> u32 {
        self.scheduler
            .participant(participant_id)
            .map_or(0, |load| load.active)
    }

    /// The public summary of one participant.
    pub fn participant_summary(
        &self,
        participant: &Participant,
        now_ms: i64,
    ) -> proto::ParticipantSummary {
        participant.summary(now_ms, self.active(&participant.id))
    }

    /// Tells the scheduler whether `participant` may get requests now.
    pub fn refresh_availability(&self, participant: &Participant, now_ms: i64) {
        self.scheduler
            .set_available(&participant.id, participant.available(now_ms));
    }

    /// The public summary.
    pub fn summary(&self) -> proto::RoomSummary {
        let participant_count = u32::try_from(self.lock().participants.len()).unwrap_or(u32::MAX);
        proto::RoomSummary {
            id: self.record.id.clone(),
            code: self.record.code.clone(),
            name: self.record.name.clone(),
            host_id: self.record.host_id.clone(),
            created_at: self.record.created_at,
            defaults: self
                .record
                .defaults
                .as_ref()
                .map(proto::RuntimeConfig::to_public),
            password_protected: self.is_protected(),
            participant_count,
        }
    }

    /// The hub's clock, in ms.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Publishes an event to the room's subscribers. Publish while holding the state lock
    /// when the order relative to other events matters.
    pub fn publish(&self, payload: proto::RoomEventPayload) {
        let event = proto::RoomEvent {
            timestamp: self.clock.now_ms(),
            room_code: self.record.code.clone(),
            payload,
        };
        // No subscribers is fine: events are not stored.
        let _ = self.events.send(Arc::new(event));
    }

    /// Subscribes to the room's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<proto::RoomEvent>> {
        self.events.subscribe()
    }

    /// Current subscribers of the room's events.
    pub fn subscriber_count(&self) -> usize {
        self.events.receiver_count()
    }
}
