//! The OpenAI SDK conformance suite: the official `openai` Python package drives a real hub.
//!
//! Each test starts a whole system on loopback (a hub with an open room holding one participant
//! per protocol kind, and a second hub with a password-protected room), then runs one Python
//! module of `conformance/` with the interpreter named by `GAMBI_CONFORMANCE_PYTHON` (or
//! `.venv/bin/python`, made by `./scripts/conformance-env`). The Python process learns the
//! addresses from environment variables and scripts the fake providers through a line protocol:
//! it writes one JSON command per line on its standard output and reads one JSON answer per line
//! on its standard input (its own prints go to standard error). Commands:
//!
//! - `{"op": "script", "participant": ID, "replies": [REPLY, ...]}` forgets the provider's
//!   queued replies and recorded requests, then queues these replies, in order.
//! - `{"op": "requests", "participant": ID}` answers with the requests the provider received
//!   since its last `script`: `[{"method", "path", "body"}, ...]`.
//!
//! A `REPLY` is `{"text": STR}` or `{"echo": true}`, optionally with
//! `"tool_calls": [{"name": STR, "arguments": JSON}]`, `"usage": [PROMPT, COMPLETION]` and
//! `"fail_after": [TOKENS, "error_event" | "disconnect"]` (see [`Reply::fail_after`]).
//! The answer is `{"ok": true, "result": ...}` or `{"ok": false, "error": STR}`.
//!
//! A run that exceeds [`TIME_LIMIT`] is killed and fails, so a hang never blocks CI.
#![allow(clippy::unwrap_used)] // Tests fail loudly.
#![allow(clippy::print_stderr)] // The Python output; cargo shows it only when a test fails.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use gambi_hub::HubConfig;
use gambi_test_support::cluster::Member;
use gambi_test_support::{Cluster, ParticipantSpec, Protocols, Reply, StreamFailure};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

/// The longest one Python module may run.
const TIME_LIMIT: Duration = Duration::from_secs(120);

/// Participant ids, one per protocol kind; each serves a model of its own name plus `-model`.
const CHAT_ONLY: &str = "chat-only";
const RESPONSES_ONLY: &str = "responses-only";
const BOTH: &str = "both";
/// The one participant of the protected room.
const GUARDED: &str = "guarded";
/// The protected room's password.
const PASSWORD: &str = "open sesame";

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_inference() {
    System::start().await.run("test_inference").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_adaptation() {
    System::start().await.run("test_adaptation").await;
}

/// Two hubs: an open room with a participant per protocol kind, and a protected room.
struct System {
    open: Cluster,
    protected: Cluster,
}

impl System {
    async fn start() -> Self {
        let mut open = Cluster::start().await;
        for (id, protocols) in [
            (CHAT_ONLY, Protocols::ChatOnly),
            (RESPONSES_ONLY, Protocols::ResponsesOnly),
            (BOTH, Protocols::Both),
        ] {
            open.join(participant(id, protocols)).await;
        }
        let mut protected = Cluster::with(
            HubConfig::default(),
            json!({"name": "Protected room", "password": PASSWORD}),
        )
        .await;
        protected.join(participant(GUARDED, Protocols::Both)).await;
        Self { open, protected }
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.open
            .members
            .iter()
            .chain(&self.protected.members)
            .find(|member| member.id == id)
    }

    /// Runs `conformance/<module>.py` against this system and fails the test unless it exits 0
    /// within [`TIME_LIMIT`].
    async fn run(&self, module: &str) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = python(&root);
        let mut command = Command::new(&python);
        command
            .args(["-m", "unittest", "-v", module])
            .current_dir(root.join("conformance"))
            .env_clear()
            .envs(passed_through_env())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("GAMBI_BASE_URL", self.open.base_url())
            .env("GAMBI_CHAT_ONLY", CHAT_ONLY)
            .env("GAMBI_RESPONSES_ONLY", RESPONSES_ONLY)
            .env("GAMBI_BOTH", BOTH)
            .env("GAMBI_PROTECTED_BASE_URL", self.protected.base_url())
            .env("GAMBI_PROTECTED_PARTICIPANT", GUARDED)
            .env("GAMBI_PROTECTED_PASSWORD", PASSWORD)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn().unwrap_or_else(|error| {
            panic!(
                "cannot run the conformance suite with {}: {error}. Run ./scripts/conformance-env \
                 and use its .venv/bin/python.",
                python.display()
            )
        });
        let mut stderr = child.stderr.take().unwrap();
        let errors = tokio::spawn(async move {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text).await;
            text
        });
        let mut stdin = child.stdin.take().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stray = String::new();
        let outcome = tokio::time::timeout(TIME_LIMIT, async {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(command) = serde_json::from_str::<Value>(&line) else {
                    stray.push_str(&line);
                    stray.push('\n');
                    continue;
                };
                let mut answer = self.control(&command).to_string();
                answer.push('\n');
                if stdin.write_all(answer.as_bytes()).await.is_err() {
                    break;
                }
                let _ = stdin.flush().await;
            }
            child.wait().await
        })
        .await;
        let status: Result<ExitStatus, String> = match outcome {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(error)) => Err(format!("waiting for Python failed: {error}")),
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                Err(format!("killed after {} s", TIME_LIMIT.as_secs()))
            }
        };
        let errors = tokio::time::timeout(Duration::from_secs(5), errors)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        // Cargo shows this only for a failed test, or with `--nocapture`.
        eprintln!("--- Python ({module}) ---\n{errors}");
        if !stray.is_empty() {
            eprintln!("--- Python's stray standard output ---\n{stray}");
        }
        let elapsed = started.elapsed().as_secs_f64();
        match status {
            Ok(status) if status.success() => {
                eprintln!("conformance module {module} passed in {elapsed:.1} s");
            }
            failure => panic!(
                "conformance module {module} failed after {elapsed:.1} s ({failure:?}); \
                 its output is above"
            ),
        }
    }

    /// Carries out one command of the Python process.
    fn control(&self, command: &Value) -> Value {
        match self.try_control(command) {
            Ok(result) => json!({"ok": true, "result": result}),
            Err(error) => json!({"ok": false, "error": error}),
        }
    }

    fn try_control(&self, command: &Value) -> Result<Value, String> {
        let id = command["participant"]
            .as_str()
            .ok_or("the command names no participant")?;
        let provider = &self
            .member(id)
            .ok_or_else(|| format!("no participant {id}"))?
            .provider;
        match command["op"].as_str() {
            Some("script") => {
                let replies = command["replies"]
                    .as_array()
                    .ok_or("`replies` must be an array")?
                    .iter()
                    .map(reply)
                    .collect::<Result<Vec<_>, _>>()?;
                provider.clear_replies();
                provider.clear_requests();
                provider.push_replies(replies);
                Ok(Value::Null)
            }
            Some("requests") => Ok(provider
                .requests()
                .into_iter()
                .map(|request| {
                    json!({"method": request.method, "path": request.path, "body": request.body})
                })
                .collect()),
            _ => Err(format!("unknown command {command}")),
        }
    }
}

/// A participant `id` whose provider speaks `protocols` and answers unscripted requests with a
/// text that says so.
fn participant(id: &str, protocols: Protocols) -> ParticipantSpec {
    ParticipantSpec::new(id, &format!("{id}-model")).provider(|config| {
        config.protocols = protocols;
        config.default_reply = Reply::text(format!("Unscripted reply from {id}."));
    })
}

/// The [`Reply`] a `REPLY` object of the control protocol describes.
fn reply(spec: &Value) -> Result<Reply, String> {
    let mut reply = if spec["echo"] == true {
        Reply::echo()
    } else {
        Reply::text(spec["text"].as_str().unwrap_or_default())
    };
    for call in spec["tool_calls"].as_array().into_iter().flatten() {
        let name = call["name"].as_str().ok_or("a tool call needs a name")?;
        reply = reply.with_tool_call(name, call["arguments"].clone());
    }
    if let Some(usage) = spec["usage"].as_array() {
        let count = |index: usize| {
            usage
                .get(index)
                .and_then(Value::as_u64)
                .ok_or("`usage` is [prompt, completion]")
        };
        reply = reply.usage(count(0)?, count(1)?);
    }
    if let Some(failure) = spec["fail_after"].as_array() {
        let tokens = failure
            .first()
            .and_then(Value::as_u64)
            .and_then(|tokens| usize::try_from(tokens).ok())
            .ok_or("`fail_after` is [tokens, how]")?;
        let how = match failure.get(1).and_then(Value::as_str) {
            Some("error_event") => StreamFailure::ErrorEvent,
            Some("disconnect") => StreamFailure::Disconnect,
            _ => return Err("`fail_after` fails by \"error_event\" or \"disconnect\"".into()),
        };
        reply = reply.fail_after(tokens, how);
    }
    Ok(reply)
}

/// The interpreter to run: `GAMBI_CONFORMANCE_PYTHON`, else the repository's `.venv` (which
/// must be up to date with `conformance/requirements.txt`). Never skips: a missing environment
/// fails the test.
fn python(root: &Path) -> PathBuf {
    if let Some(python) = std::env::var_os("GAMBI_CONFORMANCE_PYTHON") {
        return PathBuf::from(python);
    }
    let venv = root.join(".venv/bin/python");
    assert!(
        venv.exists(),
        "the OpenAI SDK conformance suite needs its Python environment: run \
         ./scripts/conformance-env (or set GAMBI_CONFORMANCE_PYTHON to a Python with the \
         packages of conformance/requirements.txt)"
    );
    // scripts/conformance-env stamps the venv with the requirements it installed.
    let wanted = std::fs::read(root.join("conformance/requirements.txt"));
    let installed = std::fs::read(root.join(".venv/.requirements"));
    assert!(
        matches!((wanted, installed), (Ok(wanted), Ok(installed)) if wanted == installed),
        ".venv does not have the packages of conformance/requirements.txt: run \
         ./scripts/conformance-env"
    );
    venv
}

/// The few variables of this process the interpreter may need; everything else (OPENAI_*,
/// proxies) is kept out so the suite talks only to our hub.
fn passed_through_env() -> impl Iterator<Item = (String, String)> {
    std::env::vars().filter(|(name, _)| {
        matches!(
            name.as_str(),
            "PATH" | "HOME" | "LANG" | "LC_ALL" | "LC_CTYPE" | "TMPDIR" | "LD_LIBRARY_PATH"
        )
    })
}
