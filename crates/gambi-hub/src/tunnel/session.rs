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
//!
//! Each request's events wait for its caller in a buffer bounded in body bytes
//! ([`Inbound`]). With flow control negotiated, the runtime never sends more than the credit
//! the caller has granted back by reading, so one slow reader never holds up the others.
//! With a runtime that cannot be told to pause one request (the original protocol), the
//! actor stops reading the tunnel while a request's buffer is full: head-of-line blocking
//! for the other requests on that tunnel, for at most the slow-client grace, is the price
//! of compatibility. Either way a caller that takes nothing for the grace is cut off, and
//! requests whose participant does not start, or stops sending, in time are failed: one
//! timer per session checks them all.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use bytes::Bytes;
use futures::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use gambi_protocol as proto;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::event::{Timeouts, TunnelError, TunnelEvent, TunnelFailure};
use super::inbound::{BufferGauge, Inbound, Pushed};
use super::stream::{Control, ResponseStream};
use crate::clock::Clock;

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
    /// Most body bytes held per request for its caller.
    pub stream_buffer: usize,
    /// How long a caller may take nothing of what it was sent before it is cut off.
    pub slow_client_grace: Duration,
    /// The extensions negotiated for this tunnel.
    pub extensions: proto::TunnelExtensions,
    /// Hub-wide count of malformed frames, shared by every session.
    pub malformed_frames: Arc<AtomicU64>,
    /// Hub-wide count of body bytes held for readers.
    pub buffered: Arc<BufferGauge>,
}

enum Command {
    Dispatch {
        request_id: String,
        /// The `tunnel.request` frame, serialized by the caller (off the actor's task).
        frame: String,
        inbound: Arc<Inbound>,
        timeouts: Timeouts,
    },
}

struct Shared {
    id: u64,
    last_seen_ms: AtomicI64,
    closed: CancellationToken,
    exit_reason: OnceLock<TunnelFailure>,
    malformed: AtomicU64,
    finished_cleanly: AtomicBool,
    /// The credit window of this tunnel's requests, when flow control is on.
    window: Option<u32>,
    stream_buffer: usize,
    buffered: Arc<BufferGauge>,
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
const WRITE_TIMEOUT: Duration = proto::PARTICIPANT_TIMEOUT;

/// Longest the actor waits to write its final close frame.
const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the actor looks for stalled readers and overdue participants, while it has
/// requests in flight.
const CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Most frames read, or written before one flush, in one batch.
const MAX_BATCH: usize = 64;

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
            window: context.extensions.window(),
            stream_buffer: context.stream_buffer,
            buffered: context.buffered.clone(),
        });
        let (commands, command_rx) = mpsc::channel(64);
        let (control, control_rx) = mpsc::unbounded_channel();
        let actor = Actor {
            socket,
            shared: shared.clone(),
            context,
            pending: HashMap::new(),
            last_frame: Instant::now(),
            paused_on: None,
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

    /// Sends `request` down the tunnel and returns the stream of its response events. The
    /// request fails with [`TunnelFailure::NoStart`] or [`TunnelFailure::Idle`] when the
    /// participant is slower than `timeouts` allow.
    pub async fn dispatch(
        &self,
        request: proto::TunnelRequest,
        timeouts: Timeouts,
    ) -> Result<ResponseStream, TunnelError> {
        let inbound = Arc::new(Inbound::new(
            self.shared.stream_buffer,
            self.shared.window,
            self.shared.buffered.clone(),
        ));
        let request_id = request.request_id.clone();
        let frame = proto::HubToParticipant::Request(request).to_json();
        if frame.len() > proto::MAX_TUNNEL_REQUEST {
            return Err(TunnelError::TooLarge {
                size: frame.len(),
                limit: proto::MAX_TUNNEL_REQUEST,
            });
        }
        // Nobody waits for the actor to take the request: what befalls it (too many in
        // flight, the tunnel closing first) arrives as the stream's error.
        self.commands
            .send(Command::Dispatch {
                request_id: request_id.clone(),
                frame,
                inbound: inbound.clone(),
                timeouts,
            })
            .await
            .map_err(|_| TunnelError::Closed)?;
        Ok(ResponseStream::new(
            request_id,
            inbound,
            self.control.clone(),
        ))
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

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("id", &self.id).finish()
    }
}

/// A request in flight, as the actor tracks it.
struct Pending {
    inbound: Arc<Inbound>,
    timeouts: Timeouts,
    /// When the response started, if it has.
    started: bool,
    /// When the request went out, or its last event came in.
    last_event: Instant,
}

struct Actor<S> {
    socket: S,
    shared: Arc<Shared>,
    context: SessionContext,
    pending: HashMap<String, Pending>,
    last_frame: Instant,
    /// The request whose full buffer keeps the actor from reading the tunnel.
    paused_on: Option<String>,
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
        info!(
            binary_chunks = self.context.extensions.binary_chunks,
            credit_window = self.shared.window,
            "tunnel connected"
        );
        let shutdown = self.context.shutdown.clone();
        // Made once: a fresh `cancelled()` or `sleep` each turn of the loop would register
        // and unregister a waiter or a timer for every frame.
        let cancelled = shutdown.cancelled();
        tokio::pin!(cancelled);
        let silence = tokio::time::sleep_until(self.last_frame + proto::PARTICIPANT_TIMEOUT);
        tokio::pin!(silence);
        let mut checks = tokio::time::interval(CHECK_INTERVAL);
        checks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let (failure, close) = loop {
            let paused = self.paused_inbound();
            let flow = tokio::select! {
                biased;
                () = &mut cancelled => {
                    Flow::Stop(TunnelFailure::Shutdown, Some(proto::CLOSE_RESTART))
                }
                Some(message) = control.recv() => {
                    let mut batch = control_batch(&mut control);
                    bounded(&shutdown, self.on_control(message, &mut batch)).await
                }
                Some(command) = commands.recv() => {
                    bounded(&shutdown, self.on_command(command, &mut commands, &control)).await
                }
                () = room(paused.as_deref()), if paused.is_some() => {
                    self.paused_on = None;
                    Flow::Continue
                }
                message = self.socket.next(), if paused.is_none() => {
                    self.on_messages(message).await
                }
                _ = checks.tick(), if !self.pending.is_empty() => self.check_pending().await,
                () = &mut silence, if paused.is_none() => {
                    let deadline = self.last_frame + proto::PARTICIPANT_TIMEOUT;
                    if Instant::now() < deadline {
                        silence.as_mut().reset(deadline);
                        Flow::Continue
                    } else {
                        warn!("tunnel silent for too long; closing it");
                        Flow::Stop(TunnelFailure::Disconnected, Some(proto::CLOSE_TIMEOUT))
                    }
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
        for (_, pending) in self.pending.drain() {
            // A reader that has not caught up would learn of the end only when it reads
            // again: let whoever holds its resources free them now.
            if !pending.inbound.is_drained() {
                pending.inbound.abandon(&failure);
            }
            pending.inbound.fail(failure.clone(), false);
        }
        commands.close();
        while let Ok(Command::Dispatch { inbound, .. }) = commands.try_recv() {
            inbound.fail(failure.clone(), false);
        }
        self.shared.finished_cleanly.store(true, Ordering::Relaxed);
        self.shared.closed.cancel();
        info!(reason = %failure, "tunnel closed");
    }

    fn paused_inbound(&self) -> Option<Arc<Inbound>> {
        let id = self.paused_on.as_ref()?;
        self.pending.get(id).map(|pending| pending.inbound.clone())
    }

    /// Handles `first` and the control messages already waiting behind it (credits come in
    /// bursts when a reader catches up), then flushes once.
    async fn on_control(&mut self, first: Control, more: &mut Vec<Control>) -> Flow {
        let mut written = false;
        for control in std::iter::once(first).chain(more.drain(..)) {
            let frame = match control {
                Control::Close(reason, failure) => return Flow::Stop(failure, Some(reason)),
                Control::Cancel(request_id) => {
                    if self.pending.remove(&request_id).is_none() {
                        continue;
                    }
                    if self.paused_on.as_deref() == Some(request_id.as_str()) {
                        self.paused_on = None;
                    }
                    debug!(request = %request_id, "cancelling request");
                    proto::HubToParticipant::Cancel { request_id }
                }
                Control::Credit(request_id, bytes) => {
                    if !self.pending.contains_key(&request_id) {
                        continue;
                    }
                    proto::HubToParticipant::Credit { request_id, bytes }
                }
            };
            if self
                .socket
                .feed(Message::Text(frame.to_json().into()))
                .await
                .is_err()
            {
                return Flow::Stop(TunnelFailure::Disconnected, None);
            }
            written = true;
        }
        if written && self.socket.flush().await.is_err() {
            return Flow::Stop(TunnelFailure::Disconnected, None);
        }
        Flow::Continue
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
            request_id,
            frame,
            inbound,
            timeouts,
        }) = next.take()
        {
            if self.pending.len() >= self.context.max_pending {
                inbound.fail(TunnelFailure::TooManyPending, false);
            } else {
                self.pending.insert(
                    request_id,
                    Pending {
                        inbound,
                        timeouts,
                        started: false,
                        last_event: Instant::now(),
                    },
                );
                if self.socket.feed(Message::Text(frame.into())).await.is_err() {
                    return Flow::Stop(TunnelFailure::Disconnected, None);
                }
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

    /// Handles `first` and whatever else the socket already holds, up to a batch, without
    /// going round the `select!` for each (which re-arms every branch).
    async fn on_messages(&mut self, first: Option<Result<Message, axum::Error>>) -> Flow {
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

    /// Cuts off readers that took nothing for the grace, and fails requests whose
    /// participant is overdue.
    async fn check_pending(&mut self) -> Flow {
        let now = Instant::now();
        let grace = self.context.slow_client_grace;
        let mut expired = Vec::new();
        for (request_id, pending) in &self.pending {
            let failure = if pending.inbound.is_caller_gone() {
                None
            } else if pending.inbound.stalled_for(now) >= grace {
                Some((TunnelFailure::SlowClient, true))
            } else if !pending.started
                && now.saturating_duration_since(pending.last_event) >= pending.timeouts.start
            {
                Some((TunnelFailure::NoStart(pending.timeouts.start), false))
            } else if pending.started
                && pending.inbound.is_drained()
                && now.saturating_duration_since(pending.last_event) >= pending.timeouts.idle
            {
                Some((TunnelFailure::Idle(pending.timeouts.idle), false))
            } else {
                continue;
            };
            expired.push((request_id.clone(), failure));
        }
        let mut written = false;
        for (request_id, failure) in expired {
            let Some(pending) = self.pending.remove(&request_id) else {
                continue;
            };
            if self.paused_on.as_deref() == Some(request_id.as_str()) {
                self.paused_on = None;
            }
            if let Some((failure, discard)) = failure {
                warn!(request = %request_id, reason = %failure, "giving up on a request");
                if discard {
                    pending.inbound.abandon(&failure);
                }
                pending.inbound.fail(failure, discard);
            }
            let frame = proto::HubToParticipant::Cancel { request_id };
            if self
                .socket
                .feed(Message::Text(frame.to_json().into()))
                .await
                .is_err()
            {
                return Flow::Stop(TunnelFailure::Disconnected, None);
            }
            written = true;
        }
        if written && self.socket.flush().await.is_err() {
            return Flow::Stop(TunnelFailure::Disconnected, None);
        }
        Flow::Continue
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

/// The control messages already waiting, at most a write batch of them.
fn control_batch(control: &mut mpsc::UnboundedReceiver<Control>) -> Vec<Control> {
    let mut batch = Vec::new();
    while batch.len() < MAX_BATCH {
        match control.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
    batch
}

/// Resolves when the buffer the actor waits on has room again.
async fn room(inbound: Option<&Inbound>) {
    match inbound {
        Some(inbound) => inbound.room().await,
        None => std::future::pending().await,
    }
}

/// Runs one handler of the actor, giving up after [`WRITE_TIMEOUT`] or at shutdown.
async fn bounded(shutdown: &CancellationToken, handler: impl Future<Output = Flow>) -> Flow {
    tokio::select! {
        biased;
        () = shutdown.cancelled() => {
            Flow::Stop(TunnelFailure::Shutdown, Some(proto::CLOSE_RESTART))
        }
        flow = tokio::time::timeout(WRITE_TIMEOUT, handler) => flow.unwrap_or_else(|_| {
            warn!("participant stopped reading from its tunnel; dropping it");
            Flow::Stop(TunnelFailure::Disconnected, None)
        }),
    }
}
