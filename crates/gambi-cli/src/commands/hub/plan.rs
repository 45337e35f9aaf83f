//! What `hub serve` is about to do: where it listens and where its database goes, and the
//! addresses it prints (`--dry-run`, `started`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use etcetera::BaseStrategy;
use serde::Serialize;

use crate::error::CliError;

/// What `hub serve` is about to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Plan {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) db: Option<PathBuf>,
    pub(super) mdns: bool,
    /// Where the metrics are served instead of the main listener.
    pub(super) metrics_listen: Option<SocketAddr>,
}

impl Plan {
    /// `http://<host>:<port>` as bound.
    pub(super) fn bind_url(&self, port: u16) -> String {
        format!("http://{}:{port}", url_host(&self.host))
    }

    /// A URL clients on this machine can use: the unspecified address (`0.0.0.0`, `::`)
    /// becomes `localhost`.
    pub(super) fn hub_url(&self, port: u16) -> String {
        let unspecified = self
            .host
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        let host = if unspecified {
            "localhost".to_owned()
        } else {
            url_host(&self.host)
        };
        format!("http://{host}:{port}")
    }

    /// Where Prometheus scrapes the metrics, with `metrics` the bound (or requested)
    /// address of a separate listener.
    pub(super) fn metrics_url(&self, port: u16, metrics: Option<SocketAddr>) -> String {
        match metrics {
            Some(addr) => format!("http://{addr}/metrics"),
            None => format!("{}/metrics", self.hub_url(port)),
        }
    }

    /// The plan as printed, with `port` the bound (or, for a dry run, requested) port and
    /// `metrics` the metrics' own listener, if any.
    pub(super) fn summary(&self, port: u16, metrics: Option<SocketAddr>) -> PlanSummary {
        PlanSummary {
            host: self.host.clone(),
            port,
            bind_url: self.bind_url(port),
            hub_url: self.hub_url(port),
            db: self.db.as_ref().map(|path| path.display().to_string()),
            mdns: self.mdns,
            metrics_url: self.metrics_url(port, metrics),
        }
    }
}

/// The plan as `--dry-run` and `started` print it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PlanSummary {
    host: String,
    port: u16,
    bind_url: String,
    hub_url: String,
    /// `null` with `--ephemeral`.
    db: Option<String>,
    /// Whether the hub is announced over mDNS.
    mdns: bool,
    /// Where the Prometheus metrics are.
    pub(super) metrics_url: String,
}

/// An IPv6 literal in brackets, anything else as is.
pub(crate) fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    }
}

/// `$XDG_DATA_HOME/gambi/hub.db` (else `~/.local/share/gambi/hub.db`).
pub(crate) fn default_db_path() -> Result<PathBuf, CliError> {
    etcetera::choose_base_strategy()
        .map(|strategy| strategy.data_dir().join("gambi").join("hub.db"))
        .map_err(|error| {
            CliError::usage(
                format!("Cannot find a data directory for the hub database: {error}."),
                "Pass --db PATH, or --ephemeral to keep rooms in memory.",
            )
        })
}

/// Creates the database's directory.
pub(crate) fn create_parent(path: &Path) -> Result<(), CliError> {
    let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    else {
        return Ok(());
    };
    std::fs::create_dir_all(parent).map_err(|error| {
        CliError::unavailable(
            format!("Could not create {}: {error}", parent.display()),
            "Pass --db with a writable path, or --ephemeral to keep rooms in memory.",
        )
    })
}
