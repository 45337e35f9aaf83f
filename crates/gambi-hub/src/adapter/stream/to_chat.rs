//! Responses stream -> Chat Completions stream.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::adapter::error::provider_error;
use crate::adapter::response::{ChatContext, arguments_text, chat_finish_reason, chat_usage};
use crate::adapter::sse::{DONE_FRAME, SseEvent, SseParser, write_data_frame};
use crate::adapter::str_of;
use crate::adapter::usage::TokenUsage;

/// The message of a stream that ends without a terminal event.
const TRUNCATED: &str = "The provider's stream ended before the response was finished.";

/// Turns a Responses event stream into the `chat.completion.chunk` stream a Chat Completions
/// client expects.
///
/// Providers that skip deltas and only send the `.done` events (or only the final
/// `response.completed`) are caught up from those: whatever text or arguments the deltas did
/// not carry is sent when the item or the response is done.
#[derive(Debug)]
pub(crate) struct ResponsesToChatStream {
    ctx: ChatContext,
    parser: SseParser,
    role_sent: bool,
    done: bool,
    tools: Vec<Tool>,
    texts: Vec<Text>,
    usage: Option<Value>,
    first_content: bool,
    final_response: Option<Value>,
    failure: Option<String>,
    malformed: u64,
}

/// A function call, by its Responses item id, with its Chat Completions `index`.
#[derive(Debug)]
struct Tool {
    item_id: String,
    arguments: String,
}

/// Text streamed so far for one content part of one message item.
#[derive(Debug)]
struct Text {
    item_id: String,
    content_index: u64,
    refusal: bool,
    text: String,
}

impl ResponsesToChatStream {
    /// A stream answering the Chat Completions request described by `ctx`.
    pub(crate) fn new(ctx: ChatContext) -> Self {
        Self {
            ctx,
            parser: SseParser::new(),
            role_sent: false,
            done: false,
            tools: Vec::new(),
            texts: Vec::new(),
            usage: None,
            first_content: false,
            final_response: None,
            failure: None,
            malformed: 0,
        }
    }

    /// Feeds upstream bytes (cut anywhere) and returns the frames they produce.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::new();
        if self.done {
            return Bytes::new();
        }
        for event in self.parser.push(chunk) {
            self.handle(&event, &mut out);
            if self.done {
                break;
            }
        }
        Bytes::from(out)
    }

    /// The upstream ended: returns the remaining frames; an upstream that ended without a
    /// terminal event gets an error frame.
    pub(crate) fn finish(&mut self) -> Bytes {
        let mut out = Vec::new();
        if self.done {
            return Bytes::new();
        }
        if let Some(event) = self.parser.finish() {
            self.handle(&event, &mut out);
        }
        if !self.done {
            self.error(&mut out, TRUNCATED, None, None);
        }
        Bytes::from(out)
    }

    /// The upstream failed (tunnel error, provider gone): ends with an error frame.
    pub(crate) fn fail(&mut self, message: &str) -> Bytes {
        let mut out = Vec::new();
        if !self.done {
            self.error(&mut out, message, None, None);
        }
        Bytes::from(out)
    }

    #[cfg(test)]
    /// Whether the stream has ended (`[DONE]` or an error frame written).
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

    #[cfg(test)]
    /// The provider's final Response object, once it arrived.
    pub(crate) fn final_response(&self) -> Option<&Value> {
        self.final_response.as_ref()
    }

    /// The error the stream ended with (the provider failed, or stopped short), if it did.
    pub(crate) fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    #[cfg(test)]
    /// Upstream events skipped because their data was not JSON.
    pub(crate) fn malformed_events(&self) -> u64 {
        self.malformed
    }

    fn chunk(&self, delta: Value, finish_reason: Value, logprobs: Value) -> Value {
        let mut choice = json!({"index": 0});
        choice["delta"] = delta;
        choice["logprobs"] = logprobs;
        choice["finish_reason"] = finish_reason;
        let mut chunk = json!({
            "id": self.ctx.id,
            "object": "chat.completion.chunk",
            "created": self.ctx.created,
            "model": self.ctx.model,
        });
        chunk["choices"] = Value::Array(vec![choice]);
        if self.ctx.include_usage {
            chunk["usage"] = Value::Null;
        }
        chunk
    }

    fn send(&mut self, out: &mut Vec<u8>, delta: Value, logprobs: Value) {
        // As OpenAI does: a message that starts with text announces `content: ""`, one that
        // starts with a tool call `content: null` (so a tool-only answer ends with null).
        let content = if delta.get("tool_calls").is_some() {
            Value::Null
        } else {
            json!("")
        };
        self.ensure_role_with(out, content);
        let chunk = self.chunk(delta, Value::Null, logprobs);
        write_data_frame(out, &chunk);
    }

    fn ensure_role(&mut self, out: &mut Vec<u8>) {
        self.ensure_role_with(out, json!(""));
    }

    /// Sends the role chunk once, before the first delta.
    fn ensure_role_with(&mut self, out: &mut Vec<u8>, content: Value) {
        if self.role_sent {
            return;
        }
        self.role_sent = true;
        let chunk = self.chunk(
            json!({"role": "assistant", "content": content}),
            Value::Null,
            Value::Null,
        );
        write_data_frame(out, &chunk);
    }

    fn handle(&mut self, event: &SseEvent, out: &mut Vec<u8>) {
        let data = event.data.trim();
        if data == "[DONE]" {
            // Not part of the Responses API; a provider that sends it has ended the stream.
            return;
        }
        let parsed: Option<Value> = serde_json::from_str(data).ok();
        let Some(value) = parsed else {
            if event.event.as_deref() == Some("error") {
                self.error(out, data, None, None);
            } else {
                self.malformed += 1;
            }
            return;
        };
        let kind = str_of(&value, "type").or(event.event.as_deref());
        match kind {
            // The role chunk waits for the first delta, which says whether the message starts
            // with text or with a tool call.
            Some("response.created" | "response.in_progress") => {}
            Some("response.output_item.added") => {
                if let Some(item) = value.get("item") {
                    if str_of(item, "type") == Some("function_call") {
                        self.tool_index(out, item);
                        self.catch_up_arguments(out, item);
                    }
                }
            }
            Some("response.output_text.delta") => {
                let delta = str_of(&value, "delta").unwrap_or("");
                let logprobs = value.get("logprobs").cloned();
                self.text_delta(out, &value, delta, false, logprobs);
            }
            Some("response.refusal.delta") => {
                let delta = str_of(&value, "delta").unwrap_or("");
                self.text_delta(out, &value, delta, true, None);
            }
            Some("response.reasoning_text.delta" | "response.reasoning_summary_text.delta") => {
                // Not part of the Chat Completions API, but the field vLLM, llama.cpp and
                // DeepSeek use, which chat clients display; the OpenAI SDKs ignore it.
                let delta = str_of(&value, "delta").unwrap_or("");
                if !delta.is_empty() {
                    self.first_content = true;
                    self.send(out, json!({"reasoning_content": delta}), Value::Null);
                }
            }
            Some("response.output_text.done") => {
                let full = str_of(&value, "text").unwrap_or("");
                self.catch_up_text(out, &value, full, false);
            }
            Some("response.refusal.done") => {
                let full = str_of(&value, "refusal").unwrap_or("");
                self.catch_up_text(out, &value, full, true);
            }
            Some("response.function_call_arguments.delta") => {
                let item_id = str_of(&value, "item_id").unwrap_or("");
                let delta = str_of(&value, "delta").unwrap_or("");
                self.arguments_delta(out, item_id, delta);
            }
            Some("response.function_call_arguments.done") => {
                let item = json!({"id": value.get("item_id"), "arguments": value.get("arguments")});
                self.catch_up_arguments(out, &item);
            }
            Some("response.output_item.done") => {
                if let Some(item) = value.get("item") {
                    self.catch_up_item(out, item);
                }
            }
            Some("response.completed" | "response.incomplete") => {
                let response = value.get("response").cloned().unwrap_or(Value::Null);
                self.complete(out, response);
            }
            Some("response.failed") => {
                let response = value.get("response").unwrap_or(&Value::Null);
                let error = response.get("error").unwrap_or(&Value::Null);
                let message = str_of(error, "message")
                    .unwrap_or("The provider failed to generate a response.");
                let code = str_of(error, "code");
                self.final_response = Some(response.clone());
                if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
                    self.usage = Some(usage.clone());
                }
                self.error(out, message, code, None);
            }
            Some("error") => {
                let (message, code) = provider_error(&value).unwrap_or_else(|| {
                    (
                        str_of(&value, "message")
                            .unwrap_or("The provider reported an error.")
                            .to_owned(),
                        str_of(&value, "code").map(str::to_owned),
                    )
                });
                let param = str_of(&value, "param");
                self.error(out, &message, code.as_deref(), param);
            }
            Some(_) => {}
            None => {
                if let Some((message, code)) = provider_error(&value) {
                    self.error(out, &message, code.as_deref(), None);
                }
            }
        }
    }

    fn text_delta(
        &mut self,
        out: &mut Vec<u8>,
        event: &Value,
        delta: &str,
        refusal: bool,
        logprobs: Option<Value>,
    ) {
        if delta.is_empty() {
            return;
        }
        let item_id = str_of(event, "item_id").unwrap_or("");
        let content_index = event
            .get("content_index")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let position = self.texts.iter().position(|t| {
            t.item_id == item_id && t.content_index == content_index && t.refusal == refusal
        });
        match position {
            Some(i) => self.texts[i].text.push_str(delta),
            None => self.texts.push(Text {
                item_id: item_id.to_owned(),
                content_index,
                refusal,
                text: delta.to_owned(),
            }),
        }
        self.first_content = true;
        let (delta, logprobs) = if refusal {
            (json!({"refusal": delta}), Value::Null)
        } else if self.ctx.logprobs {
            let lp = logprobs
                .filter(Value::is_array)
                .unwrap_or_else(|| json!([]));
            (
                json!({"content": delta}),
                json!({"content": lp, "refusal": null}),
            )
        } else {
            (json!({"content": delta}), Value::Null)
        };
        self.send(out, delta, logprobs);
    }

    /// Sends whatever part of `full` the deltas have not carried yet.
    fn catch_up_text(&mut self, out: &mut Vec<u8>, event: &Value, full: &str, refusal: bool) {
        let item_id = str_of(event, "item_id").unwrap_or("");
        let content_index = event
            .get("content_index")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        let seen = self
            .texts
            .iter()
            .find(|t| {
                t.item_id == item_id && t.content_index == content_index && t.refusal == refusal
            })
            .map_or("", |t| t.text.as_str());
        if let Some(rest) = full.strip_prefix(seen) {
            let rest = rest.to_owned();
            self.text_delta(out, event, &rest, refusal, None);
        }
    }

    /// The chat `index` of a function-call item, announcing it on first sight.
    fn tool_index(&mut self, out: &mut Vec<u8>, item: &Value) -> usize {
        let item_id = str_of(item, "id").unwrap_or("");
        if let Some(index) = self.tools.iter().position(|t| t.item_id == item_id) {
            return index;
        }
        let index = self.tools.len();
        self.tools.push(Tool {
            item_id: item_id.to_owned(),
            arguments: String::new(),
        });
        let call_id = str_of(item, "call_id")
            .filter(|id| !id.is_empty())
            .map_or_else(|| self.ctx.ids.tool_call(), str::to_owned);
        self.first_content = true;
        self.send(
            out,
            json!({"tool_calls": [{
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": str_of(item, "name").unwrap_or(""), "arguments": ""},
            }]}),
            Value::Null,
        );
        index
    }

    fn arguments_delta(&mut self, out: &mut Vec<u8>, item_id: &str, delta: &str) {
        if delta.is_empty() {
            return;
        }
        let index = match self.tools.iter().position(|t| t.item_id == item_id) {
            Some(index) => index,
            None => self.tool_index(out, &json!({"id": item_id})),
        };
        self.tools[index].arguments.push_str(delta);
        self.send(
            out,
            json!({"tool_calls": [{"index": index, "function": {"arguments": delta}}]}),
            Value::Null,
        );
    }

    /// Sends whatever part of the item's arguments the deltas have not carried yet.
    fn catch_up_arguments(&mut self, out: &mut Vec<u8>, item: &Value) {
        let item_id = str_of(item, "id").unwrap_or("");
        let full = arguments_text(item.get("arguments"));
        let seen = self
            .tools
            .iter()
            .find(|t| t.item_id == item_id)
            .map_or("", |t| t.arguments.as_str());
        if let Some(rest) = full.strip_prefix(seen) {
            let rest = rest.to_owned();
            self.arguments_delta(out, item_id, &rest);
        }
    }

    fn catch_up_item(&mut self, out: &mut Vec<u8>, item: &Value) {
        match str_of(item, "type") {
            Some("function_call") => {
                self.tool_index(out, item);
                self.catch_up_arguments(out, item);
            }
            Some("message") => {
                let item_id = str_of(item, "id").unwrap_or("");
                let parts = item.get("content").and_then(Value::as_array);
                for (j, part) in parts.into_iter().flatten().enumerate() {
                    let event = json!({"item_id": item_id, "content_index": j});
                    match str_of(part, "type") {
                        Some("output_text") => {
                            let full = str_of(part, "text").unwrap_or("");
                            self.catch_up_text(out, &event, full, false);
                        }
                        Some("refusal") => {
                            let full = str_of(part, "refusal").unwrap_or("");
                            self.catch_up_text(out, &event, full, true);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn complete(&mut self, out: &mut Vec<u8>, response: Value) {
        self.ensure_role(out);
        let items = response.get("output").and_then(Value::as_array).cloned();
        for item in items.iter().flatten() {
            self.catch_up_item(out, item);
        }
        if let Some(usage) = response.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(usage.clone());
        }
        let finish = chat_finish_reason(&response, !self.tools.is_empty());
        let chunk = self.chunk(json!({}), Value::from(finish), Value::Null);
        write_data_frame(out, &chunk);
        if self.ctx.include_usage {
            if let Some(usage) = self.usage.as_ref().and_then(chat_usage) {
                let chunk = json!({
                    "id": self.ctx.id,
                    "object": "chat.completion.chunk",
                    "created": self.ctx.created,
                    "model": self.ctx.model,
                    "choices": [],
                    "usage": usage,
                });
                write_data_frame(out, &chunk);
            }
        }
        out.extend_from_slice(DONE_FRAME);
        self.final_response = Some(response);
        self.done = true;
    }

    fn error(&mut self, out: &mut Vec<u8>, message: &str, code: Option<&str>, param: Option<&str>) {
        let frame = json!({"error": {
            "message": message,
            "type": "server_error",
            "param": param,
            "code": code,
        }});
        write_data_frame(out, &frame);
        self.failure = Some(message.to_owned());
        self.done = true;
    }
}
