//! The actor's side of a session: what it needs and shares with its handle, the requests
//! it tracks, its one `select!` loop, and what it writes to the socket (requests, cancels,
//! credits, the final close frame). Reading the socket is `read`'s.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message};
use futures::{Sink, SinkExt, Stream, StreamExt};
use gambi_protocol as proto;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::clock::Clock;
use crate::tunnel::event::{Timeouts, TunnelFailure};
use crate::tunnel::inbound::{BufferGauge, Inbound};
use crate::tunnel::stream::Control;

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

pub(super) enum Command {
    Dispatch {
        request_id: String,
        /// The `tunnel.request` frame, serialized by the caller (off the actor's task).
        frame: String,
        inbound: Arc<Inbound>,
        timeouts: Timeouts,
    },
}

pub(super) struct Shared {
    pub(super) id: u64,
    pub(super) last_seen_ms: AtomicI64,
    pub(super) closed: CancellationToken,
    pub(super) exit_reason: OnceLock<TunnelFailure>,
    pub(super) malformed: AtomicU64,
    pub(super) finished_cleanly: AtomicBool,
    /// The credit window of this tunnel's requests, when flow control is on.
    pub(super) window: Option<u32>,
    pub(super) stream_buffer: usize,
    pub(super) buffered: Arc<BufferGauge>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("id", &self.id).finish()
    }
}

/// Longest the actor spends handling one message, which in practice means writing to the
/// socket: a participant that stops reading would otherwise block the actor in a write
/// forever, out of reach of the idle timeout, of `close` and of hub shutdown.
const WRITE_TIMEOUT: Duration = proto::PARTICIPANT_TIMEOUT;

/// Longest the actor waits to write its final close frame.
pub(super) const CLOSE_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the actor looks for stalled readers and overdue participants, while it has
/// requests in flight.
const CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// Most frames read, or written before one flush, in one batch.
pub(super) const MAX_BATCH: usize = 64;

/// A request in flight, as the actor tracks it.
pub(super) struct Pending {
    pub(super) inbound: Arc<Inbound>,
    pub(super) timeouts: Timeouts,
    /// When the response started, if it has.
    pub(super) started: bool,
    /// When the request went out, or its last event came in.
    pub(super) last_event: Instant,
}

pub(super) struct Actor<S> {
    pub(super) socket: S,
    pub(super) shared: Arc<Shared>,
    pub(super) context: SessionContext,
    pub(super) pending: HashMap<String, Pending>,
    pub(super) last_frame: Instant,
    /// The request whose full buffer keeps the actor from reading the tunnel.
    pub(super) paused_on: Option<String>,
}

pub(super) enum Flow {
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
    pub(super) async fn run(
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
pub(super) async fn bounded(
    shutdown: &CancellationToken,
    handler: impl Future<Output = Flow>,
) -> Flow {
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
