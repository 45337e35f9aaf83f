//! The room scheduler: which participant serves an inference request, and when.
//!
//! The original hub gave each participant exactly one request at a time and answered every
//! other client at once with an error, so a room of ten people sharing three GPUs mostly saw
//! errors. The scheduler exists to serve them instead. It hands out **leases**: a lease is one
//! of a participant's `max_concurrency` slots, held by one request for as long as the request
//! runs. When no eligible participant has a free slot, the request waits in the room's bounded
//! queue, up to a timeout, and is served fairly across clients when a slot frees.
//!
//! Routing rules, in order of precedence:
//! - only *available* participants (tunnel connected, heartbeats fresh) get leases, and never
//!   more leases than they have slots;
//! - a request waits only while some participant that could serve it is available or
//!   *reconnecting* (its tunnel dropped moments ago); when every such participant is
//!   offline it fails at once with [`ScheduleError::Offline`] rather than waiting for the
//!   queue timeout;
//! - a participant that recently failed fast several times in a row is *cooling down* and is
//!   used only when nothing else eligible has a free slot;
//! - among the rest, the least loaded participant wins (`active / max_concurrency`), ties
//!   broken at random.
//!
//! A [`Lease`] frees its slot when dropped, whatever the reason: completion, error, client
//! disconnect or an early return. The freed slot goes straight to the next suitable waiter.
//! A waiting [`Scheduler::acquire`] future that is dropped leaves the queue at once.
//!
//! The scheduler knows nothing of HTTP or tunnels. The hub tells it which participants exist
//! ([`Scheduler::upsert`], [`Scheduler::set_available`], [`Scheduler::remove`]) and asks it for
//! leases. All state sits behind one `std::sync::Mutex` that is never held across an `.await`;
//! time is `tokio::time`, so tests run on a paused clock.
//!
//! ```
//! # async fn handler(scheduler: gambi_hub::scheduler::Scheduler) {
//! use gambi_hub::scheduler::{ClientKey, LeaseRequest, ScheduleError};
//! use gambi_protocol as proto;
//!
//! let selector = proto::ModelSelector::parse("llama3");
//! let client = ClientKey::ip([127, 0, 0, 1].into());
//! match scheduler.acquire(LeaseRequest::new(selector, client)).await {
//!     Ok(mut lease) => {
//!         // Forward the request to `lease.participant_id()` down its tunnel; hold the lease
//!         // until the response has been streamed, then report how it went.
//!         lease.succeed();
//!     } // The lease is dropped here and its slot goes to the next waiter.
//!     Err(ScheduleError::QueueFull { retry_after }) => { /* 503 + Retry-After */ }
//!     Err(error) => { /* map error.code() to a status */ }
//! }
//! # }
//! ```

mod client;
mod error;
mod lease;
mod state;

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use gambi_protocol as proto;
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::sync::oneshot;
use tokio::time::Instant;

pub use client::ClientKey;
pub use error::{ScheduleError, Wanted};
pub use lease::{Lease, Outcome};

use lease::Slot;
use state::{Admission, Delivery, State};

/// Requests a room's queue holds by default before answering `QueueFull`.
pub const DEFAULT_QUEUE_SIZE: usize = 256;

/// How long a request waits in the queue by default before failing with `QueueTimeout`.
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(60);

/// Consecutive fast failures after which a participant cools down, by default.
pub const DEFAULT_FAIL_FAST_THRESHOLD: u32 = 2;

/// How long a cool-down lasts by default.
pub const DEFAULT_COOL_DOWN: Duration = Duration::from_secs(10);

/// Tunable limits of one room's scheduler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerConfig {
    /// Most requests that may wait at once; `0` turns queueing off (busy means `QueueFull`).
    pub queue_size: usize,
    /// Longest a request waits for a slot before failing with `QueueTimeout`.
    pub queue_timeout: Duration,
    /// Consecutive fast failures that start a cool-down; `0` turns cool-downs off.
    pub fail_fast_threshold: u32,
    /// How long a participant is avoided after `fail_fast_threshold` fast failures.
    pub cool_down: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            queue_size: DEFAULT_QUEUE_SIZE,
            queue_timeout: DEFAULT_QUEUE_TIMEOUT,
            fail_fast_threshold: DEFAULT_FAIL_FAST_THRESHOLD,
            cool_down: DEFAULT_COOL_DOWN,
        }
    }
}

/// What one inference request asks the scheduler for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRequest {
    /// Which participants may serve it, from the request's `model` string.
    pub selector: proto::ModelSelector,
    /// Who sent it, for fairness between clients.
    pub client: ClientKey,
    /// Participants that must not serve it (those that already failed it, when failing over).
    pub exclude: HashSet<String>,
}

impl LeaseRequest {
    /// A request for `selector` on behalf of `client`, excluding nobody.
    pub fn new(selector: proto::ModelSelector, client: ClientKey) -> Self {
        Self {
            selector,
            client,
            exclude: HashSet::new(),
        }
    }

    /// The same request, with the given participants excluded as well.
    ///
    /// For failover: retry on another participant after one failed fast, until the
    /// scheduler answers `NoMatch { excluded: true, .. }`.
    ///
    /// ```
    /// # use gambi_hub::scheduler::{Lease, LeaseRequest, ScheduleError, Scheduler};
    /// # async fn forward(lease: &Lease) -> Result<(), ()> { Ok(()) }
    /// # async fn failover(scheduler: Scheduler, request: LeaseRequest) -> Result<(), ScheduleError> {
    /// let mut tried = Vec::new();
    /// loop {
    ///     let mut lease = scheduler
    ///         .acquire(request.clone().excluding(tried.iter().cloned()))
    ///         .await?;
    ///     match forward(&lease).await {
    ///         Ok(()) => break lease.succeed(),
    ///         Err(()) => {
    ///             lease.fail_fast();
    ///             tried.push(lease.participant_id().to_owned());
    ///         }
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn excluding<I, S>(mut self, participant_ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exclude
            .extend(participant_ids.into_iter().map(Into::into));
        self
    }
}

/// Whether a participant can take requests, as the hub tells the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Tunnel connected and heartbeats fresh: it gets leases.
    Available,
    /// Not available now, but expected back soon (its tunnel dropped within the liveness
    /// window): requests for it wait in the queue.
    Reconnecting,
    /// Gone: requests that only it could serve fail at once.
    Offline,
}

/// One participant as the scheduler sees it, for summaries, `/models` and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantLoad {
    /// Participant id.
    pub id: String,
    /// Model it serves.
    pub model: String,
    /// Leases it holds right now (may briefly exceed `max_concurrency` after a decrease).
    pub active: u32,
    /// Slots it has.
    pub max_concurrency: u32,
    /// Whether it gets new leases (tunnel connected, heartbeats fresh).
    pub available: bool,
    /// Its presence, of which `available` is the first case.
    pub presence: Presence,
    /// Whether it is avoided after recent fast failures.
    pub cooling_down: bool,
}

/// A consistent picture of a room's scheduler at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerSnapshot {
    /// Every registered participant, ordered by id.
    pub participants: Vec<ParticipantLoad>,
    /// Requests waiting for a slot.
    pub queued: usize,
}

/// One room's scheduler. Cheap to clone: clones share the same state.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.snapshot();
        f.debug_struct("Scheduler")
            .field("participants", &snapshot.participants.len())
            .field("queued", &snapshot.queued)
            .finish()
    }
}

impl Default for Scheduler {
    fn default() -> Self {
        Self::new(SchedulerConfig::default())
    }
}

impl Scheduler {
    /// A scheduler with no participants, breaking ties with an RNG seeded from the OS.
    pub fn new(config: SchedulerConfig) -> Self {
        Self::with_rng(config, StdRng::from_rng(&mut rand::rng()))
    }

    /// A scheduler whose random tie-breaking is reproducible: the same seed and the same
    /// calls make the same choices.
    pub fn with_seed(config: SchedulerConfig, seed: u64) -> Self {
        Self::with_rng(config, StdRng::seed_from_u64(seed))
    }

    fn with_rng(config: SchedulerConfig, rng: StdRng) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue_timeout: config.queue_timeout,
                state: Mutex::new(State::new(config, rng)),
            }),
        }
    }

    /// Registers a participant, or updates one that is already registered.
    ///
    /// A new participant starts *unavailable*: call [`Scheduler::set_available`] when its
    /// tunnel connects. An existing one keeps its availability, its running leases and its
    /// cool-down. `max_concurrency` is clamped to `1..=`[`proto::MAX_CONCURRENCY_LIMIT`]; pass
    /// [`proto::DEFAULT_MAX_CONCURRENCY`] for a participant that declared none. Lowering it
    /// while requests run is safe: they finish, and no new lease is given until `active` is
    /// below the new value. Changing the model may fail waiters that can no longer be served.
    pub fn upsert(&self, id: &str, model: &str, max_concurrency: u32) {
        let max = max_concurrency.clamp(1, proto::MAX_CONCURRENCY_LIMIT);
        self.shared.mutate(|state, _| state.upsert(id, model, max));
    }

    /// Says whether a participant may get new leases (its tunnel is connected and its
    /// heartbeats are fresh). Leases it holds are unaffected and free their slots when
    /// dropped. Unknown ids are ignored.
    pub fn set_available(&self, id: &str, available: bool) {
        let presence = if available {
            Presence::Available
        } else {
            Presence::Offline
        };
        self.set_presence(id, presence);
    }

    /// Says whether a participant may get new leases, and if not whether requests should
    /// wait for it ([`Presence::Reconnecting`]) or give up on it ([`Presence::Offline`]).
    /// Waiters that only offline participants could serve fail at once. Unknown ids are
    /// ignored.
    pub fn set_presence(&self, id: &str, presence: Presence) {
        self.shared
            .mutate(|state, _| state.set_presence(id, presence));
    }

    /// Forgets a participant. Its running leases end without effect on anyone; requests
    /// waiting that no remaining participant could ever serve fail with `NoMatch` at once.
    /// Unknown ids are ignored.
    pub fn remove(&self, id: &str) {
        self.shared.mutate(|state, _| state.remove(id));
    }

    /// Closes the scheduler (the room is going away): every waiting request and every later
    /// `acquire` fails with [`ScheduleError::Closed`]. Running leases are unaffected.
    pub fn close(&self) {
        self.shared.mutate(|state, _| state.close());
    }

    /// Waits for a slot on a participant that can serve `request`.
    ///
    /// Returns at once with a lease when an eligible participant has a free slot, or with
    /// [`ScheduleError::NoMatch`] when no registered participant could ever serve it, or
    /// with [`ScheduleError::Offline`] when those that could are all offline; fails
    /// with [`ScheduleError::QueueFull`] when it would have to wait and the queue is full;
    /// otherwise waits, fairly across clients, up to the configured queue timeout.
    ///
    /// Cancel safe: dropping the future removes the request from the queue, and a lease that
    /// was being handed to it is passed on to the next waiter. The future owns what it needs,
    /// so it can be spawned.
    pub fn acquire(
        &self,
        request: LeaseRequest,
    ) -> impl Future<Output = Result<Lease, ScheduleError>> + Send + 'static {
        let shared = Arc::clone(&self.shared);
        async move {
            let admission = shared.lock().admit(request, Instant::now());
            let (seq, mut reply, enqueued_at) = match admission? {
                Admission::Leased(slot) => return Ok(Lease::new(shared, slot)),
                Admission::Queued {
                    seq,
                    reply,
                    enqueued_at,
                } => (seq, reply, enqueued_at),
            };
            // Declared after `reply`, so dropped before it: a cancelled waiter leaves the
            // queue first, then any lease already sent to it is dropped and passed on.
            let mut waiter = WaiterGuard {
                shared: Arc::clone(&shared),
                seq,
                queued: true,
            };
            let deadline = enqueued_at + shared.queue_timeout;
            match tokio::time::timeout_at(deadline, &mut reply).await {
                Ok(Ok(result)) => {
                    waiter.queued = false;
                    result
                }
                Ok(Err(_)) => {
                    // The scheduler always answers before letting go of a waiter; this is
                    // unreachable in practice and treated like a closed room.
                    waiter.queued = false;
                    Err(ScheduleError::Closed)
                }
                Err(_) => {
                    if !waiter.withdraw() {
                        // A lease (or an error) was sent to us just as time ran out: take it.
                        if let Ok(result) = reply.try_recv() {
                            return result;
                        }
                    }
                    Err(ScheduleError::QueueTimeout {
                        waited: Instant::now().saturating_duration_since(enqueued_at),
                    })
                }
            }
        }
    }

    /// Requests waiting for a slot.
    pub fn queue_len(&self) -> usize {
        self.shared.lock().queue_len()
    }

    /// One participant's load, if it is registered.
    pub fn participant(&self, id: &str) -> Option<ParticipantLoad> {
        self.shared.lock().participant(id, Instant::now())
    }

    /// Every participant's load and the queue length, taken at one moment.
    pub fn snapshot(&self) -> SchedulerSnapshot {
        self.shared.lock().snapshot(Instant::now())
    }
}

/// What the handles, leases and waiters of one scheduler share.
struct Shared {
    queue_timeout: Duration,
    state: Mutex<State>,
}

impl Shared {
    /// Locks the state. A panic while it was held cannot leave it half-updated in a way that
    /// matters more than refusing every later request would, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` under the lock, re-dispatches waiters, then answers them outside it.
    fn mutate(self: &Arc<Self>, change: impl FnOnce(&mut State, Instant)) {
        let deliveries = {
            let mut state = self.lock();
            let now = Instant::now();
            change(&mut state, now);
            state.dispatch(now)
        };
        self.deliver(deliveries);
    }

    /// Frees a lease's slot and hands it on.
    fn release(self: &Arc<Self>, slot: &Slot, outcome: Outcome) {
        self.mutate(|state, now| state.release(slot, outcome, now));
    }

    /// Answers waiters that the state removed from the queue. Runs without the lock, because
    /// a lease that cannot be delivered is released, which takes the lock again.
    fn deliver(self: &Arc<Self>, mut deliveries: Vec<Delivery>) {
        while !deliveries.is_empty() {
            let mut undelivered = Vec::new();
            for delivery in deliveries.drain(..) {
                match delivery {
                    Delivery::Grant { reply, slot } => {
                        let lease = Lease::new(Arc::clone(self), slot);
                        if let Err(Ok(lease)) = reply.send(Ok(lease)) {
                            undelivered.push(lease.disarm());
                        }
                    }
                    Delivery::Fail { reply, error } => {
                        // A waiter that has gone away needs no answer.
                        let _ = reply.send(Err(error));
                    }
                }
            }
            if undelivered.is_empty() {
                break;
            }
            // The waiter went away after leaving the queue: release its slot again, in this
            // loop rather than by recursion through `Lease::drop`.
            let mut state = self.lock();
            let now = Instant::now();
            for slot in &undelivered {
                state.release_undelivered(slot);
            }
            deliveries = state.dispatch(now);
        }
    }
}

/// The reply channel of one waiter.
type Reply = oneshot::Sender<Result<Lease, ScheduleError>>;

/// Takes a waiter out of the queue when its `acquire` future ends without an answer.
struct WaiterGuard {
    shared: Arc<Shared>,
    seq: u64,
    queued: bool,
}

impl WaiterGuard {
    /// Leaves the queue; false if the waiter had already been taken out to be answered.
    fn withdraw(&mut self) -> bool {
        self.queued = false;
        self.shared.lock().withdraw(self.seq)
    }
}

impl Drop for WaiterGuard {
    fn drop(&mut self) {
        if self.queued {
            self.withdraw();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scheduler() -> Scheduler {
        let scheduler = Scheduler::with_seed(SchedulerConfig::default(), 7);
        scheduler.upsert("a", "m", 1);
        scheduler.set_available("a", true);
        scheduler
    }

    fn request() -> LeaseRequest {
        LeaseRequest::new(proto::ModelSelector::Any, ClientKey::named("c"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_whose_waiter_has_gone_is_released_and_passed_on() {
        let scheduler = scheduler();
        let held = scheduler.acquire(request()).await.expect("free slot");
        let mut next = Box::pin(scheduler.acquire(request()));
        assert!(futures::poll!(&mut next).is_pending());

        // A waiter that left the queue but whose receiver is already gone: the grant
        // cannot be delivered.
        let (reply, receiver) = oneshot::channel();
        drop(receiver);
        let slot = {
            let mut state = scheduler.shared.lock();
            state.grant_for_test("a", ClientKey::named("gone"), Instant::now())
        };
        assert_eq!(scheduler.participant("a").map(|p| p.active), Some(2));
        scheduler
            .shared
            .deliver(vec![Delivery::Grant { reply, slot }]);
        assert_eq!(scheduler.participant("a").map(|p| p.active), Some(1));

        drop(held);
        let lease = next.await.expect("passed on");
        assert_eq!(lease.participant_id(), "a");
        drop(lease);
        assert_eq!(scheduler.participant("a").map(|p| p.active), Some(0));
    }
}
