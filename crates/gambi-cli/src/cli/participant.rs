//! `gambi participant ...`: `join` (lending a provider to a room), `leave` and `heartbeat`.

use std::num::NonZeroU32;

use clap::{Args, Subcommand};
use gambi_protocol as proto;

#[cfg(feature = "otel")]
use super::common::TraceArgs;

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

/// Parses `--max-concurrency`.
pub(super) fn parse_max_concurrency(value: &str) -> Result<NonZeroU32, String> {
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
