//! What a session is given: [`SessionOptions`] and its [`Timing`], checked once when the
//! session starts.

use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use gambi_protocol as proto;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::auth::AuthHeaders;
use crate::backoff::BackoffPolicy;
use crate::probe::ProbeResult;

/// Longest interval or time limit accepted in [`Timing`].
const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

/// Everything a session needs, checked once by [`crate::ParticipantSession::start`].
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
    /// Tunnel extensions to offer the hub (all of them by default); with none, the
    /// runtime speaks only the original protocol: JSON text frames, no flow control.
    pub tunnel_extensions: proto::TunnelExtensions,
    /// Cancelling this token stops the session (it then leaves the room).
    pub shutdown: CancellationToken,
}

impl SessionOptions {
    /// Options with the required values and defaults for the rest: no password, specs,
    /// config, capability override or credentials; one slot; reconnection on.
    ///
    /// ```
    /// use std::num::NonZeroU32;
    ///
    /// use gambi_participant::{AuthHeaders, SessionOptions};
    ///
    /// let mut options = SessionOptions::new(
    ///     "http://hub.lan:3000".parse()?,
    ///     "K7QF2M",
    ///     "alice-laptop",
    ///     "Alice",
    ///     "gpt-4o-mini",
    ///     "https://api.openai.com".parse()?,
    /// );
    /// options.password = Some("room password".into());
    /// options.auth_headers = AuthHeaders::from_pairs([("Authorization", "Bearer sk-local")])?;
    /// options.max_concurrency = NonZeroU32::new(4).expect("non-zero");
    /// options.reconnect = None; // end when the tunnel is lost, as the original runtime did
    /// assert!(!format!("{options:?}").contains("sk-local"), "secrets are redacted");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
            tunnel_extensions: proto::TunnelExtensions::offer(),
            shutdown: CancellationToken::new(),
        }
    }

    /// Checks the values no type rules out: names that are blank, a slot count above the
    /// protocol's limit, intervals that are zero or longer than a day. The hub URL and
    /// the endpoint are checked where they are used.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (value, name) in [
            (&self.room_code, "room code"),
            (&self.participant_id, "participant id"),
            (&self.nickname, "nickname"),
            (&self.model, "model"),
        ] {
            if value.trim().is_empty() {
                return Err(format!("{name} is empty"));
            }
        }
        if self.max_concurrency.get() > proto::MAX_CONCURRENCY_LIMIT {
            return Err(format!(
                "max concurrency is above {}",
                proto::MAX_CONCURRENCY_LIMIT
            ));
        }
        let timing = self.timing;
        let sensible = |duration: Duration| !duration.is_zero() && duration <= MAX_INTERVAL;
        if !(sensible(timing.ping_interval)
            && sensible(timing.heartbeat_interval)
            && sensible(timing.provider_response_timeout))
        {
            return Err("intervals and timeouts must be between zero and one day".into());
        }
        Ok(())
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
            .field("tunnel_extensions", &self.tunnel_extensions)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> SessionOptions {
        SessionOptions::new(
            Url::parse("http://127.0.0.1:3000").expect("url"),
            "ABC123",
            "alice",
            "Alice",
            "llama3",
            Url::parse("http://127.0.0.1:11434").expect("url"),
        )
    }

    #[test]
    fn debug_redacts_secrets() {
        let mut options = options();
        options.password = Some("hunter2".into());
        options.auth_headers =
            AuthHeaders::from_pairs([("authorization", "Bearer sk-top")]).expect("valid");
        let debug = format!("{options:?}");
        assert!(!debug.contains("hunter2") && !debug.contains("sk-top"));
        assert!(debug.contains("authorization"));
    }

    #[test]
    fn checks_name_what_is_wrong() {
        assert_eq!(options().check(), Ok(()));
        type Change = fn(&mut SessionOptions);
        let cases: [(Change, &str); 4] = [
            (|o| o.room_code = " ".into(), "room code is empty"),
            (|o| o.model = String::new(), "model is empty"),
            (
                |o| o.max_concurrency = NonZeroU32::MAX,
                "max concurrency is above",
            ),
            (
                |o| o.timing.heartbeat_interval = Duration::ZERO,
                "intervals and timeouts must be between zero and one day",
            ),
        ];
        for (change, expected) in cases {
            let mut options = options();
            change(&mut options);
            let error = options.check().expect_err(expected);
            assert!(error.starts_with(expected), "{error}");
        }
    }
}
