//! One try of a create request on one participant, in one protocol.
//!
//! [`run`] sends the request down the participant's tunnel, waits for the response
//! head and says what it came to as an [`Outcome`]. It decides nothing: whether to try
//! another participant, to ask again in the other protocol, or to answer the client is
//! the caller's choice ([`super::create`]), made from the outcome's type.
//!
//! With the `otel` feature, the request carries the W3C trace context of the span it is
//! sent in (the caller's `dispatch` span) in its metadata, so the runtime's span for it
//! joins the same trace.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use gambi_protocol as proto;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::error::InferenceError;
use super::log::Dispatched;
use super::request::route_missing;
use super::upstream::{DispatchError, Upstream, dispatch};
use crate::config::HubConfig;
use crate::room::Target;
use crate::tunnel::TunnelError;

/// What one try came to.
#[derive(Debug)]
pub(super) enum Outcome {
    /// The response started: its body is still to come.
    Started(Upstream),
    /// The provider answered with an error status (404, 405 or 501) that is not a missing
    /// route; its whole answer is here, to pass on, with the marks of its way.
    Answered(ProviderAnswer, Dispatched),
    /// The provider has no such route: it does not speak this protocol. Its answer is here,
    /// for when the other protocol cannot be tried either.
    RouteMissing(ProviderAnswer, Dispatched),
    /// The participant failed before answering; another participant may succeed.
    Retry(Failure),
    /// The request failed in a way another participant would not change.
    Fail(InferenceError),
}

/// A provider's whole (non-streamed) answer.
#[derive(Debug, Clone)]
pub(super) struct ProviderAnswer {
    /// Its HTTP status.
    pub(super) status: u16,
    /// Its `content-type`, if it sent one.
    pub(super) content_type: Option<String>,
    /// Its body.
    pub(super) body: Bytes,
}

impl ProviderAnswer {
    /// The answer as the client gets it, with `headers` added.
    pub(super) fn into_response(self, mut headers: HeaderMap) -> Response {
        let content_type = self
            .content_type
            .as_deref()
            .and_then(|value| HeaderValue::from_str(value).ok())
            .unwrap_or_else(|| HeaderValue::from_static("application/json"));
        headers.insert(header::CONTENT_TYPE, content_type);
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        (status, headers, Body::from(self.body)).into_response()
    }
}

/// Why a participant failed before answering, and what the client gets if no other
/// participant does better.
#[derive(Debug)]
pub(super) enum Failure {
    /// An error of the hub's own.
    Error(InferenceError),
    /// The provider's own error answer (a 5xx), passed on with the headers that say who
    /// gave it.
    Provider(ProviderAnswer, HeaderMap),
}

impl Failure {
    /// What the `llm.error` event of the try says.
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Error(error) => error.message().to_owned(),
            Self::Provider(answer, _) => format!(
                "The provider answered {} before any content.",
                answer.status
            ),
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        match self {
            Self::Error(error) => error.into_response(),
            Self::Provider(answer, headers) => answer.into_response(headers),
        }
    }
}

/// Sends `request` to `target` and classifies what comes back. `headers` say who served
/// the request, for an answer passed on as it is.
pub(super) async fn run(
    config: &HubConfig,
    target: &Target,
    request: proto::TunnelRequest,
    headers: HeaderMap,
) -> Outcome {
    #[cfg(feature = "otel")]
    let request = with_trace_context(request);
    let started = dispatch(&target.tunnel, request, config.timeouts()).await;
    let mut upstream = match started {
        Ok(upstream) => upstream,
        Err(DispatchError::Tunnel(error @ TunnelError::TooLarge { .. })) => {
            // Every participant takes the same size: no other would do better.
            return Outcome::Fail(InferenceError::new(
                http::StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                proto::ErrorCode::PayloadTooLarge,
                error.to_string(),
            ));
        }
        Err(DispatchError::Timeout(after)) => {
            return Outcome::Fail(InferenceError::timeout(format!(
                "Participant '{}' did not start answering within {} s.",
                target.id,
                after.as_secs()
            )));
        }
        Err(error) => return Outcome::Retry(failed_before_answering(target, &error)),
    };
    let status = upstream.status;
    let maybe_missing_route = matches!(status, 404 | 405 | 501);
    if !maybe_missing_route && status < 500 {
        return Outcome::Started(upstream);
    }
    let marks = Dispatched::of(&upstream);
    let body = match upstream.collect(config.max_response_body).await {
        Ok(body) => body,
        Err(error) => return Outcome::Retry(failed_before_answering(target, &error)),
    };
    let answer = ProviderAnswer {
        status,
        content_type: upstream.content_type().map(str::to_owned),
        body,
    };
    if maybe_missing_route {
        if route_missing(status, &answer.body) {
            Outcome::RouteMissing(answer, marks)
        } else {
            Outcome::Answered(answer, marks)
        }
    } else {
        Outcome::Retry(Failure::Provider(answer, headers))
    }
}

/// `request` with the W3C trace context of the current span in its metadata, when that
/// span is recorded by OpenTelemetry.
#[cfg(feature = "otel")]
fn with_trace_context(mut request: proto::TunnelRequest) -> proto::TunnelRequest {
    use opentelemetry::propagation::TextMapPropagator as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    let context = tracing::Span::current().context();
    let mut carrier = std::collections::HashMap::new();
    // Injects nothing for a span OpenTelemetry does not record (no valid span context).
    opentelemetry_sdk::propagation::TraceContextPropagator::new()
        .inject_context(&context, &mut carrier);
    request.set_trace_context(carrier.into_iter().collect());
    request
}

fn failed_before_answering(target: &Target, error: &dyn std::fmt::Display) -> Failure {
    Failure::Error(InferenceError::upstream(
        proto::ErrorCode::ProviderError,
        format!(
            "Participant '{}' failed before answering: {error}",
            target.id
        ),
    ))
}
