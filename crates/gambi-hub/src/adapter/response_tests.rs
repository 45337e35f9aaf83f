// Table-driven helpers take owned `json!` literals so the cases read as plain data.
#![allow(clippy::needless_pass_by_value)]

use serde_json::{Value, json};

use super::*;

fn hex(n: u64) -> String {
    format!("{n:048x}")
}

fn ctx(request: Value) -> ResponseContext {
    ResponseContext::with_ids(request, "llama3", 1_741_476_542, IdGen::sequential())
}

/// A Response object with every echoed field at OpenAI's default, then `fields` on top.
fn response(fields: Value) -> Value {
    let mut base = json!({
        "id": format!("resp_{}", hex(1)),
        "object": "response",
        "created_at": 1_741_476_542,
        "status": "completed",
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "max_tool_calls": null,
        "model": "llama3",
        "output": [],
        "output_text": "",
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "prompt_cache_key": null,
        "reasoning": {"effort": null, "summary": null},
        "safety_identifier": null,
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
    if let (Some(base), Some(fields)) = (base.as_object_mut(), fields.as_object()) {
        for (k, v) in fields {
            base.insert(k.clone(), v.clone());
        }
    }
    base
}

fn chat(message: Value, finish: &str, usage: Value) -> Value {
    json!({
        "id": "chatcmpl-abc", "object": "chat.completion", "created": 1, "model": "llama3:8b",
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage,
    })
}

fn check_c2r(request: Value, chat: Value, expected: Value) {
    let got = chat_completion_to_response(&chat, &ctx(request));
    assert_eq!(got, Ok(expected), "chat: {chat}");
}

fn usage_in(i: u64, o: u64, t: u64) -> Value {
    json!({
        "input_tokens": i, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": o, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": t,
    })
}

#[test]
fn text_answer() {
    check_c2r(
        json!({"model": "any", "input": "Hi"}),
        chat(
            json!({"role": "assistant", "content": "Hello!", "refusal": null}),
            "stop",
            json!({"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}),
        ),
        response(json!({
            "output": [{
                "id": format!("msg_{}", hex(2)), "type": "message", "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Hello!"}],
            }],
            "output_text": "Hello!",
            "usage": usage_in(9, 3, 12),
        })),
    );
}

#[test]
fn echoes_request_settings() {
    let request = json!({
        "model": "any", "input": "Hi", "instructions": "Be brief.", "temperature": 0.2,
        "top_p": 0.5, "max_output_tokens": 64, "parallel_tool_calls": false,
        "previous_response_id": "resp_prev", "store": false, "metadata": {"k": "v"},
        "tools": [{"type": "function", "name": "f", "parameters": {}}],
        "tool_choice": "required", "text": {"format": {"type": "json_object"}},
        "reasoning": {"effort": "low"}, "user": "u1", "service_tier": "flex", "truncation": "auto",
        "top_logprobs": 2, "safety_identifier": "s1", "prompt_cache_key": "pk", "max_tool_calls": 4,
    });
    check_c2r(
        request,
        chat(
            json!({"role": "assistant", "content": ""}),
            "stop",
            Value::Null,
        ),
        response(json!({
            "instructions": "Be brief.", "temperature": 0.2, "top_p": 0.5,
            "max_output_tokens": 64, "parallel_tool_calls": false,
            "previous_response_id": "resp_prev", "store": false, "metadata": {"k": "v"},
            "tools": [{"type": "function", "name": "f", "parameters": {}}],
            "tool_choice": "required",
            "text": {"format": {"type": "json_object"}, "verbosity": "medium"},
            "reasoning": {"effort": "low", "summary": null}, "user": "u1",
            "service_tier": "flex", "truncation": "auto", "top_logprobs": 2,
            "safety_identifier": "s1", "prompt_cache_key": "pk", "max_tool_calls": 4,
        })),
    );
}

#[test]
fn tool_calls_and_text() {
    check_c2r(
        json!({"model": "any", "input": "Weather?"}),
        chat(
            json!({"role": "assistant", "content": "Let me check.", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"type": "function", "function": {"name": "get_time", "arguments": {"tz": "CET"}}},
            ]}),
            "tool_calls",
            json!({"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30,
                   "prompt_tokens_details": {"cached_tokens": 4},
                   "completion_tokens_details": {"reasoning_tokens": 2}}),
        ),
        response(json!({
            "output": [
                {"id": format!("msg_{}", hex(2)), "type": "message", "status": "completed", "role": "assistant",
                 "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Let me check."}]},
                {"id": format!("fc_{}", hex(3)), "type": "function_call", "status": "completed",
                 "arguments": "{\"city\":\"Paris\"}", "call_id": "call_a", "name": "get_weather"},
                {"id": format!("fc_{}", hex(5)), "type": "function_call", "status": "completed",
                 "arguments": "{\"tz\":\"CET\"}", "call_id": format!("call_{:024}", 4), "name": "get_time"},
            ],
            "output_text": "Let me check.",
            "usage": {
                "input_tokens": 20, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
                "output_tokens": 10, "output_tokens_details": {"reasoning_tokens": 2},
                "total_tokens": 30,
            },
        })),
    );
}

#[test]
fn truncated_filtered_and_refused() {
    let truncated = json!({
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [{"id": format!("msg_{}", hex(2)), "type": "message", "status": "incomplete",
                    "role": "assistant",
                    "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "Once upon"}]}],
        "output_text": "Once upon",
        "usage": usage_in(5, 2, 7),
    });
    check_c2r(
        json!({"input": "story"}),
        chat(
            json!({"role": "assistant", "content": "Once upon"}),
            "length",
            json!({"prompt_tokens": 5, "completion_tokens": 2}),
        ),
        response(truncated),
    );
    check_c2r(
        json!({"input": "x"}),
        chat(
            json!({"role": "assistant", "content": null}),
            "content_filter",
            Value::Null,
        ),
        response(json!({
            "status": "incomplete",
            "incomplete_details": {"reason": "content_filter"},
        })),
    );
    check_c2r(
        json!({"input": "x"}),
        chat(
            json!({"role": "assistant", "content": null, "refusal": "I can't help with that."}),
            "stop",
            Value::Null,
        ),
        response(json!({
            "output": [{"id": format!("msg_{}", hex(2)), "type": "message", "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "refusal", "refusal": "I can't help with that."}]}],
        })),
    );
}

#[test]
fn logprobs_are_carried() {
    let lp = json!([{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []}]);
    let mut body = chat(
        json!({"role": "assistant", "content": "Hi"}),
        "stop",
        Value::Null,
    );
    body["choices"][0]["logprobs"] = json!({"content": lp, "refusal": null});
    check_c2r(
        json!({"input": "x"}),
        body,
        response(json!({
            "output": [{"id": format!("msg_{}", hex(2)), "type": "message", "status": "completed",
                        "role": "assistant",
                        "content": [{"type": "output_text", "annotations": [], "logprobs": lp, "text": "Hi"}]}],
            "output_text": "Hi",
        })),
    );
}

#[test]
fn provider_error_body_is_an_upstream_error() {
    let cases = [
        (
            json!({"error": {"message": "model 'x' not found", "code": "model_not_found"}}),
            AdaptError::upstream("model 'x' not found", Some("model_not_found".into())),
        ),
        (
            json!({"choices": []}),
            AdaptError::upstream("The provider's answer has no choices.", None),
        ),
        (
            json!("oops"),
            AdaptError::upstream("The provider's answer has no choices.", None),
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            chat_completion_to_response(&body, &ctx(json!({}))),
            Err(expected)
        );
    }
}

fn chat_ctx(request: &Value) -> ChatContext {
    ChatContext::with_ids(request, "gpt-x", 1_700_000_000, IdGen::sequential())
}

fn completion(message: Value, finish: &str, usage: Option<Value>, logprobs: Value) -> Value {
    let mut out = json!({
        "id": format!("chatcmpl-{:029}", 1),
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "gpt-x",
        "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": finish}],
    });
    if let Some(usage) = usage {
        out["usage"] = usage;
    }
    out
}

fn check_r2c(request: Value, resp: Value, expected: Value) {
    let got = response_to_chat_completion(&resp, &chat_ctx(&request));
    assert_eq!(got, Ok(expected), "response: {resp}");
}

#[test]
fn response_to_chat_text() {
    check_r2c(
        json!({"messages": []}),
        json!({
            "id": "resp_1", "object": "response", "status": "completed",
            "output": [
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                 "content": [{"type": "output_text", "text": "Hello", "annotations": []},
                             {"type": "output_text", "text": " world", "annotations": []}]},
            ],
            "usage": {"input_tokens": 4, "output_tokens": 2, "total_tokens": 6,
                      "input_tokens_details": {"cached_tokens": 1},
                      "output_tokens_details": {"reasoning_tokens": 0}},
            "service_tier": "default",
        }),
        {
            let mut c = completion(
                json!({"role": "assistant", "content": "Hello world", "refusal": null, "annotations": []}),
                "stop",
                Some(
                    json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6,
                            "prompt_tokens_details": {"cached_tokens": 1},
                            "completion_tokens_details": {"reasoning_tokens": 0}}),
                ),
                Value::Null,
            );
            c["service_tier"] = json!("default");
            c
        },
    );
}

#[test]
fn response_to_chat_tool_calls_refusal_and_truncation() {
    check_r2c(
        json!({}),
        json!({"status": "completed", "output": [
            {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": "{\"a\":1}"},
            {"type": "function_call", "id": "fc_2", "name": "g", "arguments": "{}"},
        ], "usage": {"input_tokens": 1, "output_tokens": 2}}),
        completion(
            json!({"role": "assistant", "content": null, "refusal": null, "annotations": [],
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}},
                {"id": format!("call_{:024}", 2), "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ]}),
            "tool_calls",
            Some(json!({"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})),
            Value::Null,
        ),
    );
    check_r2c(
        json!({}),
        json!({"status": "completed", "output": [
            {"type": "message", "content": [{"type": "refusal", "refusal": "No."}]},
        ]}),
        completion(
            json!({"role": "assistant", "content": null, "refusal": "No.", "annotations": []}),
            "stop",
            None,
            Value::Null,
        ),
    );
    for (reason, finish) in [
        ("max_output_tokens", "length"),
        ("content_filter", "content_filter"),
    ] {
        check_r2c(
            json!({}),
            json!({"status": "incomplete", "incomplete_details": {"reason": reason}, "output": [
                {"type": "message", "content": [{"type": "output_text", "text": "Once"}]},
            ]}),
            completion(
                json!({"role": "assistant", "content": "Once", "refusal": null, "annotations": []}),
                finish,
                None,
                Value::Null,
            ),
        );
    }
}

#[test]
fn response_to_chat_logprobs() {
    let lp = json!({"token": "a", "logprob": -1.0, "bytes": [97], "top_logprobs": []});
    check_r2c(
        json!({"logprobs": true}),
        json!({"status": "completed", "output": [
            {"type": "message", "content": [{"type": "output_text", "text": "a", "logprobs": [lp]}]},
        ]}),
        completion(
            json!({"role": "assistant", "content": "a", "refusal": null, "annotations": []}),
            "stop",
            None,
            json!({"content": [lp], "refusal": null}),
        ),
    );
}

#[test]
fn response_to_chat_errors() {
    let cases = [
        (
            json!({"error": {"message": "Invalid model", "code": "model_not_found"}}),
            AdaptError::upstream("Invalid model", Some("model_not_found".into())),
        ),
        (
            json!({"object": "response", "status": "failed", "output": [],
                   "error": {"code": "server_error", "message": "The model crashed."}}),
            AdaptError::upstream("The model crashed.", Some("server_error".into())),
        ),
        (
            json!({}),
            AdaptError::upstream("The provider's answer has no output.", None),
        ),
    ];
    for (resp, expected) in cases {
        assert_eq!(
            response_to_chat_completion(&resp, &chat_ctx(&json!({}))),
            Err(expected)
        );
    }
}

#[test]
fn chat_context_reads_the_request() {
    let c = ChatContext::from_request(
        &json!({"stream": true, "stream_options": {"include_usage": true}, "logprobs": true}),
        "m",
        5,
    );
    assert!(c.include_usage && c.logprobs);
    assert!(c.id.starts_with("chatcmpl-"));
    let c = ChatContext::from_request(&json!({}), "m", 5);
    assert!(!c.include_usage && !c.logprobs);
    let r = ResponseContext::new(json!({}), "m", 5);
    assert!(r.id.starts_with("resp_") && r.id.len() == 53);
}

#[test]
fn reasoning_both_ways() {
    check_c2r(
        json!({"input": "x"}),
        chat(
            json!({"role": "assistant", "content": "42", "reasoning_content": "Think."}),
            "stop",
            Value::Null,
        ),
        response(json!({
            "output": [
                {"id": format!("rs_{}", hex(2)), "type": "reasoning", "summary": [],
                 "content": [{"type": "reasoning_text", "text": "Think."}]},
                {"id": format!("msg_{}", hex(3)), "type": "message", "status": "completed",
                 "role": "assistant",
                 "content": [{"type": "output_text", "annotations": [], "logprobs": [], "text": "42"}]},
            ],
            "output_text": "42",
        })),
    );
    check_r2c(
        json!({}),
        json!({"status": "completed", "output": [
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Summary."}]},
            {"type": "message", "content": [{"type": "output_text", "text": "42"}]},
        ]}),
        completion(
            json!({"role": "assistant", "content": "42", "refusal": null, "annotations": [],
                   "reasoning_content": "Summary."}),
            "stop",
            None,
            Value::Null,
        ),
    );
}
