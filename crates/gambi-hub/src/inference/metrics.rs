//! The metrics `llm.complete` reports for one request.

use gambi_protocol::ResponseTiming;

use crate::adapter::usage::TokenUsage;

/// Metrics of one request as `llm.complete` reports them; unknown values are `None` and are
/// omitted on the wire by the protocol type the hub copies them into.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Metrics {
    /// Time from the start of the request to the first content delta, in ms.
    pub ttft_ms: Option<f64>,
    /// Time from the start of the request to its end, in ms.
    pub duration_ms: f64,
    /// Prompt tokens.
    pub input_tokens: Option<u64>,
    /// Generated tokens.
    pub output_tokens: Option<u64>,
    /// Total tokens: the reported total, else input + output.
    pub total_tokens: Option<u64>,
    /// Generation speed in output tokens per second.
    pub tokens_per_second: Option<f64>,
}

impl Metrics {
    /// Computes metrics from three instants in milliseconds (any common origin, fractions
    /// kept: a local answer may take less than one) and the usage.
    ///
    /// `tokens_per_second` divides output tokens by the generation time, `duration − ttft`,
    /// which measures how fast the participant generates. The original divided by the whole
    /// duration, so a long queue or prompt-processing time made a fast model look slow. For a
    /// non-streamed request there is no first-content instant, so `ttft_ms` is `None` and the
    /// whole duration is the generation time. The speed is omitted when the output token count
    /// is unknown or the generation time is zero.
    pub(super) fn compute(
        started_ms: f64,
        first_content_ms: Option<f64>,
        completed_ms: f64,
        usage: Option<TokenUsage>,
    ) -> Self {
        let duration_ms = (completed_ms - started_ms).max(0.0);
        let ttft_ms = first_content_ms.map(|t| (t - started_ms).clamp(0.0, duration_ms));
        let usage = usage.unwrap_or_default();
        let generation_ms = duration_ms - ttft_ms.unwrap_or(0.0);
        let tokens_per_second = match usage.output_tokens {
            Some(out) if generation_ms > 0.0 => Some(out as f64 * 1000.0 / generation_ms),
            _ => None,
        };
        Self {
            ttft_ms,
            duration_ms,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            total_tokens: usage.total(),
            tokens_per_second,
        }
    }
}

/// Where a request's time went, as `llm.complete` and `llm.error` report it; unknown parts
/// are `None`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Breakdown {
    /// The hub's own time before dispatch.
    pub hub_ms: Option<f64>,
    /// The tunnel's round trip.
    pub tunnel_ms: Option<f64>,
    /// The provider's time to first byte, as its runtime measured it.
    pub provider_ttfb_ms: Option<f64>,
    /// The provider's time to first token.
    pub provider_ttft_ms: Option<f64>,
    /// The client's time to read the end of a stream.
    pub client_read_ms: Option<f64>,
}

/// What the hub measured of one request, in milliseconds, for [`Breakdown::compute`].
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Marks {
    /// The hub's own time before dispatch (already less its waits).
    pub hub_ms: Option<f64>,
    /// From dispatch to the response head's arrival.
    pub head_ms: Option<f64>,
    /// From dispatch to the first content (for a non-streamed request, the whole answer).
    pub first_content_ms: Option<f64>,
    /// What the runtime reported with the `timing` extension.
    pub timing: Option<ResponseTiming>,
    /// From the arrival of a stream's last byte to the client taking it.
    pub client_read_ms: Option<f64>,
}

impl Breakdown {
    /// Splits the hub's times with the runtime's.
    ///
    /// The runtime held the request `timing.runtime_ms` of the `head_ms` the hub waited for
    /// the head: the rest is the tunnel's round trip. The first content travels the same
    /// tunnel as the head, so the provider produced it `first_content_ms − head_ms` after
    /// its head, which it sent `provider_ttfb_ms` after it was asked: their sum is the
    /// provider's own time to first token. Without the runtime's timing (an original
    /// runtime, or a hub that did not grant it) neither can be told apart.
    pub(super) fn compute(marks: Marks) -> Self {
        let timing = marks.timing;
        let tunnel_ms = marks
            .head_ms
            .zip(timing)
            .map(|(head, timing)| (head - timing.runtime_ms).max(0.0));
        let provider_ttft_ms = match (marks.head_ms, marks.first_content_ms, timing) {
            (Some(head), Some(first), Some(timing)) => {
                Some(timing.provider_ttfb_ms + (first - head).max(0.0))
            }
            _ => None,
        };
        Self {
            hub_ms: marks.hub_ms.map(|ms| ms.max(0.0)),
            tunnel_ms,
            provider_ttfb_ms: timing.map(|timing| timing.provider_ttfb_ms),
            provider_ttft_ms,
            client_read_ms: marks.client_read_ms.map(|ms| ms.max(0.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breakdown() {
        let timing = Some(ResponseTiming {
            runtime_ms: 41.0,
            provider_ttfb_ms: 40.0,
        });
        let cases = [
            // A stream through our runtime: 2 ms of tunnel, the first token 60 ms after the
            // head, the client 3 ms behind.
            (
                Marks {
                    hub_ms: Some(0.25),
                    head_ms: Some(43.0),
                    first_content_ms: Some(103.0),
                    timing,
                    client_read_ms: Some(3.0),
                },
                Breakdown {
                    hub_ms: Some(0.25),
                    tunnel_ms: Some(2.0),
                    provider_ttfb_ms: Some(40.0),
                    provider_ttft_ms: Some(100.0),
                    client_read_ms: Some(3.0),
                },
            ),
            // An original runtime: no timing, so no split of the tunnel and the provider.
            (
                Marks {
                    hub_ms: Some(1.0),
                    head_ms: Some(43.0),
                    first_content_ms: Some(103.0),
                    timing: None,
                    client_read_ms: None,
                },
                Breakdown {
                    hub_ms: Some(1.0),
                    ..Breakdown::default()
                },
            ),
            // Failed before the head: only what is known. Odd clocks never go negative.
            (
                Marks {
                    hub_ms: Some(-0.5),
                    head_ms: Some(40.0),
                    first_content_ms: Some(39.0),
                    timing,
                    client_read_ms: Some(-1.0),
                },
                Breakdown {
                    hub_ms: Some(0.0),
                    tunnel_ms: Some(0.0),
                    provider_ttfb_ms: Some(40.0),
                    provider_ttft_ms: Some(40.0),
                    client_read_ms: Some(0.0),
                },
            ),
            (Marks::default(), Breakdown::default()),
        ];
        for (marks, expected) in cases {
            assert_eq!(Breakdown::compute(marks), expected, "{marks:?}");
        }
    }

    fn u(i: Option<u64>, o: Option<u64>, t: Option<u64>) -> Option<TokenUsage> {
        Some(TokenUsage {
            input_tokens: i,
            output_tokens: o,
            total_tokens: t,
        })
    }

    #[test]
    fn metrics() {
        let cases = [
            // Stream: ttft 200 ms, generation 800 ms for 40 tokens -> 50 tok/s.
            (
                (1_000.0, Some(1_200.0), 2_000.0, u(Some(10), Some(40), None)),
                Metrics {
                    ttft_ms: Some(200.0),
                    duration_ms: 1_000.0,
                    input_tokens: Some(10),
                    output_tokens: Some(40),
                    total_tokens: Some(50),
                    tokens_per_second: Some(50.0),
                },
            ),
            // Non-stream: no ttft, the whole duration generates.
            (
                (0.0, None, 500.0, u(None, Some(10), Some(30))),
                Metrics {
                    ttft_ms: None,
                    duration_ms: 500.0,
                    input_tokens: None,
                    output_tokens: Some(10),
                    total_tokens: Some(30),
                    tokens_per_second: Some(20.0),
                },
            ),
            // Content arrived at the very end: no generation time, no speed.
            (
                (0.0, Some(500.0), 500.0, u(Some(1), Some(1), None)),
                Metrics {
                    ttft_ms: Some(500.0),
                    duration_ms: 500.0,
                    input_tokens: Some(1),
                    output_tokens: Some(1),
                    total_tokens: Some(2),
                    tokens_per_second: None,
                },
            ),
            // Unknown usage; clock went backwards.
            (
                (900.0, Some(950.0), 800.0, None),
                Metrics {
                    ttft_ms: Some(0.0),
                    duration_ms: 0.0,
                    ..Metrics::default()
                },
            ),
            // A local stream of 0.4 ms: fractions of a millisecond, and a speed.
            (
                (0.0, Some(0.1), 0.4, u(Some(3), Some(3), None)),
                Metrics {
                    ttft_ms: Some(0.1),
                    duration_ms: 0.4,
                    input_tokens: Some(3),
                    output_tokens: Some(3),
                    total_tokens: Some(6),
                    tokens_per_second: Some(3.0 * 1000.0 / (0.4 - 0.1)),
                },
            ),
        ];
        for ((start, first, end, usage), expected) in cases {
            assert_eq!(Metrics::compute(start, first, end, usage), expected);
        }
    }
}
