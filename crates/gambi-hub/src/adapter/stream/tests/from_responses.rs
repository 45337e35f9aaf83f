//! Responses -> Chat Completions.

use super::*;

#[test]
fn r2c_text_stream_with_usage_exact_chunks() {
    let request = json!({"stream": true, "stream_options": {"include_usage": true}});
    let (chunks, stream) = run_r2c(request, &responses_text_stream());
    assert_eq!(
        chunks,
        vec![
            chat_chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                true
            ),
            chat_chunk(json!({"content": "Hel"}), Value::Null, true),
            chat_chunk(json!({"content": "lo"}), Value::Null, true),
            chat_chunk(json!({}), json!("stop"), true),
            json!({"id": cid(), "object": "chat.completion.chunk", "created": 1_700_000_000,
                   "model": "gpt-x", "choices": [],
                   "usage": {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9,
                             "prompt_tokens_details": {"cached_tokens": 0},
                             "completion_tokens_details": {"reasoning_tokens": 0}}}),
            json!("[DONE]"),
        ]
    );
    assert_eq!(stream.usage().and_then(|u| u.total_tokens), Some(9));
    assert!(stream.first_content_emitted());
    assert_eq!(
        stream.final_response().map(|r| &r["id"]),
        Some(&json!("resp_1"))
    );
}

#[test]
fn r2c_without_include_usage() {
    let (chunks, _) = run_r2c(json!({"stream": true}), &responses_text_stream());
    assert_eq!(
        chunks,
        vec![
            chat_chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                false
            ),
            chat_chunk(json!({"content": "Hel"}), Value::Null, false),
            chat_chunk(json!({"content": "lo"}), Value::Null, false),
            chat_chunk(json!({}), json!("stop"), false),
            json!("[DONE]"),
        ]
    );
}

#[test]
fn r2c_function_calls() {
    let upstream = [
        event("response.created", json!({"sequence_number": 0, "response": {"id": "resp_1"}})),
        event("response.output_item.added", json!({"sequence_number": 1, "output_index": 0, "item": {"id": "fc_1", "type": "function_call", "status": "in_progress", "arguments": "", "call_id": "call_1", "name": "get_weather"}})),
        event("response.function_call_arguments.delta", json!({"sequence_number": 2, "item_id": "fc_1", "output_index": 0, "delta": "{\"city\":"})),
        event("response.function_call_arguments.delta", json!({"sequence_number": 3, "item_id": "fc_1", "output_index": 0, "delta": "\"Paris\"}"})),
        event("response.function_call_arguments.done", json!({"sequence_number": 4, "item_id": "fc_1", "output_index": 0, "arguments": "{\"city\":\"Paris\"}"})),
        event("response.output_item.done", json!({"sequence_number": 5, "output_index": 0, "item": {"id": "fc_1", "type": "function_call", "status": "completed", "arguments": "{\"city\":\"Paris\"}", "call_id": "call_1", "name": "get_weather"}})),
        event("response.output_item.added", json!({"sequence_number": 6, "output_index": 1, "item": {"id": "fc_2", "type": "function_call", "status": "in_progress", "arguments": "", "call_id": "call_2", "name": "get_time"}})),
        event("response.function_call_arguments.delta", json!({"sequence_number": 7, "item_id": "fc_2", "output_index": 1, "delta": "{}"})),
        event("response.output_item.done", json!({"sequence_number": 8, "output_index": 1, "item": {"id": "fc_2", "type": "function_call", "status": "completed", "arguments": "{}", "call_id": "call_2", "name": "get_time"}})),
        event("response.completed", json!({"sequence_number": 9, "response": {"id": "resp_1", "status": "completed", "output": [], "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2}}})),
    ]
    .concat();
    let (chunks, _) = run_r2c(json!({}), &upstream);
    assert_eq!(
        chunks,
        vec![
            chat_chunk(
                json!({"role": "assistant", "content": null}),
                Value::Null,
                false
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                              "function": {"name": "get_weather", "arguments": ""}}]}),
                Value::Null,
                false
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                Value::Null,
                false
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
                Value::Null,
                false
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 1, "id": "call_2", "type": "function",
                                              "function": {"name": "get_time", "arguments": ""}}]}),
                Value::Null,
                false
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
                Value::Null,
                false
            ),
            chat_chunk(json!({}), json!("tool_calls"), false),
            json!("[DONE]"),
        ]
    );
}

#[test]
fn r2c_catches_up_providers_without_deltas() {
    // Only the final event: text, refusal and a function call come from `response.completed`.
    let upstream = event(
        "response.completed",
        json!({"sequence_number": 0, "response": {"id": "resp_1", "status": "completed", "output": [
            {"id": "msg_1", "type": "message", "content": [{"type": "output_text", "text": "Hi"}]},
            {"id": "fc_1", "type": "function_call", "call_id": "call_9", "name": "f", "arguments": "{\"a\":1}"},
        ]}}),
    );
    let (chunks, stream) = run_r2c(json!({}), &upstream);
    assert_eq!(
        chunks,
        vec![
            chat_chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                false
            ),
            chat_chunk(json!({"content": "Hi"}), Value::Null, false),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_9", "type": "function",
                                              "function": {"name": "f", "arguments": ""}}]}),
                Value::Null,
                false
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":1}"}}]}),
                Value::Null,
                false
            ),
            chat_chunk(json!({}), json!("tool_calls"), false),
            json!("[DONE]"),
        ]
    );
    assert_eq!(stream.usage(), None);
}

#[test]
fn r2c_incomplete_refusal_and_logprobs() {
    let lp = json!([{"token": "On", "logprob": -0.2, "bytes": [79, 110], "top_logprobs": []}]);
    let upstream = [
        event("response.output_text.delta", json!({"item_id": "msg_1", "content_index": 0, "delta": "On", "logprobs": lp})),
        event("response.refusal.delta", json!({"item_id": "msg_1", "content_index": 1, "delta": "No"})),
        event("response.refusal.done", json!({"item_id": "msg_1", "content_index": 1, "refusal": "No"})),
        event("response.incomplete", json!({"response": {"status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "output": []}})),
    ]
    .concat();
    let (chunks, _) = run_r2c(json!({"logprobs": true}), &upstream);
    let mut text = chat_chunk(json!({"content": "On"}), Value::Null, false);
    text["choices"][0]["logprobs"] = json!({"content": lp, "refusal": null});
    assert_eq!(
        chunks,
        vec![
            chat_chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                false
            ),
            text,
            chat_chunk(json!({"refusal": "No"}), Value::Null, false),
            chat_chunk(json!({}), json!("length"), false),
            json!("[DONE]"),
        ]
    );
}

#[test]
fn r2c_failures_become_error_frames() {
    let error_frame = |message: &str, code: Value, param: Value| json!({"error": {"message": message, "type": "server_error", "param": param, "code": code}});
    let cases = [
        (
            [
                event("response.created", json!({"response": {"id": "r"}})),
                event("response.output_text.delta", json!({"item_id": "m", "content_index": 0, "delta": "Hi"})),
                event("response.failed", json!({"response": {"id": "r", "status": "failed", "error": {"code": "server_error", "message": "The model crashed."}}})),
                event("response.output_text.delta", json!({"item_id": "m", "content_index": 0, "delta": "more"})),
            ]
            .concat(),
            vec![
                chat_chunk(json!({"role": "assistant", "content": ""}), Value::Null, false),
                chat_chunk(json!({"content": "Hi"}), Value::Null, false),
                error_frame("The model crashed.", json!("server_error"), Value::Null),
            ],
        ),
        (
            event("error", json!({"code": "rate_limit_exceeded", "message": "Slow down", "param": null, "sequence_number": 0})),
            vec![error_frame("Slow down", json!("rate_limit_exceeded"), Value::Null)],
        ),
        (
            "data: {\"error\":{\"message\":\"bad gateway\"}}\n\n".to_owned(),
            vec![error_frame("bad gateway", Value::Null, Value::Null)],
        ),
        (
            "event: error\ndata: plain text failure\n\n".to_owned(),
            vec![error_frame("plain text failure", Value::Null, Value::Null)],
        ),
        (
            [
                event("response.created", json!({"response": {"id": "r"}})),
                "data: {broken\n\n".to_owned(),
                event("response.output_text.delta", json!({"item_id": "m", "content_index": 0, "delta": "cut"})),
            ]
            .concat(),
            vec![
                chat_chunk(json!({"role": "assistant", "content": ""}), Value::Null, false),
                chat_chunk(json!({"content": "cut"}), Value::Null, false),
                error_frame(
                    "The provider's stream ended before the response was finished.",
                    Value::Null,
                    Value::Null,
                ),
            ],
        ),
    ];
    for (upstream, expected) in cases {
        let (chunks, _) = run_r2c(json!({}), &upstream);
        assert_eq!(chunks, expected, "{upstream}");
    }
}

#[test]
fn r2c_counts_malformed_and_handles_crlf() {
    let upstream = responses_text_stream().replace("\n", "\r\n");
    let upstream = format!(": comment\r\n\r\ndata: {{nope\r\n\r\n{upstream}");
    let (chunks, stream) = run_r2c(json!({}), &upstream);
    assert_eq!(chunks.len(), 5);
    assert_eq!(stream.malformed_events(), 1);
}

#[test]
fn r2c_transport_failure() {
    let mut stream = ResponsesToChatStream::new(r2c_ctx(&json!({})));
    let out = stream.fail("tunnel closed");
    assert_eq!(
        frames(&out),
        vec![(
            None,
            json!({"error": {"message": "tunnel closed", "type": "server_error", "param": null, "code": null}})
        )]
    );
    assert!(stream.is_done());
    assert_eq!(stream.finish(), Bytes::new());
}

#[test]
fn r2c_reasoning_becomes_reasoning_content() {
    let upstream = [
        event(
            "response.output_item.added",
            json!({"output_index": 0, "item": {"id": "rs_1", "type": "reasoning", "summary": []}}),
        ),
        event(
            "response.reasoning_text.delta",
            json!({"item_id": "rs_1", "output_index": 0, "content_index": 0, "delta": "Hmm"}),
        ),
        event(
            "response.reasoning_summary_text.delta",
            json!({"item_id": "rs_1", "output_index": 0, "summary_index": 0, "delta": "."}),
        ),
        event(
            "response.output_text.delta",
            json!({"item_id": "msg_1", "output_index": 1, "content_index": 0, "delta": "Hi"}),
        ),
        event(
            "response.completed",
            json!({"response": {"status": "completed", "output": []}}),
        ),
    ]
    .concat();
    let (chunks, stream) = run_r2c(json!({}), &upstream);
    assert_eq!(
        chunks,
        vec![
            chat_chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                false
            ),
            chat_chunk(json!({"reasoning_content": "Hmm"}), Value::Null, false),
            chat_chunk(json!({"reasoning_content": "."}), Value::Null, false),
            chat_chunk(json!({"content": "Hi"}), Value::Null, false),
            chat_chunk(json!({}), json!("stop"), false),
            json!("[DONE]"),
        ]
    );
    assert!(stream.first_content_emitted());
}
