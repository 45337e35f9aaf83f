//! Asking for a required value a command was not given, when a person is there to answer.
//!
//! Prompts are written to stderr (stdout keeps only the result, so `| jq` still works)
//! and read from the terminal, with `dialoguer`. They are offered only when stdin and
//! stderr are terminals and neither `--no-interactive` nor `GAMBI_NO_INTERACTIVE` says
//! otherwise ([`crate::commands::Context::interactive`]); a script never waits on one.
//! Each call blocks its thread while the person types, which is all the command is
//! doing at that point.

use std::io::IsTerminal as _;

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Input, Password, Select};

use crate::error::CliError;

/// Runs `ask`, which waits for the person at the terminal. On a runtime with several
/// threads the others carry on meanwhile; on one (`participant join`, `hub serve`) there is
/// nothing else to run while a prompt waits.
fn blocking<T>(ask: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(ask),
        _ => ask(),
    }
}

/// Whether a person can answer prompts: stdin and stderr are terminals.
pub(crate) fn terminal_attached() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

/// A line of text, not empty; `default` is offered and taken on a bare Enter.
pub(crate) fn text(prompt: &str, default: Option<&str>) -> Result<String, CliError> {
    let theme = ColorfulTheme::default();
    let mut input = Input::<String>::with_theme(&theme).with_prompt(prompt);
    if let Some(default) = default {
        input = input.default(default.to_owned());
    }
    let answer = blocking(|| input.interact_text()).map_err(cancelled)?;
    Ok(answer.trim().to_owned())
}

/// A secret, not echoed; `None` when left empty.
pub(crate) fn secret(prompt: &str) -> Result<Option<String>, CliError> {
    let theme = ColorfulTheme::default();
    let input = Password::with_theme(&theme)
        .with_prompt(prompt)
        .allow_empty_password(true);
    let answer = blocking(|| input.interact()).map_err(cancelled)?;
    Ok(Some(answer).filter(|answer| !answer.is_empty()))
}

/// One of `items` (at least one), chosen with the arrow keys and Enter; its index.
pub(crate) fn select(prompt: &str, items: &[String]) -> Result<usize, CliError> {
    let theme = ColorfulTheme::default();
    let input = Select::with_theme(&theme)
        .with_prompt(prompt)
        .items(items)
        .default(0);
    blocking(|| input.interact()).map_err(cancelled)
}

fn cancelled(error: dialoguer::Error) -> CliError {
    let dialoguer::Error::IO(error) = error;
    CliError::usage(
        format!("No answer at the prompt ({error})."),
        "Pass the value as a flag; --no-interactive turns prompts off.",
    )
}
