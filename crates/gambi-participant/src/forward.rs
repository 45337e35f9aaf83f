//! Forwarding one `tunnel.request` to the provider and streaming the answer back as
//! `tunnel.response.*` frames.
//!
//! Each provider read becomes one chunk frame as soon as it arrives (a binary message, or
//! base64 in JSON for a hub that speaks only the original protocol); nothing is buffered
//! whole. Frames go to the tunnel through a bounded channel, so a slow tunnel slows down
//! the reads from the provider instead of piling up memory; with flow control, a request
//! whose client reads slowly stops its own provider reads without holding up the others.
//!
//! The provider's answer up to its head runs in a `provider` span, a child of the
//! request's `forward` span. With the `otel` feature, the `forward` span continues the
//! trace of the hub span that sent the request (`continue_hub_trace`). Trace context is
//! never sent to the provider: it travels in the request's metadata, not in its headers.

use std::collections::BTreeMap;
use std::time::Duration;

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt as _;
use gambi_protocol as proto;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::Instrument as _;

use crate::provider::Provider;

/// `stage` of a `tunnel.response.error` for a failure talking to the provider (the
/// original runtime's only stage).
pub(crate) const STAGE_PROXY: &str = "proxy";

/// `stage` of a `tunnel.response.error` for a request refused because every slot is taken.
pub(crate) const STAGE_BUSY: &str = "busy";

/// Longest body piece put in one chunk frame; bigger provider reads are split.
const MAX_CHUNK_BYTES: usize = 256 * 1024;

/// Hub-sent headers that are never passed to the provider: hop-by-hop headers the HTTP
/// client sets itself, and credentials (the provider only ever sees the local ones).
const DROPPED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "proxy-authorization",
    "authorization",
    "cookie",
];

/// A frame a forward task queues for the tunnel, already encoded.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The request it belongs to.
    pub(crate) request_id: Arc<str>,
    /// Whether it is the request's last frame (`end` or `error`).
    pub(crate) last: bool,
    /// The WebSocket message.
    pub(crate) message: Message,
}

/// How much of a request's body the hub is ready to take, when flow control is on: the
/// forward task takes credit before it sends body bytes and waits when there is none, so
/// the provider's body is not read any further (TCP then holds the provider back).
#[derive(Debug)]
pub(crate) struct Credit {
    bytes: Semaphore,
}

impl Credit {
    /// Most credit held at once; a hub granting more is not believed.
    const MAX: usize = u32::MAX as usize;

    /// Credit of `window` bytes, the window the hub granted at registration.
    pub(crate) fn new(window: u32) -> Self {
        Self {
            bytes: Semaphore::new(window as usize),
        }
    }

    /// The hub grants `bytes` more.
    pub(crate) fn grant(&self, bytes: u64) {
        let room = Self::MAX.saturating_sub(self.bytes.available_permits());
        let bytes = usize::try_from(bytes).unwrap_or(usize::MAX).min(room);
        self.bytes.add_permits(bytes);
    }

    /// Takes between 1 and `want` bytes of credit (`want` is at least 1), waiting until
    /// there is some.
    async fn take(&self, want: usize) -> usize {
        let want = want.max(1);
        if self.bytes.available_permits() == 0 {
            match self.bytes.acquire().await {
                Ok(permit) => permit.forget(),
                // Never closed; if it were, there would be nothing left to wait for.
                Err(_) => return want,
            }
            return 1 + self.take_now(want - 1);
        }
        self.take_now(want).max(1)
    }

    /// Takes up to `want` bytes of the credit there is, without waiting. One task takes
    /// from a request's credit, so what is available stays available.
    fn take_now(&self, want: usize) -> usize {
        let n = self.bytes.available_permits().min(want);
        match u32::try_from(n).map(|n| self.bytes.try_acquire_many(n)) {
            Ok(Ok(permit)) => {
                permit.forget();
                n
            }
            _ => 0,
        }
    }
}

/// Where a forward task sends its frames, and how it encodes them.
#[derive(Debug, Clone)]
pub(crate) struct Replies {
    /// The request answered.
    pub(crate) request_id: Arc<str>,
    /// The tunnel's queue.
    pub(crate) frames: mpsc::Sender<Outgoing>,
    /// Body bytes as binary chunk messages instead of base64 in JSON.
    pub(crate) binary: bool,
    /// The request's credit, with flow control on.
    pub(crate) credit: Option<Arc<Credit>>,
    /// Report the runtime's and the provider's times on `tunnel.response.start` (the hub
    /// granted the `timing` extension).
    pub(crate) timing: bool,
}

impl Replies {
    async fn send(&self, frame: &proto::ParticipantToHub, last: bool) -> Result<(), ForwardError> {
        self.queue(Message::text(frame.to_json()), last).await
    }

    async fn queue(&self, message: Message, last: bool) -> Result<(), ForwardError> {
        self.frames
            .send(Outgoing {
                request_id: self.request_id.clone(),
                last,
                message,
            })
            .await
            .map_err(|_| ForwardError::TunnelGone)
    }

    /// Sends one provider read, within the request's credit and frame size.
    async fn body(&self, mut piece: Bytes) -> Result<(), ForwardError> {
        while !piece.is_empty() {
            let mut want = piece.len().min(MAX_CHUNK_BYTES);
            if let Some(credit) = &self.credit {
                want = credit.take(want).await;
            }
            let part = piece.split_to(want);
            let message = if self.binary {
                match proto::BinaryChunk::encode(&self.request_id, &part) {
                    Some(message) => Message::Binary(message),
                    None => Message::text(
                        proto::ParticipantToHub::chunk(&*self.request_id, &part).to_json(),
                    ),
                }
            } else {
                Message::text(proto::ParticipantToHub::chunk(&*self.request_id, &part).to_json())
            };
            self.queue(message, false).await?;
        }
        Ok(())
    }
}

/// Makes `span` (a request's `forward` span) a child of the hub span that sent `request`,
/// when the hub sent W3C trace context in its metadata, and marks it as the server side
/// of that call.
#[cfg(feature = "otel")]
pub(crate) fn continue_hub_trace(span: &tracing::Span, request: &proto::TunnelRequest) {
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    span.record("otel.kind", "server");
    let carrier: std::collections::HashMap<String, String> =
        request.trace_context().into_iter().collect();
    if carrier.is_empty() {
        return;
    }
    let parent = opentelemetry_sdk::propagation::TraceContextPropagator::new().extract(&carrier);
    if parent.span().span_context().is_valid() {
        // Fails only when no OpenTelemetry layer records the span: nothing to link.
        let _ = span.set_parent(parent);
    }
}

/// Forwards `request` to the provider and sends every frame of the answer through
/// `replies`, always ending with `tunnel.response.end` or `tunnel.response.error`.
///
/// Dropping the future (the session aborts it on `tunnel.cancel`) drops the provider
/// request, which closes its connection: the provider sees the client go away.
pub(crate) async fn forward(
    provider: &Provider,
    request: proto::TunnelRequest,
    response_timeout: Duration,
    replies: &Replies,
) {
    let request_id = request.request_id.clone();
    let received = Instant::now();
    let result = stream_response(provider, request, response_timeout, replies, received).await;
    let last = match result {
        Ok(()) => proto::ParticipantToHub::ResponseEnd { request_id },
        Err(ForwardError::TunnelGone) => return,
        Err(ForwardError::Provider(message)) => {
            tracing::debug!(%message, "forward failed");
            proto::ParticipantToHub::ResponseError {
                request_id,
                stage: STAGE_PROXY.to_owned(),
                message,
            }
        }
    };
    // If the tunnel is gone there is nobody left to tell.
    let _ = replies.send(&last, true).await;
}

#[derive(Debug)]
enum ForwardError {
    /// The provider failed; reported to the hub.
    Provider(String),
    /// The tunnel's frame channel closed; nothing can be reported.
    TunnelGone,
}

/// `duration` in milliseconds, to the microsecond.
fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// What the runtime reports on `tunnel.response.start` with the `timing` extension: how
/// long it has held the request (since `received`, until now) and how long its provider
/// took to answer (from `sent` to `head`).
fn timing(received: Instant, sent: Instant, head: Instant) -> proto::ResponseTiming {
    proto::ResponseTiming {
        runtime_ms: millis(received.elapsed()),
        provider_ttfb_ms: millis(head.saturating_duration_since(sent)),
    }
}

async fn stream_response(
    provider: &Provider,
    request: proto::TunnelRequest,
    response_timeout: Duration,
    replies: &Replies,
    received: Instant,
) -> Result<(), ForwardError> {
    let request_id = request.request_id.clone();
    let outgoing = build_request(provider, request)?;
    let span = tracing::info_span!(
        "provider",
        status = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
    );
    #[cfg(feature = "otel")]
    span.record("otel.kind", "client");
    let sent = Instant::now();
    let answered = tokio::time::timeout(response_timeout, outgoing.send())
        .instrument(span.clone())
        .await;
    if let Ok(Ok(response)) = &answered {
        span.record("status", i64::from(response.status().as_u16()));
    }
    drop(span);
    let response = match answered {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            return Err(ForwardError::Provider(format!(
                "provider request failed: {}",
                error_chain(&error.without_url())
            )));
        }
        Err(_) => {
            return Err(ForwardError::Provider(format!(
                "provider did not answer within {} s",
                response_timeout.as_secs()
            )));
        }
    };
    let head = Instant::now();
    let start = proto::ParticipantToHub::ResponseStart {
        request_id,
        status: response.status().as_u16(),
        headers: header_map_to_wire(response.headers()),
        timing: replies.timing.then(|| timing(received, sent, head)),
    };
    replies.send(&start, false).await?;
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|error| {
            ForwardError::Provider(format!(
                "provider response broke off: {}",
                error_chain(&error.without_url())
            ))
        })?;
        replies.body(piece).await?;
    }
    Ok(())
}

fn build_request(
    provider: &Provider,
    request: proto::TunnelRequest,
) -> Result<reqwest::RequestBuilder, ForwardError> {
    let method = match request.method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "DELETE" => Method::DELETE,
        other => {
            return Err(ForwardError::Provider(format!(
                "unsupported method {other:?}"
            )));
        }
    };
    if !request.path.starts_with('/') {
        return Err(ForwardError::Provider(format!(
            "request path {:?} does not start with '/'",
            request.path
        )));
    }
    let mut headers = merge_headers(&request.headers, provider);
    let mut builder = provider
        .client()
        .request(method, provider.url(&request.path));
    if let Some(body) = request.body {
        let body = serde_json::to_vec(&body)
            .map_err(|error| ForwardError::Provider(format!("cannot encode body: {error}")))?;
        headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/json"));
        builder = builder.body(body);
    }
    Ok(builder.headers(headers))
}

/// The headers sent to the provider: the hub's (minus [`DROPPED_HEADERS`] and invalid
/// ones), then the local credentials, which replace any header of the same name.
pub(crate) fn merge_headers(hub: &BTreeMap<String, String>, provider: &Provider) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in hub {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        if !DROPPED_HEADERS.contains(&name.as_str()) {
            headers.append(name, value);
        }
    }
    provider.auth().apply_to(&mut headers);
    headers
}

/// Provider response headers as the wire's string map; repeated headers are joined with
/// `, ` and values that are not text are left out.
fn header_map_to_wire(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut wire: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else {
            continue;
        };
        wire.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    wire
}

/// An error and its causes, joined with `: `.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;
    use crate::auth::AuthHeaders;

    fn provider(auth: &[(&str, &str)]) -> Provider {
        Provider::new(
            &Url::parse("http://127.0.0.1:9/").expect("url"),
            AuthHeaders::from_pairs(auth.iter().copied()).expect("valid"),
        )
        .expect("provider")
    }

    #[test]
    fn local_credentials_win_and_hub_credentials_are_dropped() {
        let hub = BTreeMap::from([
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (
                "Authorization".to_owned(),
                "Bearer room-password".to_owned(),
            ),
            ("X-Api-Key".to_owned(), "from-hub".to_owned()),
            ("Host".to_owned(), "evil".to_owned()),
            ("X-Trace".to_owned(), "t1".to_owned()),
            ("Bad Name".to_owned(), "x".to_owned()),
        ]);
        let merged = merge_headers(&hub, &provider(&[("x-api-key", "local-key")]));
        assert_eq!(merged["content-type"], "application/json");
        assert_eq!(merged["x-api-key"], "local-key");
        assert_eq!(merged.get_all("x-api-key").iter().count(), 1);
        assert_eq!(merged["x-trace"], "t1");
        assert!(merged.get("authorization").is_none());
        assert!(merged.get("host").is_none());

        let with_local = merge_headers(&hub, &provider(&[("authorization", "Bearer sk-local")]));
        assert_eq!(with_local["authorization"], "Bearer sk-local");
    }

    #[test]
    fn response_headers_join_repeats() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        assert_eq!(
            header_map_to_wire(&headers),
            BTreeMap::from([
                ("content-type".to_owned(), "text/event-stream".to_owned()),
                ("x-a".to_owned(), "1, 2".to_owned()),
            ])
        );
    }

    #[tokio::test(start_paused = true)]
    async fn timing_splits_the_runtime_s_time_from_the_provider_s() {
        let received = Instant::now();
        tokio::time::advance(Duration::from_micros(1_500)).await;
        let sent = Instant::now();
        tokio::time::advance(Duration::from_millis(40)).await;
        let head = Instant::now();
        tokio::time::advance(Duration::from_micros(250)).await;
        assert_eq!(
            timing(received, sent, head),
            proto::ResponseTiming {
                runtime_ms: 41.75,
                provider_ttfb_ms: 40.0,
            }
        );
    }

    #[tokio::test]
    async fn credit_is_taken_up_to_what_was_granted_and_waited_for_after() {
        let credit = Arc::new(Credit::new(10));
        assert_eq!(credit.take(4).await, 4);
        assert_eq!(credit.take(100).await, 6, "the rest of the window");
        let waiting = {
            let credit = credit.clone();
            tokio::spawn(async move { credit.take(100).await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "no credit, no bytes");
        credit.grant(3);
        assert_eq!(waiting.await.expect("credit came"), 3);
        credit.grant(u64::MAX);
        assert_eq!(credit.take(usize::MAX).await, Credit::MAX, "capped");
    }

    #[tokio::test]
    async fn body_pieces_respect_credit_and_frame_size() {
        let (frames, mut queue) = mpsc::channel(16);
        let credit = Arc::new(Credit::new(
            u32::try_from(MAX_CHUNK_BYTES * 3).expect("fits"),
        ));
        let replies = Replies {
            request_id: Arc::from("r1"),
            frames,
            binary: true,
            credit: Some(credit.clone()),
            timing: false,
        };
        replies
            .body(Bytes::from(vec![b'x'; MAX_CHUNK_BYTES * 2 + 5]))
            .await
            .expect("queued");
        let mut sizes = Vec::new();
        while let Ok(outgoing) = queue.try_recv() {
            let Message::Binary(message) = outgoing.message else {
                panic!("a binary chunk");
            };
            let chunk = proto::BinaryChunk::decode(&message).expect("a chunk");
            assert_eq!(chunk.request_id, "r1");
            sizes.push(message.len() - chunk.body_offset);
        }
        assert_eq!(sizes, [MAX_CHUNK_BYTES, MAX_CHUNK_BYTES, 5]);
        assert_eq!(credit.take(usize::MAX).await, MAX_CHUNK_BYTES - 5);
    }
}
