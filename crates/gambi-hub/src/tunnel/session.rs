//! The tunnel session actor: one task owns a participant's WebSocket.
//!
//! Callers hold a [`TunnelHandle`]. [`TunnelHandle::dispatch`] registers a request and
//! sends it down the tunnel as `tunnel.request`; the response comes back as a
//! [`ResponseStream`] of [`TunnelEvent`]s (`Start`, `Chunk`..., then `End` or `Error`).
//! Dropping an unfinished stream sends `tunnel.cancel` so the participant can abort its
//! provider request.
//!
//! The actor answers `tunnel.ping` with `tunnel.pong`, closes a tunnel silent for
//! [`proto::PARTICIPANT_TIMEOUT`], ignores (and counts) frames it cannot parse, and when
//! it ends for any reason fails every request still in flight so no caller waits forever.
//! Each request has a bounded buffer between the socket and its caller: a caller that
//! stops reading until the buffer is full is cut off, so one slow client never stalls the
//! tunnel for the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::ws::{CloseFrame, Message};
use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use gambi_protocol as proto;
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::Clock;

/// One event of a response coming back through the tunnel.
#[derive(Debug, Clone, PartialEq)]
pub enum TunnelEvent {
    /// The provider answered with this status and headers.
    Start {
        /// HTTP status.
        status: u16,
        /// Provider response headers.
        headers: std::collections::BTreeMap<String, String>,
    },
    /// A piece of the body.
    Chunk(Bytes),
    /// The body is complete.
    End,
    /// The request failed; nothing follows.
    Error(TunnelFailure),
}

/// Why a request ended without a complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TunnelFailure {
    /// The participant reported a failure (`tunnel.response.error`).
    Participant {
        /// Where it failed, as the participant says.
        stage: String,
        /// What failed.
        message: String,
    },
    /// The tunnel closed.
    Disconnected,
    /// A newer tunnel of the same participant replaced this one.
    Superseded,
    /// The participant was removed from its room.
    Removed,
    /// The hub is shutting down.
    Shutdown,
    /// The caller did not read fast enough and its buffer filled up.
    Overflow,
}

impl std::fmt::Display for TunnelFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Participant { stage, message } => {
                write!(f, "Participant failed ({stage}): {message}")
            }
            Self::Disconnected => f.write_str("Participant tunnel disconnected."),
            Self::Superseded => f.write_str("Participant tunnel superseded by a newer session."),
            Self::Removed => f.write_str("Participant was removed from the room."),
            Self::Shutdown => f.write_str("Hub shutting down."),
            Self::Overflow => {
                f.write_str("Response buffer overflowed: the client stopped reading the response.")
            }
        }
    }
}

impl std::error::Error for TunnelFailure {}

/// Why a request could not be sent down the tunnel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TunnelError {
    /// The tunnel is closed.
    #[error("Participant tunnel is not connected.")]
    Closed,
    /// Too many requests are in flight on this tunnel.
    #[error("Participant tunnel has too many requests in flight.")]
    TooManyPending,
}

/// What the actor needs besides the socket.
#[derive(Debug, Clone)]
pub struct SessionContext {
    /// Room code, for logs.
    pub room_code: String,
    /// Participant id, for logs.
    pub participant_id: String,
    /// The hub's clock.
    pub clock: Clock,
    /// Stops the session (hub shutdown).
    pub shutdown: CancellationToken,
    /// Most requests in flight on this tunnel.
    pub max_pending: usize,
    /// Events buffered per request.
    pub response_buffer: usize,
    /// Hub-wide count of malformed frames, shared by every session.
    pub malformed_frames: Arc<AtomicU64>,
}

enum Command {
    Dispatch {
        request: proto::TunnelRequest,
        slot: PendingSlot,
        accepted: tokio::sync::oneshot::Sender<Result<(), TunnelError>>,
    },
}

enum Control {
    Cancel(String),
    Close(proto::CloseReason, TunnelFailure),
}

struct PendingSlot {
    events: mpsc::Sender<TunnelEvent>,
    failure: Arc<OnceLock<TunnelFailure>>,
}

struct Shared {
    id: u64,
    last_seen_ms: AtomicI64,
    closed: CancellationToken,
    exit_reason: OnceLock<TunnelFailure>,
    malformed: AtomicU64,
    finished_cleanly: AtomicBool,
}

/// A cloneable handle to a tunnel session.
#[derive(Clone)]
pub struct TunnelHandle {
    shared: Arc<Shared>,
    commands: mpsc::Sender<Command>,
    control: mpsc::UnboundedSender<Control>,
}

impl std::fmt::Debug for TunnelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunnelHandle")
            .field("id", &self.shared.id)
            .field("closed", &self.is_closed())
            .finish()
    }
}

static NEXT_SESSION_ID: AtomicU64 = AtomicU64::new(1);

/// Longest the actor spends handling one message, which in practice means writing to the
/// socket: a participant that stops reading would otherwise block the actor in a write
/// forever, out of reach of the idle timeout, of `close` and of hub shutdown.
const WRITE_TIMEOUT: std::time::Duration = proto::PARTICIPANT_TIMEOUT;

/// Longest the actor waits to write its final close frame.
const CLOSE_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl TunnelHandle {
    /// Starts the actor for `socket` on `tracker` and returns its handle.
    pub fn spawn<S>(
        socket: S,
        context: SessionContext,
        tracker: &tokio_util::task::TaskTracker,
    ) -> Self
    where
        S: Stream<Item = Result<Message, axum::Error>>
            + Sink<Message, Error = axum::Error>
            + Send
            + Unpin
            + 'static,
    {
        let shared = Arc::new(Shared {
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
            last_seen_ms: AtomicI64::new(context.clock.now_ms()),
            closed: CancellationToken::new(),
            exit_reason: OnceLock::new(),
            malformed: AtomicU64::new(0),
            finished_cleanly: AtomicBool::new(false),
        });
        let (commands, command_rx) = mpsc::channel(64);
        let (control, control_rx) = mpsc::unbounded_channel();
        let actor = Actor {
            socket,
            shared: shared.clone(),
            context,
            pending: HashMap::new(),
            last_frame: Instant::now(),
        };
        let span = tracing::info_span!(
            "tunnel",
            room = %actor.context.room_code,
            participant = %actor.context.participant_id,
            session = shared.id
        );
        tracker.spawn(tracing::Instrument::instrument(
            actor.run(command_rx, control_rx),
            span,
        ));
        Self {
            shared,
            commands,
            control,
        }
    }

    /// Identifies this session among the participant's successive tunnels.
    pub fn session_id(&self) -> u64 {
        self.shared.id
    }

    /// When the tunnel last sent a valid frame, ms since the epoch.
    pub fn last_seen_ms(&self) -> i64 {
        self.shared.last_seen_ms.load(Ordering::Relaxed)
    }

    /// Frames this session could not parse.
    pub fn malformed_frames(&self) -> u64 {
        self.shared.malformed.load(Ordering::Relaxed)
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.is_cancelled()
    }

    /// Resolves when the session has ended. Cancel safe.
    pub async fn closed(&self) {
        self.shared.closed.cancelled().await;
    }

    /// Why the session ended, once it has.
    pub fn exit_reason(&self) -> Option<TunnelFailure> {
        self.shared.exit_reason.get().cloned()
    }

    /// Sends `request` down the tunnel and returns the stream of its response events.
    pub async fn dispatch(
        &self,
        request: proto::TunnelRequest,
        buffer: usize,
    ) -> Result<ResponseStream, TunnelError> {
        let (events, events_rx) = mpsc::channel(buffer.max(2));
        let failure = Arc::new(OnceLock::new());
        let request_id = request.request_id.clone();
        let (accepted, accepted_rx) = tokio::sync::oneshot::channel();
        self.commands
            .send(Command::Dispatch {
                request,
                slot: PendingSlot {
                    events,
                    failure: failure.clone(),
                },
                accepted,
            })
            .await
            .map_err(|_| TunnelError::Closed)?;
        accepted_rx.await.map_err(|_| TunnelError::Closed)??;
        Ok(ResponseStream {
            request_id,
            events: events_rx,
            failure,
            handle: self.clone(),
            finished: false,
        })
    }

    /// Asks the participant to abort a request (best effort).
    pub fn cancel(&self, request_id: &str) {
        let _ = self.control.send(Control::Cancel(request_id.to_owned()));
    }

    /// Closes the tunnel with `reason`, failing its requests with `failure`.
    pub fn close(&self, reason: proto::CloseReason, failure: TunnelFailure) {
        let _ = self.control.send(Control::Close(reason, failure));
    }
}

/// The response events of one request. Dropping it before the end cancels the request.
#[derive(Debug)]
pub struct ResponseStream {
    request_id: String,
    events: mpsc::Receiver<TunnelEvent>,
    failure: Arc<OnceLock<TunnelFailure>>,
    handle: TunnelHandle,
    finished: bool,
}

impl ResponseStream {
    /// The tunnel request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The next event; `None` after `End` or `Error`. Cancel safe.
    pub async fn next(&mut self) -> Option<TunnelEvent> {
        if self.finished {
            return None;
        }
        let event = match self.events.recv().await {
            Some(event) => event,
            None => TunnelEvent::Error(
                self.failure
                    .get()
                    .cloned()
                    .unwrap_or(TunnelFailure::Disconnected),
            ),
        };
        if matches!(event, TunnelEvent::End | TunnelEvent::Error(_)) {
            self.finished = true;
        }
        Some(event)
    }

    /// Marks the stream as finished so dropping it sends no cancel.
    pub fn mark_finished(&mut self) {
        self.finished = true;
    }
}

impl Drop for ResponseStream {
    fn drop(&mut self) {
        if !self.finished {
            self.handle.cancel(&self.request_id);
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("id", &self.id).finish()
    }
}

struct Actor<S> {
    socket: S,
    shared: Arc<Shared>,
    context: SessionContext,
    pending: HashMap<String, PendingSlot>,
    last_frame: Instant,
}

enum Flow {
    Continue,
    Stop(TunnelFailure, Option<proto::CloseReason>),
}

impl<S> Actor<S>
where
    S: Stream<Item = Result<Message, axum::Error>>
        + Sink<Message, Error = axum::Error>
        + Send
        + Unpin
        + 'static,
{
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut control: mpsc::UnboundedReceiver<Control>,
    ) {
        info!("tunnel connected");
        let shutdown = self.context.shutdown.clone();
        let (failure, close) = loop {
            let idle_deadline = self.last_frame + proto::PARTICIPANT_TIMEOUT;
            let flow = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    Flow::Stop(TunnelFailure::Shutdown, Some(proto::CLOSE_SHUTDOWN))
                }
                Some(control) = control.recv() => {
                    bounded(&shutdown, self.on_control(control)).await
                }
                Some(command) = commands.recv() => {
                    bounded(&shutdown, self.on_command(command, &mut commands, &control)).await
                }
                message = self.socket.next() => bounded(&shutdown, self.on_message(message)).await,
                () = sleep_until(idle_deadline) => {
                    warn!("tunnel silent for too long; closing it");
                    Flow::Stop(TunnelFailure::Disconnected, Some(proto::CLOSE_TIMEOUT))
                }
            };
            if let Flow::Stop(failure, close) = flow {
                break (failure, close);
            }
        };
        if let Some(close) = close {
            let frame = Message::Close(Some(CloseFrame {
                code: close.code,
                reason: close.reason.into(),
            }));
            let _ = tokio::time::timeout(CLOSE_WRITE_TIMEOUT, self.socket.send(frame)).await;
        }
        let _ = self.shared.exit_reason.set(failure.clone());
        for (_, slot) in self.pending.drain() {
            fail(&slot, failure.clone());
        }
        commands.close();
        while let Ok(Command::Dispatch { accepted, .. }) = commands.try_recv() {
            let _ = accepted.send(Err(TunnelError::Closed));
        }
        self.shared.finished_cleanly.store(true, Ordering::Relaxed);
        self.shared.closed.cancel();
        info!(reason = %failure, "tunnel closed");
    }

    async fn on_control(&mut self, control: Control) -> Flow {
        match control {
            Control::Cancel(request_id) => {
                if self.pending.remove(&request_id).is_some() {
                    debug!(request = %request_id, "cancelling request");
                    let frame = proto::HubToParticipant::Cancel { request_id };
                    if self.send(frame.to_json()).await.is_err() {
                        return Flow::Stop(TunnelFailure::Disconnected, None);
                    }
                }
                Flow::Continue
            }
            Control::Close(reason, failure) => Flow::Stop(failure, Some(reason)),
        }
    }

    /// Sends a batch of requests, flushing once. The batch stops early when a cancel or a
    /// close is waiting, so that a cancel always reaches the participant before a request
    /// that took the cancelled one's slot.
    async fn on_command(
        &mut self,
        command: Command,
        more: &mut mpsc::Receiver<Command>,
        control: &mpsc::UnboundedReceiver<Control>,
    ) -> Flow {
        let mut next = Some(command);
        while let Some(Command::Dispatch {
            request,
            slot,
            accepted,
        }) = next.take()
        {
            if self.pending.len() >= self.context.max_pending {
                let _ = accepted.send(Err(TunnelError::TooManyPending));
            } else {
                let frame = proto::HubToParticipant::Request(request);
                let proto::HubToParticipant::Request(request) = &frame else {
                    unreachable!("built as a request above");
                };
                self.pending.insert(request.request_id.clone(), slot);
                if self
                    .socket
                    .feed(Message::Text(frame.to_json().into()))
                    .await
                    .is_err()
                {
                    let _ = accepted.send(Err(TunnelError::Closed));
                    return Flow::Stop(TunnelFailure::Disconnected, None);
                }
                let _ = accepted.send(Ok(()));
            }
            if !control.is_empty() {
                break;
            }
            next = more.try_recv().ok();
        }
        if self.socket.flush().await.is_err() {
            return Flow::Stop(TunnelFailure::Disconnected, None);
        }
        Flow::Continue
    }

    async fn on_message(&mut self, message: Option<Result<Message, axum::Error>>) -> Flow {
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                Ok(text) => text.into(),
                Err(_) => {
                    self.count_malformed("binary frame is not UTF-8");
                    return Flow::Continue;
                }
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                self.seen();
                return Flow::Continue;
            }
            Some(Ok(Message::Close(_))) => {
                // The reply the WebSocket queued goes out on the next flush; sending it
                // completes the closing handshake the participant started.
                let _ = self.socket.flush().await;
                return Flow::Stop(TunnelFailure::Disconnected, None);
            }
            None => return Flow::Stop(TunnelFailure::Disconnected, None),
            Some(Err(error)) => {
                debug!(%error, "tunnel read failed");
                return Flow::Stop(TunnelFailure::Disconnected, None);
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
                if self.send(pong.to_json()).await.is_err() {
                    return Flow::Stop(TunnelFailure::Disconnected, None);
                }
            }
            proto::tunnel::ParticipantFrame::ResponseStart {
                request_id,
                status,
                headers,
            } => {
                self.deliver(&request_id, TunnelEvent::Start { status, headers })
                    .await
            }
            proto::tunnel::ParticipantFrame::ResponseChunk { request_id, chunk } => {
                match proto::tunnel::decode_chunk(&chunk) {
                    Ok(bytes) => {
                        self.deliver(&request_id, TunnelEvent::Chunk(Bytes::from(bytes)))
                            .await;
                    }
                    Err(error) => self.count_malformed(&error.to_string()),
                }
            }
            proto::tunnel::ParticipantFrame::ResponseEnd { request_id } => {
                self.deliver(&request_id, TunnelEvent::End).await;
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
                self.deliver(&request_id, TunnelEvent::Error(failure)).await;
            }
        }
        Flow::Continue
    }

    /// Hands an event to the request's caller without ever waiting for it.
    async fn deliver(&mut self, request_id: &str, event: TunnelEvent) {
        let terminal = matches!(event, TunnelEvent::End | TunnelEvent::Error(_));
        let Some(slot) = self.pending.get(request_id) else {
            return;
        };
        match slot.events.try_send(event) {
            Ok(()) => {
                if terminal {
                    self.pending.remove(request_id);
                }
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(request = %request_id, "client too slow; cutting the response off");
                if let Some(slot) = self.pending.remove(request_id) {
                    let _ = slot.failure.set(TunnelFailure::Overflow);
                }
                self.send_cancel(request_id).await;
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.pending.remove(request_id);
                self.send_cancel(request_id).await;
            }
        }
    }

    async fn send_cancel(&mut self, request_id: &str) {
        let frame = proto::HubToParticipant::Cancel {
            request_id: request_id.to_owned(),
        };
        let _ = self.send(frame.to_json()).await;
    }

    async fn send(&mut self, text: String) -> Result<(), axum::Error> {
        self.socket.send(Message::Text(text.into())).await
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

/// Runs one handler of the actor, giving up after [`WRITE_TIMEOUT`] or at shutdown.
async fn bounded(shutdown: &CancellationToken, handler: impl Future<Output = Flow>) -> Flow {
    tokio::select! {
        biased;
        () = shutdown.cancelled() => {
            Flow::Stop(TunnelFailure::Shutdown, Some(proto::CLOSE_SHUTDOWN))
        }
        flow = tokio::time::timeout(WRITE_TIMEOUT, handler) => flow.unwrap_or_else(|_| {
            warn!("participant stopped reading from its tunnel; dropping it");
            Flow::Stop(TunnelFailure::Disconnected, None)
        }),
    }
}

fn fail(slot: &PendingSlot, failure: TunnelFailure) {
    let _ = slot.failure.set(failure.clone());
    let _ = slot.events.try_send(TunnelEvent::Error(failure));
}
