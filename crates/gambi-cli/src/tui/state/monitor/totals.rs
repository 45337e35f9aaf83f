//! The room's totals since the monitor opened, with the recent times to first token its
//! median is taken from.

use std::collections::VecDeque;

/// Time-to-first-token samples kept for the room's median.
pub(super) const TTFT_SAMPLES: usize = 1000;

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
    pub(super) ttfts: VecDeque<u64>,
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
