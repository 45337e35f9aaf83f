//! A participant session: probe, register, tunnel, forward, and stay connected.
//!
//! [`ParticipantSession::start`] probes the provider, checks the model, registers with the
//! hub and opens the tunnel (see `connector`); it returns once requests can flow. A
//! background task then owns the tunnel (see `tunnel`) and, when the tunnel or the hub
//! goes away, registers again and reopens it with capped, jittered exponential backoff
//! (see `reconnect`). The session ends on [`ParticipantSession::close`], on the caller's
//! shutdown token, or on a fatal error (room gone, password refused, model gone); it then
//! removes itself from the room.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

use crate::connector::Connector;
use crate::error::StartError;
use crate::events::{
    CloseOutcome, CloseReason, EVENT_CAPACITY, EventSender, Registration, SessionEvent,
};
use crate::options::SessionOptions;
use crate::probe::ProbeResult;
use crate::reconnect::Runner;

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
    ///
    /// Embedding a participant in a program: lend a provider to a room, watch the
    /// session's lifecycle, and leave when the program decides to.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let hub = gambi_test_support::TestHub::start().await;
    /// # let provider = gambi_test_support::FakeProvider::builder().models(["llama3:latest"]).start().await;
    /// # let (hub_url, endpoint) = (hub.url(), provider.base_url());
    /// # let request = gambi_protocol::CreateRoomRequest { name: "Lab".into(), ..Default::default() };
    /// # let code = gambi_client::Client::new(&hub_url)?.rooms().create(&request).await?.data.room.code;
    /// use gambi_participant::{CloseReason, ParticipantSession, SessionEvent, SessionOptions};
    ///
    /// let options = SessionOptions::new(
    ///     hub_url.parse()?,
    ///     &code,
    ///     "alice-laptop",
    ///     "Alice",
    ///     "llama3", // the provider lists llama3:latest: that counts
    ///     endpoint.parse()?,
    /// );
    /// let mut session = ParticipantSession::start(options).await?;
    /// assert_eq!(session.registration().participant.model, "llama3:latest");
    ///
    /// let mut events = session.take_events().expect("taken once");
    /// assert!(matches!(events.recv().await, Some(SessionEvent::Registered(_))));
    /// assert!(matches!(events.recv().await, Some(SessionEvent::TunnelConnected)));
    /// // ... the room's requests now reach the provider, until:
    /// let outcome = session.close().await;
    /// assert_eq!(outcome.reason, CloseReason::Closed);
    /// # Ok(()) }
    /// ```
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
        let connector = Arc::new(Connector::new(options, EventSender::new(events_tx))?);

        let probe = match initial_probe {
            Some(probe) => probe,
            None => tokio::select! {
                () = shutdown.cancelled() => return Err(StartError::Cancelled),
                probe = connector.provider.probe() => probe,
            },
        };
        let prepared = connector.prepare(probe)?;
        let registered = tokio::select! {
            () = shutdown.cancelled() => {
                connector.leave(None).await;
                return Err(StartError::Cancelled);
            }
            registered = connector.register(&prepared.registration, None) => registered?,
        };
        let session_token = registered.session_token.as_deref();
        let socket = tokio::select! {
            () = shutdown.cancelled() => Err(StartError::Cancelled),
            socket = connector.open_tunnel(&registered.tunnel) => socket,
        };
        let socket = match socket {
            Ok(socket) => socket,
            Err(error) => {
                connector.leave(session_token).await;
                return Err(error);
            }
        };
        let registration = Registration::from_answer(&registered);
        connector
            .events
            .emit(SessionEvent::Registered(Box::new(registration.clone())));
        connector.events.emit(SessionEvent::TunnelConnected);
        tracing::info!(model = %prepared.registration.model, "participant connected");

        let (outcome_tx, outcome_rx) = watch::channel(None);
        let runner = Runner {
            connector,
            shutdown: shutdown.clone(),
        };
        tokio::spawn(
            async move { runner.run(socket, &registered, outcome_tx).await }.in_current_span(),
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
