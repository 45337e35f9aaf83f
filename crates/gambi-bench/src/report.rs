//! The figures of a run and the Markdown tables they are printed as: one row per measure
//! (direct, via nginx, through the hub, the hub against direct, the target and whether it
//! is met), then the targets alone, then the first error of every side that had errors.

use std::fmt::Write as _;
use std::time::Duration;

use crate::load::{Delivered, Failures, Samples, Sequential};
use crate::process::CpuTimes;

mod targets;

pub(crate) use targets::targets;

/// Hub CPU per paced token, at most.
const HUB_CPU_TARGET_US: f64 = 4.0;
/// Runtime CPU per paced token, at most.
const RUNTIME_CPU_TARGET_US: f64 = 6.0;
/// The hub's added latency p50 against the nginx hop's, at most.
const NGINX_RATIO_TARGET: f64 = 5.0;
/// Sequential requests/s through the hub against direct, at least.
const SEQUENTIAL_TARGET: f64 = 0.5;
/// Unpaced single-stream tokens/s through the hub against direct, at least.
const UNPACED_TARGET: f64 = 0.6;
/// Paced tokens/s through the hub against direct, at least.
const PACED_TARGET: f64 = 0.8;
/// Added latency p50, under (ms).
const ADDED_LATENCY_TARGET_MS: f64 = 1.0;
/// Hub RSS with 100 participants, under (bytes).
const RSS_TARGET: u64 = 30_000_000;

/// A figure by path: straight to the provider, through one nginx hop (when nginx ran),
/// through the hub.
#[derive(Debug, Clone, Default)]
pub(crate) struct ByPath<T> {
    pub(crate) direct: T,
    pub(crate) nginx: Option<T>,
    pub(crate) hub: T,
}

/// A streaming run straight to the provider and through the hub, and the CPU time each
/// process spent during each.
#[derive(Debug, Clone, Default)]
pub(crate) struct Compared {
    /// Concurrent streams.
    pub(crate) streams: usize,
    /// Pause between tokens.
    pub(crate) pace: Duration,
    /// Tokens per answer.
    pub(crate) tokens: u64,
    pub(crate) direct: Delivered,
    pub(crate) hub: Delivered,
    pub(crate) direct_cpu: CpuTimes,
    pub(crate) hub_cpu: CpuTimes,
}

impl Compared {
    /// E.g. `8 streams, paced 1 ms, 200 tokens`.
    pub(crate) fn label(&self) -> String {
        let pace = if self.pace.is_zero() {
            "unpaced".to_owned()
        } else {
            format!("paced {} ms", self.pace.as_secs_f64() * 1000.0)
        };
        let plural = if self.streams == 1 { "" } else { "s" };
        format!(
            "{} stream{plural}, {pace}, {} tokens",
            self.streams, self.tokens
        )
    }

    /// Hub tokens/s over direct tokens/s.
    pub(crate) fn ratio(&self) -> f64 {
        self.hub.tokens_per_second() / self.direct.tokens_per_second().max(f64::EPSILON)
    }

    /// Microseconds of `cpu` per token delivered through the hub.
    fn per_hub_token(&self, cpu: Duration) -> f64 {
        per_token(cpu, &self.hub)
    }

    fn errors(&self) -> u64 {
        self.direct.failures.count + self.hub.failures.count
    }

    /// The tokens/s row and the row of CPU per token of every process.
    pub(crate) fn rows(&self, target: Option<f64>) -> Vec<Row> {
        let ratio = self.ratio();
        let (target, met) = match target {
            Some(at_least) => (
                format!(">= {:.0}% of direct, 0 errors", at_least * 100.0),
                ratio >= at_least && self.errors() == 0,
            ),
            None => ("0 errors".to_owned(), self.errors() == 0),
        };
        let direct_cpu = per_token(self.direct_cpu.bench, &self.direct);
        let (bench, runtime, hub) = (
            self.per_hub_token(self.hub_cpu.bench),
            self.per_hub_token(self.hub_cpu.runtime),
            self.per_hub_token(self.hub_cpu.hub),
        );
        vec![
            Row::new(format!("tokens/s, {}", self.label()))
                .direct(delivered(&self.direct))
                .hub(delivered(&self.hub))
                .versus(format!("{:.1}%", ratio * 100.0))
                .target(target, met),
            Row::new(format!("CPU per token, {}", self.label()))
                .direct(format!("{direct_cpu:.1} us (provider + client)"))
                .hub(format!(
                    "{bench:.1} us (provider + client) + {runtime:.1} us (runtime) + {hub:.1} us (hub)"
                ))
                .versus(format!(
                    "{:.2}x",
                    (bench + runtime + hub) / direct_cpu.max(f64::EPSILON)
                )),
        ]
    }
}

/// Everything measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    /// Why nginx did not run, if it did not.
    pub(crate) nginx_skipped: Option<String>,
    pub(crate) latency: ByPath<Samples>,
    pub(crate) ttft: ByPath<Samples>,
    pub(crate) sequential: ByPath<Sequential>,
    pub(crate) paced_one: Compared,
    pub(crate) paced_many: Compared,
    pub(crate) paced_cpu: Compared,
    pub(crate) unpaced_one: Compared,
    pub(crate) unpaced_many: Compared,
    /// 200 streams over 8 participants with 32 slots each.
    pub(crate) big: Delivered,
    pub(crate) rss_idle: u64,
    pub(crate) rss_participants: u64,
    pub(crate) rss_load: u64,
    pub(crate) rss_big: u64,
    pub(crate) runtime_rss_load: u64,
}

/// One line of the main table.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    measure: String,
    direct: String,
    nginx: String,
    hub: String,
    versus: String,
    target: Option<(String, Option<bool>)>,
}

impl Row {
    fn new(measure: impl Into<String>) -> Self {
        Self {
            measure: measure.into(),
            direct: "-".into(),
            nginx: "-".into(),
            hub: "-".into(),
            versus: "-".into(),
            target: None,
        }
    }

    fn direct(mut self, text: impl Into<String>) -> Self {
        self.direct = text.into();
        self
    }

    fn nginx(mut self, text: impl Into<String>) -> Self {
        self.nginx = text.into();
        self
    }

    fn hub(mut self, text: impl Into<String>) -> Self {
        self.hub = text.into();
        self
    }

    fn versus(mut self, text: impl Into<String>) -> Self {
        self.versus = text.into();
        self
    }

    fn target(mut self, target: impl Into<String>, met: bool) -> Self {
        self.target = Some((target.into(), Some(met)));
        self
    }

    /// A target that could not be checked in this run.
    fn unchecked(mut self, target: impl Into<String>) -> Self {
        self.target = Some((target.into(), None));
        self
    }

    pub(crate) fn markdown(&self) -> String {
        let (target, met) = match &self.target {
            Some((target, met)) => (target.as_str(), met.map_or("not checked", yes)),
            None => ("-", "-"),
        };
        format!(
            "| {} | {} | {} | {} | {} | {target} | {met} |",
            self.measure, self.direct, self.nginx, self.hub, self.versus
        )
    }
}

/// The main table.
pub(crate) fn table(results: &Results) -> String {
    let mut rows = Vec::new();
    rows.extend(latency_rows(
        results,
        "non-streamed latency",
        &results.latency,
    ));
    rows.push(nginx_ratio_row(results));
    rows.extend(latency_rows(results, "time to first token", &results.ttft));
    rows.push(sequential_row(results));
    rows.extend(results.paced_one.rows(Some(PACED_TARGET)));
    rows.extend(results.paced_many.rows(Some(PACED_TARGET)));
    rows.extend(results.paced_cpu.rows(None));
    rows.extend(paced_cpu_rows(&results.paced_cpu));
    rows.extend(results.unpaced_one.rows(Some(UNPACED_TARGET)));
    rows.extend(results.unpaced_many.rows(None));
    let big = &results.big;
    rows.push(
        Row::new("200 concurrent streams, 8 participants x 32 slots, paced")
            .hub(format!(
                "{:.0} tokens/s, {} streams, {} errors",
                big.tokens_per_second(),
                big.streams,
                big.failures.count
            ))
            .target("0 errors", big.failures.count == 0 && big.streams >= 200),
    );
    rows.push(Row::new("hub RSS, idle (one room)").hub(mib(results.rss_idle)));
    rows.push(
        Row::new("hub RSS, 100 participants connected")
            .hub(format!(
                "{} (+{:.0} KiB each)",
                mib(results.rss_participants),
                results.rss_participants.saturating_sub(results.rss_idle) as f64 / 100.0 / 1024.0
            ))
            .target("< 30 MB", results.rss_participants < RSS_TARGET),
    );
    rows.push(Row::new("hub RSS, peak under load (1 to 64 streams)").hub(mib(results.rss_load)));
    rows.push(Row::new("hub RSS, peak with 200 streams").hub(mib(results.rss_big)));
    rows.push(
        Row::new("runtime RSS, peak under load (1 participant, 1 to 64 streams)")
            .hub(mib(results.runtime_rss_load)),
    );
    let mut out = header();
    for row in rows {
        out.push_str(&row.markdown());
        out.push('\n');
    }
    out
}

/// The main table's header.
pub(crate) fn header() -> String {
    "| measure | direct | via nginx | through the hub | hub vs direct | target | met |\n\
     |---|---|---|---|---|---|---|\n"
        .to_owned()
}

/// p50 and p99 rows of a latency measure.
fn latency_rows(results: &Results, name: &str, samples: &ByPath<Samples>) -> Vec<Row> {
    let streamed = name.starts_with("time to first token");
    [("p50", 0.5), ("p99", 0.99)]
        .into_iter()
        .map(|(label, q)| {
            let direct = samples.direct.quantile(q);
            let hub = samples.hub.quantile(q);
            let p50 = label == "p50";
            let errors = |s: &Samples, text: String| {
                if p50 {
                    format!("{text}, {} errors", s.failures.count)
                } else {
                    text
                }
            };
            let nginx = match &samples.nginx {
                Some(nginx) => {
                    let at = nginx.quantile(q);
                    errors(nginx, format!("{} ({})", ms(at), signed_ms(at, direct)))
                }
                None => skipped(results),
            };
            let mut row = Row::new(format!(
                "{name} {label} ({} {} each)",
                samples.direct.times.len() + samples.direct.failures.count as usize,
                if streamed { "streams" } else { "requests" }
            ))
            .direct(errors(&samples.direct, ms(direct)))
            .nginx(nginx)
            .hub(errors(&samples.hub, ms(hub)))
            .versus(format!(
                "{} ({:.2}x)",
                signed_ms(hub, direct),
                hub.as_secs_f64() / direct.as_secs_f64().max(f64::EPSILON)
            ));
            if p50 {
                let clean = samples.direct.failures.count
                    + samples.hub.failures.count
                    + samples.nginx.as_ref().map_or(0, |n| n.failures.count)
                    == 0;
                row = if streamed {
                    row.target("0 errors", clean)
                } else {
                    let added = hub.saturating_sub(direct).as_secs_f64() * 1000.0;
                    row.target(
                        format!("added < {ADDED_LATENCY_TARGET_MS} ms"),
                        added < ADDED_LATENCY_TARGET_MS && clean,
                    )
                };
            }
            row
        })
        .collect()
}

/// Added latency p50 of the hub over that of one nginx hop, or why it is not known.
fn nginx_ratio(results: &Results) -> Result<(f64, f64, f64), String> {
    let Some(nginx) = &results.latency.nginx else {
        return Err(skipped(results));
    };
    let direct = results.latency.direct.quantile(0.5).as_secs_f64() * 1000.0;
    let nginx_added = nginx.quantile(0.5).as_secs_f64() * 1000.0 - direct;
    let hub_added = results.latency.hub.quantile(0.5).as_secs_f64() * 1000.0 - direct;
    if nginx_added <= 0.0 {
        return Err(format!(
            "nginx added nothing measurable ({nginx_added:+.3} ms); hub {hub_added:+.3} ms"
        ));
    }
    Ok((hub_added / nginx_added, nginx_added, hub_added))
}

fn nginx_ratio_row(results: &Results) -> Row {
    let row = Row::new("non-streamed added latency p50, hub vs one nginx hop");
    let target = format!("<= {NGINX_RATIO_TARGET}x nginx's");
    match nginx_ratio(results) {
        Ok((ratio, nginx, hub)) => row
            .nginx(format!("{nginx:+.3} ms"))
            .hub(format!("{hub:+.3} ms"))
            .versus(format!("{ratio:.1}x nginx's"))
            .target(target, ratio <= NGINX_RATIO_TARGET),
        Err(why) => row.nginx(why).unchecked(target),
    }
}

fn sequential_ratio(results: &Results) -> f64 {
    let s = &results.sequential;
    s.hub.per_second() / s.direct.per_second().max(f64::EPSILON)
}

fn sequential_row(results: &Results) -> Row {
    let s = &results.sequential;
    let direct = s.direct.per_second();
    let cell = |run: &Sequential, relative: bool| {
        let share = if relative {
            format!(
                " ({:.1}%)",
                run.per_second() / direct.max(f64::EPSILON) * 100.0
            )
        } else {
            String::new()
        };
        format!(
            "{:.0}/s{share}, {} errors",
            run.per_second(),
            run.failures.count
        )
    };
    let ratio = sequential_ratio(results);
    Row::new("sequential requests/s, one client, non-streamed")
        .direct(cell(&s.direct, false))
        .nginx(
            s.nginx
                .as_ref()
                .map_or_else(|| skipped(results), |n| cell(n, true)),
        )
        .hub(cell(&s.hub, false))
        .versus(format!("{:.1}%", ratio * 100.0))
        .target(
            format!(">= {:.0}% of direct", SEQUENTIAL_TARGET * 100.0),
            ratio >= SEQUENTIAL_TARGET && s.hub.failures.count == 0,
        )
}

/// The hub's and the runtime's CPU per token against their targets.
fn paced_cpu_rows(paced: &Compared) -> [Row; 2] {
    let hub = paced.per_hub_token(paced.hub_cpu.hub);
    let runtime = paced.per_hub_token(paced.hub_cpu.runtime);
    [
        Row::new(format!("hub CPU per token, {}", paced.label()))
            .hub(format!("{hub:.1} us"))
            .target(
                format!("<= {HUB_CPU_TARGET_US} us"),
                hub <= HUB_CPU_TARGET_US,
            ),
        Row::new(format!("runtime CPU per token, {}", paced.label()))
            .hub(format!("{runtime:.1} us"))
            .target(
                format!("<= {RUNTIME_CPU_TARGET_US} us"),
                runtime <= RUNTIME_CPU_TARGET_US,
            ),
    ]
}

/// Every streaming measure's failures, by row and side.
fn streaming_failures(results: &Results) -> Vec<(String, &'static str, &Failures)> {
    let mut all = Vec::new();
    let ttft = &results.ttft;
    all.push((
        "time to first token".to_owned(),
        "direct",
        &ttft.direct.failures,
    ));
    if let Some(nginx) = &ttft.nginx {
        all.push((
            "time to first token".to_owned(),
            "via nginx",
            &nginx.failures,
        ));
    }
    all.push((
        "time to first token".to_owned(),
        "through the hub",
        &ttft.hub.failures,
    ));
    for run in [
        &results.paced_one,
        &results.paced_many,
        &results.paced_cpu,
        &results.unpaced_one,
        &results.unpaced_many,
    ] {
        let name = format!("tokens/s, {}", run.label());
        all.push((name.clone(), "direct", &run.direct.failures));
        all.push((name, "through the hub", &run.hub.failures));
    }
    all.push((
        "200 concurrent streams".to_owned(),
        "through the hub",
        &results.big.failures,
    ));
    all
}

/// The first error of every side of every measure that had errors, one line each.
pub(crate) fn first_errors(results: &Results) -> Vec<String> {
    let mut all = streaming_failures(results);
    all.push((
        "non-streamed latency".to_owned(),
        "direct",
        &results.latency.direct.failures,
    ));
    if let Some(nginx) = &results.latency.nginx {
        all.push((
            "non-streamed latency".to_owned(),
            "via nginx",
            &nginx.failures,
        ));
    }
    all.push((
        "non-streamed latency".to_owned(),
        "through the hub",
        &results.latency.hub.failures,
    ));
    let s = &results.sequential;
    all.push((
        "sequential requests".to_owned(),
        "direct",
        &s.direct.failures,
    ));
    if let Some(nginx) = &s.nginx {
        all.push((
            "sequential requests".to_owned(),
            "via nginx",
            &nginx.failures,
        ));
    }
    all.push((
        "sequential requests".to_owned(),
        "through the hub",
        &s.hub.failures,
    ));
    all.into_iter()
        .filter_map(|(row, side, failures)| {
            let first = failures.first.as_deref()?;
            Some(format!(
                "- {row}, {side}: {} errors; the first: {first}",
                failures.count
            ))
        })
        .collect()
}

fn per_token(cpu: Duration, delivered: &Delivered) -> f64 {
    cpu.as_secs_f64() * 1e6 / delivered.tokens.max(1) as f64
}

fn delivered(delivered: &Delivered) -> String {
    format!(
        "{:.0} ({} streams, {} errors)",
        delivered.tokens_per_second(),
        delivered.streams,
        delivered.failures.count
    )
}

fn skipped(results: &Results) -> String {
    match &results.nginx_skipped {
        Some(_) => "skipped: nginx did not run".into(),
        None => "-".into(),
    }
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

/// `at - from` in milliseconds, with its sign.
fn signed_ms(at: Duration, from: Duration) -> String {
    format!(
        "{:+.3} ms",
        (at.as_secs_f64() - from.as_secs_f64()) * 1000.0
    )
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn yes(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}
