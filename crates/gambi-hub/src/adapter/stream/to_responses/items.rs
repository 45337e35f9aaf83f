//! The output items of an adapted Responses stream, and how each one is closed.

use serde_json::{Value, json};

use super::ChatToResponsesStream;
use crate::adapter::response::{
    function_call_item, message_item, output_text_part, reasoning_item, refusal_part,
};

#[derive(Debug)]
pub(super) enum Item {
    Message {
        id: String,
        parts: Vec<Part>,
        status: &'static str,
    },
    Call {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        chat_index: Option<u64>,
        added: bool,
        status: &'static str,
    },
    Reasoning {
        id: String,
        text: String,
        status: &'static str,
    },
}

#[derive(Debug)]
pub(super) struct Part {
    pub(super) refusal: bool,
    pub(super) text: String,
    pub(super) logprobs: Vec<Value>,
    pub(super) open: bool,
}

impl Part {
    pub(super) fn to_json(&self) -> Value {
        if self.refusal {
            refusal_part(&self.text)
        } else {
            output_text_part(&self.text, self.logprobs.clone())
        }
    }
}

impl Item {
    pub(super) fn to_json(&self) -> Value {
        match self {
            Item::Message { id, parts, status } => {
                message_item(id, status, parts.iter().map(Part::to_json).collect())
            }
            Item::Call {
                id,
                call_id,
                name,
                arguments,
                status,
                ..
            } => function_call_item(id, call_id, name, arguments, status),
            Item::Reasoning { id, text, .. } => reasoning_item(id, text),
        }
    }

    pub(super) fn id(&self) -> &str {
        match self {
            Item::Message { id, .. } | Item::Call { id, .. } | Item::Reasoning { id, .. } => id,
        }
    }
}

impl ChatToResponsesStream {
    pub(super) fn close_open_part(&mut self, out: &mut Vec<u8>, index: usize) {
        let Item::Message { id, parts, .. } = &mut self.items[index] else {
            return;
        };
        let Some(part) = parts.last_mut().filter(|p| p.open) else {
            return;
        };
        part.open = false;
        let content_index = parts.len() - 1;
        let part = &parts[content_index];
        let item_id = id.clone();
        let (kind, payload) = if part.refusal {
            (
                "response.refusal.done",
                json!({"item_id": item_id, "output_index": index, "content_index": content_index,
                       "refusal": part.text}),
            )
        } else {
            (
                "response.output_text.done",
                json!({"item_id": item_id, "output_index": index, "content_index": content_index,
                       "text": part.text, "logprobs": part.logprobs}),
            )
        };
        let done_part = json!({"item_id": item_id, "output_index": index,
                               "content_index": content_index, "part": part.to_json()});
        self.emit(out, kind, payload);
        self.emit(out, "response.content_part.done", done_part);
    }

    /// Closes the open item, whatever its kind.
    pub(super) fn close_open(&mut self, out: &mut Vec<u8>, final_status: &'static str) {
        let Some(index) = self.open.take() else {
            return;
        };
        match self.items[index] {
            Item::Message { .. } => self.close_message(out, index, final_status),
            Item::Call { .. } => self.close_tool(out, index, final_status),
            Item::Reasoning { .. } => self.close_reasoning(out, index, final_status),
        }
    }

    pub(super) fn close_message(
        &mut self,
        out: &mut Vec<u8>,
        index: usize,
        final_status: &'static str,
    ) {
        self.close_open_part(out, index);
        if let Item::Message { status, .. } = &mut self.items[index] {
            *status = final_status;
        }
        let item = self.items[index].to_json();
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }

    pub(super) fn close_tool(
        &mut self,
        out: &mut Vec<u8>,
        index: usize,
        final_status: &'static str,
    ) {
        if let Item::Call { added: false, .. } = self.items[index] {
            let pending = match &self.items[index] {
                Item::Call { arguments, .. } => arguments.clone(),
                _ => String::new(),
            };
            self.add_tool(out, index);
            self.args_delta(out, index, &pending);
        }
        let Item::Call {
            id,
            name,
            arguments,
            status,
            ..
        } = &mut self.items[index]
        else {
            return;
        };
        *status = final_status;
        let payload =
            json!({"item_id": id, "output_index": index, "arguments": arguments, "name": name});
        let item = self.items[index].to_json();
        self.emit(out, "response.function_call_arguments.done", payload);
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }

    pub(super) fn close_reasoning(
        &mut self,
        out: &mut Vec<u8>,
        index: usize,
        final_status: &'static str,
    ) {
        let Item::Reasoning { id, text, status } = &mut self.items[index] else {
            return;
        };
        *status = final_status;
        let item_id = id.clone();
        let text_done = json!({"item_id": item_id, "output_index": index, "content_index": 0,
                               "text": text});
        let part_done = json!({"item_id": item_id, "output_index": index, "content_index": 0,
                               "part": {"type": "reasoning_text", "text": text}});
        let item = self.items[index].to_json();
        self.emit(out, "response.reasoning_text.done", text_done);
        self.emit(out, "response.content_part.done", part_done);
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }

    /// Streams reasoning text (`reasoning_content` or `reasoning` in the chat delta, as vLLM,
    /// llama.cpp, Ollama and DeepSeek send it) as a `reasoning` item with one `reasoning_text`
    /// part, the way the Responses API streams a reasoning model's thinking.
    pub(super) fn on_reasoning(&mut self, out: &mut Vec<u8>, delta: &str) {
        if delta.is_empty() {
            return;
        }
        let open = self
            .open
            .filter(|&i| matches!(self.items[i], Item::Reasoning { .. }));
        let index = match open {
            Some(index) => index,
            None => {
                self.close_open(out, "completed");
                let index = self.items.len();
                let id = self.ctx.ids.reasoning();
                self.items.push(Item::Reasoning {
                    id: id.clone(),
                    text: String::new(),
                    status: "in_progress",
                });
                self.open = Some(index);
                let item = self.items[index].to_json();
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                );
                self.emit(
                    out,
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                           "part": {"type": "reasoning_text", "text": ""}}),
                );
                index
            }
        };
        let Item::Reasoning { id, text, .. } = &mut self.items[index] else {
            return;
        };
        text.push_str(delta);
        let payload = json!({"item_id": id, "output_index": index, "content_index": 0,
                             "delta": delta});
        self.first_content = true;
        self.emit(out, "response.reasoning_text.delta", payload);
    }
}
