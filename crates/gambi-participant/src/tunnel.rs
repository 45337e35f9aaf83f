//! One tunnel connection: the `select!` loop that owns the WebSocket.
//!
//! The loop reads hub frames, spawns a forward task per `tunnel.request` (up to the
//! participant's slot count), aborts forwards on `tunnel.cancel`, writes the frames the
//! forward tasks queue (several at once, then one flush), pings the hub and runs the
//! management heartbeat off the loop. It returns why the connection ended; reconnecting
//! is the session's business.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::{Sink, SinkExt as _, Stream, StreamExt as _};
use gambi_client::ClientError;
use gambi_protocol as proto;
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinError, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::events::{EventSender, SessionEvent};
use crate::forward::{Credit, Outgoing, Replies, STAGE_BUSY, STAGE_PROXY, forward};
use crate::membership::{Membership, describe};
use crate::options::Timing;
use crate::provider::Provider;

/// Frames forward tasks may queue before they wait for the socket.
const FRAME_CHANNEL_CAPACITY: usize = 64;

/// Most frames written before one flush.
const MAX_WRITE_BATCH: usize = 64;

/// A write that takes longer than this means the tunnel is dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a closing handshake may take when leaving.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Most Responses lifecycle calls (retrieve, delete, cancel, input items) forwarded at once.
/// They do not take a generation slot: the hub sends them without one, because they are
/// quick and must work while every slot generates (cancelling a response that is streaming
/// is their point).
const MAX_LIFECYCLE_IN_FLIGHT: usize = 16;

/// Largest message accepted from the hub (a `tunnel.request` carries a whole request body).
const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Largest single WebSocket frame accepted from the hub.
const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Read buffer of the tunnel socket. Tungstenite zero-fills this much on every read
/// attempt (128 KiB by default), which made zeroing memory the runtime's largest cost per
/// token; what the hub sends (requests, credit, pongs) is small, and a larger frame still
/// arrives, the buffer just grows for it.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// WebSocket settings for the tunnel.
pub(crate) fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER_BYTES)
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectionEnd {
    /// The session was told to stop.
    Shutdown,
    /// The socket closed or failed, or the hub fell silent.
    Lost(String),
    /// The hub closed the tunnel because it is restarting: reconnect without backing off.
    Restarting(String),
    /// A heartbeat said the hub no longer has this registration.
    Unregistered(String),
}

/// What a connection needs from its session.
pub(crate) struct ConnectionContext<'a> {
    pub(crate) provider: &'a Arc<Provider>,
    pub(crate) membership: &'a Membership,
    pub(crate) session_token: Option<&'a str>,
    pub(crate) max_concurrency: usize,
    pub(crate) timing: Timing,
    /// The extensions the hub granted for this tunnel.
    pub(crate) extensions: proto::TunnelExtensions,
    pub(crate) events: &'a EventSender,
    pub(crate) shutdown: &'a CancellationToken,
}

/// Runs the tunnel on `socket` until it ends.
pub(crate) async fn run<S>(cx: ConnectionContext<'_>, socket: S) -> ConnectionEnd
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError> + Unpin,
{
    let (sink, mut stream) = socket.split();
    let (frames_tx, mut frames_rx) = mpsc::channel(FRAME_CHANNEL_CAPACITY);
    let now = Instant::now();
    let mut ping = tokio::time::interval_at(now + cx.timing.ping_interval, cx.timing.ping_interval);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut heartbeat = tokio::time::interval_at(
        now + cx.timing.heartbeat_interval,
        cx.timing.heartbeat_interval,
    );
    heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let silence_limit = cx.timing.ping_interval * 3;
    let mut tunnel = Tunnel {
        cx: &cx,
        sink,
        frames_tx,
        in_flight: HashMap::new(),
        lifecycle: HashSet::new(),
        task_requests: HashMap::new(),
        tasks: JoinSet::new(),
        heartbeats: JoinSet::new(),
        last_heard: now,
    };

    // Made once: a fresh `cancelled()` each turn would register and unregister a waiter.
    let shutdown = cx.shutdown.cancelled();
    tokio::pin!(shutdown);
    let end = loop {
        tokio::select! {
            () = &mut shutdown => break ConnectionEnd::Shutdown,
            incoming = stream.next() => {
                let message = match incoming {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => {
                        break ConnectionEnd::Lost(format!("tunnel failed: {error}"));
                    }
                    None => break ConnectionEnd::Lost("tunnel closed".into()),
                };
                tunnel.last_heard = Instant::now();
                if let Err(end) = tunnel.on_message(message).await {
                    break end;
                }
            }
            Some(frame) = frames_rx.recv() => {
                if let Err(end) = tunnel.write_queued(frame, &mut frames_rx).await {
                    break end;
                }
            }
            Some(joined) = tunnel.tasks.join_next_with_id(), if !tunnel.tasks.is_empty() => {
                if let Err(end) = tunnel.on_task_done(joined).await {
                    break end;
                }
            }
            _ = ping.tick() => {
                let silent = tunnel.last_heard.elapsed();
                if silent > silence_limit {
                    break ConnectionEnd::Lost(format!(
                        "no frame from the hub for {} s", silent.as_secs()
                    ));
                }
                let ping = proto::ParticipantToHub::Ping { timestamp: now_millis() };
                if let Err(end) = tunnel.write_now(ping).await {
                    break end;
                }
            }
            _ = heartbeat.tick() => tunnel.start_heartbeat(),
            Some(result) = tunnel.heartbeats.join_next(), if !tunnel.heartbeats.is_empty() => {
                if let Err(end) = tunnel.on_heartbeat(result) {
                    break end;
                }
            }
        }
    };
    tunnel.finish(&end).await;
    end
}

/// Whether `request` is a Responses lifecycle call rather than a generation.
fn is_lifecycle(request: &proto::TunnelRequest) -> bool {
    use proto::tunnel::operation;
    [
        operation::RESPONSES_GET,
        operation::RESPONSES_DELETE,
        operation::RESPONSES_CANCEL,
        operation::RESPONSES_INPUT_ITEMS,
    ]
    .contains(&request.operation.as_str())
}

/// A request being forwarded.
struct InFlight {
    task: AbortHandle,
    /// Its credit, with flow control on.
    credit: Option<Arc<Credit>>,
}

/// State of one connection, owned by the loop in [`run`].
struct Tunnel<'c, 'a, W> {
    cx: &'c ConnectionContext<'a>,
    sink: W,
    frames_tx: mpsc::Sender<Outgoing>,
    /// Requests being forwarded, by request id. An entry leaves when its last frame is
    /// written or when it is cancelled; frames of requests not in here are dropped.
    in_flight: HashMap<String, InFlight>,
    /// Which of `in_flight` are Responses lifecycle calls, which take no slot (entries whose
    /// request left `in_flight` are dropped when the next request arrives).
    lifecycle: HashSet<String>,
    task_requests: HashMap<tokio::task::Id, String>,
    tasks: JoinSet<()>,
    heartbeats: JoinSet<Result<proto::HeartbeatResponse, ClientError>>,
    last_heard: Instant,
}

impl<W> Tunnel<'_, '_, W>
where
    W: Sink<Message, Error = WsError> + Unpin,
{
    async fn on_message(&mut self, message: Message) -> Result<(), ConnectionEnd> {
        match message {
            Message::Text(text) => self.on_text(text.as_str()).await,
            Message::Binary(bytes) => match std::str::from_utf8(&bytes) {
                Ok(text) => self.on_text(text).await,
                Err(_) => {
                    tracing::debug!("ignoring a binary frame that is not UTF-8");
                    Ok(())
                }
            },
            Message::Close(frame) => {
                let restarting = frame
                    .as_ref()
                    .is_some_and(|frame| u16::from(frame.code) == proto::CLOSE_RESTART.code);
                let detail = frame
                    .map(|frame| format!(" ({} {})", u16::from(frame.code), frame.reason))
                    .unwrap_or_default();
                let message = format!("hub closed the tunnel{detail}");
                Err(if restarting {
                    ConnectionEnd::Restarting(message)
                } else {
                    ConnectionEnd::Lost(message)
                })
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => Ok(()),
        }
    }

    async fn on_text(&mut self, text: &str) -> Result<(), ConnectionEnd> {
        match proto::HubToParticipant::from_json(text) {
            Ok(proto::HubToParticipant::Request(request)) => self.on_request(request).await,
            Ok(proto::HubToParticipant::Cancel { request_id }) => {
                if let Some(request) = self.in_flight.remove(&request_id) {
                    tracing::debug!(%request_id, "request cancelled by the hub");
                    request.task.abort();
                }
                Ok(())
            }
            Ok(proto::HubToParticipant::Credit { request_id, bytes }) => {
                if let Some(credit) = self
                    .in_flight
                    .get(&request_id)
                    .and_then(|request| request.credit.as_ref())
                {
                    credit.grant(bytes);
                }
                Ok(())
            }
            Ok(proto::HubToParticipant::Pong { .. }) => Ok(()),
            Err(error) if error.is_unknown_type() => {
                tracing::debug!(%error, "ignoring a frame of unknown type");
                Ok(())
            }
            Err(error) => {
                tracing::warn!(%error, "ignoring a malformed frame");
                Ok(())
            }
        }
    }

    async fn on_request(&mut self, request: proto::TunnelRequest) -> Result<(), ConnectionEnd> {
        let request_id = request.request_id.clone();
        if self.in_flight.contains_key(&request_id) {
            tracing::warn!(%request_id, "ignoring a request whose id is already in flight");
            return Ok(());
        }
        let in_flight = &self.in_flight;
        self.lifecycle.retain(|id| in_flight.contains_key(id));
        let lifecycle = is_lifecycle(&request);
        let generating = self.in_flight.len() - self.lifecycle.len();
        if lifecycle && self.lifecycle.len() >= MAX_LIFECYCLE_IN_FLIGHT {
            tracing::debug!(%request_id, "refusing a lifecycle call: too many in flight");
            return self
                .write_now(proto::ParticipantToHub::ResponseError {
                    request_id,
                    stage: STAGE_BUSY.to_owned(),
                    message: format!(
                        "participant is busy: {MAX_LIFECYCLE_IN_FLIGHT} lifecycle calls in flight"
                    ),
                })
                .await;
        }
        if !lifecycle && generating >= self.cx.max_concurrency {
            tracing::debug!(%request_id, "refusing a request: every slot is taken");
            return self
                .write_now(proto::ParticipantToHub::ResponseError {
                    request_id,
                    stage: STAGE_BUSY.to_owned(),
                    message: format!(
                        "participant is busy: {} of {} slots in use",
                        generating, self.cx.max_concurrency
                    ),
                })
                .await;
        }
        let span = tracing::info_span!(
            "forward",
            request_id = %request_id,
            method = %request.method,
            path = %request.path,
            otel.kind = tracing::field::Empty,
        );
        #[cfg(feature = "otel")]
        crate::forward::continue_hub_trace(&span, &request);
        let provider = Arc::clone(self.cx.provider);
        let credit = self
            .cx
            .extensions
            .window()
            .map(|window| Arc::new(Credit::new(window)));
        let replies = Replies {
            request_id: Arc::from(request_id.as_str()),
            frames: self.frames_tx.clone(),
            binary: self.cx.extensions.binary_chunks,
            timing: self.cx.extensions.timing,
            credit: credit.clone(),
        };
        let timeout = self.cx.timing.provider_response_timeout;
        let task = self.tasks.spawn(
            async move { forward(&provider, request, timeout, &replies).await }.instrument(span),
        );
        self.task_requests.insert(task.id(), request_id.clone());
        if lifecycle {
            self.lifecycle.insert(request_id.clone());
        }
        self.in_flight.insert(request_id, InFlight { task, credit });
        Ok(())
    }

    async fn on_task_done(
        &mut self,
        joined: Result<(tokio::task::Id, ()), JoinError>,
    ) -> Result<(), ConnectionEnd> {
        let error = match joined {
            Ok((id, ())) => {
                self.task_requests.remove(&id);
                return Ok(());
            }
            Err(error) => error,
        };
        let request_id = self.task_requests.remove(&error.id());
        if !error.is_panic() {
            return Ok(());
        }
        tracing::error!(?request_id, "a forward task panicked");
        match request_id {
            Some(request_id) if self.in_flight.remove(&request_id).is_some() => {
                self.write_now(proto::ParticipantToHub::ResponseError {
                    request_id,
                    stage: STAGE_PROXY.to_owned(),
                    message: "participant runtime failed while forwarding".into(),
                })
                .await
            }
            _ => Ok(()),
        }
    }

    fn start_heartbeat(&mut self) {
        if !self.heartbeats.is_empty() {
            tracing::debug!("previous heartbeat still running; skipping this one");
            return;
        }
        let membership = self.cx.membership.clone();
        let session = self.cx.session_token.map(str::to_owned);
        self.heartbeats
            .spawn(async move { membership.heartbeat(session.as_deref()).await }.in_current_span());
    }

    fn on_heartbeat(
        &mut self,
        result: Result<Result<proto::HeartbeatResponse, ClientError>, JoinError>,
    ) -> Result<(), ConnectionEnd> {
        let message = match result {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) if error.needs_registration() => {
                return Err(ConnectionEnd::Unregistered(format!(
                    "heartbeat refused: {}",
                    describe(&error)
                )));
            }
            Ok(Err(error)) => describe(&error),
            Err(error) => format!("heartbeat task failed: {error}"),
        };
        tracing::warn!(%message, "heartbeat failed; retrying on the next tick");
        self.cx
            .events
            .emit(SessionEvent::HeartbeatFailed { message });
        Ok(())
    }

    /// Writes `first` and whatever else is already queued, then flushes once.
    async fn write_queued(
        &mut self,
        first: Outgoing,
        queue: &mut mpsc::Receiver<Outgoing>,
    ) -> Result<(), ConnectionEnd> {
        let write = async {
            let mut next = Some(first);
            let mut written = 0;
            while let Some(frame) = next.take() {
                if self.admit(&frame) {
                    self.sink.feed(frame.message).await?;
                    written += 1;
                }
                if written < MAX_WRITE_BATCH {
                    next = queue.try_recv().ok();
                }
            }
            self.sink.flush().await
        };
        with_write_timeout(write).await
    }

    /// Whether a queued frame still goes out; forgets requests whose last frame this is.
    fn admit(&mut self, frame: &Outgoing) -> bool {
        if frame.last {
            self.in_flight.remove(&*frame.request_id).is_some()
        } else {
            self.in_flight.contains_key(&*frame.request_id)
        }
    }

    /// Writes one frame of the loop's own (ping, refusal) and flushes.
    async fn write_now(&mut self, frame: proto::ParticipantToHub) -> Result<(), ConnectionEnd> {
        with_write_timeout(self.sink.send(Message::text(frame.to_json()))).await
    }

    /// Ends the connection: when leaving on purpose, tells the hub every pending request
    /// failed and closes the socket politely. Dropping `self` aborts the remaining tasks.
    async fn finish(&mut self, end: &ConnectionEnd) {
        let goodbye = match end {
            ConnectionEnd::Shutdown => "participant is leaving",
            ConnectionEnd::Unregistered(_) => "participant is registering again",
            ConnectionEnd::Lost(_) | ConnectionEnd::Restarting(_) => {
                self.tasks.abort_all();
                return;
            }
        };
        self.tasks.abort_all();
        let pending: Vec<String> = self.in_flight.drain().map(|(id, _)| id).collect();
        let polite = async {
            for request_id in pending {
                let frame = proto::ParticipantToHub::ResponseError {
                    request_id,
                    stage: STAGE_PROXY.to_owned(),
                    message: goodbye.to_owned(),
                };
                self.sink.feed(Message::text(frame.to_json())).await?;
            }
            self.sink
                .send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: goodbye.into(),
                })))
                .await
        };
        if let Ok(Err(error)) = tokio::time::timeout(CLOSE_TIMEOUT, polite).await {
            tracing::debug!(%error, "closing the tunnel failed");
        }
    }
}

async fn with_write_timeout(
    write: impl Future<Output = Result<(), WsError>>,
) -> Result<(), ConnectionEnd> {
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(error)) => Err(ConnectionEnd::Lost(format!("tunnel write failed: {error}"))),
        Err(_) => Err(ConnectionEnd::Lost(format!(
            "tunnel write stalled for {} s",
            WRITE_TIMEOUT.as_secs()
        ))),
    }
}

fn now_millis() -> proto::Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| proto::Millis::try_from(elapsed.as_millis()).unwrap_or(proto::Millis::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
