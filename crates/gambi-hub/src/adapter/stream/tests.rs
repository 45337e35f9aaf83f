// Table-driven helpers take owned `json!` literals so the cases read as plain data.
#![allow(clippy::needless_pass_by_value)]

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;
use crate::adapter::ids::IdGen;
use crate::adapter::response::{ChatContext, ResponseContext};
use crate::adapter::sse::SseParser;
use crate::adapter::usage::TokenUsage;

// ---------- helpers ----------

fn hex(n: u64) -> String {
    format!("{n:048x}")
}

fn msg(n: u64) -> String {
    format!("msg_{}", hex(n))
}

fn fc(n: u64) -> String {
    format!("fc_{}", hex(n))
}

/// One Chat Completions chunk frame in the shape OpenAI sends.
fn chunk(delta: Value, finish: Option<&str>) -> String {
    let body = json!({
        "id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "llama3",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        "usage": null,
    });
    format!("data: {body}\n\n")
}

fn usage_chunk(prompt: u64, completion: u64) -> String {
    let body = json!({
        "id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "llama3",
        "choices": [],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
    });
    format!("data: {body}\n\n")
}

fn tool(index: u64, id: Option<&str>, name: Option<&str>, args: &str) -> Value {
    let mut function = json!({"arguments": args});
    if let Some(name) = name {
        function["name"] = json!(name);
    }
    let mut call = json!({"index": index, "function": function});
    if let Some(id) = id {
        call["id"] = json!(id);
        call["type"] = json!("function");
    }
    json!({"tool_calls": [call]})
}

/// Parsed output frames: (event name, data); `[DONE]` is the string "[DONE]".
fn frames(bytes: &[u8]) -> Vec<(Option<String>, Value)> {
    let mut parser = SseParser::new();
    let mut events = parser.push(bytes);
    events.extend(parser.finish());
    events
        .into_iter()
        .map(|e| {
            let data = serde_json::from_str(&e.data).unwrap_or(Value::String(e.data.clone()));
            (e.event, data)
        })
        .collect()
}

fn c2r_ctx(request: Value) -> ResponseContext {
    ResponseContext::with_ids(request, "llama3", 1_700_000_000, IdGen::sequential())
}

/// Runs a Chat Completions stream through [`ChatToResponsesStream`] whole, byte by byte and
/// in 7-byte pieces, checks all three give the same bytes, and checks the event invariants.
fn run_c2r(
    request: Value,
    upstream: &str,
) -> (Vec<(Option<String>, Value)>, ChatToResponsesStream) {
    let input = upstream.as_bytes();
    let feeds: [Vec<&[u8]>; 3] = [
        vec![input],
        input.chunks(1).collect(),
        input.chunks(7).collect(),
    ];
    let mut outputs = Vec::new();
    let mut last = None;
    for pieces in feeds {
        let mut stream = ChatToResponsesStream::new(c2r_ctx(request.clone()));
        let mut out = stream.start().to_vec();
        for piece in pieces {
            out.extend_from_slice(&stream.feed(piece));
        }
        out.extend_from_slice(&stream.finish());
        // Nothing after the terminal event.
        assert!(stream.is_done());
        assert_eq!(stream.feed(b"data: {\"choices\":[]}\n\n"), Bytes::new());
        assert_eq!(stream.finish(), Bytes::new());
        assert_eq!(stream.fail("late"), Bytes::new());
        outputs.push(out);
        last = Some(stream);
    }
    assert_eq!(outputs[0], outputs[1], "byte-by-byte output differs");
    assert_eq!(outputs[0], outputs[2], "7-byte output differs");
    let events = frames(&outputs[0]);
    for (i, (name, data)) in events.iter().enumerate() {
        assert_eq!(
            data["sequence_number"],
            json!(i),
            "sequence number of event {i}"
        );
        assert_eq!(
            name.as_deref(),
            data["type"].as_str(),
            "event name of event {i}"
        );
    }
    let terminal = events.last().and_then(|(name, _)| name.clone());
    assert!(
        matches!(
            terminal.as_deref(),
            Some("response.completed" | "response.incomplete" | "response.failed")
        ),
        "last event {terminal:?}"
    );
    let Some(stream) = last else {
        panic!("no run");
    };
    (events, stream)
}

fn types(events: &[(Option<String>, Value)]) -> Vec<String> {
    events.iter().filter_map(|(name, _)| name.clone()).collect()
}

fn payloads<'a>(events: &'a [(Option<String>, Value)], kind: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|(name, _)| name.as_deref() == Some(kind))
        .map(|(_, data)| data)
        .collect()
}

fn last_response(events: &[(Option<String>, Value)]) -> Value {
    events
        .last()
        .map(|(_, data)| data["response"].clone())
        .unwrap_or(Value::Null)
}

const TEXT_EVENTS: [&str; 5] = [
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
];

// ---------- Chat Completions -> Responses ----------

#[test]
fn c2r_text_stream_exact_events() {
    let upstream = [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hello"}), None),
        chunk(json!({"content": " world"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(10, 2),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, stream) = run_c2r(
        json!({"model": "any", "input": "Hi", "stream": true}),
        &upstream,
    );
    let resp_id = format!("resp_{}", hex(1));
    let skeleton = |status: &str, output: Value, output_text: &str, usage: Value| {
        json!({
            "id": resp_id, "object": "response", "created_at": 1_700_000_000, "status": status,
            "background": false, "error": null, "incomplete_details": null, "instructions": null,
            "max_output_tokens": null, "max_tool_calls": null, "model": "llama3",
            "output": output, "output_text": output_text, "parallel_tool_calls": true,
            "previous_response_id": null, "prompt_cache_key": null,
            "reasoning": {"effort": null, "summary": null}, "safety_identifier": null,
            "service_tier": "default", "store": true, "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
            "tools": [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
            "usage": usage, "user": null, "metadata": {},
        })
    };
    let part = |text: &str| json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
    let item = |status: &str, content: Value| json!({"id": msg(2), "type": "message", "status": status, "content": content, "role": "assistant"});
    let final_item = item("completed", json!([part("Hello world")]));
    let expected = vec![
        json!({"type": "response.created", "sequence_number": 0,
               "response": skeleton("in_progress", json!([]), "", Value::Null)}),
        json!({"type": "response.in_progress", "sequence_number": 1,
               "response": skeleton("in_progress", json!([]), "", Value::Null)}),
        json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
               "item": item("in_progress", json!([]))}),
        json!({"type": "response.content_part.added", "sequence_number": 3, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "part": part("")}),
        json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "delta": "Hello", "logprobs": []}),
        json!({"type": "response.output_text.delta", "sequence_number": 5, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "delta": " world", "logprobs": []}),
        json!({"type": "response.output_text.done", "sequence_number": 6, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "text": "Hello world", "logprobs": []}),
        json!({"type": "response.content_part.done", "sequence_number": 7, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "part": part("Hello world")}),
        json!({"type": "response.output_item.done", "sequence_number": 8, "output_index": 0,
               "item": final_item}),
        json!({"type": "response.completed", "sequence_number": 9,
        "response": skeleton("completed", json!([final_item]), "Hello world", json!({
            "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 12,
        }))}),
    ];
    let got: Vec<Value> = events.into_iter().map(|(_, data)| data).collect();
    assert_eq!(got, expected);
    assert_eq!(
        stream.usage(),
        Some(TokenUsage {
            input_tokens: Some(10),
            output_tokens: Some(2),
            total_tokens: Some(12)
        })
    );
    assert!(stream.first_content_emitted());
    assert_eq!(
        stream.final_response(),
        expected.last().map(|e| &e["response"])
    );
    assert_eq!(stream.response_id(), resp_id);
}

#[test]
fn c2r_start_sends_created_and_first_content_is_tracked() {
    let mut stream = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    let start = frames(&stream.start());
    assert_eq!(types(&start), ["response.created", "response.in_progress"]);
    assert_eq!(stream.start(), Bytes::new());
    assert!(!stream.first_content_emitted());
    let role = stream.feed(chunk(json!({"role": "assistant", "content": ""}), None).as_bytes());
    assert_eq!(role, Bytes::new());
    assert!(!stream.first_content_emitted());
    // Half a frame produces nothing yet; the rest produces the first delta.
    let frame = chunk(json!({"content": "Hi"}), None);
    let (a, b) = frame.as_bytes().split_at(20);
    assert_eq!(stream.feed(a), Bytes::new());
    assert!(!stream.first_content_emitted());
    let out = frames(&stream.feed(b));
    assert_eq!(
        types(&out),
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta"
        ]
    );
    assert!(stream.first_content_emitted());
}

#[test]
fn c2r_tool_call_split_across_many_deltas() {
    let upstream = [
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(tool(0, Some("call_abc"), Some("get_weather"), ""), None),
        chunk(tool(0, None, None, "{\"ci"), None),
        chunk(tool(0, None, None, "ty\":"), None),
        chunk(tool(0, None, None, "\"Paris\"}"), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(30, 8),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "Weather in Paris?"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        payloads(&events, "response.output_item.added")[0]["item"],
        json!({"id": fc(2), "type": "function_call", "status": "in_progress", "arguments": "",
               "call_id": "call_abc", "name": "get_weather"})
    );
    let deltas: Vec<&Value> = payloads(&events, "response.function_call_arguments.delta")
        .into_iter()
        .map(|d| &d["delta"])
        .collect();
    assert_eq!(
        deltas,
        [&json!("{\"ci"), &json!("ty\":"), &json!("\"Paris\"}")]
    );
    assert_eq!(
        payloads(&events, "response.function_call_arguments.done")[0],
        &json!({"type": "response.function_call_arguments.done", "sequence_number": 6,
                "item_id": fc(2), "output_index": 0, "arguments": "{\"city\":\"Paris\"}",
                "name": "get_weather"})
    );
    let done_item = json!({"id": fc(2), "type": "function_call", "status": "completed",
                           "arguments": "{\"city\":\"Paris\"}", "call_id": "call_abc",
                           "name": "get_weather"});
    assert_eq!(
        payloads(&events, "response.output_item.done")[0]["item"],
        done_item
    );
    let response = last_response(&events);
    assert_eq!(response["output"], json!([done_item]));
    assert_eq!(response["output_text"], json!(""));
    assert_eq!(response["usage"]["total_tokens"], json!(38));
    assert!(stream.first_content_emitted());
}

#[test]
fn c2r_two_parallel_tool_calls() {
    let upstream = [
        chunk(tool(0, Some("call_1"), Some("get_weather"), ""), None),
        chunk(tool(0, None, None, "{\"city\":\"Paris\"}"), None),
        chunk(tool(1, Some("call_2"), Some("get_weather"), ""), None),
        chunk(tool(1, None, None, "{\"city\":\"Rome\"}"), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(1, 1),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let indexes: Vec<&Value> = events
        .iter()
        .filter_map(|(_, d)| d.get("output_index"))
        .collect();
    assert_eq!(
        indexes,
        [
            &json!(0),
            &json!(0),
            &json!(0),
            &json!(0),
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(1)
        ]
    );
    assert_eq!(
        last_response(&events)["output"],
        json!([
            {"id": fc(2), "type": "function_call", "status": "completed",
             "arguments": "{\"city\":\"Paris\"}", "call_id": "call_1", "name": "get_weather"},
            {"id": fc(3), "type": "function_call", "status": "completed",
             "arguments": "{\"city\":\"Rome\"}", "call_id": "call_2", "name": "get_weather"},
        ])
    );
}

#[test]
fn c2r_parallel_tool_calls_in_one_chunk_without_index() {
    // Some providers (older Ollama) send whole calls at once, without `index`.
    let upstream = [
        chunk(
            json!({"tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": {"x": 1}}},
            ]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "x"}), &upstream);
    let output = &last_response(&events)["output"];
    assert_eq!(output[0]["call_id"], json!("call_1"));
    assert_eq!(output[0]["arguments"], json!("{}"));
    assert_eq!(output[1]["call_id"], json!("call_2"));
    assert_eq!(output[1]["name"], json!("b"));
    assert_eq!(output[1]["arguments"], json!("{\"x\":1}"));
    assert_eq!(last_response(&events)["usage"], Value::Null);
    assert_eq!(stream.usage(), None);
}

#[test]
fn c2r_text_then_tool_calls_then_text() {
    let upstream = [
        chunk(json!({"content": "Let me check."}), None),
        chunk(tool(0, Some("call_1"), Some("lookup"), "{}"), None),
        chunk(json!({"content": "Done."}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(5, 5),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
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
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let added: Vec<(Value, Value)> = payloads(&events, "response.output_item.added")
        .into_iter()
        .map(|p| (p["output_index"].clone(), p["item"]["id"].clone()))
        .collect();
    assert_eq!(
        added,
        [
            (json!(0), json!(msg(2))),
            (json!(1), json!(fc(3))),
            (json!(2), json!(msg(4)))
        ]
    );
    let text_delta_indexes: Vec<&Value> = payloads(&events, "response.output_text.delta")
        .into_iter()
        .map(|p| &p["output_index"])
        .collect();
    assert_eq!(text_delta_indexes, [&json!(0), &json!(2)]);
    let response = last_response(&events);
    assert_eq!(response["output_text"], json!("Let me check.Done."));
    assert_eq!(response["output"].as_array().map(Vec::len), Some(3));
}

#[test]
fn c2r_length_and_content_filter_are_incomplete() {
    for (finish, reason) in [
        ("length", "max_output_tokens"),
        ("content_filter", "content_filter"),
    ] {
        let upstream = [
            chunk(json!({"content": "Once upon"}), None),
            chunk(json!({}), Some(finish)),
            usage_chunk(3, 2),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let (events, _) = run_c2r(json!({"input": "story", "max_output_tokens": 2}), &upstream);
        let mut expected: Vec<String> = ["response.created", "response.in_progress"]
            .iter()
            .chain(TEXT_EVENTS.iter().take(3))
            .map(|s| s.to_string())
            .collect();
        expected.extend(
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.incomplete",
            ]
            .map(String::from),
        );
        assert_eq!(types(&events), expected);
        let response = last_response(&events);
        assert_eq!(response["status"], json!("incomplete"));
        assert_eq!(response["incomplete_details"], json!({"reason": reason}));
        assert_eq!(response["output"][0]["status"], json!("incomplete"));
        assert_eq!(response["max_output_tokens"], json!(2));
        assert_eq!(
            payloads(&events, "response.output_item.done")[0]["item"]["status"],
            json!("incomplete")
        );
    }
}

#[test]
fn c2r_refusal() {
    let upstream = [
        chunk(json!({"role": "assistant", "refusal": ""}), None),
        chunk(json!({"refusal": "I can't"}), None),
        chunk(json!({"refusal": " help."}), None),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.refusal.delta",
            "response.refusal.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        payloads(&events, "response.content_part.added")[0]["part"],
        json!({"type": "refusal", "refusal": ""})
    );
    assert_eq!(
        payloads(&events, "response.refusal.done")[0]["refusal"],
        json!("I can't help.")
    );
    assert_eq!(
        last_response(&events)["output"][0]["content"],
        json!([{"type": "refusal", "refusal": "I can't help."}])
    );
}

#[test]
fn c2r_logprobs_are_streamed() {
    let lp = json!([{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}]);
    let body = json!({"choices": [{"index": 0, "delta": {"content": "Hi"},
                                   "logprobs": {"content": lp, "refusal": null}}]});
    let upstream = format!("data: {body}\n\n{}", chunk(json!({}), Some("stop")));
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        payloads(&events, "response.output_text.delta")[0]["logprobs"],
        lp
    );
    assert_eq!(
        payloads(&events, "response.output_text.done")[0]["logprobs"],
        lp
    );
    assert_eq!(
        last_response(&events)["output"][0]["content"][0]["logprobs"],
        lp
    );
}

#[test]
fn c2r_waits_for_usage_after_finish() {
    // The finish chunk alone does not end the stream: the usage chunk may follow.
    let mut stream = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    stream.start();
    stream.feed(chunk(json!({"content": "Hi"}), None).as_bytes());
    let out = frames(&stream.feed(chunk(json!({}), Some("stop")).as_bytes()));
    assert_eq!(
        types(&out),
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done"
        ]
    );
    assert!(!stream.is_done());
    // A late content chunk after the finish is ignored.
    assert_eq!(
        stream.feed(chunk(json!({"content": "late"}), None).as_bytes()),
        Bytes::new()
    );
    let out = frames(&stream.feed(usage_chunk(4, 1).as_bytes()));
    assert_eq!(types(&out), ["response.completed"]);
    assert_eq!(out[0].1["response"]["usage"]["input_tokens"], json!(4));
    assert_eq!(out[0].1["response"]["output_text"], json!("Hi"));
    assert!(stream.is_done());
    // [DONE] after the terminal event adds nothing.
    assert_eq!(stream.feed(b"data: [DONE]\n\n"), Bytes::new());

    // Usage on the finish chunk itself ends the stream at once.
    let mut stream = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    let body = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}});
    let out = frames(&stream.feed(format!("data: {body}\n\n").as_bytes()));
    assert_eq!(
        types(&out).last().map(String::as_str),
        Some("response.completed")
    );
    assert!(stream.is_done());

    // Finish without usage, then the upstream ends: completed with null usage.
    let upstream = [
        chunk(json!({"content": "a"}), None),
        chunk(json!({}), Some("stop")),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events).last().map(String::as_str),
        Some("response.completed")
    );
    assert_eq!(last_response(&events)["usage"], Value::Null);
}

#[test]
fn c2r_done_without_finish_is_completed() {
    // An empty-string finish reason is not a finish.
    let upstream = [
        chunk(json!({"content": "a"}), Some("")),
        chunk(json!({"content": "b"}), None),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    let response = last_response(&events);
    assert_eq!(response["status"], json!("completed"));
    assert_eq!(response["output_text"], json!("ab"));
    assert_eq!(response["output"][0]["status"], json!("completed"));
}

#[test]
fn c2r_framing_crlf_comments_multiline_and_malformed() {
    let upstream = concat!(
        ": ping\r\n\r\n",
        "retry: 1000\r\n",
        "data: {\"choices\":[{\"index\":0,\r\n",
        "data: \"delta\":{\"content\":\"He\"}}]}\r\n\r\n",
        "data: {not json}\r\n\r\n",
        "event: message\r\nid: 3\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"llo\"}}]}\r\r",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2,\"total_tokens\":4}}",
    );
    let (events, stream) = run_c2r(json!({"input": "x"}), upstream);
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
    assert_eq!(last_response(&events)["output_text"], json!("Hello"));
    assert_eq!(stream.malformed_events(), 1);
    assert_eq!(stream.usage().and_then(|u| u.total_tokens), Some(4));
}

#[test]
fn c2r_provider_error_mid_stream_is_failed() {
    let upstream = [
        chunk(json!({"content": "Par"}), None),
        "data: {\"error\":{\"message\":\"CUDA out of memory\",\"type\":\"server_error\"}}\n\n"
            .to_owned(),
        chunk(json!({"content": "tial"}), None),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.failed",
        ]
    );
    let response = last_response(&events);
    assert_eq!(response["status"], json!("failed"));
    assert_eq!(
        response["error"],
        json!({"code": "server_error", "message": "CUDA out of memory"})
    );
    assert_eq!(response["output"][0]["status"], json!("incomplete"));
    assert_eq!(response["output_text"], json!("Par"));
    assert_eq!(stream.final_response(), Some(&response));

    // A named error event with non-JSON data fails too.
    let (events, _) = run_c2r(
        json!({"input": "x"}),
        "event: error\ndata: upstream exploded\n\n",
    );
    assert_eq!(
        last_response(&events)["error"]["message"],
        json!("upstream exploded")
    );
}

#[test]
fn c2r_truncated_stream_and_transport_failure() {
    let upstream = chunk(json!({"content": "cut"}), None);
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    let response = last_response(&events);
    assert_eq!(response["status"], json!("failed"));
    assert_eq!(
        response["error"]["message"],
        json!("The provider's stream ended before the response was finished.")
    );

    let mut stream = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    let mut out = stream
        .feed(chunk(json!({"content": "a"}), None).as_bytes())
        .to_vec();
    out.extend_from_slice(&stream.fail("tunnel closed"));
    let events = frames(&out);
    assert_eq!(
        types(&events).last().map(String::as_str),
        Some("response.failed")
    );
    assert_eq!(
        last_response(&events)["error"]["message"],
        json!("tunnel closed")
    );
    assert_eq!(stream.finish(), Bytes::new());
}

#[test]
fn c2r_empty_answer() {
    let upstream = [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
    assert_eq!(last_response(&events)["output"], json!([]));
    assert!(!stream.first_content_emitted());
}

// ---------- Responses -> Chat Completions ----------

fn r2c_ctx(request: &Value) -> ChatContext {
    ChatContext::with_ids(request, "gpt-x", 1_700_000_000, IdGen::sequential())
}

fn event(kind: &str, body: Value) -> String {
    let mut body = body;
    body["type"] = json!(kind);
    format!("event: {kind}\ndata: {body}\n\n")
}

/// Runs a Responses stream through [`ResponsesToChatStream`] whole, byte by byte and in
/// 5-byte pieces, and checks all three give the same bytes.
fn run_r2c(request: Value, upstream: &str) -> (Vec<Value>, ResponsesToChatStream) {
    let input = upstream.as_bytes();
    let feeds: [Vec<&[u8]>; 3] = [
        vec![input],
        input.chunks(1).collect(),
        input.chunks(5).collect(),
    ];
    let mut outputs = Vec::new();
    let mut last = None;
    for pieces in feeds {
        let mut stream = ResponsesToChatStream::new(r2c_ctx(&request));
        let mut out = Vec::new();
        for piece in pieces {
            out.extend_from_slice(&stream.feed(piece));
        }
        out.extend_from_slice(&stream.finish());
        assert!(stream.is_done());
        assert_eq!(stream.feed(b"event: x\ndata: {}\n\n"), Bytes::new());
        assert_eq!(stream.fail("late"), Bytes::new());
        outputs.push(out);
        last = Some(stream);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0], outputs[2]);
    let parsed = frames(&outputs[0]);
    assert!(
        parsed.iter().all(|(name, _)| name.is_none()),
        "chat frames are unnamed"
    );
    let Some(stream) = last else {
        panic!("no run");
    };
    (parsed.into_iter().map(|(_, data)| data).collect(), stream)
}

fn cid() -> String {
    format!("chatcmpl-{:029}", 1)
}

fn chat_chunk(delta: Value, finish: Value, with_usage_field: bool) -> Value {
    let mut c = json!({
        "id": cid(), "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-x",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
    });
    if with_usage_field {
        c["usage"] = Value::Null;
    }
    c
}

fn responses_text_stream() -> String {
    [
        event("response.created", json!({"sequence_number": 0, "response": {"id": "resp_1", "status": "in_progress", "output": []}})),
        event("response.in_progress", json!({"sequence_number": 1, "response": {"id": "resp_1", "status": "in_progress", "output": []}})),
        event("response.output_item.added", json!({"sequence_number": 2, "output_index": 0, "item": {"id": "msg_1", "type": "message", "status": "in_progress", "content": [], "role": "assistant"}})),
        event("response.content_part.added", json!({"sequence_number": 3, "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}})),
        event("response.output_text.delta", json!({"sequence_number": 4, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "Hel", "logprobs": []})),
        event("response.output_text.delta", json!({"sequence_number": 5, "item_id": "msg_1", "output_index": 0, "content_index": 0, "delta": "lo", "logprobs": []})),
        event("response.output_text.done", json!({"sequence_number": 6, "item_id": "msg_1", "output_index": 0, "content_index": 0, "text": "Hello", "logprobs": []})),
        event("response.content_part.done", json!({"sequence_number": 7, "item_id": "msg_1", "output_index": 0, "content_index": 0, "part": {"type": "output_text", "text": "Hello", "annotations": []}})),
        event("response.output_item.done", json!({"sequence_number": 8, "output_index": 0, "item": {"id": "msg_1", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}})),
        event("response.completed", json!({"sequence_number": 9, "response": {
            "id": "resp_1", "object": "response", "status": "completed",
            "output": [{"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
                        "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}],
            "usage": {"input_tokens": 7, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": 9}}})),
    ]
    .concat()
}

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

// ---------- both directions ----------

#[test]
fn chat_stream_through_both_adapters_round_trips() {
    // A Chat Completions stream turned into Responses events and back gives the same text
    // and tool calls.
    let upstream = [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Checking"}), None),
        chunk(tool(0, Some("call_1"), Some("f"), "{\"a\""), None),
        chunk(tool(0, None, None, ":1}"), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(3, 4),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let mut to_responses = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    let mut responses = to_responses.start().to_vec();
    responses.extend_from_slice(&to_responses.feed(upstream.as_bytes()));
    responses.extend_from_slice(&to_responses.finish());

    let request = json!({"stream_options": {"include_usage": true}});
    let mut to_chat = ResponsesToChatStream::new(r2c_ctx(&request));
    let mut chat = to_chat.feed(&responses).to_vec();
    chat.extend_from_slice(&to_chat.finish());
    let chunks: Vec<Value> = frames(&chat).into_iter().map(|(_, d)| d).collect();
    assert_eq!(
        chunks,
        vec![
            chat_chunk(
                json!({"role": "assistant", "content": ""}),
                Value::Null,
                true
            ),
            chat_chunk(json!({"content": "Checking"}), Value::Null, true),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                                              "function": {"name": "f", "arguments": ""}}]}),
                Value::Null,
                true
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\""}}]}),
                Value::Null,
                true
            ),
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
                Value::Null,
                true
            ),
            chat_chunk(json!({}), json!("tool_calls"), true),
            json!({"id": cid(), "object": "chat.completion.chunk", "created": 1_700_000_000,
                   "model": "gpt-x", "choices": [],
                   "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7,
                             "prompt_tokens_details": {"cached_tokens": 0},
                             "completion_tokens_details": {"reasoning_tokens": 0}}}),
            json!("[DONE]"),
        ]
    );
}

#[test]
fn c2r_reasoning_then_text() {
    let upstream = [
        chunk(
            json!({"role": "assistant", "reasoning_content": "Let me"}),
            None,
        ),
        chunk(json!({"reasoning_content": " think."}), None),
        chunk(json!({"content": "42"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(1, 3),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let rs = format!("rs_{}", hex(2));
    let reasoning_events: Vec<Value> = events[2..9].iter().map(|(_, d)| d.clone()).collect();
    let done_item = json!({"id": rs, "type": "reasoning", "summary": [],
                           "content": [{"type": "reasoning_text", "text": "Let me think."}]});
    assert_eq!(
        reasoning_events,
        vec![
            json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
                   "item": {"id": rs, "type": "reasoning", "summary": [], "content": []}}),
            json!({"type": "response.content_part.added", "sequence_number": 3, "item_id": rs,
                   "output_index": 0, "content_index": 0,
                   "part": {"type": "reasoning_text", "text": ""}}),
            json!({"type": "response.reasoning_text.delta", "sequence_number": 4, "item_id": rs,
                   "output_index": 0, "content_index": 0, "delta": "Let me"}),
            json!({"type": "response.reasoning_text.delta", "sequence_number": 5, "item_id": rs,
                   "output_index": 0, "content_index": 0, "delta": " think."}),
            json!({"type": "response.reasoning_text.done", "sequence_number": 6, "item_id": rs,
                   "output_index": 0, "content_index": 0, "text": "Let me think."}),
            json!({"type": "response.content_part.done", "sequence_number": 7, "item_id": rs,
                   "output_index": 0, "content_index": 0,
                   "part": {"type": "reasoning_text", "text": "Let me think."}}),
            json!({"type": "response.output_item.done", "sequence_number": 8, "output_index": 0,
                   "item": done_item}),
        ]
    );
    let response = last_response(&events);
    assert_eq!(response["output"][0], done_item);
    assert_eq!(response["output"][1]["id"], json!(msg(3)));
    assert_eq!(response["output_text"], json!("42"));
    assert!(stream.first_content_emitted());

    // Ollama names the field `reasoning`.
    let upstream = [
        chunk(json!({"reasoning": "hm"}), None),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        last_response(&events)["output"],
        json!([{"id": rs, "type": "reasoning", "summary": [],
                "content": [{"type": "reasoning_text", "text": "hm"}]}])
    );
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

#[test]
fn c2r_tool_name_after_id_and_other_choices_ignored() {
    let second_choice = json!({"choices": [
        {"index": 1, "delta": {"content": "other choice"}},
        {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "lookup"}}]}},
    ]});
    let upstream = [
        chunk(json!({"tool_calls": [{"index": 0, "id": "call_7", "type": "function", "function": {"arguments": ""}}]}), None),
        format!("data: {second_choice}\n\n"),
        chunk(tool(0, None, None, "{\"q\":1}"), None),
        chunk(json!({}), Some("tool_calls")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        payloads(&events, "response.output_item.added")[0]["item"]["name"],
        json!("lookup")
    );
    assert_eq!(
        last_response(&events)["output"],
        json!([{"id": fc(2), "type": "function_call", "status": "completed",
                "arguments": "{\"q\":1}", "call_id": "call_7", "name": "lookup"}])
    );
}
