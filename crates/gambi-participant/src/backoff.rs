//! The reconnection policy: capped, jittered exponential backoff that resets after a
//! connection stayed up for a while.
//!
//! It is plain arithmetic with the randomness passed in, so it is tested without a clock.

use std::time::Duration;

/// Parameters of the reconnection backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Delay before the first retry (before jitter).
    pub base: Duration,
    /// Longest delay between two retries.
    pub cap: Duration,
    /// A connection that stayed up at least this long resets the delay to `base`.
    pub stable_after: Duration,
}

impl Default for BackoffPolicy {
    /// Retries after about 0.5 s, 1 s, 2 s, … up to 30 s. A connection that stayed up for
    /// 5 s was a real one (the hub accepted the tunnel and it carried pings): after it
    /// ends the next retry comes quickly again, rather than after the long delay a
    /// much earlier outage had built up.
    fn default() -> Self {
        Self {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            stable_after: Duration::from_secs(5),
        }
    }
}

/// Backoff state: how many retries have been made since the last reset.
///
/// ```
/// use std::time::Duration;
///
/// use gambi_participant::{Backoff, BackoffPolicy};
///
/// let mut backoff = Backoff::new(BackoffPolicy {
///     base: Duration::from_secs(1),
///     cap: Duration::from_secs(8),
///     stable_after: Duration::from_secs(60),
/// });
/// // With the jitter at its top, the delays double up to the cap.
/// let delays: Vec<u64> = (0..5).map(|_| backoff.next_delay(1.0).as_secs()).collect();
/// assert_eq!(delays, [1, 2, 4, 8, 8]);
/// // A connection that stayed up long enough starts over.
/// backoff.connection_ended(Duration::from_secs(90));
/// assert_eq!(backoff.next_delay(0.0), Duration::from_millis(500));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    /// A fresh backoff: the next delay is about `policy.base`.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, attempt: 0 }
    }

    /// Retries handed out since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next retry, and counts that retry.
    ///
    /// The un-jittered delay is `base * 2^attempt`, capped at `cap`; `jitter` (clamped to
    /// `0.0..=1.0`, normally uniformly random) picks a point between half of it and all of
    /// it, so retries of many participants spread out after a hub restart while the delay
    /// still grows.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let doublings = self.attempt.min(24);
        let full = self
            .policy
            .base
            .saturating_mul(1_u32 << doublings)
            .min(self.policy.cap);
        self.attempt = self.attempt.saturating_add(1);
        let half = full / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }

    /// Tells the policy a connection ended after `uptime`; a stable one resets the delay.
    pub fn connection_ended(&mut self, uptime: Duration) {
        if uptime >= self.policy.stable_after {
            self.reset();
        }
    }

    /// Starts over from `base`.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackoffPolicy {
        BackoffPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
        }
    }

    fn delays(backoff: &mut Backoff, jitter: f64, count: usize) -> Vec<u64> {
        (0..count)
            .map(|_| backoff.next_delay(jitter).as_millis() as u64)
            .collect()
    }

    #[test]
    fn doubles_up_to_the_cap_without_jitter() {
        let mut backoff = Backoff::new(policy());
        assert_eq!(
            delays(&mut backoff, 1.0, 9),
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
        assert_eq!(backoff.attempt(), 9);
    }

    #[test]
    fn jitter_stays_between_half_and_full() {
        let mut low = Backoff::new(policy());
        assert_eq!(delays(&mut low, 0.0, 4), [250, 500, 1000, 2000]);
        let mut mid = Backoff::new(policy());
        assert_eq!(delays(&mut mid, 0.5, 3), [375, 750, 1500]);
        let mut clamped = Backoff::new(policy());
        assert_eq!(delays(&mut clamped, 7.0, 1), [500]);
        assert_eq!(delays(&mut clamped, -1.0, 1), [500]);
    }

    #[test]
    fn never_overflows() {
        let mut backoff = Backoff::new(policy());
        for _ in 0..1000 {
            assert!(backoff.next_delay(1.0) <= Duration::from_secs(30));
        }
    }

    #[test]
    fn by_default_a_connection_of_a_few_seconds_restarts_from_the_first_step() {
        let mut backoff = Backoff::new(BackoffPolicy::default());
        // A long outage: the delay has grown to the cap.
        delays(&mut backoff, 1.0, 8);
        // Then a connection that held for 51 s: the next retry is the first step again.
        backoff.connection_ended(Duration::from_secs(51));
        assert_eq!(delays(&mut backoff, 1.0, 1), [500]);
        delays(&mut backoff, 1.0, 4);
        backoff.connection_ended(Duration::from_secs(6));
        assert_eq!(delays(&mut backoff, 1.0, 1), [500]);
        // A connection that dropped at once does not reset it.
        backoff.connection_ended(Duration::from_millis(300));
        assert_eq!(delays(&mut backoff, 1.0, 1), [1000]);
    }

    #[test]
    fn a_stable_connection_resets_a_short_one_does_not() {
        let mut backoff = Backoff::new(policy());
        delays(&mut backoff, 1.0, 5);
        backoff.connection_ended(Duration::from_secs(59));
        assert_eq!(delays(&mut backoff, 1.0, 1), [16000]);
        backoff.connection_ended(Duration::from_secs(60));
        assert_eq!(backoff.attempt(), 0);
        assert_eq!(delays(&mut backoff, 1.0, 1), [500]);
    }
}
