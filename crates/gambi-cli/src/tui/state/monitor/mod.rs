//! What the monitor knows about one room: its participants, its recent events and its
//! totals, built from the room's event stream and periodic participant lists.
//!
//! The hub announces joins, leaves, tunnel changes and `llm.*` events, but not a
//! participant going busy or free: slots in use are counted here from `llm.request` and
//! its terminal event, starting from the hub's own count in each participant list (which
//! the watcher fetches on connecting, after missing events, and every few seconds).
//!
//! The parts: `card` (a participant's card: slots in use, its sparkline's samples),
//! `entry` (the log's entries: request attempts, presence changes, notices) and `totals`
//! (the room's counts and median time to first token); this module applies events and
//! lists to them.

mod card;
mod entry;
mod totals;

use std::collections::VecDeque;

use gambi_protocol as proto;
use proto::event::{LlmCompleteEvent, LlmErrorEvent, LlmRequestEvent, stage};
use proto::{Millis, ParticipantStatus, ParticipantSummary, RoomEvent, RoomEventPayload};

pub(crate) use card::{Card, SPEED_SAMPLES};
pub(crate) use entry::{Entry, LogEntry, Outcome, Presence, RequestRow};
use totals::{TTFT_SAMPLES, Totals};

use super::push_bounded;

/// Entries kept in a room's log.
pub(crate) const LOG_CAPACITY: usize = 300;

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
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
