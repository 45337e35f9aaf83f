//! `DEBUG=*` turns on debug logs, and the lines of one request tell its story: each
//! carries the request's id, its room and, once routed, its participant.

use gambi_participant::{ParticipantSession, SessionOptions};
use gambi_test_support::{DEFAULT_MODEL, FakeProvider};
use nix::sys::signal::Signal;
use serde_json::json;

use super::{Sandbox, create_room};

#[tokio::test]
async fn debug_star_logs_a_request_from_arrival_to_answer() {
    let sandbox = Sandbox::new();
    let mut command = sandbox.command(&[
        "hub",
        "serve",
        "--ephemeral",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--format",
        "ndjson",
    ]);
    command.env("DEBUG", "*");
    let mut hub = super::Running::new(command.spawn().expect("gambi starts"));
    let started = hub.json().await;
    let url = started["data"]["hubUrl"]
        .as_str()
        .expect("hubUrl")
        .to_owned();
    let room = create_room(&url, "Lab", None).await;
    let provider = FakeProvider::builder().start().await;
    let options = SessionOptions::new(
        url.parse().expect("a URL"),
        &room.code,
        "alice",
        "Alice",
        DEFAULT_MODEL,
        provider.base_url().parse().expect("a URL"),
    );
    let session = ParticipantSession::start(options).await.expect("joined");

    let request_id = "story-7f3a9c";
    let response = reqwest::Client::new()
        .post(format!("{url}/rooms/{}/v1/chat/completions", room.code))
        .header("x-request-id", request_id)
        .json(&json!({"model": "*", "messages": [{"role": "user", "content": "Hi"}]}))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), 200);
    response.bytes().await.expect("the body");
    session.close().await;

    hub.signal(Signal::SIGTERM);
    let (status, _, stderr) = hub.wait().await;
    assert_eq!(status.code(), Some(0), "{stderr}");
    let story: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains(request_id))
        .collect();
    assert!(
        story.len() >= 3,
        "the request's lines:\n{}",
        story.join("\n")
    );
    assert!(
        story.iter().any(|line| line.contains("DEBUG")),
        "{story:#?}"
    );
    for line in &story {
        assert!(line.contains(&format!("room={}", room.code)), "{line}");
    }
    // Arrival, routing, the llm.* events with their figures, the answer: in order.
    let steps = [
        "started processing request",
        "participant chosen",
        "llm.request",
        "llm.complete status=200",
        "finished processing request",
    ];
    let mut at = 0;
    for step in steps {
        let found = story[at..]
            .iter()
            .position(|line| line.contains(step))
            .unwrap_or_else(|| panic!("{step:?} after line {at} of {story:#?}"));
        at += found + 1;
    }
    for line in story.iter().filter(|line| line.contains("llm.")) {
        assert!(line.contains("participant=alice"), "{line}");
    }
}
