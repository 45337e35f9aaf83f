//! The hub's shared state: rooms, tunnel tokens, the store, and the operations the HTTP
//! handlers call. Handlers stay thin; the rules live here.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use gambi_protocol as proto;
use rand::Rng;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::clock::Clock;
use crate::config::{HubConfig, Storage};
use crate::inference::registry::ResponseRegistry;
use crate::password::{PasswordHasherPool, constant_time_eq};
use crate::room::{Participant, Room};
use crate::store::{RoomRecord, SqliteStore, Store, StoreError};
use crate::tunnel::{SessionContext, TokenStore, TunnelFailure, TunnelHandle};

/// Letters and digits that cannot be mistaken for one another when read aloud or
/// copied from a projector (no `0`/`O`, no `1`/`I`).
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// The alphabet of internal ids (URL-safe).
const ID_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
/// Length of internal room ids.
const ROOM_ID_LEN: usize = 21;

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database could not be opened or read.
    #[error("could not open the room database: {0}")]
    Store(#[from] StoreError),
}

/// Why a room could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateRoomError {
    /// The hub keeps as many rooms as it allows.
    #[error("the hub already keeps {0} rooms")]
    TooManyRooms(usize),
    /// Hashing or storing failed.
    #[error("{0}")]
    Internal(String),
}

/// What a participant registration carries after validation.
#[derive(Debug, Clone)]
pub struct Registration {
    /// Display name.
    pub nickname: String,
    /// Model name.
    pub model: String,
    /// Provider endpoint.
    pub endpoint: String,
    /// Room password, if given.
    pub password: Option<String>,
    /// Shared specs.
    pub specs: proto::MachineSpecs,
    /// Runtime defaults.
    pub config: proto::RuntimeConfig,
    /// Probed protocol support.
    pub capabilities: proto::ParticipantCapabilities,
    /// Slots.
    pub max_concurrency: u32,
}

/// The outcome of an upsert.
#[derive(Debug)]
pub struct Upserted {
    /// Whether the participant is new.
    pub created: bool,
    /// Its summary after the change.
    pub summary: proto::ParticipantSummary,
    /// A fresh tunnel token.
    pub token: String,
    /// The session credential.
    pub session_token: String,
}

/// Why a participant operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParticipantError {
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

struct HubInner {
    config: HubConfig,
    clock: Clock,
    store: Arc<dyn Store>,
    rooms: RwLock<Rooms>,
    tokens: Mutex<TokenStore>,
    passwords: PasswordHasherPool,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    malformed_frames: Arc<AtomicU64>,
    hub_events: broadcast::Sender<Arc<proto::RoomEvent>>,
    responses: Mutex<ResponseRegistry>,
}

#[derive(Default)]
struct Rooms {
    by_code: HashMap<String, Arc<Room>>,
    in_order: Vec<Arc<Room>>,
}

/// The hub's state, shared by every handler and background task. Cheap to clone.
#[derive(Clone)]
pub struct Hub {
    inner: Arc<HubInner>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Hub {
    /// Opens the store named by `config` and loads its rooms.
    pub fn open(config: HubConfig, shutdown: CancellationToken) -> Result<Self, StartError> {
        let store: Arc<dyn Store> = match &config.storage {
            Storage::Memory => Arc::new(SqliteStore::open_in_memory()?),
            Storage::File(path) => Arc::new(SqliteStore::open(path)?),
        };
        Self::with_store(config, store, shutdown)
    }

    /// A hub over an already opened store.
    pub fn with_store(
        config: HubConfig,
        store: Arc<dyn Store>,
        shutdown: CancellationToken,
    ) -> Result<Self, StartError> {
        let clock = Clock::new();
        let mut rooms = Rooms::default();
        for record in store.load_rooms()? {
            let room = Arc::new(Room::new(
                record,
                clock,
                config.event_buffer,
                config.scheduler(),
            ));
            rooms.by_code.insert(room.code().to_owned(), room.clone());
            rooms.in_order.push(room);
        }
        let (hub_events, _) = broadcast::channel(config.event_buffer.max(1));
        Ok(Self {
            inner: Arc::new(HubInner {
                config,
                clock,
                store,
                rooms: RwLock::new(rooms),
                tokens: Mutex::new(TokenStore::new(proto::TUNNEL_TOKEN_TTL)),
                passwords: PasswordHasherPool::default(),
                shutdown,
                tracker: TaskTracker::new(),
                malformed_frames: Arc::new(AtomicU64::new(0)),
                hub_events,
                responses: Mutex::new(ResponseRegistry::default()),
            }),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    /// The hub's clock.
    pub fn clock(&self) -> Clock {
        self.inner.clock
    }

    /// The hub-wide shutdown signal.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Owner of every task the hub spawns.
    pub fn tracker(&self) -> &TaskTracker {
        &self.inner.tracker
    }

    /// Malformed tunnel frames received so far, hub-wide.
    pub fn malformed_frames(&self) -> u64 {
        self.inner
            .malformed_frames
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The outstanding tunnel tokens.
    fn tokens(&self) -> std::sync::MutexGuard<'_, TokenStore> {
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The response registry (native response owners and adapted responses).
    pub fn responses(&self) -> std::sync::MutexGuard<'_, ResponseRegistry> {
        self.inner
            .responses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn rooms(&self) -> std::sync::RwLockReadGuard<'_, Rooms> {
        self.inner
            .rooms
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The room with this code, compared case-insensitively.
    pub fn room(&self, code: &str) -> Option<Arc<Room>> {
        self.rooms()
            .by_code
            .get(&code.to_ascii_uppercase())
            .cloned()
    }

    /// Every room, oldest first.
    pub fn list_rooms(&self) -> Vec<Arc<Room>> {
        self.rooms().in_order.clone()
    }

    /// Current subscribers of the hub-wide events.
    pub fn hub_subscriber_count(&self) -> usize {
        self.inner.hub_events.receiver_count()
    }

    /// Subscribes to hub-wide events (`room.created`).
    pub fn subscribe_hub(&self) -> broadcast::Receiver<Arc<proto::RoomEvent>> {
        self.inner.hub_events.subscribe()
    }

    /// Creates a room, persisting it before it becomes visible.
    pub async fn create_room(
        &self,
        name: String,
        password: Option<String>,
        defaults: Option<proto::RuntimeConfig>,
    ) -> Result<Arc<Room>, CreateRoomError> {
        let limit = self.inner.config.max_rooms;
        if self.rooms().in_order.len() >= limit {
            return Err(CreateRoomError::TooManyRooms(limit));
        }
        let password_hash = match password {
            Some(password) => Some(
                self.inner
                    .passwords
                    .hash(password)
                    .await
                    .map_err(CreateRoomError::Internal)?,
            ),
            None => None,
        };
        let mut record = RoomRecord {
            id: random_string(ID_ALPHABET, ROOM_ID_LEN),
            code: String::new(),
            name,
            host_id: uuid::Uuid::new_v4().to_string(),
            created_at: self.inner.clock.now_ms(),
            defaults,
            password_hash,
        };
        // Codes are drawn until one is free both in memory and in the store; with 32^6
        // codes a collision is rare, so a few tries always suffice.
        for _ in 0..16 {
            let code = random_string(CODE_ALPHABET, proto::ROOM_CODE_LEN);
            if self.rooms().by_code.contains_key(&code) {
                continue;
            }
            record.code = code;
            let to_store = record.clone();
            let store = self.inner.store.clone();
            let stored = tokio::task::spawn_blocking(move || {
                if store.code_exists(&to_store.code)? {
                    return Ok(false);
                }
                store.insert_room(&to_store).map(|()| true)
            })
            .await
            .map_err(|error| CreateRoomError::Internal(error.to_string()))?
            .map_err(|error| CreateRoomError::Internal(error.to_string()))?;
            if !stored {
                continue;
            }
            let room = Arc::new(Room::new(
                record,
                self.inner.clock,
                self.inner.config.event_buffer,
                self.inner.config.scheduler(),
            ));
            {
                let mut rooms = self
                    .inner
                    .rooms
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                rooms.by_code.insert(room.code().to_owned(), room.clone());
                rooms.in_order.push(room.clone());
            }
            let payload = proto::RoomEventPayload::RoomCreated(room.summary());
            room.publish(payload.clone());
            let _ = self.inner.hub_events.send(Arc::new(proto::RoomEvent {
                timestamp: self.inner.clock.now_ms(),
                room_code: room.code().to_owned(),
                payload,
            }));
            info!(room = %room.code(), "room created");
            return Ok(room);
        }
        Err(CreateRoomError::Internal(
            "could not find a free room code".into(),
        ))
    }

    /// Whether `presented` is the room's password (always true for open rooms).
    pub async fn check_password(&self, room: &Room, presented: Option<&str>) -> bool {
        let Some(hash) = room.record().password_hash.clone() else {
            return true;
        };
        let Some(presented) = presented.filter(|password| !password.is_empty()) else {
            return false;
        };
        if room.verified_password.matches(presented) {
            return true;
        }
        let ok = self
            .inner
            .passwords
            .verify(presented.to_owned(), hash)
            .await;
        if ok {
            room.verified_password.remember(presented);
        }
        ok
    }

    /// Registers a participant or updates its registration.
    ///
    /// A participant whose tunnel is live can only be re-registered by its own session
    /// (`session_token`); a stale one can be reclaimed by anyone allowed in the room.
    pub fn upsert_participant(
        &self,
        room: &Room,
        id: &str,
        registration: Registration,
        session_token: Option<&str>,
    ) -> Result<Upserted, ParticipantError> {
        let now = self.inner.clock.now_ms();
        let mut state = room.lock();
        let created = !state.participants.contains_key(id);
        let mut reclaimed = false;
        let session = match state.participants.get_mut(id) {
            Some(existing) => {
                let owns = session_token.is_some_and(|token| {
                    constant_time_eq(token.as_bytes(), existing.session_token.as_bytes())
                });
                if existing.connected() && !owns {
                    return Err(ParticipantError::Conflict);
                }
                if !owns {
                    // Someone reclaims a stale id: retire the old credential, its tokens
                    // and its tunnel.
                    reclaimed = true;
                    existing.session_token = new_secret();
                    if let Some(tunnel) = existing.tunnel.take() {
                        tunnel.close(proto::CLOSE_SUPERSEDED, TunnelFailure::Superseded);
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
                existing.session_token.clone()
            }
            None => {
                let limit = self.inner.config.max_participants_per_room;
                if state.participants.len() >= limit {
                    return Err(ParticipantError::RoomFull(limit));
                }
                let participant = Participant {
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
                };
                let session = participant.session_token.clone();
                state.participants.insert(id.to_owned(), participant);
                session
            }
        };
        let participant = &state.participants[id];
        room.scheduler()
            .upsert(id, &participant.model, participant.max_concurrency);
        room.refresh_availability(participant, now);
        let summary = room.participant_summary(participant, now);
        room.publish(if created {
            proto::RoomEventPayload::ParticipantJoined(summary.clone())
        } else {
            proto::RoomEventPayload::ParticipantUpdated(summary.clone())
        });
        drop(state);
        let mut tokens = self.tokens();
        if reclaimed {
            tokens.revoke_participant(&room.record().id, id);
        }
        let token = tokens.mint(&room.record().id, id);
        drop(tokens);
        Ok(Upserted {
            created,
            summary,
            token,
            session_token: session,
        })
    }

    /// Whether `session_token` is the participant's current session credential.
    pub fn owns_participant(&self, room: &Room, id: &str, session_token: Option<&str>) -> bool {
        let state = room.lock();
        match (state.participants.get(id), session_token) {
            (Some(participant), Some(token)) => {
                constant_time_eq(token.as_bytes(), participant.session_token.as_bytes())
            }
            _ => false,
        }
    }

    /// The participant's tunnel, if it is open.
    pub fn live_tunnel(&self, room: &Room, id: &str) -> Option<TunnelHandle> {
        room.lock()
            .participants
            .get(id)
            .and_then(|participant| participant.tunnel.clone())
            .filter(|tunnel| !tunnel.is_closed())
    }

    /// Whether the participant exists and has a live tunnel.
    pub fn participant_connected(&self, room: &Room, id: &str) -> Option<bool> {
        room.lock().participants.get(id).map(Participant::connected)
    }

    /// Removes a participant, closing its tunnel and failing its requests.
    pub fn remove_participant(
        &self,
        room: &Room,
        id: &str,
        session_token: Option<&str>,
    ) -> Result<(), ParticipantError> {
        let mut state = room.lock();
        let participant = state
            .participants
            .get(id)
            .ok_or(ParticipantError::NotFound)?;
        let owns = session_token.is_some_and(|token| {
            constant_time_eq(token.as_bytes(), participant.session_token.as_bytes())
        });
        if participant.connected() && !owns {
            return Err(ParticipantError::Conflict);
        }
        let removed = state.participants.shift_remove(id);
        room.scheduler().remove(id);
        if let Some(tunnel) = removed.and_then(|participant| participant.tunnel) {
            tunnel.close(proto::CLOSE_REMOVED, TunnelFailure::Removed);
        }
        room.publish(proto::RoomEventPayload::ParticipantLeft(
            proto::event::ParticipantRef {
                participant_id: id.to_owned(),
            },
        ));
        drop(state);
        self.tokens().revoke_participant(&room.record().id, id);
        info!(room = %room.code(), participant = %id, "participant left");
        Ok(())
    }

    /// Records a heartbeat and returns the status after it.
    pub fn heartbeat(
        &self,
        room: &Room,
        id: &str,
    ) -> Result<proto::HeartbeatResponse, ParticipantError> {
        let now = self.inner.clock.now_ms();
        let mut state = room.lock();
        let participant = state
            .participants
            .get_mut(id)
            .ok_or(ParticipantError::NotFound)?;
        participant.last_seen = now;
        participant.updated_at = now;
        let recovered = std::mem::take(&mut participant.offline_announced);
        let status = participant.status(now, room.active(id));
        if recovered {
            room.refresh_availability(participant, now);
            let summary = room.participant_summary(participant, now);
            room.publish(proto::RoomEventPayload::ParticipantUpdated(summary));
        }
        Ok(proto::HeartbeatResponse {
            success: true,
            status,
            last_seen: now,
        })
    }

    /// Checks a tunnel token without using it up.
    pub fn check_token(&self, room: &Room, id: &str, token: &str) -> bool {
        self.tokens().check(token, &room.record().id, id).is_ok()
    }

    /// Uses up a tunnel token.
    pub fn consume_token(&self, room: &Room, id: &str, token: &str) -> bool {
        self.tokens().consume(token, &room.record().id, id).is_ok()
    }

    /// The context a new tunnel session of this participant runs with.
    pub fn session_context(&self, room: &Room, id: &str) -> SessionContext {
        SessionContext {
            room_code: room.code().to_owned(),
            participant_id: id.to_owned(),
            clock: self.inner.clock,
            shutdown: self.inner.shutdown.child_token(),
            max_pending: self.inner.config.max_pending_per_tunnel,
            response_buffer: self.inner.config.response_buffer,
            malformed_frames: self.inner.malformed_frames.clone(),
        }
    }

    /// Makes `tunnel` the participant's tunnel, superseding any older one, and watches it
    /// so the participant goes offline when it closes.
    pub fn attach_tunnel(&self, room: &Arc<Room>, id: &str, tunnel: TunnelHandle) {
        let now = self.inner.clock.now_ms();
        {
            let mut state = room.lock();
            let Some(participant) = state.participants.get_mut(id) else {
                tunnel.close(proto::CLOSE_REMOVED, TunnelFailure::Removed);
                return;
            };
            if let Some(old) = participant.tunnel.replace(tunnel.clone()) {
                info!(room = %room.code(), participant = %id, "superseding older tunnel");
                old.close(proto::CLOSE_SUPERSEDED, TunnelFailure::Superseded);
            }
            participant.updated_at = now;
            room.refresh_availability(participant, now);
            let summary = room.participant_summary(participant, now);
            room.publish(proto::RoomEventPayload::ParticipantUpdated(summary));
        }
        let hub = self.clone();
        let room = room.clone();
        let id = id.to_owned();
        self.inner.tracker.spawn(async move {
            tunnel.closed().await;
            hub.detach_tunnel(&room, &id, tunnel.session_id());
        });
    }

    /// Forgets a closed tunnel if it is still the participant's current one.
    fn detach_tunnel(&self, room: &Room, id: &str, session_id: u64) {
        let now = self.inner.clock.now_ms();
        let mut state = room.lock();
        let Some(participant) = state.participants.get_mut(id) else {
            return;
        };
        if participant
            .tunnel
            .as_ref()
            .is_some_and(|tunnel| tunnel.session_id() == session_id)
        {
            participant.tunnel = None;
            participant.updated_at = now;
            room.refresh_availability(participant, now);
            let summary = room.participant_summary(participant, now);
            room.publish(proto::RoomEventPayload::ParticipantUpdated(summary));
        }
    }

    /// One liveness sweep: announces participants that missed their heartbeats and
    /// forgets expired tokens.
    pub fn sweep(&self) {
        let now = self.inner.clock.now_ms();
        for room in self.list_rooms() {
            let mut state = room.lock();
            for participant in state.participants.values_mut() {
                if participant.stale(now) && !participant.offline_announced {
                    participant.offline_announced = true;
                    room.refresh_availability(participant, now);
                    warn!(room = %room.code(), participant = %participant.id, "participant missed its heartbeats");
                    room.publish(proto::RoomEventPayload::ParticipantOffline(
                        proto::event::ParticipantRef {
                            participant_id: participant.id.clone(),
                        },
                    ));
                }
            }
        }
        self.tokens().purge_expired();
        self.responses()
            .purge(u64::try_from(now).unwrap_or_default());
    }
}

fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

/// A random secret for session credentials.
fn new_secret() -> String {
    random_string(ID_ALPHABET, 32)
}
