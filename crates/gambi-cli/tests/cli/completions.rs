//! `gambi completions`.

use super::Sandbox;

#[tokio::test]
async fn completion_scripts_for_each_shell() {
    let sandbox = Sandbox::new();
    for (shell, marker) in [
        ("bash", "complete -F _gambi"),
        ("zsh", "#compdef gambi"),
        ("fish", "complete -c gambi"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = sandbox.run(&["completions", shell]).await;
        let script = run.ok_lines().join("\n");
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("discover"), "{shell}");
    }
    let run = sandbox.run(&["completions", "tcsh"]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
}
