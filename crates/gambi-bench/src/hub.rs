//! The hub under test, in a process of its own.
//!
//! `gambi-bench --serve-hub` runs only `gambi_hub::serve` on `127.0.0.1:0` with the default
//! configuration (rooms in memory, as `gambi hub serve --ephemeral` would, without the
//! CLI's logging), prints the address it listens on, and serves until its standard input
//! closes.

use std::io::Write;
use std::net::SocketAddr;

use anyhow::Context;
use gambi_hub::HubConfig;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::process::ChildProcess;

/// Runs a hub until standard input closes (the `--serve-hub` mode).
pub(crate) fn serve() -> anyhow::Result<()> {
    // One thread, as `gambi hub serve` and `gambi participant join` run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        // Named so that a profile tells the hub's threads from the others.
        .thread_name("bench-hub")
        .build()
        .context("starting the hub's runtime")?;
    runtime.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{}", listener.local_addr()?)?;
        stdout.flush()?;
        drop(stdout);
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let mut byte = [0_u8; 1];
            // Returns at end of input, i.e. when the parent goes away.
            let _ = tokio::io::stdin().read(&mut byte).await;
            stop.cancel();
        });
        gambi_hub::serve(listener, HubConfig::default(), shutdown)
            .await
            .context("serving")
    })
}

/// A hub in a child process; it stops when this is dropped.
#[derive(Debug)]
pub(crate) struct HubProcess {
    pub(crate) process: ChildProcess,
    url: String,
}

impl HubProcess {
    /// Starts `this executable --serve-hub` and waits until it listens.
    pub(crate) async fn spawn() -> anyhow::Result<Self> {
        let (process, line) = ChildProcess::spawn("hub", &["--serve-hub".to_owned()]).await?;
        let addr: SocketAddr = line
            .parse()
            .with_context(|| format!("the hub printed {line:?}, not an address"))?;
        Ok(Self {
            process,
            url: format!("http://{addr}"),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}
