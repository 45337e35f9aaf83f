//! The rules that change a room's participants.
//!
//! Each method takes the participants' lock once, changes what it must, tells the scheduler
//! whether the participant may get requests and publishes the event that
//! says what changed, all before it lets go of the lock.

use gambi_protocol as proto;
use tracing::{info, warn};

use super::participant::{Expired, Expiry};
use super::{Participant, Room};
use crate::password::constant_time_eq;
use crate::scheduler::Presence;
use crate::tunnel::{TunnelFailure, TunnelHandle};

/// What a participant registration carries after validation.
#[derive(Debug, Clone)]
pub(crate) struct Registration {
    /// Display name.
    pub(crate) nickname: String,
    /// Model name.
    pub(crate) model: String,
    /// Provider endpoint.
    pub(crate) endpoint: String,
    /// Room password, if given.
    pub(crate) password: Option<String>,
    /// Shared specs.
    pub(crate) specs: proto::MachineSpecs,
    /// Runtime defaults.
    pub(crate) config: proto::RuntimeConfig,
    /// Probed protocol support.
    pub(crate) capabilities: proto::ParticipantCapabilities,
    /// Slots.
    pub(crate) max_concurrency: u32,
    /// The tunnel extensions the runtime offers, if it offers any.
    pub(crate) tunnel_extensions: Option<proto::TunnelExtensions>,
}

/// The outcome of a registration, as far as the room is concerned.
#[derive(Debug)]
pub(crate) struct Upserted {
    /// Whether the participant is new.
    pub(crate) created: bool,
    /// Whether someone else's stale registration was taken over: its old credential and
    /// tunnel tokens are void.
    pub(crate) reclaimed: bool,
    /// Its summary after the change.
    pub(crate) summary: proto::ParticipantSummary,
    /// The session credential.
    pub(crate) session_token: String,
}

/// Why a participant operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParticipantError {
    /// No such participant.
    #[error("participant not found")]
    NotFound,
    /// A live session owns this id and the caller did not prove it is that session.
    #[error("participant is held by a connected session")]
    Conflict,
    /// The room holds as many participants as it allows.
    #[error("the room already holds {0} participants")]
    RoomFull(usize),
}

impl Participant {
    /// Whether `session_token` is this participant's session credential.
    fn owned_by(&self, session_token: Option<&str>) -> bool {
        session_token
            .is_some_and(|token| constant_time_eq(token.as_bytes(), self.session_token.as_bytes()))
    }
}

impl Room {
    /// Registers a participant or updates its registration.
    ///
    /// A participant whose tunnel is live can only be re-registered by its own session
    /// (`session_token`); a stale one can be reclaimed by anyone allowed in the room, which
    /// retires its old credential and closes its old tunnel. `new_secret` makes the
    /// credential of a new or reclaimed registration; `limit` is the most participants the
    /// room holds.
    pub(crate) fn upsert(
        &self,
        id: &str,
        registration: Registration,
        session_token: Option<&str>,
        limit: usize,
        new_secret: impl FnOnce() -> String,
    ) -> Result<Upserted, ParticipantError> {
        let now = self.now_ms();
        let mut participants = self.lock();
        let created = !participants.contains_key(id);
        let mut reclaimed = false;
        match participants.get_mut(id) {
            Some(existing) => {
                let owns = existing.owned_by(session_token);
                if existing.connected() && !owns {
                    return Err(ParticipantError::Conflict);
                }
                if !owns {
                    reclaimed = true;
                    existing.session_token = new_secret();
                    if let Some(tunnel) = existing.tunnel.take() {
                        tunnel.close(proto::CLOSE_SUPERSEDED, TunnelFailure::Superseded);
                        existing.detached_since = Some(now);
                    }
                }
                existing.nickname = registration.nickname;
                existing.model = registration.model;
                existing.endpoint = registration.endpoint;
                existing.config = registration.config;
                existing.specs = registration.specs;
                existing.capabilities = registration.capabilities;
                existing.max_concurrency = registration.max_concurrency;
                existing.last_seen = now;
                existing.updated_at = now;
                existing.offline_announced = false;
            }
            None => {
                if participants.len() >= limit {
                    return Err(ParticipantError::RoomFull(limit));
                }
                participants.insert(
                    id.to_owned(),
                    Participant {
                        id: id.to_owned(),
                        nickname: registration.nickname,
                        model: registration.model,
                        endpoint: registration.endpoint,
                        config: registration.config,
                        specs: registration.specs,
                        capabilities: registration.capabilities,
                        max_concurrency: registration.max_concurrency,
                        joined_at: now,
                        last_seen: now,
                        updated_at: now,
                        tunnel: None,
                        session_token: new_secret(),
                        offline_announced: false,
                        ever_attached: false,
                        detached_since: Some(now),
                        told: std::cell::Cell::new(Presence::Offline),
                    },
                );
            }
        }
        let participant = &participants[id];
        self.scheduler
            .upsert(id, &participant.model, participant.max_concurrency);
        self.set_available(participant, now);
        let summary = self.summary_of(participant, now);
        self.publish(if created {
            proto::RoomEventPayload::ParticipantJoined(summary.clone())
        } else {
            proto::RoomEventPayload::ParticipantUpdated(summary.clone())
        });
        Ok(Upserted {
            created,
            reclaimed,
            summary,
            session_token: participant.session_token.clone(),
        })
    }

    /// Whether the participant exists.
    pub(crate) fn has_participant(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Whether `session_token` is the participant's current session credential.
    pub(crate) fn owns(&self, id: &str, session_token: Option<&str>) -> bool {
        self.lock()
            .get(id)
            .is_some_and(|participant| participant.owned_by(session_token))
    }

    /// Whether the participant's tunnel closed less than `window` ago, or is closing now.
    pub(crate) fn tunnel_just_closed(&self, id: &str, window: std::time::Duration) -> bool {
        let now = self.now_ms();
        let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        self.lock().get(id).is_some_and(|participant| {
            match (&participant.tunnel, participant.detached_since) {
                (Some(tunnel), _) => tunnel.is_closed(),
                (None, Some(since)) => {
                    participant.ever_attached && now.saturating_sub(since) <= window
                }
                (None, None) => false,
            }
        })
    }

    /// The participant's tunnel, if it is open.
    pub(crate) fn live_tunnel(&self, id: &str) -> Option<TunnelHandle> {
        self.lock()
            .get(id)
            .and_then(|participant| participant.tunnel.clone())
            .filter(|tunnel| !tunnel.is_closed())
    }

    /// Removes a participant, closing its tunnel (which fails its requests).
    pub(crate) fn remove(
        &self,
        id: &str,
        session_token: Option<&str>,
    ) -> Result<(), ParticipantError> {
        let mut participants = self.lock();
        let participant = participants.get(id).ok_or(ParticipantError::NotFound)?;
        if participant.connected() && !participant.owned_by(session_token) {
            return Err(ParticipantError::Conflict);
        }
        let removed = participants.shift_remove(id);
        self.scheduler.remove(id);
        if let Some(tunnel) = removed.and_then(|participant| participant.tunnel) {
            tunnel.close(proto::CLOSE_REMOVED, TunnelFailure::Removed);
        }
        self.publish(proto::RoomEventPayload::ParticipantLeft(
            proto::event::ParticipantRef {
                participant_id: id.to_owned(),
            },
        ));
        info!(room = %self.code(), participant = %id, "participant left");
        Ok(())
    }

    /// Records a heartbeat and returns the status after it.
    pub(crate) fn heartbeat(&self, id: &str) -> Result<proto::HeartbeatResponse, ParticipantError> {
        let now = self.now_ms();
        let mut participants = self.lock();
        let participant = participants.get_mut(id).ok_or(ParticipantError::NotFound)?;
        participant.last_seen = now;
        participant.updated_at = now;
        let recovered = std::mem::take(&mut participant.offline_announced);
        let status = participant.status(now, self.active(id));
        if recovered {
            self.changed(participant, now);
        }
        Ok(proto::HeartbeatResponse {
            success: true,
            status,
            last_seen: now,
        })
    }

    /// Makes `tunnel` the participant's tunnel, superseding any older one. A participant
    /// removed in the meantime gets its tunnel closed, and the answer is false.
    pub(crate) fn attach_tunnel(&self, id: &str, tunnel: &TunnelHandle) -> bool {
        let now = self.now_ms();
        let mut participants = self.lock();
        let Some(participant) = participants.get_mut(id) else {
            tunnel.close(proto::CLOSE_REMOVED, TunnelFailure::Removed);
            return false;
        };
        if let Some(old) = participant.tunnel.replace(tunnel.clone()) {
            info!(room = %self.code(), participant = %id, "superseding older tunnel");
            old.close(proto::CLOSE_SUPERSEDED, TunnelFailure::Superseded);
        }
        if participant.ever_attached {
            self.metrics().tunnel_reconnected();
        }
        participant.ever_attached = true;
        participant.detached_since = None;
        participant.updated_at = now;
        self.changed(participant, now);
        true
    }

    /// Forgets a closed tunnel if it is still the participant's current one.
    pub(crate) fn detach_tunnel(&self, id: &str, session_id: u64) {
        let now = self.now_ms();
        let mut participants = self.lock();
        let Some(participant) = participants.get_mut(id) else {
            return;
        };
        if participant
            .tunnel
            .as_ref()
            .is_some_and(|tunnel| tunnel.session_id() == session_id)
        {
            participant.tunnel = None;
            participant.detached_since = Some(now);
            participant.updated_at = now;
            self.changed(participant, now);
        }
    }

    /// Remembers that participant `id` lacks `protocol` (its provider has no such route),
    /// so later requests go straight to the other protocol.
    pub(crate) fn learn_unsupported(&self, id: &str, protocol: proto::LlmProtocol) {
        let now = self.now_ms();
        let mut participants = self.lock();
        let Some(participant) = participants.get_mut(id) else {
            return;
        };
        let capability = participant.capabilities.get_mut(protocol);
        if *capability != proto::Capability::Unsupported {
            *capability = proto::Capability::Unsupported;
            participant.updated_at = now;
            info!(room = %self.code(), participant = %id, protocol = protocol.as_str(), "provider lacks this protocol; adapting from now on");
            self.changed(participant, now);
        }
    }

    /// Removes participants without a tunnel for longer than `expiry` allows
    /// (`participant.left`), and announces participants that missed their heartbeats
    /// (`participant.offline`, once). Returns the ids removed.
    pub(crate) fn sweep(&self, now: i64, expiry: Expiry) -> Vec<String> {
        let mut participants = self.lock();
        let expired: Vec<(String, Expired)> = participants
            .values()
            .filter_map(|participant| {
                participant
                    .expired(now, expiry)
                    .map(|why| (participant.id.clone(), why))
            })
            .collect();
        for (id, why) in &expired {
            participants.shift_remove(id);
            self.scheduler.remove(id);
            match why {
                Expired::NeverAttached => {
                    info!(room = %self.code(), participant = %id, "registration dropped: its tunnel never attached");
                }
                Expired::Offline => {
                    info!(room = %self.code(), participant = %id, "participant removed after being offline too long");
                }
            }
            self.publish(proto::RoomEventPayload::ParticipantLeft(
                proto::event::ParticipantRef {
                    participant_id: id.clone(),
                },
            ));
        }
        for participant in participants.values_mut() {
            if !participant.connected() && participant.presence(now) != participant.told.get() {
                // A participant reconnecting for longer than the liveness window is offline.
                self.set_available(participant, now);
            }
            if participant.stale(now) && !participant.offline_announced {
                participant.offline_announced = true;
                self.set_available(participant, now);
                warn!(room = %self.code(), participant = %participant.id, "participant missed its heartbeats");
                self.publish(proto::RoomEventPayload::ParticipantOffline(
                    proto::event::ParticipantRef {
                        participant_id: participant.id.clone(),
                    },
                ));
            }
        }
        expired.into_iter().map(|(id, _)| id).collect()
    }

    /// Tells the scheduler whether `participant` may get requests now, or soon.
    fn set_available(&self, participant: &Participant, now: i64) {
        let presence = participant.presence(now);
        participant.told.set(presence);
        self.scheduler.set_presence(&participant.id, presence);
    }

    /// [`Room::set_available`], then `participant.updated` with the new summary.
    fn changed(&self, participant: &Participant, now: i64) {
        self.set_available(participant, now);
        let summary = self.summary_of(participant, now);
        self.publish(proto::RoomEventPayload::ParticipantUpdated(summary));
    }
}
