//! The `llm.*` events of one inference request.
//!
//! A [`RequestLog`] is created once routing has chosen a participant. It publishes
//! `llm.request`, then exactly one terminal event: `llm.complete` with metrics, or
//! `llm.error` with the stage that failed. If it is dropped without either (the client
//! went away, so the task serving it was dropped), it publishes `llm.error` with stage
//! `cancelled` — every routed request ends with a terminal event.
//!
//! Each event also counts in the hub's Prometheus metrics (atomics only: the series of the
//! request's participant is looked up once, when the log starts), and is a debug line in
//! the log, written in the span of the HTTP exchange
//! that started the request (request id, room, participant) wherever the event happens:
//! in the handler, in the task relaying a stream, or in a drop after the client left.

use std::sync::Arc;

use gambi_protocol as proto;
use proto::LlmProtocol;
use proto::event::stage;
use tokio::time::Instant;

use super::metrics::{Breakdown, Marks, Metrics};
use super::upstream::Upstream;
use crate::adapter::usage::TokenUsage;
use crate::metrics::{Outcome, Series};
use crate::room::{Room, Target};

/// Who serves a request, as the events report it.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    /// Participant id.
    pub participant_id: String,
    /// Its nickname.
    pub nickname: String,
    /// Its endpoint.
    pub endpoint: String,
    /// Its model.
    pub model: String,
}

impl From<&Target> for Served {
    fn from(target: &Target) -> Self {
        Self {
            participant_id: target.id.clone(),
            nickname: target.nickname.clone(),
            endpoint: target.endpoint.clone(),
            model: target.model.clone(),
        }
    }
}

/// When the hub began working on an attempt, and how much of its time since went to
/// waiting on others: from these the hub's own time before dispatch is known.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HubTime {
    /// The request's arrival, for a first attempt; the previous attempt's failure, for a
    /// retry.
    pub since: Instant,
    /// Time since then that was not the hub's: the request body arriving, the queue.
    pub waited: std::time::Duration,
}

/// What the hub learned of an attempt's way through the tunnel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dispatched {
    /// When the request was handed to the tunnel.
    at: Instant,
    /// When its response head arrived.
    head: Option<Instant>,
    /// What the runtime measured.
    timing: Option<proto::ResponseTiming>,
}

impl Dispatched {
    /// The marks of a response whose head has arrived.
    pub(crate) fn of(upstream: &Upstream) -> Self {
        Self {
            at: upstream.dispatched_at,
            head: upstream.stream().head_received_at(),
            timing: upstream.timing,
        }
    }
}

/// Publishes the events of one request attempt.
#[derive(Debug)]
pub(crate) struct RequestLog {
    room: Arc<Room>,
    request_id: String,
    requested_model: String,
    client_protocol: LlmProtocol,
    provider_protocol: LlmProtocol,
    served: Served,
    queue_ms: f64,
    attempt: u32,
    started: Instant,
    hub_time: HubTime,
    dispatched: Option<Dispatched>,
    first_content: Option<Instant>,
    answered: Option<Instant>,
    /// When the hub received a stream's last byte, once its client has taken it.
    stream_end: Option<Instant>,
    finished: bool,
    /// Its participant's Prometheus counters.
    series: Arc<Series>,
    /// The span of the request's HTTP exchange, for the debug lines.
    span: tracing::Span,
}

/// `duration` in milliseconds, to the microsecond.
fn millis(duration: std::time::Duration) -> f64 {
    // Microseconds fit an f64 exactly for any duration a request can take.
    #[allow(clippy::cast_precision_loss)]
    let micros = duration.as_micros() as f64;
    micros / 1000.0
}

impl RequestLog {
    /// Starts the log of an attempt and publishes `llm.request`.
    #[allow(clippy::too_many_arguments)] // Each field is reported on the wire.
    pub(crate) fn start(
        room: Arc<Room>,
        request_id: &str,
        requested_model: &str,
        client_protocol: LlmProtocol,
        provider_protocol: LlmProtocol,
        served: Served,
        queued: std::time::Duration,
        attempt: u32,
        hub_time: HubTime,
    ) -> Self {
        let queue_ms = millis(queued);
        let whole_queue_ms = u64::try_from(queued.as_millis()).unwrap_or(u64::MAX);
        let adapted = client_protocol != provider_protocol;
        let series = room.metrics().series(&served.participant_id, &served.model);
        room.metrics().queued(queued);
        tracing::debug!(
            model = requested_model,
            protocol = client_protocol.as_str(),
            adapted,
            queue_ms,
            attempt,
            "llm.request"
        );
        room.publish(proto::RoomEventPayload::LlmRequest(
            proto::event::LlmRequestEvent {
                request_id: request_id.to_owned(),
                participant_id: served.participant_id.clone(),
                model: requested_model.to_owned(),
                protocol: client_protocol,
                adapted: client_protocol != provider_protocol,
                queue_ms: Some(whole_queue_ms),
                attempt: (attempt > 1).then_some(attempt),
            },
        ));
        Self {
            room,
            request_id: request_id.to_owned(),
            requested_model: requested_model.to_owned(),
            client_protocol,
            provider_protocol,
            served,
            queue_ms,
            attempt,
            started: Instant::now(),
            hub_time,
            dispatched: None,
            first_content: None,
            answered: None,
            stream_end: None,
            finished: false,
            series,
            span: tracing::Span::current(),
        }
    }

    /// Switches to the other protocol (after the provider turned out to lack a route). The
    /// missing route's answer was not content: the first content is measured again.
    pub(crate) fn set_provider_protocol(&mut self, protocol: LlmProtocol) {
        self.provider_protocol = protocol;
        self.first_content = None;
        self.answered = None;
    }

    /// Records how the response that started went through the tunnel.
    pub(crate) fn dispatched(&mut self, upstream: &Upstream) {
        self.record_dispatch(Dispatched::of(upstream));
    }

    /// Records the marks of a response that was read whole before it reached here (an
    /// error status the hub had to look at), so its event has its breakdown too.
    pub(crate) fn record_dispatch(&mut self, marks: Dispatched) {
        self.dispatched = Some(marks);
    }

    /// Records that the client took the end of a stream whose last byte the hub received
    /// at `received` (if it did: a stream that failed has no such byte).
    pub(crate) fn stream_read(&mut self, received: Option<Instant>) {
        self.stream_end = received;
    }

    /// Records that a non-streamed answer arrived (its head; the body follows at once).
    /// Its `ttftMs` is then the time until the answer, and since the tokens arrive
    /// together, its speed spans the whole duration.
    pub(crate) fn answered(&mut self) {
        if self.answered.is_none() {
            self.answered = Some(Instant::now());
        }
    }

    /// Records the first content delta of a stream.
    pub(crate) fn first_content(&mut self) {
        if self.first_content.is_none() {
            self.first_content = Some(Instant::now());
        }
    }

    fn metrics(&self, usage: Option<TokenUsage>) -> proto::LlmMetrics {
        let now = Instant::now();
        let first = self.first_content.map(|at| millis(at - self.started));
        let metrics = Metrics::compute(0.0, first, millis(now - self.started), usage);
        let answered = self.answered.map(|at| millis(at - self.started));
        let breakdown = Breakdown::compute(self.marks(now));
        proto::LlmMetrics {
            ttft_ms: metrics.ttft_ms.or(answered),
            duration_ms: metrics.duration_ms,
            input_tokens: metrics.input_tokens,
            output_tokens: metrics.output_tokens,
            total_tokens: metrics.total_tokens,
            tokens_per_second: metrics.tokens_per_second,
            queue_ms: Some(self.queue_ms),
            hub_ms: breakdown.hub_ms,
            tunnel_ms: breakdown.tunnel_ms,
            provider_ttfb_ms: breakdown.provider_ttfb_ms,
            provider_ttft_ms: breakdown.provider_ttft_ms,
            client_read_ms: breakdown.client_read_ms,
        }
    }

    /// The hub's measures of the request, as of `now`, relative to its dispatch.
    fn marks(&self, now: Instant) -> Marks {
        let Some(dispatched) = self.dispatched else {
            return Marks::default();
        };
        let since_dispatch = |at: Instant| millis(at.saturating_duration_since(dispatched.at));
        let hub = dispatched.at.saturating_duration_since(self.hub_time.since);
        Marks {
            hub_ms: Some(millis(hub.saturating_sub(self.hub_time.waited))),
            head_ms: dispatched.head.map(since_dispatch),
            first_content_ms: self.first_content.or(self.answered).map(since_dispatch),
            timing: dispatched.timing,
            client_read_ms: self
                .stream_end
                .map(|end| millis(now.saturating_duration_since(end))),
        }
    }

    /// Publishes `llm.complete`.
    pub(crate) fn complete(&mut self, status: u16, usage: Option<TokenUsage>) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let metrics = self.metrics(usage);
        self.series.complete(self.client_protocol, &metrics);
        self.span.in_scope(|| {
            tracing::debug!(
                status,
                model = %self.served.model,
                ttft_ms = metrics.ttft_ms,
                duration_ms = metrics.duration_ms,
                output_tokens = metrics.output_tokens,
                "llm.complete"
            );
        });
        self.room.publish(proto::RoomEventPayload::LlmComplete(
            proto::event::LlmCompleteEvent {
                request_id: self.request_id.clone(),
                participant_id: self.served.participant_id.clone(),
                model: self.served.model.clone(),
                protocol: self.provider_protocol,
                client_protocol: Some(self.client_protocol),
                adapted: self.client_protocol != self.provider_protocol,
                status: Some(status),
                metrics,
            },
        ));
    }

    /// Publishes `llm.error` for a failure at `stage`.
    pub(crate) fn fail(&mut self, stage: &str, error: &str) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        let model = if stage == stage::DISPATCH {
            self.requested_model.clone()
        } else {
            self.served.model.clone()
        };
        let metrics = self.metrics(None);
        self.series
            .count(self.client_protocol, Outcome::of_stage(stage));
        self.span.in_scope(|| {
            tracing::debug!(stage, error, duration_ms = metrics.duration_ms, "llm.error");
        });
        self.room.publish(proto::RoomEventPayload::LlmError(
            proto::event::LlmErrorEvent {
                request_id: self.request_id.clone(),
                participant_id: Some(self.served.participant_id.clone()),
                nickname: Some(self.served.nickname.clone()),
                endpoint: Some(self.served.endpoint.clone()),
                model,
                protocol: self.provider_protocol,
                client_protocol: Some(self.client_protocol),
                adapted: self.client_protocol != self.provider_protocol,
                stage: stage.to_owned(),
                error: error.to_owned(),
                metrics: Some(metrics),
                attempt: (self.attempt > 1).then_some(self.attempt),
            },
        ));
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        self.fail(
            stage::CANCELLED,
            "The client disconnected before the response was complete.",
        );
    }
}

/// The `llm.*` identity of a request before a participant serves it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unrouted<'a> {
    /// The room.
    pub room: &'a Room,
    /// Id of the inference request.
    pub request_id: &'a str,
    /// The `model` string the client sent.
    pub requested_model: &'a str,
    /// The protocol the client used.
    pub client_protocol: LlmProtocol,
}

impl Unrouted<'_> {
    /// Publishes `llm.error` at `stage`, naming `participant_id` when one was chosen.
    pub(crate) fn fail(&self, stage: &str, error: &str, participant_id: Option<&str>) {
        self.room
            .metrics()
            .unrouted()
            .count(self.client_protocol, Outcome::of_stage(stage));
        self.room.publish(proto::RoomEventPayload::LlmError(
            proto::event::LlmErrorEvent {
                request_id: self.request_id.to_owned(),
                participant_id: participant_id.map(str::to_owned),
                nickname: None,
                endpoint: None,
                model: self.requested_model.to_owned(),
                protocol: self.client_protocol,
                client_protocol: Some(self.client_protocol),
                adapted: false,
                stage: stage.to_owned(),
                error: error.to_owned(),
                metrics: None,
                attempt: None,
            },
        ));
    }
}

/// Reports a request whose client leaves while it waits for a slot: dropped while armed,
/// it publishes `llm.error` with stage `cancelled`.
#[derive(Debug)]
pub(crate) struct Waiting<'a> {
    request: Unrouted<'a>,
    armed: bool,
}

impl<'a> Waiting<'a> {
    /// Starts watching a wait.
    pub(crate) fn new(request: Unrouted<'a>) -> Self {
        Self {
            request,
            armed: true,
        }
    }

    /// The wait ended (with a slot or an error); nothing to report on drop.
    pub(crate) fn done(mut self) {
        self.armed = false;
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.request.fail(
                stage::CANCELLED,
                "The client disconnected while waiting for a free participant.",
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Metrics, millis};

    #[test]
    fn times_keep_their_fractions_of_a_millisecond() {
        assert_eq!(millis(Duration::from_micros(400)), 0.4);
        assert_eq!(millis(Duration::from_micros(1_250)), 1.25);
        assert_eq!(millis(Duration::from_secs(3)), 3000.0);
        // A 0.4 ms local stream of 4 tokens, first content after 0.1 ms: its duration is
        // not 0, and its speed is reported.
        let metrics = Metrics::compute(
            0.0,
            Some(millis(Duration::from_micros(100))),
            millis(Duration::from_micros(400)),
            Some(crate::adapter::usage::TokenUsage {
                input_tokens: Some(2),
                output_tokens: Some(4),
                total_tokens: None,
            }),
        );
        assert_eq!(metrics.duration_ms, 0.4);
        let speed = metrics.tokens_per_second.expect("a speed");
        assert!((speed - 4.0 / 0.3 * 1000.0).abs() < 1e-6, "{speed}");
    }
}
