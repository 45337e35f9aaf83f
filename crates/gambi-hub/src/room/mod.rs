//! A room: its stored record, its participants, its scheduler and its event channel.
//!
//! A [`Room`] keeps its participants behind one mutex (never held across an `.await`) and
//! is the only code that changes them: every change goes through a method in [`roster`]
//! that updates the participant, tells the scheduler whether it may get requests, and
//! publishes what changed, in that order and under the lock, so subscribers see events in
//! the order the changes happened. Outside the crate a room is read-only: snapshots of its
//! participants, its scheduler's state and its event stream.

mod participant;
mod roster;
mod target;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use gambi_protocol as proto;
use indexmap::IndexMap;
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::metrics::RoomMetrics;
use crate::password::VerifiedPassword;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::store::RoomRecord;
use crate::tunnel::TunnelHandle;

pub(crate) use participant::Expiry;
use participant::Participant;
pub(crate) use roster::{ParticipantError, Registration};
pub(crate) use target::Target;

/// A participant as a test or a tool outside the hub may see it: its public summary and,
/// when it has one, its tunnel.
#[derive(Debug, Clone)]
pub struct ParticipantSnapshot {
    /// What the management plane reports about it.
    pub summary: proto::ParticipantSummary,
    /// Its tunnel, open or not, if it has one.
    pub tunnel: Option<TunnelHandle>,
}

/// A room: its stored record, its participants and its event channel.
#[derive(Debug)]
pub struct Room {
    record: RoomRecord,
    participants: Mutex<IndexMap<String, Participant>>,
    events: broadcast::Sender<Arc<proto::RoomEvent>>,
    clock: Clock,
    scheduler: Scheduler,
    /// The last password that verified, to skip Argon2 on repeat.
    verified_password: VerifiedPassword,
    /// Its Prometheus counters (shared with other rooms past the label limit).
    metrics: Arc<RoomMetrics>,
}

impl Room {
    /// A room with no participants.
    pub(crate) fn new(
        record: RoomRecord,
        clock: Clock,
        event_buffer: usize,
        scheduler: SchedulerConfig,
        metrics: Arc<RoomMetrics>,
    ) -> Self {
        let (events, _) = broadcast::channel(event_buffer.max(1));
        Self {
            record,
            participants: Mutex::new(IndexMap::new()),
            events,
            clock,
            scheduler: Scheduler::new(scheduler),
            verified_password: VerifiedPassword::default(),
            metrics,
        }
    }

    /// Its Prometheus counters.
    pub(crate) fn metrics(&self) -> &RoomMetrics {
        &self.metrics
    }

    /// The canonical code.
    pub fn code(&self) -> &str {
        &self.record.code
    }

    /// The room's scheduler (slots, leases, wait queue).
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Subscribes to the room's events.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<proto::RoomEvent>> {
        self.events.subscribe()
    }

    /// Publishes an event to the room's subscribers. Publish while holding the
    /// participants' lock when the order relative to other events matters.
    pub fn publish(&self, payload: proto::RoomEventPayload) {
        let event = proto::RoomEvent {
            timestamp: self.clock.now_ms(),
            room_code: self.record.code.clone(),
            payload,
        };
        // No subscribers is fine: events are not stored.
        let _ = self.events.send(Arc::new(event));
    }

    /// One participant as it is now.
    pub fn participant(&self, id: &str) -> Option<ParticipantSnapshot> {
        let now = self.now_ms();
        let participants = self.lock();
        participants
            .get(id)
            .map(|participant| self.snapshot(participant, now))
    }

    /// Every participant as it is now, in first-registration order.
    pub fn participants(&self) -> Vec<ParticipantSnapshot> {
        let now = self.now_ms();
        self.lock()
            .values()
            .map(|participant| self.snapshot(participant, now))
            .collect()
    }

    /// The stored record.
    pub(crate) fn record(&self) -> &RoomRecord {
        &self.record
    }

    /// Whether the room has a password.
    pub(crate) fn is_protected(&self) -> bool {
        self.record.password_hash.is_some()
    }

    /// The last password that verified.
    pub(crate) fn verified_password(&self) -> &VerifiedPassword {
        &self.verified_password
    }

    /// The public summary.
    pub(crate) fn summary(&self) -> proto::RoomSummary {
        let participant_count = u32::try_from(self.lock().len()).unwrap_or(u32::MAX);
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

    /// The public summaries of the participants, in first-registration order.
    pub(crate) fn participant_summaries(&self) -> Vec<proto::ParticipantSummary> {
        let now = self.now_ms();
        self.lock()
            .values()
            .map(|participant| self.summary_of(participant, now))
            .collect()
    }

    /// The hub's clock, in ms.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Current subscribers of the room's events.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.events.receiver_count()
    }

    /// Locks the participants. Never hold the guard across an `.await`.
    fn lock(&self) -> MutexGuard<'_, IndexMap<String, Participant>> {
        // Every critical section leaves the state consistent before it can panic.
        self.participants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Requests `participant_id` serves right now.
    fn active(&self, participant_id: &str) -> u32 {
        self.scheduler
            .participant(participant_id)
            .map_or(0, |load| load.active)
    }

    /// The public summary of one participant.
    fn summary_of(&self, participant: &Participant, now_ms: i64) -> proto::ParticipantSummary {
        participant.summary(now_ms, self.active(&participant.id))
    }

    fn snapshot(&self, participant: &Participant, now_ms: i64) -> ParticipantSnapshot {
        ParticipantSnapshot {
            summary: self.summary_of(participant, now_ms),
            tunnel: participant.tunnel.clone(),
        }
    }
}
