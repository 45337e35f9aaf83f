//! Participant runtimes under test, in a process of their own.
//!
//! `gambi-bench --serve-participant --hub-url URL --room CODE --provider-url URL
//! [--participant-prefix P] [--participants N] [--slots S]` runs `N` participant sessions
//! `P-0` .. `P-<N-1>` (`gambi_participant::ParticipantSession`, real WebSocket tunnels) in
//! room `CODE`, each with `S` slots and forwarding to the provider at `URL`. It prints
//! `ready` once the hub lists every one of them with its tunnel connected, and serves until
//! its standard input closes; then it closes the sessions (they leave the room).

use std::collections::HashSet;
use std::io::Write;
use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::{Context, bail};
use gambi_participant::{ParticipantSession, SessionOptions};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use url::Url;

use crate::MODEL;
use crate::process::ChildProcess;

/// What one runtime process serves.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeSpec {
    /// The hub, `http://127.0.0.1:<port>`.
    pub(crate) hub_url: String,
    /// The room's code.
    pub(crate) room: String,
    /// Participants are `<prefix>-0`, `<prefix>-1`, ...
    pub(crate) prefix: String,
    /// How many participants.
    pub(crate) count: usize,
    /// Slots (`maxConcurrency`) of each.
    pub(crate) slots: u32,
    /// The provider's base URL.
    pub(crate) provider_url: String,
}

impl RuntimeSpec {
    /// The participant ids.
    pub(crate) fn ids(&self) -> Vec<String> {
        (0..self.count)
            .map(|n| format!("{}-{n}", self.prefix))
            .collect()
    }

    fn to_args(&self) -> Vec<String> {
        [
            "--serve-participant",
            "--hub-url",
            &self.hub_url,
            "--room",
            &self.room,
            "--participant-prefix",
            &self.prefix,
            "--participants",
            &self.count.to_string(),
            "--slots",
            &self.slots.to_string(),
            "--provider-url",
            &self.provider_url,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

/// Runs the participants of `spec` until standard input closes (the
/// `--serve-participant` mode).
pub(crate) fn serve(spec: &RuntimeSpec) -> anyhow::Result<()> {
    // One thread, as `gambi hub serve` and `gambi participant join` run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Named so that a profile tells the runtime's threads from the others.
        .thread_name("bench-runtime")
        .build()
        .context("starting the participant runtime")?;
    runtime.block_on(async {
        let hub_url: Url = spec.hub_url.parse().context("the hub URL")?;
        let provider_url: Url = spec.provider_url.parse().context("the provider URL")?;
        let starts = spec.ids().into_iter().map(|id| {
            let mut options = SessionOptions::new(
                hub_url.clone(),
                spec.room.as_str(),
                id.as_str(),
                id.as_str(),
                MODEL,
                provider_url.clone(),
            );
            options.max_concurrency = NonZeroU32::new(spec.slots).unwrap_or(NonZeroU32::MIN);
            ParticipantSession::start(options)
        });
        let mut sessions = Vec::with_capacity(spec.count);
        for session in futures::future::join_all(starts).await {
            sessions.push(session.context("a participant joins")?);
        }
        wait_connected(spec).await?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "ready")?;
        stdout.flush()?;
        drop(stdout);
        let mut byte = [0_u8; 1];
        // Returns at end of input, i.e. when the parent goes away.
        let _ = tokio::io::stdin().read(&mut byte).await;
        futures::future::join_all(sessions.iter().map(ParticipantSession::close)).await;
        Ok(())
    })
}

/// Waits until the hub lists every participant of `spec` with its tunnel connected: a
/// session's `start` returns once its tunnel is open, and the hub attaches it just after.
async fn wait_connected(spec: &RuntimeSpec) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = format!("{}/v1/rooms/{}/participants", spec.hub_url, spec.room);
    let ids: HashSet<String> = spec.ids().into_iter().collect();
    for _ in 0..500 {
        let listed: Value = http.get(&url).send().await?.json().await?;
        let connected = listed["data"].as_array().map_or(0, |all| {
            all.iter()
                .filter(|p| {
                    p["connection"]["connected"] == true
                        && p["id"].as_str().is_some_and(|id| ids.contains(id))
                })
                .count()
        });
        if connected == ids.len() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!(
        "the participants {}-* of room {} did not all connect within 10 s",
        spec.prefix,
        spec.room
    )
}

/// A runtime process; it stops when this is dropped.
#[derive(Debug)]
pub(crate) struct RuntimeProcess {
    pub(crate) process: ChildProcess,
}

impl RuntimeProcess {
    /// Starts `this executable --serve-participant ...` and waits until every participant
    /// is attached.
    pub(crate) async fn spawn(spec: &RuntimeSpec) -> anyhow::Result<Self> {
        let (process, line) = ChildProcess::spawn("participant runtime", &spec.to_args()).await?;
        if line != "ready" {
            bail!("the participant runtime printed {line:?}, not \"ready\"");
        }
        Ok(Self { process })
    }
}
