//! The real `gambi` binary against real hubs: a `TestHub` started in the test, or the
//! binary's own `hub serve`.
//!
//! Every run gets a clean environment (no inherited `GAMBI_*`, `RUST_LOG` or config file)
//! with its home, config and data directories in a temporary directory. Long-running
//! commands are read line by line; nothing sleeps.

mod completions;
mod discovery;
mod events;
mod global;
mod hub_serve;
mod join;
mod logs;
#[cfg(feature = "otel")]
mod otel;
mod participant;
mod room;

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use gambi_client::Client;
use gambi_protocol as proto;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Safety net for a test that would otherwise hang on a broken build.
const PATIENCE: Duration = Duration::from_secs(30);

/// A sandbox to run `gambi` in.
struct Sandbox {
    dir: TempDir,
}

impl Sandbox {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `$XDG_CONFIG_HOME/gambi/config.json`.
    fn config_file(&self) -> PathBuf {
        self.path().join("config").join("gambi").join("config.json")
    }

    /// `$XDG_DATA_HOME`.
    fn data_home(&self) -> PathBuf {
        self.path().join("data")
    }

    fn write_config(&self, text: &str) {
        let path = self.config_file();
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
        std::fs::write(path, text).expect("config written");
    }

    /// `gambi <args>` with a clean environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_gambi"));
        command
            .args(args)
            .env_clear()
            .env("HOME", self.path())
            .env("XDG_CONFIG_HOME", self.path().join("config"))
            .env("XDG_DATA_HOME", self.data_home())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// Runs `gambi <args>` to completion.
    async fn run(&self, args: &[&str]) -> Run {
        self.run_command(self.command(args)).await
    }

    /// Runs `gambi <args>` with `env` added.
    async fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        self.run_command(command).await
    }

    /// Runs `gambi <args>` with `stdin` as its standard input.
    async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut command = self.command(args);
        command.stdin(Stdio::piped());
        let mut child = command.spawn().expect("gambi starts");
        let mut input = child.stdin.take().expect("piped stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("stdin written");
        drop(input);
        finish(child).await
    }

    async fn run_command(&self, mut command: Command) -> Run {
        finish(command.spawn().expect("gambi starts")).await
    }

    /// Starts `gambi <args>` for reading its output line by line.
    fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with_env(args, &[])
    }

    /// Starts `gambi <args>` with `env` added, for reading its output line by line.
    fn spawn_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Running {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        Running::new(command.spawn().expect("gambi starts"))
    }
}

async fn finish(child: Child) -> Run {
    let output = tokio::time::timeout(PATIENCE, child.wait_with_output())
        .await
        .expect("gambi finishes in time")
        .expect("gambi's output is readable");
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    }
}

/// What a finished run printed.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Asserts exit 0 with nothing on stderr, and returns stdout's lines.
    fn ok_lines(&self) -> Vec<&str> {
        assert_eq!(self.code, Some(0), "{self:#?}");
        assert_eq!(self.stderr, "", "{self:#?}");
        self.stdout.lines().collect()
    }

    /// Asserts exit 0 with nothing on stderr, and parses stdout as one JSON document.
    fn ok_json(&self) -> Value {
        assert_eq!(self.code, Some(0), "{self:#?}");
        assert_eq!(self.stderr, "", "{self:#?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|error| panic!("{error}: {self:#?}"))
    }

    /// Asserts exit `code` with nothing on stdout, and returns stderr's lines.
    fn failed(&self, code: i32) -> Vec<&str> {
        assert_eq!(self.code, Some(code), "{self:#?}");
        assert_eq!(self.stdout, "", "{self:#?}");
        self.stderr.lines().collect()
    }
}

/// A `gambi` process still running.
struct Running {
    child: Child,
    stdout: Lines<BufReader<ChildStdout>>,
    /// stderr, read as it comes so that a chatty `--verbose` run never blocks on a full
    /// pipe.
    stderr: tokio::task::JoinHandle<String>,
}

impl Running {
    fn new(mut child: Child) -> Self {
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let mut stderr = child.stderr.take().expect("piped stderr");
        let stderr = tokio::spawn(async move {
            let mut text = String::new();
            stderr
                .read_to_string(&mut text)
                .await
                .expect("UTF-8 stderr");
            text
        });
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The next line of stdout.
    async fn line(&mut self) -> String {
        tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("a line in time")
            .expect("stdout is readable")
            .expect("stdout is still open")
    }

    /// The next line of stdout, as JSON.
    async fn json(&mut self) -> Value {
        let line = self.line().await;
        serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"))
    }

    /// Sends a signal.
    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = self.child.id().expect("still running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).expect("a pid fits in i32"));
        nix::sys::signal::kill(pid, signal).expect("signal sent");
    }

    /// Waits for the exit; returns the status and what is left on stdout and stderr.
    async fn wait(mut self) -> (ExitStatus, Vec<String>, String) {
        let mut rest = Vec::new();
        while let Some(line) = tokio::time::timeout(PATIENCE, self.stdout.next_line())
            .await
            .expect("stdout closes in time")
            .expect("stdout is readable")
        {
            rest.push(line);
        }
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("gambi exits in time")
            .expect("gambi's status is readable");
        let stderr = tokio::time::timeout(PATIENCE, self.stderr)
            .await
            .expect("stderr closes in time")
            .expect("the stderr reader does not panic");
        (status, rest, stderr)
    }
}

/// A client of `url`.
fn client(url: &str) -> Client {
    Client::new(url).expect("a valid hub URL")
}

/// Creates a room through the API and returns its summary.
async fn create_room(url: &str, name: &str, password: Option<&str>) -> proto::RoomSummary {
    client(url)
        .rooms()
        .create(&proto::CreateRoomRequest {
            name: name.into(),
            password: password.map(str::to_owned),
            defaults: None,
        })
        .await
        .expect("room created")
        .data
        .room
}

/// Registers a participant through the API.
async fn register(url: &str, code: &str, id: &str, password: Option<&str>) {
    client(url)
        .participants()
        .upsert(
            code,
            id,
            &proto::ParticipantRegistration {
                nickname: format!("{id} nickname"),
                model: "llama3".into(),
                endpoint: "http://localhost:11434".into(),
                password: password.map(str::to_owned),
                ..Default::default()
            },
        )
        .await
        .expect("participant registered");
}

/// A loopback URL nobody listens on.
async fn closed_port_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

/// JavaScript's `toISOString` of a wire timestamp.
fn iso(ms: i64) -> String {
    let ms = u64::try_from(ms).expect("a timestamp after 1970");
    humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}
