//! How the actor reads its socket: every message the socket already holds in one batch,
//! pings answered, binary chunks taken without a copy, malformed frames counted and
//! ignored, and each response event handed to its request's buffer without waiting.

use std::sync::atomic::Ordering;

use axum::extract::ws::Message;
use bytes::Bytes;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use gambi_protocol as proto;
use tokio::time::Instant;
use tracing::debug;

use super::actor::{Actor, CLOSE_WRITE_TIMEOUT, Flow, MAX_BATCH, bounded};
use crate::tunnel::event::{TunnelEvent, TunnelFailure};
use crate::tunnel::inbound::Pushed;

impl<S> Actor<S>
where
    S: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Send
        + Unpin
        + 'static,
{
    /// Handles `first` and whatever else the socket already holds, up to a batch, without
    /// going round the `select!` for each (which re-arms every branch).
    pub(super) async fn on_messages(
        &mut self,
        first: Option<Result<Message, axum::Error>>,
    ) -> Flow {
        let mut message = first;
        let mut handled = 0;
        loop {
            if let Flow::Stop(failure, close) = self.on_message(message).await {
                return Flow::Stop(failure, close);
            }
            handled += 1;
            if handled == MAX_BATCH || self.paused_on.is_some() {
                return Flow::Continue;
            }
            match self.socket.next().now_or_never() {
                Some(next) => message = next,
                None => return Flow::Continue,
            }
        }
    }

    async fn on_message(&mut self, message: Option<Result<Message, axum::Error>>) -> Flow {
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(bytes))) => {
                if bytes.first() == Some(&proto::BinaryChunk::KIND) {
                    self.on_binary_chunk(bytes);
                    return Flow::Continue;
                }
                // The original hub accepts JSON frames sent as binary messages.
                match std::str::from_utf8(&bytes) {
                    Ok(text) => text.into(),
                    Err(_) => {
                        self.count_malformed("binary frame is neither a chunk nor UTF-8");
                        return Flow::Continue;
                    }
                }
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                self.seen();
                return Flow::Continue;
            }
            Some(Ok(Message::Close(_))) => {
                // The reply the WebSocket queued goes out on the next flush; sending it
                // completes the closing handshake the participant started.
                let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, self.socket.flush()).await;
                return Flow::Stop(TunnelFailure::Disconnected, None);
            }
            None => return Flow::Stop(TunnelFailure::Disconnected, None),
            Some(Err(error)) => {
                debug!(%error, "tunnel read failed");
                let too_big = error
                    .into_inner()
                    .downcast_ref::<tokio_tungstenite::tungstenite::Error>()
                    .is_some_and(|error| {
                        matches!(error, tokio_tungstenite::tungstenite::Error::Capacity(_))
                    });
                return Flow::Stop(
                    TunnelFailure::Disconnected,
                    too_big.then_some(proto::CLOSE_TOO_BIG),
                );
            }
        };
        let frame = match proto::tunnel::ParticipantFrame::parse(text.as_str()) {
            Ok(frame) => frame,
            Err(error) if error.is_unknown_type() => {
                debug!(%error, "ignoring frame of unknown type");
                return Flow::Continue;
            }
            Err(error) => {
                self.count_malformed(&error.to_string());
                return Flow::Continue;
            }
        };
        self.seen();
        match frame {
            proto::tunnel::ParticipantFrame::Ping { .. } => {
                let pong = proto::HubToParticipant::Pong {
                    timestamp: self.context.clock.now_ms(),
                };
                let shutdown = self.context.shutdown.clone();
                let socket = &mut self.socket;
                let sent = bounded(&shutdown, async move {
                    match socket.send(Message::Text(pong.to_json().into())).await {
                        Ok(()) => Flow::Continue,
                        Err(_) => Flow::Stop(TunnelFailure::Disconnected, None),
                    }
                })
                .await;
                if let Flow::Stop(failure, close) = sent {
                    return Flow::Stop(failure, close);
                }
            }
            proto::tunnel::ParticipantFrame::ResponseStart {
                request_id,
                status,
                headers,
                timing,
            } => {
                // Only a runtime granted the extension means what it reports.
                let timing = timing
                    .filter(|_| self.context.extensions.timing)
                    .map(proto::ResponseTiming::sanitized);
                self.deliver(
                    &request_id,
                    TunnelEvent::Start {
                        status,
                        headers,
                        timing,
                    },
                );
            }
            proto::tunnel::ParticipantFrame::ResponseChunk { request_id, chunk } => {
                match proto::tunnel::decode_chunk(&chunk) {
                    Ok(bytes) => self.deliver(&request_id, TunnelEvent::Chunk(Bytes::from(bytes))),
                    Err(error) => self.count_malformed(&error.to_string()),
                }
            }
            proto::tunnel::ParticipantFrame::ResponseEnd { request_id } => {
                self.deliver(&request_id, TunnelEvent::End);
            }
            proto::tunnel::ParticipantFrame::ResponseError {
                request_id,
                stage,
                message,
            } => {
                let failure = TunnelFailure::Participant {
                    stage: stage.into_owned(),
                    message: message.into_owned(),
                };
                self.deliver(&request_id, TunnelEvent::Error(failure));
            }
        }
        Flow::Continue
    }

    /// A body chunk as a binary message: its bytes go to the caller without a copy.
    fn on_binary_chunk(&mut self, message: Bytes) {
        let request_id = match proto::BinaryChunk::decode(&message) {
            Ok(chunk) => chunk,
            Err(error) => return self.count_malformed(&error.to_string()),
        };
        self.seen();
        let body = message.slice(request_id.body_offset..);
        let request_id = request_id.request_id.to_owned();
        self.deliver(&request_id, TunnelEvent::Chunk(body));
    }

    /// Hands an event to the request's caller without ever waiting for it; a full buffer
    /// makes the actor stop reading the tunnel until the caller takes from it.
    fn deliver(&mut self, request_id: &str, event: TunnelEvent) {
        let terminal = matches!(event, TunnelEvent::End | TunnelEvent::Error(_));
        let started = matches!(event, TunnelEvent::Start { .. });
        let Some(pending) = self.pending.get_mut(request_id) else {
            return;
        };
        pending.last_event = self.last_frame;
        pending.started |= started;
        match pending.inbound.push(event, self.last_frame) {
            Pushed::Room => {}
            Pushed::Full if terminal => {}
            Pushed::Full => {
                debug!(request = %request_id, "reader's buffer is full; pausing the tunnel");
                self.paused_on = Some(request_id.to_owned());
            }
            Pushed::CallerGone => {
                // Its stream's drop sends the cancel.
                self.pending.remove(request_id);
                return;
            }
        }
        if terminal {
            self.pending.remove(request_id);
        }
    }

    fn seen(&mut self) {
        self.last_frame = Instant::now();
        self.shared
            .last_seen_ms
            .store(self.context.clock.now_ms(), Ordering::Relaxed);
    }

    fn count_malformed(&self, reason: &str) {
        let count = self.shared.malformed.fetch_add(1, Ordering::Relaxed) + 1;
        self.context
            .malformed_frames
            .fetch_add(1, Ordering::Relaxed);
        debug!(count, reason, "ignoring malformed tunnel frame");
    }
}
