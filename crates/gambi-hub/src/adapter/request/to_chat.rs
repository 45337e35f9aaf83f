//! Responses request -> Chat Completions request.

use serde_json::{Map, Value, json};

use super::pass_unknown;
use crate::adapter::error::AdaptError;
use crate::adapter::{present, str_of};

/// Responses fields this module consumes or deliberately drops; any other field passes through.
const RESPONSES_FIELDS: &[&str] = &[
    "background",
    "conversation",
    "frequency_penalty",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "parallel_tool_calls",
    "presence_penalty",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "stop_sequences",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];

/// Converts a Responses request into a Chat Completions request.
///
/// `previous_response_id` must already have been expanded into `input` by the hub (see
/// [`super::history::expand_previous`]); `model` is copied as is for the hub to replace.
pub(crate) fn responses_to_chat(req: &Value) -> Result<Value, AdaptError> {
    let Some(fields) = req.as_object() else {
        return Err(AdaptError::invalid_value(
            "body",
            "The request body must be a JSON object.",
        ));
    };
    if present(req, "background").is_some_and(|b| b != &Value::Bool(false)) {
        return Err(AdaptError::unsupported(
            "background",
            "Background responses are not supported by this participant (it speaks Chat Completions).",
        ));
    }
    for field in ["conversation", "prompt"] {
        if present(req, field).is_some() {
            let what = if field == "prompt" {
                "Stored prompt templates (`prompt`)"
            } else {
                "Conversations (`conversation`)"
            };
            return Err(AdaptError::unsupported(
                field,
                format!(
                    "{what} are not supported by this participant (it speaks Chat Completions); send the input items instead."
                ),
            ));
        }
    }

    let mut messages = Vec::new();
    match present(req, "instructions") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => messages.push(json!({"role": "system", "content": s})),
        Some(Value::Array(items)) => items_to_messages(items, "instructions", &mut messages)?,
        Some(_) => {
            return Err(AdaptError::invalid_value(
                "instructions",
                "`instructions` must be a string or an array of input items.",
            ));
        }
    }
    match present(req, "input") {
        None => {}
        Some(Value::String(s)) => messages.push(json!({"role": "user", "content": s})),
        Some(Value::Array(items)) => items_to_messages(items, "input", &mut messages)?,
        Some(_) => {
            return Err(AdaptError::invalid_value(
                "input",
                "`input` must be a string or an array of input items.",
            ));
        }
    }
    if messages.is_empty() {
        return Err(AdaptError::missing(
            "input",
            "The request requires input or instructions.",
        ));
    }

    let mut out = Map::new();
    if let Some(model) = req.get("model") {
        out.insert("model".into(), model.clone());
    }
    out.insert("messages".into(), Value::Array(messages));

    let mut tools = match present(req, "tools") {
        Some(tools) => tools_to_chat(tools)?,
        None => Vec::new(),
    };
    if let Some(choice) = present(req, "tool_choice") {
        let choice = tool_choice_to_chat(choice, &mut tools)?;
        if !tools.is_empty() {
            out.insert("tool_choice".into(), choice);
        }
    }
    if !tools.is_empty() {
        out.insert("tools".into(), Value::Array(tools));
    }

    if let Some(max) = present(req, "max_output_tokens") {
        out.insert("max_tokens".into(), max.clone());
    }
    if let Some(text) = present(req, "text") {
        if let Some(format) = text_format_to_chat(text)? {
            out.insert("response_format".into(), format);
        }
    }
    for key in [
        "temperature",
        "top_p",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "parallel_tool_calls",
        "service_tier",
    ] {
        if let Some(v) = present(req, key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(stop) = present(req, "stop").or_else(|| present(req, "stop_sequences")) {
        out.insert("stop".into(), stop.clone());
    }
    if let Some(user) = present(req, "user").or_else(|| present(req, "safety_identifier")) {
        out.insert("user".into(), user.clone());
    }
    let wants_logprobs = present(req, "include")
        .and_then(Value::as_array)
        .is_some_and(|inc| {
            inc.iter()
                .any(|i| i.as_str() == Some("message.output_text.logprobs"))
        });
    let top_logprobs = present(req, "top_logprobs");
    if wants_logprobs || top_logprobs.and_then(Value::as_u64).is_some_and(|n| n > 0) {
        out.insert("logprobs".into(), Value::Bool(true));
        if let Some(n) = top_logprobs {
            out.insert("top_logprobs".into(), n.clone());
        }
    }
    if let Some(effort) = present(req, "reasoning").and_then(|r| present(r, "effort")) {
        out.insert("reasoning_effort".into(), effort.clone());
    }
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), Value::Bool(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    pass_unknown(fields, RESPONSES_FIELDS, &mut out);
    Ok(Value::Object(out))
}

/// Appends the Chat Completions messages for a list of Responses input items.
fn items_to_messages(
    items: &[Value],
    path: &str,
    messages: &mut Vec<Value>,
) -> Result<(), AdaptError> {
    for (i, item) in items.iter().enumerate() {
        let here = format!("{path}[{i}]");
        if !item.is_object() {
            return Err(AdaptError::invalid_value(
                here,
                "Input items must be objects.",
            ));
        }
        let kind = match str_of(item, "type") {
            Some(kind) => kind,
            None if item.get("role").is_some() => "message",
            None => {
                return Err(AdaptError::missing(
                    format!("{here}.type"),
                    "Input items need a `type` (or a `role` for messages).",
                ));
            }
        };
        match kind {
            "message" => messages.push(message_to_chat(item, &here)?),
            "function_call" => push_tool_call(item, &here, messages)?,
            "function_call_output" => messages.push(tool_output_to_chat(item, &here)?),
            // Reasoning is the provider's own scratchpad; a Chat Completions model cannot use
            // it, and leaving it out does not change the conversation.
            "reasoning" => {}
            "item_reference" => {
                return Err(AdaptError::unsupported(
                    here,
                    "Item references cannot be resolved for this participant (it speaks Chat Completions); send the items themselves.",
                ));
            }
            other => {
                return Err(AdaptError::unsupported(
                    here,
                    format!(
                        "Input items of type '{other}' are not supported by this participant (it speaks Chat Completions)."
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn message_to_chat(item: &Value, here: &str) -> Result<Value, AdaptError> {
    let role = match str_of(item, "role") {
        Some("developer" | "system") => "system",
        Some("user") => "user",
        Some("assistant") => "assistant",
        Some(other) => {
            return Err(AdaptError::invalid_value(
                format!("{here}.role"),
                format!("Unsupported message role '{other}'."),
            ));
        }
        None => {
            return Err(AdaptError::missing(
                format!("{here}.role"),
                "Messages need a `role`.",
            ));
        }
    };
    let content = content_to_chat(role, item.get("content"), &format!("{here}.content"))?;
    Ok(json!({"role": role, "content": content}))
}

/// Converts message content: a string stays a string; parts become Chat Completions parts,
/// collapsed to one string when they are all text.
fn content_to_chat(role: &str, content: Option<&Value>, here: &str) -> Result<Value, AdaptError> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Value::String(String::new())),
        Some(Value::String(s)) => return Ok(Value::String(s.clone())),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(AdaptError::invalid_value(
                here,
                "Message content must be a string or an array of content parts.",
            ));
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, part) in parts.iter().enumerate() {
        out.push(part_to_chat(role, part, &format!("{here}[{j}]"))?);
    }
    if out.iter().all(|p| str_of(p, "type") == Some("text")) {
        let texts: Vec<&str> = out.iter().filter_map(|p| str_of(p, "text")).collect();
        return Ok(Value::String(texts.join("\n")));
    }
    Ok(Value::Array(out))
}

fn part_to_chat(role: &str, part: &Value, here: &str) -> Result<Value, AdaptError> {
    if let Value::String(text) = part {
        return Ok(json!({"type": "text", "text": text}));
    }
    let kind = str_of(part, "type").unwrap_or("");
    let text_field = match kind {
        "input_text" | "output_text" | "text" => Some("text"),
        "refusal" => Some("refusal"),
        _ => None,
    };
    if let Some(field) = text_field {
        let Some(text) = str_of(part, field) else {
            return Err(AdaptError::missing(
                format!("{here}.{field}"),
                format!("Content parts of type '{kind}' need a string `{field}`."),
            ));
        };
        return Ok(json!({"type": "text", "text": text}));
    }
    if !matches!(kind, "input_image" | "input_file" | "input_audio") {
        return Err(AdaptError::unsupported(
            here,
            format!(
                "Content parts of type '{kind}' are not supported by this participant (it speaks Chat Completions)."
            ),
        ));
    }
    if role != "user" {
        return Err(AdaptError::unsupported(
            here,
            format!(
                "Content parts of type '{kind}' are only supported in user messages by this participant (it speaks Chat Completions)."
            ),
        ));
    }
    match kind {
        "input_image" => {
            let Some(url) = str_of(part, "image_url") else {
                let message = if part.get("file_id").is_some() {
                    "Images given by `file_id` cannot be resolved by this participant (it speaks Chat Completions); send `image_url` (an URL or a data URL) instead."
                } else {
                    "Image parts need an `image_url`."
                };
                return Err(AdaptError::unsupported(
                    format!("{here}.image_url"),
                    message,
                ));
            };
            let mut image = json!({"url": url});
            if let Some(detail) = present(part, "detail") {
                image["detail"] = detail.clone();
            }
            Ok(json!({"type": "image_url", "image_url": image}))
        }
        "input_file" => {
            if present(part, "file_url").is_some() {
                return Err(AdaptError::unsupported(
                    format!("{here}.file_url"),
                    "Files given by `file_url` are not supported by this participant (it speaks Chat Completions); send `file_data` instead.",
                ));
            }
            let mut file = Map::new();
            for key in ["file_data", "file_id", "filename"] {
                if let Some(v) = present(part, key) {
                    file.insert(key.into(), v.clone());
                }
            }
            if !file.contains_key("file_data") && !file.contains_key("file_id") {
                return Err(AdaptError::missing(
                    format!("{here}.file_data"),
                    "File parts need `file_data` or `file_id`.",
                ));
            }
            Ok(json!({"type": "file", "file": file}))
        }
        _ => {
            let audio = match present(part, "input_audio") {
                Some(audio) => audio.clone(),
                None => json!({"data": part.get("data"), "format": part.get("format")}),
            };
            Ok(json!({"type": "input_audio", "input_audio": audio}))
        }
    }
}

/// Adds a `function_call` item as a tool call: to the assistant message right before it when
/// there is one (its text, or earlier calls of the same turn), else to a new one.
fn push_tool_call(item: &Value, here: &str, messages: &mut Vec<Value>) -> Result<(), AdaptError> {
    let Some(call_id) = str_of(item, "call_id") else {
        return Err(AdaptError::missing(
            format!("{here}.call_id"),
            "Function call items need a `call_id`.",
        ));
    };
    let Some(name) = str_of(item, "name") else {
        return Err(AdaptError::missing(
            format!("{here}.name"),
            "Function call items need a `name`.",
        ));
    };
    let arguments = match item.get("arguments") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => "{}".to_owned(),
        Some(other) => other.to_string(),
    };
    let call = json!({
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    });
    let last_is_assistant = messages
        .last()
        .is_some_and(|m| str_of(m, "role") == Some("assistant"));
    if !last_is_assistant {
        messages.push(json!({"role": "assistant", "content": null}));
    }
    if let Some(Value::Object(last)) = messages.last_mut() {
        if last.get("content").and_then(Value::as_str) == Some("") {
            last.insert("content".into(), Value::Null);
        }
        match last.get_mut("tool_calls") {
            Some(Value::Array(calls)) => calls.push(call),
            _ => {
                last.insert("tool_calls".into(), Value::Array(vec![call]));
            }
        }
    }
    Ok(())
}

fn tool_output_to_chat(item: &Value, here: &str) -> Result<Value, AdaptError> {
    let Some(call_id) = str_of(item, "call_id") else {
        return Err(AdaptError::missing(
            format!("{here}.call_id"),
            "Function call output items need a `call_id`.",
        ));
    };
    let content = match item.get("output") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                let text = match part {
                    Value::String(s) => Some(s.as_str()),
                    _ if matches!(
                        str_of(part, "type"),
                        Some("input_text" | "output_text" | "text")
                    ) =>
                    {
                        str_of(part, "text")
                    }
                    _ => None,
                };
                match text {
                    Some(t) => texts.push(t),
                    None => {
                        return Err(AdaptError::unsupported(
                            format!("{here}.output[{j}]"),
                            "Only text can be returned from a function call to this participant (it speaks Chat Completions).",
                        ));
                    }
                }
            }
            texts.join("\n")
        }
        None | Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    Ok(json!({"role": "tool", "tool_call_id": call_id, "content": content}))
}

fn tools_to_chat(tools: &Value) -> Result<Vec<Value>, AdaptError> {
    let Some(tools) = tools.as_array() else {
        return Err(AdaptError::invalid_value(
            "tools",
            "`tools` must be an array.",
        ));
    };
    let mut out = Vec::with_capacity(tools.len());
    for (i, tool) in tools.iter().enumerate() {
        let here = format!("tools[{i}]");
        match str_of(tool, "type") {
            Some("function") => {}
            Some(other) => {
                return Err(AdaptError::unsupported(
                    here,
                    format!(
                        "Tools of type '{other}' are not supported by this participant: only function tools can be bridged to Chat Completions."
                    ),
                ));
            }
            None => {
                return Err(AdaptError::missing(
                    format!("{here}.type"),
                    "Tools need a `type`.",
                ));
            }
        }
        if str_of(tool, "name").is_none() {
            return Err(AdaptError::missing(
                format!("{here}.name"),
                "Function tools need a `name`.",
            ));
        }
        let mut function = Map::new();
        for key in ["name", "description", "parameters", "strict"] {
            if let Some(v) = present(tool, key) {
                function.insert(key.into(), v.clone());
            }
        }
        out.push(json!({"type": "function", "function": function}));
    }
    Ok(out)
}

/// Converts `tool_choice`. An `allowed_tools` choice becomes the plain mode with `tools`
/// narrowed to the allowed ones, which means the same and every provider understands.
fn tool_choice_to_chat(choice: &Value, tools: &mut Vec<Value>) -> Result<Value, AdaptError> {
    if let Some(mode) = choice.as_str() {
        return match mode {
            "auto" | "none" | "required" => Ok(choice.clone()),
            other => Err(AdaptError::invalid_value(
                "tool_choice",
                format!("Unknown tool_choice '{other}'."),
            )),
        };
    }
    match str_of(choice, "type") {
        Some("function") => {
            let Some(name) = str_of(choice, "name") else {
                return Err(AdaptError::missing(
                    "tool_choice.name",
                    "A function tool_choice needs a `name`.",
                ));
            };
            Ok(json!({"type": "function", "function": {"name": name}}))
        }
        Some("allowed_tools") => {
            let mode = str_of(choice, "mode").unwrap_or("auto");
            if !matches!(mode, "auto" | "required") {
                return Err(AdaptError::invalid_value(
                    "tool_choice.mode",
                    format!("Unknown allowed_tools mode '{mode}'."),
                ));
            }
            let allowed = choice.get("tools").and_then(Value::as_array);
            let mut names = Vec::new();
            for (i, tool) in allowed.into_iter().flatten().enumerate() {
                match (str_of(tool, "type"), str_of(tool, "name")) {
                    (Some("function"), Some(name)) => names.push(name),
                    _ => {
                        return Err(AdaptError::unsupported(
                            format!("tool_choice.tools[{i}]"),
                            "Only function tools can be allowed on this participant (it speaks Chat Completions).",
                        ));
                    }
                }
            }
            tools.retain(|t| {
                t.get("function")
                    .and_then(|f| str_of(f, "name"))
                    .is_some_and(|n| names.contains(&n))
            });
            Ok(Value::String(mode.to_owned()))
        }
        Some(other) => Err(AdaptError::unsupported(
            "tool_choice",
            format!(
                "tool_choice of type '{other}' is not supported by this participant: only function tools can be bridged to Chat Completions."
            ),
        )),
        None => Err(AdaptError::invalid_value(
            "tool_choice",
            "`tool_choice` must be a string or an object with a `type`.",
        )),
    }
}

fn text_format_to_chat(text: &Value) -> Result<Option<Value>, AdaptError> {
    let Some(format) = present(text, "format") else {
        return Ok(None);
    };
    match str_of(format, "type") {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for key in ["name", "schema", "strict", "description"] {
                if let Some(v) = present(format, key) {
                    schema.insert(key.into(), v.clone());
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        other => Err(AdaptError::invalid_value(
            "text.format.type",
            format!("Unknown text format '{}'.", other.unwrap_or("(missing)")),
        )),
    }
}
