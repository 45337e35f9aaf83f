//! One module per command group. Each command takes its parsed flags and a [`Context`],
//! prints its result through [`Output`], and returns an error for `main` to report.

pub(crate) mod completions;
pub(crate) mod discover;
pub(crate) mod events;
pub(crate) mod hub;
pub(crate) mod join;
pub(crate) mod participant;
pub(crate) mod room;

use std::io::Read as _;

use gambi_client::Client;
use gambi_client::discovery::DiscoveryOptions;
use gambi_protocol as proto;
use serde_json::Value;

use crate::config::EnvConfig;
use crate::error::CliError;
use crate::output::Output;

/// What every command gets besides its own flags.
#[derive(Debug)]
pub(crate) struct Context {
    /// Where the result goes.
    pub(crate) out: Output,
    /// `--hub` or `GAMBI_HUB_URL`, if given.
    pub(crate) hub_flag: Option<String>,
    /// The selected environment of the CLI config file, if any.
    pub(crate) env: Option<EnvConfig>,
    /// Whether missing values may be asked for (stdin and stderr are terminals and
    /// neither `--no-interactive` nor `GAMBI_NO_INTERACTIVE` says no).
    pub(crate) interactive: bool,
}

impl Context {
    /// The hub URL for client commands: `--hub` › `GAMBI_HUB_URL` › the environment's
    /// `hubUrl` › `http://localhost:3000`.
    pub(crate) fn hub_url(&self) -> &str {
        self.hub_flag
            .as_deref()
            .or_else(|| self.env.as_ref().and_then(|env| env.hub_url.as_deref()))
            .unwrap_or(proto::DEFAULT_HUB_URL)
    }

    /// This context with `hub_url` as the hub (one that discovery found).
    pub(crate) fn with_hub(&self, hub_url: &str) -> Self {
        Self {
            out: self.out,
            hub_flag: Some(hub_url.to_owned()),
            env: self.env.clone(),
            interactive: self.interactive,
        }
    }

    /// Where discovery looks: the configured hub (`--hub`, the config file's `hubUrl`, or
    /// the default), the config file's `hubs`, and mDNS for `window`.
    pub(crate) fn discovery(&self, window: std::time::Duration) -> DiscoveryOptions {
        DiscoveryOptions {
            configured_hub: Some(self.hub_url().to_owned()),
            fallback_hubs: self
                .env
                .as_ref()
                .map(|env| env.hubs.clone())
                .unwrap_or_default(),
            browse_window: window,
            ..DiscoveryOptions::default()
        }
    }

    /// Where `--room-name` is looked for: only `--hub` when given (it always wins),
    /// else everything [`Context::discovery`] tries.
    pub(crate) fn room_resolution(&self) -> DiscoveryOptions {
        match &self.hub_flag {
            Some(hub) => DiscoveryOptions::only(hub.clone()),
            None => self.discovery(gambi_protocol::mdns::BROWSE_WINDOW),
        }
    }

    /// A client of the hub, sending `token` (admin token or room password) as bearer.
    pub(crate) fn client(&self, token: Option<&str>) -> Result<Client, CliError> {
        let client = Client::new(self.hub_url())?;
        Ok(match token.filter(|token| !token.is_empty()) {
            Some(token) => client.with_token(token),
            None => client,
        })
    }
}

/// What stands in for a secret (a password, a provider header) in printed payloads.
pub(crate) const REDACTED: &str = "[redacted]";

/// Reads and validates runtime defaults (a [`proto::RuntimeConfig`]) from a JSON file, or
/// from stdin for `-`. `what` names the config in messages, e.g. `room config`.
pub(crate) fn read_runtime_config(
    source: &str,
    what: &str,
) -> Result<proto::RuntimeConfig, CliError> {
    let (label, read) = if source == "-" {
        let mut text = String::new();
        let read = std::io::stdin().read_to_string(&mut text).map(|_| text);
        ("stdin".to_owned(), read)
    } else {
        (source.to_owned(), std::fs::read_to_string(source))
    };
    let text = read.map_err(|error| {
        CliError::usage(
            format!("Cannot read {what} {label}: {error}"),
            "Pass --config a readable JSON file, or - to read it from stdin.",
        )
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|error| {
        CliError::usage(
            format!("Invalid {what} in {label}: {error}"),
            "The config must be a JSON object.",
        )
    })?;
    proto::RuntimeConfig::parse(&value).map_err(|errors| {
        CliError::usage(
            format!("Invalid {what} in {label}: {}", errors.summary()),
            "Allowed fields: temperature (0-2), top_p (0-1), max_tokens (positive integer), \
             stop (array of strings), frequency_penalty and presence_penalty (-2 to 2), \
             seed (integer), instructions (non-empty string).",
        )
    })
}
