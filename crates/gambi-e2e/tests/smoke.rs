//! The shortest path through the whole system.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::{Value, json};

#[tokio::test]
async fn chat_completion_through_the_hub() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    cluster
        .member("alice")
        .provider
        .push_reply(Reply::text("Hello there"));
    let response = cluster
        .post(
            "/chat/completions",
            &json!({"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
}

#[tokio::test]
async fn streamed_responses_adapted_for_a_chat_only_participant() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("bob", "qwen").provider(|config| {
            config.protocols = gambi_test_support::Protocols::ChatOnly;
        }))
        .await;
    cluster
        .member("bob")
        .provider
        .push_reply(Reply::text("one two three"));
    let mut events = cluster.events().await;
    let response = cluster
        .post(
            "/responses",
            &json!({"model": "*", "input": "count", "stream": true}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let mut reader = gambi_test_support::sse::EventReader::new(response);
    let mut kinds = Vec::new();
    let mut text = String::new();
    while let Some(frame) = reader.next_event().await {
        let data = frame.json();
        if frame.event() == Some("response.output_text.delta") {
            text.push_str(data["delta"].as_str().unwrap());
        }
        kinds.push(frame.event().unwrap().to_owned());
    }
    assert_eq!(kinds.first().map(String::as_str), Some("response.created"));
    assert_eq!(kinds.last().map(String::as_str), Some("response.completed"));
    assert_eq!(text, "one two three");
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("llm.complete") {
        let frame = events.next_event().await.unwrap();
        seen.push(frame.event().unwrap().to_owned());
        if frame.event() == Some("llm.complete") {
            let data = frame.json()["data"].clone();
            assert_eq!(data["adapted"], true);
            assert_eq!(data["protocol"], "chatCompletions");
            assert_eq!(data["clientProtocol"], "openResponses");
            assert!(
                data["metrics"]["outputTokens"].as_u64().unwrap() > 0,
                "{data}"
            );
        }
    }
}
