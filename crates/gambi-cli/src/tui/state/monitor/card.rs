//! A participant's card: the hub's summary, the slots in use counted from `llm.*` events
//! and reconciled with the hub's lists, and the samples of its speed sparkline.

use std::collections::VecDeque;

use gambi_protocol::{Millis, ParticipantStatus, ParticipantSummary};

/// Tokens-per-second samples kept per participant for its sparkline.
pub(crate) const SPEED_SAMPLES: usize = 60;

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
    pub(super) fn new(summary: ParticipantSummary) -> Self {
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

    pub(super) fn started(&mut self, key: RequestKey, at: Millis) {
        if !self.in_flight.iter().any(|(known, _)| *known == key) {
            self.in_flight.push((key, at));
        }
    }

    pub(super) fn ended(&mut self, key: &RequestKey) {
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
    pub(super) fn reconcile(&mut self, active: u32) {
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
