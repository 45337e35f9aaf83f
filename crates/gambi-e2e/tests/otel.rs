//! OpenTelemetry traces (the `otel` features): one request makes one trace from the hub's
//! HTTP span, through the queue and the dispatch, across the tunnel to the runtime's
//! forward span and the provider's answer. The spans are read with the SDK's in-memory
//! exporter; hub and runtime run in this process, but the runtime's span can join the
//! hub's trace only through the context sent in the `tunnel.request`, since it is created
//! in the tunnel loop, outside every span of the hub.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use opentelemetry::trace::{SpanId, SpanKind, TraceId, TracerProvider as _};
use opentelemetry::{Context, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    InMemorySpanExporter, SdkTracerProvider, Span, SpanData, SpanProcessor,
};
use serde_json::json;
use tokio::sync::Notify;
use tracing_subscriber::layer::SubscriberExt as _;

/// The spans one request makes, by name.
const HTTP_SPAN: &str = "POST /rooms/{code}/v1/chat/completions";
const TRACE: [&str; 5] = [HTTP_SPAN, "queue", "dispatch", "forward", "provider"];

/// A safety net for a broken build; the test waits for events, never for time.
const PATIENCE: Duration = Duration::from_secs(30);

/// Wakes the test each time a span ends (after the exporter has it: processors run in
/// the order they were added).
#[derive(Debug)]
struct Ended(Arc<Notify>);

impl SpanProcessor for Ended {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, _span: SpanData) {
        self.0.notify_one();
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Spans recorded in memory while the guard lives, for the hub and the runtime of this
/// test's thread.
struct Recorder {
    exporter: InMemorySpanExporter,
    ended: Arc<Notify>,
    _provider: SdkTracerProvider,
    _guard: tracing::subscriber::DefaultGuard,
}

impl Recorder {
    fn start() -> Self {
        let exporter = InMemorySpanExporter::default();
        let ended = Arc::new(Notify::new());
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_span_processor(Ended(ended.clone()))
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("gambi-e2e"));
        let guard = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        Self {
            exporter,
            ended,
            _provider: provider,
            _guard: guard,
        }
    }

    /// Waits until every span of [`TRACE`] has ended, and returns them by name. Each
    /// must be there once: the test makes one request.
    async fn request_trace(&self) -> HashMap<&'static str, SpanData> {
        let wait = async {
            loop {
                let spans = self.exporter.get_finished_spans().unwrap();
                if TRACE
                    .iter()
                    .all(|name| spans.iter().any(|span| span.name == *name))
                {
                    return spans;
                }
                self.ended.notified().await;
            }
        };
        let spans = tokio::time::timeout(PATIENCE, wait)
            .await
            .expect("every span of the request ends");
        TRACE
            .iter()
            .map(|name| {
                let mut named = spans.iter().filter(|span| span.name == *name);
                let span = named.next().unwrap().clone();
                assert!(named.next().is_none(), "one {name} span");
                (*name, span)
            })
            .collect()
    }
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|attribute| attribute.key.as_str() == key)
        .map(|attribute| &attribute.value)
}

/// Checks that `spans` are one trace, parented request > {queue, dispatch} > forward >
/// provider, with the forward span's parent across the tunnel; returns the trace id.
fn check_parents(spans: &HashMap<&'static str, SpanData>) -> TraceId {
    let id = |name: &str| spans[name].span_context.span_id();
    let parent = |name: &str| spans[name].parent_span_id;
    let trace_id = spans[HTTP_SPAN].span_context.trace_id();
    for (name, span) in spans {
        assert_eq!(
            span.span_context.trace_id(),
            trace_id,
            "{name} is in the trace"
        );
    }
    assert_eq!(parent("queue"), id(HTTP_SPAN));
    assert_eq!(parent("dispatch"), id(HTTP_SPAN));
    assert_eq!(parent("forward"), id("dispatch"));
    assert!(
        spans["forward"].parent_span_is_remote,
        "linked across the tunnel"
    );
    assert_eq!(parent("provider"), id("forward"));

    assert_eq!(spans[HTTP_SPAN].span_kind, SpanKind::Server);
    assert_eq!(spans["dispatch"].span_kind, SpanKind::Client);
    assert_eq!(spans["forward"].span_kind, SpanKind::Server);
    assert_eq!(spans["provider"].span_kind, SpanKind::Client);
    assert_eq!(
        attribute(&spans["dispatch"], "participant"),
        Some(&Value::from("alice"))
    );
    assert_eq!(
        attribute(&spans["provider"], "status"),
        Some(&Value::I64(200))
    );
    trace_id
}

async fn cluster() -> Cluster {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    cluster
        .member("alice")
        .provider
        .push_reply(Reply::text("one two three"));
    cluster
}

#[tokio::test]
async fn one_request_is_one_trace_from_the_hub_to_the_provider() {
    let recorder = Recorder::start();
    let cluster = cluster().await;
    let response = cluster
        .post(
            "/chat/completions",
            &json!({"model": "llama3", "stream": true,
                    "messages": [{"role": "user", "content": "count"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert!(body.contains("[DONE]"), "{body}");

    let spans = recorder.request_trace().await;
    check_parents(&spans);
    assert_eq!(
        spans[HTTP_SPAN].parent_span_id,
        SpanId::INVALID,
        "a client without trace context starts the trace"
    );

    // The context travelled in the request's metadata; the provider never sees it.
    let received = cluster.member("alice").provider.last_request().unwrap();
    for header in ["traceparent", "tracestate"] {
        assert_eq!(received.header(header), None, "{header} not forwarded");
    }
    assert!(
        !String::from_utf8_lossy(&received.raw_body).contains("traceContext"),
        "nor in the body"
    );
}

#[tokio::test]
async fn a_client_trace_is_continued() {
    let recorder = Recorder::start();
    let cluster = cluster().await;
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let response = cluster
        .http
        .post(format!("{}/chat/completions", cluster.base_url()))
        .header("traceparent", format!("00-{trace_id}-{client_span}-01"))
        .json(&json!({"model": "alice",
                      "messages": [{"role": "user", "content": "count"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.bytes().await.unwrap();

    let spans = recorder.request_trace().await;
    assert_eq!(check_parents(&spans), TraceId::from_hex(trace_id).unwrap());
    assert_eq!(
        spans[HTTP_SPAN].parent_span_id,
        SpanId::from_hex(client_span).unwrap()
    );
    assert!(spans[HTTP_SPAN].parent_span_is_remote);
}
