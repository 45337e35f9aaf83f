//! `gambi-bench`: what the hub costs, measured against calling the provider directly and
//! against one plain nginx reverse-proxy hop.
//!
//! Everything runs on `127.0.0.1`. This process runs the fake OpenAI providers and the
//! clients; the hub and the participant runtimes under test each run in a child process
//! (this executable again, in a hidden serve mode) so that their CPU time and memory are
//! their own; nginx, when it is installed, runs as a child too, in front of the same
//! provider. The same client code talks to the provider directly, through nginx and
//! through the hub, and the results are printed as Markdown tables: added latency of
//! non-streamed requests and time to first token, sequential requests per second,
//! delivered tokens per second paced and unpaced with the errors of every streaming run,
//! the CPU time per token of the hub and of the runtime, the hub's resident memory idle,
//! with 100 participants and under load, and 200 concurrent streams over 8 participants
//! with 32 slots each. Run it by hand on a quiet machine:
//!
//! ```text
//! cargo build --release -p gambi-bench && target/release/gambi-bench --quick
//! ```
//!
//! `--profile-stream SECONDS` only streams unpaced answers (to run under `perf record`).
#![allow(clippy::print_stdout)] // A benchmark reports on standard output.

mod hub;
mod load;
mod nginx;
mod process;
mod report;
mod runtime;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use gambi_test_support::{FakeProvider, Reply};
use serde_json::{Value, json};

use hub::HubProcess;
use load::{Endpoint, TOKEN, interleaved, sequential, streams};
use nginx::Nginx;
use process::{CpuMeter, PeakRss};
use report::{ByPath, Compared, Results};
use runtime::{RuntimeProcess, RuntimeSpec};

/// The model every provider serves.
const MODEL: &str = "bench-model";

/// Tokens in each answer of the paced runs.
const TOKENS: u64 = 200;

/// Tokens in each answer of the unpaced runs.
const UNPACED_TOKENS: u64 = 512;

/// Streams and pace of the run that measures CPU per paced token.
const CPU_STREAMS: usize = 8;
const CPU_PACE: Duration = Duration::from_millis(1);

/// Measures the hub against direct calls to the provider and against one nginx hop.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Fewer requests and shorter runs (about a minute in all).
    #[arg(long)]
    quick: bool,
    /// Pause between streamed tokens in the paced runs of 1 and 64 streams and of 200
    /// streams, in milliseconds (the CPU-per-token run is always 8 streams at 1 ms).
    #[arg(long, default_value_t = 2)]
    token_delay_ms: u64,
    /// Only stream unpaced answers, directly and then through the hub, for this many
    /// seconds each (to run under a profiler), then print tokens/s and CPU per token.
    #[arg(long, value_name = "SECONDS")]
    profile_stream: Option<u64>,
    /// The nginx binary for the proxy-hop rows (default: `nginx` on PATH, then
    /// /usr/sbin/nginx and other usual places; the rows are skipped without one).
    #[arg(long, value_name = "PATH")]
    nginx: Option<PathBuf>,
    /// Run only the hub, for the benchmark's own use.
    #[arg(long, hide = true)]
    serve_hub: bool,
    /// Run only participant runtimes, for the benchmark's own use.
    #[arg(long, hide = true, requires_all = ["hub_url", "room", "provider_url"])]
    serve_participant: bool,
    #[arg(long, hide = true)]
    hub_url: Option<String>,
    #[arg(long, hide = true)]
    room: Option<String>,
    #[arg(long, hide = true, default_value = "p")]
    participant_prefix: String,
    #[arg(long, hide = true, default_value_t = 1)]
    participants: usize,
    #[arg(long, hide = true, default_value_t = 1)]
    slots: u32,
    #[arg(long, hide = true)]
    provider_url: Option<String>,
}

/// How much of each measurement to do.
#[derive(Debug, Clone)]
struct Plan {
    requests: usize,
    stream_run: Duration,
    big_run: Duration,
    pace: Duration,
    profile_stream: Option<Duration>,
    /// The nginx binary, or why there is none.
    nginx: Result<PathBuf, String>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.serve_hub {
        return hub::serve();
    }
    if args.serve_participant {
        return runtime::serve(&RuntimeSpec {
            hub_url: args.hub_url.context("--hub-url")?,
            room: args.room.context("--room")?,
            prefix: args.participant_prefix,
            count: args.participants,
            slots: args.slots,
            provider_url: args.provider_url.context("--provider-url")?,
        });
    }
    let (requests, stream_run, big_run) = if args.quick {
        (300, Duration::from_secs(2), Duration::from_secs(3))
    } else {
        (2000, Duration::from_secs(5), Duration::from_secs(8))
    };
    let path = std::env::var("PATH").ok();
    let plan = Plan {
        requests,
        stream_run,
        big_run,
        pace: Duration::from_millis(args.token_delay_ms),
        profile_stream: args.profile_stream.map(Duration::from_secs),
        nginx: Nginx::find(args.nginx.as_deref(), path.as_deref()).ok_or_else(|| {
            match &args.nginx {
                Some(given) => format!("{} is not a file", given.display()),
                None => "nginx is not installed (looked on PATH and in /usr/sbin)".to_owned(),
            }
        }),
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run(plan))
}

async fn run(plan: Plan) -> anyhow::Result<()> {
    let load_before = loadavg();
    let quick = FakeProvider::builder()
        .models([MODEL])
        .record_requests(false)
        .start()
        .await;
    quick.set_default_reply(Reply::text("Hello! How can I help you today?"));
    let streaming = FakeProvider::builder()
        .models([MODEL])
        .record_requests(false)
        .start()
        .await;
    streaming.set_default_reply(stream_reply(plan.pace, TOKENS));

    let hub = HubProcess::spawn().await?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("an HTTP client")?;
    let runtime = |room: &str, prefix: &str, count, slots, provider: &FakeProvider| RuntimeSpec {
        hub_url: hub.url().to_owned(),
        room: room.to_owned(),
        prefix: prefix.to_owned(),
        count,
        slots,
        provider_url: provider.base_url(),
    };
    let mut results = Results::default();

    // Memory: a fresh hub with one room, then with 100 idle participants in another. They
    // leave before the other measures, so that the hub's CPU time is the load's alone.
    let main_room = create_room(&http, hub.url(), "bench").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    results.rss_idle = hub.process.rss()?;
    let crowd_room = create_room(&http, hub.url(), "crowd").await?;
    let crowd = RuntimeProcess::spawn(&runtime(&crowd_room, "p", 100, 1, &quick)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    results.rss_participants = hub.process.rss()?;
    drop(crowd);

    // One participant per provider, 64 slots each, each in a runtime process of its own.
    let lat_runtime = RuntimeProcess::spawn(&runtime(&main_room, "lat", 1, 64, &quick)).await?;
    let stream_runtime =
        RuntimeProcess::spawn(&runtime(&main_room, "str", 1, 64, &streaming)).await?;
    // Not needed to profile streaming through the hub.
    let nginx = match (&plan.nginx, plan.profile_stream) {
        (_, Some(_)) => None,
        (Err(why), None) => Some(Err(why.clone())),
        (Ok(binary), None) => Some(
            Nginx::start(binary, quick.addr())
                .await
                .map_err(|error| format!("{} did not start: {error:#}", binary.display())),
        ),
    };
    let nginx_ran = nginx.as_ref().and_then(|nginx| nginx.as_ref().ok());
    let inference = format!("{}/rooms/{main_room}/v1/chat/completions", hub.url());
    let endpoint = |url: String, model: &str| Endpoint {
        http: http.clone(),
        url,
        model: model.to_owned(),
    };
    let direct_quick = endpoint(format!("{}/v1/chat/completions", quick.base_url()), MODEL);
    let hub_quick = endpoint(inference.clone(), "lat-0");
    let nginx_quick =
        nginx_ran.map(|nginx| endpoint(format!("{}/v1/chat/completions", nginx.url()), MODEL));
    let direct_stream = endpoint(
        format!("{}/v1/chat/completions", streaming.base_url()),
        MODEL,
    );
    let hub_stream = endpoint(inference, "str-0");
    let setup = StreamingSetup {
        streaming: &streaming,
        direct: &direct_stream,
        hub: &hub_stream,
        runtime: &stream_runtime,
        hub_process: &hub,
    };
    println!("machine: {}", cpu());
    println!(
        "processes: hub {}, runtimes {} (lat-0) and {} (str-0), benchmark {}{}",
        hub.process.pid(),
        lat_runtime.process.pid(),
        stream_runtime.process.pid(),
        std::process::id(),
        nginx_ran.map_or(String::new(), |nginx| format!(", nginx {}", nginx.pid()))
    );
    if let Some(Err(why)) = &nginx {
        println!("notice: {why}; the nginx rows are skipped");
        results.nginx_skipped = Some(why.clone());
    }

    if let Some(run) = plan.profile_stream {
        let unpaced = setup
            .compare(1, Duration::ZERO, UNPACED_TOKENS, run)
            .await?;
        println!();
        print!("{}", report::header());
        for row in unpaced.rows(None) {
            println!("{}", row.markdown());
        }
        return Ok(());
    }

    let mut quick_paths = vec![&direct_quick, &hub_quick];
    quick_paths.extend(nginx_quick.as_ref());
    one_at_a_time(&plan, &quick_paths, &mut results).await;
    streaming_runs(&plan, &setup, &mut results).await?;

    // 200 streams at once over 8 participants with 32 slots each.
    streaming.set_default_reply(stream_reply(plan.pace, TOKENS));
    let big_room = create_room(&http, hub.url(), "big").await?;
    let eight = RuntimeProcess::spawn(&runtime(&big_room, "big", 8, 32, &streaming)).await?;
    let big = endpoint(
        format!("{}/rooms/{big_room}/v1/chat/completions", hub.url()),
        MODEL,
    );
    let load = PeakRss::watch(&hub.process);
    results.big = streams(&big, 200, plan.big_run, TOKENS).await;
    results.rss_big = load.peak();
    drop(load);

    drop((eight, lat_runtime, stream_runtime, nginx));
    println!("load average before: {load_before}; after: {}", loadavg());
    println!(
        "plan: {} requests per latency measure, runs of {:?} (200 streams: {:?}), \
         paced runs {TOKENS} tokens per answer {:?} apart, unpaced runs {UNPACED_TOKENS} tokens",
        plan.requests, plan.stream_run, plan.big_run, plan.pace
    );
    println!();
    print!("{}", report::table(&results));
    println!();
    print!("{}", report::targets(&results));
    let errors = report::first_errors(&results);
    if !errors.is_empty() {
        println!();
        println!("Errors:");
        for line in errors {
            println!("{line}");
        }
    }
    Ok(())
}

/// Latency, time to first token and sequential requests/s: one request at a time, on
/// every path in `paths` (`[direct, hub, nginx?]`), after a 10 % warm-up.
async fn one_at_a_time(plan: &Plan, paths: &[&Endpoint], results: &mut Results) {
    let warm_up = plan.requests / 10;
    let complete = |e: Endpoint| async move { e.complete().await };
    interleaved(warm_up, paths, complete).await;
    results.latency = by_path(interleaved(plan.requests, paths, complete).await);
    let first_token = |e: Endpoint| async move { e.stream().await.map(|(first, _)| first) };
    interleaved(warm_up, paths, first_token).await;
    results.ttft = by_path(interleaved(plan.requests, paths, first_token).await);
    results.sequential = by_path(sequential(paths, plan.stream_run, 5).await);
}

/// The streaming comparisons, paced and unpaced, with the peak RSS of the hub and of the
/// runtime meanwhile.
async fn streaming_runs(
    plan: &Plan,
    setup: &StreamingSetup<'_>,
    results: &mut Results,
) -> anyhow::Result<()> {
    let hub_load = PeakRss::watch(&setup.hub_process.process);
    let runtime_load = PeakRss::watch(&setup.runtime.process);
    let run = plan.stream_run;
    results.paced_one = setup.compare(1, plan.pace, TOKENS, run).await?;
    results.paced_many = setup.compare(64, plan.pace, TOKENS, run).await?;
    results.paced_cpu = setup.compare(CPU_STREAMS, CPU_PACE, TOKENS, run).await?;
    results.unpaced_one = setup
        .compare(1, Duration::ZERO, UNPACED_TOKENS, run)
        .await?;
    results.unpaced_many = setup
        .compare(16, Duration::ZERO, UNPACED_TOKENS, run)
        .await?;
    results.rss_load = hub_load.peak();
    results.runtime_rss_load = runtime_load.peak();
    Ok(())
}

/// What a streaming comparison needs: the streaming provider, the two endpoints in front
/// of it, and the processes whose CPU time is read.
#[derive(Debug, Clone, Copy)]
struct StreamingSetup<'a> {
    streaming: &'a FakeProvider,
    direct: &'a Endpoint,
    hub: &'a Endpoint,
    runtime: &'a RuntimeProcess,
    hub_process: &'a HubProcess,
}

impl StreamingSetup<'_> {
    /// `streams` clients streaming answers of `tokens` tokens `pace` apart for `run`,
    /// straight to the provider and then through the hub, with the CPU time of this
    /// process, the runtime and the hub during each.
    async fn compare(
        &self,
        streams: usize,
        pace: Duration,
        tokens: u64,
        run: Duration,
    ) -> anyhow::Result<Compared> {
        self.streaming.set_default_reply(stream_reply(pace, tokens));
        let (runtime, hub) = (&self.runtime.process, &self.hub_process.process);
        let meter = CpuMeter::start(runtime, hub)?;
        let direct = load::streams(self.direct, streams, run, tokens).await;
        let direct_cpu = meter.stop()?;
        let meter = CpuMeter::start(runtime, hub)?;
        let through = load::streams(self.hub, streams, run, tokens).await;
        let hub_cpu = meter.stop()?;
        Ok(Compared {
            streams,
            pace,
            tokens,
            direct,
            hub: through,
            direct_cpu,
            hub_cpu,
        })
    }
}

/// Results in the order `[direct, hub, nginx?]` by path.
fn by_path<T>(mut all: Vec<T>) -> ByPath<T> {
    let nginx = (all.len() > 2).then(|| all.pop()).flatten();
    let hub = all.pop().expect("every measure runs through the hub");
    let direct = all.pop().expect("every measure runs directly");
    ByPath { direct, nginx, hub }
}

/// `tokens` tokens, `pace` apart.
fn stream_reply(pace: Duration, tokens: u64) -> Reply {
    Reply::tokens(std::iter::repeat_n(TOKEN, tokens as usize)).token_delay(pace)
}

async fn create_room(http: &reqwest::Client, hub: &str, name: &str) -> anyhow::Result<String> {
    let created: Value = http
        .post(format!("{hub}/v1/rooms"))
        .json(&json!({"name": name}))
        .send()
        .await?
        .json()
        .await?;
    created["data"]["room"]["code"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("creating a room: {created}"))
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".into())
}

fn cpu() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|line| line.strip_prefix("model name"))
                .map(|rest| rest.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, std::num::NonZeroUsize::get);
    format!("{model}, {cores} cores")
}
