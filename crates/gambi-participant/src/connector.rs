//! How a session gets connected, at start and after every loss: probe the provider, check
//! the model, register with the hub, open the tunnel; and leave the room at the end.
//!
//! A [`Connector`] holds what stays fixed for the whole session: the provider, the
//! membership in the room, the registration data and the session's settings.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use gambi_protocol as proto;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use url::Url;

use crate::backoff::BackoffPolicy;
use crate::error::StartError;
use crate::events::EventSender;
use crate::membership::{Membership, describe};
use crate::options::{SessionOptions, Timing};
use crate::probe::ProbeResult;
use crate::provider::{Provider, http_client};
use crate::tunnel;

/// Time limit for opening the tunnel WebSocket.
const TUNNEL_OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The tunnel's WebSocket.
pub(crate) type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The session's fixed configuration and clients.
pub(crate) struct Connector {
    pub(crate) membership: Membership,
    pub(crate) provider: Arc<Provider>,
    model: String,
    nickname: String,
    password: Option<String>,
    specs: Option<proto::MachineSpecs>,
    config: Option<proto::RuntimeConfig>,
    capabilities: Option<proto::ParticipantCapabilities>,
    pub(crate) max_concurrency: NonZeroU32,
    tunnel_extensions: proto::TunnelExtensions,
    pub(crate) reconnect: Option<BackoffPolicy>,
    pub(crate) timing: Timing,
    pub(crate) events: EventSender,
}

/// A probed provider and the registration to send.
pub(crate) struct Prepared {
    pub(crate) probe: ProbeResult,
    pub(crate) registration: proto::ParticipantRegistration,
}

impl Connector {
    /// Checks `options` and sets up the clients: one HTTP client for the provider and the
    /// hub alike.
    pub(crate) fn new(options: SessionOptions, events: EventSender) -> Result<Self, StartError> {
        options.check().map_err(StartError::InvalidOptions)?;
        let http = http_client()?;
        let membership = Membership::new(
            http.clone(),
            &options.hub_url,
            &options.room_code,
            &options.participant_id,
        )
        .map_err(|_| StartError::InvalidOptions("hub URL must be an http(s) URL".into()))?;
        let provider = Provider::with_client(&options.endpoint, options.auth_headers, http)?;
        Ok(Self {
            membership,
            provider: Arc::new(provider),
            model: options.model,
            nickname: options.nickname,
            password: options.password,
            specs: options.specs,
            config: options.config,
            capabilities: options.capabilities,
            max_concurrency: options.max_concurrency,
            tunnel_extensions: options.tunnel_extensions,
            reconnect: options.reconnect,
            timing: options.timing,
            events,
        })
    }

    /// Checks the probed provider serves the model and builds the registration.
    pub(crate) fn prepare(&self, probe: ProbeResult) -> Result<Prepared, StartError> {
        let endpoint = self.provider.endpoint().to_owned();
        let model = probe.check_model(&self.model, &endpoint)?;
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
            endpoint: public_endpoint(&endpoint),
            password: self.password.clone(),
            specs: self.specs.clone(),
            config: self.config.clone(),
            capabilities: Some(self.capabilities.unwrap_or(probe.capabilities)),
            max_concurrency: Some(self.max_concurrency.get()),
            tunnel_extensions: (self.tunnel_extensions != proto::TunnelExtensions::default())
                .then_some(self.tunnel_extensions),
        };
        Ok(Prepared {
            probe,
            registration,
        })
    }

    /// `PUT` the registration, with the session credential when there is one.
    pub(crate) async fn register(
        &self,
        registration: &proto::ParticipantRegistration,
        session_token: Option<&str>,
    ) -> Result<proto::UpsertParticipantResponse, StartError> {
        Ok(self
            .membership
            .register(registration, session_token)
            .await?)
    }

    /// Opens the tunnel with the single-use token of a registration.
    pub(crate) async fn open_tunnel(
        &self,
        bootstrap: &proto::TunnelBootstrap,
    ) -> Result<Socket, StartError> {
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
    pub(crate) async fn establish(
        &self,
        session_token: Option<&str>,
    ) -> Result<(proto::UpsertParticipantResponse, Socket), StartError> {
        let prepared = self.prepare(self.provider.probe().await)?;
        let registered = self.register(&prepared.registration, session_token).await?;
        let socket = self.open_tunnel(&registered.tunnel).await?;
        Ok((registered, socket))
    }

    /// Best-effort `DELETE` of the participant.
    pub(crate) async fn leave(&self, session_token: Option<&str>) {
        match self.membership.leave(session_token).await {
            Ok(()) => tracing::info!("left the room"),
            Err(error) => {
                tracing::debug!(error = %describe(&error), "leaving the room failed");
            }
        }
    }
}

/// The endpoint as the room may see it: without userinfo, query or fragment, where
/// provider credentials hide (`http://user:key@host/?api_key=…`). The hub shows the
/// endpoint to everyone in the room and never calls it.
fn public_endpoint(endpoint: &str) -> String {
    let Ok(mut url) = Url::parse(endpoint) else {
        return endpoint.to_owned();
    };
    // Both only fail for URLs that cannot have userinfo, which then have none.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.set_query(None);
    url.set_fragment(None);
    let mut public = String::from(url);
    // `Url` writes an empty path as `/`; keep the endpoint as it was written.
    let written_path = endpoint.split(['?', '#']).next().unwrap_or(endpoint);
    if !written_path.ends_with('/') && public.ends_with('/') {
        public.pop();
    }
    public
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
    fn the_published_endpoint_carries_no_credentials() {
        for (endpoint, public) in [
            ("http://localhost:11434", "http://localhost:11434"),
            ("http://localhost:11434/", "http://localhost:11434/"),
            (
                "https://u:key@api.example.com/v1?api_key=k#f",
                "https://api.example.com/v1",
            ),
            ("http://u@h:8080?x=1", "http://h:8080"),
        ] {
            assert_eq!(public_endpoint(endpoint), public, "{endpoint}");
        }
    }

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
}
