//! Hub configuration, built by the caller (the CLI) and validated once.

use std::path::PathBuf;
use std::time::Duration;

/// Where rooms are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// Nothing survives the process.
    Memory,
    /// A SQLite database file, created if missing.
    File(PathBuf),
}

/// Everything the hub needs to run. Limits are explicit; see each field.
#[derive(Clone)]
pub struct HubConfig {
    /// Where rooms are kept.
    pub storage: Storage,
    /// Largest request body accepted on the management plane.
    pub max_management_body: usize,
    /// Largest request body accepted on the inference plane. Whatever the setting, a request
    /// that does not fit in one tunnel message once framed ([`gambi_protocol::MAX_TUNNEL_REQUEST`])
    /// is refused with `413` rather than sent to break a participant's tunnel.
    pub max_inference_body: usize,
    /// Largest WebSocket message accepted from a participant tunnel.
    pub max_tunnel_message: usize,
    /// Most requests in flight on one tunnel.
    pub max_pending_per_tunnel: usize,
    /// Body bytes held per streaming request between its tunnel and its client. When a
    /// client reads slower than its participant sends, the participant is paused (by flow
    /// control, or, for a runtime without it, by pausing the tunnel) once this is full; a
    /// runtime with flow control is granted half of it as each request's credit window.
    pub stream_buffer: usize,
    /// Most rooms one hub keeps.
    pub max_rooms: usize,
    /// Most participants one room keeps.
    pub max_participants_per_room: usize,
    /// Events buffered per room for event-stream subscribers; one that falls further
    /// behind skips ahead and gets a `lagged` notice.
    pub event_buffer: usize,
    /// Most event-stream subscribers of one room (and of the hub-wide stream).
    pub max_subscribers: usize,
    /// Requests allowed to wait for a slot in one room.
    pub queue_size: usize,
    /// Longest a request waits for a slot.
    pub queue_timeout: Duration,
    /// Whether a request that failed before its first byte is retried on another
    /// participant.
    pub failover: bool,
    /// Longest wait for a participant to start answering a request.
    pub response_start_timeout: Duration,
    /// Longest silence in the middle of a response before it is abandoned.
    pub response_idle_timeout: Duration,
    /// How long a streaming client may leave its buffer full before it is cut off.
    pub slow_client_grace: Duration,
    /// Largest non-streamed response body the hub holds for one request.
    pub max_response_body: usize,
    /// When set, creating and listing rooms requires `Authorization: Bearer <token>`.
    pub admin_token: Option<String>,
    /// Whether clients reach the hub over TLS (tunnel URLs then use `wss://`).
    pub tls: bool,
    /// How long a participant that lost its tunnel stays listed (as offline) before it is
    /// removed with `participant.left`. Registrations that never open their tunnel are
    /// dropped sooner, when their tunnel token expires.
    pub remove_offline_after: Duration,
    /// Which web origins browsers let call the hub.
    pub cors_origins: CorsOrigins,
    /// Once shutdown begins, how long requests in flight get to finish before they are
    /// ended with `HUB_SHUTTING_DOWN` and the tunnels closed. New requests are refused at
    /// once.
    pub shutdown_grace: Duration,
    /// How `/metrics` is served.
    pub metrics: MetricsConfig,
}

/// How the hub serves its Prometheus metrics (`/metrics`).
#[derive(Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Whether the main listener serves `/metrics`. Off when the caller serves them on a
    /// listener of their own with [`crate::serve_metrics`].
    pub on_main_listener: bool,
    /// When set, `/metrics` requires `Authorization: Bearer <token>`; when not, it
    /// requires the admin token if the hub has one, else nothing.
    pub token: Option<String>,
    /// How many rooms and participants get labels of their own.
    pub labels: crate::metrics::LabelLimits,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            on_main_listener: true,
            token: None,
            labels: crate::metrics::LabelLimits::default(),
        }
    }
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("on_main_listener", &self.on_main_listener)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("labels", &self.labels)
            .finish()
    }
}

/// The origins whose pages a browser lets call the hub (CORS).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`Access-Control-Allow-Origin: *`), as the original hub allows.
    #[default]
    Any,
    /// Only these origins, each `scheme://host[:port]`.
    List(Vec<String>),
}

/// An origin that is not `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin {0:?}: expected scheme://host[:port], such as http://localhost:5173")]
pub struct InvalidOrigin(pub String);

impl CorsOrigins {
    /// Exactly `origins`, each checked to be `scheme://host[:port]` (no path, no
    /// trailing slash); `*` alone means any origin.
    pub fn parse<I, S>(origins: I) -> Result<Self, InvalidOrigin>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut list = Vec::new();
        for origin in origins {
            let origin: String = origin.into();
            if origin == "*" {
                return Ok(Self::Any);
            }
            if !is_origin(&origin) {
                return Err(InvalidOrigin(origin));
            }
            list.push(origin);
        }
        Ok(if list.is_empty() {
            Self::Any
        } else {
            Self::List(list)
        })
    }
}

/// Whether `text` is an origin as browsers send it: `scheme://host[:port]`.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme
        .chars()
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let host_ok = !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c));
    scheme_ok && host_ok
}

impl HubConfig {
    /// How long a request waits for its participant.
    pub(crate) fn timeouts(&self) -> crate::tunnel::Timeouts {
        crate::tunnel::Timeouts {
            start: self.response_start_timeout,
            idle: self.response_idle_timeout,
        }
    }

    /// The extensions this hub grants to a runtime that offers `offer`.
    pub(crate) fn grant(
        &self,
        offer: gambi_protocol::TunnelExtensions,
    ) -> gambi_protocol::TunnelExtensions {
        let window = u32::try_from(self.stream_buffer / 2)
            .unwrap_or(u32::MAX)
            .max(1);
        gambi_protocol::TunnelExtensions {
            binary_chunks: offer.binary_chunks,
            flow_control: offer.flow_control,
            credit_window: offer.flow_control.then_some(window),
            timing: offer.timing,
        }
    }

    /// The scheduler settings of every room.
    pub fn scheduler(&self) -> crate::scheduler::SchedulerConfig {
        crate::scheduler::SchedulerConfig {
            queue_size: self.queue_size,
            queue_timeout: self.queue_timeout,
            ..crate::scheduler::SchedulerConfig::default()
        }
    }
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            storage: Storage::Memory,
            max_management_body: 1024 * 1024,
            max_inference_body: gambi_protocol::MAX_TUNNEL_REQUEST,
            max_tunnel_message: 64 * 1024 * 1024,
            max_pending_per_tunnel: 1024,
            stream_buffer: 1024 * 1024,
            max_rooms: 10_000,
            max_participants_per_room: 1024,
            event_buffer: 1024,
            max_subscribers: 512,
            queue_size: 256,
            queue_timeout: Duration::from_secs(60),
            failover: true,
            // Local models may need a while to load and to read a long prompt before the
            // first token; once streaming, they rarely pause for more than seconds.
            response_start_timeout: Duration::from_secs(300),
            response_idle_timeout: Duration::from_secs(120),
            slow_client_grace: Duration::from_secs(10),
            max_response_body: 64 * 1024 * 1024,
            admin_token: None,
            tls: false,
            remove_offline_after: Duration::from_secs(10 * 60),
            cors_origins: CorsOrigins::Any,
            shutdown_grace: Duration::from_secs(10),
            metrics: MetricsConfig::default(),
        }
    }
}

impl std::fmt::Debug for HubConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HubConfig")
            .field("storage", &self.storage)
            .field("max_management_body", &self.max_management_body)
            .field("max_inference_body", &self.max_inference_body)
            .field("max_tunnel_message", &self.max_tunnel_message)
            .field("max_pending_per_tunnel", &self.max_pending_per_tunnel)
            .field("stream_buffer", &self.stream_buffer)
            .field("max_rooms", &self.max_rooms)
            .field("max_participants_per_room", &self.max_participants_per_room)
            .field("event_buffer", &self.event_buffer)
            .field("max_subscribers", &self.max_subscribers)
            .field("queue_size", &self.queue_size)
            .field("queue_timeout", &self.queue_timeout)
            .field("failover", &self.failover)
            .field("response_start_timeout", &self.response_start_timeout)
            .field("response_idle_timeout", &self.response_idle_timeout)
            .field("slow_client_grace", &self.slow_client_grace)
            .field("max_response_body", &self.max_response_body)
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "[redacted]"),
            )
            .field("tls", &self.tls)
            .field("remove_offline_after", &self.remove_offline_after)
            .field("cors_origins", &self.cors_origins)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("metrics", &self.metrics)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        assert_eq!(
            CorsOrigins::parse(Vec::<String>::new()),
            Ok(CorsOrigins::Any)
        );
        assert_eq!(CorsOrigins::parse(["*"]), Ok(CorsOrigins::Any));
        assert_eq!(
            CorsOrigins::parse(["http://localhost:5173", "https://app.example.org"]),
            Ok(CorsOrigins::List(vec![
                "http://localhost:5173".into(),
                "https://app.example.org".into()
            ]))
        );
        assert_eq!(
            CorsOrigins::parse(["http://[::1]:8080"]),
            Ok(CorsOrigins::List(vec!["http://[::1]:8080".into()]))
        );
        for bad in [
            "localhost:5173",
            "http://",
            "http://a/b",
            "http://a/",
            "1x://a",
            "http://a b",
        ] {
            assert_eq!(
                CorsOrigins::parse([bad]),
                Err(InvalidOrigin(bad.into())),
                "{bad}"
            );
        }
    }
}
