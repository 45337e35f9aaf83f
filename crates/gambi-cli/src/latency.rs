//! A request's latency breakdown (`hubMs`, `tunnelMs`, `providerTtfbMs`, `providerTtftMs`,
//! `clientReadMs` of `llm.complete`) written for people, one way for every place that
//! shows it: `gambi events watch` lines and the TUI monitor's request log.

use gambi_protocol as proto;

/// `ms: queue 3, hub 0.2, tunnel 1.1, provider TTFB 40 TTFT 180, client 2`: where the
/// time went, as far as the hub knows; `None` from a hub that does not say.
pub(crate) fn breakdown(metrics: &proto::LlmMetrics) -> Option<String> {
    let queue = metrics
        .queue_ms
        .filter(|queue| *queue > 0.0)
        .map(|queue| format!("queue {}", short_ms(queue)));
    let parts = parts(metrics)?;
    let all: Vec<String> = queue.into_iter().chain(parts).collect();
    Some(format!("ms: {}", all.join(", ")))
}

/// The breakdown without the queue wait (for a table that has a column of its own for
/// it): `hub 0.2, tunnel 1.1, provider TTFB 40 TTFT 180, client 2`.
pub(crate) fn breakdown_after_queue(metrics: &proto::LlmMetrics) -> Option<String> {
    parts(metrics).map(|parts| parts.join(", "))
}

/// The parts of the breakdown the hub measured, in the order a request meets them.
fn parts(metrics: &proto::LlmMetrics) -> Option<Vec<String>> {
    if [
        metrics.hub_ms,
        metrics.tunnel_ms,
        metrics.provider_ttfb_ms,
        metrics.provider_ttft_ms,
        metrics.client_read_ms,
    ]
    .iter()
    .all(Option::is_none)
    {
        return None;
    }
    let mut parts = Vec::new();
    let mut part = |name: &str, value: Option<f64>| {
        if let Some(value) = value {
            parts.push(format!("{name} {}", short_ms(value)));
        }
    };
    part("hub", metrics.hub_ms);
    part("tunnel", metrics.tunnel_ms);
    let provider = match (metrics.provider_ttfb_ms, metrics.provider_ttft_ms) {
        (Some(ttfb), Some(ttft)) => Some(format!(
            "provider TTFB {} TTFT {}",
            short_ms(ttfb),
            short_ms(ttft)
        )),
        (Some(ttfb), None) => Some(format!("provider TTFB {}", short_ms(ttfb))),
        (None, Some(ttft)) => Some(format!("provider TTFT {}", short_ms(ttft))),
        (None, None) => None,
    };
    parts.extend(provider);
    if let Some(read) = metrics.client_read_ms {
        parts.push(format!("client {}", short_ms(read)));
    }
    Some(parts)
}

/// Milliseconds for people: one decimal below 10, whole above.
fn short_ms(ms: f64) -> String {
    if ms < 10.0 {
        let rounded = format!("{ms:.1}");
        rounded
            .strip_suffix(".0")
            .map_or(rounded.clone(), str::to_owned)
    } else {
        format!("{ms:.0}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breakdown_names_what_the_hub_knows() {
        let none = proto::LlmMetrics {
            queue_ms: Some(4.0),
            ..proto::LlmMetrics::default()
        };
        assert_eq!(breakdown(&none), None);
        let full = proto::LlmMetrics {
            queue_ms: Some(3.0),
            hub_ms: Some(0.24),
            tunnel_ms: Some(1.05),
            provider_ttfb_ms: Some(40.4),
            provider_ttft_ms: Some(180.0),
            client_read_ms: Some(2.0),
            ..proto::LlmMetrics::default()
        };
        assert_eq!(
            breakdown(&full).as_deref(),
            Some("ms: queue 3, hub 0.2, tunnel 1.1, provider TTFB 40 TTFT 180, client 2")
        );
        assert_eq!(
            breakdown_after_queue(&full).as_deref(),
            Some("hub 0.2, tunnel 1.1, provider TTFB 40 TTFT 180, client 2")
        );
        let original = proto::LlmMetrics {
            queue_ms: Some(0.0),
            hub_ms: Some(12.0),
            client_read_ms: Some(0.5),
            ..proto::LlmMetrics::default()
        };
        assert_eq!(
            breakdown(&original).as_deref(),
            Some("ms: hub 12, client 0.5")
        );
    }
}
