//! The hub's clock: wall-clock milliseconds that advance with tokio's time.
//!
//! Every timestamp on the wire is milliseconds since the Unix epoch, and liveness rules
//! ("offline after 30 s without a heartbeat") compare such timestamps. Reading
//! `SystemTime` directly would make those rules untestable with paused time, so the hub
//! takes the wall clock once and advances it with `tokio::time::Instant`.

use std::time::{SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Wall-clock milliseconds derived from tokio's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    base_ms: i64,
    base: Instant,
}

impl Clock {
    /// A clock reading the current wall time.
    pub fn new() -> Self {
        let base_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| {
                i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX)
            });
        Self {
            base_ms,
            base: Instant::now(),
        }
    }

    /// Milliseconds since the Unix epoch, now.
    pub fn now_ms(&self) -> i64 {
        let elapsed = i64::try_from(self.base.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.base_ms.saturating_add(elapsed)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
