//! Streams a started response to its client.
//!
//! The [`Relay`] is the client's response body itself: when the HTTP server asks for the
//! next frame, it takes the next chunk the tunnel holds for the request, converts it (or
//! passes it through, watched for metrics) and hands it over. No task and no channel sit
//! between the tunnel and the client, and the body is never buffered whole. It keeps three
//! promises:
//!
//! * a client that goes away drops the body, which drops the upstream (sending
//!   `tunnel.cancel`) and the lease (freeing the slot), and publishes `llm.error`;
//! * a client that takes nothing for `slow_client_grace` is cut off by the tunnel session,
//!   which frees its lease and logs it at once (the abandon hook), without waiting for the
//!   client to read again;
//! * the slot is free before the client sees the end of the stream.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use gambi_protocol as proto;
use http_body::Frame;
use proto::LlmProtocol;
use proto::event::stage;
use serde_json::{Value, json};

use super::log::RequestLog;
use super::tap::StreamTap;
use super::upstream::{BodyEvent, Failure, Upstream};
use crate::adapter::usage::TokenUsage;
use crate::adapter::{ChatToResponsesStream, ResponsesToChatStream};
use crate::hub::{Hub, InFlightGuard};
use crate::responses::AdaptedResponse;
use crate::scheduler::Lease;

/// How the relay turns provider bytes into client bytes.
#[derive(Debug)]
pub(super) enum Conversion {
    /// Same protocol on both sides: bytes pass through, watched for usage (the usage chunk
    /// the hub asked for on the client's behalf hidden).
    Native {
        /// Watches for usage, first content and the response id.
        tap: Box<StreamTap>,
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

    fn feed(&mut self, chunk: Bytes) -> Bytes {
        match self {
            Self::Native { tap, .. } => tap.feed(chunk),
            Self::ToResponses(stream) => stream.feed(&chunk),
            Self::ToChat(stream) => stream.feed(&chunk),
        }
    }

    fn finish(&mut self) -> Bytes {
        match self {
            Self::Native { tap, .. } => tap.finish(),
            Self::ToResponses(stream) => stream.finish(),
            Self::ToChat(stream) => stream.finish(),
        }
    }

    fn fail(&mut self, failure: &Failure) -> Bytes {
        match self {
            Self::Native { protocol, tap } => error_event(*protocol, failure, tap.events_seen()),
            Self::ToResponses(stream) => stream.fail(&failure.message),
            Self::ToChat(stream) => stream.fail(&failure.message),
        }
    }

    fn first_content(&self) -> bool {
        match self {
            Self::Native { tap, .. } => tap.first_content_seen(),
            Self::ToResponses(stream) => stream.first_content_emitted(),
            Self::ToChat(stream) => stream.first_content_emitted(),
        }
    }

    fn usage(&self) -> Option<TokenUsage> {
        match self {
            Self::Native { tap, .. } => tap.usage(),
            Self::ToResponses(stream) => stream.usage(),
            Self::ToChat(stream) => stream.usage(),
        }
    }

    /// The error a converted stream ended with (the provider reported one mid-stream, or
    /// stopped short), if it did: such a request ends with `llm.error`, not `llm.complete`.
    fn failure(&self) -> Option<String> {
        match self {
            Self::Native { tap, .. } => tap
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

/// What ends with the request: its slot and its events. Whoever ends the request first
/// (the body, or the tunnel session giving up on a slow client) takes it.
#[derive(Debug)]
struct Ending {
    lease: Lease,
    log: RequestLog,
}

type SharedEnding = Arc<Mutex<Option<Ending>>>;

fn take(ending: &SharedEnding) -> Option<Ending> {
    ending.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// A streaming response on its way to the client: the HTTP body of the response.
#[derive(Debug)]
pub(super) struct Relay {
    hub: Hub,
    upstream: Upstream,
    conversion: Conversion,
    remember: Remember,
    ending: SharedEnding,
    /// Counts the request in flight until the stream is over, for shutdown.
    _in_flight: Arc<InFlightGuard>,
    opened: bool,
    first_content_logged: bool,
    done: bool,
}

impl Relay {
    /// A relay of `upstream`, which holds `lease` and reports to `log`.
    pub(super) fn new(
        hub: Hub,
        upstream: Upstream,
        lease: Lease,
        log: RequestLog,
        conversion: Conversion,
        remember: Remember,
        in_flight: Arc<InFlightGuard>,
    ) -> Self {
        let ending: SharedEnding = Arc::new(Mutex::new(Some(Ending { lease, log })));
        let abandoned = ending.clone();
        upstream.stream().on_abandon(move |failure| {
            if let Some(mut ending) = take(&abandoned) {
                ending.log.fail(stage::STREAM, &failure.to_string());
            }
        });
        Self {
            hub,
            upstream,
            conversion,
            remember,
            ending,
            _in_flight: in_flight,
            opened: false,
            first_content_logged: false,
            done: false,
        }
    }

    /// The response body.
    pub(super) fn into_body(self) -> Body {
        Body::new(self)
    }

    fn frame(bytes: Bytes) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Ok(Frame::data(bytes))))
    }

    /// The upstream ended: the slot is freed and the request logged before the client
    /// gets the last bytes.
    fn end(&mut self) {
        self.done = true;
        self.upstream.stream().disarm_abandon();
        let Some(mut ending) = take(&self.ending) else {
            return;
        };
        ending.lease.succeed();
        ending
            .log
            .stream_read(self.upstream.stream().end_received_at());
        match self.conversion.failure() {
            Some(message) => ending.log.fail(stage::STREAM, &message),
            None => {
                let usage = self.conversion.usage();
                ending.log.complete(self.upstream.status, usage);
            }
        }
    }

    fn fail(&mut self, failure: &Failure) {
        self.done = true;
        self.upstream.stream().disarm_abandon();
        if let Some(mut ending) = take(&self.ending) {
            ending.log.fail(stage::STREAM, &failure.message);
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
                Conversion::Native { tap, .. },
            ) => match tap.response_id() {
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

impl http_body::Body for Relay {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if !this.opened {
            this.opened = true;
            let opening = this.conversion.start();
            if !opening.is_empty() {
                return Self::frame(opening);
            }
        }
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match std::task::ready!(this.upstream.poll_next(cx)) {
                BodyEvent::Chunk(bytes) => {
                    let out = this.conversion.feed(bytes);
                    if !this.first_content_logged && this.conversion.first_content() {
                        this.first_content_logged = true;
                        if let Some(ending) = this
                            .ending
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .as_mut()
                        {
                            ending.log.first_content();
                        }
                    }
                    this.remember();
                    if !out.is_empty() {
                        return Self::frame(out);
                    }
                }
                BodyEvent::End => {
                    let tail = this.conversion.finish();
                    this.remember();
                    this.end();
                    if !tail.is_empty() {
                        return Self::frame(tail);
                    }
                }
                BodyEvent::CutOff => {
                    this.done = true;
                    return Poll::Ready(Some(Err(std::io::Error::other(
                        "response cut off: the client stopped reading",
                    ))));
                }
                BodyEvent::Failed(failure) => {
                    let tail = this.conversion.fail(&failure);
                    this.fail(&failure);
                    return Self::frame(tail);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(mut ending) = take(&self.ending) {
            ending.log.fail(
                stage::CANCELLED,
                "The client disconnected before the response was complete.",
            );
        }
    }
}
