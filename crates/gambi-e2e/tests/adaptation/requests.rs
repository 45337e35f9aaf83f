//! Responses requests as a Chat Completions provider receives them.

use gambi_test_support::{Protocols, Reply};
use serde_json::{Value, json};

use crate::support::{RoomEvents, body, cluster_with, generations, post_json, speaking, stream};

fn weather_tool() -> Value {
    json!({
        "type": "function",
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    })
}

#[tokio::test]
async fn instructions_roles_images_and_settings_are_translated() {
    let cluster = cluster_with(speaking("alice", "llama3", Protocols::ChatOnly)).await;
    let schema = json!({
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": false,
    });
    let request = json!({
        "model": "alice",
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Answer in French."},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "What is in this picture?"},
                {"type": "input_image", "image_url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"},
            ]},
        ],
        "max_output_tokens": 64,
        "temperature": 0.3,
        "top_p": 0.9,
        "text": {"format": {"type": "json_schema", "name": "answer", "schema": schema, "strict": true}},
        // Harmless for a participant that keeps nothing: ignored, not refused.
        "store": true,
        "truncation": "auto",
        "reasoning": {"effort": "low", "summary": "auto"},
    });
    let (status, answer) = post_json(&cluster, "/responses", &request).await;
    assert_eq!(status, 200, "{answer}");

    let sent = generations(&cluster, "alice");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/v1/chat/completions");
    let sent = body(&sent[0]);
    assert_eq!(sent["model"], "llama3", "the participant's model: {sent}");
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "system", "content": "Answer in French."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}},
            ]},
        ])
    );
    assert_eq!(sent["max_tokens"], 64);
    assert_eq!(sent["temperature"], 0.3);
    assert_eq!(sent["top_p"], 0.9);
    assert_eq!(
        sent["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": true}})
    );
    for responses_only in [
        "input",
        "instructions",
        "max_output_tokens",
        "text",
        "store",
        "truncation",
        "reasoning",
        "stream",
        "stream_options",
    ] {
        assert!(
            sent.get(responses_only).is_none(),
            "{responses_only} must not reach a Chat Completions provider: {sent}"
        );
    }
    // The Response echoes what the client asked for.
    assert_eq!(answer["instructions"], "Be brief.");
    assert_eq!(answer["max_output_tokens"], 64);
    assert_eq!(answer["text"]["format"]["type"], "json_schema");
}

#[tokio::test]
async fn a_function_tool_round_trip_works_through_a_chat_provider() {
    let cluster = cluster_with(speaking("bob", "llama3", Protocols::ChatOnly)).await;
    let provider = &cluster.member("bob").provider;
    let question = json!({"role": "user", "content": "What is the weather in Paris?"});

    // Turn 1: the model calls the tool.
    provider.push_reply(Reply::tool_call("get_weather", json!({"city": "Paris"})));
    let first = json!({
        "model": "llama3",
        "input": [question],
        "tools": [weather_tool()],
        "tool_choice": {"type": "function", "name": "get_weather"},
    });
    let (status, answer) = post_json(&cluster, "/responses", &first).await;
    assert_eq!(status, 200, "{answer}");
    let sent = body(&generations(&cluster, "bob")[0]);
    assert_eq!(
        sent["tools"],
        json!([{"type": "function", "function": {
            "name": "get_weather",
            "description": "Current weather in a city.",
            "parameters": weather_tool()["parameters"],
        }}]),
        "tools nested in the Chat Completions form"
    );
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    let output = answer["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "{answer}");
    let call = &output[0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["status"], "completed");
    let arguments: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(arguments, json!({"city": "Paris"}));
    let call_id = call["call_id"].as_str().unwrap().to_owned();
    assert!(call_id.starts_with("call_"), "{call}");
    assert!(call["id"].as_str().unwrap().starts_with("fc_"), "{call}");

    // Turn 2: the client replays the call (as the SDKs do, the whole output item) and the
    // tool's result.
    provider.clear_requests();
    provider.push_reply(Reply::text("It is 21 degrees in Paris."));
    let second = json!({
        "model": "llama3",
        "input": [
            question,
            call,
            {"type": "function_call_output", "call_id": call_id, "output": "{\"celsius\":21}"},
        ],
        "tools": [weather_tool()],
        "tool_choice": "auto",
    });
    let (status, answer) = post_json(&cluster, "/responses", &second).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["output_text"], "It is 21 degrees in Paris.");
    let sent = body(&generations(&cluster, "bob")[0]);
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": call_id,
                "type": "function",
                "function": {"name": "get_weather", "arguments": call["arguments"]},
            }]},
            {"role": "tool", "tool_call_id": call_id, "content": "{\"celsius\":21}"},
        ])
    );
    assert_eq!(sent["tool_choice"], "auto");
    assert_eq!(sent["tools"][0]["function"]["name"], "get_weather");
}

#[tokio::test]
async fn a_streamed_request_asks_the_chat_provider_for_usage() {
    let cluster = cluster_with(speaking("carol", "llama3", Protocols::ChatOnly)).await;
    let request = json!({"model": "llama3", "input": "count to three", "stream": true});
    let frames = stream(&cluster, "/responses", &request).await;
    assert_eq!(frames.last().unwrap().event, "response.completed");
    let sent = body(&generations(&cluster, "carol")[0]);
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"], json!({"include_usage": true}));
}

/// Sends `request` to a chat-only participant and checks it is refused with a 400 naming
/// `param`, before anything reaches the provider.
async fn refused(request: Value, param: &str) {
    let cluster = cluster_with(speaking("dave", "llama3", Protocols::ChatOnly)).await;
    let mut events = RoomEvents::subscribe(&cluster).await;
    let (status, answer) = post_json(&cluster, "/responses", &request).await;
    assert_eq!(status, 400, "{answer}");
    let error = &answer["error"];
    assert_eq!(error["type"], "invalid_request_error", "{answer}");
    assert_eq!(error["param"], param, "{answer}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert!(error.get("code").is_some(), "{answer}");
    assert!(
        generations(&cluster, "dave").is_empty(),
        "nothing reaches the provider"
    );
    let seen = events.request().await;
    let terminal = seen.last().unwrap();
    assert_eq!(terminal["type"], "llm.error", "{terminal}");
    assert_eq!(terminal["data"]["adapted"], true, "{terminal}");
}

#[tokio::test]
async fn background_responses_are_refused_with_a_clear_400() {
    refused(
        json!({"model": "llama3", "input": "hi", "background": true}),
        "background",
    )
    .await;
}

#[tokio::test]
async fn non_function_tools_are_refused_with_a_clear_400() {
    refused(
        json!({"model": "llama3", "input": "hi",
               "tools": [weather_tool(), {"type": "web_search_preview"}]}),
        "tools[1]",
    )
    .await;
}

/// A participant `id` on a provider speaking `protocols`, with runtime defaults.
fn with_defaults(id: &str, protocols: Protocols) -> gambi_test_support::ParticipantSpec {
    speaking(id, "llama3", protocols).config(gambi_protocol::RuntimeConfig {
        instructions: Some("Participant rules.".into()),
        temperature: Some(0.4),
        max_tokens: Some(99),
        ..gambi_protocol::RuntimeConfig::default()
    })
}

#[tokio::test]
async fn runtime_defaults_apply_to_the_translated_request() {
    let cluster = cluster_with(with_defaults("erin", Protocols::ChatOnly)).await;
    let request = json!({"model": "llama3", "input": "hi", "temperature": 0.9});
    let (status, answer) = post_json(&cluster, "/responses", &request).await;
    assert_eq!(status, 200, "{answer}");
    let sent = body(&generations(&cluster, "erin")[0]);
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "Participant rules."},
            {"role": "user", "content": "hi"},
        ])
    );
    assert_eq!(sent["temperature"], 0.9, "the request's own value wins");
    assert_eq!(sent["max_tokens"], 99);

    let cluster = cluster_with(with_defaults("fay", Protocols::ResponsesOnly)).await;
    let request = json!({"model": "llama3", "messages": [{"role": "user", "content": "hi"}]});
    let (status, answer) = post_json(&cluster, "/chat/completions", &request).await;
    assert_eq!(status, 200, "{answer}");
    let sent = body(&generations(&cluster, "fay")[0]);
    assert_eq!(sent["instructions"], "Participant rules.");
    assert_eq!(sent["temperature"], 0.4);
    assert_eq!(sent["max_output_tokens"], 99);
    assert!(sent.get("max_tokens").is_none(), "{sent}");
}

#[tokio::test]
async fn chat_fields_a_responses_provider_cannot_honour_are_refused() {
    let cluster = cluster_with(speaking("gus", "llama3", Protocols::ResponsesOnly)).await;
    for (extra, param) in [(json!({"stop": ["END"]}), "stop"), (json!({"n": 2}), "n")] {
        let mut request =
            json!({"model": "llama3", "messages": [{"role": "user", "content": "hi"}]});
        for (key, value) in extra.as_object().unwrap() {
            request[key] = value.clone();
        }
        let (status, answer) = post_json(&cluster, "/chat/completions", &request).await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["type"], "invalid_request_error", "{answer}");
        assert_eq!(answer["error"]["param"], param, "{answer}");
    }
    assert!(generations(&cluster, "gus").is_empty());
}
