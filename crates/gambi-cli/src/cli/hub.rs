//! `gambi hub ...`: `serve` (every flag of the hub, with the config file's defaults named)
//! and `discover`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use gambi_hub::HubConfig;

use super::common::BrowseArgs;
#[cfg(feature = "otel")]
use super::common::TraceArgs;

/// `gambi hub ...`
#[derive(Debug, Subcommand)]
pub(crate) enum HubCommand {
    /// Start the hub and serve until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Find hubs: the configured one, the config file's list, and those announced on the
    /// local network (mDNS).
    Discover(DiscoverArgs),
}

/// `gambi hub discover`
#[derive(Debug, Args)]
pub(crate) struct DiscoverArgs {
    /// Browse window.
    #[command(flatten)]
    pub(crate) browse: BrowseArgs,
}

/// `gambi hub serve`
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Address to bind [default: the config file's serve.host, else 0.0.0.0]
    #[arg(long, value_name = "HOST")]
    pub(crate) host: Option<String>,

    /// Port to bind, 1-65535; 0 picks a free port [default: the config file's serve.port,
    /// else 3000]
    #[arg(long, value_name = "PORT", value_parser = parse_port)]
    pub(crate) port: Option<u16>,

    /// SQLite database keeping the rooms [default: $XDG_DATA_HOME/gambi/hub.db]
    #[arg(long, value_name = "PATH", conflicts_with = "ephemeral")]
    pub(crate) db: Option<PathBuf>,

    /// Keep rooms in memory only: they are lost when the hub stops
    #[arg(long)]
    pub(crate) ephemeral: bool,

    /// Print the startup plan and exit without starting
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Require this token (as `Authorization: Bearer`) to create and list rooms
    #[arg(
        long,
        env = "GAMBI_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) admin_token: Option<String>,

    /// Requests allowed to wait for a free participant in each room
    #[arg(long, value_name = "N", default_value_t = HubConfig::default().queue_size)]
    pub(crate) queue_size: usize,

    /// Longest a request waits for a free participant, in seconds
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = HubConfig::default().queue_timeout.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub(crate) queue_timeout: u64,

    /// Don't retry a request on another participant when the chosen one fails before
    /// answering (by default it is retried once)
    #[arg(long)]
    pub(crate) no_failover: bool,

    /// Longest wait for a provider to start answering, in seconds (loading a model and
    /// reading a long prompt count) [default: the config file's
    /// serve.responseStartTimeout, else 300]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) response_start_timeout: Option<u64>,

    /// Longest silence in the middle of an answer before it is abandoned, in seconds
    /// [default: the config file's serve.responseIdleTimeout, else 120]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) response_idle_timeout: Option<u64>,

    /// On SIGINT or SIGTERM, how many seconds requests in flight get to finish before they
    /// are ended (new ones are refused at once); 0 ends them at once [default: the config
    /// file's serve.shutdownGrace, else 10]
    #[arg(long, value_name = "SECONDS")]
    pub(crate) shutdown_grace: Option<u64>,

    /// Remove a participant that lost its tunnel after this many seconds offline
    /// [default: the config file's serve.removeOfflineAfter, else 600 (10 minutes)]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) remove_offline_after: Option<u64>,

    /// A web origin whose pages may call the hub from a browser, e.g.
    /// http://localhost:5173; repeat for several [default: the config file's
    /// serve.corsOrigins, else any origin]
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    pub(crate) cors_origins: Vec<String>,

    /// Announce the hub on the local network (mDNS), so that `gambi hub discover` and
    /// `--room-name` find it [default: the config file's serve.mdns, else off]
    #[arg(long)]
    pub(crate) mdns: bool,

    /// Serve the Prometheus metrics on this address (e.g. 127.0.0.1:9090) instead of at
    /// /metrics on the main listener [default: the config file's serve.metricsListen]
    #[arg(long, value_name = "ADDR", value_parser = parse_socket_addr)]
    pub(crate) metrics_listen: Option<std::net::SocketAddr>,

    /// Require this token (as `Authorization: Bearer`) to read /metrics [default: the
    /// config file's serve.metricsToken, else the admin token when there is one]
    #[arg(
        long,
        env = "GAMBI_METRICS_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) metrics_token: Option<String>,

    /// Where to send traces.
    #[cfg(feature = "otel")]
    #[command(flatten)]
    pub(crate) traces: TraceArgs,
}

/// Parses `--port`.
pub(super) fn parse_port(value: &str) -> Result<u16, String> {
    value.trim().parse().map_err(|_| {
        format!("Invalid port '{value}': use an integer from 1 to 65535 (0 picks a free port)")
    })
}

/// Parses `--metrics-listen`.
fn parse_socket_addr(value: &str) -> Result<std::net::SocketAddr, String> {
    value.trim().parse().map_err(|_| {
        format!("Invalid address '{value}': use IP:PORT, such as 127.0.0.1:9090 or [::1]:9090")
    })
}
