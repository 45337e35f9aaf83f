//! The CLI config file: named environments with a hub URL, provider settings for
//! `participant join` and hub serve settings.
//!
//! `$XDG_CONFIG_HOME/gambi/config.json` (else `~/.config/gambi/config.json`):
//!
//! ```json
//! { "defaultEnv": "lab",
//!   "envs": { "lab": { "hubUrl": "http://10.0.0.2:3000",
//!                      "endpoint": "http://localhost:11434",
//!                      "headers": { "Authorization": "Bearer sk-..." },
//!                      "noSpecs": false,
//!                      "hubs": ["http://10.0.0.3:3000"],
//!                      "serve": { "host": "0.0.0.0", "port": 3000, "mdns": true,
//!                                 "responseStartTimeout": 300, "responseIdleTimeout": 120,
//!                                 "removeOfflineAfter": 600, "shutdownGrace": 10,
//!                                 "corsOrigins": ["http://localhost:5173"] } } } }
//! ```
//!
//! `hubs` is the static list discovery tries besides the configured hub and mDNS, for
//! networks where multicast is blocked.
//!
//! The environment is `--env`, else `GAMBI_ENV`, else `defaultEnv`. A missing file is
//! fine; a file that does not parse, or an environment name it does not define, is a usage
//! error (exit 2). Unknown keys are ignored, so files written for the original CLI load
//! unchanged.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;
use serde::Deserialize;

use crate::error::CliError;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    /// The environment used when none is named.
    default_env: Option<String>,
    /// Environments by name.
    #[serde(default)]
    envs: BTreeMap<String, EnvConfig>,
}

/// One environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvConfig {
    /// Hub URL for client commands.
    pub(crate) hub_url: Option<String>,
    /// Provider endpoint for `participant join`.
    pub(crate) endpoint: Option<String>,
    /// Provider headers for `participant join` (credentials: kept on this machine).
    #[serde(default)]
    pub(crate) headers: ProviderHeaders,
    /// Whether `participant join` keeps the machine's specs to itself.
    #[serde(default)]
    pub(crate) no_specs: bool,
    /// Hubs discovery tries besides the configured one and mDNS.
    #[serde(default)]
    pub(crate) hubs: Vec<String>,
    /// Settings of `hub serve`.
    #[serde(default)]
    pub(crate) serve: ServeConfig,
}

/// Provider headers by name. Their values are credentials: `Debug` shows only the names.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct ProviderHeaders(pub(crate) BTreeMap<String, String>);

impl fmt::Debug for ProviderHeaders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|name| (name, "[redacted]")))
            .finish()
    }
}

/// `hub serve` settings of an environment. `Debug` hides the metrics token.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServeConfig {
    /// Address to bind.
    pub(crate) host: Option<String>,
    /// Port to bind.
    pub(crate) port: Option<u16>,
    /// Seconds a provider gets to start answering.
    pub(crate) response_start_timeout: Option<u64>,
    /// Seconds of silence in the middle of an answer before it is abandoned.
    pub(crate) response_idle_timeout: Option<u64>,
    /// Seconds a participant without its tunnel stays listed.
    pub(crate) remove_offline_after: Option<u64>,
    /// Seconds requests in flight get to finish once shutdown begins.
    pub(crate) shutdown_grace: Option<u64>,
    /// Web origins allowed to call the hub from a browser.
    pub(crate) cors_origins: Option<Vec<String>>,
    /// Announce the hub over mDNS.
    pub(crate) mdns: Option<bool>,
    /// Serve the metrics on this address instead of the main listener (`IP:PORT`).
    pub(crate) metrics_listen: Option<String>,
    /// Token required to read the metrics.
    pub(crate) metrics_token: Option<String>,
}

impl fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("response_start_timeout", &self.response_start_timeout)
            .field("response_idle_timeout", &self.response_idle_timeout)
            .field("remove_offline_after", &self.remove_offline_after)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("cors_origins", &self.cors_origins)
            .field("mdns", &self.mdns)
            .field("metrics_listen", &self.metrics_listen)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

/// Where the config file lives, if there is a home directory to put it in.
pub(crate) fn default_path() -> Option<PathBuf> {
    etcetera::choose_base_strategy()
        .ok()
        .map(|strategy| strategy.config_dir().join("gambi").join("config.json"))
}

/// The environment chosen by `requested` (`--env` / `GAMBI_ENV`) or the file's default.
/// `None` when there is no file, or no environment is requested and none is the default.
pub(crate) fn load(path: &Path, requested: Option<&str>) -> Result<Option<EnvConfig>, CliError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(CliError::usage(
                format!("Cannot read CLI config {}: {error}", path.display()),
                "Fix the file's permissions or remove it and retry.",
            ));
        }
    };
    select(path, text.as_deref(), requested)
}

/// [`load`] on the file's contents (`None` when there is no file).
fn select(
    path: &Path,
    text: Option<&str>,
    requested: Option<&str>,
) -> Result<Option<EnvConfig>, CliError> {
    let requested = requested.map(str::trim).filter(|name| !name.is_empty());
    let Some(text) = text else {
        return match requested {
            Some(name) => Err(CliError::usage(
                format!(
                    "Unknown environment '{name}': there is no CLI config at {}.",
                    path.display()
                ),
                "Create the config file with an \"envs\" entry of that name, or drop --env / GAMBI_ENV.",
            )),
            None => Ok(None),
        };
    };
    let file: ConfigFile = serde_json::from_str(text).map_err(|error| {
        CliError::usage(
            format!("Invalid CLI config in {}: {error}", path.display()),
            "Fix the config file or remove it and retry.",
        )
    })?;
    let Some(name) = requested.or(file.default_env.as_deref()) else {
        return Ok(None);
    };
    match file.envs.get(name) {
        Some(env) => Ok(Some(env.clone())),
        None => {
            let known: Vec<&str> = file.envs.keys().map(String::as_str).collect();
            let hint = if known.is_empty() {
                "The file defines no environments under \"envs\".".to_owned()
            } else {
                format!("Known environments: {}.", known.join(", "))
            };
            Err(CliError::usage(
                format!("Unknown environment '{name}' in {}.", path.display()),
                hint,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    const FILE: &str = r#"{
        "defaultEnv": "lab",
        "envs": {
            "lab": {"hubUrl": "http://10.0.0.2:3000", "serve": {"host": "127.0.0.1", "port": 4000, "mdns": true,
                                                      "responseStartTimeout": 90, "responseIdleTimeout": 30,
                                                      "corsOrigins": ["http://localhost:5173"],
                                                      "metricsListen": "127.0.0.1:9090",
                                                      "metricsToken": "scrape-secret"}},
            "home": {"hubUrl": "http://localhost:3000", "endpoint": "http://localhost:11434",
                     "headers": {"Authorization": "Bearer sk-home"}, "noSpecs": true,
                     "hubs": ["http://10.0.0.3:3000", "http://10.0.0.4:3000"]}
        }
    }"#;

    fn check(text: Option<&str>, requested: Option<&str>) -> Result<Option<EnvConfig>, CliError> {
        select(Path::new("/cfg/config.json"), text, requested)
    }

    #[test]
    fn environments_are_chosen() {
        let lab = check(Some(FILE), None)
            .expect("valid")
            .expect("the default");
        assert_eq!(lab.hub_url.as_deref(), Some("http://10.0.0.2:3000"));
        assert_eq!(
            lab.serve,
            ServeConfig {
                host: Some("127.0.0.1".into()),
                port: Some(4000),
                response_start_timeout: Some(90),
                response_idle_timeout: Some(30),
                remove_offline_after: None,
                shutdown_grace: None,
                cors_origins: Some(vec!["http://localhost:5173".into()]),
                mdns: Some(true),
                metrics_listen: Some("127.0.0.1:9090".into()),
                metrics_token: Some("scrape-secret".into()),
            }
        );
        assert!(!format!("{lab:?}").contains("scrape-secret"));
        let home = check(Some(FILE), Some("home"))
            .expect("valid")
            .expect("named");
        assert_eq!(home.hub_url.as_deref(), Some("http://localhost:3000"));
        assert_eq!(home.endpoint.as_deref(), Some("http://localhost:11434"));
        assert!(home.no_specs && !lab.no_specs);
        assert_eq!(
            home.headers.0.get("Authorization").map(String::as_str),
            Some("Bearer sk-home")
        );
        assert!(lab.headers.0.is_empty());
        assert!(lab.hubs.is_empty());
        assert_eq!(home.hubs, ["http://10.0.0.3:3000", "http://10.0.0.4:3000"]);
        let debug = format!("{home:?}");
        assert!(debug.contains("Authorization") && !debug.contains("sk-home"));
        assert_eq!(check(Some("{}"), None).expect("valid"), None);
        assert_eq!(check(None, None).expect("no file is fine"), None);
    }

    #[test]
    fn bad_files_and_unknown_names_are_usage_errors() {
        let error = check(Some("{not json"), None).expect_err("invalid");
        assert_eq!(error.exit, Exit::Usage);
        assert!(
            error
                .message
                .starts_with("Invalid CLI config in /cfg/config.json: ")
        );
        assert_eq!(
            error.hint.as_deref(),
            Some("Fix the config file or remove it and retry.")
        );

        let error = check(Some(FILE), Some("nope")).expect_err("unknown");
        assert_eq!(
            error.message,
            "Unknown environment 'nope' in /cfg/config.json."
        );
        assert_eq!(
            error.hint.as_deref(),
            Some("Known environments: home, lab.")
        );

        let error = check(None, Some("lab")).expect_err("no file");
        assert_eq!(error.exit, Exit::Usage);

        let error = check(Some(r#"{"envs": {"a": {"serve": {"port": 70000}}}}"#), None)
            .expect_err("a port out of range does not parse");
        assert!(error.message.starts_with("Invalid CLI config"));
    }
}
