//! The hub under test, in a process of its own so that its memory can be read apart.
//!
//! `gambi-bench --serve-hub` runs only `gambi_hub::serve` on `127.0.0.1:0` with the default
//! configuration (rooms in memory, as `gambi hub serve --ephemeral` would), prints the
//! address it listens on, and serves until its standard input closes. The benchmark starts
//! itself that way and reads the child's resident set size from `/proc/<pid>/status`.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use gambi_hub::HubConfig;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runs a hub until standard input closes (the `--serve-hub` mode).
pub(crate) fn serve() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
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
    child: Child,
    stdin: Option<ChildStdin>,
    url: String,
}

impl HubProcess {
    /// Starts `this executable --serve-hub` and waits until it listens.
    pub(crate) fn spawn() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the benchmark binary")?;
        let mut child = Command::new(exe)
            .arg("--serve-hub")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the hub process")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("the hub's standard output")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the hub's address")?;
        let addr: SocketAddr = line
            .trim()
            .parse()
            .with_context(|| format!("the hub printed {line:?}, not an address"))?;
        Ok(Self {
            child,
            stdin,
            url: format!("http://{addr}"),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time the hub process has used so far.
    pub(crate) fn cpu_time(&self) -> anyhow::Result<Duration> {
        cpu_time_of(self.pid())
    }

    /// The hub process's resident set size now, in bytes.
    pub(crate) fn rss(&self) -> anyhow::Result<u64> {
        rss_of(self.pid())
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        // Closing its input asks the hub to shut down; give it a moment, then end it.
        drop(self.stdin.take());
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `VmRSS` of process `pid`, in bytes.
pub(crate) fn rss_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    for line in status.lines() {
        if let Some(value) = line.strip_prefix("VmRSS:") {
            let kib: u64 = value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .context("parsing VmRSS")?;
            return Ok(kib * 1024);
        }
    }
    bail!("no VmRSS in /proc/{pid}/status")
}

/// CPU time (user and system) process `pid` has used so far.
pub(crate) fn cpu_time_of(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = fields
        .get(11..13)
        .context("short /proc/<pid>/stat")?
        .iter()
        .map(|field| field.parse::<u64>().unwrap_or(0))
        .sum();
    // Linux reports them in USER_HZ, which is 100 on every common configuration.
    Ok(Duration::from_millis(ticks * 10))
}

/// Samples a process's RSS every few milliseconds and keeps the highest value, until
/// dropped.
#[derive(Debug)]
pub(crate) struct PeakRss {
    peak: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl PeakRss {
    /// Starts sampling process `pid`.
    pub(crate) fn watch(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(rss_of(pid).unwrap_or_default()));
        let stop = CancellationToken::new();
        let (seen, stopped) = (Arc::clone(&peak), stop.clone());
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(20));
            loop {
                tokio::select! {
                    () = stopped.cancelled() => break,
                    _ = ticks.tick() => {
                        if let Ok(rss) = rss_of(pid) {
                            seen.fetch_max(rss, Ordering::Relaxed);
                        }
                    }
                }
            }
        });
        Self { peak, stop }
    }

    /// The highest RSS seen so far, in bytes.
    pub(crate) fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for PeakRss {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
