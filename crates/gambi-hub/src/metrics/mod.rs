//! Prometheus metrics of the hub, served at `/metrics` in the OpenMetrics text format.
//!
//! Counters and histograms live in atomics updated where the events they count already
//! happen (the `llm.*` events in `inference/log.rs`, a tunnel attaching), never on the
//! per-token path. Gauges (queue depth, slots, participants by state, subscribers) are read
//! from the hub's state at scrape time, by the route (`crate::scrape`).
//! `prometheus-client` writes the exposition (`exposition.rs`).
//!
//! Label cardinality is bounded:
//! - `room`: a room's code, for the first [`LabelLimits::rooms`] rooms the hub keeps; the
//!   rooms after them share the label [`OTHER_ROOMS`].
//! - `participant` and `model`: a participant's id and the model it registered (never the
//!   `model` string a client sent), for the first [`LabelLimits::series_per_room`] pairs a
//!   room served; later pairs share [`OTHER_PARTICIPANTS`]. Requests that no participant
//!   was chosen for carry [`NO_PARTICIPANT`]. These values contain a space, which no
//!   participant id may, so they never collide with one.
//! - `protocol`: `openResponses` or `chatCompletions` (what the client used).
//! - `outcome`: `complete`, or the stage of the `llm.error`: `routing`, `dispatch`,
//!   `stream`, `cancelled`.

mod exposition;
mod histogram;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use gambi_protocol as proto;
use indexmap::IndexMap;
use proto::LlmProtocol;

pub use exposition::CONTENT_TYPE;
pub(crate) use exposition::{Gauges, RoomGauges, render};
use histogram::{Histogram, LATENCY_BUCKETS, QUEUE_BUCKETS};

/// The `room` label of the rooms past [`LabelLimits::rooms`].
pub const OTHER_ROOMS: &str = "(other rooms)";
/// The `participant` (and `model`) label of the pairs past [`LabelLimits::series_per_room`].
pub const OTHER_PARTICIPANTS: &str = "(other participants)";
/// The `participant` (and `model`) label of requests no participant was chosen for.
pub const NO_PARTICIPANT: &str = "(no participant)";

/// How many distinct label values the metrics keep; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelLimits {
    /// Rooms with a `room` label of their own.
    pub rooms: usize,
    /// `(participant, model)` pairs with labels of their own, per room.
    pub series_per_room: usize,
}

impl Default for LabelLimits {
    fn default() -> Self {
        Self {
            rooms: 100,
            series_per_room: 50,
        }
    }
}

/// How a request attempt ended, as the `outcome` label says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `llm.complete`.
    Complete,
    /// `llm.error` at stage `routing`.
    Routing,
    /// `llm.error` at stage `dispatch`.
    Dispatch,
    /// `llm.error` at stage `stream`.
    Stream,
    /// `llm.error` at stage `cancelled`.
    Cancelled,
}

impl Outcome {
    const ALL: [Self; 5] = [
        Self::Complete,
        Self::Routing,
        Self::Dispatch,
        Self::Stream,
        Self::Cancelled,
    ];

    /// The outcome of an `llm.error` at `stage`.
    pub(crate) fn of_stage(stage: &str) -> Self {
        match stage {
            proto::event::stage::ROUTING => Self::Routing,
            proto::event::stage::DISPATCH => Self::Dispatch,
            proto::event::stage::CANCELLED => Self::Cancelled,
            _ => Self::Stream,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Routing => proto::event::stage::ROUTING,
            Self::Dispatch => proto::event::stage::DISPATCH,
            Self::Stream => proto::event::stage::STREAM,
            Self::Cancelled => proto::event::stage::CANCELLED,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const PROTOCOLS: [LlmProtocol; 2] = [LlmProtocol::OpenResponses, LlmProtocol::ChatCompletions];

fn protocol_index(protocol: LlmProtocol) -> usize {
    match protocol {
        LlmProtocol::OpenResponses => 0,
        LlmProtocol::ChatCompletions => 1,
    }
}

/// The counters of one `(room, participant, model)`.
#[derive(Debug)]
pub(crate) struct Series {
    participant: String,
    model: String,
    /// Attempts by client protocol and outcome.
    requests: [[AtomicU64; Outcome::ALL.len()]; PROTOCOLS.len()],
    input_tokens: AtomicU64,
    output_tokens: AtomicU64,
    ttft: Histogram,
    duration: Histogram,
}

impl Series {
    fn new(participant: &str, model: &str) -> Self {
        Self {
            participant: participant.to_owned(),
            model: model.to_owned(),
            requests: Default::default(),
            input_tokens: AtomicU64::new(0),
            output_tokens: AtomicU64::new(0),
            ttft: Histogram::new(LATENCY_BUCKETS),
            duration: Histogram::new(LATENCY_BUCKETS),
        }
    }

    /// Counts an attempt that ended with `outcome`.
    pub(crate) fn count(&self, protocol: LlmProtocol, outcome: Outcome) {
        self.requests[protocol_index(protocol)][outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an attempt that completed with `metrics`.
    pub(crate) fn complete(&self, protocol: LlmProtocol, metrics: &proto::LlmMetrics) {
        self.count(protocol, Outcome::Complete);
        if let Some(tokens) = metrics.input_tokens {
            self.input_tokens.fetch_add(tokens, Ordering::Relaxed);
        }
        if let Some(tokens) = metrics.output_tokens {
            self.output_tokens.fetch_add(tokens, Ordering::Relaxed);
        }
        if let Some(ttft) = metrics.ttft_ms {
            self.ttft.observe_ms(ttft);
        }
        self.duration.observe_ms(metrics.duration_ms);
    }
}

/// A `(participant, model)` key looked up without copying its strings: it hashes and
/// compares as the owned pair does.
#[derive(Hash)]
struct PairRef<'a>(&'a str, &'a str);

impl indexmap::Equivalent<(String, String)> for PairRef<'_> {
    fn equivalent(&self, key: &(String, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

/// The metrics of one room label: a room, or every room past the limit together.
#[derive(Debug)]
pub(crate) struct RoomMetrics {
    label: String,
    limit: usize,
    series: Mutex<IndexMap<(String, String), Arc<Series>>>,
    other: Arc<Series>,
    unrouted: Arc<Series>,
    queue_wait: Histogram,
    tunnel_reconnects: AtomicU64,
}

impl RoomMetrics {
    fn new(label: &str, limit: usize) -> Self {
        Self {
            label: label.to_owned(),
            limit,
            series: Mutex::new(IndexMap::new()),
            other: Arc::new(Series::new(OTHER_PARTICIPANTS, OTHER_PARTICIPANTS)),
            unrouted: Arc::new(Series::new(NO_PARTICIPANT, NO_PARTICIPANT)),
            queue_wait: Histogram::new(QUEUE_BUCKETS),
            tunnel_reconnects: AtomicU64::new(0),
        }
    }

    /// The `room` label.
    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    /// The counters of requests served by `participant` with its registered `model`: its
    /// own while the room has labels left, else the shared [`OTHER_PARTICIPANTS`] ones.
    pub(crate) fn series(&self, participant: &str, model: &str) -> Arc<Series> {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = series.get(&PairRef(participant, model)) {
            return found.clone();
        }
        if series.len() >= self.limit {
            return self.other.clone();
        }
        let new = Arc::new(Series::new(participant, model));
        series.insert((participant.to_owned(), model.to_owned()), new.clone());
        new
    }

    /// The counters of requests no participant was chosen for.
    pub(crate) fn unrouted(&self) -> &Series {
        &self.unrouted
    }

    /// Counts a wait in the queue (zero for a request that found a free slot).
    pub(crate) fn queued(&self, wait: Duration) {
        self.queue_wait.observe(wait);
    }

    /// Counts a participant's tunnel opened after an earlier one of its registration.
    pub(crate) fn tunnel_reconnected(&self) {
        self.tunnel_reconnects.fetch_add(1, Ordering::Relaxed);
    }

    /// Every series with counts, in a stable order.
    fn all_series(&self) -> Vec<Arc<Series>> {
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series
            .values()
            .cloned()
            .chain([self.other.clone(), self.unrouted.clone()])
            .collect()
    }
}

/// The hub's room labels: who gets one of their own.
#[derive(Debug)]
pub(crate) struct HubMetrics {
    limits: LabelLimits,
    rooms: Mutex<IndexMap<String, Arc<RoomMetrics>>>,
    other_rooms: Arc<RoomMetrics>,
}

impl HubMetrics {
    pub(crate) fn new(limits: LabelLimits) -> Self {
        Self {
            limits,
            rooms: Mutex::new(IndexMap::new()),
            other_rooms: Arc::new(RoomMetrics::new(OTHER_ROOMS, limits.series_per_room)),
        }
    }

    /// The metrics of the room `code`: its own while the hub has room labels left, else
    /// the shared [`OTHER_ROOMS`] ones.
    pub(crate) fn room(&self, code: &str) -> Arc<RoomMetrics> {
        let mut rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = rooms.get(code) {
            return found.clone();
        }
        if rooms.len() >= self.limits.rooms {
            return self.other_rooms.clone();
        }
        let new = Arc::new(RoomMetrics::new(code, self.limits.series_per_room));
        rooms.insert(code.to_owned(), new.clone());
        new
    }

    /// Every room label's metrics, in a stable order.
    fn all_rooms(&self) -> Vec<Arc<RoomMetrics>> {
        let rooms = self.rooms.lock().unwrap_or_else(PoisonError::into_inner);
        rooms
            .values()
            .cloned()
            .chain([self.other_rooms.clone()])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded_with_a_shared_bucket() {
        let hub = HubMetrics::new(LabelLimits {
            rooms: 2,
            series_per_room: 2,
        });
        let a = hub.room("AAAAAA");
        assert!(Arc::ptr_eq(&a, &hub.room("AAAAAA")), "one per code");
        let b = hub.room("BBBBBB");
        let c = hub.room("CCCCCC");
        let d = hub.room("DDDDDD");
        assert_eq!((a.label(), b.label()), ("AAAAAA", "BBBBBB"));
        assert_eq!((c.label(), d.label()), (OTHER_ROOMS, OTHER_ROOMS));
        assert!(Arc::ptr_eq(&c, &d), "the rooms past the limit share one");

        let alice = a.series("alice", "llama3");
        assert!(Arc::ptr_eq(&alice, &a.series("alice", "llama3")));
        let alice_again = a.series("alice", "qwen3");
        assert_eq!(alice_again.model, "qwen3", "a model it registered later");
        let bob = a.series("bob", "llama3");
        assert_eq!(
            (bob.participant.as_str(), bob.model.as_str()),
            (OTHER_PARTICIPANTS, OTHER_PARTICIPANTS)
        );
        assert_eq!(
            a.all_series().len(),
            4,
            "two own, the shared one, the unrouted one"
        );
    }

    #[test]
    fn outcomes_follow_the_error_stages() {
        for outcome in Outcome::ALL {
            if outcome != Outcome::Complete {
                assert_eq!(Outcome::of_stage(outcome.label()), outcome);
            }
        }
        assert_eq!(Outcome::ALL[Outcome::Cancelled.index()], Outcome::Cancelled);
    }

    #[test]
    fn a_completed_request_counts_its_tokens_and_times() {
        let series = Series::new("alice", "llama3");
        let metrics = proto::LlmMetrics {
            ttft_ms: Some(150.0),
            duration_ms: 900.0,
            input_tokens: Some(10),
            output_tokens: Some(20),
            ..proto::LlmMetrics::default()
        };
        series.complete(LlmProtocol::ChatCompletions, &metrics);
        series.count(LlmProtocol::ChatCompletions, Outcome::Stream);
        let chat = &series.requests[protocol_index(LlmProtocol::ChatCompletions)];
        assert_eq!(chat[Outcome::Complete.index()].load(Ordering::Relaxed), 1);
        assert_eq!(chat[Outcome::Stream.index()].load(Ordering::Relaxed), 1);
        assert_eq!(series.output_tokens.load(Ordering::Relaxed), 20);
        assert_eq!(series.ttft.values().count, 1);
        assert!((series.duration.values().sum - 0.9).abs() < 1e-9);
    }
}
