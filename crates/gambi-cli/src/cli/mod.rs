//! The command line: every command, flag and default, as clap types.
//!
//! This module holds the top (`Cli`, the global flags, the command groups) and the small
//! groups (`events`, `tui`, `completions`); `hub`, `room` and `participant` hold their
//! groups' commands, `common` the flags several commands share.

mod common;
mod hub;
mod participant;
mod room;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub(crate) use hub::{DiscoverArgs, HubCommand, ServeArgs};
pub(crate) use participant::{HeartbeatArgs, JoinArgs, LeaveArgs, ParticipantCommand};
pub(crate) use room::{CreateArgs, GetArgs, ListArgs, RoomCommand, RoomDiscoverArgs, RoomSort};

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

#[cfg(test)]
mod tests;
