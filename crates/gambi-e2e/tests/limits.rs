//! Limits agree end to end: a request too large for a participant's tunnel is refused with
//! `413`, naming the limit, and never reaches the tunnel, so a stream already running on
//! that participant goes on and the participant stays connected, with our runtime and with
//! one that speaks only the original protocol.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

use gambi_test_support::sse::{EventReader, Frame};
use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::{Value, json};

fn participant(original: bool) -> ParticipantSpec {
    let spec = ParticipantSpec::new("alice", "llama3").slots(2);
    if original {
        spec.original_protocol()
    } else {
        spec
    }
}

/// A chat request whose body is about `size` bytes.
fn chat_of_size(size: usize) -> Value {
    let prompt = "x".repeat(size.saturating_sub(100));
    json!({"model": "alice", "messages": [{"role": "user", "content": prompt}]})
}

async fn oversized_requests_are_refused_and_the_tunnel_survives(original: bool) {
    let mut cluster = Cluster::start().await;
    cluster.join(participant(original)).await;
    let provider = &cluster.member("alice").provider;
    let words: Vec<String> = (0..40).map(|n| format!(" w{n}")).collect();
    provider
        .push_reply(Reply::tokens(words.clone()).token_delay(std::time::Duration::from_millis(10)));
    let running = cluster
        .post(
            "/chat/completions",
            &json!({"model": "alice", "stream": true, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let mut running = EventReader::new(running);

    let limit = gambi_protocol::MAX_TUNNEL_REQUEST;
    // Larger than the hub reads, and small enough to read but too large once framed.
    for size in [limit + 4 * 1024 * 1024, limit - 16] {
        let response = cluster.post("/chat/completions", &chat_of_size(size)).await;
        assert_eq!(response.status(), 413, "{size} bytes");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"]["code"], "PAYLOAD_TOO_LARGE", "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&limit.to_string()),
            "names the limit: {message}"
        );
    }

    // The stream that was running ends whole.
    let mut text = String::new();
    let mut done = false;
    while let Some(frame) = running.next_event().await {
        let Frame::Event { data, .. } = &frame else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let chunk = frame.json();
        assert!(chunk.get("error").is_none(), "{chunk}");
        text.push_str(
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default(),
        );
    }
    assert!(done);
    assert_eq!(text, words.concat());
    // The participant is still connected and serves.
    let participant = cluster.room().participant("alice").unwrap();
    assert!(participant.summary.connection.connected);
    provider.push_reply(Reply::text("still here"));
    let response = cluster
        .post(
            "/chat/completions",
            &json!({"model": "alice", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "still here");
}

#[tokio::test]
async fn oversized_requests_are_refused_and_the_tunnel_survives_with_our_runtime() {
    oversized_requests_are_refused_and_the_tunnel_survives(false).await;
}

#[tokio::test]
async fn oversized_requests_are_refused_and_the_tunnel_survives_with_an_original_runtime() {
    oversized_requests_are_refused_and_the_tunnel_survives(true).await;
}
