//! Where a request's time went: the latency breakdown of `llm.complete` (`hubMs`,
//! `tunnelMs`, `providerTtfbMs`, `providerTtftMs`, `clientReadMs`), end to end through our
//! runtime (which reports its timing once the hub grants the `timing` extension) and through
//! a runtime of the original protocol (which reports none: only the hub's own parts).
//!
//! Paused time: the fake provider's delays pass exactly, and measured times can only come
//! out longer than the delays that make them up.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

mod inference_support;

use std::time::Duration;

use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use inference_support::{chat, chat_stream, llm_events_of, read_sse, request_id};
use serde_json::Value;

const FIRST_TOKEN: Duration = Duration::from_millis(200);
const BETWEEN_TOKENS: Duration = Duration::from_millis(100);

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn field(metrics: &Value, name: &str) -> Option<f64> {
    metrics.get(name).map(|value| {
        value
            .as_f64()
            .unwrap_or_else(|| panic!("{name} is a number: {metrics}"))
    })
}

fn present(metrics: &Value, name: &str) -> f64 {
    let value = field(metrics, name).unwrap_or_else(|| panic!("{name} is reported: {metrics}"));
    assert!(value >= 0.0, "{name} is not negative: {metrics}");
    value
}

async fn cluster(spec: ParticipantSpec) -> Cluster {
    let mut cluster = Cluster::start().await;
    cluster
        .join(spec.provider(|config| {
            config.first_token_delay = FIRST_TOKEN;
            config.token_delay = BETWEEN_TOKENS;
        }))
        .await;
    cluster
}

/// The `llm.complete` metrics of one request sent with `body`.
async fn complete_metrics(cluster: &Cluster, body: &Value, streamed: bool) -> Value {
    cluster
        .member("alice")
        .provider
        .push_reply(Reply::tokens(["a", " b", " c", " d"]).usage(5, 4));
    let mut events = cluster.events().await;
    let response = cluster.post("/chat/completions", body).await;
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    if streamed {
        let _ = read_sse(response).await;
    } else {
        let _ = response.bytes().await.unwrap();
    }
    let seen = llm_events_of(&mut events, &id).await;
    let complete = seen.last().unwrap();
    assert_eq!(complete.kind, "llm.complete", "{:?}", complete.data);
    complete.data["metrics"].clone()
}

#[tokio::test(start_paused = true)]
async fn a_stream_through_our_runtime_is_split_between_hub_tunnel_provider_and_client() {
    let cluster = cluster(ParticipantSpec::new("alice", "llama3")).await;
    let metrics = complete_metrics(&cluster, &chat_stream("alice", "hi"), true).await;

    let ttft = present(&metrics, "ttftMs");
    let hub = present(&metrics, "hubMs");
    let tunnel = present(&metrics, "tunnelMs");
    let ttfb = present(&metrics, "providerTtfbMs");
    let provider_ttft = present(&metrics, "providerTtftMs");
    present(&metrics, "clientReadMs");
    // The fake provider answers its head at once and its first token after FIRST_TOKEN: the
    // provider's own time to first token holds that wait, its time to first byte does not.
    assert!(ttfb < ms(FIRST_TOKEN), "{metrics}");
    assert!(provider_ttft >= ms(FIRST_TOKEN), "{metrics}");
    // The parts of the hub's TTFT never add up to more than it.
    assert!(provider_ttft + tunnel <= ttft + 1e-9, "{metrics}");
    assert!(hub <= ttft, "{metrics}");
}

#[tokio::test(start_paused = true)]
async fn a_non_streamed_answer_has_the_provider_s_whole_time_as_its_time_to_first_byte() {
    let cluster = cluster(ParticipantSpec::new("alice", "llama3")).await;
    let metrics = complete_metrics(&cluster, &chat("alice", "hi"), false).await;

    // The provider sends its head with the answer, after the whole generation.
    let generation = ms(FIRST_TOKEN + BETWEEN_TOKENS * 3);
    let ttfb = present(&metrics, "providerTtfbMs");
    assert!(ttfb >= generation, "{metrics}");
    assert!(present(&metrics, "providerTtftMs") >= ttfb, "{metrics}");
    present(&metrics, "tunnelMs");
    present(&metrics, "hubMs");
    // Only a stream's end is read by the client from the hub's buffer as it goes.
    assert_eq!(field(&metrics, "clientReadMs"), None, "{metrics}");
}

#[tokio::test(start_paused = true)]
async fn an_original_runtime_reports_no_timing_so_only_the_hub_s_parts_are_known() {
    let cluster = cluster(ParticipantSpec::new("alice", "llama3").original_protocol()).await;
    let metrics = complete_metrics(&cluster, &chat_stream("alice", "hi"), true).await;

    present(&metrics, "hubMs");
    present(&metrics, "clientReadMs");
    for unknown in ["tunnelMs", "providerTtfbMs", "providerTtftMs"] {
        assert_eq!(field(&metrics, unknown), None, "{unknown}: {metrics}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_provider_error_the_hub_reads_whole_still_has_its_breakdown() {
    // A 404 that names a model is the provider's answer (not a missing route): the hub reads
    // it whole to tell the two apart, and passes it on.
    let cluster = cluster(ParticipantSpec::new("alice", "llama3")).await;
    cluster.member("alice").provider.push_reply(Reply::error(
        404,
        serde_json::json!({"error": {"message": "model 'llama3' is not loaded"}}),
    ));
    let mut events = cluster.events().await;
    let response = cluster
        .post("/chat/completions", &chat("alice", "hi"))
        .await;
    assert_eq!(response.status(), 404);
    let id = request_id(&response);
    let _ = response.bytes().await.unwrap();
    let seen = llm_events_of(&mut events, &id).await;
    let complete = seen.last().unwrap();
    assert_eq!(complete.kind, "llm.complete", "{:?}", complete.data);
    let metrics = &complete.data["metrics"];

    let ttft = present(metrics, "ttftMs");
    let hub = present(metrics, "hubMs");
    let ttfb = present(metrics, "providerTtfbMs");
    present(metrics, "tunnelMs");
    assert!(hub <= ttft, "{metrics}");
    assert!(ttfb <= ttft, "{metrics}");
}
