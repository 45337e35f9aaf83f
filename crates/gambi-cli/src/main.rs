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
mod output;
mod prompt;
mod signal;
mod tui;

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

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
    let log_file = match &cli.command {
        Command::Tui(args) => Some(args.log_file.clone()),
        _ => None,
    };
    let filter = log_filter(
        std::env::var("RUST_LOG").ok().as_deref(),
        std::env::var("DEBUG").ok().as_deref(),
        cli.global.verbose,
    );
    if let Err(error) = init_logging(&filter, log_file) {
        return report(&error);
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

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
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
    match runtime.block_on(run(cli.command, &ctx)) {
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
        Command::Hub(HubCommand::Serve(args)) => commands::hub::serve(args, ctx).await,
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

/// Debug details of everything but the HTTP, TLS and mDNS plumbing underneath.
const VERBOSE: &str = "debug,hyper=info,hyper_util=info,h2=info,rustls=info,mio=info";

/// Debug details of Gambi's own crates (and of the hub's HTTP exchanges), warnings of
/// the rest.
const GAMBI_DEBUG: &str = "warn,gambi=debug,gambi_hub=debug,gambi_client=debug,\
                           gambi_participant=debug,gambi_protocol=debug,tower_http=debug";

/// What to log: `RUST_LOG` when set; else debug details for `--verbose` or a `DEBUG`
/// that names everything (`*`) or Gambi (`gambi*`, `gambi`, `gambi:*`), as the
/// `debug` convention of Node tools has it (a comma- or space-separated list, `-name`
/// excludes); else warnings.
fn log_filter(rust_log: Option<&str>, debug: Option<&str>, verbose: bool) -> String {
    if let Some(directives) = rust_log.filter(|directives| !directives.trim().is_empty()) {
        return directives.to_owned();
    }
    let patterns: Vec<&str> = debug
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|pattern| !pattern.is_empty() && !pattern.starts_with('-'))
        .collect();
    if verbose || patterns.contains(&"*") {
        VERBOSE.to_owned()
    } else if patterns
        .iter()
        .any(|pattern| pattern.to_ascii_lowercase().starts_with("gambi"))
    {
        GAMBI_DEBUG.to_owned()
    } else {
        "warn".to_owned()
    }
}

/// Logs go to stderr, filtered by `filter` ([`log_filter`]). `gambi tui` owns the
/// terminal, so it logs only to its `--log-file` (`log_file` is `Some` for it, holding
/// that flag).
fn init_logging(filter: &str, log_file: Option<Option<PathBuf>>) -> Result<(), CliError> {
    let builder = tracing_subscriber::fmt().with_env_filter(EnvFilter::new(filter));
    match log_file {
        None => builder
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init(),
        Some(None) => {}
        Some(Some(path)) => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|error| {
                    CliError::usage(
                        format!("Cannot open the log file {}: {error}", path.display()),
                        "Pass --log-file a writable path.",
                    )
                })?;
            builder
                .with_writer(std::sync::Mutex::new(file))
                .with_ansi(false)
                .init();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_filters() {
        // (RUST_LOG, DEBUG, --verbose, filter)
        let cases = [
            (None, None, false, "warn"),
            (None, None, true, VERBOSE),
            (None, Some("*"), false, VERBOSE),
            (None, Some("gambi*"), false, GAMBI_DEBUG),
            (None, Some("gambi:*"), false, GAMBI_DEBUG),
            (None, Some("express,gambi"), false, GAMBI_DEBUG),
            (None, Some("express -gambi"), false, "warn"),
            (None, Some("express"), false, "warn"),
            (None, Some(""), false, "warn"),
            (Some("info"), Some("*"), true, "info"),
            (Some("  "), Some("gambi*"), false, GAMBI_DEBUG),
        ];
        for (rust_log, debug, verbose, expected) in cases {
            assert_eq!(
                log_filter(rust_log, debug, verbose),
                expected,
                "{rust_log:?} {debug:?} {verbose}"
            );
        }
        for filter in [VERBOSE, GAMBI_DEBUG] {
            assert!(EnvFilter::try_new(filter).is_ok(), "{filter}");
        }
    }
}
