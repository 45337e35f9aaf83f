// Table-driven helpers take owned `json!` literals so the cases read as plain data.
#![allow(clippy::needless_pass_by_value)]

use bytes::Bytes;
use serde_json::{Value, json};

use super::*;
use crate::adapter::ids::IdGen;
use crate::adapter::response::{ChatContext, ResponseContext};
use crate::adapter::sse::SseParser;
use crate::adapter::usage::TokenUsage;

mod edge_cases;
mod from_chat;
mod from_responses;

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
