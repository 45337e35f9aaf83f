//! `POST /v1/chat/completions`.

use gambi_test_support::{FakeProvider, FinishReason, Reply, StreamFailure};
use serde_json::{Value, json};

use crate::{json, parse_sse, post, read_sse, scrubbed};

const PATH: &str = "/v1/chat/completions";

fn request(stream: bool) -> Value {
    json!({
        "model": "fake-model",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": "Say hello"},
        ],
    })
}

async fn provider_with(reply: Reply) -> FakeProvider {
    let provider = FakeProvider::start(Default::default()).await;
    provider.push_reply(reply);
    provider
}

/// The `data` of every chunk, scrubbed, with `[DONE]` kept as a string.
fn chunks(events: &[crate::Sse]) -> Vec<Value> {
    events
        .iter()
        .map(|event| {
            assert!(event.event.is_none(), "chat chunks have no event name");
            if event.data == "[DONE]" {
                json!("[DONE]")
            } else {
                scrubbed(event.json())
            }
        })
        .collect()
}

fn chunk(delta: Value, finish_reason: Value) -> Value {
    let mut chunk = json!({
        "id": "*",
        "object": "chat.completion.chunk",
        "created": "*",
        "model": "fake-model",
        "choices": [{"index": 0, "delta": {}, "logprobs": null, "finish_reason": null}],
    });
    chunk["choices"][0]["delta"] = delta;
    chunk["choices"][0]["finish_reason"] = finish_reason;
    chunk
}

#[tokio::test]
async fn answers_a_completion() {
    let provider = provider_with(Reply::text("Hello there")).await;
    let response = post(&provider, PATH, &request(false)).await;
    assert_eq!(response.headers()["content-type"], "application/json");
    assert!(response.headers().contains_key("content-length"));
    let (status, body) = json(response).await;
    assert_eq!(status, 200);
    assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(
        scrubbed(body),
        json!({
            "id": "*",
            "object": "chat.completion",
            "created": "*",
            "model": "fake-model",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there", "refusal": null},
                "logprobs": null,
                "finish_reason": "stop",
            }],
            "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
        })
    );
}

#[tokio::test]
async fn streams_chunks_without_usage_by_default() {
    let provider = provider_with(Reply::text("Hello there")).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    assert_eq!(
        chunks(&events),
        vec![
            chunk(
                json!({"role": "assistant", "content": "", "refusal": null}),
                Value::Null
            ),
            chunk(json!({"content": "Hello"}), Value::Null),
            chunk(json!({"content": " there"}), Value::Null),
            chunk(json!({}), json!("stop")),
            json!("[DONE]"),
        ]
    );
    // Every chunk of one completion shares its id.
    let ids: Vec<Value> = events[..4]
        .iter()
        .map(|event| event.json()["id"].clone())
        .collect();
    assert!(ids.iter().all(|id| id == &ids[0]));
}

#[tokio::test]
async fn streams_a_usage_chunk_when_asked() {
    let provider = provider_with(Reply::text("Hello there")).await;
    let mut body = request(true);
    body["stream_options"] = json!({"include_usage": true});
    let events = read_sse(post(&provider, PATH, &body).await).await;
    let with_null_usage = |mut chunk: Value| {
        chunk["usage"] = Value::Null;
        chunk
    };
    assert_eq!(
        chunks(&events),
        vec![
            with_null_usage(chunk(
                json!({"role": "assistant", "content": "", "refusal": null}),
                Value::Null
            )),
            with_null_usage(chunk(json!({"content": "Hello"}), Value::Null)),
            with_null_usage(chunk(json!({"content": " there"}), Value::Null)),
            with_null_usage(chunk(json!({}), json!("stop"))),
            json!({
                "id": "*",
                "object": "chat.completion.chunk",
                "created": "*",
                "model": "fake-model",
                "choices": [],
                "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6},
            }),
            json!("[DONE]"),
        ]
    );
}

#[tokio::test]
async fn include_usage_false_sends_no_usage() {
    let provider = provider_with(Reply::text("Hi")).await;
    let mut body = request(true);
    body["stream_options"] = json!({"include_usage": false});
    let events = read_sse(post(&provider, PATH, &body).await).await;
    assert_eq!(events.len(), 4);
    for event in &events[..3] {
        assert!(event.json().get("usage").is_none(), "{}", event.data);
    }
}

#[tokio::test]
async fn streams_tool_calls_in_fragments() {
    let reply =
        Reply::text("Let me check.").with_tool_call("get_weather", json!({"city": "Paris"}));
    let provider = provider_with(reply).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    let chunks = chunks(&events);
    assert_eq!(chunks.len(), 9);
    assert_eq!(chunks[1], chunk(json!({"content": "Let"}), Value::Null));
    assert_eq!(
        chunks[4],
        chunk(
            json!({"tool_calls": [{
                "index": 0,
                "id": "*",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ""},
            }]}),
            Value::Null
        )
    );
    let call_id = events[4].json()["choices"][0]["delta"]["tool_calls"][0]["id"].clone();
    assert!(call_id.as_str().unwrap().starts_with("call_"));
    let mut arguments = String::new();
    for chunk in &chunks[5..7] {
        let call = &chunk["choices"][0]["delta"]["tool_calls"][0];
        assert_eq!(
            call.as_object().unwrap().len(),
            2,
            "only index and function: {call}"
        );
        assert_eq!(call["index"], 0);
        assert_eq!(call["function"].as_object().unwrap().len(), 1);
        arguments.push_str(call["function"]["arguments"].as_str().unwrap());
    }
    assert_eq!(
        serde_json::from_str::<Value>(&arguments).unwrap(),
        json!({"city": "Paris"})
    );
    assert_eq!(chunks[7], chunk(json!({}), json!("tool_calls")));
    assert_eq!(chunks[8], json!("[DONE]"));
}

#[tokio::test]
async fn answers_tool_calls_without_streaming() {
    let reply = Reply::tool_call("get_weather", json!({"city": "Paris"}))
        .with_tool_call("get_time", json!({}));
    let provider = provider_with(reply).await;
    let (_, body) = json(post(&provider, PATH, &request(false)).await).await;
    assert_eq!(
        scrubbed(body["choices"][0].clone()),
        json!({
            "index": 0,
            "message": {
                "role": "assistant",
                "content": null,
                "refusal": null,
                "tool_calls": [
                    {"id": "*", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "*", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                ],
            },
            "logprobs": null,
            "finish_reason": "tool_calls",
        })
    );
    // Two fragments for the first call's arguments, one for the second's.
    assert_eq!(body["usage"]["completion_tokens"], 3);
}

#[tokio::test]
async fn a_tool_only_stream_starts_with_null_content() {
    let provider = provider_with(Reply::tool_call("noop", json!({}))).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    assert_eq!(
        events[0].json()["choices"][0]["delta"],
        json!({"role": "assistant", "content": null, "refusal": null})
    );
}

#[tokio::test]
async fn reports_the_scripted_finish_reason_and_usage() {
    for (reason, wire) in [
        (FinishReason::Stop, "stop"),
        (FinishReason::Length, "length"),
        (FinishReason::ToolCalls, "tool_calls"),
        (FinishReason::ContentFilter, "content_filter"),
    ] {
        let provider = provider_with(Reply::text("x").finish_reason(reason).usage(11, 7)).await;
        let (_, body) = json(post(&provider, PATH, &request(false)).await).await;
        assert_eq!(body["choices"][0]["finish_reason"], wire);
        assert_eq!(
            body["usage"],
            json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18})
        );
    }
}

#[tokio::test]
async fn echoes_the_last_user_message() {
    let provider = provider_with(Reply::echo()).await;
    let body = json!({
        "model": "fake-model",
        "messages": [
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "the second one"}]},
        ],
    });
    let (_, answer) = json(post(&provider, PATH, &body).await).await;
    assert_eq!(answer["choices"][0]["message"]["content"], "the second one");
    assert_eq!(answer["usage"]["completion_tokens"], 3);

    provider.push_reply(Reply::echo());
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let events = read_sse(post(&provider, PATH, &streamed).await).await;
    let text: String = events[1..4]
        .iter()
        .map(|event| {
            event.json()["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(text, "the second one");
}

#[tokio::test]
async fn rejects_bad_bodies_with_400() {
    let provider = FakeProvider::start(Default::default()).await;
    // The capability probe's empty body.
    let (status, body) = json(post(&provider, PATH, &json!({})).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["param"], "model");

    let (status, body) = json(post(&provider, PATH, &json!({"model": "fake-model"})).await).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"error": {
            "message": "Missing required parameter: 'messages'.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "missing_required_parameter",
        }})
    );

    let response = crate::client()
        .post(format!("{}{PATH}", provider.base_url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // None of these took the scripted reply.
    assert_eq!(provider.completed_count(), 3);
}

#[tokio::test]
async fn an_unknown_model_is_openai_model_not_found() {
    let provider = FakeProvider::start(Default::default()).await;
    provider.push_reply(Reply::text("unused"));
    let body = json!({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]});
    let (status, body) = json(post(&provider, PATH, &body).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": {
            "message": "The model `gpt-9` does not exist or you do not have access to it.",
            "type": "invalid_request_error",
            "param": null,
            "code": "model_not_found",
        }})
    );
    assert_eq!(provider.pending_replies(), 1);
}

#[tokio::test]
async fn answers_scripted_errors() {
    let provider = FakeProvider::start(Default::default()).await;
    provider.push_replies([
        Reply::server_error(),
        Reply::rate_limited(),
        Reply::error(503, json!({"error": "overloaded"})),
        Reply::error_text(502, "Bad Gateway"),
    ]);
    let (status, body) = json(post(&provider, PATH, &request(true)).await).await;
    assert_eq!(status, 500);
    assert_eq!(
        body,
        json!({"error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": null,
            "code": null,
        }})
    );
    let (status, body) = json(post(&provider, PATH, &request(false)).await).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    let (status, body) = json(post(&provider, PATH, &request(false)).await).await;
    assert_eq!((status, body), (503, json!({"error": "overloaded"})));
    let response = post(&provider, PATH, &request(false)).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(response.text().await.unwrap(), "Bad Gateway");
}

/// Reads a stream until it ends or fails; returns what arrived and whether it failed.
async fn read_until_failure(mut response: reqwest::Response) -> (String, bool) {
    let mut received = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => received.extend_from_slice(&chunk),
            Ok(None) => return (String::from_utf8(received).unwrap(), false),
            Err(_) => return (String::from_utf8(received).unwrap(), true),
        }
    }
}

#[tokio::test]
async fn can_cut_the_connection_mid_stream() {
    let reply = Reply::text("one two three four").fail_after(2, StreamFailure::Disconnect);
    let provider = provider_with(reply).await;
    let (received, failed) = read_until_failure(post(&provider, PATH, &request(true)).await).await;
    assert!(failed, "the client sees a transport error");
    let events = parse_sse(&received);
    let contents: Vec<Value> = events
        .iter()
        .map(|event| event.json()["choices"][0]["delta"].clone())
        .collect();
    assert_eq!(
        contents,
        vec![
            json!({"role": "assistant", "content": "", "refusal": null}),
            json!({"content": "one"}),
            json!({"content": " two"}),
        ]
    );
    provider.wait_for_idle().await;
    let stats = provider.stats();
    assert_eq!((stats.cut, stats.aborted, stats.completed), (1, 0, 0));
}

#[tokio::test]
async fn can_send_an_error_event_mid_stream() {
    let reply = Reply::text("one two three").fail_after(1, StreamFailure::ErrorEvent);
    let provider = provider_with(reply).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    assert_eq!(events.len(), 3);
    assert_eq!(events[1].json()["choices"][0]["delta"]["content"], "one");
    assert_eq!(
        events[2].json(),
        json!({"error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": null,
            "code": null,
        }})
    );
    assert!(events.iter().all(|event| event.data != "[DONE]"));
    provider.wait_for_idle().await;
    assert_eq!(provider.completed_count(), 1);
}

#[tokio::test]
async fn failing_without_a_stream_cuts_the_body_or_answers_500() {
    let provider = FakeProvider::start(Default::default()).await;
    provider.push_replies([
        Reply::text("a b c").fail_after(1, StreamFailure::Disconnect),
        Reply::text("a b c").fail_after(1, StreamFailure::ErrorEvent),
    ]);
    let response = post(&provider, PATH, &request(false)).await;
    assert_eq!(response.status(), 200);
    assert!(response.bytes().await.is_err(), "the body is cut short");
    let (status, body) = json(post(&provider, PATH, &request(false)).await).await;
    assert_eq!(status, 500);
    assert_eq!(body["error"]["type"], "server_error");
}
