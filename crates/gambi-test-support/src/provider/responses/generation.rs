//! One Response being produced: the object with the request's settings echoed, its output
//! items (message and function calls) as the plan has them, and its storing.

use serde_json::{Value, json};

use crate::provider::reply::{FinishReason, Plan};
use crate::provider::state::{Shared, StoredResponse};
use crate::provider::text::{new_id, unix_now};

/// One Response being produced.
pub(super) struct Generation {
    pub(super) id: String,
    pub(super) message_id: String,
    /// The Response object with the request's settings echoed; status, output and usage are
    /// filled in per use.
    template: Value,
    pub(super) store: bool,
    pub(super) plan: Plan,
}

impl Generation {
    pub(super) fn new(request: &Value, model: String, plan: Plan, store: bool) -> Self {
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
    pub(super) fn incomplete_reason(&self) -> Option<&'static str> {
        match self.plan.finish_reason {
            FinishReason::Length => Some("max_output_tokens"),
            FinishReason::ContentFilter => Some("content_filter"),
            FinishReason::Stop | FinishReason::ToolCalls => None,
        }
    }

    pub(super) fn message_index(&self) -> Option<usize> {
        self.plan.has_message().then_some(0)
    }

    pub(super) fn call_output_index(&self, call: usize) -> usize {
        call + usize::from(self.plan.has_message())
    }

    pub(super) fn text_part(text: &str) -> Value {
        json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
    }

    pub(super) fn message(&self, status: &str, content: Vec<Value>) -> Value {
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

    pub(super) fn final_message(&self) -> Value {
        let status = if self.incomplete_reason().is_some() {
            "incomplete"
        } else {
            "completed"
        };
        self.message(status, vec![Self::text_part(&self.plan.text())])
    }

    pub(super) fn call(&self, index: usize, status: &str, arguments: &str) -> Value {
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

    pub(super) fn output_items(&self) -> Vec<Value> {
        let mut output = Vec::with_capacity(self.plan.tool_calls.len() + 1);
        if self.plan.has_message() {
            output.push(self.final_message());
        }
        for (index, call) in self.plan.tool_calls.iter().enumerate() {
            output.push(self.call(index, "completed", &call.arguments));
        }
        output
    }

    pub(super) fn in_progress_object(&self) -> Value {
        self.template.clone()
    }

    pub(super) fn final_object(&self) -> Value {
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

    pub(super) fn store(&self, shared: &Shared, mut stored: StoredResponse, object: Value) {
        if self.store {
            stored.object = object;
            shared.responses().insert(self.id.clone(), stored);
        }
    }
}
