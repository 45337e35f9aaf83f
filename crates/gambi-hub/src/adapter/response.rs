//! Non-streamed answers, both directions: Chat Completion -> Response object and back.
//!
//! A Responses client reaching a Chat Completions participant must get a complete Response
//! object, exactly as the OpenAI API documents it, with the request's settings echoed and
//! OpenAI's defaults where the request left them out; a Chat Completions client reaching a
//! Responses participant must get a `chat.completion`. The builders for Response objects,
//! items and usage live here and are shared with [`super::stream`], so streamed and
//! non-streamed answers have the same shape.

use serde_json::{Map, Value, json};

use super::error::AdaptError;
use super::ids::IdGen;
use super::{or_default, present, str_of};

/// What a Chat Completions answer needs to become a Response: the ids to use, the client's
/// original Responses request (its settings are echoed), the model name and the creation time.
#[derive(Debug)]
pub(crate) struct ResponseContext {
    /// The Response id (`resp_…`), known before the provider answers so the hub can store it.
    pub id: String,
    /// The client's Responses request as it arrived (before `previous_response_id` expansion).
    pub request: Value,
    /// The model name reported in the Response (the participant's model).
    pub model: String,
    /// Creation time in seconds since the Unix epoch.
    pub created_at: u64,
    /// Where item ids come from.
    pub ids: IdGen,
}

impl ResponseContext {
    #[cfg(test)]
    /// A context with random ids and a fresh Response id.
    pub(crate) fn new(request: Value, model: impl Into<String>, created_at: u64) -> Self {
        Self::with_ids(request, model, created_at, IdGen::random())
    }

    /// A context drawing its Response id and item ids from `ids`.
    pub(crate) fn with_ids(
        request: Value,
        model: impl Into<String>,
        created_at: u64,
        ids: IdGen,
    ) -> Self {
        Self {
            id: ids.response(),
            request,
            model: model.into(),
            created_at,
            ids,
        }
    }
}

/// What a Responses answer needs to become a Chat Completion.
#[derive(Debug)]
pub(crate) struct ChatContext {
    /// The Chat Completion id (`chatcmpl-…`).
    pub id: String,
    /// The model name reported in the answer.
    pub model: String,
    /// Creation time in seconds since the Unix epoch.
    pub created: u64,
    /// The client asked for `stream_options.include_usage`: end the stream with a usage chunk.
    pub include_usage: bool,
    /// The client asked for `logprobs`.
    pub logprobs: bool,
    /// Where tool-call ids come from when the provider gave none.
    pub ids: IdGen,
}

impl ChatContext {
    #[cfg(test)]
    /// A context for the client's Chat Completions `request`, with random ids.
    pub(crate) fn from_request(request: &Value, model: impl Into<String>, created: u64) -> Self {
        Self::with_ids(request, model, created, IdGen::random())
    }

    /// A context for the client's Chat Completions `request`, drawing ids from `ids`.
    pub(crate) fn with_ids(
        request: &Value,
        model: impl Into<String>,
        created: u64,
        ids: IdGen,
    ) -> Self {
        let include_usage = request
            .get("stream_options")
            .and_then(|o| o.get("include_usage"))
            .and_then(Value::as_bool)
            == Some(true);
        Self {
            id: ids.chat_completion(),
            model: model.into(),
            created,
            include_usage,
            logprobs: request.get("logprobs").and_then(Value::as_bool) == Some(true),
            ids,
        }
    }
}

/// Converts a Chat Completion into a Response object.
///
/// A provider body without `choices` (an error body) becomes [`AdaptError::Upstream`] with the
/// provider's message.
pub(crate) fn chat_completion_to_response(
    chat: &Value,
    ctx: &ResponseContext,
) -> Result<Value, AdaptError> {
    let choice = chat
        .get("choices")
        .and_then(Value::as_array)
        .and_then(|c| c.first());
    let Some(choice) = choice else {
        return Err(AdaptError::from_provider_body(
            chat,
            "The provider's answer has no choices.",
        ));
    };
    let message = choice.get("message").unwrap_or(&Value::Null);
    let (status, incomplete) = finish_status(str_of(choice, "finish_reason"));
    let item_status = item_status(status);

    let mut output = Vec::new();
    let reasoning = str_of(message, "reasoning_content")
        .or_else(|| str_of(message, "reasoning"))
        .filter(|r| !r.is_empty());
    if let Some(reasoning) = reasoning {
        output.push(reasoning_item(&ctx.ids.reasoning(), reasoning));
    }
    let text = chat_content_text(message.get("content"));
    let refusal = str_of(message, "refusal").filter(|r| !r.is_empty());
    if !text.is_empty() || refusal.is_some() {
        let mut content = Vec::new();
        if !text.is_empty() {
            let logprobs = choice
                .get("logprobs")
                .and_then(|l| l.get("content"))
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            content.push(output_text_part(&text, logprobs));
        }
        if let Some(refusal) = refusal {
            content.push(refusal_part(refusal));
        }
        output.push(message_item(&ctx.ids.message(), item_status, content));
    }
    let calls = message.get("tool_calls").and_then(Value::as_array);
    let legacy = message.get("function_call").filter(|f| f.is_object());
    for call in calls.into_iter().flatten() {
        if str_of(call, "type").is_some_and(|t| t != "function") {
            continue;
        }
        let function = call.get("function").unwrap_or(&Value::Null);
        let call_id = str_of(call, "id")
            .filter(|id| !id.is_empty())
            .map_or_else(|| ctx.ids.tool_call(), str::to_owned);
        output.push(function_call_item(
            &ctx.ids.function_call(),
            &call_id,
            str_of(function, "name").unwrap_or(""),
            &arguments_text(function.get("arguments")),
            item_status,
        ));
    }
    if let Some(function) = legacy {
        output.push(function_call_item(
            &ctx.ids.function_call(),
            &ctx.ids.tool_call(),
            str_of(function, "name").unwrap_or(""),
            &arguments_text(function.get("arguments")),
            item_status,
        ));
    }
    let usage = chat.get("usage").map_or(Value::Null, responses_usage);
    Ok(response_object(
        ctx,
        status,
        output,
        usage,
        Value::Null,
        incomplete,
    ))
}

/// Converts a Response object into a Chat Completion.
///
/// A body that is not a Response (an error body) or a `failed` Response becomes
/// [`AdaptError::Upstream`] with the provider's message.
pub(crate) fn response_to_chat_completion(
    resp: &Value,
    ctx: &ChatContext,
) -> Result<Value, AdaptError> {
    let Some(output) = resp.get("output").and_then(Value::as_array) else {
        return Err(AdaptError::from_provider_body(
            resp,
            "The provider's answer has no output.",
        ));
    };
    if str_of(resp, "status") == Some("failed") {
        let error = resp.get("error").unwrap_or(&Value::Null);
        return Err(AdaptError::upstream(
            str_of(error, "message").unwrap_or("The provider failed to generate a response."),
            str_of(error, "code").map(str::to_owned),
        ));
    }
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut refusal: Option<String> = None;
    let mut logprobs = Vec::new();
    let mut tool_calls = Vec::new();
    for item in output {
        match str_of(item, "type") {
            Some("message") => {
                for part in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    match str_of(part, "type") {
                        Some("output_text") => {
                            text.push_str(str_of(part, "text").unwrap_or(""));
                            if let Some(lp) = part.get("logprobs").and_then(Value::as_array) {
                                logprobs.extend(lp.iter().cloned());
                            }
                        }
                        Some("refusal") => refusal
                            .get_or_insert_with(String::new)
                            .push_str(str_of(part, "refusal").unwrap_or("")),
                        _ => {}
                    }
                }
            }
            Some("reasoning") => {
                // The reasoning text when the provider gives it, else its summary.
                let content = item.get("content").and_then(Value::as_array);
                let summary = item.get("summary").and_then(Value::as_array);
                let parts = content.filter(|c| !c.is_empty()).or(summary);
                for part in parts.into_iter().flatten() {
                    reasoning.push_str(str_of(part, "text").unwrap_or(""));
                }
            }
            Some("function_call") => tool_calls.push(json!({
                "id": str_of(item, "call_id").map_or_else(|| ctx.ids.tool_call(), str::to_owned),
                "type": "function",
                "function": {
                    "name": str_of(item, "name").unwrap_or(""),
                    "arguments": arguments_text(item.get("arguments")),
                },
            })),
            _ => {}
        }
    }
    let finish_reason = chat_finish_reason(resp, !tool_calls.is_empty());
    let content = if text.is_empty() && (!tool_calls.is_empty() || refusal.is_some()) {
        Value::Null
    } else {
        Value::String(text)
    };
    let mut message = json!({
        "role": "assistant",
        "content": content,
        "refusal": refusal,
        "annotations": [],
    });
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    if !reasoning.is_empty() {
        // Not part of the Chat Completions API, but the field vLLM, llama.cpp and DeepSeek
        // use, which chat clients display; the OpenAI SDKs ignore it.
        message["reasoning_content"] = Value::String(reasoning);
    }
    let logprobs = if ctx.logprobs {
        json!({"content": logprobs, "refusal": null})
    } else {
        Value::Null
    };
    let mut out = json!({
        "id": ctx.id,
        "object": "chat.completion",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": logprobs,
            "finish_reason": finish_reason,
        }],
    });
    if let Some(usage) = resp.get("usage").and_then(chat_usage) {
        out["usage"] = usage;
    }
    if let Some(tier) = present(resp, "service_tier") {
        out["service_tier"] = tier.clone();
    }
    Ok(out)
}

/// The Chat Completions `finish_reason` for a Response: truncation first, then tool calls.
pub(crate) fn chat_finish_reason(resp: &Value, has_tool_calls: bool) -> &'static str {
    let reason = resp
        .get("incomplete_details")
        .and_then(|d| str_of(d, "reason"));
    match (str_of(resp, "status"), reason) {
        (Some("incomplete"), Some("content_filter")) => "content_filter",
        (Some("incomplete"), _) => "length",
        _ if has_tool_calls => "tool_calls",
        _ => "stop",
    }
}

/// The Response status and `incomplete_details` for a Chat Completions `finish_reason`.
pub(crate) fn finish_status(finish_reason: Option<&str>) -> (&'static str, Value) {
    match finish_reason {
        Some("length") => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some("content_filter") => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// The status of output items in a Response of `status`.
pub(crate) fn item_status(status: &str) -> &'static str {
    match status {
        "completed" => "completed",
        _ => "incomplete",
    }
}

/// Text of a Chat Completions `content`: a string, or the text of its parts.
pub(crate) fn chat_content_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.as_str().or_else(|| str_of(p, "text")))
            .collect(),
        _ => String::new(),
    }
}

/// Function arguments as the JSON text both APIs carry (some providers send an object).
pub(crate) fn arguments_text(arguments: Option<&Value>) -> String {
    match arguments {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    }
}

/// An `output_text` content part.
pub(crate) fn output_text_part(text: &str, logprobs: Vec<Value>) -> Value {
    let mut part = json!({"type": "output_text", "annotations": [], "text": text});
    part["logprobs"] = Value::Array(logprobs);
    part
}

/// A `refusal` content part.
pub(crate) fn refusal_part(refusal: &str) -> Value {
    json!({"type": "refusal", "refusal": refusal})
}

/// An assistant `message` output item.
pub(crate) fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    let mut item = json!({"id": id, "type": "message", "status": status, "role": "assistant"});
    item["content"] = Value::Array(content);
    item
}

/// A `reasoning` output item; its text, when there is some, is one `reasoning_text` part.
pub(crate) fn reasoning_item(id: &str, text: &str) -> Value {
    let content = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "reasoning_text", "text": text}])
    };
    json!({"id": id, "type": "reasoning", "summary": [], "content": content})
}

/// A `function_call` output item.
pub(crate) fn function_call_item(
    id: &str,
    call_id: &str,
    name: &str,
    arguments: &str,
    status: &str,
) -> Value {
    json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "arguments": arguments,
        "call_id": call_id,
        "name": name,
    })
}

/// Responses `usage` from Chat Completions `usage`; `null` when the provider gave none.
pub(crate) fn responses_usage(usage: &Value) -> Value {
    if !usage.is_object() {
        return Value::Null;
    }
    let count = |key: &str| usage.get(key).and_then(Value::as_u64);
    let input = count("prompt_tokens").unwrap_or(0);
    let output = count("completion_tokens").unwrap_or(0);
    let detail = |outer: &str, inner: &str| {
        usage
            .get(outer)
            .and_then(|d| d.get(inner))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    json!({
        "input_tokens": input,
        "input_tokens_details": {
            "cached_tokens": detail("prompt_tokens_details", "cached_tokens"),
            "cache_write_tokens": detail("prompt_tokens_details", "cache_write_tokens"),
        },
        "output_tokens": output,
        "output_tokens_details": {
            "reasoning_tokens": detail("completion_tokens_details", "reasoning_tokens"),
        },
        "total_tokens": count("total_tokens").unwrap_or(input + output),
    })
}

/// Chat Completions `usage` from Responses `usage`; `None` when the provider gave none.
pub(crate) fn chat_usage(usage: &Value) -> Option<Value> {
    if !usage.is_object() {
        return None;
    }
    let count = |key: &str| usage.get(key).and_then(Value::as_u64);
    let input = count("input_tokens").unwrap_or(0);
    let output = count("output_tokens").unwrap_or(0);
    let mut out = json!({
        "prompt_tokens": input,
        "completion_tokens": output,
        "total_tokens": count("total_tokens").unwrap_or(input + output),
    });
    let detail = |outer: &str, inner: &str| usage.get(outer).and_then(|d| d.get(inner)).cloned();
    if let Some(cached) = detail("input_tokens_details", "cached_tokens") {
        out["prompt_tokens_details"] = json!({"cached_tokens": cached});
    }
    if let Some(reasoning) = detail("output_tokens_details", "reasoning_tokens") {
        out["completion_tokens_details"] = json!({"reasoning_tokens": reasoning});
    }
    Some(out)
}

/// Concatenated text of the `output_text` parts of the message items: the SDKs'
/// `output_text` convenience field.
pub(crate) fn output_text_of(output: &[Value]) -> String {
    let mut text = String::new();
    for item in output {
        if str_of(item, "type") != Some("message") {
            continue;
        }
        for part in item
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if str_of(part, "type") == Some("output_text") {
                text.push_str(str_of(part, "text").unwrap_or(""));
            }
        }
    }
    text
}

/// A complete Response object: the given state plus the request's settings echoed, with
/// OpenAI's defaults for those the request left out.
pub(crate) fn response_object(
    ctx: &ResponseContext,
    status: &str,
    output: Vec<Value>,
    usage: Value,
    error: Value,
    incomplete_details: Value,
) -> Value {
    let req = &ctx.request;
    let reasoning = req.get("reasoning").unwrap_or(&Value::Null);
    let text = req.get("text").unwrap_or(&Value::Null);
    let mut text_out = Map::new();
    text_out.insert(
        "format".into(),
        or_default(text, "format", json!({"type": "text"})),
    );
    text_out.insert(
        "verbosity".into(),
        or_default(text, "verbosity", json!("medium")),
    );
    let service_tier = match str_of(req, "service_tier") {
        None | Some("auto") => "default",
        Some(tier) => tier,
    };
    let output_text = output_text_of(&output);
    let mut response = json!({
        "id": ctx.id,
        "object": "response",
        "created_at": ctx.created_at,
        "status": status,
        "background": false,
        "instructions": or_default(req, "instructions", Value::Null),
        "max_output_tokens": or_default(req, "max_output_tokens", Value::Null),
        "max_tool_calls": or_default(req, "max_tool_calls", Value::Null),
        "model": ctx.model,
        "output_text": output_text,
        "parallel_tool_calls": or_default(req, "parallel_tool_calls", json!(true)),
        "previous_response_id": or_default(req, "previous_response_id", Value::Null),
        "prompt_cache_key": or_default(req, "prompt_cache_key", Value::Null),
        "reasoning": {
            "effort": or_default(reasoning, "effort", Value::Null),
            "summary": or_default(reasoning, "summary", Value::Null),
        },
        "safety_identifier": or_default(req, "safety_identifier", Value::Null),
        "service_tier": service_tier,
        "store": or_default(req, "store", json!(true)),
        "temperature": or_default(req, "temperature", json!(1.0)),
        "text": text_out,
        "tool_choice": or_default(req, "tool_choice", json!("auto")),
        "tools": or_default(req, "tools", json!([])),
        "top_logprobs": or_default(req, "top_logprobs", json!(0)),
        "top_p": or_default(req, "top_p", json!(1.0)),
        "truncation": or_default(req, "truncation", json!("disabled")),
        "user": or_default(req, "user", Value::Null),
        "metadata": or_default(req, "metadata", json!({})),
    });
    response["error"] = error;
    response["incomplete_details"] = incomplete_details;
    response["output"] = Value::Array(output);
    response["usage"] = usage;
    response
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
