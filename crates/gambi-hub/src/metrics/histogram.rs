//! A histogram of durations updated with atomics only.
//!
//! `prometheus-client`'s own histogram takes a mutex per observation; the hub observes
//! where a request's events happen, so it keeps plain atomic counters instead and hands
//! their values to the encoder at scrape time. A scrape may see an observation's bucket
//! before its count (each counter is exact; they are not read as one): Prometheus
//! tolerates that, and the next scrape is consistent again.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds, in seconds, for times to first token and request durations: from a local
/// model answering in milliseconds to a CPU-only machine reading a long prompt.
pub(crate) const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Upper bounds, in seconds, for waits in a room's queue (60 s is the default timeout).
pub(crate) const QUEUE_BUCKETS: &[f64] = &[
    0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// Counts of durations by bucket, their number and their sum.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// One counter per bound, then one for `+Inf`; each counts its own bucket only.
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    /// The sum in microseconds: exact, and an integer an atomic can add to.
    sum_micros: AtomicU64,
}

/// What a histogram held when it was read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramValues {
    /// Sum of the observations, in seconds.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
    /// `(upper bound, observations in that bucket alone)`, ending with `+Inf`: the
    /// encoder accumulates them.
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    /// An empty histogram with these upper bounds (in seconds, ascending).
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Counts one duration.
    pub(crate) fn observe(&self, duration: Duration) {
        let seconds = duration.as_secs_f64();
        let bucket = self
            .bounds
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(self.bounds.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(duration.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts one duration given in milliseconds (negative or not a number counts as 0).
    pub(crate) fn observe_ms(&self, ms: f64) {
        let seconds = if ms.is_finite() {
            ms.max(0.0) / 1000.0
        } else {
            0.0
        };
        self.observe(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX));
    }

    /// The values as of now.
    pub(crate) fn values(&self) -> HistogramValues {
        let bounds = self.bounds.iter().copied().chain([f64::INFINITY]);
        let buckets = bounds
            .zip(self.buckets.iter())
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        // Microseconds of any realistic total fit an f64 exactly.
        #[allow(clippy::cast_precision_loss)]
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1_000_000.0;
        HistogramValues {
            sum,
            count: self.count.load(Ordering::Relaxed),
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_that_holds_them() {
        let histogram = Histogram::new(&[0.01, 0.1, 1.0]);
        for ms in [0.0, 10.0, 10.001, 50.0, 1_000.0, 1_500.0] {
            histogram.observe_ms(ms);
        }
        histogram.observe_ms(f64::NAN);
        histogram.observe_ms(-5.0);
        let values = histogram.values();
        assert_eq!(values.count, 8);
        assert_eq!(
            values.buckets,
            vec![(0.01, 4), (0.1, 2), (1.0, 1), (f64::INFINITY, 1)]
        );
        assert!((values.sum - 2.570_001).abs() < 1e-5, "{}", values.sum);
    }
}
