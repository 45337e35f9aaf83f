//! Streams a started response to its client.
//!
//! A relay task owns everything a streaming request holds — the upstream response, the
//! scheduler lease, the event log — and pushes the body into a bounded channel that the
//! HTTP response reads. This keeps three promises:
//!
//! * a client that goes away is noticed at once (the channel closes), even while the
//!   provider is silent: the task ends, dropping the upstream (which sends
//!   `tunnel.cancel`) and the lease (which frees the slot);
//! * a client that stops reading long enough to keep the channel full for
//!   `slow_client_grace` is cut off with an error, so it never holds a slot or the tunnel;
//! * the body is never buffered whole: each chunk is converted (or passed through) and
//!   sent as it arrives.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures::Stream;
use gambi_protocol as proto;
use proto::LlmProtocol;
use proto::event::stage;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use super::filter::UsageChunkFilter;
use super::log::RequestLog;
use super::scan::NativeStreamScanner;
use super::upstream::{BodyEvent, Failure, Upstream};
use crate::adapter::usage::TokenUsage;
use crate::adapter::{ChatToResponsesStream, ResponsesToChatStream};
use crate::hub::Hub;
use crate::responses::AdaptedResponse;
use crate::scheduler::Lease;

/// How the relay turns provider bytes into client bytes.
#[derive(Debug)]
pub(super) enum Conversion {
    /// Same protocol on both sides: bytes pass through, watched for usage.
    Native {
        /// Watches for usage, first content and the response id.
        scanner: Box<NativeStreamScanner>,
        /// Removes the usage chunk the hub asked for on the client's behalf.
        filter: Option<UsageChunkFilter>,
        /// The client's protocol.
        protocol: LlmProtocol,
    },
    /// Chat Completions from the provider, Responses to the client.
    ToResponses(Box<ChatToResponsesStream>),
    /// Responses from the provider, Chat Completions to the client.
    ToChat(Box<ResponsesToChatStream>),
}

impl Conversion {
    fn start(&mut self) -> Bytes {
        match self {
            Self::ToResponses(stream) => stream.start(),
            Self::Native { .. } | Self::ToChat(_) => Bytes::new(),
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Bytes {
        match self {
            Self::Native {
                scanner, filter, ..
            } => {
                scanner.feed(chunk);
                match filter {
                    Some(filter) => filter.feed(chunk),
                    None => Bytes::copy_from_slice(chunk),
                }
            }
            Self::ToResponses(stream) => stream.feed(chunk),
            Self::ToChat(stream) => stream.feed(chunk),
        }
    }

    fn finish(&mut self) -> Bytes {
        match self {
            Self::Native {
                scanner, filter, ..
            } => {
                scanner.finish();
                filter
                    .as_mut()
                    .map(UsageChunkFilter::finish)
                    .unwrap_or_default()
            }
            Self::ToResponses(stream) => stream.finish(),
            Self::ToChat(stream) => stream.finish(),
        }
    }

    fn fail(&mut self, failure: &Failure) -> Bytes {
        match self {
            Self::Native {
                protocol, scanner, ..
            } => error_event(*protocol, failure, scanner.events_seen()),
            Self::ToResponses(stream) => stream.fail(&failure.message),
            Self::ToChat(stream) => stream.fail(&failure.message),
        }
    }

    fn first_content(&self) -> bool {
        match self {
            Self::Native { scanner, .. } => scanner.first_content_seen(),
            Self::ToResponses(stream) => stream.first_content_emitted(),
            Self::ToChat(stream) => stream.first_content_emitted(),
        }
    }

    fn usage(&self) -> Option<TokenUsage> {
        match self {
            Self::Native { scanner, .. } => scanner.usage(),
            Self::ToResponses(stream) => stream.usage(),
            Self::ToChat(stream) => stream.usage(),
        }
    }

    /// The error a converted stream ended with (the provider reported one mid-stream, or
    /// stopped short), if it did: such a request ends with `llm.error`, not `llm.complete`.
    fn failure(&self) -> Option<String> {
        match self {
            Self::Native { scanner, .. } => scanner
                .error_seen()
                .then(|| "The provider reported an error in its stream.".to_owned()),
            Self::ToResponses(stream) => stream
                .final_response()
                .filter(|response| response["status"] == "failed")
                .map(|response| {
                    response["error"]["message"]
                        .as_str()
                        .unwrap_or("The provider's stream failed.")
                        .to_owned()
                }),
            Self::ToChat(stream) => stream.failure().map(str::to_owned),
        }
    }
}

/// An error event in the client's protocol, for a stream that already started and has
/// carried `events` events.
fn error_event(protocol: LlmProtocol, failure: &Failure, events: u64) -> Bytes {
    let code = failure.code.as_str();
    let message = failure.message.as_str();
    match protocol {
        LlmProtocol::ChatCompletions => crate::adapter::sse::data_frame(&json!({
            "error": {"message": message, "type": "server_error", "param": null, "code": code}
        })),
        LlmProtocol::OpenResponses => crate::adapter::sse::event_frame(
            "error",
            &json!({"type": "error", "code": code, "message": message, "param": null,
                    "sequence_number": events}),
        ),
    }
}

/// What to remember once the stream has completed.
#[derive(Debug)]
pub(super) enum Remember {
    /// Nothing.
    Nothing,
    /// A native Responses stream: remember which participant owns the response id.
    NativeOwner {
        /// The room's id.
        room_id: String,
        /// The participant.
        participant_id: String,
    },
    /// An adapted Responses stream: store the final response and its input items.
    Adapted {
        /// The room's id.
        room_id: String,
        /// The participant.
        participant_id: String,
        /// The normalised input items.
        input_items: Vec<Value>,
    },
}

/// Everything a streaming response holds while it runs.
#[derive(Debug)]
pub(super) struct Relay {
    /// The hub (for the response registry and its clock).
    pub hub: Hub,
    /// The started response.
    pub upstream: Upstream,
    /// The slot it occupies.
    pub lease: Lease,
    /// Its events.
    pub log: RequestLog,
    /// How bytes are converted.
    pub conversion: Conversion,
    /// What to remember at the end.
    pub remember: Remember,
}

/// Body chunks buffered between the relay and the client.
const BODY_BUFFER: usize = 64;

impl Relay {
    /// Starts the relay task and returns the body for the client's response.
    pub(super) fn spawn(self) -> Body {
        let (sender, receiver) = mpsc::channel::<Bytes>(BODY_BUFFER);
        let cut_off = CancellationToken::new();
        let grace = self.hub.config().slow_client_grace;
        let tracker = self.hub.tracker().clone();
        let shutdown = self.hub.shutdown_token().clone();
        tracker.spawn(
            self.run(sender, cut_off.clone(), grace, shutdown)
                .in_current_span(),
        );
        Body::from_stream(client_body(receiver, cut_off))
    }

    async fn run(
        mut self,
        sender: mpsc::Sender<Bytes>,
        cut_off: CancellationToken,
        grace: Duration,
        shutdown: CancellationToken,
    ) {
        let opening = self.conversion.start();
        if !opening.is_empty() && !deliver(&sender, opening, grace, &cut_off).await {
            return self.client_gone(&cut_off);
        }
        loop {
            let event = tokio::select! {
                biased;
                () = sender.closed() => return self.client_gone(&cut_off),
                () = shutdown.cancelled() => BodyEvent::Failed(Failure::new(
                    proto::ErrorCode::InternalError,
                    "Hub shutting down.",
                )),
                event = self.upstream.next() => event,
            };
            match event {
                BodyEvent::Chunk(bytes) => {
                    let out = self.conversion.feed(&bytes);
                    if self.conversion.first_content() {
                        self.log.first_content();
                    }
                    self.remember();
                    if !out.is_empty() && !deliver(&sender, out, grace, &cut_off).await {
                        return self.client_gone(&cut_off);
                    }
                }
                BodyEvent::End => {
                    let tail = self.conversion.finish();
                    self.remember();
                    if !tail.is_empty() && !deliver(&sender, tail, grace, &cut_off).await {
                        return self.client_gone(&cut_off);
                    }
                    self.lease.succeed();
                    match self.conversion.failure() {
                        Some(message) => self.log.fail(stage::STREAM, &message),
                        None => {
                            let usage = self.conversion.usage();
                            self.log.complete(self.upstream.status, usage);
                        }
                    }
                    // Free the slot before `sender` goes (parameters drop after the
                    // body), so a client that has seen the end finds its slot free.
                    drop(self);
                    return;
                }
                BodyEvent::Failed(failure) => {
                    let tail = self.conversion.fail(&failure);
                    self.log.fail(stage::STREAM, &failure.message);
                    // The upstream is over: free the slot now, not once a slow client has
                    // taken the error (which may take `grace`).
                    drop(self);
                    let _ = deliver(&sender, tail, grace, &cut_off).await;
                    return;
                }
            }
        }
    }

    /// The client left or was cut off: the upstream and the lease are dropped with `self`.
    fn client_gone(mut self, cut_off: &CancellationToken) {
        if cut_off.is_cancelled() {
            self.log.fail(
                stage::STREAM,
                "The client stopped reading the response; it was cut off.",
            );
        } else {
            self.log.fail(
                stage::CANCELLED,
                "The client disconnected before the response was complete.",
            );
        }
    }

    /// Remembers the response as soon as it can, before the client sees what it could act
    /// on: a native one once the stream names it (the client may retrieve or cancel it
    /// while it streams), an adapted one once it is final (the client may chain on it as
    /// soon as it reads the terminal event). Does nothing once done.
    fn remember(&mut self) {
        let remembered = match (&self.remember, &self.conversion) {
            (Remember::Nothing, _) => return,
            (
                Remember::NativeOwner {
                    room_id,
                    participant_id,
                },
                Conversion::Native { scanner, .. },
            ) => match scanner.response_id() {
                Some(id) => {
                    self.hub
                        .responses()
                        .insert_native(id, room_id, participant_id);
                    true
                }
                None => false,
            },
            (
                Remember::Adapted {
                    room_id,
                    participant_id,
                    input_items,
                },
                Conversion::ToResponses(stream),
            ) => match stream.final_response() {
                Some(response) => {
                    let now = u64::try_from(self.hub.clock().now_ms()).unwrap_or_default();
                    let entry = AdaptedResponse {
                        room_id: room_id.clone(),
                        participant_id: participant_id.clone(),
                        response: response.clone(),
                        input_items: input_items.clone(),
                        created_at_ms: now,
                    };
                    self.hub
                        .responses()
                        .insert_adapted(stream.response_id(), entry, now);
                    true
                }
                None => false,
            },
            _ => true,
        };
        if remembered {
            self.remember = Remember::Nothing;
        }
    }
}

/// Sends `bytes` to the client, waiting at most `grace` for room in its buffer. Returns
/// false when the client is gone or was cut off.
async fn deliver(
    sender: &mpsc::Sender<Bytes>,
    bytes: Bytes,
    grace: Duration,
    cut_off: &CancellationToken,
) -> bool {
    match sender.try_send(bytes) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Closed(_)) => false,
        Err(mpsc::error::TrySendError::Full(bytes)) => {
            match tokio::time::timeout(grace, sender.send(bytes)).await {
                Ok(Ok(())) => true,
                Ok(Err(_)) => false,
                Err(_) => {
                    cut_off.cancel();
                    false
                }
            }
        }
    }
}

/// The client's side of the body channel; ends with an error when the relay cuts it off.
fn client_body(
    mut receiver: mpsc::Receiver<Bytes>,
    cut_off: CancellationToken,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    async_stream::stream! {
        loop {
            tokio::select! {
                biased;
                () = cut_off.cancelled() => {
                    yield Err(std::io::Error::other("response cut off: the client stopped reading"));
                    break;
                }
                chunk = receiver.recv() => match chunk {
                    Some(chunk) => yield Ok(chunk),
                    None => break,
                },
            }
        }
    }
}
