//! The Responses API: `POST /v1/responses` (a Response object, or the typed event stream
//! from `response.created` to `response.completed`), and the lifecycle routes over the
//! responses it keeps: retrieve, delete, cancel and list input items.

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use std::sync::Arc;

use serde_json::{Value, json};

use super::handler::{invalid_json, json_response, non_generating, openai_error, reject_model};
use super::reply::{FinishReason, InterruptionKind, Plan, SERVER_ERROR_MESSAGE, StreamFailure};
use super::state::{Shared, StoredResponse};
use super::stream::{self, EventScript, Timing};
use super::text::{count_prompt_tokens, count_tokens, last_user_text, new_id, unix_now};

/// Default and largest page of `GET /v1/responses/{id}/input_items`.
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;

/// Answers one `POST /v1/responses`.
pub(crate) async fn create(shared: &Arc<Shared>, body: Option<Value>) -> Response {
    let Some(Value::Object(request)) = body else {
        return invalid_json();
    };
    let request = Value::Object(request);
    if let Some(rejection) = reject_model(shared, &request) {
        return rejection;
    }
    let model = request["model"].as_str().unwrap_or_default().to_owned();
    let history = match request.get("previous_response_id").and_then(Value::as_str) {
        None => Vec::new(),
        Some(previous) => match shared.responses().get(previous) {
            Some(stored) => stored.conversation.clone(),
            None => return previous_not_found(previous),
        },
    };
    let input_items = input_items_of(request.get("input"));
    let streamed = request.get("stream").and_then(Value::as_bool) == Some(true);
    let store = request.get("store").and_then(Value::as_bool) != Some(false);

    let reply = shared.next_reply();
    if let Some(response) = non_generating(&reply).await {
        return response;
    }
    let config = &shared.config;
    let timing = Timing::for_reply(&reply, config.first_token_delay, config.token_delay);
    let conversation = || history.iter().chain(input_items.iter());
    let plan = Plan::new(
        reply,
        || last_user_text(conversation()),
        || {
            let instructions = request.get("instructions").and_then(Value::as_str);
            count_prompt_tokens(conversation()) + instructions.map_or(0, count_tokens)
        },
    );
    let generation = Generation::new(&request, model, plan, store);
    let mut full_conversation = history;
    full_conversation.extend(input_items.iter().cloned());
    full_conversation.extend(generation.output_items());
    let stored = StoredResponse {
        object: Value::Null,
        input_items,
        conversation: full_conversation,
    };

    if streamed {
        generation.store(shared, stored, generation.in_progress_object());
        let script = EventsScript::new(generation, Arc::clone(shared));
        let stop = script
            .generation
            .plan
            .interruption
            .map(|interruption| stream::break_point(&script, interruption));
        stream::sse_response(script, timing, stop)
    } else {
        non_streamed(shared, generation, stored, timing).await
    }
}

async fn non_streamed(
    shared: &Shared,
    generation: Generation,
    stored: StoredResponse,
    timing: Timing,
) -> Response {
    let total = generation.plan.token_events();
    let Some(interruption) = generation.plan.interruption else {
        sleep(timing.generation_time(total)).await;
        let object = generation.final_object();
        generation.store(shared, stored, object.clone());
        return json_response(StatusCode::OK, &object);
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
            stream::cut_json_response(generation.final_object().to_string().into_bytes())
        }
    }
}

async fn sleep(duration: std::time::Duration) {
    if !duration.is_zero() {
        tokio::time::sleep(duration).await;
    }
}

/// `GET /v1/responses/{id}`.
pub(crate) fn retrieve(shared: &Shared, id: &str) -> Response {
    match shared.responses().get(id) {
        Some(stored) => json_response(StatusCode::OK, &stored.object),
        None => response_not_found(id),
    }
}

/// `DELETE /v1/responses/{id}`: `{"id","object":"response","deleted":true}`.
pub(crate) fn delete(shared: &Shared, id: &str) -> Response {
    match shared.responses().remove(id) {
        Some(_) => json_response(
            StatusCode::OK,
            &json!({"id": id, "object": "response", "deleted": true}),
        ),
        None => response_not_found(id),
    }
}

/// `POST /v1/responses/{id}/cancel`. Lenient: any stored response can be cancelled; one
/// still in progress becomes `cancelled`, a finished one is returned unchanged.
pub(crate) fn cancel(shared: &Shared, id: &str) -> Response {
    let mut responses = shared.responses();
    let Some(stored) = responses.get_mut(id) else {
        return response_not_found(id);
    };
    if stored.object["status"] == "in_progress" {
        stored.object["status"] = json!("cancelled");
    }
    json_response(StatusCode::OK, &stored.object)
}

/// `GET /v1/responses/{id}/input_items`, with `limit`, `order` (default `desc`, newest
/// first, as the API does) and `after`.
pub(crate) fn input_items(shared: &Shared, id: &str, query: Option<&str>) -> Response {
    let mut items = match shared.responses().get(id) {
        Some(stored) => stored.input_items.clone(),
        None => return response_not_found(id),
    };
    let mut limit = DEFAULT_PAGE;
    let mut ascending = false;
    let mut after = None;
    for pair in query.unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("limit", value)) => {
                limit = value.parse().unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
            }
            Some(("order", value)) => ascending = value == "asc",
            Some(("after", value)) => after = Some(value.to_owned()),
            _ => {}
        }
    }
    if !ascending {
        items.reverse();
    }
    if let Some(after) = after {
        if let Some(position) = items.iter().position(|item| item["id"] == after.as_str()) {
            items.drain(..=position);
        }
    }
    let has_more = items.len() > limit;
    items.truncate(limit);
    let first_id = items.first().map_or(Value::Null, |item| item["id"].clone());
    let last_id = items.last().map_or(Value::Null, |item| item["id"].clone());
    json_response(
        StatusCode::OK,
        &json!({
            "object": "list",
            "data": items,
            "first_id": first_id,
            "last_id": last_id,
            "has_more": has_more,
        }),
    )
}

fn response_not_found(id: &str) -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("Response with id '{id}' not found."),
        "invalid_request_error",
        None,
        None,
    )
}

fn previous_not_found(id: &str) -> Response {
    openai_error(
        StatusCode::NOT_FOUND,
        &format!("Previous response with id '{id}' not found."),
        "invalid_request_error",
        Some("previous_response_id"),
        Some("previous_response_not_found"),
    )
}

/// The request's `input` as input items with ids: a string becomes one user message;
/// messages get `type`, `status` and typed content parts; other items are kept as sent.
fn input_items_of(input: Option<&Value>) -> Vec<Value> {
    match input {
        Some(Value::String(text)) => vec![message_item("user", &Value::String(text.clone()))],
        Some(Value::Array(items)) => items.iter().map(input_item).collect(),
        _ => Vec::new(),
    }
}

fn input_item(item: &Value) -> Value {
    let Value::Object(fields) = item else {
        return message_item("user", item);
    };
    let is_message = matches!(
        fields.get("type").and_then(Value::as_str),
        None | Some("message")
    );
    if let (true, Some(role)) = (is_message, fields.get("role").and_then(Value::as_str)) {
        let mut message = message_item(role, fields.get("content").unwrap_or(&Value::Null));
        if let Some(id) = fields.get("id") {
            message["id"] = id.clone();
        }
        return message;
    }
    let mut kept = fields.clone();
    kept.entry("id")
        .or_insert_with(|| Value::String(new_id("item_", 48)));
    Value::Object(kept)
}

fn message_item(role: &str, content: &Value) -> Value {
    let part_type = if role == "assistant" {
        "output_text"
    } else {
        "input_text"
    };
    let content = match content {
        Value::String(text) => json!([{"type": part_type, "text": text}]),
        Value::Array(parts) => Value::Array(parts.clone()),
        _ => json!([]),
    };
    json!({
        "id": new_id("msg_", 48),
        "type": "message",
        "role": role,
        "status": "completed",
        "content": content,
    })
}

/// One Response being produced.
struct Generation {
    id: String,
    message_id: String,
    /// The Response object with the request's settings echoed; status, output and usage are
    /// filled in per use.
    template: Value,
    store: bool,
    plan: Plan,
}

impl Generation {
    fn new(request: &Value, model: String, plan: Plan, store: bool) -> Self {
        let id = new_id("resp_", 48);
        let echoed = |name: &str, default: Value| {
            request
                .get(name)
                .filter(|value| !value.is_null())
                .cloned()
                .unwrap_or(default)
        };
        let mut template = json!({
            "id": id,
            "object": "response",
            "created_at": unix_now(),
            "status": "in_progress",
            "background": echoed("background", json!(false)),
            "error": null,
            "incomplete_details": null,
            "instructions": echoed("instructions", Value::Null),
            "max_output_tokens": echoed("max_output_tokens", Value::Null),
            "max_tool_calls": echoed("max_tool_calls", Value::Null),
            "model": null,
            "output": [],
            "parallel_tool_calls": echoed("parallel_tool_calls", json!(true)),
            "previous_response_id": echoed("previous_response_id", Value::Null),
            "reasoning": echoed("reasoning", json!({"effort": null, "summary": null})),
            "service_tier": "default",
            "store": store,
            "temperature": echoed("temperature", json!(1.0)),
            "text": echoed("text", json!({"format": {"type": "text"}, "verbosity": "medium"})),
            "tool_choice": echoed("tool_choice", json!("auto")),
            "tools": echoed("tools", json!([])),
            "top_logprobs": echoed("top_logprobs", json!(0)),
            "top_p": echoed("top_p", json!(1.0)),
            "truncation": echoed("truncation", json!("disabled")),
            "usage": null,
            "user": echoed("user", Value::Null),
            "metadata": echoed("metadata", json!({})),
        });
        template["model"] = Value::String(model);
        Self {
            id,
            message_id: new_id("msg_", 48),
            template,
            store,
            plan,
        }
    }

    /// `max_output_tokens` / `content_filter` for a reply that stopped short.
    fn incomplete_reason(&self) -> Option<&'static str> {
        match self.plan.finish_reason {
            FinishReason::Length => Some("max_output_tokens"),
            FinishReason::ContentFilter => Some("content_filter"),
            FinishReason::Stop | FinishReason::ToolCalls => None,
        }
    }

    fn message_index(&self) -> Option<usize> {
        self.plan.has_message().then_some(0)
    }

    fn call_output_index(&self, call: usize) -> usize {
        call + usize::from(self.plan.has_message())
    }

    fn text_part(text: &str) -> Value {
        json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
    }

    fn message(&self, status: &str, content: Vec<Value>) -> Value {
        let mut message = json!({
            "id": self.message_id,
            "type": "message",
            "status": status,
            "content": [],
            "role": "assistant",
        });
        message["content"] = Value::Array(content);
        message
    }

    fn final_message(&self) -> Value {
        let status = if self.incomplete_reason().is_some() {
            "incomplete"
        } else {
            "completed"
        };
        self.message(status, vec![Self::text_part(&self.plan.text())])
    }

    fn call(&self, index: usize, status: &str, arguments: &str) -> Value {
        let call = &self.plan.tool_calls[index];
        json!({
            "id": call.item_id,
            "type": "function_call",
            "status": status,
            "arguments": arguments,
            "call_id": call.call_id,
            "name": call.name,
        })
    }

    fn output_items(&self) -> Vec<Value> {
        let mut output = Vec::with_capacity(self.plan.tool_calls.len() + 1);
        if self.plan.has_message() {
            output.push(self.final_message());
        }
        for (index, call) in self.plan.tool_calls.iter().enumerate() {
            output.push(self.call(index, "completed", &call.arguments));
        }
        output
    }

    fn in_progress_object(&self) -> Value {
        self.template.clone()
    }

    fn final_object(&self) -> Value {
        let mut object = self.template.clone();
        let usage = &self.plan.usage;
        object["status"] = json!(if self.incomplete_reason().is_some() {
            "incomplete"
        } else {
            "completed"
        });
        if let Some(reason) = self.incomplete_reason() {
            object["incomplete_details"] = json!({"reason": reason});
        }
        object["output"] = Value::Array(self.output_items());
        object["usage"] = json!({
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        });
        object
    }

    fn store(&self, shared: &Shared, mut stored: StoredResponse, object: Value) {
        if self.store {
            stored.object = object;
            shared.responses().insert(self.id.clone(), stored);
        }
    }
}

/// One event of a Responses stream.
#[derive(Debug, Clone, Copy)]
enum Event {
    Created,
    InProgress,
    MessageAdded,
    PartAdded,
    TextDelta(usize),
    TextDone,
    PartDone,
    MessageDone,
    CallAdded(usize),
    ArgumentsDelta(usize, usize),
    ArgumentsDone(usize),
    CallDone(usize),
    Completed,
}

impl Event {
    fn kind(self) -> &'static str {
        match self {
            Self::Created => "response.created",
            Self::InProgress => "response.in_progress",
            Self::MessageAdded | Self::CallAdded(_) => "response.output_item.added",
            Self::PartAdded => "response.content_part.added",
            Self::TextDelta(_) => "response.output_text.delta",
            Self::TextDone => "response.output_text.done",
            Self::PartDone => "response.content_part.done",
            Self::MessageDone | Self::CallDone(_) => "response.output_item.done",
            Self::ArgumentsDelta(..) => "response.function_call_arguments.delta",
            Self::ArgumentsDone(_) => "response.function_call_arguments.done",
            Self::Completed => "response.completed",
        }
    }
}

struct EventsScript {
    generation: Generation,
    events: Vec<Event>,
    /// Where the finished response is stored; the stream outlives the request handler.
    shared: Arc<Shared>,
}

impl EventsScript {
    fn new(generation: Generation, shared: Arc<Shared>) -> Self {
        let plan = &generation.plan;
        let mut events = Vec::with_capacity(plan.token_events() + 4 * plan.tool_calls.len() + 8);
        events.extend([Event::Created, Event::InProgress]);
        if plan.has_message() {
            events.extend([Event::MessageAdded, Event::PartAdded]);
            events.extend((0..plan.tokens.len()).map(Event::TextDelta));
            events.extend([Event::TextDone, Event::PartDone, Event::MessageDone]);
        }
        for (call, planned) in plan.tool_calls.iter().enumerate() {
            events.push(Event::CallAdded(call));
            events.extend(
                (0..planned.fragments.len()).map(|fragment| Event::ArgumentsDelta(call, fragment)),
            );
            events.extend([Event::ArgumentsDone(call), Event::CallDone(call)]);
        }
        events.push(Event::Completed);
        Self {
            generation,
            events,
            shared,
        }
    }
}

impl EventScript for EventsScript {
    fn len(&self) -> usize {
        self.events.len()
    }

    fn is_token(&self, index: usize) -> bool {
        matches!(
            self.events.get(index),
            Some(Event::TextDelta(_) | Event::ArgumentsDelta(..))
        )
    }

    fn generation_start(&self) -> usize {
        2
    }

    fn render(&mut self, index: usize) -> Bytes {
        let Some(event) = self.events.get(index).copied() else {
            return Bytes::new();
        };
        let generation = &self.generation;
        let plan = &generation.plan;
        let message_index = generation.message_index().unwrap_or_default();
        let mut data = match event {
            Event::Created | Event::InProgress => {
                json!({"response": generation.in_progress_object()})
            }
            Event::MessageAdded => json!({
                "output_index": message_index,
                "item": generation.message("in_progress", Vec::new()),
            }),
            Event::PartAdded => json!({
                "item_id": generation.message_id,
                "output_index": message_index,
                "content_index": 0,
                "part": Generation::text_part(""),
            }),
            Event::TextDelta(token) => json!({
                "item_id": generation.message_id,
                "output_index": message_index,
                "content_index": 0,
                "delta": plan.tokens[token],
                "logprobs": [],
            }),
            Event::TextDone => json!({
                "item_id": generation.message_id,
                "output_index": message_index,
                "content_index": 0,
                "text": plan.text(),
                "logprobs": [],
            }),
            Event::PartDone => json!({
                "item_id": generation.message_id,
                "output_index": message_index,
                "content_index": 0,
                "part": Generation::text_part(&plan.text()),
            }),
            Event::MessageDone => json!({
                "output_index": message_index,
                "item": generation.final_message(),
            }),
            Event::CallAdded(call) => json!({
                "output_index": generation.call_output_index(call),
                "item": generation.call(call, "in_progress", ""),
            }),
            Event::ArgumentsDelta(call, fragment) => json!({
                "item_id": plan.tool_calls[call].item_id,
                "output_index": generation.call_output_index(call),
                "delta": plan.tool_calls[call].fragments[fragment],
            }),
            Event::ArgumentsDone(call) => json!({
                "item_id": plan.tool_calls[call].item_id,
                "output_index": generation.call_output_index(call),
                "name": plan.tool_calls[call].name,
                "arguments": plan.tool_calls[call].arguments,
            }),
            Event::CallDone(call) => json!({
                "output_index": generation.call_output_index(call),
                "item": generation.call(call, "completed", &plan.tool_calls[call].arguments),
            }),
            Event::Completed => json!({"response": generation.final_object()}),
        };
        let kind = if matches!(event, Event::Completed) && generation.incomplete_reason().is_some()
        {
            "response.incomplete"
        } else {
            event.kind()
        };
        if let Value::Object(fields) = &mut data {
            fields.insert("type".to_owned(), json!(kind));
            fields.insert("sequence_number".to_owned(), json!(index));
        }
        sse_event(kind, &data)
    }

    fn render_error(&mut self, index: usize) -> Bytes {
        let data = json!({
            "type": "error",
            "code": "server_error",
            "message": SERVER_ERROR_MESSAGE,
            "param": null,
            "sequence_number": index,
        });
        sse_event("error", &data)
    }

    fn finished(&mut self) {
        if !self.generation.store {
            return;
        }
        let mut responses = self.shared.responses();
        if let Some(stored) = responses.get_mut(&self.generation.id) {
            // A response cancelled or replaced meanwhile keeps what it was given.
            if stored.object["status"] == "in_progress" {
                stored.object = self.generation.final_object();
            }
        }
    }
}

/// `event: <kind>\ndata: <json>\n\n`.
fn sse_event(kind: &str, data: &Value) -> Bytes {
    let mut frame = Vec::with_capacity(512);
    frame.extend_from_slice(b"event: ");
    frame.extend_from_slice(kind.as_bytes());
    frame.extend_from_slice(b"\ndata: ");
    // Writing a `Value` to a `Vec` cannot fail.
    let _ = serde_json::to_writer(&mut frame, data);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}
