//! The `openai_room` example against a real hub, participant runtimes and fake
//! providers over loopback: `async-openai` talks to a password-protected room through the
//! Responses API and Chat Completions, whole and streamed, and the room handle's routing
//! strings reach the participants they name.

#[allow(
    dead_code,
    reason = "the example's main is for `cargo run`; the test calls its functions"
)]
#[path = "../examples/openai_room.rs"]
mod example;

use gambi_client::Room;
use gambi_hub::HubConfig;
use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::json;

#[tokio::test]
async fn async_openai_talks_to_a_room() {
    let mut cluster = Cluster::with(
        HubConfig::default(),
        json!({"name": "Lab", "password": "s3cret"}),
    )
    .await;
    cluster
        .join(
            ParticipantSpec::new("alice", "llama3").provider(|provider| {
                provider.default_reply = Reply::text("Alice here, hello there.");
            }),
        )
        .await;
    cluster
        .join(ParticipantSpec::new("bob", "qwen3").provider(|provider| {
            provider.default_reply = Reply::text("Bob answers: one two three.");
        }))
        .await;
    let room = Room::new(&cluster.hub.url(), &cluster.code)
        .expect("a room")
        .with_password("s3cret");

    let answer = example::respond(&room, &room.participant("alice"), "Hello?")
        .await
        .expect("a response");
    assert_eq!(answer, "Alice here, hello there.");
    let deltas = example::respond_streamed(&room, &room.model("qwen3"), "Count.")
        .await
        .expect("a streamed response");
    assert!(deltas.len() > 1, "token by token: {deltas:?}");
    assert_eq!(deltas.concat(), "Bob answers: one two three.");

    let (reply, model) = example::chat(&room, &room.model("llama3"), "Hello?")
        .await
        .expect("a chat completion");
    assert_eq!(reply, "Alice here, hello there.");
    assert_eq!(model, "llama3");
    let deltas = example::chat_streamed(&room, &room.participant("bob"), "Count.")
        .await
        .expect("a streamed chat completion");
    assert!(deltas.len() > 1, "token by token: {deltas:?}");
    assert_eq!(deltas.concat(), "Bob answers: one two three.");

    let anyone = example::respond(&room, &room.any(), "Hello?")
        .await
        .expect("a response");
    assert!(
        ["Alice here, hello there.", "Bob answers: one two three."].contains(&anyone.as_str()),
        "{anyone}"
    );

    // Without the password the hub refuses, and async-openai says so.
    let open = Room::new(&cluster.hub.url(), &cluster.code).expect("a room");
    let refused = example::respond(&open, &open.any(), "Hello?")
        .await
        .expect_err("the room is protected");
    assert!(
        matches!(refused, async_openai::error::OpenAIError::ApiError(_)),
        "{refused:?}"
    );
}
