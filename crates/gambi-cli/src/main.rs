//! `gambi`: the command-line interface of Gambi.
//!
//! The one binary of the workspace, and the one place that reads the environment, the
//! config file and signals, and prints. It parses the command line ([`cli`]), resolves the
//! output format, the config file environment ([`config`]) and logging, then runs one
//! command ([`commands`]) on a Tokio runtime and turns its outcome into an exit code
//! ([`error::Exit`]):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | unexpected failure |
//! | 2 | usage or validation error (bad flags, bad config, hub 400/422) |
//! | 3 | connectivity or dependency failure (hub unreachable, hub 401/403/503, port or database unavailable) |
//! | 4 | remote rejection (hub 404/409) |
//!
//! stdout carries only results; errors and logs go to stderr ([`output`]).

mod cli;
mod commands;
mod config;
mod error;
mod latency;
mod logging;
mod output;
mod prompt;
mod signal;
mod tui;

use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command, EventsCommand, HubCommand, ParticipantCommand, RoomCommand};
use crate::commands::Context;
use crate::error::{CliError, Exit};
use crate::output::{Format, Output};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // clap prints help and version to stdout and usage errors to stderr.
            let _ = error.print();
            return if error.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    // `gambi tui` owns the terminal: it logs only to its `--log-file`, if given.
    let destination = match &cli.command {
        Command::Tui(args) => args
            .log_file
            .as_deref()
            .map_or(logging::Destination::Nowhere, logging::Destination::File),
        _ => logging::Destination::Stderr,
    };
    let filter = logging::filter(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("DEBUG").ok().as_deref(),
        cli.global.verbose,
    );
    // With the `otel` feature, `hub serve` and `participant join` given an OTLP endpoint
    // also export their requests' spans, until `traces` is shut down at the end.
    #[cfg(feature = "otel")]
    let traces = match cli.command.traces() {
        Some((endpoint, service)) => match logging::otel::Traces::start(endpoint, service) {
            Ok(traces) => Some(traces),
            Err(error) => {
                return report(&CliError::usage(
                    format!("Cannot export traces to {endpoint}: {error}"),
                    "Pass --otlp-endpoint (or OTEL_EXPORTER_OTLP_ENDPOINT) the http(s) URL \
                     of an OTLP/HTTP collector, e.g. http://localhost:4318.",
                ));
            }
        },
        None => None,
    };
    #[cfg(feature = "otel")]
    let logged = match &traces {
        Some(traces) => logging::init_with_traces(&filter, destination, traces.layer()),
        None => logging::init(&filter, destination),
    };
    #[cfg(not(feature = "otel"))]
    let logged = logging::init(&filter, destination);
    if let Err(error) = logged {
        return report(&CliError::usage(
            format!("Cannot open the log file: {error}"),
            "Pass --log-file a writable path.",
        ));
    }

    let format = Format::resolve(
        cli.global.format,
        std::env::var("GAMBI_FORMAT").ok().as_deref(),
        cli.command.is_streaming(),
        Output::stdout_is_terminal(),
    );
    let out = Output::new(format, cli.global.quiet);
    let env = match config::default_path() {
        Some(path) => match config::load(&path, cli.global.env.as_deref()) {
            Ok(env) => env,
            Err(error) => return report(&error),
        },
        None => None,
    };
    let ctx = Context {
        out,
        hub_flag: cli.global.hub.filter(|hub| !hub.trim().is_empty()),
        env,
        interactive: !cli.global.no_interactive && prompt::terminal_attached(),
    };

    let mut builder = if cli.command.single_threaded() {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            return report(&CliError {
                exit: Exit::Unexpected,
                message: format!("Could not start the async runtime: {error}"),
                hint: None,
                request_id: None,
            });
        }
    };
    let outcome = runtime.block_on(run(cli.command, &ctx));
    #[cfg(feature = "otel")]
    if let Some(Err(error)) = traces.map(logging::otel::Traces::shutdown) {
        tracing::warn!(%error, "the last traces could not be sent");
    }
    match outcome {
        Ok(()) => Exit::Ok.into(),
        Err(error) => match error::classify(&error) {
            Some(error) => report(&error),
            // stdout was closed by its reader: nobody is left to tell.
            None => Exit::Ok.into(),
        },
    }
}

/// Runs one command.
async fn run(command: Command, ctx: &Context) -> anyhow::Result<()> {
    match command {
        Command::Hub(HubCommand::Serve(args)) => commands::hub::serve(*args, ctx).await,
        Command::Hub(HubCommand::Discover(args)) => commands::discover::hubs(args, ctx).await,
        Command::Room(RoomCommand::Discover(args)) => commands::discover::rooms(args, ctx).await,
        Command::Room(RoomCommand::Create(args)) => commands::room::create(args, ctx).await,
        Command::Room(RoomCommand::List(args)) => commands::room::list(args, ctx).await,
        Command::Room(RoomCommand::Get(args)) => commands::room::get(args, ctx).await,
        Command::Participant(ParticipantCommand::Join(args)) => {
            commands::join::join(*args, ctx).await
        }
        Command::Participant(ParticipantCommand::Leave(args)) => {
            commands::participant::leave(args, ctx).await
        }
        Command::Participant(ParticipantCommand::Heartbeat(args)) => {
            commands::participant::heartbeat(args, ctx).await
        }
        Command::Events(EventsCommand::Watch(args)) => commands::events::watch(args, ctx).await,
        Command::Tui(args) => tui::run(args, ctx).await,
        Command::Completions(args) => commands::completions::print(&args, ctx),
    }
}

/// Prints `error` to stderr and returns its exit code.
fn report(error: &CliError) -> ExitCode {
    Output::error(error);
    error.exit.into()
}
