//! `gambi completions <shell>`: a completion script for bash, zsh, fish or PowerShell,
//! generated from the command line's definition, so it always knows every command and
//! flag of this build.

use clap::CommandFactory as _;

use super::Context;
use crate::cli::{Cli, CompletionsArgs};

/// Runs `gambi completions`.
pub(crate) fn print(args: &CompletionsArgs, ctx: &Context) -> anyhow::Result<()> {
    ctx.out.line(script(args.shell).trim_end())?;
    Ok(())
}

/// The completion script for `shell`.
fn script(shell: clap_complete::Shell) -> String {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "gambi", &mut script);
    String::from_utf8_lossy(&script).into_owned()
}

#[cfg(test)]
mod tests {
    use clap_complete::Shell;

    use super::*;

    #[test]
    fn every_shell_gets_the_commands_and_flags() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::PowerShell] {
            let script = script(shell);
            // Fish writes long flags without their dashes (`-l mdns`).
            for word in [
                "discover",
                "room-name",
                "mdns",
                "completions",
                "no-interactive",
            ] {
                assert!(script.contains(word), "{shell:?} lacks {word}");
            }
        }
        assert!(script(Shell::Bash).contains("complete -F _gambi"));
        assert!(script(Shell::Zsh).starts_with("#compdef gambi"));
        assert!(script(Shell::Fish).contains("complete -c gambi"));
        assert!(script(Shell::PowerShell).contains("Register-ArgumentCompleter"));
    }
}
