//! `gambi room ...`: `create`, `list`, `get` and `discover`.

use clap::{Args, Subcommand, ValueEnum};

use super::common::BrowseArgs;

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
