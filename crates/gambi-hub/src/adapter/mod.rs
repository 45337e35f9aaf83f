//! Conversion between the OpenAI Responses API and the Chat Completions API.
//!
//! Applications speak the Responses API by default, most local providers (Ollama, llama.cpp,
//! LM Studio, vLLM) speak only Chat Completions, and a few providers speak only Responses. The
//! hub bridges both ways so that any OpenAI SDK call works against any participant, tools and
//! streaming included. Everything here is pure: functions and state machines over
//! `serde_json::Value` and bytes, with no I/O, no clock and no async runtime, so that every
//! conversion is unit-tested on its own and the hub decides what to do with the results.
//!
//! Map of the module:
//! - [`request`]: request bodies, both directions ([`responses_to_chat`], [`chat_to_responses`]).
//! - [`response`]: non-streamed answers, both directions, and the contexts that carry ids and the
//!   original request to echo.
//! - [`stream`]: streaming state machines, both directions, fed with raw upstream bytes.
//! - [`sse`]: a tolerant server-sent-events parser and the frame writer.
//! - [`usage`]: token usage as either protocol reports it.
//! - [`history`]: input normalisation, `previous_response_id` expansion, `input_items` pages.
//! - [`ids`]: identifiers in OpenAI's formats.

pub(crate) mod error;
pub(crate) mod history;
pub(crate) mod ids;
pub(crate) mod request;
pub(crate) mod response;
pub(crate) mod sse;
pub(crate) mod stream;
pub(crate) mod usage;

pub(crate) use error::AdaptError;
pub(crate) use request::{chat_to_responses, responses_to_chat};
pub(crate) use response::{
    ChatContext, ResponseContext, chat_completion_to_response, response_to_chat_completion,
};
pub(crate) use stream::{ChatToResponsesStream, ResponsesToChatStream};

use serde_json::Value;

/// The value under `key` unless it is absent or JSON `null`.
pub(crate) fn present<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.get(key).filter(|v| !v.is_null())
}

/// The string under `key`, if it is a string.
pub(crate) fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The value under `key`, or `default` when it is absent or `null`.
pub(crate) fn or_default(value: &Value, key: &str, default: Value) -> Value {
    present(value, key).cloned().unwrap_or(default)
}
