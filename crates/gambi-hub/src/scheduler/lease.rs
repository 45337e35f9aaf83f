//! A slot on a participant, held by one request; dropping it frees the slot.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::{ClientKey, Shared};

/// How the request that held a lease went, as far as routing cares. Reported on the lease
/// before it is dropped; it takes effect when the lease is released.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing was reported, e.g. the client went away first. Changes nothing.
    #[default]
    Unreported,
    /// The participant answered (even with a provider 4xx: the provider works). Ends any
    /// run of fast failures and any cool-down.
    Succeeded,
    /// The request failed before any response started: the tunnel broke at dispatch, the
    /// provider was unreachable or answered 5xx at once. Enough of these in a row put the
    /// participant in a short cool-down.
    FailedFast,
}

/// The right to send one request to one participant. Dropping it frees the slot, which goes
/// straight to the next suitable waiter; there is no other way to release it, so no path
/// (completion, error, client disconnect, early return) can leak a slot.
#[must_use = "dropping a lease frees its slot at once"]
pub struct Lease {
    shared: Arc<Shared>,
    slot: Slot,
    outcome: Outcome,
    armed: bool,
}

/// Everything a lease needs to find its way back when released.
#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub(super) participant_id: String,
    pub(super) model: String,
    /// Incarnation of the participant the slot was taken on; a participant removed and
    /// registered again starts a new one, and slots of the old one are not counted.
    pub(super) generation: u64,
    pub(super) client: ClientKey,
    pub(super) granted_at: Instant,
    pub(super) queued: Duration,
}

impl Lease {
    pub(super) fn new(shared: Arc<Shared>, slot: Slot) -> Self {
        Self {
            shared,
            slot,
            outcome: Outcome::Unreported,
            armed: true,
        }
    }

    /// Id of the participant this lease is on.
    pub fn participant_id(&self) -> &str {
        &self.slot.participant_id
    }

    /// Model that participant serves.
    pub fn model(&self) -> &str {
        &self.slot.model
    }

    /// How long the request waited in the queue for this lease (zero if it did not wait).
    pub fn queued(&self) -> Duration {
        self.slot.queued
    }

    /// The outcome reported so far.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Reports how the request went; the last report before the drop counts.
    pub fn set_outcome(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }

    /// Reports that the participant answered.
    pub fn succeed(&mut self) {
        self.set_outcome(Outcome::Succeeded);
    }

    /// Reports that the request failed before any response started.
    pub fn fail_fast(&mut self) {
        self.set_outcome(Outcome::FailedFast);
    }

    /// Turns the lease back into its slot without releasing it, for a caller that releases
    /// the slot itself.
    pub(super) fn disarm(mut self) -> Slot {
        self.armed = false;
        self.slot.clone()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.armed {
            self.shared.release(&self.slot, self.outcome);
        }
    }
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lease")
            .field("participant_id", &self.slot.participant_id)
            .field("model", &self.slot.model)
            .field("client", &self.slot.client)
            .field("queued", &self.slot.queued)
            .field("outcome", &self.outcome)
            .finish()
    }
}
