//! The background half of a session: runs one tunnel connection after another until the
//! session ends, registering again and reconnecting with capped, jittered exponential
//! backoff in between, then leaves the room.

use std::sync::Arc;

use gambi_protocol as proto;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::connector::{Connector, Socket};
use crate::events::{CloseOutcome, CloseReason, Registration, SessionEvent};
use crate::tunnel::{self, ConnectionContext, ConnectionEnd};

/// The task that keeps a started session connected.
pub(crate) struct Runner {
    pub(crate) connector: Arc<Connector>,
    pub(crate) shutdown: CancellationToken,
}

/// What triggered a reconnection, which decides the close reason if it fails for good.
enum Trigger {
    Tunnel,
    Heartbeat,
}

impl Runner {
    /// Serves on `socket` and its successors until the session ends, leaves the room and
    /// publishes the outcome.
    pub(crate) async fn run(
        self,
        socket: Socket,
        registered: &proto::UpsertParticipantResponse,
        outcome_tx: watch::Sender<Option<CloseOutcome>>,
    ) {
        let (outcome, session_token) = self.connect_until_end(socket, registered).await;
        match &outcome.error {
            Some(error) => {
                tracing::warn!(reason = outcome.reason.as_str(), %error, "session ending")
            }
            None => tracing::info!(reason = outcome.reason.as_str(), "session ending"),
        }
        self.connector.events.emit(SessionEvent::Leaving);
        self.connector.leave(session_token.as_deref()).await;
        self.connector.events.emit(SessionEvent::Left);
        let _ = outcome_tx.send(Some(outcome));
    }

    /// Runs connections, reconnecting as needed; returns the outcome and the last
    /// session token (needed to leave).
    async fn connect_until_end(
        &self,
        mut socket: Socket,
        registered: &proto::UpsertParticipantResponse,
    ) -> (CloseOutcome, Option<String>) {
        let connector = &self.connector;
        let mut session_token = registered.session_token.clone();
        let mut extensions = registered.tunnel.extensions.unwrap_or_default();
        let mut backoff = Backoff::new(connector.reconnect.unwrap_or_default());
        loop {
            let connected_at = Instant::now();
            let end = tunnel::run(
                ConnectionContext {
                    provider: &connector.provider,
                    membership: &connector.membership,
                    session_token: session_token.as_deref(),
                    max_concurrency: connector.max_concurrency.get() as usize,
                    timing: connector.timing,
                    extensions,
                    events: &connector.events,
                    shutdown: &self.shutdown,
                },
                socket,
            )
            .await;
            let (trigger, mut reason) = match end {
                ConnectionEnd::Shutdown => return (CloseOutcome::closed(), session_token),
                ConnectionEnd::Lost(message) => {
                    tracing::warn!(%message, "tunnel lost");
                    connector.events.emit(SessionEvent::TunnelLost {
                        message: message.clone(),
                    });
                    (Trigger::Tunnel, message)
                }
                ConnectionEnd::Restarting(message) => {
                    tracing::info!(%message, "hub restarting; reconnecting at once");
                    connector.events.emit(SessionEvent::TunnelLost {
                        message: message.clone(),
                    });
                    // The hub said it is coming back: start over from the shortest delay.
                    backoff.reset();
                    (Trigger::Tunnel, message)
                }
                ConnectionEnd::Unregistered(message) => {
                    tracing::warn!(%message, "registration lost");
                    connector.events.emit(SessionEvent::Unregistered {
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
            if connector.reconnect.is_none() {
                return (end_with(reason), session_token);
            }
            backoff.connection_ended(connected_at.elapsed());
            socket = loop {
                let delay = backoff.next_delay(rand::random::<f64>());
                connector.events.emit(SessionEvent::Reconnecting {
                    attempt: backoff.attempt(),
                    delay,
                    reason: reason.clone(),
                });
                let attempt = async {
                    tokio::time::sleep(delay).await;
                    connector.establish(session_token.as_deref()).await
                };
                let result = tokio::select! {
                    () = self.shutdown.cancelled() => {
                        return (CloseOutcome::closed(), session_token);
                    }
                    result = attempt => result,
                };
                match result {
                    Ok((registered, socket)) => {
                        session_token = registered.session_token.clone();
                        extensions = registered.tunnel.extensions.unwrap_or_default();
                        connector.events.emit(SessionEvent::Registered(Box::new(
                            Registration::from_answer(&registered),
                        )));
                        connector.events.emit(SessionEvent::TunnelConnected);
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
