//! Choosing the path: native when the participant speaks the client's protocol, adapted when
//! it is known not to, and a fallback (remembered) when a native route turns out missing.

use gambi_protocol as proto;
use gambi_test_support::{MissingRoute, Protocols, Reply};
use proto::Capability::{Supported, Unknown};
use serde_json::{Value, json};

use crate::support::{
    RoomEvents, assert_protocols, capabilities, cluster_with, paths, post_json, speaking, stream,
    within,
};

const RESPONSES: &str = "openResponses";
const CHAT: &str = "chatCompletions";

fn responses_request(stream: bool) -> Value {
    json!({"model": "llama3", "input": "Say hi", "stream": stream})
}

fn chat_request(stream: bool) -> Value {
    json!({"model": "llama3", "messages": [{"role": "user", "content": "Say hi"}], "stream": stream})
}

#[tokio::test]
async fn chat_only_participant_adapts_responses_and_serves_chat_natively() {
    let cluster = cluster_with(speaking("alice", "llama3", Protocols::ChatOnly)).await;
    let provider = &cluster.member("alice").provider;
    let mut events = RoomEvents::subscribe(&cluster).await;

    provider.push_reply(Reply::text("Hi from chat"));
    let (status, answer) = post_json(&cluster, "/responses", &responses_request(false)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["output_text"], "Hi from chat");
    assert_eq!(paths(&cluster, "alice"), ["POST /v1/chat/completions"]);
    assert_protocols(&events.request().await, RESPONSES, CHAT);

    provider.clear_requests();
    provider.push_reply(Reply::text("Hi again"));
    let (status, answer) = post_json(&cluster, "/chat/completions", &chat_request(false)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(answer["choices"][0]["message"]["content"], "Hi again");
    assert_eq!(paths(&cluster, "alice"), ["POST /v1/chat/completions"]);
    assert_protocols(&events.request().await, CHAT, CHAT);
}

#[tokio::test]
async fn responses_only_participant_adapts_chat_and_serves_responses_natively() {
    let cluster = cluster_with(speaking("bob", "qwen", Protocols::ResponsesOnly)).await;
    let provider = &cluster.member("bob").provider;
    let mut events = RoomEvents::subscribe(&cluster).await;

    provider.push_reply(Reply::text("Hi from responses"));
    let request = json!({"model": "qwen", "messages": [{"role": "user", "content": "Say hi"}]});
    let (status, answer) = post_json(&cluster, "/chat/completions", &request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "chat.completion");
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hi from responses"
    );
    assert_eq!(paths(&cluster, "bob"), ["POST /v1/responses"]);
    assert_protocols(&events.request().await, CHAT, RESPONSES);

    provider.clear_requests();
    let request = json!({"model": "qwen", "input": "Say hi"});
    let (status, answer) = post_json(&cluster, "/responses", &request).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "response");
    assert_eq!(paths(&cluster, "bob"), ["POST /v1/responses"]);
    assert_protocols(&events.request().await, RESPONSES, RESPONSES);
}

#[tokio::test]
async fn a_participant_speaking_both_serves_each_protocol_natively() {
    let cluster = cluster_with(speaking("carol", "llama3", Protocols::Both)).await;
    let mut events = RoomEvents::subscribe(&cluster).await;

    for streamed in [false, true] {
        cluster.member("carol").provider.clear_requests();
        if streamed {
            let frames = stream(&cluster, "/responses", &responses_request(true)).await;
            assert_eq!(frames.last().unwrap().event, "response.completed");
        } else {
            let (status, _) = post_json(&cluster, "/responses", &responses_request(false)).await;
            assert_eq!(status, 200);
        }
        assert_eq!(paths(&cluster, "carol"), ["POST /v1/responses"]);
        assert_protocols(&events.request().await, RESPONSES, RESPONSES);

        cluster.member("carol").provider.clear_requests();
        if streamed {
            let frames = stream(&cluster, "/chat/completions", &chat_request(true)).await;
            assert_eq!(frames.last().unwrap().data, "[DONE]");
        } else {
            let (status, _) = post_json(&cluster, "/chat/completions", &chat_request(false)).await;
            assert_eq!(status, 200);
        }
        assert_eq!(paths(&cluster, "carol"), ["POST /v1/chat/completions"]);
        assert_protocols(&events.request().await, CHAT, CHAT);
    }
}

/// The capability the hub reports for participant `id` in a `participant.updated` event.
fn learned(events: &[Value], id: &str, protocol: &str) -> Option<String> {
    events
        .iter()
        .filter(|event| event["type"] == "participant.updated" && event["data"]["id"] == id)
        .filter_map(|event| event["data"]["capabilities"][protocol].as_str())
        .map(str::to_owned)
        .next_back()
}

/// A Responses client on a chat-only provider announced as `unknown`: the first request tries
/// the native route, finds it missing (in the provider's `style`), falls back and remembers;
/// the second goes straight to Chat Completions.
async fn responses_fall_back_to_chat(style: MissingRoute, second_streamed: bool) {
    let spec = speaking("dave", "llama3", Protocols::ChatOnly)
        .provider(|config| config.missing_route = style)
        .capabilities(capabilities(Unknown, Supported));
    let cluster = cluster_with(spec).await;
    let provider = &cluster.member("dave").provider;
    let mut events = RoomEvents::subscribe(&cluster).await;

    provider.push_reply(Reply::text("Adapted after all"));
    let (status, answer) = post_json(&cluster, "/responses", &responses_request(false)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["object"], "response");
    assert_eq!(answer["output_text"], "Adapted after all");
    assert_eq!(
        paths(&cluster, "dave"),
        ["POST /v1/responses", "POST /v1/chat/completions"]
    );
    let first = events.request().await;
    assert_eq!(
        learned(&first, "dave", "openResponses").as_deref(),
        Some("unsupported"),
        "{first:#?}"
    );
    let complete = &first.last().unwrap()["data"];
    assert_eq!(complete["protocol"], CHAT, "{complete}");
    assert_eq!(complete["clientProtocol"], RESPONSES, "{complete}");
    assert_eq!(complete["adapted"], true, "{complete}");
    assert_eq!(complete["status"], 200, "{complete}");

    provider.clear_requests();
    provider.push_reply(Reply::text("Straight away"));
    if second_streamed {
        let frames = stream(&cluster, "/responses", &responses_request(true)).await;
        assert_eq!(frames.last().unwrap().event, "response.completed");
    } else {
        let (status, answer) = post_json(&cluster, "/responses", &responses_request(false)).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["output_text"], "Straight away");
    }
    assert_eq!(paths(&cluster, "dave"), ["POST /v1/chat/completions"]);
    let second = events.request().await;
    assert_protocols(&second, RESPONSES, CHAT);
    assert_eq!(learned(&second, "dave", "openResponses"), None);
}

#[tokio::test]
async fn responses_fall_back_on_a_fastapi_404_and_remember() {
    responses_fall_back_to_chat(MissingRoute::JsonDetail, false).await;
}

#[tokio::test]
async fn responses_fall_back_on_a_plain_text_404_and_remember() {
    responses_fall_back_to_chat(MissingRoute::PlainText, true).await;
}

#[tokio::test]
async fn a_streamed_responses_request_falls_back_too() {
    let spec = speaking("erin", "llama3", Protocols::ChatOnly)
        .provider(|config| config.missing_route = MissingRoute::PlainText)
        .capabilities(capabilities(Unknown, Unknown));
    let cluster = cluster_with(spec).await;
    cluster
        .member("erin")
        .provider
        .push_reply(Reply::text("streamed fallback"));
    let mut events = RoomEvents::subscribe(&cluster).await;

    let frames = stream(&cluster, "/responses", &responses_request(true)).await;
    assert_eq!(frames.first().unwrap().event, "response.created");
    assert_eq!(frames.last().unwrap().event, "response.completed");
    let text: String = frames
        .iter()
        .filter(|frame| frame.event == "response.output_text.delta")
        .map(|frame| frame.json()["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "streamed fallback");
    assert_eq!(
        paths(&cluster, "erin"),
        ["POST /v1/responses", "POST /v1/chat/completions"]
    );
    let seen = events.request().await;
    assert_eq!(
        learned(&seen, "erin", "openResponses").as_deref(),
        Some("unsupported")
    );
    assert_eq!(seen.last().unwrap()["data"]["adapted"], true);
}

#[tokio::test]
async fn chat_falls_back_to_responses_and_remembers() {
    let spec = speaking("fay", "llama3", Protocols::ResponsesOnly)
        .provider(|config| config.missing_route = MissingRoute::PlainText)
        .capabilities(capabilities(Supported, Unknown));
    let cluster = cluster_with(spec).await;
    let provider = &cluster.member("fay").provider;
    let mut events = RoomEvents::subscribe(&cluster).await;

    provider.push_reply(Reply::text("From responses"));
    let (status, answer) = post_json(&cluster, "/chat/completions", &chat_request(false)).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["choices"][0]["message"]["content"], "From responses");
    assert_eq!(
        paths(&cluster, "fay"),
        ["POST /v1/chat/completions", "POST /v1/responses"]
    );
    let first = events.request().await;
    assert_eq!(
        learned(&first, "fay", "chatCompletions").as_deref(),
        Some("unsupported")
    );
    assert_eq!(first.last().unwrap()["data"]["adapted"], true);

    provider.clear_requests();
    let frames = stream(&cluster, "/chat/completions", &chat_request(true)).await;
    assert_eq!(frames.last().unwrap().data, "[DONE]");
    assert_eq!(paths(&cluster, "fay"), ["POST /v1/responses"]);
    assert_protocols(&events.request().await, CHAT, RESPONSES);
}

#[tokio::test]
async fn a_model_not_found_404_is_not_a_missing_route() {
    // The provider speaks both; if the hub mistook the 404 for a missing route, it would
    // have Chat Completions to fall back on.
    let spec =
        speaking("gus", "llama3", Protocols::Both).capabilities(capabilities(Unknown, Supported));
    let cluster = cluster_with(spec).await;
    let provider = &cluster.member("gus").provider;
    let mut events = RoomEvents::subscribe(&cluster).await;

    provider.push_reply(Reply::openai_error(
        404,
        "The model `llama3` does not exist or you do not have access to it.",
        "invalid_request_error",
        Some("model_not_found"),
    ));
    for streamed in [false, true] {
        let response = within(
            "the hub",
            cluster.post("/responses", &responses_request(streamed)),
        )
        .await;
        assert_eq!(response.status(), 404);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "model_not_found", "{answer}");
        assert_eq!(paths(&cluster, "gus"), ["POST /v1/responses"]);
        let seen = events.request().await;
        assert_eq!(learned(&seen, "gus", "openResponses"), None, "{seen:#?}");
        let terminal = &seen.last().unwrap()["data"];
        assert_eq!(terminal["adapted"], false, "{terminal}");
        assert_eq!(terminal["protocol"], RESPONSES, "{terminal}");
        provider.clear_requests();
        provider.push_reply(Reply::openai_error(
            404,
            "The model `llama3` does not exist or you do not have access to it.",
            "invalid_request_error",
            Some("model_not_found"),
        ));
    }
    let room = cluster.hub.hub().room(&cluster.code).unwrap();
    let capabilities = room.participant("gus").unwrap().summary.capabilities;
    assert_eq!(capabilities.open_responses, Unknown);
}
