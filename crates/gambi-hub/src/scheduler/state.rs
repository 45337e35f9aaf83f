//! The scheduler's state and every decision it makes, as plain synchronous code.
//!
//! Everything here runs under the scheduler's mutex and does no I/O. Methods that change
//! what can be served are followed by [`State::dispatch`], which hands free slots to waiters
//! and returns the answers for the caller to send once the lock is released. After every
//! dispatch no waiter can be served, so a request that finds a free slot on arrival may take
//! it without jumping the queue.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use gambi_protocol as proto;
use rand::Rng;
use rand::rngs::StdRng;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::lease::Slot;
use super::{
    ClientKey, LeaseRequest, Outcome, ParticipantLoad, Presence, Reply, ScheduleError,
    SchedulerConfig, SchedulerSnapshot, Wanted,
};

/// Time a request is assumed to hold its slot until one has been seen to finish.
const ASSUMED_HOLD: Duration = Duration::from_secs(10);

/// Weight of the newest hold time in the running mean.
const HOLD_WEIGHT: f64 = 0.2;

/// What `admit` decided for a new request.
pub(super) enum Admission {
    /// It got a slot at once.
    Leased(Slot),
    /// It waits; the answer comes on `reply`.
    Queued {
        seq: u64,
        reply: oneshot::Receiver<Result<super::Lease, ScheduleError>>,
        enqueued_at: Instant,
    },
}

/// An answer for a waiter that has left the queue, to be sent without the lock.
pub(super) enum Delivery {
    Grant { reply: Reply, slot: Slot },
    Fail { reply: Reply, error: ScheduleError },
}

struct Participant {
    model: String,
    max: u32,
    active: u32,
    presence: Presence,
    generation: u64,
    fast_failures: u32,
    cooling_until: Option<Instant>,
}

impl Participant {
    fn has_free_slot(&self) -> bool {
        self.presence == Presence::Available && self.active < self.max
    }

    /// Whether it may serve soon: it is connected, or reconnecting.
    fn reachable(&self) -> bool {
        self.presence != Presence::Offline
    }

    fn cooling(&self, now: Instant) -> bool {
        self.cooling_until.is_some_and(|until| now < until)
    }
}

/// Which participants a request accepts.
struct Criteria {
    selector: proto::ModelSelector,
    exclude: HashSet<String>,
}

struct Waiter {
    criteria: Criteria,
    client: ClientKey,
    enqueued_at: Instant,
    reply: Reply,
}

/// What fairness remembers of a client with requests waiting or running.
#[derive(Default)]
struct ClientRecord {
    /// Value of the serve clock when it was last given a slot; 0 if never.
    last_served: u64,
    waiting: usize,
    leased: usize,
}

pub(super) struct State {
    config: SchedulerConfig,
    /// Ordered by id, so that seeded tie-breaking is reproducible.
    participants: BTreeMap<String, Participant>,
    next_generation: u64,
    /// Waiters by arrival order.
    waiters: BTreeMap<u64, Waiter>,
    next_seq: u64,
    /// Only clients with requests waiting or running, so this stays bounded.
    clients: HashMap<ClientKey, ClientRecord>,
    /// Counts slot grants; orders clients by how recently they were served.
    serve_clock: u64,
    rng: StdRng,
    /// Running mean of how long leases are held, for the `Retry-After` hint.
    mean_hold: Option<Duration>,
    closed: bool,
}

impl State {
    pub(super) fn new(config: SchedulerConfig, rng: StdRng) -> Self {
        Self {
            config,
            participants: BTreeMap::new(),
            next_generation: 0,
            waiters: BTreeMap::new(),
            next_seq: 0,
            clients: HashMap::new(),
            serve_clock: 0,
            rng,
            mean_hold: None,
            closed: false,
        }
    }

    pub(super) fn upsert(&mut self, id: &str, model: &str, max: u32) {
        if let Some(participant) = self.participants.get_mut(id) {
            participant.model = model.to_owned();
            participant.max = max;
            return;
        }
        self.next_generation += 1;
        self.participants.insert(
            id.to_owned(),
            Participant {
                model: model.to_owned(),
                max,
                active: 0,
                presence: Presence::Offline,
                generation: self.next_generation,
                fast_failures: 0,
                cooling_until: None,
            },
        );
    }

    pub(super) fn set_presence(&mut self, id: &str, presence: Presence) {
        if let Some(participant) = self.participants.get_mut(id) {
            participant.presence = presence;
        }
    }

    pub(super) fn remove(&mut self, id: &str) {
        self.participants.remove(id);
    }

    pub(super) fn close(&mut self) {
        self.closed = true;
    }

    /// Gives a new request a slot, queues it, or refuses it.
    pub(super) fn admit(
        &mut self,
        request: LeaseRequest,
        now: Instant,
    ) -> Result<Admission, ScheduleError> {
        if self.closed {
            return Err(ScheduleError::Closed);
        }
        let criteria = Criteria {
            selector: request.selector,
            exclude: request.exclude,
        };
        if !self.could_ever_serve(&criteria) {
            return Err(self.no_match(&criteria));
        }
        if let Some(id) = self.pick(&criteria, now) {
            return Ok(Admission::Leased(self.grant(id, request.client, now, now)));
        }
        if !self.could_serve_soon(&criteria) {
            return Err(self.offline(&criteria));
        }
        if self.waiters.len() >= self.config.queue_size {
            let retry_after = self.retry_after();
            tracing::debug!(queued = self.waiters.len(), ?retry_after, "queue full");
            return Err(ScheduleError::QueueFull { retry_after });
        }
        let (reply, receiver) = oneshot::channel();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.clients
            .entry(request.client.clone())
            .or_default()
            .waiting += 1;
        self.waiters.insert(
            seq,
            Waiter {
                criteria,
                client: request.client,
                enqueued_at: now,
                reply,
            },
        );
        Ok(Admission::Queued {
            seq,
            reply: receiver,
            enqueued_at: now,
        })
    }

    /// Takes a waiter out of the queue; false if it was no longer there.
    pub(super) fn withdraw(&mut self, seq: u64) -> bool {
        self.take_waiter(seq).is_some()
    }

    /// Frees a lease's slot and applies its outcome.
    pub(super) fn release(&mut self, slot: &Slot, outcome: Outcome, now: Instant) {
        if outcome != Outcome::FailedFast {
            self.record_hold(now.saturating_duration_since(slot.granted_at));
        }
        let threshold = self.config.fail_fast_threshold;
        let cool_down = self.config.cool_down;
        if let Some(participant) = self.current_incarnation(slot) {
            participant.active = participant.active.saturating_sub(1);
            match outcome {
                Outcome::Unreported => {}
                Outcome::Succeeded => {
                    participant.fast_failures = 0;
                    participant.cooling_until = None;
                }
                Outcome::FailedFast => {
                    participant.fast_failures = participant.fast_failures.saturating_add(1);
                    if threshold > 0 && participant.fast_failures >= threshold {
                        participant.cooling_until = Some(now + cool_down);
                        tracing::debug!(
                            participant = %slot.participant_id,
                            failures = participant.fast_failures,
                            "participant cooling down after fast failures"
                        );
                    }
                }
            }
        }
        self.forget_lease(&slot.client);
    }

    /// Frees a slot that was granted to a waiter which went away before receiving it. It
    /// never served anything, so it tells nothing about the participant.
    pub(super) fn release_undelivered(&mut self, slot: &Slot) {
        if let Some(participant) = self.current_incarnation(slot) {
            participant.active = participant.active.saturating_sub(1);
        }
        self.forget_lease(&slot.client);
    }

    /// Fails waiters that can no longer be served, then hands free slots to waiters, the
    /// least recently served client first, until no waiter can use any free slot.
    pub(super) fn dispatch(&mut self, now: Instant) -> Vec<Delivery> {
        let mut deliveries = Vec::new();
        let unservable: Vec<u64> = self
            .waiters
            .iter()
            .filter(|(_, waiter)| self.closed || !self.could_serve_soon(&waiter.criteria))
            .map(|(seq, _)| *seq)
            .collect();
        for seq in unservable {
            if let Some(waiter) = self.take_waiter(seq) {
                let error = if self.closed {
                    ScheduleError::Closed
                } else if !self.could_ever_serve(&waiter.criteria) {
                    self.no_match(&waiter.criteria)
                } else {
                    self.offline(&waiter.criteria)
                };
                deliveries.push(Delivery::Fail {
                    reply: waiter.reply,
                    error,
                });
            }
        }

        while let Some(seq) = self.next_servable_waiter() {
            let Some(waiter) = self.take_waiter(seq) else {
                break;
            };
            let Some(id) = self.pick(&waiter.criteria, now) else {
                // Cannot happen: the waiter was chosen because a free slot matches it.
                self.restore_waiter(seq, waiter);
                break;
            };
            let slot = self.grant(id, waiter.client, waiter.enqueued_at, now);
            deliveries.push(Delivery::Grant {
                reply: waiter.reply,
                slot,
            });
        }
        deliveries
    }

    pub(super) fn queue_len(&self) -> usize {
        self.waiters.len()
    }

    pub(super) fn participant(&self, id: &str, now: Instant) -> Option<ParticipantLoad> {
        self.participants
            .get_key_value(id)
            .map(|(id, participant)| load(id, participant, now))
    }

    pub(super) fn snapshot(&self, now: Instant) -> SchedulerSnapshot {
        SchedulerSnapshot {
            participants: self
                .participants
                .iter()
                .map(|(id, participant)| load(id, participant, now))
                .collect(),
            queued: self.waiters.len(),
        }
    }

    /// Takes a slot on `id` for `client`, bypassing every check.
    #[cfg(test)]
    pub(super) fn grant_for_test(&mut self, id: &str, client: ClientKey, now: Instant) -> Slot {
        self.grant(id.to_owned(), client, now, now)
    }

    fn grant(&mut self, id: String, client: ClientKey, enqueued_at: Instant, now: Instant) -> Slot {
        let (model, generation) = match self.participants.get_mut(&id) {
            Some(participant) => {
                participant.active += 1;
                (participant.model.clone(), participant.generation)
            }
            None => (String::new(), 0),
        };
        self.serve_clock += 1;
        let record = self.clients.entry(client.clone()).or_default();
        record.last_served = self.serve_clock;
        record.leased += 1;
        let queued = now.saturating_duration_since(enqueued_at);
        tracing::trace!(participant = %id, ?client, ?queued, "lease granted");
        Slot {
            participant_id: id,
            model,
            generation,
            client,
            granted_at: now,
            queued,
        }
    }

    /// Whether `id` is a participant `criteria` accepts, regardless of its load.
    fn accepts(&self, criteria: &Criteria, id: &str, participant: &Participant) -> bool {
        if criteria.exclude.contains(id) {
            return false;
        }
        match &criteria.selector {
            proto::ModelSelector::Any => true,
            proto::ModelSelector::Model(name) => participant.model == *name,
            proto::ModelSelector::IdOrModel(value) => {
                if self.participants.contains_key(value) {
                    id == value
                } else {
                    participant.model == *value
                }
            }
        }
    }

    /// Whether some registered participant, available or not, is accepted.
    fn could_ever_serve(&self, criteria: &Criteria) -> bool {
        self.participants
            .iter()
            .any(|(id, participant)| self.accepts(criteria, id, participant))
    }

    /// Whether some accepted participant is connected or reconnecting.
    fn could_serve_soon(&self, criteria: &Criteria) -> bool {
        self.participants.iter().any(|(id, participant)| {
            participant.reachable() && self.accepts(criteria, id, participant)
        })
    }

    /// The error for a request whose participants are registered but none is online.
    fn offline(&self, criteria: &Criteria) -> ScheduleError {
        ScheduleError::Offline {
            wanted: self.wanted(criteria),
        }
    }

    /// What `criteria` asks for, in the scheduler's words.
    fn wanted(&self, criteria: &Criteria) -> Wanted {
        match &criteria.selector {
            proto::ModelSelector::Any => Wanted::Any,
            proto::ModelSelector::Model(name) => Wanted::Model(name.clone()),
            proto::ModelSelector::IdOrModel(value) => {
                if self.participants.contains_key(value) {
                    Wanted::Participant(value.clone())
                } else if self.participants.values().any(|p| p.model == *value) {
                    Wanted::Model(value.clone())
                } else {
                    Wanted::ParticipantOrModel(value.clone())
                }
            }
        }
    }

    fn no_match(&self, criteria: &Criteria) -> ScheduleError {
        let wanted = self.wanted(criteria);
        let unrestricted = Criteria {
            selector: criteria.selector.clone(),
            exclude: HashSet::new(),
        };
        let excluded = !criteria.exclude.is_empty() && self.could_ever_serve(&unrestricted);
        ScheduleError::NoMatch { wanted, excluded }
    }

    /// The accepted participant with a free slot that should serve next: not cooling down
    /// if possible, then least loaded, then at random.
    fn pick(&mut self, criteria: &Criteria, now: Instant) -> Option<String> {
        let mut best: Vec<&String> = Vec::new();
        let mut best_rank: Option<Rank> = None;
        for (id, participant) in &self.participants {
            if !participant.has_free_slot() || !self.accepts(criteria, id, participant) {
                continue;
            }
            let rank = Rank {
                cooling: participant.cooling(now),
                active: participant.active,
                max: participant.max,
            };
            match best_rank.as_ref().map(|best| rank.cmp_to(best)) {
                Some(Ordering::Greater) => {}
                Some(Ordering::Equal) => best.push(id),
                Some(Ordering::Less) | None => {
                    best.clear();
                    best.push(id);
                    best_rank = Some(rank);
                }
            }
        }
        match best.len() {
            0 => None,
            1 => Some(best[0].clone()),
            n => Some(best[self.rng.random_range(0..n)].clone()),
        }
    }

    /// The waiter to serve next: among those that some free slot accepts, the one whose
    /// client was served least recently, the oldest of that client's first.
    fn next_servable_waiter(&self) -> Option<u64> {
        let free: Vec<(&String, &Participant)> = self
            .participants
            .iter()
            .filter(|(_, participant)| participant.has_free_slot())
            .collect();
        if free.is_empty() {
            return None;
        }
        self.waiters
            .iter()
            .filter(|(_, waiter)| {
                free.iter()
                    .any(|(id, participant)| self.accepts(&waiter.criteria, id, participant))
            })
            .min_by_key(|(seq, waiter)| {
                let last_served = self
                    .clients
                    .get(&waiter.client)
                    .map_or(0, |record| record.last_served);
                (last_served, **seq)
            })
            .map(|(seq, _)| *seq)
    }

    fn take_waiter(&mut self, seq: u64) -> Option<Waiter> {
        let waiter = self.waiters.remove(&seq)?;
        if let Some(record) = self.clients.get_mut(&waiter.client) {
            record.waiting = record.waiting.saturating_sub(1);
            if record.waiting == 0 && record.leased == 0 {
                self.clients.remove(&waiter.client);
            }
        }
        Some(waiter)
    }

    fn restore_waiter(&mut self, seq: u64, waiter: Waiter) {
        self.clients
            .entry(waiter.client.clone())
            .or_default()
            .waiting += 1;
        self.waiters.insert(seq, waiter);
    }

    fn forget_lease(&mut self, client: &ClientKey) {
        if let Some(record) = self.clients.get_mut(client) {
            record.leased = record.leased.saturating_sub(1);
            if record.waiting == 0 && record.leased == 0 {
                self.clients.remove(client);
            }
        }
    }

    fn current_incarnation(&mut self, slot: &Slot) -> Option<&mut Participant> {
        self.participants
            .get_mut(&slot.participant_id)
            .filter(|participant| participant.generation == slot.generation)
    }

    fn record_hold(&mut self, hold: Duration) {
        self.mean_hold = Some(match self.mean_hold {
            None => hold,
            Some(mean) => mean.mul_f64(1.0 - HOLD_WEIGHT) + hold.mul_f64(HOLD_WEIGHT),
        });
    }

    fn retry_after(&self) -> Duration {
        let slots: u64 = self
            .participants
            .values()
            .filter(|participant| participant.presence == Presence::Available)
            .map(|participant| u64::from(participant.max))
            .sum();
        retry_hint(
            self.mean_hold.unwrap_or(ASSUMED_HOLD),
            self.waiters.len(),
            slots,
            self.config.queue_timeout,
        )
    }
}

/// How long a client refused for a full queue should wait: about as long as the queue ahead
/// of it takes to drain (`backlog` requests of `mean_hold` each over `slots` slots), which
/// is what it would have waited had it been admitted. In whole seconds, at least one, at
/// most the queue timeout (a longer wait would have timed out anyway).
fn retry_hint(
    mean_hold: Duration,
    backlog: usize,
    slots: u64,
    queue_timeout: Duration,
) -> Duration {
    let backlog = u32::try_from(backlog).unwrap_or(u32::MAX);
    let slots = u32::try_from(slots.max(1)).unwrap_or(u32::MAX);
    let drain = mean_hold.saturating_mul(backlog) / slots;
    let whole_seconds = drain.as_secs() + u64::from(drain.subsec_nanos() > 0);
    let ceiling = queue_timeout.as_secs().max(1);
    Duration::from_secs(whole_seconds.clamp(1, ceiling))
}

/// How attractive a participant with a free slot is; smaller is better.
struct Rank {
    cooling: bool,
    active: u32,
    max: u32,
}

impl Rank {
    fn cmp_to(&self, other: &Self) -> Ordering {
        // Compare `active / max` exactly, by cross-multiplying.
        let load = u64::from(self.active) * u64::from(other.max);
        let other_load = u64::from(other.active) * u64::from(self.max);
        self.cooling.cmp(&other.cooling).then(load.cmp(&other_load))
    }
}

fn load(id: &str, participant: &Participant, now: Instant) -> ParticipantLoad {
    ParticipantLoad {
        id: id.to_owned(),
        model: participant.model.clone(),
        active: participant.active,
        max_concurrency: participant.max,
        available: participant.presence == Presence::Available,
        presence: participant.presence,
        cooling_down: participant.cooling(now),
    }
}

#[cfg(test)]
mod tests;
