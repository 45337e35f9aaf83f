//! `llm.complete` metrics of adapted requests: token counts (streamed or not) and the time to
//! first token, measured at the first content rather than at the synthetic `response.created`.

use std::time::Duration;

use gambi_test_support::{Protocols, Reply};
use serde_json::{Value, json};

use crate::support::{RoomEvents, cluster_with, post_json, speaking, stream};

/// How long the provider waits before its first token. Real time: a lower bound on the
/// time to first token holds however slow the machine is.
const FIRST_TOKEN_DELAY: Duration = Duration::from_millis(150);

/// Sends one adapted request (a `client` request to a provider speaking `protocols`) whose
/// reply reports 13 prompt and 8 completion tokens, and returns its `llm.complete` data.
async fn adapted_metrics(client: &str, protocols: Protocols, streamed: bool) -> Value {
    let cluster = cluster_with(speaking("alice", "llama3", protocols)).await;
    cluster.member("alice").provider.push_reply(
        Reply::text("one two three four five six seven eight")
            .usage(13, 8)
            .first_token_delay(FIRST_TOKEN_DELAY),
    );
    let mut events = RoomEvents::subscribe(&cluster).await;
    let (path, request) = if client == "openResponses" {
        (
            "/responses",
            json!({"model": "llama3", "input": "count", "stream": streamed}),
        )
    } else {
        (
            "/chat/completions",
            json!({"model": "llama3", "messages": [{"role": "user", "content": "count"}],
                   "stream": streamed}),
        )
    };
    if streamed {
        stream(&cluster, path, &request).await;
    } else {
        let (status, answer) = post_json(&cluster, path, &request).await;
        assert_eq!(status, 200, "{answer}");
    }
    let seen = events.request().await;
    let terminal = seen.last().unwrap();
    assert_eq!(terminal["type"], "llm.complete", "{terminal}");
    let data = terminal["data"].clone();
    assert_eq!(data["adapted"], true, "{data}");
    assert_eq!(data["clientProtocol"], client, "{data}");
    data
}

fn check(data: &Value, streamed: bool) {
    let metrics = &data["metrics"];
    assert_eq!(metrics["inputTokens"], 13, "{data}");
    assert_eq!(metrics["outputTokens"], 8, "{data}");
    assert_eq!(metrics["totalTokens"], 21, "{data}");
    let floor = FIRST_TOKEN_DELAY.as_secs_f64() * 1000.0;
    let ttft = metrics["ttftMs"]
        .as_f64()
        .unwrap_or_else(|| panic!("ttftMs: {data}"));
    let duration = metrics["durationMs"].as_f64().unwrap();
    assert!(
        ttft >= floor,
        "ttftMs {ttft} < first token delay {floor}: {data}"
    );
    assert!(duration >= ttft, "{data}");
    if streamed {
        // Generation time is known only when the tokens arrive one by one.
        assert!(
            metrics["tokensPerSecond"]
                .as_f64()
                .is_some_and(|tps| tps > 0.0),
            "{data}"
        );
    }
}

#[tokio::test]
async fn responses_on_chat_not_streamed() {
    check(
        &adapted_metrics("openResponses", Protocols::ChatOnly, false).await,
        false,
    );
}

#[tokio::test]
async fn responses_on_chat_streamed() {
    check(
        &adapted_metrics("openResponses", Protocols::ChatOnly, true).await,
        true,
    );
}

#[tokio::test]
async fn chat_on_responses_not_streamed() {
    check(
        &adapted_metrics("chatCompletions", Protocols::ResponsesOnly, false).await,
        false,
    );
}

#[tokio::test]
async fn chat_on_responses_streamed() {
    check(
        &adapted_metrics("chatCompletions", Protocols::ResponsesOnly, true).await,
        true,
    );
}

#[tokio::test]
async fn time_to_first_token_after_a_fallback_counts_the_real_answer() {
    use gambi_protocol::Capability::{Supported, Unknown};

    use crate::support::capabilities;

    let spec = speaking("bob", "llama3", Protocols::ChatOnly)
        .capabilities(capabilities(Unknown, Supported));
    let cluster = cluster_with(spec).await;
    cluster.member("bob").provider.push_reply(
        Reply::text("late answer")
            .usage(2, 2)
            .first_token_delay(FIRST_TOKEN_DELAY),
    );
    let mut events = RoomEvents::subscribe(&cluster).await;
    let (status, answer) = post_json(
        &cluster,
        "/responses",
        &json!({"model": "llama3", "input": "hi"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let seen = events.request().await;
    let data = &seen.last().unwrap()["data"];
    assert_eq!(data["adapted"], true, "{data}");
    let floor = FIRST_TOKEN_DELAY.as_secs_f64() * 1000.0;
    let ttft = data["metrics"]["ttftMs"].as_f64().unwrap();
    assert!(
        ttft >= floor,
        "ttftMs {ttft} measures the missing route's 404, not the answer: {data}"
    );
}
