//! The tunnel session actor: one task owns a participant's WebSocket.
//!
//! Callers hold a [`TunnelHandle`]. [`TunnelHandle::dispatch`] registers a request and
//! sends it down the tunnel as `tunnel.request`; the response comes back as a
//! [`ResponseStream`] of [`TunnelEvent`](super::TunnelEvent)s (`Start`, `Chunk`..., then `End` or `Error`).
//! Dropping an unfinished stream sends `tunnel.cancel` so the participant can abort its
//! provider request.
//!
//! The actor answers `tunnel.ping` with `tunnel.pong`, closes a tunnel silent for
//! [`proto::PARTICIPANT_TIMEOUT`], ignores (and counts) frames it cannot parse, and when
//! it ends for any reason fails every request still in flight so no caller waits forever.
//!
//! Each request's events wait for its caller in a buffer bounded in body bytes
//! ([`Inbound`](super::inbound::Inbound)). With flow control negotiated, the runtime never sends more than the credit
//! the caller has granted back by reading, so one slow reader never holds up the others.
//! With a runtime that cannot be told to pause one request (the original protocol), the
//! actor stops reading the tunnel while a request's buffer is full: head-of-line blocking
//! for the other requests on that tunnel, for at most the slow-client grace, is the price
//! of compatibility. Either way a caller that takes nothing for the grace is cut off, and
//! requests whose participant does not start, or stops sending, in time are failed: one
//! timer per session checks them all.
//!
//! This module holds the handle; `actor` the actor's state, its loop and what it writes;
//! `read` how it reads the socket and hands each frame to its request.

mod actor;
mod read;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use axum::extract::ws::Message;
use futures::{Sink, Stream};
use gambi_protocol as proto;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use actor::SessionContext;
use actor::{Actor, Command, Shared};

use super::event::{Timeouts, TunnelError, TunnelFailure};
use super::inbound::Inbound;
use super::stream::{Control, ResponseStream};

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
