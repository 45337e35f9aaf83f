//! Child processes of the benchmark, and what `/proc` says about them.
//!
//! The hub and the participant runtimes under test each run in a process of their own, so
//! that their CPU time and memory are their own: the benchmark starts its own executable in
//! a hidden serve mode (`--serve-hub`, `--serve-participant`), reads the first line the
//! child prints (its address, or `ready`), and reads `utime + stime` from
//! `/proc/<pid>/stat` and `VmRSS` from `/proc/<pid>/status`. A child stops when its
//! standard input closes: when its [`ChildProcess`] is dropped, or when the benchmark exits.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio_util::sync::CancellationToken;

/// Linux reports `utime` and `stime` in `USER_HZ`, which is 100 on every common
/// configuration: one tick is 10 ms.
const TICK: Duration = Duration::from_millis(10);

/// This executable, started in one of its serve modes; it stops when this is dropped.
#[derive(Debug)]
pub(crate) struct ChildProcess {
    what: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
}

impl ChildProcess {
    /// Starts this executable with `args` and waits for the first line it prints, which
    /// it returns (trimmed). The child's standard error goes to ours.
    pub(crate) async fn spawn(
        what: &'static str,
        args: &[String],
    ) -> anyhow::Result<(Self, String)> {
        let exe = std::env::current_exe().context("locating the benchmark binary")?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting the {what} process"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        // From here on, dropping `process` stops the child.
        let process = Self { what, child, stdin };
        let stdout = stdout.with_context(|| format!("the {what}'s standard output"))?;
        // The child may need this process (the providers live here) before it is ready:
        // wait for its line off the runtime's threads.
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .context("waiting for the child")?
        .with_context(|| format!("reading the {what}'s first line"))?;
        if line.is_empty() {
            bail!("the {what} process ended before it was ready");
        }
        Ok((process, line.trim().to_owned()))
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's resident set size now, in bytes.
    pub(crate) fn rss(&self) -> anyhow::Result<u64> {
        rss_of(self.pid())
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        // Closing its input asks the child to stop; give it a moment, then end it.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln_stopped(self.what);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[allow(clippy::print_stderr)] // The benchmark's own notices go to standard error.
fn eprintln_stopped(what: &str) {
    eprintln!("note: the {what} process did not stop within 5 s of its input closing; killed it");
}

/// `VmRSS` of process `pid`, in bytes.
pub(crate) fn rss_of(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_vm_rss(&status).with_context(|| format!("no VmRSS in /proc/{pid}/status"))
}

/// CPU time (user and system) process `pid` has used so far.
pub(crate) fn cpu_time_of(pid: u32) -> anyhow::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks = parse_cpu_ticks(&stat).with_context(|| format!("parsing /proc/{pid}/stat"))?;
    Ok(TICK * u32::try_from(ticks).context("CPU time out of range")?)
}

/// `utime + stime` from a `/proc/<pid>/stat` line, in ticks.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The fields after the command name, which is in parentheses and may hold spaces and
    // parentheses itself; utime and stime are fields 14 and 15 of the line, 12 and 13
    // after the name.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` from the text of `/proc/<pid>/status`, in bytes.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let value = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?;
    let kib: u64 = value.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib * 1024)
}

/// CPU time spent by the processes of one run: this one (providers and clients), the
/// participant runtime under test, and the hub.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CpuTimes {
    pub(crate) bench: Duration,
    pub(crate) runtime: Duration,
    pub(crate) hub: Duration,
}

/// Reads the CPU time of this process, a runtime and the hub at the start of a run; see
/// [`CpuMeter::stop`].
#[derive(Debug)]
pub(crate) struct CpuMeter {
    runtime: u32,
    hub: u32,
    start: CpuTimes,
}

impl CpuMeter {
    /// Starts measuring.
    pub(crate) fn start(runtime: &ChildProcess, hub: &ChildProcess) -> anyhow::Result<Self> {
        let (runtime, hub) = (runtime.pid(), hub.pid());
        Ok(Self {
            runtime,
            hub,
            start: Self::now(runtime, hub)?,
        })
    }

    /// The CPU time each process spent since [`CpuMeter::start`].
    pub(crate) fn stop(self) -> anyhow::Result<CpuTimes> {
        let end = Self::now(self.runtime, self.hub)?;
        Ok(CpuTimes {
            bench: end.bench.saturating_sub(self.start.bench),
            runtime: end.runtime.saturating_sub(self.start.runtime),
            hub: end.hub.saturating_sub(self.start.hub),
        })
    }

    fn now(runtime: u32, hub: u32) -> anyhow::Result<CpuTimes> {
        Ok(CpuTimes {
            bench: cpu_time_of(std::process::id())?,
            runtime: cpu_time_of(runtime)?,
            hub: cpu_time_of(hub)?,
        })
    }
}

/// Samples a process's RSS every 20 ms and keeps the highest value, until dropped.
#[derive(Debug)]
pub(crate) struct PeakRss {
    peak: Arc<AtomicU64>,
    stop: CancellationToken,
}

impl PeakRss {
    /// Starts sampling `process`.
    pub(crate) fn watch(process: &ChildProcess) -> Self {
        let pid = process.pid();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_plus_stime_after_the_command_name() {
        // A command name with a space and a parenthesis, as the kernel allows.
        let stat = "4242 (gambi (x) y) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    250 75 0 0 20 0 3 0 100 1000000 500 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("4242 (short) S 1 2 3"), None);
        assert_eq!(parse_cpu_ticks("no parenthesis at all"), None);
    }

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tgambi-bench\nVmPeak:\t  20000 kB\nVmRSS:\t   9344 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(9344 * 1024));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\nThreads:\t1\n"), None);
    }
}
