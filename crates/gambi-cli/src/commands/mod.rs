//! One module per command group. Each command takes its parsed flags and a [`Context`],
//! prints its result through [`Output`], and returns an error for `main` to report.

pub(crate) mod events;
pub(crate) mod hub;
pub(crate) mod participant;
pub(crate) mod room;

use gambi_client::Client;
use gambi_protocol as proto;

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

    /// A client of the hub, sending `token` (admin token or room password) as bearer.
    pub(crate) fn client(&self, token: Option<&str>) -> Result<Client, CliError> {
        let client = Client::new(self.hub_url())?;
        Ok(match token.filter(|token| !token.is_empty()) {
            Some(token) => client.with_token(token),
            None => client,
        })
    }
}
