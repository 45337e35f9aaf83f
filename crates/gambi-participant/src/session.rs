//! A participant session: probe, register, tunnel, forward, and stay connected.
//!
//! [`ParticipantSession::start`] probes the provider, checks the model, registers with the
//! hub and opens the tunnel; it returns once requests can flow. A background task then
//! owns the tunnel (see the `tunnel` module) and, when the tunnel or the hub goes away,
//! registers again and reopens it with capped, jittered exponential backoff. The session
//! ends on [`ParticipantSession::close`], on the caller's shutdown token, or on a fatal
//! error (room gone, password refused, model gone); it then removes itself from the room.

use std::fmt;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use gambi_protocol as proto;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;
use url::Url;

use crate::auth::AuthHeaders;
use crate::backoff::{Backoff, BackoffPolicy};
use crate::hub::{HubClient, HubError};
use crate::probe::ProbeResult;
use crate::provider::{Provider, ProviderSetupError, http_client};
use crate::tunnel::{self, ConnectionContext, ConnectionEnd};

/// Lifecycle events buffered for a reader; when the buffer is full, newer events are
/// dropped rather than slowing the session down.
const EVENT_CAPACITY: usize = 64;

/// Time limit for opening the tunnel WebSocket.
const TUNNEL_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Time limit for the `DELETE` sent when leaving.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Longest interval or time limit accepted in [`Timing`].
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Everything a session needs, checked once by [`ParticipantSession::start`].
#[derive(Clone)]
pub struct SessionOptions {
    /// Hub base URL, e.g. `http://localhost:3000`.
    pub hub_url: Url,
    /// Room code.
    pub room_code: String,
    /// Participant id; keep it stable so that registering again is idempotent.
    pub participant_id: String,
    /// Display name.
    pub nickname: String,
    /// Model to serve. `llama3` also matches a provider's `llama3:latest`; the provider's
    /// exact name is what gets registered.
    pub model: String,
    /// Provider base URL, without `/v1` (request paths already start with `/v1/`).
    pub endpoint: Url,
    /// Room password, if the room has one.
    pub password: Option<String>,
    /// Machine specs to share (see [`crate::collect_specs`]).
    pub specs: Option<proto::MachineSpecs>,
    /// This participant's runtime defaults.
    pub config: Option<proto::RuntimeConfig>,
    /// Protocol support to announce instead of what the probe finds.
    pub capabilities: Option<proto::ParticipantCapabilities>,
    /// Provider credentials; kept on this machine.
    pub auth_headers: AuthHeaders,
    /// A probe of this endpoint the caller already made (e.g. to let the user pick a
    /// model); `start` uses it instead of probing again. Reconnections always probe afresh.
    pub initial_probe: Option<ProbeResult>,
    /// Requests forwarded at once; more are refused with a `busy` error. Sent to the hub
    /// as `maxConcurrency`.
    pub max_concurrency: NonZeroU32,
    /// Reconnection backoff; `None` ends the session when the tunnel is lost (the
    /// original runtime's behaviour).
    pub reconnect: Option<BackoffPolicy>,
    /// Intervals and time limits.
    pub timing: Timing,
    /// Cancelling this token stops the session (it then leaves the room).
    pub shutdown: CancellationToken,
}

impl SessionOptions {
    /// Options with the required values and defaults for the rest: no password, specs,
    /// config, capability override or credentials; one slot; reconnection on.
    pub fn new(
        hub_url: Url,
        room_code: impl Into<String>,
        participant_id: impl Into<String>,
        nickname: impl Into<String>,
        model: impl Into<String>,
        endpoint: Url,
    ) -> Self {
        Self {
            hub_url,
            room_code: room_code.into(),
            participant_id: participant_id.into(),
            nickname: nickname.into(),
            model: model.into(),
            endpoint,
            password: None,
            specs: None,
            config: None,
            capabilities: None,
            auth_headers: AuthHeaders::new(),
            initial_probe: None,
            max_concurrency: NonZeroU32::MIN,
            reconnect: Some(BackoffPolicy::default()),
            timing: Timing::default(),
            shutdown: CancellationToken::new(),
        }
    }
}

impl fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOptions")
            .field("hub_url", &self.hub_url.as_str())
            .field("room_code", &self.room_code)
            .field("participant_id", &self.participant_id)
            .field("nickname", &self.nickname)
            .field("model", &self.model)
            .field("endpoint", &self.endpoint.as_str())
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("specs", &self.specs)
            .field("config", &self.config)
            .field("capabilities", &self.capabilities)
            .field("auth_headers", &self.auth_headers)
            .field("initial_probe", &self.initial_probe)
            .field("max_concurrency", &self.max_concurrency)
            .field("reconnect", &self.reconnect)
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

/// Intervals and time limits of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Period of `tunnel.ping`; the hub falling silent for three periods counts as a lost
    /// tunnel.
    pub ping_interval: Duration,
    /// Period of the management heartbeat.
    pub heartbeat_interval: Duration,
    /// How long the provider may take to start answering a forwarded request. A
    /// non-streamed completion answers only when it is done, so this is generous.
    pub provider_response_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ping_interval: proto::HEALTH_CHECK_INTERVAL,
            heartbeat_interval: proto::HEALTH_CHECK_INTERVAL,
            provider_response_timeout: Duration::from_secs(600),
        }
    }
}

/// Why [`ParticipantSession::start`] failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The options are inconsistent.
    #[error("invalid session options: {0}")]
    InvalidOptions(String),
    /// The endpoint or HTTP client could not be set up.
    #[error(transparent)]
    ProviderSetup(#[from] ProviderSetupError),
    /// No probe got an answer from the provider.
    #[error("provider at {endpoint} is not reachable")]
    ProviderUnreachable {
        /// The provider endpoint.
        endpoint: String,
    },
    /// The provider refused the credentials and listed no models.
    #[error(
        "provider at {endpoint} refused the credentials (HTTP {status} on {path}); check the auth headers"
    )]
    ProviderAuthRejected {
        /// The provider endpoint.
        endpoint: String,
        /// The refused path.
        path: &'static str,
        /// `401` or `403`.
        status: u16,
    },
    /// The provider does not serve the model.
    #[error("Model '{model}' not found on {endpoint}. Available models: {}", available.join(", "))]
    ModelNotFound {
        /// The model asked for.
        model: String,
        /// The provider endpoint.
        endpoint: String,
        /// What the provider lists.
        available: Vec<String>,
    },
    /// The hub refused the registration or could not be reached.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The tunnel could not be opened.
    #[error("failed to open participant tunnel: {0}")]
    Tunnel(String),
    /// The shutdown token was cancelled before the session started.
    #[error("cancelled before the session started")]
    Cancelled,
}

impl StartError {
    /// True when trying again later cannot help.
    fn is_fatal(&self) -> bool {
        match self {
            Self::Hub(error) => error.is_fatal(),
            Self::ProviderUnreachable { .. } | Self::Tunnel(_) | Self::Cancelled => false,
            Self::InvalidOptions(_)
            | Self::ProviderSetup(_)
            | Self::ProviderAuthRejected { .. }
            | Self::ModelNotFound { .. } => true,
        }
    }
}

/// The hub's answer to a registration, without the secrets (tunnel token, session token).
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The participant as the hub stored it.
    pub participant: proto::ParticipantSummary,
    /// The room's internal id.
    pub room_id: String,
    /// The tunnel URL, without its token.
    pub tunnel_url: String,
}

/// Something that happened to a running session, for display.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// Registered with the hub (at start and after every re-registration).
    Registered(Box<Registration>),
    /// The tunnel is open; requests can flow.
    TunnelConnected,
    /// The tunnel closed or failed; the session will reconnect unless told not to.
    TunnelLost {
        /// What happened.
        message: String,
    },
    /// The hub no longer has this registration (a heartbeat was refused); the session
    /// registers again.
    Unregistered {
        /// What the hub said.
        message: String,
    },
    /// The next reconnection attempt starts after `delay`.
    Reconnecting {
        /// Attempt number, from 1.
        attempt: u32,
        /// Wait before the attempt.
        delay: Duration,
        /// Why the last connection or attempt failed.
        reason: String,
    },
    /// A heartbeat failed for a reason that may pass (network, hub error); the next one
    /// is sent on schedule.
    HeartbeatFailed {
        /// What failed.
        message: String,
    },
    /// The session is ending and removing itself from the room.
    Leaving,
    /// The session has ended.
    Left,
}

impl SessionEvent {
    /// Stable snake_case name of the event, e.g. `tunnel_connected`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Registered(_) => "registered",
            Self::TunnelConnected => "tunnel_connected",
            Self::TunnelLost { .. } => "tunnel_lost",
            Self::Unregistered { .. } => "unregistered",
            Self::Reconnecting { .. } => "reconnecting",
            Self::HeartbeatFailed { .. } => "heartbeat_failed",
            Self::Leaving => "leaving",
            Self::Left => "left",
        }
    }
}

/// Why a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// Closed on request ([`ParticipantSession::close`], the shutdown token, or the
    /// handle was dropped).
    Closed,
    /// A heartbeat found the registration gone and registering again failed for good.
    HeartbeatFailed,
    /// The tunnel was lost and could not be reopened (or reconnection is off).
    TunnelClosed,
}

impl CloseReason {
    /// Wire-style name: `closed`, `heartbeat_failed` or `tunnel_closed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::HeartbeatFailed => "heartbeat_failed",
            Self::TunnelClosed => "tunnel_closed",
        }
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseOutcome {
    /// Why.
    pub reason: CloseReason,
    /// The error that ended it, if any.
    pub error: Option<String>,
}

/// A running participant session. Dropping it stops the session.
#[derive(Debug)]
pub struct ParticipantSession {
    registration: Registration,
    probe: ProbeResult,
    events: Option<mpsc::Receiver<SessionEvent>>,
    outcome: watch::Receiver<Option<CloseOutcome>>,
    shutdown: CancellationToken,
}

impl ParticipantSession {
    /// Probes the provider, checks the model, registers with the hub and opens the
    /// tunnel. Returns once the tunnel is open; the session then runs in the background.
    ///
    /// Must be called within a Tokio runtime.
    pub async fn start(options: SessionOptions) -> Result<Self, StartError> {
        let span = tracing::info_span!(
            "participant",
            room = %options.room_code,
            participant = %options.participant_id,
        );
        Self::start_in(options).instrument(span).await
    }

    async fn start_in(options: SessionOptions) -> Result<Self, StartError> {
        let shutdown = options.shutdown.child_token();
        let (events_tx, events_rx) = mpsc::channel(EVENT_CAPACITY);
        let initial_probe = options.initial_probe.clone();
        let context = Arc::new(Context::new(options, EventSender::new(events_tx))?);

        let probe = match initial_probe {
            Some(probe) => probe,
            None => tokio::select! {
                () = shutdown.cancelled() => return Err(StartError::Cancelled),
                probe = context.provider.probe() => probe,
            },
        };
        let prepared = context.prepare(probe)?;
        let registered = tokio::select! {
            () = shutdown.cancelled() => {
                context.leave(None).await;
                return Err(StartError::Cancelled);
            }
            registered = context.register(&prepared.registration, None) => registered?,
        };
        let session_token = registered.session_token.clone();
        let socket = tokio::select! {
            () = shutdown.cancelled() => Err(StartError::Cancelled),
            socket = context.open_tunnel(&registered.tunnel) => socket,
        };
        let socket = match socket {
            Ok(socket) => socket,
            Err(error) => {
                context.leave(session_token.as_deref()).await;
                return Err(error);
            }
        };
        let registration = public_registration(&registered);
        context
            .events
            .emit(SessionEvent::Registered(Box::new(registration.clone())));
        context.events.emit(SessionEvent::TunnelConnected);
        tracing::info!(model = %prepared.registration.model, "participant connected");

        let (outcome_tx, outcome_rx) = watch::channel(None);
        let runner = Runner {
            context,
            shutdown: shutdown.clone(),
        };
        tokio::spawn(
            runner
                .run(socket, session_token, outcome_tx)
                .in_current_span(),
        );
        Ok(Self {
            registration,
            probe: prepared.probe,
            events: Some(events_rx),
            outcome: outcome_rx,
            shutdown,
        })
    }

    /// The hub's answer to the first registration.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// What the first probe of the provider found.
    pub fn probe(&self) -> &ProbeResult {
        &self.probe
    }

    /// The lifecycle events, starting with `registered` and `tunnel_connected`. Can be
    /// taken once; later calls return `None`.
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<SessionEvent>> {
        self.events.take()
    }

    /// Stops the session: fails pending requests, closes the tunnel, leaves the room
    /// (best effort) and returns how the session ended. Idempotent; if the session had
    /// already ended, returns that outcome.
    pub async fn close(&self) -> CloseOutcome {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the session ends, without stopping it.
    ///
    /// Cancel safe.
    pub async fn wait(&self) -> CloseOutcome {
        let mut outcome = self.outcome.clone();
        let ended = outcome
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|outcome| outcome.clone());
        ended.unwrap_or_else(|| CloseOutcome {
            reason: CloseReason::Closed,
            error: Some("the session task ended unexpectedly".into()),
        })
    }

    /// How the session ended, or `None` while it runs.
    pub fn outcome(&self) -> Option<CloseOutcome> {
        self.outcome.borrow().clone()
    }
}

impl Drop for ParticipantSession {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Sends lifecycle events without ever waiting for the reader.
#[derive(Debug, Clone)]
pub(crate) struct EventSender(mpsc::Sender<SessionEvent>);

impl EventSender {
    pub(crate) fn new(sender: mpsc::Sender<SessionEvent>) -> Self {
        Self(sender)
    }

    pub(crate) fn emit(&self, event: SessionEvent) {
        if let Err(mpsc::error::TrySendError::Full(event)) = self.0.try_send(event) {
            tracing::debug!(kind = event.kind(), "event buffer full; event dropped");
        }
    }
}

/// The session's fixed configuration and clients.
struct Context {
    hub: HubClient,
    provider: Arc<Provider>,
    model: String,
    nickname: String,
    password: Option<String>,
    specs: Option<proto::MachineSpecs>,
    config: Option<proto::RuntimeConfig>,
    capabilities: Option<proto::ParticipantCapabilities>,
    max_concurrency: NonZeroU32,
    reconnect: Option<BackoffPolicy>,
    timing: Timing,
    events: EventSender,
}

/// A probed provider and the registration to send.
struct Prepared {
    probe: ProbeResult,
    registration: proto::ParticipantRegistration,
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl Context {
    fn new(options: SessionOptions, events: EventSender) -> Result<Self, StartError> {
        let invalid = |message: &str| Err(StartError::InvalidOptions(message.to_owned()));
        for (value, name) in [
            (&options.room_code, "room code"),
            (&options.participant_id, "participant id"),
            (&options.nickname, "nickname"),
            (&options.model, "model"),
        ] {
            if value.trim().is_empty() {
                return invalid(&format!("{name} is empty"));
            }
        }
        if options.max_concurrency.get() > proto::MAX_CONCURRENCY_LIMIT {
            return invalid(&format!(
                "max concurrency is above {}",
                proto::MAX_CONCURRENCY_LIMIT
            ));
        }
        let timing = options.timing;
        let sensible = |duration: Duration| !duration.is_zero() && duration <= MAX_INTERVAL;
        if !(sensible(timing.ping_interval)
            && sensible(timing.heartbeat_interval)
            && sensible(timing.provider_response_timeout))
        {
            return invalid("intervals and timeouts must be between zero and one day");
        }
        let http = http_client()?;
        let Some(hub) = HubClient::new(
            http.clone(),
            &options.hub_url,
            &options.room_code,
            &options.participant_id,
        ) else {
            return invalid("hub URL must be an http(s) URL");
        };
        let provider = Provider::with_client(&options.endpoint, options.auth_headers, http)?;
        Ok(Self {
            hub,
            provider: Arc::new(provider),
            model: options.model,
            nickname: options.nickname,
            password: options.password,
            specs: options.specs,
            config: options.config,
            capabilities: options.capabilities,
            max_concurrency: options.max_concurrency,
            reconnect: options.reconnect,
            timing,
            events,
        })
    }

    /// Checks the probed provider serves the model and builds the registration.
    fn prepare(&self, probe: ProbeResult) -> Result<Prepared, StartError> {
        let endpoint = self.provider.endpoint().to_owned();
        let Some(model) = probe.resolve_model(&self.model) else {
            return Err(if !probe.models.is_empty() {
                StartError::ModelNotFound {
                    model: self.model.clone(),
                    endpoint,
                    available: probe.models,
                }
            } else if let Some(rejection) = probe.auth_rejections.first() {
                StartError::ProviderAuthRejected {
                    endpoint,
                    path: rejection.path,
                    status: rejection.status,
                }
            } else if !probe.reachable {
                StartError::ProviderUnreachable { endpoint }
            } else {
                StartError::ModelNotFound {
                    model: self.model.clone(),
                    endpoint,
                    available: Vec::new(),
                }
            });
        };
        for rejection in &probe.auth_rejections {
            tracing::warn!(
                path = rejection.path,
                status = rejection.status,
                "provider refused the credentials on a probe"
            );
        }
        let registration = proto::ParticipantRegistration {
            nickname: self.nickname.clone(),
            model,
            endpoint,
            password: self.password.clone(),
            specs: self.specs.clone(),
            config: self.config.clone(),
            capabilities: Some(self.capabilities.unwrap_or(probe.capabilities)),
            max_concurrency: Some(self.max_concurrency.get()),
        };
        Ok(Prepared {
            probe,
            registration,
        })
    }

    async fn register(
        &self,
        registration: &proto::ParticipantRegistration,
        session_token: Option<&str>,
    ) -> Result<proto::UpsertParticipantResponse, StartError> {
        Ok(self.hub.register(registration, session_token).await?)
    }

    async fn open_tunnel(&self, bootstrap: &proto::TunnelBootstrap) -> Result<Socket, StartError> {
        let url =
            tunnel_url_with_token(&bootstrap.url, &bootstrap.token).map_err(StartError::Tunnel)?;
        let connect = tokio_tungstenite::connect_async_with_config(
            url.as_str(),
            Some(tunnel::websocket_config()),
            true,
        );
        match tokio::time::timeout(TUNNEL_OPEN_TIMEOUT, connect).await {
            Ok(Ok((socket, _response))) => Ok(socket),
            Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
                Err(StartError::Tunnel(format!(
                    "hub refused the tunnel: HTTP {}",
                    response.status()
                )))
            }
            Ok(Err(error)) => Err(StartError::Tunnel(error.to_string())),
            Err(_) => Err(StartError::Tunnel(format!(
                "no answer within {} s",
                TUNNEL_OPEN_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Probes, registers and opens a tunnel, for a reconnection.
    async fn establish(
        &self,
        session_token: Option<&str>,
    ) -> Result<(proto::UpsertParticipantResponse, Socket), StartError> {
        let prepared = self.prepare(self.provider.probe().await)?;
        let registered = self.register(&prepared.registration, session_token).await?;
        let socket = self.open_tunnel(&registered.tunnel).await?;
        Ok((registered, socket))
    }

    /// Best-effort `DELETE` of the participant.
    async fn leave(&self, session_token: Option<&str>) {
        match tokio::time::timeout(LEAVE_TIMEOUT, self.hub.leave(session_token)).await {
            Ok(Ok(())) => tracing::info!("left the room"),
            Ok(Err(error)) => tracing::debug!(%error, "leaving the room failed"),
            Err(_) => tracing::debug!("leaving the room timed out"),
        }
    }
}

/// The background half of a session.
struct Runner {
    context: Arc<Context>,
    shutdown: CancellationToken,
}

/// What triggered a reconnection, which decides the close reason if it fails for good.
enum Trigger {
    Tunnel,
    Heartbeat,
}

impl Runner {
    async fn run(
        self,
        socket: Socket,
        session_token: Option<String>,
        outcome_tx: watch::Sender<Option<CloseOutcome>>,
    ) {
        let (outcome, session_token) = self.connect_until_end(socket, session_token).await;
        match &outcome.error {
            Some(error) => {
                tracing::warn!(reason = outcome.reason.as_str(), %error, "session ending")
            }
            None => tracing::info!(reason = outcome.reason.as_str(), "session ending"),
        }
        self.context.events.emit(SessionEvent::Leaving);
        self.context.leave(session_token.as_deref()).await;
        self.context.events.emit(SessionEvent::Left);
        let _ = outcome_tx.send(Some(outcome));
    }

    /// Runs connections, reconnecting as needed; returns the outcome and the last
    /// session token (needed to leave).
    async fn connect_until_end(
        &self,
        mut socket: Socket,
        mut session_token: Option<String>,
    ) -> (CloseOutcome, Option<String>) {
        let context = &self.context;
        let mut backoff = Backoff::new(context.reconnect.unwrap_or_default());
        loop {
            let connected_at = Instant::now();
            let end = tunnel::run(
                ConnectionContext {
                    provider: &context.provider,
                    hub: &context.hub,
                    session_token: session_token.as_deref(),
                    max_concurrency: context.max_concurrency.get() as usize,
                    timing: context.timing,
                    events: &context.events,
                    shutdown: &self.shutdown,
                },
                socket,
            )
            .await;
            let (trigger, mut reason) = match end {
                ConnectionEnd::Shutdown => return (closed(), session_token),
                ConnectionEnd::Lost(message) => {
                    tracing::warn!(%message, "tunnel lost");
                    context.events.emit(SessionEvent::TunnelLost {
                        message: message.clone(),
                    });
                    (Trigger::Tunnel, message)
                }
                ConnectionEnd::Unregistered(message) => {
                    tracing::warn!(%message, "registration lost");
                    context.events.emit(SessionEvent::Unregistered {
                        message: message.clone(),
                    });
                    (Trigger::Heartbeat, message)
                }
            };
            let end_with = |error: String| CloseOutcome {
                reason: match trigger {
                    Trigger::Tunnel => CloseReason::TunnelClosed,
                    Trigger::Heartbeat => CloseReason::HeartbeatFailed,
                },
                error: Some(error),
            };
            if context.reconnect.is_none() {
                return (end_with(reason), session_token);
            }
            backoff.connection_ended(connected_at.elapsed());
            socket = loop {
                let delay = backoff.next_delay(rand::random::<f64>());
                context.events.emit(SessionEvent::Reconnecting {
                    attempt: backoff.attempt(),
                    delay,
                    reason: reason.clone(),
                });
                let attempt = async {
                    tokio::time::sleep(delay).await;
                    context.establish(session_token.as_deref()).await
                };
                let result = tokio::select! {
                    () = self.shutdown.cancelled() => return (closed(), session_token),
                    result = attempt => result,
                };
                match result {
                    Ok((registered, socket)) => {
                        session_token = registered.session_token.clone();
                        context.events.emit(SessionEvent::Registered(Box::new(
                            public_registration(&registered),
                        )));
                        context.events.emit(SessionEvent::TunnelConnected);
                        tracing::info!("participant reconnected");
                        break socket;
                    }
                    Err(error) if error.is_fatal() => {
                        return (end_with(error.to_string()), session_token);
                    }
                    Err(error) => {
                        tracing::info!(%error, "reconnection attempt failed");
                        reason = error.to_string();
                    }
                }
            };
        }
    }
}

fn closed() -> CloseOutcome {
    CloseOutcome {
        reason: CloseReason::Closed,
        error: None,
    }
}

fn public_registration(registered: &proto::UpsertParticipantResponse) -> Registration {
    Registration {
        participant: registered.participant.clone(),
        room_id: registered.room_id.clone(),
        tunnel_url: registered.tunnel.url.clone(),
    }
}

/// The tunnel URL with `?token=` appended; only `ws://` and `wss://` are accepted.
fn tunnel_url_with_token(url: &str, token: &str) -> Result<Url, String> {
    let mut url = Url::parse(url).map_err(|error| format!("invalid tunnel URL: {error}"))?;
    if !matches!(url.scheme(), "ws" | "wss") {
        return Err(format!(
            "tunnel URL scheme {:?} is not ws or wss",
            url.scheme()
        ));
    }
    url.query_pairs_mut().append_pair("token", token);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_url_gets_the_token() {
        let url = tunnel_url_with_token(
            "ws://127.0.0.1:3000/v1/rooms/ABC123/participants/a/tunnel",
            "t o&k",
        )
        .expect("valid");
        assert_eq!(
            url.as_str(),
            "ws://127.0.0.1:3000/v1/rooms/ABC123/participants/a/tunnel?token=t+o%26k"
        );
        assert!(tunnel_url_with_token("http://h/x", "t").is_err());
        assert!(tunnel_url_with_token("not a url", "t").is_err());
    }

    #[test]
    fn options_debug_redacts_secrets() {
        let mut options = SessionOptions::new(
            Url::parse("http://127.0.0.1:3000").expect("url"),
            "ABC123",
            "alice",
            "Alice",
            "llama3",
            Url::parse("http://127.0.0.1:11434").expect("url"),
        );
        options.password = Some("hunter2".into());
        options.auth_headers =
            AuthHeaders::from_pairs([("authorization", "Bearer sk-top")]).expect("valid");
        let debug = format!("{options:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("sk-top"));
        assert!(debug.contains("authorization"));
    }

    #[test]
    fn event_kinds_and_reasons_are_stable() {
        assert_eq!(SessionEvent::TunnelConnected.kind(), "tunnel_connected");
        assert_eq!(
            SessionEvent::HeartbeatFailed {
                message: String::new()
            }
            .kind(),
            "heartbeat_failed"
        );
        assert_eq!(CloseReason::TunnelClosed.as_str(), "tunnel_closed");
        assert_eq!(CloseReason::HeartbeatFailed.as_str(), "heartbeat_failed");
    }

    #[test]
    fn fatal_start_errors() {
        assert!(
            StartError::ModelNotFound {
                model: "m".into(),
                endpoint: "e".into(),
                available: vec![]
            }
            .is_fatal()
        );
        assert!(
            !StartError::ProviderUnreachable {
                endpoint: "e".into()
            }
            .is_fatal()
        );
        assert!(!StartError::Hub(HubError::Unreachable("x".into())).is_fatal());
        assert!(
            StartError::Hub(HubError::RoomNotFound {
                message: "x".into()
            })
            .is_fatal()
        );
        assert_eq!(
            StartError::ModelNotFound {
                model: "llama3".into(),
                endpoint: "http://localhost:11434".into(),
                available: vec!["a".into(), "b".into()]
            }
            .to_string(),
            "Model 'llama3' not found on http://localhost:11434. Available models: a, b"
        );
    }
}
