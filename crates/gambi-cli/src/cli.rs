//! The command line: every command, flag and default, as clap types.

use std::num::NonZeroU32;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use gambi_hub::HubConfig;
use gambi_protocol as proto;

use crate::output::Format;

/// Gambi pools OpenAI-compatible LLM endpoints into rooms on a hub.
///
/// Run a hub with `gambi hub serve`, create a room with `gambi room create`, and point any
/// OpenAI SDK at `<hub>/rooms/<CODE>/v1`.
#[derive(Debug, Parser)]
#[command(name = "gambi", version, arg_required_else_help = true)]
#[command(after_help = "Exit codes: 0 ok, 1 unexpected, 2 usage or validation, \
                        3 hub unreachable or unauthorised, 4 not found or conflict.")]
pub(crate) struct Cli {
    /// Flags every command takes.
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Flags every command takes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub(crate) struct GlobalArgs {
    /// Hub URL for client commands [default: the config file's hubUrl, else http://localhost:3000]
    #[arg(
        short = 'H',
        long,
        global = true,
        env = "GAMBI_HUB_URL",
        value_name = "URL"
    )]
    pub(crate) hub: Option<String>,

    /// Output format [env: GAMBI_FORMAT] [default: text on a terminal, json when piped;
    /// streaming commands print ndjson instead of json]
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub(crate) format: Option<Format>,

    /// Environment of the CLI config file ($XDG_CONFIG_HOME/gambi/config.json) to use
    /// [default: its defaultEnv]
    #[arg(long, global = true, env = "GAMBI_ENV", value_name = "NAME")]
    pub(crate) env: Option<String>,

    /// Print only the result: drop non-essential text lines
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub(crate) quiet: bool,

    /// Log debug details to stderr (by default only warnings; DEBUG=* or DEBUG=gambi*
    /// does the same, RUST_LOG overrides all)
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,

    /// Never prompt for missing values (prompts only appear when stdin is a terminal)
    #[arg(
        long,
        global = true,
        env = "GAMBI_NO_INTERACTIVE",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub(crate) no_interactive: bool,
}

/// The command groups.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run a hub.
    #[command(subcommand)]
    Hub(HubCommand),
    /// Create, list and inspect rooms.
    #[command(subcommand)]
    Room(RoomCommand),
    /// Manage participants of a room.
    #[command(subcommand)]
    Participant(ParticipantCommand),
    /// Watch what happens in a room.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Watch rooms live, run a hub, create and join rooms, in a terminal interface.
    Tui(TuiArgs),
    /// Print a shell completion script: bash, zsh, fish or powershell.
    Completions(CompletionsArgs),
}

impl Command {
    /// Whether the command runs on one thread. A hub and a participant runtime do a few
    /// microseconds of work per token and per request; on one thread they are spared the
    /// cross-thread wake-ups that would otherwise be most of their latency (BENCHMARKS.md).
    /// Blocking work (password hashing, the database) goes to the blocking pool either way.
    pub(crate) fn single_threaded(&self) -> bool {
        matches!(
            self,
            Self::Hub(HubCommand::Serve(_)) | Self::Participant(ParticipantCommand::Join(_))
        )
    }

    /// Where the command sends its traces, and the service name they carry: only `hub
    /// serve` and `participant join` trace, and only when given an endpoint.
    #[cfg(feature = "otel")]
    pub(crate) fn traces(&self) -> Option<(&url::Url, &'static str)> {
        match self {
            Self::Hub(HubCommand::Serve(args)) => {
                Some((args.traces.otlp_endpoint.as_deref()?, "gambi-hub"))
            }
            Self::Participant(ParticipantCommand::Join(args)) => {
                Some((args.traces.otlp_endpoint.as_deref()?, "gambi-participant"))
            }
            _ => None,
        }
    }

    /// Whether the command prints a stream of objects (NDJSON rather than one JSON document).
    pub(crate) fn is_streaming(&self) -> bool {
        matches!(
            self,
            Self::Hub(HubCommand::Serve(_))
                | Self::Participant(ParticipantCommand::Join(_))
                | Self::Events(_)
        )
    }
}

/// `gambi hub ...`
#[derive(Debug, Subcommand)]
pub(crate) enum HubCommand {
    /// Start the hub and serve until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Find hubs: the configured one, the config file's list, and those announced on the
    /// local network (mDNS).
    Discover(DiscoverArgs),
}

/// How long discovery listens for mDNS announcements.
#[derive(Debug, Args)]
pub(crate) struct BrowseArgs {
    /// How long to listen for hubs announced on the local network, in milliseconds
    #[arg(long = "timeout", value_name = "MS", default_value_t = 1500,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    pub(crate) timeout_ms: u64,
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

/// Where `hub serve` and `participant join` send OpenTelemetry traces (the `otel` feature).
#[cfg(feature = "otel")]
#[derive(Debug, Args)]
pub(crate) struct TraceArgs {
    /// Send OpenTelemetry traces, one per inference request, to this OTLP/HTTP collector,
    /// e.g. http://localhost:4318 (/v1/traces is added) [default: off]
    #[arg(
        long,
        env = "OTEL_EXPORTER_OTLP_ENDPOINT",
        value_name = "URL",
        value_parser = parse_otlp_endpoint
    )]
    pub(crate) otlp_endpoint: Option<Box<url::Url>>,
}

/// `gambi room ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RoomCommand {
    /// Create a room.
    Create(CreateArgs),
    /// List the hub's rooms.
    List(ListArgs),
    /// Show one room.
    Get(GetArgs),
    /// List the rooms of every hub discovery finds.
    Discover(RoomDiscoverArgs),
}

/// `gambi room create`
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Room name (asked for on a terminal when missing)
    #[arg(short, long, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// Room password: participants, event watchers and inference clients must present it
    #[arg(short, long, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,

    /// Runtime defaults of the room: a JSON file, or - for stdin (temperature, top_p,
    /// max_tokens, stop, frequency_penalty, presence_penalty, seed, instructions)
    #[arg(long, value_name = "PATH|-")]
    pub(crate) config: Option<String>,

    /// Validate and print the request without sending it
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// The hub's admin token, when it requires one
    #[arg(
        long,
        env = "GAMBI_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) admin_token: Option<String>,
}

/// How `room list` orders rooms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RoomSort {
    /// Most participants first, then newest first.
    ParticipantCount,
    /// Newest first.
    CreatedAt,
    /// By name, A to Z.
    Name,
}

/// `gambi room list`
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Sort order
    #[arg(long, value_enum, value_name = "ORDER", default_value_t = RoomSort::ParticipantCount)]
    pub(crate) sort: RoomSort,

    /// Reverse the sort order
    #[arg(long)]
    pub(crate) reverse: bool,

    /// The hub's admin token, when it requires one
    #[arg(
        long,
        env = "GAMBI_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) admin_token: Option<String>,
}

/// `gambi room discover`
#[derive(Debug, Args)]
pub(crate) struct RoomDiscoverArgs {
    /// Browse window.
    #[command(flatten)]
    pub(crate) browse: BrowseArgs,

    /// An admin token, for hubs that require one to list rooms
    #[arg(
        long,
        env = "GAMBI_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) admin_token: Option<String>,
}

/// `gambi room get`
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// Room code
    #[arg(short, long, value_name = "CODE", allow_hyphen_values = true)]
    pub(crate) code: String,
}

/// `gambi participant ...`
#[derive(Debug, Subcommand)]
pub(crate) enum ParticipantCommand {
    /// Lend a local provider (Ollama, LM Studio, llama.cpp, vLLM, a cloud API) to a room
    /// until SIGINT or SIGTERM.
    Join(Box<JoinArgs>),
    /// Remove a participant from a room.
    Leave(LeaveArgs),
    /// Send one heartbeat for a participant.
    Heartbeat(HeartbeatArgs),
}

/// `gambi participant join`
#[derive(Debug, Args)]
#[command(
    after_help = "Provider headers and the room password never leave this machine \
                        and are never printed."
)]
pub(crate) struct JoinArgs {
    /// Room code (asked for on a terminal when missing)
    #[arg(short, long, value_name = "CODE", allow_hyphen_values = true)]
    pub(crate) room: Option<String>,

    /// Find the room by name instead: among the rooms of --hub, or, without --hub, of the
    /// hubs discovery finds (the configured one, the config file's list, mDNS)
    #[arg(long, value_name = "NAME", conflicts_with = "room")]
    pub(crate) room_name: Option<String>,

    /// Participant id; keep it stable, so that joining again replaces this participant
    /// instead of adding another (asked for on a terminal when missing)
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub(crate) participant_id: Option<String>,

    /// Display name [default: <model>@<first 6 characters of the participant id>]
    #[arg(short, long, value_name = "NAME")]
    pub(crate) nickname: Option<String>,

    /// Model to serve, as the provider lists it (llama3 also matches llama3:latest);
    /// chosen from the provider's list on a terminal when missing
    #[arg(short, long, value_name = "MODEL")]
    pub(crate) model: Option<String>,

    /// Provider base URL, without /v1 [default: the config file's endpoint, else
    /// http://localhost:11434]
    #[arg(short, long, value_name = "URL")]
    pub(crate) endpoint: Option<String>,

    /// Header for the provider (never sent to the hub), e.g. "Authorization=Bearer sk-...";
    /// repeatable
    #[arg(long = "header", value_name = "NAME=VALUE")]
    pub(crate) headers: Vec<String>,

    /// Header for the provider whose value is read from an environment variable, e.g.
    /// Authorization=OPENAI_AUTH; repeatable
    #[arg(long = "header-env", value_name = "NAME=ENV_VAR")]
    pub(crate) header_envs: Vec<String>,

    /// Room password, when the room has one
    #[arg(short, long, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,

    /// This participant's runtime defaults: a JSON file, or - for stdin (temperature,
    /// top_p, max_tokens, stop, frequency_penalty, presence_penalty, seed, instructions)
    #[arg(long, value_name = "PATH|-")]
    pub(crate) config: Option<String>,

    /// Do not share the machine's specs (CPU, RAM, GPU) with the room
    #[arg(long)]
    pub(crate) no_specs: bool,

    /// Requests the provider serves at once, 1-1024
    #[arg(long, value_name = "N", default_value_t = NonZeroU32::MIN, value_parser = parse_max_concurrency)]
    pub(crate) max_concurrency: NonZeroU32,

    /// End when the tunnel is lost instead of reconnecting (the original runtime's
    /// behaviour)
    #[arg(long)]
    pub(crate) no_reconnect: bool,

    /// Probe the provider and print the registration without joining
    #[arg(long)]
    pub(crate) dry_run: bool,

    /// Where to send traces.
    #[cfg(feature = "otel")]
    #[command(flatten)]
    pub(crate) traces: TraceArgs,
}

/// `gambi participant leave`
#[derive(Debug, Args)]
pub(crate) struct LeaveArgs {
    /// Room code
    #[arg(short, long, value_name = "CODE", allow_hyphen_values = true)]
    pub(crate) room: String,

    /// Participant id
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub(crate) participant_id: String,

    /// Room password, when the room has one
    #[arg(short, long, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,
}

/// `gambi participant heartbeat`
#[derive(Debug, Args)]
pub(crate) struct HeartbeatArgs {
    /// Room code
    #[arg(short, long, value_name = "CODE", allow_hyphen_values = true)]
    pub(crate) room: String,

    /// Participant id
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub(crate) participant_id: String,
}

/// `gambi events ...`
#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// Print a room's events as they happen; reconnects when the stream drops.
    Watch(WatchArgs),
}

/// `gambi events watch`
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// Room code
    #[arg(
        short,
        long,
        value_name = "CODE",
        allow_hyphen_values = true,
        required_unless_present = "room_name"
    )]
    pub(crate) room: Option<String>,

    /// Find the room by name instead (among the rooms of --hub, or of the hubs discovery
    /// finds)
    #[arg(long, value_name = "NAME", conflicts_with = "room")]
    pub(crate) room_name: Option<String>,

    /// Room password, when the room has one
    #[arg(short, long, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,

    /// End when the stream is lost instead of reconnecting
    #[arg(long)]
    pub(crate) no_reconnect: bool,
}

/// `gambi tui`
#[derive(Debug, Args)]
#[command(after_help = "Keys are shown at the bottom of every screen; Ctrl+C quits from anywhere.")]
pub(crate) struct TuiArgs {
    /// Open the monitor of this room at once
    #[arg(short, long, value_name = "CODE", allow_hyphen_values = true)]
    pub(crate) room: Option<String>,

    /// Password of --room, when it has one (other protected rooms ask for theirs)
    #[arg(short, long, value_name = "PASSWORD")]
    pub(crate) password: Option<String>,

    /// The hub's admin token, to list and create rooms on a hub that requires it
    #[arg(
        long,
        env = "GAMBI_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub(crate) admin_token: Option<String>,

    /// Write logs to this file (the terminal belongs to the interface, so logs are
    /// dropped otherwise)
    #[arg(long, value_name = "PATH")]
    pub(crate) log_file: Option<PathBuf>,
}

/// `gambi completions`
#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

/// Parses `--port`.
/// Parses `--metrics-listen`.
fn parse_socket_addr(value: &str) -> Result<std::net::SocketAddr, String> {
    value.trim().parse().map_err(|_| {
        format!("Invalid address '{value}': use IP:PORT, such as 127.0.0.1:9090 or [::1]:9090")
    })
}

fn parse_port(value: &str) -> Result<u16, String> {
    value.trim().parse().map_err(|_| {
        format!("Invalid port '{value}': use an integer from 1 to 65535 (0 picks a free port)")
    })
}

/// Parses `--max-concurrency`.
fn parse_max_concurrency(value: &str) -> Result<NonZeroU32, String> {
    value
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|slots| *slots <= proto::MAX_CONCURRENCY_LIMIT)
        .and_then(NonZeroU32::new)
        .ok_or_else(|| {
            format!(
                "Invalid value '{value}': use an integer from 1 to {}",
                proto::MAX_CONCURRENCY_LIMIT
            )
        })
}

/// Parses `--otlp-endpoint`: an `http` or `https` URL (boxed: a URL is large, and the
/// commands' arguments are kept small).
#[cfg(feature = "otel")]
fn parse_otlp_endpoint(value: &str) -> Result<Box<url::Url>, String> {
    let invalid = || {
        format!("Invalid OTLP endpoint '{value}': use an http(s) URL, e.g. http://localhost:4318")
    };
    let url = url::Url::parse(value.trim()).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(invalid());
    }
    Ok(Box::new(url))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("3000"), Ok(3000));
        assert_eq!(parse_port("0"), Ok(0));
        assert_eq!(parse_port("65535"), Ok(65535));
        assert!(parse_port("65536").is_err());
        assert!(parse_port("-1").is_err());
        assert!(parse_port("http").is_err());
    }

    #[cfg(feature = "otel")]
    #[test]
    fn otel_endpoint_flag() {
        assert!(parse_otlp_endpoint("http://localhost:4318").is_ok());
        assert!(parse_otlp_endpoint(" https://collector.example/otlp ").is_ok());
        for bad in ["localhost:4318", "grpc://localhost:4317", "http://", ""] {
            assert!(parse_otlp_endpoint(bad).is_err(), "{bad}");
        }
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|cli| cli.command);
        let serve =
            parse(&["gambi", "hub", "serve", "--otlp-endpoint", "http://h:4318"]).expect("parses");
        let (endpoint, service) = serve.traces().expect("traced");
        assert_eq!(
            (endpoint.as_str(), service),
            ("http://h:4318/", "gambi-hub")
        );
        let join = parse(&[
            "gambi",
            "participant",
            "join",
            "--otlp-endpoint",
            "http://h",
        ])
        .expect("parses");
        assert_eq!(
            join.traces().map(|(_, service)| service),
            Some("gambi-participant")
        );
        let untraced = parse(&["gambi", "room", "list"]).expect("parses");
        assert!(
            untraced.traces().is_none(),
            "only the hub and the runtime trace"
        );
    }

    #[test]
    fn max_concurrency() {
        let ok = |value: &str| parse_max_concurrency(value).map(NonZeroU32::get);
        assert_eq!(ok("1"), Ok(1));
        assert_eq!(ok(" 3 "), Ok(3));
        assert_eq!(ok("1024"), Ok(1024));
        for bad in ["0", "1025", "-1", "two", ""] {
            assert!(parse_max_concurrency(bad).is_err(), "{bad}");
        }
    }
}
