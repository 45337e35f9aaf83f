//! Chat Completions stream -> Responses stream.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::adapter::error::provider_error;
use crate::adapter::response::{
    ResponseContext, arguments_text, chat_content_text, finish_status, function_call_item,
    item_status, response_object, responses_usage,
};
use crate::adapter::sse::{SseEvent, SseParser, write_event_frame};
use crate::adapter::str_of;
use crate::adapter::usage::TokenUsage;

mod items;

use items::{Item, Part};

/// The message of a stream that ends with neither a finish reason nor `[DONE]`.
const TRUNCATED: &str = "The provider's stream ended before the response was finished.";

/// Turns a Chat Completions stream into the Responses event stream a Responses client expects.
///
/// Output items are emitted one after another as OpenAI does: a reasoning item while
/// reasoning text arrives, a message item while text arrives, a function-call item per tool
/// call (keyed by the chat `index`, or by id for providers that omit it), and a new item
/// whenever the kind of delta changes (text after tool calls gets a new message item). A fragment for
/// a tool call that was already closed (providers interleaving parallel calls) is still
/// streamed as a delta and kept in the final response.
#[derive(Debug)]
pub(crate) struct ChatToResponsesStream {
    ctx: ResponseContext,
    parser: SseParser,
    seq: u64,
    started: bool,
    done: bool,
    items: Vec<Item>,
    /// The one item still receiving deltas: items are streamed one after another.
    open: Option<usize>,
    finish_reason: Option<String>,
    usage: Option<Value>,
    first_content: bool,
    final_response: Option<Value>,
    malformed: u64,
}

impl ChatToResponsesStream {
    /// A stream for the Response described by `ctx`.
    pub(crate) fn new(ctx: ResponseContext) -> Self {
        Self {
            ctx,
            parser: SseParser::new(),
            seq: 0,
            started: false,
            done: false,
            items: Vec::new(),
            open: None,
            finish_reason: None,
            usage: None,
            first_content: false,
            final_response: None,
            malformed: 0,
        }
    }

    /// `response.created` and `response.in_progress`, which can go out before the provider
    /// answers. Empty if already sent; [`Self::feed`] sends them first otherwise.
    pub(crate) fn start(&mut self) -> Bytes {
        let mut out = Vec::new();
        self.ensure_started(&mut out);
        Bytes::from(out)
    }

    /// Feeds upstream bytes (cut anywhere) and returns the frames they produce.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::new();
        if self.done {
            return Bytes::new();
        }
        self.ensure_started(&mut out);
        for event in self.parser.push(chunk) {
            self.handle(&event, &mut out);
            if self.done {
                break;
            }
        }
        Bytes::from(out)
    }

    /// The upstream ended: returns the remaining frames, always ending with a terminal event
    /// unless one was already sent.
    pub(crate) fn finish(&mut self) -> Bytes {
        let mut out = Vec::new();
        if self.done {
            return Bytes::new();
        }
        self.ensure_started(&mut out);
        if let Some(event) = self.parser.finish() {
            self.handle(&event, &mut out);
        }
        if !self.done {
            if self.finish_reason.is_some() {
                self.terminal(&mut out);
            } else {
                self.failed(&mut out, TRUNCATED);
            }
        }
        Bytes::from(out)
    }

    /// The upstream failed (tunnel error, provider gone): ends with `response.failed`.
    pub(crate) fn fail(&mut self, message: &str) -> Bytes {
        let mut out = Vec::new();
        if self.done {
            return Bytes::new();
        }
        self.ensure_started(&mut out);
        self.failed(&mut out, message);
        Bytes::from(out)
    }

    #[cfg(test)]
    /// Whether the terminal event has been written.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// Whether a content delta (text, refusal, reasoning, tool call) has been written.
    pub(crate) fn first_content_emitted(&self) -> bool {
        self.first_content
    }

    /// The usage the provider reported, if any.
    pub(crate) fn usage(&self) -> Option<TokenUsage> {
        self.usage.as_ref().and_then(TokenUsage::from_usage_object)
    }

    /// The final Response object, once the terminal event has been written.
    pub(crate) fn final_response(&self) -> Option<&Value> {
        self.final_response.as_ref()
    }

    /// The Response id.
    pub(crate) fn response_id(&self) -> &str {
        &self.ctx.id
    }

    #[cfg(test)]
    /// Upstream events skipped because their data was not JSON.
    pub(crate) fn malformed_events(&self) -> u64 {
        self.malformed
    }

    fn emit(&mut self, out: &mut Vec<u8>, kind: &str, mut payload: Value) {
        payload["type"] = Value::from(kind);
        payload["sequence_number"] = Value::from(self.seq);
        self.seq += 1;
        write_event_frame(out, kind, &payload);
    }

    fn ensure_started(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        let response = response_object(
            &self.ctx,
            "in_progress",
            Vec::new(),
            Value::Null,
            Value::Null,
            Value::Null,
        );
        self.emit(
            out,
            "response.created",
            json!({"response": response.clone()}),
        );
        self.emit(out, "response.in_progress", json!({"response": response}));
    }

    fn handle(&mut self, event: &SseEvent, out: &mut Vec<u8>) {
        let data = event.data.trim();
        if data == "[DONE]" {
            self.terminal(out);
            return;
        }
        let parsed: Option<Value> = serde_json::from_str(data).ok();
        if event.event.as_deref() == Some("error") {
            let message = parsed
                .as_ref()
                .and_then(provider_error)
                .map_or_else(|| data.to_owned(), |(m, _)| m);
            self.failed(out, &message);
            return;
        }
        let Some(chunk) = parsed else {
            self.malformed += 1;
            return;
        };
        if let Some((message, _)) = provider_error(&chunk) {
            self.failed(out, &message);
            return;
        }
        let chunk_usage = chunk.get("usage").filter(|u| u.is_object());
        if let Some(usage) = chunk_usage {
            self.usage = Some(usage.clone());
        }
        if self.finish_reason.is_some() {
            // After the finish only the usage matters; once it is here the stream is over.
            if chunk_usage.is_some() {
                self.terminal(out);
            }
            return;
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        let choice = choices.and_then(|cs| {
            cs.iter()
                .find(|c| c.get("index").and_then(Value::as_u64) == Some(0))
                .or_else(|| cs.first())
        });
        let Some(choice) = choice else {
            return;
        };
        if let Some(delta) = choice.get("delta") {
            let reasoning =
                str_of(delta, "reasoning_content").or_else(|| str_of(delta, "reasoning"));
            if let Some(reasoning) = reasoning {
                self.on_reasoning(out, reasoning);
            }
            let text = chat_content_text(delta.get("content"));
            let logprobs = choice
                .get("logprobs")
                .and_then(|l| l.get("content"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            self.on_text(out, &text, &logprobs, false);
            if let Some(refusal) = str_of(delta, "refusal") {
                self.on_text(out, refusal, &[], true);
            }
            let calls = delta.get("tool_calls").and_then(Value::as_array);
            for fragment in calls.into_iter().flatten() {
                self.on_tool_fragment(out, fragment);
            }
            if let Some(function) = delta.get("function_call").filter(|f| f.is_object()) {
                self.on_tool_fragment(out, &json!({"index": 0, "function": function}));
            }
        }
        // Some providers send an empty string instead of null until the real finish.
        if let Some(reason) = str_of(choice, "finish_reason").filter(|r| !r.is_empty()) {
            self.finish_reason = Some(reason.to_owned());
            self.close_items(out);
            if chunk_usage.is_some() {
                self.terminal(out);
            }
        }
    }

    fn on_text(&mut self, out: &mut Vec<u8>, delta: &str, logprobs: &[Value], refusal: bool) {
        if delta.is_empty() {
            return;
        }
        let open = self
            .open
            .filter(|&i| matches!(self.items[i], Item::Message { .. }));
        let index = match open {
            Some(index) => index,
            None => {
                self.close_open(out, "completed");
                let index = self.items.len();
                self.items.push(Item::Message {
                    id: self.ctx.ids.message(),
                    parts: Vec::new(),
                    status: "in_progress",
                });
                self.open = Some(index);
                let item = self.items[index].to_json();
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                );
                index
            }
        };
        let needs_part = match &self.items[index] {
            Item::Message { parts, .. } => {
                parts.last().is_none_or(|p| !p.open || p.refusal != refusal)
            }
            Item::Call { .. } | Item::Reasoning { .. } => false,
        };
        if needs_part {
            self.close_open_part(out, index);
            let Item::Message { id, parts, .. } = &mut self.items[index] else {
                return;
            };
            parts.push(Part {
                refusal,
                text: String::new(),
                logprobs: Vec::new(),
                open: true,
            });
            let payload = json!({
                "item_id": id,
                "output_index": index,
                "content_index": parts.len() - 1,
                "part": parts[parts.len() - 1].to_json(),
            });
            self.emit(out, "response.content_part.added", payload);
        }
        let Item::Message { id, parts, .. } = &mut self.items[index] else {
            return;
        };
        let content_index = parts.len() - 1;
        let item_id = id.clone();
        let part = &mut parts[content_index];
        part.text.push_str(delta);
        let (kind, payload) = if refusal {
            (
                "response.refusal.delta",
                json!({"item_id": item_id, "output_index": index, "content_index": content_index, "delta": delta}),
            )
        } else {
            part.logprobs.extend_from_slice(logprobs);
            (
                "response.output_text.delta",
                json!({"item_id": item_id, "output_index": index, "content_index": content_index,
                       "delta": delta, "logprobs": logprobs}),
            )
        };
        self.first_content = true;
        self.emit(out, kind, payload);
    }

    fn on_tool_fragment(&mut self, out: &mut Vec<u8>, fragment: &Value) {
        let chat_index = fragment.get("index").and_then(Value::as_u64);
        let call_id = str_of(fragment, "id").filter(|id| !id.is_empty());
        let function = fragment.get("function").unwrap_or(&Value::Null);
        let name = str_of(function, "name").unwrap_or("");
        let arguments = arguments_text(function.get("arguments"));

        let found = self.items.iter().position(|item| match item {
            Item::Call {
                chat_index: known,
                call_id: known_id,
                ..
            } => match (chat_index, call_id) {
                (Some(i), _) => *known == Some(i),
                (None, Some(id)) => known_id == id,
                (None, None) => false,
            },
            Item::Message { .. } | Item::Reasoning { .. } => false,
        });
        let found = found.or_else(|| {
            if chat_index.is_none() && call_id.is_none() {
                self.open
                    .filter(|&i| matches!(self.items[i], Item::Call { .. }))
            } else {
                None
            }
        });
        let index = match found {
            Some(index) => index,
            None => {
                self.close_open(out, "completed");
                let index = self.items.len();
                self.items.push(Item::Call {
                    id: self.ctx.ids.function_call(),
                    call_id: call_id.map_or_else(|| self.ctx.ids.tool_call(), str::to_owned),
                    name: String::new(),
                    arguments: String::new(),
                    chat_index,
                    added: false,
                    status: "in_progress",
                });
                self.open = Some(index);
                index
            }
        };
        let Item::Call {
            name: known_name,
            arguments: known_args,
            added,
            ..
        } = &mut self.items[index]
        else {
            return;
        };
        if !*added && known_name.is_empty() {
            known_name.push_str(name);
        }
        known_args.push_str(&arguments);
        if !*added {
            if known_name.is_empty() && known_args.is_empty() {
                return;
            }
            let pending = known_args.clone();
            self.add_tool(out, index);
            self.args_delta(out, index, &pending);
        } else {
            self.args_delta(out, index, &arguments);
        }
    }

    /// Emits `output_item.added` for a function call, with empty arguments as OpenAI does.
    fn add_tool(&mut self, out: &mut Vec<u8>, index: usize) {
        let Item::Call {
            id,
            call_id,
            name,
            added,
            ..
        } = &mut self.items[index]
        else {
            return;
        };
        *added = true;
        let item = function_call_item(id, call_id, name, "", "in_progress");
        self.first_content = true;
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
    }

    fn args_delta(&mut self, out: &mut Vec<u8>, index: usize, delta: &str) {
        if delta.is_empty() {
            return;
        }
        let item_id = self.items[index].id().to_owned();
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": item_id, "output_index": index, "delta": delta}),
        );
    }

    /// Closes the open item with the status the finish reason implies.
    fn close_items(&mut self, out: &mut Vec<u8>) {
        let (status, _) = finish_status(self.finish_reason.as_deref());
        self.close_open(out, item_status(status));
    }

    fn output(&self) -> Vec<Value> {
        self.items.iter().map(Item::to_json).collect()
    }

    fn usage_json(&self) -> Value {
        self.usage.as_ref().map_or(Value::Null, responses_usage)
    }

    /// `response.completed` or `response.incomplete`, by the finish reason.
    fn terminal(&mut self, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        self.close_items(out);
        let (status, incomplete) = finish_status(self.finish_reason.as_deref());
        let response = response_object(
            &self.ctx,
            status,
            self.output(),
            self.usage_json(),
            Value::Null,
            incomplete,
        );
        let kind = if status == "completed" {
            "response.completed"
        } else {
            "response.incomplete"
        };
        self.emit(out, kind, json!({"response": response.clone()}));
        self.final_response = Some(response);
        self.done = true;
    }

    /// `response.failed`; items still open are reported `incomplete`.
    fn failed(&mut self, out: &mut Vec<u8>, message: &str) {
        if self.done {
            return;
        }
        for item in &mut self.items {
            let (Item::Message { status, .. }
            | Item::Call { status, .. }
            | Item::Reasoning { status, .. }) = item;
            if *status == "in_progress" {
                *status = "incomplete";
            }
        }
        let error = json!({"code": "server_error", "message": message});
        let response = response_object(
            &self.ctx,
            "failed",
            self.output(),
            self.usage_json(),
            error,
            Value::Null,
        );
        self.emit(
            out,
            "response.failed",
            json!({"response": response.clone()}),
        );
        self.final_response = Some(response);
        self.done = true;
    }
}
