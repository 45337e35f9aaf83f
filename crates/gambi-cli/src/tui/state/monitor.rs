//! What the monitor knows about one room: its participants, its recent events and its
//! totals, built from the room's event stream and periodic participant lists.
//!
//! The hub announces joins, leaves, tunnel changes and `llm.*` events, but not a
//! participant going busy or free: slots in use are counted here from `llm.request` and
//! its terminal event, starting from the hub's own count in each participant list (which
//! the watcher fetches on connecting, after missing events, and every few seconds).

use std::collections::VecDeque;

use gambi_protocol as proto;
use proto::event::{LlmCompleteEvent, LlmErrorEvent, LlmRequestEvent, stage};
use proto::{Millis, ParticipantStatus, ParticipantSummary, RoomEvent, RoomEventPayload};

use super::push_bounded;

/// Entries kept in a room's log.
pub(crate) const LOG_CAPACITY: usize = 300;

/// Tokens-per-second samples kept per participant for its sparkline.
pub(crate) const SPEED_SAMPLES: usize = 60;

/// Time-to-first-token samples kept for the room's median.
const TTFT_SAMPLES: usize = 1000;

/// The state of a room's event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StreamState {
    /// Opening the stream (`attempt` 0 is the first).
    Connecting {
        /// Reconnection attempt, from 1; 0 for the first connection.
        attempt: u32,
    },
    /// Events are flowing.
    Live,
    /// The stream failed; the next attempt starts at `retry_at`.
    Retrying {
        /// What failed.
        error: String,
        /// When the next attempt starts.
        retry_at: Millis,
    },
    /// The room is protected and the password is missing or wrong.
    NeedsPassword,
    /// The hub refused the stream for good (e.g. the room does not exist).
    Failed {
        /// What the hub said.
        error: String,
    },
}

/// A participant as its card shows it.
#[derive(Debug, Clone)]
pub(crate) struct Card {
    /// The hub's latest summary.
    pub(crate) summary: ParticipantSummary,
    /// Requests seen starting (`llm.request`) and not yet ended, with their start time.
    in_flight: Vec<(RequestKey, Millis)>,
    /// Requests in flight the events have not shown (they began before the stream).
    untracked: u32,
    /// Tokens per second of its recent completed requests, oldest first.
    pub(crate) speeds: VecDeque<u64>,
}

/// A request attempt: its id and attempt number (a failover retry has the same id).
type RequestKey = (String, u32);

impl Card {
    fn new(summary: ParticipantSummary) -> Self {
        Self {
            untracked: summary.active_requests,
            summary,
            in_flight: Vec::new(),
            speeds: VecDeque::new(),
        }
    }

    /// Slots in use.
    pub(crate) fn in_use(&self) -> u32 {
        u32::try_from(self.in_flight.len())
            .unwrap_or(u32::MAX)
            .saturating_add(self.untracked)
    }

    /// Online, busy (every slot taken) or offline.
    pub(crate) fn status(&self) -> ParticipantStatus {
        if self.summary.status == ParticipantStatus::Offline {
            ParticipantStatus::Offline
        } else if self.in_use() >= self.summary.max_concurrency.max(1) {
            ParticipantStatus::Busy
        } else {
            ParticipantStatus::Online
        }
    }

    /// When the hub last heard from it (heartbeat, registration or tunnel frame).
    pub(crate) fn last_heard(&self) -> Millis {
        self.summary
            .connection
            .last_tunnel_seen_at
            .map_or(self.summary.last_seen, |seen| {
                seen.max(self.summary.last_seen)
            })
    }

    /// The latest tokens-per-second sample.
    pub(crate) fn last_speed(&self) -> Option<u64> {
        self.speeds.back().copied()
    }

    fn started(&mut self, key: RequestKey, at: Millis) {
        if !self.in_flight.iter().any(|(known, _)| *known == key) {
            self.in_flight.push((key, at));
        }
    }

    fn ended(&mut self, key: &RequestKey) {
        match self.in_flight.iter().position(|(known, _)| known == key) {
            Some(at) => {
                self.in_flight.remove(at);
            }
            None => self.untracked = self.untracked.saturating_sub(1),
        }
    }

    /// Takes the hub's count of active requests as the truth: requests it does not count
    /// are forgotten (oldest first), and those it counts beyond the known ones are kept
    /// as untracked.
    fn reconcile(&mut self, active: u32) {
        let known = u32::try_from(self.in_flight.len()).unwrap_or(u32::MAX);
        if active >= known {
            self.untracked = active - known;
        } else {
            self.untracked = 0;
            let excess = self.in_flight.len() - active as usize;
            self.in_flight.drain(..excess);
        }
    }
}

/// How a request attempt ended, or that it has not.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// Still running.
    Running,
    /// Completed, with its metrics.
    Done(proto::LlmMetrics),
    /// Failed at `stage`.
    Failed {
        /// Where: routing, dispatch, stream or cancelled.
        stage: String,
        /// What failed.
        error: String,
        /// Timings up to the failure.
        metrics: Option<proto::LlmMetrics>,
    },
}

/// One request attempt in the log.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RequestRow {
    /// The request id.
    pub(crate) request_id: String,
    /// 1, or 2 for a failover retry.
    pub(crate) attempt: u32,
    /// The participant serving it, when one was chosen.
    pub(crate) participant_id: Option<String>,
    /// The model: as requested, then the participant's.
    pub(crate) model: String,
    /// Whether it is translated between the two APIs.
    pub(crate) adapted: bool,
    /// Time it waited for a free slot.
    pub(crate) queue_ms: Option<u64>,
    /// How it ended.
    pub(crate) outcome: Outcome,
}

/// Something that happened to a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Presence {
    /// It registered.
    Joined,
    /// It was removed.
    Left,
    /// It missed its heartbeats or lost its tunnel.
    Offline,
    /// It is reachable again.
    Back,
}

/// One log entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Entry {
    /// A request attempt, updated in place when it ends.
    Request(Box<RequestRow>),
    /// A participant joined, left, went offline or came back.
    Participant {
        /// The participant id.
        id: String,
        /// What happened.
        what: Presence,
    },
    /// Something about the stream itself (missed events).
    Notice(String),
}

/// A timestamped log entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LogEntry {
    /// When the hub emitted the event (the start, for requests).
    pub(crate) at: Millis,
    /// What happened.
    pub(crate) entry: Entry,
}

/// The room's totals since the monitor opened.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Totals {
    /// Requests seen (a failover retry is the same request).
    pub(crate) requests: u64,
    /// Requests completed.
    pub(crate) completed: u64,
    /// Failed attempts, cancellations aside.
    pub(crate) errors: u64,
    /// Requests whose client went away.
    pub(crate) cancelled: u64,
    /// Tokens of completed requests (prompt and generated).
    pub(crate) tokens: u64,
    /// Recent times to first token, oldest first.
    ttfts: VecDeque<u64>,
}

impl Totals {
    /// The median time to first token of recent completed requests.
    pub(crate) fn p50_ttft(&self) -> Option<u64> {
        if self.ttfts.is_empty() {
            return None;
        }
        let mut sorted: Vec<u64> = self.ttfts.iter().copied().collect();
        sorted.sort_unstable();
        Some(sorted[(sorted.len() - 1) / 2])
    }
}

/// One watched room.
#[derive(Debug, Clone)]
pub(crate) struct RoomMonitor {
    /// The hub the room is on.
    pub(crate) hub: String,
    /// The room code (upper case).
    pub(crate) code: String,
    /// The room, once fetched.
    pub(crate) room: Option<proto::RoomSummary>,
    /// The event stream.
    pub(crate) stream: StreamState,
    /// Participants in join order.
    pub(crate) cards: Vec<Card>,
    /// Recent events, oldest first.
    pub(crate) log: VecDeque<LogEntry>,
    /// Totals.
    pub(crate) totals: Totals,
}

impl RoomMonitor {
    /// A monitor of room `code` on `hub`, about to connect.
    pub(crate) fn new(hub: &str, code: &str) -> Self {
        Self {
            hub: hub.to_owned(),
            code: code.trim().to_uppercase(),
            room: None,
            stream: StreamState::Connecting { attempt: 0 },
            cards: Vec::new(),
            log: VecDeque::new(),
            totals: Totals::default(),
        }
    }

    /// The card of participant `id`.
    pub(crate) fn card(&self, id: &str) -> Option<&Card> {
        self.cards.iter().find(|card| card.summary.id == id)
    }

    fn card_mut(&mut self, id: &str) -> Option<&mut Card> {
        self.cards.iter_mut().find(|card| card.summary.id == id)
    }

    /// The nickname of participant `id`, or the id when unknown.
    pub(crate) fn name_of<'a>(&'a self, id: &'a str) -> &'a str {
        self.card(id)
            .map_or(id, |card| card.summary.nickname.as_str())
    }

    /// Applies one event of the room's stream.
    pub(crate) fn apply(&mut self, event: &RoomEvent) {
        let at = event.timestamp;
        match &event.payload {
            RoomEventPayload::Connected(_) => self.stream = StreamState::Live,
            RoomEventPayload::ParticipantJoined(summary) => {
                self.upsert(summary.clone());
                self.push(at, participant(&summary.id, Presence::Joined));
            }
            RoomEventPayload::ParticipantUpdated(summary) => {
                let was_offline = self
                    .card(&summary.id)
                    .is_some_and(|card| card.summary.status == ParticipantStatus::Offline);
                let now_offline = summary.status == ParticipantStatus::Offline;
                let known = self.card(&summary.id).is_some();
                self.upsert(summary.clone());
                if !known {
                    self.push(at, participant(&summary.id, Presence::Joined));
                } else if was_offline && !now_offline {
                    self.push(at, participant(&summary.id, Presence::Back));
                } else if !was_offline && now_offline {
                    self.push(at, participant(&summary.id, Presence::Offline));
                }
            }
            RoomEventPayload::ParticipantLeft(who) => {
                self.cards
                    .retain(|card| card.summary.id != who.participant_id);
                self.push(at, participant(&who.participant_id, Presence::Left));
            }
            RoomEventPayload::ParticipantOffline(who) => {
                let changed = match self.card_mut(&who.participant_id) {
                    Some(card) if card.summary.status != ParticipantStatus::Offline => {
                        card.summary.status = ParticipantStatus::Offline;
                        true
                    }
                    _ => false,
                };
                if changed {
                    self.push(at, participant(&who.participant_id, Presence::Offline));
                }
            }
            RoomEventPayload::LlmRequest(request) => self.request(at, request),
            RoomEventPayload::LlmComplete(complete) => self.complete(at, complete),
            RoomEventPayload::LlmError(error) => self.error(at, error),
            RoomEventPayload::Lagged(lagged) => self.push(
                at,
                Entry::Notice(format!(
                    "missed {} events (this screen fell behind)",
                    lagged.skipped
                )),
            ),
            RoomEventPayload::RoomCreated(_) | RoomEventPayload::Unknown { .. } => {}
        }
    }

    /// Takes a participant list from the hub: cards for everyone listed (in join order),
    /// slot counts reconciled with the hub's, and no card for anyone not listed.
    pub(crate) fn snapshot(&mut self, mut participants: Vec<ParticipantSummary>) {
        participants.sort_by(|a, b| a.joined_at.cmp(&b.joined_at).then(a.id.cmp(&b.id)));
        let mut cards = Vec::with_capacity(participants.len());
        for summary in participants {
            let card = match self
                .cards
                .iter()
                .position(|card| card.summary.id == summary.id)
            {
                Some(at) => {
                    let mut card = self.cards.swap_remove(at);
                    card.reconcile(summary.active_requests);
                    card.summary = summary;
                    card
                }
                None => Card::new(summary),
            };
            cards.push(card);
        }
        self.cards = cards;
    }

    fn upsert(&mut self, summary: ParticipantSummary) {
        match self.card_mut(&summary.id) {
            Some(card) => card.summary = summary,
            None => self.cards.push(Card::new(summary)),
        }
    }

    fn request(&mut self, at: Millis, event: &LlmRequestEvent) {
        let attempt = event.attempt.unwrap_or(1);
        if attempt <= 1 {
            self.totals.requests += 1;
        }
        if let Some(card) = self.card_mut(&event.participant_id) {
            card.started((event.request_id.clone(), attempt), at);
        }
        self.push(
            at,
            Entry::Request(Box::new(RequestRow {
                request_id: event.request_id.clone(),
                attempt,
                participant_id: Some(event.participant_id.clone()),
                model: event.model.clone(),
                adapted: event.adapted,
                queue_ms: event.queue_ms,
                outcome: Outcome::Running,
            })),
        );
    }

    fn complete(&mut self, at: Millis, event: &LlmCompleteEvent) {
        let metrics = &event.metrics;
        self.totals.completed += 1;
        self.totals.tokens += metrics.total_tokens.unwrap_or_else(|| {
            metrics.input_tokens.unwrap_or(0) + metrics.output_tokens.unwrap_or(0)
        });
        if let Some(ttft) = metrics.ttft_ms.filter(|ttft| ttft.is_finite()) {
            push_bounded(&mut self.totals.ttfts, whole_ms(ttft), TTFT_SAMPLES);
        }
        let attempt = self.running_attempt(&event.request_id);
        if let Some(card) = self.card_mut(&event.participant_id) {
            card.ended(&(event.request_id.clone(), attempt));
            if let Some(speed) = metrics.tokens_per_second.filter(|speed| speed.is_finite()) {
                // Whole tokens per second: the sparkline's bars are integers.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                push_bounded(
                    &mut card.speeds,
                    speed.max(0.0).round() as u64,
                    SPEED_SAMPLES,
                );
            }
        }
        let outcome = Outcome::Done(metrics.clone());
        if !self.finish_row(&event.request_id, attempt, &event.model, outcome.clone()) {
            self.push(
                at,
                Entry::Request(Box::new(RequestRow {
                    request_id: event.request_id.clone(),
                    attempt,
                    participant_id: Some(event.participant_id.clone()),
                    model: event.model.clone(),
                    adapted: event.adapted,
                    queue_ms: metrics.queue_ms.map(whole_ms),
                    outcome,
                })),
            );
        }
    }

    fn error(&mut self, at: Millis, event: &LlmErrorEvent) {
        if event.stage == stage::CANCELLED {
            self.totals.cancelled += 1;
        } else {
            self.totals.errors += 1;
        }
        let attempt = event
            .attempt
            .unwrap_or_else(|| self.running_attempt(&event.request_id));
        if let Some(id) = &event.participant_id {
            if let Some(card) = self.card_mut(id) {
                card.ended(&(event.request_id.clone(), attempt));
            }
        }
        let outcome = Outcome::Failed {
            stage: event.stage.clone(),
            error: event.error.clone(),
            metrics: event.metrics.clone(),
        };
        if !self.finish_row(&event.request_id, attempt, &event.model, outcome.clone()) {
            // Failed before any participant served it (routing, or the client left the
            // queue): the first the monitor hears of this request.
            self.totals.requests += 1;
            self.push(
                at,
                Entry::Request(Box::new(RequestRow {
                    request_id: event.request_id.clone(),
                    attempt,
                    participant_id: event.participant_id.clone(),
                    model: event.model.clone(),
                    adapted: event.adapted,
                    queue_ms: event
                        .metrics
                        .as_ref()
                        .and_then(|metrics| metrics.queue_ms)
                        .map(whole_ms),
                    outcome,
                })),
            );
        }
    }

    /// The attempt of request `id` still running in the log (1 when none is).
    fn running_attempt(&self, id: &str) -> u32 {
        self.log
            .iter()
            .rev()
            .find_map(|entry| match &entry.entry {
                Entry::Request(row) if row.request_id == id && row.outcome == Outcome::Running => {
                    Some(row.attempt)
                }
                _ => None,
            })
            .unwrap_or(1)
    }

    /// Ends the log row of a running attempt; false when there is none.
    fn finish_row(&mut self, id: &str, attempt: u32, model: &str, outcome: Outcome) -> bool {
        let row = self
            .log
            .iter_mut()
            .rev()
            .find_map(|entry| match &mut entry.entry {
                Entry::Request(row)
                    if row.request_id == id
                        && row.attempt == attempt
                        && row.outcome == Outcome::Running =>
                {
                    Some(row)
                }
                _ => None,
            });
        match row {
            Some(row) => {
                row.model = model.to_owned();
                row.outcome = outcome;
                true
            }
            None => false,
        }
    }

    fn push(&mut self, at: Millis, entry: Entry) {
        push_bounded(&mut self.log, LogEntry { at, entry }, LOG_CAPACITY);
    }
}

fn participant(id: &str, what: Presence) -> Entry {
    Entry::Participant {
        id: id.to_owned(),
        what,
    }
}

/// Whole milliseconds, for what the monitor counts and sorts (never negative).
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // Rounded, clamped at 0.
fn whole_ms(ms: f64) -> u64 {
    if ms.is_finite() {
        ms.max(0.0).round() as u64
    } else {
        0
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proto::event::{LaggedEvent, ParticipantRef};
    use proto::{LlmMetrics, LlmProtocol, ParticipantConnection};

    use super::*;

    pub(crate) const T0: Millis = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    pub(crate) const HUB: &str = "http://localhost:3000";

    pub(crate) fn summary(id: &str, slots: u32) -> ParticipantSummary {
        ParticipantSummary {
            id: id.into(),
            nickname: format!("{id}-laptop"),
            model: "llama3:latest".into(),
            endpoint: "http://localhost:11434".into(),
            config: Default::default(),
            specs: Default::default(),
            capabilities: Default::default(),
            connection: ParticipantConnection {
                kind: "tunnel".into(),
                connected: true,
                last_tunnel_seen_at: Some(T0),
            },
            status: ParticipantStatus::Online,
            joined_at: T0,
            last_seen: T0,
            updated_at: T0,
            max_concurrency: slots,
            active_requests: 0,
        }
    }

    pub(crate) fn event(at: Millis, payload: RoomEventPayload) -> RoomEvent {
        RoomEvent {
            timestamp: at,
            room_code: "ROOM01".into(),
            payload,
        }
    }

    pub(crate) fn request(id: &str, who: &str) -> RoomEventPayload {
        RoomEventPayload::LlmRequest(LlmRequestEvent {
            request_id: id.into(),
            participant_id: who.into(),
            model: "*".into(),
            protocol: LlmProtocol::OpenResponses,
            adapted: false,
            queue_ms: Some(3),
            attempt: None,
        })
    }

    pub(crate) fn complete(
        id: &str,
        who: &str,
        ttft: u64,
        tokens: u64,
        speed: f64,
    ) -> RoomEventPayload {
        RoomEventPayload::LlmComplete(LlmCompleteEvent {
            request_id: id.into(),
            participant_id: who.into(),
            model: "llama3:latest".into(),
            protocol: LlmProtocol::OpenResponses,
            client_protocol: Some(LlmProtocol::OpenResponses),
            adapted: false,
            status: Some(200),
            metrics: LlmMetrics {
                ttft_ms: Some(ttft as f64),
                duration_ms: (ttft * 4) as f64,
                input_tokens: Some(tokens / 2),
                output_tokens: Some(tokens - tokens / 2),
                total_tokens: Some(tokens),
                tokens_per_second: Some(speed),
                queue_ms: Some(3.0),
                ..LlmMetrics::default()
            },
        })
    }

    pub(crate) fn failure(id: &str, who: Option<&str>, stage: &str) -> RoomEventPayload {
        RoomEventPayload::LlmError(LlmErrorEvent {
            request_id: id.into(),
            participant_id: who.map(str::to_owned),
            nickname: None,
            endpoint: None,
            model: "*".into(),
            protocol: LlmProtocol::OpenResponses,
            client_protocol: None,
            adapted: false,
            stage: stage.into(),
            error: if stage == stage::CANCELLED {
                "The client disconnected.".into()
            } else {
                "provider answered 500".into()
            },
            metrics: None,
            attempt: None,
        })
    }

    fn row(monitor: &RoomMonitor, index: usize) -> &RequestRow {
        match &monitor.log[index].entry {
            Entry::Request(row) => row,
            other => panic!("entry {index} is {other:?}"),
        }
    }

    #[test]
    fn a_participant_joins_goes_busy_completes_and_goes_offline() {
        let mut room = RoomMonitor::new(HUB, "room01");
        assert_eq!(room.code, "ROOM01");
        room.apply(&event(
            T0,
            RoomEventPayload::ParticipantJoined(summary("alice", 1)),
        ));
        let card = room.card("alice").expect("a card");
        assert_eq!(
            (card.status(), card.in_use()),
            (ParticipantStatus::Online, 0)
        );

        room.apply(&event(T0 + 10, request("r1", "alice")));
        let card = room.card("alice").expect("a card");
        assert_eq!((card.status(), card.in_use()), (ParticipantStatus::Busy, 1));
        assert_eq!(row(&room, 1).outcome, Outcome::Running);

        room.apply(&event(T0 + 500, complete("r1", "alice", 120, 40, 25.4)));
        let card = room.card("alice").expect("a card");
        assert_eq!(
            (card.status(), card.in_use()),
            (ParticipantStatus::Online, 0)
        );
        assert_eq!(card.last_speed(), Some(25));
        assert_eq!(room.log.len(), 2, "the request row is updated in place");
        assert_eq!(row(&room, 1).model, "llama3:latest");
        assert!(matches!(row(&room, 1).outcome, Outcome::Done(_)));
        assert_eq!(
            (
                room.totals.requests,
                room.totals.completed,
                room.totals.tokens
            ),
            (1, 1, 40)
        );
        assert_eq!(room.totals.p50_ttft(), Some(120));

        room.apply(&event(
            T0 + 40_000,
            RoomEventPayload::ParticipantOffline(ParticipantRef {
                participant_id: "alice".into(),
            }),
        ));
        let card = room.card("alice").expect("still listed");
        assert_eq!(card.status(), ParticipantStatus::Offline);
        let mut back = summary("alice", 1);
        back.last_seen = T0 + 41_000;
        room.apply(&event(
            T0 + 41_000,
            RoomEventPayload::ParticipantUpdated(back),
        ));
        assert_eq!(
            room.card("alice").map(Card::status),
            Some(ParticipantStatus::Online)
        );
        let presences: Vec<Presence> = room
            .log
            .iter()
            .filter_map(|entry| match entry.entry {
                Entry::Participant { what, .. } => Some(what),
                _ => None,
            })
            .collect();
        assert_eq!(
            presences,
            [Presence::Joined, Presence::Offline, Presence::Back]
        );

        room.apply(&event(
            T0 + 50_000,
            RoomEventPayload::ParticipantLeft(ParticipantRef {
                participant_id: "alice".into(),
            }),
        ));
        assert!(room.cards.is_empty());
    }

    #[test]
    fn slots_count_from_events_and_the_hubs_lists() {
        let mut room = RoomMonitor::new(HUB, "ROOM01");
        let mut busy = summary("bob", 3);
        busy.active_requests = 2;
        room.snapshot(vec![busy]);
        assert_eq!(
            room.card("bob").map(Card::in_use),
            Some(2),
            "began before us"
        );
        room.apply(&event(T0, request("r1", "bob")));
        let card = room.card("bob").expect("a card");
        assert_eq!((card.in_use(), card.status()), (3, ParticipantStatus::Busy));
        // One of the two we never saw start ends, then ours.
        room.apply(&event(T0, complete("old", "bob", 10, 2, 1.0)));
        room.apply(&event(T0, failure("r1", Some("bob"), stage::STREAM)));
        assert_eq!(room.card("bob").map(Card::in_use), Some(1));
        assert_eq!(room.totals.errors, 1);

        // After missed events the hub's count wins over requests whose end was missed.
        room.apply(&event(T0, request("r2", "bob")));
        room.apply(&event(T0, request("r3", "bob")));
        room.apply(&event(
            T0,
            RoomEventPayload::Lagged(LaggedEvent { skipped: 4 }),
        ));
        let mut listed = summary("bob", 3);
        listed.active_requests = 1;
        room.snapshot(vec![listed]);
        assert_eq!(room.card("bob").map(Card::in_use), Some(1));
        room.apply(&event(T0, complete("r3", "bob", 10, 2, 1.0)));
        assert_eq!(room.card("bob").map(Card::in_use), Some(0));
    }

    #[test]
    fn unrouted_failures_and_failover_retries() {
        let mut room = RoomMonitor::new(HUB, "ROOM01");
        room.snapshot(vec![summary("a", 1), summary("b", 1)]);
        room.apply(&event(T0, failure("r0", None, stage::ROUTING)));
        assert_eq!((room.totals.requests, room.totals.errors), (1, 1));
        assert!(matches!(row(&room, 0).outcome, Outcome::Failed { .. }));

        room.apply(&event(T0 + 1, request("r1", "a")));
        room.apply(&event(T0 + 2, failure("r1", Some("a"), stage::DISPATCH)));
        let mut retry = request("r1", "b");
        if let RoomEventPayload::LlmRequest(retry) = &mut retry {
            retry.attempt = Some(2);
        }
        room.apply(&event(T0 + 3, retry));
        room.apply(&event(T0 + 9, complete("r1", "b", 5, 10, 2.0)));
        assert_eq!(room.totals.requests, 2, "a retry is the same request");
        assert_eq!((row(&room, 1).attempt, row(&room, 2).attempt), (1, 2));
        assert!(matches!(row(&room, 1).outcome, Outcome::Failed { .. }));
        assert!(matches!(row(&room, 2).outcome, Outcome::Done(_)));
        assert_eq!(room.card("a").map(Card::in_use), Some(0));
        assert_eq!(room.card("b").map(Card::in_use), Some(0));

        room.apply(&event(T0 + 10, failure("r9", None, stage::CANCELLED)));
        assert_eq!((room.totals.errors, room.totals.cancelled), (2, 1));
    }

    #[test]
    fn the_log_and_the_samples_are_bounded() {
        let mut room = RoomMonitor::new(HUB, "ROOM01");
        room.snapshot(vec![summary("a", 1)]);
        for n in 0..LOG_CAPACITY + 20 {
            let id = format!("r{n}");
            room.apply(&event(T0, request(&id, "a")));
            room.apply(&event(T0, complete(&id, "a", n as u64, 1, n as f64)));
        }
        assert_eq!(room.log.len(), LOG_CAPACITY);
        assert_eq!(
            room.card("a").map(|card| card.speeds.len()),
            Some(SPEED_SAMPLES)
        );
        assert_eq!(room.totals.requests, (LOG_CAPACITY + 20) as u64);
        assert_eq!(room.totals.p50_ttft(), Some(159));
    }

    #[test]
    fn a_list_orders_cards_by_join_time_and_drops_the_unlisted() {
        let mut room = RoomMonitor::new(HUB, "ROOM01");
        room.apply(&event(
            T0,
            RoomEventPayload::ParticipantJoined(summary("gone", 1)),
        ));
        let mut late = summary("late", 1);
        late.joined_at = T0 + 5;
        room.snapshot(vec![late, summary("early", 1)]);
        let ids: Vec<&str> = room
            .cards
            .iter()
            .map(|card| card.summary.id.as_str())
            .collect();
        assert_eq!(ids, ["early", "late"]);
        assert_eq!(room.name_of("early"), "early-laptop");
        assert_eq!(room.name_of("nobody"), "nobody");
    }
}
