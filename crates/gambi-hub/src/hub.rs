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
use tracing::{Instrument as _, info};

use crate::clock::Clock;
use crate::config::{HubConfig, Storage};
use crate::metrics::HubMetrics;
use crate::password::{HashError, PasswordHasherPool};
use crate::responses::ResponseRegistry;
use crate::room::{Expiry, ParticipantError, Registration, Room};
use crate::store::{RoomRecord, SqliteStore, Store, StoreError};
use crate::tunnel::{BufferGauge, SessionContext, TokenStore, TunnelHandle};

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
    /// The password could not be hashed.
    #[error("could not hash the room password: {0}")]
    Password(#[from] HashError),
    /// The room could not be stored.
    #[error("could not store the room: {0}")]
    Store(#[from] StoreError),
    /// The storage task panicked or was cancelled.
    #[error("the storage task failed: {0}")]
    Worker(#[from] tokio::task::JoinError),
    /// Every code drawn was taken.
    #[error("no free room code was found")]
    NoFreeCode,
}

/// The outcome of a registration.
#[derive(Debug)]
pub(crate) struct Registered {
    /// Whether the participant is new.
    pub(crate) created: bool,
    /// Its summary after the change.
    pub(crate) summary: proto::ParticipantSummary,
    /// A fresh tunnel token.
    pub(crate) token: String,
    /// The session credential.
    pub(crate) session_token: String,
    /// The tunnel extensions granted, when the runtime offered any.
    pub(crate) extensions: Option<proto::TunnelExtensions>,
}

struct HubInner {
    config: HubConfig,
    clock: Clock,
    store: Arc<dyn Store>,
    rooms: RwLock<Rooms>,
    tokens: Mutex<TokenStore>,
    passwords: PasswordHasherPool,
    shutdown: CancellationToken,
    /// Cancelled once the shutdown grace is over: what still runs is ended.
    stop: CancellationToken,
    in_flight: Arc<InFlight>,
    tracker: TaskTracker,
    malformed_frames: Arc<AtomicU64>,
    buffered: Arc<BufferGauge>,
    hub_events: broadcast::Sender<Arc<proto::RoomEvent>>,
    responses: Mutex<ResponseRegistry>,
    metrics: HubMetrics,
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
        let metrics = HubMetrics::new(config.metrics.labels);
        let mut rooms = Rooms::default();
        for record in store.load_rooms()? {
            let room_metrics = metrics.room(&record.code);
            let room = Arc::new(Room::new(
                record,
                clock,
                config.event_buffer,
                config.scheduler(),
                room_metrics,
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
                stop: CancellationToken::new(),
                in_flight: Arc::default(),
                tracker: TaskTracker::new(),
                malformed_frames: Arc::new(AtomicU64::new(0)),
                buffered: Arc::default(),
                hub_events,
                responses: Mutex::new(ResponseRegistry::default()),
                metrics,
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

    /// The hub-wide shutdown signal: from then on the hub takes no new requests.
    pub(crate) fn shutdown_token(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Cancelled when the shutdown grace is over: tunnels close, and requests still in
    /// flight end.
    pub(crate) fn stop_token(&self) -> &CancellationToken {
        &self.inner.stop
    }

    /// Whether shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Counts an inference request in flight until the guard is dropped.
    pub(crate) fn request_in_flight(&self) -> InFlightGuard {
        self.inner.in_flight.enter()
    }

    /// Resolves once no inference request is in flight. Cancel safe.
    pub(crate) async fn requests_done(&self) {
        self.inner.in_flight.idle().await;
    }

    /// Owner of every task the hub spawns.
    pub(crate) fn tracker(&self) -> &TaskTracker {
        &self.inner.tracker
    }

    /// Response body bytes held for readers, hub-wide: now and at most.
    pub fn buffered_bytes(&self) -> &BufferGauge {
        &self.inner.buffered
    }

    /// The metrics' room labels.
    pub(crate) fn metrics(&self) -> &HubMetrics {
        &self.inner.metrics
    }

    /// Inference requests in flight now.
    pub(crate) fn requests_in_flight(&self) -> usize {
        self.inner
            .in_flight
            .count
            .load(std::sync::atomic::Ordering::Relaxed)
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
    pub(crate) fn responses(&self) -> std::sync::MutexGuard<'_, ResponseRegistry> {
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
    pub(crate) fn list_rooms(&self) -> Vec<Arc<Room>> {
        self.rooms().in_order.clone()
    }

    /// Current subscribers of the hub-wide events.
    pub(crate) fn hub_subscriber_count(&self) -> usize {
        self.inner.hub_events.receiver_count()
    }

    /// Subscribes to hub-wide events (`room.created`).
    pub(crate) fn subscribe_hub(&self) -> broadcast::Receiver<Arc<proto::RoomEvent>> {
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
            Some(password) => Some(self.inner.passwords.hash(password).await?),
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
            .await??;
            if !stored {
                continue;
            }
            let room_metrics = self.inner.metrics.room(&record.code);
            let room = Arc::new(Room::new(
                record,
                self.inner.clock,
                self.inner.config.event_buffer,
                self.inner.config.scheduler(),
                room_metrics,
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
        Err(CreateRoomError::NoFreeCode)
    }

    /// Whether `presented` is the room's password (always true for open rooms).
    pub async fn check_password(&self, room: &Room, presented: Option<&str>) -> bool {
        let Some(hash) = room.record().password_hash.clone() else {
            return true;
        };
        let Some(presented) = presented.filter(|password| !password.is_empty()) else {
            return false;
        };
        if room.verified_password().matches(presented) {
            return true;
        }
        let ok = self
            .inner
            .passwords
            .verify(presented.to_owned(), hash)
            .await;
        if ok {
            room.verified_password().remember(presented);
        }
        ok
    }

    /// Registers a participant or updates its registration (see [`Room::upsert`]), and
    /// mints a tunnel token for it.
    pub(crate) fn upsert_participant(
        &self,
        room: &Room,
        id: &str,
        registration: Registration,
        session_token: Option<&str>,
    ) -> Result<Registered, ParticipantError> {
        let limit = self.inner.config.max_participants_per_room;
        let granted = registration
            .tunnel_extensions
            .map(|offer| self.inner.config.grant(offer));
        let upserted = room.upsert(id, registration, session_token, limit, new_secret)?;
        let mut tokens = self.tokens();
        if upserted.reclaimed {
            tokens.revoke_participant(&room.record().id, id);
        }
        let token = tokens.mint(&room.record().id, id, granted.unwrap_or_default());
        drop(tokens);
        Ok(Registered {
            created: upserted.created,
            summary: upserted.summary,
            token,
            session_token: upserted.session_token,
            extensions: granted,
        })
    }

    /// Removes a participant (see [`Room::remove`]) and voids its tunnel tokens.
    pub(crate) fn remove_participant(
        &self,
        room: &Room,
        id: &str,
        session_token: Option<&str>,
    ) -> Result<(), ParticipantError> {
        room.remove(id, session_token)?;
        self.tokens().revoke_participant(&room.record().id, id);
        Ok(())
    }

    /// Checks a tunnel token without using it up.
    pub(crate) fn check_token(&self, room: &Room, id: &str, token: &str) -> bool {
        self.tokens().check(token, &room.record().id, id).is_ok()
    }

    /// Uses up a tunnel token; returns the extensions its tunnel speaks.
    pub(crate) fn consume_token(
        &self,
        room: &Room,
        id: &str,
        token: &str,
    ) -> Option<proto::TunnelExtensions> {
        self.tokens().consume(token, &room.record().id, id).ok()
    }

    /// The context a new tunnel session of this participant runs with.
    pub(crate) fn session_context(
        &self,
        room: &Room,
        id: &str,
        extensions: proto::TunnelExtensions,
    ) -> SessionContext {
        let config = &self.inner.config;
        SessionContext {
            room_code: room.code().to_owned(),
            participant_id: id.to_owned(),
            clock: self.inner.clock,
            shutdown: self.inner.stop.child_token(),
            max_pending: config.max_pending_per_tunnel,
            stream_buffer: config.stream_buffer,
            slow_client_grace: config.slow_client_grace,
            extensions,
            malformed_frames: self.inner.malformed_frames.clone(),
            buffered: self.inner.buffered.clone(),
        }
    }

    /// Makes `tunnel` the participant's tunnel (see [`Room::attach_tunnel`]) and watches it,
    /// so the participant goes offline when it closes.
    pub(crate) fn attach_tunnel(&self, room: &Arc<Room>, id: &str, tunnel: TunnelHandle) {
        if !room.attach_tunnel(id, &tunnel) {
            return;
        }
        let room = room.clone();
        let id = id.to_owned();
        let span = tracing::info_span!("tunnel_watch", room = %room.code(), participant = %id);
        self.inner.tracker.spawn(
            async move {
                tunnel.closed().await;
                room.detach_tunnel(&id, tunnel.session_id());
            }
            .instrument(span),
        );
    }

    /// One liveness sweep: removes participants that stayed without a tunnel too long,
    /// announces participants that missed their heartbeats, and forgets expired tokens and
    /// responses.
    pub(crate) fn sweep(&self) {
        let now = self.inner.clock.now_ms();
        let expiry = Expiry {
            unattached_ms: duration_ms(proto::TUNNEL_TOKEN_TTL),
            offline_ms: duration_ms(self.inner.config.remove_offline_after),
        };
        for room in self.list_rooms() {
            let removed = room.sweep(now, expiry);
            if !removed.is_empty() {
                let mut tokens = self.tokens();
                for id in &removed {
                    tokens.revoke_participant(&room.record().id, id);
                }
            }
        }
        self.tokens().purge_expired();
        self.responses()
            .purge(u64::try_from(now).unwrap_or_default());
    }
}

/// `duration` in whole milliseconds, as the hub's clock counts.
fn duration_ms(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
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

/// Inference requests in flight, so that shutdown can wait for them.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    count: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        self.count.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        InFlightGuard(self.clone())
    }

    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            if self.count.load(std::sync::atomic::Ordering::Acquire) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// One inference request in flight; dropping it counts the request out.
#[derive(Debug)]
pub(crate) struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if self
            .0
            .count
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.0.idle.notify_waiters();
        }
    }
}
