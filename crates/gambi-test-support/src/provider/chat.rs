//! `POST /v1/chat/completions`: a `chat.completion` object, or a stream of
//! `chat.completion.chunk` events ending in `data: [DONE]`.

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::answers::{
    invalid_json, json_response, missing_parameter, non_generating, openai_error, reject_model,
};
use super::reply::{
    InterruptionKind, Plan, SERVER_ERROR_MESSAGE, StreamFailure, openai_error_body,
};
use super::state::Shared;
use super::stream::{self, EventScript, Timing};
use super::text::{count_prompt_tokens, last_user_text, new_id, unix_now};

/// Answers one Chat Completions request.
pub(crate) async fn create(shared: &Shared, body: Option<Value>) -> Response {
    let Some(body @ Value::Object(_)) = body else {
        return invalid_json();
    };
    if body.get("model").and_then(Value::as_str).is_none() {
        return missing_parameter("model");
    }
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return missing_parameter("messages");
    };
    if let Some(rejection) = reject_model(shared, &body) {
        return rejection;
    }
    let model = body["model"].as_str().unwrap_or_default().to_owned();
    let streamed = body.get("stream").and_then(Value::as_bool) == Some(true);
    let include_usage = streamed
        && body
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);

    let reply = shared.next_reply();
    if let Some(response) = non_generating(&reply).await {
        return response;
    }
    let config = &shared.config;
    let timing = Timing::for_reply(&reply, config.first_token_delay, config.token_delay);
    let plan = Plan::new(
        reply,
        || last_user_text(messages.iter()),
        || count_prompt_tokens(messages.iter()),
    );
    let completion = Completion {
        id: new_id("chatcmpl-", 32),
        created: unix_now(),
        model,
        plan,
    };

    if streamed {
        let script = ChunkScript::new(completion, include_usage);
        let stop = script
            .completion
            .plan
            .interruption
            .map(|interruption| stream::break_point(&script, interruption));
        stream::sse_response(script, timing, stop)
    } else {
        non_streamed(completion, timing).await
    }
}

/// One answer being produced.
struct Completion {
    id: String,
    created: u64,
    model: String,
    plan: Plan,
}

async fn non_streamed(completion: Completion, timing: Timing) -> Response {
    let plan = &completion.plan;
    let total = plan.token_events();
    let Some(interruption) = plan.interruption else {
        sleep(timing.generation_time(total)).await;
        return json_response(StatusCode::OK, &completion_object(&completion));
    };
    sleep(timing.generation_time(interruption.after_tokens.min(total))).await;
    match interruption.kind {
        InterruptionKind::Stall => match stream::never().await {},
        InterruptionKind::Fail(StreamFailure::ErrorEvent) => openai_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            SERVER_ERROR_MESSAGE,
            "server_error",
            None,
            None,
        ),
        InterruptionKind::Fail(StreamFailure::Disconnect) => {
            stream::cut_json_response(completion_object(&completion).to_string().into_bytes())
        }
    }
}

async fn sleep(duration: std::time::Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

/// The non-streamed `chat.completion` object.
fn completion_object(completion: &Completion) -> Value {
    let plan = &completion.plan;
    let mut message = json!({
        "role": "assistant",
        "content": if plan.has_message() { Value::String(plan.text()) } else { Value::Null },
        "refusal": null,
    });
    if !plan.tool_calls.is_empty() {
        let calls: Vec<Value> = plan
            .tool_calls
            .iter()
            .map(|call| {
                json!({
                    "id": call.call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments},
                })
            })
            .collect();
        message["tool_calls"] = Value::Array(calls);
    }
    json!({
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": plan.finish_reason.as_str(),
        }],
        "usage": usage_object(plan),
    })
}

fn usage_object(plan: &Plan) -> Value {
    json!({
        "prompt_tokens": plan.usage.prompt_tokens,
        "completion_tokens": plan.usage.completion_tokens,
        "total_tokens": plan.usage.prompt_tokens + plan.usage.completion_tokens,
    })
}

/// One event of a Chat Completions stream.
#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// `delta: {role: "assistant", content: ""}` (content `null` for a tool-only answer).
    Role,
    /// `delta: {content: <token>}`.
    Text(usize),
    /// `delta: {tool_calls: [{index, id, type, function: {name, arguments: ""}}]}`.
    ToolCall(usize),
    /// `delta: {tool_calls: [{index, function: {arguments: <fragment>}}]}`.
    Arguments(usize, usize),
    /// `delta: {}` with the finish reason.
    Finish,
    /// `choices: []` with the usage (only with `stream_options.include_usage`).
    Usage,
    /// `data: [DONE]`.
    Done,
}

struct ChunkScript {
    completion: Completion,
    include_usage: bool,
    chunks: Vec<Chunk>,
}

impl ChunkScript {
    fn new(completion: Completion, include_usage: bool) -> Self {
        let plan = &completion.plan;
        let mut chunks = Vec::with_capacity(plan.token_events() + plan.tool_calls.len() + 4);
        chunks.push(Chunk::Role);
        chunks.extend((0..plan.tokens.len()).map(Chunk::Text));
        for (call_index, call) in plan.tool_calls.iter().enumerate() {
            chunks.push(Chunk::ToolCall(call_index));
            chunks.extend(
                (0..call.fragments.len()).map(|fragment| Chunk::Arguments(call_index, fragment)),
            );
        }
        chunks.push(Chunk::Finish);
        if include_usage {
            chunks.push(Chunk::Usage);
        }
        chunks.push(Chunk::Done);
        Self {
            completion,
            include_usage,
            chunks,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>) -> Value {
        let mut chunk = json!({
            "id": self.completion.id,
            "object": "chat.completion.chunk",
            "created": self.completion.created,
            "model": self.completion.model,
            "choices": [{
                "index": 0,
                "delta": null,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        chunk["choices"][0]["delta"] = delta;
        if self.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }
}

impl EventScript for ChunkScript {
    fn len(&self) -> usize {
        self.chunks.len()
    }

    fn is_token(&self, index: usize) -> bool {
        matches!(
            self.chunks.get(index),
            Some(Chunk::Text(_) | Chunk::Arguments(..))
        )
    }

    fn generation_start(&self) -> usize {
        0
    }

    fn render(&mut self, index: usize) -> Bytes {
        let plan = &self.completion.plan;
        let Some(chunk) = self.chunks.get(index).copied() else {
            return Bytes::new();
        };
        let event = match chunk {
            Chunk::Role => {
                let content = if plan.has_message() {
                    json!("")
                } else {
                    Value::Null
                };
                self.chunk(
                    json!({"role": "assistant", "content": content, "refusal": null}),
                    None,
                )
            }
            Chunk::Text(token) => self.chunk(json!({"content": plan.tokens[token]}), None),
            Chunk::ToolCall(call_index) => {
                let call = &plan.tool_calls[call_index];
                self.chunk(
                    json!({"tool_calls": [{
                        "index": call_index,
                        "id": call.call_id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": ""},
                    }]}),
                    None,
                )
            }
            Chunk::Arguments(call_index, fragment) => self.chunk(
                json!({"tool_calls": [{
                    "index": call_index,
                    "function": {"arguments": plan.tool_calls[call_index].fragments[fragment]},
                }]}),
                None,
            ),
            Chunk::Finish => self.chunk(json!({}), Some(plan.finish_reason.as_str())),
            Chunk::Usage => json!({
                "id": self.completion.id,
                "object": "chat.completion.chunk",
                "created": self.completion.created,
                "model": self.completion.model,
                "choices": [],
                "usage": usage_object(plan),
            }),
            Chunk::Done => return Bytes::from_static(b"data: [DONE]\n\n"),
        };
        sse_data(&event)
    }

    fn render_error(&mut self, _index: usize) -> Bytes {
        sse_data(&openai_error_body(
            SERVER_ERROR_MESSAGE,
            "server_error",
            None,
            None,
        ))
    }
}

/// `data: <json>\n\n`.
fn sse_data(event: &Value) -> Bytes {
    let mut frame = Vec::with_capacity(256);
    frame.extend_from_slice(b"data: ");
    // Writing a `Value` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut frame, event);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}
