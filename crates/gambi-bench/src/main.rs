//! `gambi-bench`: what the hub costs, measured against calling the provider directly.
//!
//! It starts fake OpenAI providers and participant runtimes in this process and the hub in
//! a child process (so that the hub's memory and CPU time are its own), all on
//! `127.0.0.1`, and compares the same client code talking to the provider directly and
//! through the hub: added latency of non-streamed requests, time to first token,
//! delivered tokens per second for 1 and 64 concurrent streams paced like a (fast) model,
//! one unpaced stream with the CPU time each side spends per token, the hub's resident
//! memory idle, with 100 participants connected and under load, and 200 concurrent streams
//! over 8 participants with 32 slots each. It prints a Markdown table. Run it by hand on a
//! quiet machine:
//!
//! ```text
//! cargo run --release -p gambi-bench -- --quick
//! ```
//!
//! `--profile-stream SECONDS` only streams unpaced answers (to run under `perf record`).
#![allow(clippy::print_stdout)] // A benchmark reports on standard output.

mod hub;
mod load;

use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use gambi_participant::{ParticipantSession, SessionOptions};
use gambi_test_support::{FakeProvider, Reply};
use serde_json::{Value, json};

use hub::{HubProcess, PeakRss};
use load::{Delivered, Endpoint, TOKEN, paired, quantile, streams};

/// The model every provider serves.
const MODEL: &str = "bench-model";

/// Tokens in each streamed answer.
const TOKENS: u64 = 200;

/// Measures the hub against direct calls to the provider.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Fewer requests and shorter runs (about a minute in all).
    #[arg(long)]
    quick: bool,
    /// Pause between streamed tokens in the paced runs, in milliseconds.
    #[arg(long, default_value_t = 2)]
    token_delay_ms: u64,
    /// Only stream unpaced answers through the hub for this many seconds (to run under a
    /// profiler), then print tokens per second.
    #[arg(long, value_name = "SECONDS")]
    profile_stream: Option<u64>,
    /// Run only the hub, for the benchmark's own use.
    #[arg(long, hide = true)]
    serve_hub: bool,
}

/// How much of each measurement to do.
#[derive(Debug, Clone, Copy)]
struct Plan {
    requests: usize,
    stream_run: Duration,
    big_run: Duration,
    pace: Duration,
    profile_stream: Option<Duration>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.serve_hub {
        return hub::serve();
    }
    let plan = if args.quick {
        Plan {
            requests: 300,
            stream_run: Duration::from_secs(2),
            big_run: Duration::from_secs(3),
            pace: Duration::from_millis(args.token_delay_ms),
            profile_stream: args.profile_stream.map(Duration::from_secs),
        }
    } else {
        Plan {
            requests: 2000,
            stream_run: Duration::from_secs(5),
            big_run: Duration::from_secs(8),
            pace: Duration::from_millis(args.token_delay_ms),
            profile_stream: args.profile_stream.map(Duration::from_secs),
        }
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?
        .block_on(run(plan))
}

/// Everything measured.
#[derive(Debug, Default)]
struct Results {
    latency: (Vec<Duration>, Vec<Duration>),
    ttft: (Vec<Duration>, Vec<Duration>),
    one_stream: (Delivered, Delivered),
    many_streams: (Delivered, Delivered),
    unpaced: Unpaced,
    big: Delivered,
    rss_idle: u64,
    rss_participants: u64,
    rss_load: u64,
    rss_big: u64,
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
    streaming.set_default_reply(stream_reply(plan.pace));

    let hub = HubProcess::spawn()?;
    let http = reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .context("an HTTP client")?;
    let mut results = Results::default();

    // Memory: a fresh hub with one room, then with 100 idle participants in another.
    let main_room = create_room(&http, hub.url(), "bench").await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    results.rss_idle = hub.rss()?;
    let crowd_room = create_room(&http, hub.url(), "crowd").await?;
    let crowd = join_all(&http, hub.url(), &crowd_room, "p", 100, 1, &quick).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    results.rss_participants = hub.rss()?;

    // Latency and throughput against one participant per provider, 64 slots each.
    let _lat = join_all(&http, hub.url(), &main_room, "lat", 1, 64, &quick).await?;
    let _str = join_all(&http, hub.url(), &main_room, "str", 1, 64, &streaming).await?;
    let inference = format!("{}/rooms/{main_room}/v1/chat/completions", hub.url());
    let endpoint = |url: String, model: &str| Endpoint {
        http: http.clone(),
        url,
        model: model.to_owned(),
    };
    let direct_quick = endpoint(format!("{}/v1/chat/completions", quick.base_url()), MODEL);
    let hub_quick = endpoint(inference.clone(), "lat-0");
    let direct_stream = endpoint(
        format!("{}/v1/chat/completions", streaming.base_url()),
        MODEL,
    );
    let hub_stream = endpoint(inference, "str-0");
    if let Some(run) = plan.profile_stream {
        let unpaced = unpaced(&streaming, &direct_stream, &hub_stream, &hub, run).await?;
        println!("{}", unpaced.tokens_per_second_row());
        println!("{}", unpaced.cpu_row());
        return Ok(());
    }

    let warm_up = plan.requests / 10;
    paired(warm_up, &direct_quick, &hub_quick, |e| async move {
        e.complete().await
    })
    .await?;
    results.latency = paired(plan.requests, &direct_quick, &hub_quick, |e| async move {
        e.complete().await
    })
    .await?;
    paired(warm_up, &direct_quick, &hub_quick, |e| async move {
        e.stream().await.map(|(first, _)| first)
    })
    .await?;
    results.ttft = paired(plan.requests, &direct_quick, &hub_quick, |e| async move {
        e.stream().await.map(|(first, _)| first)
    })
    .await?;

    let load = PeakRss::watch(hub.pid());
    results.one_stream = (
        streams(&direct_stream, 1, plan.stream_run, TOKENS).await,
        streams(&hub_stream, 1, plan.stream_run, TOKENS).await,
    );
    results.many_streams = (
        streams(&direct_stream, 64, plan.stream_run, TOKENS).await,
        streams(&hub_stream, 64, plan.stream_run, TOKENS).await,
    );
    results.unpaced = unpaced(
        &streaming,
        &direct_stream,
        &hub_stream,
        &hub,
        plan.stream_run,
    )
    .await?;
    streaming.set_default_reply(stream_reply(plan.pace));
    results.rss_load = load.peak();
    drop(load);

    // 200 streams at once over 8 participants with 32 slots each.
    let big_room = create_room(&http, hub.url(), "big").await?;
    let _eight = join_all(&http, hub.url(), &big_room, "big", 8, 32, &streaming).await?;
    let big = endpoint(
        format!("{}/rooms/{big_room}/v1/chat/completions", hub.url()),
        MODEL,
    );
    let load = PeakRss::watch(hub.pid());
    results.big = streams(&big, 200, plan.big_run, TOKENS).await;
    results.rss_big = load.peak();
    drop(load);

    drop(crowd);
    report(&plan, &results, &load_before, &loadavg());
    Ok(())
}

/// One stream after the other with no pause between tokens, directly and through the hub,
/// and the CPU time each side spent per delivered token.
#[derive(Debug, Default)]
struct Unpaced {
    direct: Delivered,
    hub: Delivered,
    /// This process (provider and client) per token, direct, in microseconds.
    direct_cpu: f64,
    /// This process (provider, client and participant runtime) per token, through the hub.
    parent_cpu: f64,
    /// The hub process per token.
    hub_cpu: f64,
}

impl Unpaced {
    fn tokens_per_second_row(&self) -> String {
        let (direct, hub) = (&self.direct, &self.hub);
        format!(
            "| tokens/s, 1 stream, unpaced | {:.0} ({} streams, {} errors) | {:.0} ({} streams, {} errors) | {:.1}% | - | - |",
            direct.tokens_per_second(),
            direct.streams,
            direct.errors,
            hub.tokens_per_second(),
            hub.streams,
            hub.errors,
            hub.tokens_per_second() / direct.tokens_per_second().max(f64::EPSILON) * 100.0
        )
    }

    fn cpu_row(&self) -> String {
        format!(
            "| CPU per token, unpaced | {:.1} us (provider + client) | {:.1} us (provider + client + participant) + {:.1} us (hub) | {:.2}x | - | - |",
            self.direct_cpu,
            self.parent_cpu,
            self.hub_cpu,
            (self.parent_cpu + self.hub_cpu) / self.direct_cpu.max(f64::EPSILON)
        )
    }
}

/// Runs [`Unpaced`]; leaves `streaming` answering unpaced.
async fn unpaced(
    streaming: &FakeProvider,
    direct: &Endpoint,
    through: &Endpoint,
    hub: &HubProcess,
    run: Duration,
) -> anyhow::Result<Unpaced> {
    streaming.set_default_reply(stream_reply(Duration::ZERO));
    let me = std::process::id();
    let per_token = |cpu: Duration, delivered: &Delivered| {
        cpu.as_secs_f64() * 1e6 / delivered.tokens.max(1) as f64
    };
    let own = hub::cpu_time_of(me)?;
    let direct = streams(direct, 1, run, TOKENS).await;
    let direct_cpu = per_token(hub::cpu_time_of(me)?.saturating_sub(own), &direct);
    let (own, hub_before) = (hub::cpu_time_of(me)?, hub.cpu_time()?);
    let through = streams(through, 1, run, TOKENS).await;
    Ok(Unpaced {
        direct_cpu,
        parent_cpu: per_token(hub::cpu_time_of(me)?.saturating_sub(own), &through),
        hub_cpu: per_token(hub.cpu_time()?.saturating_sub(hub_before), &through),
        direct,
        hub: through,
    })
}

/// `TOKENS` tokens, `pace` apart.
fn stream_reply(pace: Duration) -> Reply {
    Reply::tokens(std::iter::repeat_n(TOKEN, TOKENS as usize)).token_delay(pace)
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

/// Joins `count` participants `<prefix>-<n>` with `slots` slots each, serving from
/// `provider`, and waits until the hub has every tunnel.
async fn join_all(
    http: &reqwest::Client,
    hub: &str,
    code: &str,
    prefix: &str,
    count: usize,
    slots: u32,
    provider: &FakeProvider,
) -> anyhow::Result<Vec<ParticipantSession>> {
    let sessions = (0..count).map(|n| {
        let mut options = SessionOptions::new(
            hub.parse().expect("the hub URL is valid"),
            code,
            format!("{prefix}-{n}"),
            format!("{prefix} {n}"),
            MODEL,
            provider
                .base_url()
                .parse()
                .expect("the provider URL is valid"),
        );
        options.max_concurrency = NonZeroU32::new(slots).unwrap_or(NonZeroU32::MIN);
        ParticipantSession::start(options)
    });
    let mut joined = Vec::with_capacity(count);
    for session in futures::future::join_all(sessions).await {
        joined.push(session.context("a participant joins")?);
    }
    // The runtime returns once its tunnel is open; the hub attaches it just after.
    for _ in 0..500 {
        let listed: Value = http
            .get(format!("{hub}/v1/rooms/{code}/participants"))
            .send()
            .await?
            .json()
            .await?;
        let connected = listed["data"].as_array().map_or(0, |all| {
            all.iter()
                .filter(|p| p["connection"]["connected"] == true)
                .count()
        });
        if connected >= count {
            return Ok(joined);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("participants of room {code} did not all connect")
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

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn yes(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

fn report(plan: &Plan, results: &Results, load_before: &str, load_after: &str) {
    println!("machine: {}", cpu());
    println!("load average before: {load_before}; after: {load_after}");
    println!(
        "plan: {} requests per latency measure, streaming runs of {:?} (200 streams: {:?}), \
         {TOKENS} tokens per stream, paced {:?} apart",
        plan.requests, plan.stream_run, plan.big_run, plan.pace
    );
    println!();
    println!("| measure | direct | through the hub | hub vs direct | target | met |");
    println!("|---|---|---|---|---|---|");
    for (name, (direct, hub), target) in [
        ("non-streamed latency", &results.latency, Some(1.0)),
        ("time to first token", &results.ttft, None),
    ] {
        for (label, q) in [("p50", 0.5), ("p99", 0.99)] {
            let (d, h) = (quantile(direct, q), quantile(hub, q));
            let added = h.saturating_sub(d);
            let ratio = h.as_secs_f64() / d.as_secs_f64().max(f64::EPSILON);
            let (target, met) = match (target, label) {
                (Some(limit), "p50") => (
                    format!("added < {limit} ms"),
                    yes(added.as_secs_f64() * 1000.0 < limit),
                ),
                _ => ("-".to_owned(), "-"),
            };
            println!(
                "| {name} {label} | {} | {} | +{} ({ratio:.2}x) | {target} | {met} |",
                ms(d),
                ms(h),
                ms(added)
            );
        }
    }
    for (name, (direct, hub)) in [
        ("tokens/s, 1 stream, paced", &results.one_stream),
        ("tokens/s, 64 streams, paced", &results.many_streams),
    ] {
        let ratio = hub.tokens_per_second() / direct.tokens_per_second().max(f64::EPSILON);
        println!(
            "| {name} | {:.0} ({} streams, {} errors) | {:.0} ({} streams, {} errors) | {:.1}% | >= 80% of direct | {} |",
            direct.tokens_per_second(),
            direct.streams,
            direct.errors,
            hub.tokens_per_second(),
            hub.streams,
            hub.errors,
            ratio * 100.0,
            yes(ratio >= 0.8 && hub.errors == 0)
        );
    }
    println!("{}", results.unpaced.tokens_per_second_row());
    println!("{}", results.unpaced.cpu_row());
    let big = &results.big;
    println!(
        "| 200 concurrent streams, 8 participants x 32 slots | - | {:.0} tokens/s, {} streams, {} errors | - | 0 errors | {} |",
        big.tokens_per_second(),
        big.streams,
        big.errors,
        yes(big.errors == 0 && big.streams >= 200)
    );
    println!(
        "| hub RSS, idle (one room) | - | {} | - | - | - |",
        mib(results.rss_idle)
    );
    println!(
        "| hub RSS, 100 participants connected | - | {} (+{:.0} KiB each) | - | < 30 MB | {} |",
        mib(results.rss_participants),
        results.rss_participants.saturating_sub(results.rss_idle) as f64 / 100.0 / 1024.0,
        yes(results.rss_participants < 30_000_000)
    );
    println!(
        "| hub RSS, peak under load (64 streams) | - | {} | - | - | - |",
        mib(results.rss_load)
    );
    println!(
        "| hub RSS, peak with 200 streams | - | {} | - | - | - |",
        mib(results.rss_big)
    );
}
