//! Answers in the client's protocol: a Chat Completions answer as a Response object or a
//! Responses event stream, and a Responses answer as a `chat.completion` or its chunks.

use gambi_test_support::{FinishReason, Protocols, Reply, StreamFailure};
use serde_json::{Value, json};

use crate::support::{
    RoomEvents, Sse, body, cluster_with, generations, post_json, speaking, stream,
};

fn is_id(value: &Value, prefix: &str) -> bool {
    value
        .as_str()
        .is_some_and(|id| id.len() > prefix.len() && id.starts_with(prefix))
}

/// Checks Chat Completions `usage` counts (token details may come along).
fn assert_usage(usage: &Value, prompt: u64, completion: u64) {
    assert_eq!(usage["prompt_tokens"], prompt, "{usage}");
    assert_eq!(usage["completion_tokens"], completion, "{usage}");
    assert_eq!(usage["total_tokens"], prompt + completion, "{usage}");
}

// ---- Chat Completions answer -> Response object ----

#[tokio::test]
async fn a_chat_answer_becomes_a_complete_response() {
    let cluster = cluster_with(speaking("alice", "llama3", Protocols::ChatOnly)).await;
    cluster.member("alice").provider.push_reply(
        Reply::text("Let me look that up.")
            .with_tool_call("lookup", json!({"query": "rust"}))
            .usage(11, 7),
    );
    let request = json!({"model": "llama3", "input": "What is Rust?", "temperature": 0.5});
    let (status, response) = post_json(&cluster, "/responses", &request).await;
    assert_eq!(status, 200, "{response}");

    assert_eq!(response["object"], "response");
    assert!(is_id(&response["id"], "resp_"), "{response}");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["model"], "llama3");
    assert!(response["created_at"].as_u64().unwrap() > 0);
    assert_eq!(response["error"], Value::Null);
    assert_eq!(response["incomplete_details"], Value::Null);
    assert_eq!(response["temperature"], 0.5);
    assert_eq!(response["output_text"], "Let me look that up.");

    let output = response["output"].as_array().unwrap();
    assert_eq!(output.len(), 2, "{response}");
    let message = &output[0];
    assert_eq!(message["type"], "message");
    assert!(is_id(&message["id"], "msg_"), "{message}");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["status"], "completed");
    assert_eq!(message["content"][0]["type"], "output_text");
    assert_eq!(message["content"][0]["text"], "Let me look that up.");
    assert_eq!(message["content"][0]["annotations"], json!([]));
    let call = &output[1];
    assert_eq!(call["type"], "function_call");
    assert!(is_id(&call["id"], "fc_"), "{call}");
    assert!(is_id(&call["call_id"], "call_"), "{call}");
    assert_eq!(call["name"], "lookup");
    assert_eq!(call["arguments"], json!({"query": "rust"}).to_string());
    assert_eq!(call["status"], "completed");

    assert_eq!(response["usage"]["input_tokens"], 11);
    assert_eq!(response["usage"]["output_tokens"], 7);
    assert_eq!(response["usage"]["total_tokens"], 18);
}

#[tokio::test]
async fn a_truncated_chat_answer_is_an_incomplete_response() {
    let cluster = cluster_with(speaking("bob", "llama3", Protocols::ChatOnly)).await;
    cluster
        .member("bob")
        .provider
        .push_reply(Reply::text("Once upon a").finish_reason(FinishReason::Length));
    let request = json!({"model": "llama3", "input": "Tell a story", "max_output_tokens": 3});
    let (status, response) = post_json(&cluster, "/responses", &request).await;
    assert_eq!(status, 200, "{response}");
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(response["output_text"], "Once upon a");
    assert_eq!(response["output"][0]["status"], "incomplete");
}

// ---- Chat Completions stream -> Responses stream ----

fn kinds(frames: &[Sse]) -> Vec<&str> {
    frames.iter().map(|frame| frame.event.as_str()).collect()
}

/// Checks what every Responses stream event must satisfy: `event:` equals the data's `type`,
/// and `sequence_number` counts up from 0 by one.
fn check_envelope(frames: &[Sse]) {
    for (index, frame) in frames.iter().enumerate() {
        let data = frame.json();
        assert_eq!(data["type"], frame.event.as_str(), "{}", frame.data);
        assert_eq!(data["sequence_number"], index, "{}", frame.data);
    }
}

fn concat(frames: &[Sse], kind: &str) -> String {
    frames
        .iter()
        .filter(|frame| frame.event == kind)
        .map(|frame| frame.json()["delta"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_chat_stream_becomes_the_full_responses_event_sequence() {
    let cluster = cluster_with(speaking("carol", "llama3", Protocols::ChatOnly)).await;
    cluster.member("carol").provider.push_reply(
        Reply::text("Sure thing")
            .with_tool_call("lookup", json!({"query": "weather in Lisbon"}))
            .usage(5, 9),
    );
    let mut events = RoomEvents::subscribe(&cluster).await;
    let request = json!({"model": "llama3", "input": "Look it up", "stream": true});
    let frames = stream(&cluster, "/responses", &request).await;
    check_envelope(&frames);

    let arguments = json!({"query": "weather in Lisbon"}).to_string();
    let argument_deltas = frames
        .iter()
        .filter(|frame| frame.event == "response.function_call_arguments.delta")
        .count();
    assert!(argument_deltas > 1, "arguments stream in fragments");
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
    ];
    expected.extend(vec![
        "response.function_call_arguments.delta";
        argument_deltas
    ]);
    expected.extend([
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(kinds(&frames), expected);

    // Text first (output 0), then the tool call (output 1).
    for frame in &frames {
        let data = frame.json();
        let text_event =
            frame.event.contains("output_text") || frame.event.contains("content_part");
        let call_event = frame.event.contains("function_call_arguments");
        if text_event {
            assert_eq!(data["output_index"], 0, "{}", frame.data);
        }
        if call_event {
            assert_eq!(data["output_index"], 1, "{}", frame.data);
        }
    }
    assert_eq!(concat(&frames, "response.output_text.delta"), "Sure thing");
    assert_eq!(
        concat(&frames, "response.function_call_arguments.delta"),
        arguments
    );
    let text_done = frames[6].json();
    assert_eq!(text_done["text"], "Sure thing");
    let message_id = frames[2].json()["item"]["id"].clone();
    assert!(is_id(&message_id, "msg_"));
    assert_eq!(frames[4].json()["item_id"], message_id);
    let call_added = frames[9].json();
    assert_eq!(call_added["output_index"], 1);
    assert_eq!(call_added["item"]["type"], "function_call");
    assert_eq!(call_added["item"]["name"], "lookup");
    let arguments_done = &frames[frames.len() - 3].json();
    assert_eq!(arguments_done["arguments"], arguments.as_str());
    assert_eq!(arguments_done["item_id"], call_added["item"]["id"]);

    let created = frames[0].json();
    let completed = frames.last().unwrap().json();
    let response = &completed["response"];
    assert_eq!(response["id"], created["response"]["id"]);
    assert!(is_id(&response["id"], "resp_"));
    assert_eq!(created["response"]["status"], "in_progress");
    assert_eq!(response["status"], "completed");
    assert_eq!(response["output_text"], "Sure thing");
    assert_eq!(response["output"][0]["type"], "message");
    assert_eq!(response["output"][1]["type"], "function_call");
    assert_eq!(response["output"][1]["arguments"], arguments.as_str());
    assert_eq!(
        response["usage"]["input_tokens"], 5,
        "usage in the completed response: {response}"
    );
    assert_eq!(response["usage"]["output_tokens"], 9);
    assert_eq!(response["usage"]["total_tokens"], 14);
    assert!(
        frames.iter().all(|frame| frame.data != "[DONE]"),
        "the Responses API writes no [DONE]"
    );

    let seen = events.request().await;
    let complete = &seen.last().unwrap()["data"];
    assert_eq!(complete["metrics"]["inputTokens"], 5, "{complete}");
    assert_eq!(complete["metrics"]["outputTokens"], 9, "{complete}");
}

#[tokio::test]
async fn a_provider_error_mid_stream_ends_with_response_failed() {
    let cluster = cluster_with(speaking("dave", "llama3", Protocols::ChatOnly)).await;
    cluster
        .member("dave")
        .provider
        .push_reply(Reply::text("one two three four").fail_after(2, StreamFailure::ErrorEvent));
    let mut events = RoomEvents::subscribe(&cluster).await;
    let request = json!({"model": "llama3", "input": "count", "stream": true});
    let frames = stream(&cluster, "/responses", &request).await;
    check_envelope(&frames);
    assert_eq!(concat(&frames, "response.output_text.delta"), "one two");
    let last = frames.last().unwrap();
    assert_eq!(last.event, "response.failed", "{:?}", kinds(&frames));
    let response = &last.json()["response"];
    assert_eq!(response["status"], "failed");
    assert!(
        response["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{response}"
    );
    assert!(
        !kinds(&frames).contains(&"response.completed"),
        "{:?}",
        kinds(&frames)
    );
    let seen = events.request().await;
    let terminal = seen.last().unwrap();
    assert_eq!(
        terminal["type"], "llm.error",
        "a failed response is not a completed request: {terminal}"
    );
    assert_eq!(terminal["data"]["stage"], "stream", "{terminal}");
    assert_eq!(terminal["data"]["adapted"], true, "{terminal}");
}

#[tokio::test]
async fn a_truncated_chat_stream_ends_with_response_incomplete() {
    let cluster = cluster_with(speaking("erin", "llama3", Protocols::ChatOnly)).await;
    cluster
        .member("erin")
        .provider
        .push_reply(Reply::text("Once upon a").finish_reason(FinishReason::Length));
    let request =
        json!({"model": "llama3", "input": "story", "stream": true, "max_output_tokens": 3});
    let frames = stream(&cluster, "/responses", &request).await;
    check_envelope(&frames);
    let last = frames.last().unwrap();
    assert_eq!(last.event, "response.incomplete", "{:?}", kinds(&frames));
    let response = &last.json()["response"];
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(response["output_text"], "Once upon a");
}

// ---- Responses answer -> Chat Completions ----

#[tokio::test]
async fn a_responses_answer_becomes_a_chat_completion() {
    let cluster = cluster_with(speaking("fay", "llama3", Protocols::ResponsesOnly)).await;
    cluster.member("fay").provider.push_reply(
        Reply::text("Checking.")
            .with_tool_call("lookup", json!({"query": "tides"}))
            .usage(6, 4),
    );
    let request = json!({
        "model": "llama3",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "High tide?"},
        ],
        "max_tokens": 20,
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
    });
    let (status, completion) = post_json(&cluster, "/chat/completions", &request).await;
    assert_eq!(status, 200, "{completion}");
    assert_eq!(completion["object"], "chat.completion");
    assert!(is_id(&completion["id"], "chatcmpl-"), "{completion}");
    assert_eq!(completion["model"], "llama3");
    let choice = &completion["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Checking.");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert!(is_id(&call["id"], "call_"), "{call}");
    assert_eq!(call["function"]["name"], "lookup");
    assert_eq!(
        call["function"]["arguments"],
        json!({"query": "tides"}).to_string()
    );
    assert_usage(&completion["usage"], 6, 4);

    let sent = body(&generations(&cluster, "fay")[0]);
    assert_eq!(sent["instructions"], "You are terse.");
    assert_eq!(sent["input"][0]["role"], "user");
    assert_eq!(sent["max_output_tokens"], 20);
    assert_eq!(
        sent["tools"],
        json!([{"type": "function", "name": "lookup", "parameters": {"type": "object"}, "strict": false}])
    );
}

#[tokio::test]
async fn a_truncated_responses_answer_finishes_with_length() {
    let cluster = cluster_with(speaking("gus", "llama3", Protocols::ResponsesOnly)).await;
    cluster
        .member("gus")
        .provider
        .push_reply(Reply::text("Once upon").finish_reason(FinishReason::Length));
    let request = json!({"model": "llama3", "messages": [{"role": "user", "content": "story"}]});
    let (status, completion) = post_json(&cluster, "/chat/completions", &request).await;
    assert_eq!(status, 200, "{completion}");
    assert_eq!(completion["choices"][0]["finish_reason"], "length");
    assert_eq!(completion["choices"][0]["message"]["content"], "Once upon");
}

/// The JSON chunks of a Chat Completions stream; checks it ends with `[DONE]`.
fn chunks(frames: &[Sse]) -> Vec<Value> {
    let (done, chunks) = frames.split_last().expect("a non-empty stream");
    assert_eq!(done.data, "[DONE]", "the stream ends with [DONE]");
    chunks
        .iter()
        .map(|frame| {
            let chunk = frame.json();
            assert_eq!(chunk["object"], "chat.completion.chunk", "{}", frame.data);
            chunk
        })
        .collect()
}

#[tokio::test]
async fn a_responses_stream_becomes_chat_chunks_with_tool_calls_and_usage() {
    let cluster = cluster_with(speaking("hal", "llama3", Protocols::ResponsesOnly)).await;
    cluster.member("hal").provider.push_reply(
        Reply::text("On it")
            .with_tool_call("lookup", json!({"query": "moon phase"}))
            .usage(8, 12),
    );
    let mut events = RoomEvents::subscribe(&cluster).await;
    let request = json!({
        "model": "llama3",
        "messages": [{"role": "user", "content": "Moon?"}],
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let frames = stream(&cluster, "/chat/completions", &request).await;
    let chunks = chunks(&frames);
    let id = chunks[0]["id"].clone();
    assert!(is_id(&id, "chatcmpl-"));
    assert!(chunks.iter().all(|chunk| chunk["id"] == id));

    let (usage_chunk, choice_chunks) = chunks.split_last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]), "{usage_chunk}");
    assert_usage(&usage_chunk["usage"], 8, 12);
    assert_eq!(choice_chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let deltas: Vec<&Value> = choice_chunks
        .iter()
        .map(|chunk| &chunk["choices"][0]["delta"])
        .collect();
    let text: String = deltas
        .iter()
        .filter_map(|delta| delta["content"].as_str())
        .collect();
    assert_eq!(text, "On it");
    let calls: Vec<&Value> = deltas
        .iter()
        .filter_map(|delta| delta["tool_calls"].as_array())
        .flatten()
        .collect();
    assert!(calls.iter().all(|call| call["index"] == 0), "{calls:?}");
    assert!(is_id(&calls[0]["id"], "call_"), "{:?}", calls[0]);
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "lookup");
    let arguments: String = calls
        .iter()
        .filter_map(|call| call["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, json!({"query": "moon phase"}).to_string());
    let finish = choice_chunks.last().unwrap();
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    let finishes = choice_chunks
        .iter()
        .filter(|chunk| !chunk["choices"][0]["finish_reason"].is_null())
        .count();
    assert_eq!(finishes, 1);

    let sent = body(&generations(&cluster, "hal")[0]);
    assert_eq!(sent["stream"], true);
    assert!(
        sent.get("stream_options").is_none(),
        "a Chat Completions option, not for the Responses provider: {sent}"
    );

    let seen = events.request().await;
    let complete = &seen.last().unwrap()["data"];
    assert_eq!(complete["adapted"], true, "{complete}");
    assert_eq!(complete["metrics"]["inputTokens"], 8, "{complete}");
    assert_eq!(complete["metrics"]["outputTokens"], 12, "{complete}");
}

#[tokio::test]
async fn without_include_usage_no_usage_chunk_is_sent() {
    let cluster = cluster_with(speaking("ivy", "llama3", Protocols::ResponsesOnly)).await;
    let request = json!({
        "model": "llama3",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": true,
    });
    let frames = stream(&cluster, "/chat/completions", &request).await;
    let chunks = chunks(&frames);
    assert!(
        chunks
            .iter()
            .all(|chunk| !chunk["choices"].as_array().unwrap().is_empty()),
        "{chunks:#?}"
    );
    assert!(
        chunks.iter().all(|chunk| chunk["usage"].is_null()),
        "{chunks:#?}"
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
}

#[tokio::test]
async fn a_provider_error_mid_responses_stream_ends_the_chat_stream_with_an_error() {
    let cluster = cluster_with(speaking("jo", "llama3", Protocols::ResponsesOnly)).await;
    cluster
        .member("jo")
        .provider
        .push_reply(Reply::text("one two three four").fail_after(2, StreamFailure::ErrorEvent));
    let mut events = RoomEvents::subscribe(&cluster).await;
    let request = json!({
        "model": "llama3",
        "messages": [{"role": "user", "content": "count"}],
        "stream": true,
    });
    let frames = stream(&cluster, "/chat/completions", &request).await;
    let last = frames.last().unwrap();
    assert!(
        last.json()["error"]["message"].is_string(),
        "ends with an error frame: {frames:#?}"
    );
    assert!(frames.iter().all(|frame| frame.data != "[DONE]"));
    let seen = events.request().await;
    let terminal = seen.last().unwrap();
    assert_eq!(terminal["type"], "llm.error", "{terminal}");
    assert_eq!(terminal["data"]["stage"], "stream", "{terminal}");
}

#[tokio::test]
async fn parallel_tool_calls_stream_as_separate_output_items() {
    let cluster = cluster_with(speaking("kim", "llama3", Protocols::ChatOnly)).await;
    cluster.member("kim").provider.push_reply(
        Reply::tool_call("first", json!({"a": 1})).with_tool_call("second", json!({"b": 2})),
    );
    let request = json!({"model": "llama3", "input": "both", "stream": true});
    let frames = stream(&cluster, "/responses", &request).await;
    check_envelope(&frames);
    let added: Vec<Value> = frames
        .iter()
        .filter(|frame| frame.event == "response.output_item.added")
        .map(Sse::json)
        .collect();
    assert_eq!(added.len(), 2, "{:?}", kinds(&frames));
    for (index, name) in ["first", "second"].iter().enumerate() {
        assert_eq!(added[index]["output_index"], index);
        assert_eq!(added[index]["item"]["name"], *name);
        let item_id = &added[index]["item"]["id"];
        let arguments: String = frames
            .iter()
            .filter(|frame| frame.event == "response.function_call_arguments.delta")
            .map(Sse::json)
            .filter(|delta| &delta["item_id"] == item_id)
            .inspect(|delta| assert_eq!(delta["output_index"], index))
            .map(|delta| delta["delta"].as_str().unwrap().to_owned())
            .collect();
        let expected = if index == 0 {
            json!({"a": 1})
        } else {
            json!({"b": 2})
        };
        assert_eq!(arguments, expected.to_string());
    }
    let response = &frames.last().unwrap().json()["response"];
    assert_eq!(response["status"], "completed");
    assert_eq!(response["output"].as_array().unwrap().len(), 2);
    assert_eq!(response["output_text"], "");

    // And the other way: two calls become tool-call deltas with indexes 0 and 1.
    let cluster = cluster_with(speaking("lou", "llama3", Protocols::ResponsesOnly)).await;
    cluster.member("lou").provider.push_reply(
        Reply::tool_call("first", json!({"a": 1})).with_tool_call("second", json!({"b": 2})),
    );
    let request = json!({"model": "llama3", "messages": [{"role": "user", "content": "both"}], "stream": true});
    let frames = stream(&cluster, "/chat/completions", &request).await;
    let chunks = chunks(&frames);
    let calls: Vec<Value> = chunks
        .iter()
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["tool_calls"]
                .as_array()
                .cloned()
        })
        .flatten()
        .collect();
    for (index, name) in ["first", "second"].iter().enumerate() {
        let of_call: Vec<&Value> = calls.iter().filter(|call| call["index"] == index).collect();
        assert_eq!(of_call[0]["function"]["name"], *name, "{calls:?}");
        assert!(is_id(&of_call[0]["id"], "call_"), "{calls:?}");
        let arguments: String = of_call
            .iter()
            .filter_map(|call| call["function"]["arguments"].as_str())
            .collect();
        let expected = if index == 0 {
            json!({"a": 1})
        } else {
            json!({"b": 2})
        };
        assert_eq!(arguments, expected.to_string());
    }
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn a_provider_error_status_reaches_the_adapted_client_as_is() {
    for (protocols, path, request) in [
        (
            Protocols::ChatOnly,
            "/responses",
            json!({"model": "llama3", "input": "hi"}),
        ),
        (
            Protocols::ResponsesOnly,
            "/chat/completions",
            json!({"model": "llama3", "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ] {
        let cluster = cluster_with(speaking("max", "llama3", protocols)).await;
        let mut events = RoomEvents::subscribe(&cluster).await;
        for streamed in [false, true] {
            cluster
                .member("max")
                .provider
                .push_reply(Reply::rate_limited());
            let mut request = request.clone();
            request["stream"] = json!(streamed);
            let (status, answer) = post_json(&cluster, path, &request).await;
            assert_eq!(status, 429, "{answer}");
            assert_eq!(answer["error"]["code"], "rate_limit_exceeded", "{answer}");
            let seen = events.request().await;
            let terminal = &seen.last().unwrap()["data"];
            assert_eq!(terminal["status"], 429, "{terminal}");
            assert_eq!(terminal["adapted"], true, "{terminal}");
        }
    }
}

#[tokio::test]
async fn a_provider_cut_mid_stream_ends_each_adapted_stream_with_an_error() {
    let cluster = cluster_with(speaking("pat", "llama3", Protocols::ChatOnly)).await;
    cluster
        .member("pat")
        .provider
        .push_reply(Reply::text("one two three four").fail_after(2, StreamFailure::Disconnect));
    let mut events = RoomEvents::subscribe(&cluster).await;
    let request = json!({"model": "llama3", "input": "count", "stream": true});
    let frames = stream(&cluster, "/responses", &request).await;
    check_envelope(&frames);
    assert_eq!(concat(&frames, "response.output_text.delta"), "one two");
    let last = frames.last().unwrap();
    assert_eq!(last.event, "response.failed", "{:?}", kinds(&frames));
    assert_eq!(last.json()["response"]["status"], "failed");
    let terminal = events.request().await.pop().unwrap();
    assert_eq!(terminal["type"], "llm.error", "{terminal}");
    assert_eq!(terminal["data"]["stage"], "stream", "{terminal}");

    let cluster = cluster_with(speaking("quin", "llama3", Protocols::ResponsesOnly)).await;
    cluster
        .member("quin")
        .provider
        .push_reply(Reply::text("one two three four").fail_after(2, StreamFailure::Disconnect));
    let mut events = RoomEvents::subscribe(&cluster).await;
    let request = json!({
        "model": "llama3",
        "messages": [{"role": "user", "content": "count"}],
        "stream": true,
    });
    let frames = stream(&cluster, "/chat/completions", &request).await;
    let last = frames.last().unwrap();
    assert!(last.json()["error"]["message"].is_string(), "{frames:#?}");
    assert!(frames.iter().all(|frame| frame.data != "[DONE]"));
    let terminal = events.request().await.pop().unwrap();
    assert_eq!(terminal["type"], "llm.error", "{terminal}");
}
