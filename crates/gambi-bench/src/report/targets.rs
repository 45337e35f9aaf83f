//! The table of the targets, each with its result and whether it is met.

use super::*;

/// The targets alone: the issue's, then the earlier ones.
pub(crate) fn targets(results: &Results) -> String {
    let mut goals: Vec<(String, String, Option<bool>)> = Vec::new();
    let failing: Vec<String> = streaming_failures(results)
        .into_iter()
        .filter(|(_, _, failures)| failures.count > 0)
        .map(|(row, side, failures)| format!("{row} ({side}): {}", failures.count))
        .collect();
    goals.push((
        "0 errors in every streaming row".into(),
        if failing.is_empty() {
            "0 errors".into()
        } else {
            failing.join("; ")
        },
        Some(failing.is_empty()),
    ));
    let paced = &results.paced_cpu;
    let hub = paced.per_hub_token(paced.hub_cpu.hub);
    let runtime = paced.per_hub_token(paced.hub_cpu.runtime);
    goals.push((
        format!("hub CPU per paced token <= {HUB_CPU_TARGET_US} us"),
        format!("{hub:.1} us ({})", paced.label()),
        Some(hub <= HUB_CPU_TARGET_US),
    ));
    goals.push((
        format!("runtime CPU per paced token <= {RUNTIME_CPU_TARGET_US} us"),
        format!("{runtime:.1} us ({})", paced.label()),
        Some(runtime <= RUNTIME_CPU_TARGET_US),
    ));
    goals.push(match nginx_ratio(results) {
        Ok((ratio, nginx, hub)) => (
            format!("non-streamed added latency p50 <= {NGINX_RATIO_TARGET}x the nginx hop's"),
            format!("{ratio:.1}x (hub {hub:+.3} ms, nginx {nginx:+.3} ms)"),
            Some(ratio <= NGINX_RATIO_TARGET),
        ),
        Err(why) => (
            format!("non-streamed added latency p50 <= {NGINX_RATIO_TARGET}x the nginx hop's"),
            why,
            None,
        ),
    });
    let sequential = sequential_ratio(results);
    goals.push((
        format!(
            "sequential requests/s >= {:.0}% of direct",
            SEQUENTIAL_TARGET * 100.0
        ),
        format!("{:.1}%", sequential * 100.0),
        Some(sequential >= SEQUENTIAL_TARGET),
    ));
    let unpaced = results.unpaced_one.ratio();
    goals.push((
        format!(
            "unpaced single-stream tokens/s >= {:.0}% of direct",
            UNPACED_TARGET * 100.0
        ),
        format!(
            "{:.1}% ({} errors through the hub)",
            unpaced * 100.0,
            results.unpaced_one.hub.failures.count
        ),
        Some(unpaced >= UNPACED_TARGET),
    ));
    let added = results
        .latency
        .hub
        .quantile(0.5)
        .saturating_sub(results.latency.direct.quantile(0.5));
    goals.push((
        format!("added latency p50 < {ADDED_LATENCY_TARGET_MS} ms"),
        format!("+{}", ms(added)),
        Some(added.as_secs_f64() * 1000.0 < ADDED_LATENCY_TARGET_MS),
    ));
    let (one, many) = (results.paced_one.ratio(), results.paced_many.ratio());
    goals.push((
        format!(
            "paced streaming >= {:.0}% of direct tokens/s",
            PACED_TARGET * 100.0
        ),
        format!(
            "{:.1}% ({}), {:.1}% ({})",
            one * 100.0,
            results.paced_one.label(),
            many * 100.0,
            results.paced_many.label()
        ),
        Some(one >= PACED_TARGET && many >= PACED_TARGET),
    ));
    goals.push((
        "200 concurrent streams with 0 errors".into(),
        format!(
            "{} streams, {} errors",
            results.big.streams, results.big.failures.count
        ),
        Some(results.big.failures.count == 0 && results.big.streams >= 200),
    ));
    goals.push((
        "hub RSS < 30 MB with 100 participants".into(),
        mib(results.rss_participants),
        Some(results.rss_participants < RSS_TARGET),
    ));
    let mut out = String::from("| target | result | met |\n|---|---|---|\n");
    for (goal, result, met) in goals {
        let _ = writeln!(
            out,
            "| {goal} | {result} | {} |",
            met.map_or("not checked", yes)
        );
    }
    out
}
