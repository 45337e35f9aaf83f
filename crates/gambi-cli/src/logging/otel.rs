//! OpenTelemetry traces (the `otel` feature): the spans of each inference request, sent
//! over OTLP/HTTP (protobuf) to a collector.
//!
//! The hub and the runtime make the spans (`request`, `queue`, `dispatch` in the hub;
//! `forward` and `provider` in the runtime, linked to the hub's through the
//! `tunnel.request`); this module only exports them. A filter of its own, apart from the
//! log filter, takes those spans and nothing else: the long-lived spans of sessions and
//! tunnels would make traces of hours and keep their events in memory until they end,
//! and the libraries' debug events may hold what logs mask (`token=`). Spans leave in
//! batches from a thread of the SDK's own, so a slow collector never holds up a request;
//! when its queue is full, spans are dropped.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, Value};
use opentelemetry_otlp::{ExporterBuildError, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SdkTracerProvider, Tracer};
use tracing::Level;
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Layer as _;
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{Filtered, Targets};
use url::Url;

/// The layer that hands spans to the exporter.
pub(crate) type TraceLayer = Filtered<OpenTelemetryLayer<Registry, Tracer>, Targets, Registry>;

/// The path OTLP/HTTP collectors take traces on, added to the endpoint as the
/// specification does for `OTEL_EXPORTER_OTLP_ENDPOINT`.
const TRACES_PATH: &str = "v1/traces";

/// Longest wait, when the command ends, for the last spans to reach the collector.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Exporting traces, from [`Traces::start`] to [`Traces::shutdown`].
#[derive(Debug)]
pub(crate) struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Starts exporting to the collector at `endpoint`, as `service` (`service.name`,
    /// unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES` names one). Connects to
    /// nothing yet.
    pub(crate) fn start(endpoint: &Url, service: &'static str) -> Result<Self, ExporterBuildError> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(traces_url(endpoint))
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource(service))
            .build();
        Ok(Self { provider })
    }

    /// The layer that records the request spans for this exporter.
    pub(crate) fn layer(&self) -> TraceLayer {
        // No busy/idle times, thread attributes or context activation: each would cost
        // something every time a streamed response's span is entered, once per token.
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("gambi"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_context_activation(false)
            .with_filter(filter())
    }

    /// Sends the spans not sent yet and stops.
    pub(crate) fn shutdown(self) -> OTelSdkResult {
        self.provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
    }
}

/// Where the traces go: `endpoint` with `/v1/traces` added, unless it is there already.
fn traces_url(endpoint: &Url) -> String {
    let base = endpoint.as_str();
    if endpoint.path().trim_end_matches('/').ends_with(TRACES_PATH) {
        return base.to_owned();
    }
    if base.ends_with('/') {
        format!("{base}{TRACES_PATH}")
    } else {
        format!("{base}/{TRACES_PATH}")
    }
}

/// What the traces say about who sent them: the SDK's defaults and what the standard
/// variables add, with `service` as the name unless they name one.
fn resource(service: &'static str) -> Resource {
    let builder = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        env!("CARGO_PKG_VERSION"),
    ));
    if names_a_service(&Resource::builder().build()) {
        builder.build()
    } else {
        builder.with_service_name(service).build()
    }
}

/// Whether `resource` has a service name other than the SDK's placeholder.
fn names_a_service(resource: &Resource) -> bool {
    resource
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| name != Value::from("unknown_service"))
}

/// The spans of an inference request, and the events in them: the hub's exchange span,
/// its queue and dispatch spans, and the runtime's forward and provider spans, with
/// tower-http's report of a failed exchange.
fn filter() -> Targets {
    Targets::new()
        .with_target("gambi_hub::web", Level::INFO)
        .with_target("gambi_hub::inference", Level::INFO)
        .with_target("gambi_participant::tunnel", Level::INFO)
        .with_target("gambi_participant::forward", Level::INFO)
        .with_target("tower_http::trace", Level::WARN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traces_go_to_v1_traces() {
        let check = |endpoint: &str, expected: &str| {
            let endpoint = Url::parse(endpoint).expect("a URL");
            assert_eq!(traces_url(&endpoint), expected, "{endpoint}");
        };
        check("http://localhost:4318", "http://localhost:4318/v1/traces");
        check("http://localhost:4318/", "http://localhost:4318/v1/traces");
        check("https://c.example/otlp", "https://c.example/otlp/v1/traces");
        check(
            "https://c.example/otlp/",
            "https://c.example/otlp/v1/traces",
        );
        check("http://h:4318/v1/traces", "http://h:4318/v1/traces");
    }

    #[test]
    fn only_the_spans_of_requests_are_traced() {
        let filter = filter();
        for (target, level, traced) in [
            ("gambi_hub::web", Level::INFO, true),
            ("gambi_hub::inference::create", Level::INFO, true),
            ("gambi_hub::inference::log", Level::DEBUG, false),
            ("gambi_participant::tunnel", Level::INFO, true),
            ("gambi_participant::forward", Level::WARN, true),
            ("tower_http::trace::on_failure", Level::WARN, true),
            ("tower_http::trace::on_response", Level::DEBUG, false),
            // Sessions and tunnels live for hours.
            ("gambi_hub::tunnel::session", Level::INFO, false),
            ("gambi_hub::hub", Level::INFO, false),
            ("gambi_participant::session", Level::INFO, false),
            // Libraries' debug lines may carry the tunnel token.
            ("tungstenite::handshake::client", Level::DEBUG, false),
            ("reqwest::connect", Level::DEBUG, false),
        ] {
            assert_eq!(filter.would_enable(target, &level), traced, "{target}");
        }
    }

    #[test]
    fn an_operator_may_name_the_service() {
        let named = |name: &'static str| Resource::builder_empty().with_service_name(name).build();
        assert!(names_a_service(&named("lab-hub")));
        assert!(
            !names_a_service(&named("unknown_service")),
            "the SDK's placeholder"
        );
        assert!(!names_a_service(&Resource::builder_empty().build()));
    }
}
