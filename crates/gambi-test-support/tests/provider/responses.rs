//! The Responses API: create, stream, and the lifecycle routes.

use gambi_test_support::{FakeProvider, FinishReason, Reply, StreamFailure};
use serde_json::{Value, json};

use crate::{get, json, post, read_sse, scrubbed};

const PATH: &str = "/v1/responses";

async fn provider_with(reply: Reply) -> FakeProvider {
    let provider = FakeProvider::start(Default::default()).await;
    provider.push_reply(reply);
    provider
}

/// The Response object the fake sends for a request with no settings, before scrubbing ids.
fn expected_response(status: &str, output: Value, usage: Value) -> Value {
    let mut response = json!({
        "id": "*",
        "object": "response",
        "created_at": "*",
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": "Be brief",
        "max_output_tokens": null,
        "max_tool_calls": null,
        "model": "fake-model",
        "output": [],
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "service_tier": "default",
        "store": true,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_logprobs": 0,
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": null,
        "user": null,
        "metadata": {},
    });
    response["output"] = output;
    response["usage"] = usage;
    response
}

fn request(stream: bool) -> Value {
    json!({"model": "fake-model", "instructions": "Be brief", "input": "Say hello", "stream": stream})
}

fn usage(input: u64, output: u64) -> Value {
    json!({
        "input_tokens": input,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input + output,
    })
}

fn text_message(status: &str, text: &str) -> Value {
    json!({
        "id": "*",
        "type": "message",
        "status": status,
        "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}],
        "role": "assistant",
    })
}

#[tokio::test]
async fn answers_a_response_object() {
    let provider = provider_with(Reply::text("Hello there")).await;
    let (status, body) = json(post(&provider, PATH, &request(false)).await).await;
    assert_eq!(status, 200);
    assert!(body["id"].as_str().unwrap().starts_with("resp_"));
    assert!(
        body["output"][0]["id"]
            .as_str()
            .unwrap()
            .starts_with("msg_")
    );
    assert!(
        body.get("output_text").is_none(),
        "output_text is an SDK convenience, not sent"
    );
    assert_eq!(
        scrubbed(body),
        expected_response(
            "completed",
            json!([text_message("completed", "Hello there")]),
            usage(4, 2)
        )
    );
}

#[tokio::test]
async fn echoes_request_settings() {
    let provider = FakeProvider::start(Default::default()).await;
    let tools = json!([{"type": "function", "name": "f", "parameters": {"type": "object"}}]);
    let body = json!({
        "model": "fake-model",
        "input": "hi",
        "temperature": 0.2,
        "top_p": 0.5,
        "max_output_tokens": 64,
        "tools": tools,
        "tool_choice": "required",
        "metadata": {"k": "v"},
        "parallel_tool_calls": false,
    });
    let (_, answer) = json(post(&provider, PATH, &body).await).await;
    assert_eq!(answer["temperature"], 0.2);
    assert_eq!(answer["top_p"], 0.5);
    assert_eq!(answer["max_output_tokens"], 64);
    assert_eq!(answer["tools"], tools);
    assert_eq!(answer["tool_choice"], "required");
    assert_eq!(answer["metadata"], json!({"k": "v"}));
    assert_eq!(answer["parallel_tool_calls"], false);
    assert_eq!(answer["instructions"], Value::Null);
}

fn types(events: &[crate::Sse]) -> Vec<&str> {
    events
        .iter()
        .map(|event| {
            let name = event.event.as_deref().unwrap();
            assert_eq!(
                event.json()["type"],
                name,
                "the event name matches the data's type"
            );
            name
        })
        .collect()
}

fn assert_sequence_numbers(events: &[crate::Sse]) {
    for (index, event) in events.iter().enumerate() {
        assert_eq!(event.json()["sequence_number"], index, "{}", event.data);
    }
}

#[tokio::test]
async fn streams_the_text_event_sequence() {
    let provider = provider_with(Reply::text("Hello there")).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_sequence_numbers(&events);
    let data: Vec<Value> = events.iter().map(|event| scrubbed(event.json())).collect();
    assert_eq!(
        data[0],
        json!({
            "type": "response.created",
            "sequence_number": 0,
            "response": expected_response("in_progress", json!([]), Value::Null),
        })
    );
    assert_eq!(
        data[2],
        json!({
            "type": "response.output_item.added",
            "sequence_number": 2,
            "output_index": 0,
            "item": {"id": "*", "type": "message", "status": "in_progress", "content": [], "role": "assistant"},
        })
    );
    assert_eq!(
        data[3],
        json!({
            "type": "response.content_part.added",
            "sequence_number": 3,
            "item_id": "*",
            "output_index": 0,
            "content_index": 0,
            "part": {"type": "output_text", "annotations": [], "logprobs": [], "text": ""},
        })
    );
    assert_eq!(
        data[5],
        json!({
            "type": "response.output_text.delta",
            "sequence_number": 5,
            "item_id": "*",
            "output_index": 0,
            "content_index": 0,
            "delta": " there",
            "logprobs": [],
        })
    );
    assert_eq!(
        data[6],
        json!({
            "type": "response.output_text.done",
            "sequence_number": 6,
            "item_id": "*",
            "output_index": 0,
            "content_index": 0,
            "text": "Hello there",
            "logprobs": [],
        })
    );
    assert_eq!(data[8]["item"], text_message("completed", "Hello there"));
    assert_eq!(
        data[9],
        json!({
            "type": "response.completed",
            "sequence_number": 9,
            "response": expected_response(
                "completed",
                json!([text_message("completed", "Hello there")]),
                usage(4, 2)
            ),
        })
    );
    // The same ids all along.
    let response_id = &events[0].json()["response"]["id"];
    assert_eq!(&events[9].json()["response"]["id"], response_id);
    let item_id = &events[2].json()["item"]["id"];
    for event in &events[3..8] {
        assert_eq!(&event.json()["item_id"], item_id);
    }
}

#[tokio::test]
async fn streams_function_calls() {
    let reply = Reply::text("Checking").with_tool_call("get_weather", json!({"city": "Paris"}));
    let provider = provider_with(reply).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_sequence_numbers(&events);
    let added = events[8].json();
    assert_eq!(added["output_index"], 1);
    let item_id = added["item"]["id"].as_str().unwrap().to_owned();
    let call_id = added["item"]["call_id"].as_str().unwrap().to_owned();
    assert!(item_id.starts_with("fc_") && call_id.starts_with("call_"));
    assert_eq!(
        scrubbed(added["item"].clone()),
        json!({"id": "*", "type": "function_call", "status": "in_progress", "arguments": "", "call_id": "*", "name": "get_weather"})
    );
    let mut arguments = String::new();
    for event in &events[9..11] {
        let data = event.json();
        assert_eq!(data["item_id"], item_id.as_str());
        assert_eq!(data["output_index"], 1);
        arguments.push_str(data["delta"].as_str().unwrap());
    }
    assert_eq!(arguments, r#"{"city":"Paris"}"#);
    assert_eq!(
        scrubbed(events[11].json()),
        json!({
            "type": "response.function_call_arguments.done",
            "sequence_number": 11,
            "item_id": "*",
            "output_index": 1,
            "name": "get_weather",
            "arguments": arguments,
        })
    );
    let completed = events[13].json();
    assert_eq!(completed["response"]["status"], "completed");
    let output = &completed["response"]["output"];
    assert_eq!(output[1]["status"], "completed");
    assert_eq!(output[1]["arguments"], arguments.as_str());
    assert_eq!(output[1]["call_id"], call_id.as_str());
}

#[tokio::test]
async fn a_function_call_alone_is_output_zero() {
    let provider = provider_with(Reply::tool_call("noop", json!({}))).await;
    let (_, body) = json(post(&provider, PATH, &request(false)).await).await;
    let output = body["output"].as_array().unwrap();
    assert_eq!(output.len(), 1);
    assert_eq!(output[0]["type"], "function_call");
    assert_eq!(output[0]["arguments"], "{}");
}

#[tokio::test]
async fn a_length_stop_is_incomplete() {
    let reply = Reply::text("cut short").finish_reason(FinishReason::Length);
    let provider = provider_with(reply.clone()).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    let last = events.last().unwrap();
    assert_eq!(last.event.as_deref(), Some("response.incomplete"));
    let response = &last.json()["response"];
    assert_eq!(response["status"], "incomplete");
    assert_eq!(
        response["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(response["output"][0]["status"], "incomplete");

    provider.push_reply(Reply::text("filtered").finish_reason(FinishReason::ContentFilter));
    let (_, body) = json(post(&provider, PATH, &request(false)).await).await;
    assert_eq!(body["status"], "incomplete");
    assert_eq!(
        body["incomplete_details"],
        json!({"reason": "content_filter"})
    );
}

#[tokio::test]
async fn sends_an_error_event_mid_stream() {
    let reply = Reply::text("one two three").fail_after(2, StreamFailure::ErrorEvent);
    let provider = provider_with(reply).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "error",
        ]
    );
    assert_sequence_numbers(&events);
    assert_eq!(
        events[6].json(),
        json!({
            "type": "error",
            "code": "server_error",
            "message": "The server had an error while processing your request. Sorry about that!",
            "param": null,
            "sequence_number": 6,
        })
    );
}

#[tokio::test]
async fn rejects_probes_and_unknown_models() {
    let provider = FakeProvider::start(Default::default()).await;
    let (status, body) = json(post(&provider, PATH, &json!({})).await).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "missing_required_parameter");
    let (status, body) =
        json(post(&provider, PATH, &json!({"model": "nope", "input": "hi"})).await).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "model_not_found");
}

#[tokio::test]
async fn keeps_responses_for_the_lifecycle_routes() {
    let provider = FakeProvider::start(Default::default()).await;
    let body = json!({
        "model": "fake-model",
        "input": [
            {"role": "user", "content": "one"},
            {"type": "message", "role": "assistant", "content": "two"},
            {"role": "user", "content": [{"type": "input_text", "text": "three"}]},
        ],
    });
    let (_, created) = json(post(&provider, PATH, &body).await).await;
    let id = created["id"].as_str().unwrap();

    let (status, retrieved) = json(get(&provider, &format!("{PATH}/{id}")).await).await;
    assert_eq!(status, 200);
    assert_eq!(retrieved, created);
    assert_eq!(provider.stored_response(id).unwrap(), created);

    // Newest first by default.
    let (status, items) = json(get(&provider, &format!("{PATH}/{id}/input_items")).await).await;
    assert_eq!(status, 200);
    assert_eq!(items["object"], "list");
    assert_eq!(items["has_more"], false);
    let data = items["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(items["first_id"], data[0]["id"]);
    assert_eq!(items["last_id"], data[2]["id"]);
    assert_eq!(
        scrubbed(data[0].clone()),
        json!({"id": "*", "type": "message", "role": "user", "status": "completed",
               "content": [{"type": "input_text", "text": "three"}]})
    );
    assert_eq!(
        data[1]["content"],
        json!([{"type": "output_text", "text": "two"}])
    );

    let (_, page) = json(
        get(
            &provider,
            &format!("{PATH}/{id}/input_items?order=asc&limit=2"),
        )
        .await,
    )
    .await;
    assert_eq!(page["has_more"], true);
    assert_eq!(page["data"][0]["content"][0]["text"], "one");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let after = page["last_id"].as_str().unwrap();
    let (_, rest) = json(
        get(
            &provider,
            &format!("{PATH}/{id}/input_items?order=asc&limit=2&after={after}"),
        )
        .await,
    )
    .await;
    assert_eq!(rest["has_more"], false);
    assert_eq!(rest["data"][0]["content"][0]["text"], "three");

    // Cancelling a finished response leaves it as it is.
    let (status, cancelled) =
        json(post(&provider, &format!("{PATH}/{id}/cancel"), &json!({})).await).await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["status"], "completed");

    let response = crate::client()
        .delete(format!("{}{PATH}/{id}", provider.base_url()))
        .send()
        .await
        .unwrap();
    let (status, deleted) = json(response).await;
    assert_eq!(status, 200);
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );

    for path in [format!("{PATH}/{id}"), format!("{PATH}/{id}/input_items")] {
        let (status, body) = json(get(&provider, &path).await).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(
            body,
            json!({"error": {
                "message": format!("Response with id '{id}' not found."),
                "type": "invalid_request_error",
                "param": null,
                "code": null,
            }})
        );
    }
    let response = crate::client()
        .delete(format!("{}{PATH}/{id}", provider.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let (status, _) = json(
        post(
            &provider,
            &format!("{PATH}/resp_unknown/cancel"),
            &json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_streamed_response_is_stored_once_complete() {
    let provider = provider_with(Reply::text("Hi there")).await;
    let events = read_sse(post(&provider, PATH, &request(true)).await).await;
    let completed = events.last().unwrap().json()["response"].clone();
    let id = completed["id"].as_str().unwrap();
    provider.wait_for_idle().await;
    let (status, retrieved) = json(get(&provider, &format!("{PATH}/{id}")).await).await;
    assert_eq!(status, 200);
    assert_eq!(retrieved, completed);
}

#[tokio::test]
async fn store_false_keeps_nothing() {
    let provider = FakeProvider::start(Default::default()).await;
    let body = json!({"model": "fake-model", "input": "hi", "store": false});
    let (_, created) = json(post(&provider, PATH, &body).await).await;
    assert_eq!(created["store"], false);
    let id = created["id"].as_str().unwrap();
    let (status, _) = json(get(&provider, &format!("{PATH}/{id}")).await).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn cancels_a_response_in_progress() {
    let provider = provider_with(Reply::text("a b c").stall_after(1)).await;
    let mut response = post(&provider, PATH, &request(true)).await;
    let created = crate::first_events(&mut response, 1).await[0].json();
    let id = created["response"]["id"].as_str().unwrap();
    let (status, cancelled) =
        json(post(&provider, &format!("{PATH}/{id}/cancel"), &json!({})).await).await;
    assert_eq!(status, 200);
    assert_eq!(cancelled["status"], "cancelled");
    drop(response);
    provider.wait_for_abort().await;
}

#[tokio::test]
async fn previous_response_id_continues_the_conversation() {
    let provider = FakeProvider::builder()
        .default_reply(Reply::echo())
        .start()
        .await;
    let first = json!({"model": "fake-model", "input": "Remember the word banana"});
    let (_, first) = json(post(&provider, PATH, &first).await).await;
    assert_eq!(
        first["output"][0]["content"][0]["text"],
        "Remember the word banana"
    );
    assert_eq!(first["usage"]["input_tokens"], 4);

    // A turn with no user message of its own echoes the last one of the history.
    let second = json!({
        "model": "fake-model",
        "previous_response_id": first["id"],
        "input": [{"type": "function_call_output", "call_id": "call_1", "output": "42"}],
    });
    let (status, second) = json(post(&provider, PATH, &second).await).await;
    assert_eq!(status, 200);
    assert_eq!(second["previous_response_id"], first["id"]);
    assert_eq!(
        second["output"][0]["content"][0]["text"],
        "Remember the word banana"
    );
    // The history counts as input: 4 + 4 (the first answer) + 1 (the tool output).
    assert_eq!(second["usage"]["input_tokens"], 9);
    let id = second["id"].as_str().unwrap();
    let (_, items) = json(get(&provider, &format!("{PATH}/{id}/input_items")).await).await;
    let data = items["data"].as_array().unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["type"], "function_call_output");
    assert!(data[0]["id"].as_str().unwrap().starts_with("item_"));

    let third =
        json!({"model": "fake-model", "previous_response_id": "resp_missing", "input": "hi"});
    let (status, body) = json(post(&provider, PATH, &third).await).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"error": {
            "message": "Previous response with id 'resp_missing' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }})
    );
}
