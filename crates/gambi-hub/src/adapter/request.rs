//! Request bodies, both directions: Responses -> Chat Completions and back.
//!
//! [`responses_to_chat`] serves a Responses client on a participant that speaks only Chat
//! Completions (most local providers); [`chat_to_responses`] serves a Chat Completions client on
//! a participant that speaks only Responses. Both keep what can be expressed on the other side,
//! drop what is harmless to drop, and answer 400 naming the field only where dropping it would
//! change what the client asked for. Top-level fields neither API defines (provider extensions
//! such as `top_k`, `min_p` or `repetition_penalty`) pass through unchanged, since local
//! providers accept them on both endpoints.
//!
//! Decisions where the two APIs differ:
//! - Responses function tools default to `strict: true`, Chat Completions tools to `false`.
//!   Towards Chat Completions `strict` is copied only when given (local providers ignore it and
//!   a strict provider would reject schemas written without strict mode in mind); towards
//!   Responses a missing `strict` becomes `false`, keeping the Chat Completions meaning.
//! - Several text parts of one message are joined with `\n` into a plain string when a
//!   message holds only text, which every Chat Completions provider accepts.
//! - `stop` towards Responses: the Responses API has no stop sequences, and ignoring them would
//!   let the model write past the point where the client wanted it cut, so a non-empty `stop`
//!   is a 400. Likewise a non-empty `logit_bias`, audio output and web search.
//! - `seed`, `frequency_penalty` and `presence_penalty` towards Responses are dropped: they are
//!   sampling hints with no Responses field, and strict providers reject unknown fields.
//! - `store` towards Responses is always `false`: a Chat Completions client can never address
//!   the stored response, so keeping it would only retain the user's data at the provider.

use serde_json::{Map, Value, json};

use super::error::AdaptError;
use super::{present, str_of};

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

/// Chat Completions fields this module consumes or deliberately drops; any other field passes
/// through.
const CHAT_FIELDS: &[&str] = &[
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "messages",
    "metadata",
    "modalities",
    "model",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
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

/// Copies top-level fields the conversion does not know (provider extensions).
fn pass_unknown(fields: &Map<String, Value>, known: &[&str], out: &mut Map<String, Value>) {
    for (key, value) in fields {
        if !known.contains(&key.as_str()) && !out.contains_key(key) {
            out.insert(key.clone(), value.clone());
        }
    }
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

/// Converts a Chat Completions request into a Responses request.
pub(crate) fn chat_to_responses(req: &Value) -> Result<Value, AdaptError> {
    let Some(fields) = req.as_object() else {
        return Err(AdaptError::invalid_value(
            "body",
            "The request body must be a JSON object.",
        ));
    };
    if present(req, "n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err(AdaptError::unsupported(
            "n",
            "Several choices (`n` > 1) are not supported by this participant (it speaks the Responses API).",
        ));
    }
    if let Some(stop) = present(req, "stop") {
        let empty = match stop {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if !empty {
            return Err(AdaptError::unsupported(
                "stop",
                "Stop sequences are not supported by this participant: the Responses API has no `stop` parameter.",
            ));
        }
    }
    if present(req, "logit_bias").is_some_and(|b| b.as_object().is_none_or(|m| !m.is_empty())) {
        return Err(AdaptError::unsupported(
            "logit_bias",
            "`logit_bias` is not supported by this participant (it speaks the Responses API).",
        ));
    }
    let audio_out = present(req, "audio").is_some()
        || present(req, "modalities")
            .and_then(Value::as_array)
            .is_some_and(|m| m.iter().any(|x| x.as_str() == Some("audio")));
    if audio_out {
        return Err(AdaptError::unsupported(
            "modalities",
            "Audio output is not supported by this participant (it speaks the Responses API).",
        ));
    }
    if present(req, "web_search_options").is_some() {
        return Err(AdaptError::unsupported(
            "web_search_options",
            "Web search is not supported by this participant.",
        ));
    }

    let Some(messages) = present(req, "messages")
        .and_then(Value::as_array)
        .filter(|messages| !messages.is_empty())
    else {
        return Err(AdaptError::missing(
            "messages",
            "`messages` must be a non-empty array.",
        ));
    };

    let mut instructions = Vec::new();
    let mut input = Vec::new();
    let mut leading = true;
    for (i, message) in messages.iter().enumerate() {
        let here = format!("messages[{i}]");
        let role = str_of(message, "role").unwrap_or("");
        if leading && matches!(role, "system" | "developer") {
            instructions.push(text_only(
                message.get("content"),
                &format!("{here}.content"),
            )?);
            continue;
        }
        leading = false;
        chat_message_to_items(message, role, &here, &mut input)?;
    }

    let mut out = Map::new();
    if let Some(model) = req.get("model") {
        out.insert("model".into(), model.clone());
    }
    if !instructions.is_empty() {
        out.insert(
            "instructions".into(),
            Value::String(instructions.join("\n\n")),
        );
    }
    out.insert("input".into(), Value::Array(input));

    let tools = match (present(req, "tools"), present(req, "functions")) {
        (Some(tools), _) => Some(chat_tools_to_responses(tools)?),
        (None, Some(functions)) => Some(legacy_functions_to_responses(functions)?),
        (None, None) => None,
    };
    if let Some(tools) = tools.filter(|t| !t.is_empty()) {
        out.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = present(req, "tool_choice") {
        out.insert("tool_choice".into(), chat_tool_choice_to_responses(choice)?);
    } else if let Some(choice) = present(req, "function_call") {
        let choice = match choice {
            Value::String(_) => choice.clone(),
            _ => match str_of(choice, "name") {
                Some(name) => json!({"type": "function", "name": name}),
                None => {
                    return Err(AdaptError::invalid_value(
                        "function_call",
                        "`function_call` must be \"auto\", \"none\" or {\"name\": ...}.",
                    ));
                }
            },
        };
        out.insert("tool_choice".into(), choice);
    }

    if let Some(max) = present(req, "max_completion_tokens").or_else(|| present(req, "max_tokens"))
    {
        out.insert("max_output_tokens".into(), max.clone());
    }
    let mut text = Map::new();
    if let Some(format) = present(req, "response_format") {
        text.insert("format".into(), response_format_to_responses(format)?);
    }
    if let Some(verbosity) = present(req, "verbosity") {
        text.insert("verbosity".into(), verbosity.clone());
    }
    if !text.is_empty() {
        out.insert("text".into(), Value::Object(text));
    }
    for key in [
        "temperature",
        "top_p",
        "parallel_tool_calls",
        "service_tier",
        "metadata",
        "prompt_cache_key",
        "safety_identifier",
        "user",
    ] {
        if let Some(v) = present(req, key) {
            out.insert(key.into(), v.clone());
        }
    }
    if present(req, "logprobs").and_then(Value::as_bool) == Some(true) {
        out.insert("include".into(), json!(["message.output_text.logprobs"]));
        if let Some(n) = present(req, "top_logprobs") {
            out.insert("top_logprobs".into(), n.clone());
        }
    }
    if let Some(effort) = present(req, "reasoning_effort") {
        out.insert("reasoning".into(), json!({"effort": effort}));
    }
    if req.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream".into(), Value::Bool(true));
    }
    out.insert("store".into(), Value::Bool(false));
    pass_unknown(fields, CHAT_FIELDS, &mut out);
    Ok(Value::Object(out))
}

/// The text of a system or developer message (string or text parts joined with `\n`).
fn text_only(content: Option<&Value>, here: &str) -> Result<String, AdaptError> {
    match content {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => {
            let mut texts = Vec::with_capacity(parts.len());
            for (j, part) in parts.iter().enumerate() {
                match (part, str_of(part, "type"), str_of(part, "text")) {
                    (Value::String(s), _, _) => texts.push(s.as_str()),
                    (_, Some("text" | "input_text"), Some(t)) => texts.push(t),
                    _ => {
                        return Err(AdaptError::unsupported(
                            format!("{here}[{j}]"),
                            "Only text is supported in this message.",
                        ));
                    }
                }
            }
            Ok(texts.join("\n"))
        }
        Some(_) => Err(AdaptError::invalid_value(
            here,
            "Message content must be a string or an array of content parts.",
        )),
    }
}

fn chat_message_to_items(
    message: &Value,
    role: &str,
    here: &str,
    input: &mut Vec<Value>,
) -> Result<(), AdaptError> {
    let content_path = format!("{here}.content");
    match role {
        "system" | "developer" => {
            let text = text_only(message.get("content"), &content_path)?;
            input.push(json!({
                "type": "message",
                "role": role,
                "content": [{"type": "input_text", "text": text}],
            }));
        }
        "user" => {
            let content = user_content_to_responses(message.get("content"), &content_path)?;
            input.push(json!({"type": "message", "role": "user", "content": content}));
        }
        "assistant" => {
            if present(message, "function_call").is_some() {
                return Err(AdaptError::unsupported(
                    format!("{here}.function_call"),
                    "The deprecated `function_call` message field is not supported by this participant; use `tool_calls`.",
                ));
            }
            let mut parts = Vec::new();
            match message.get("content") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    if !s.is_empty() {
                        parts.push(json!({"type": "output_text", "text": s, "annotations": []}));
                    }
                }
                Some(Value::Array(items)) => {
                    for (j, part) in items.iter().enumerate() {
                        match (str_of(part, "type"), part) {
                            (_, Value::String(s)) => parts
                                .push(json!({"type": "output_text", "text": s, "annotations": []})),
                            (Some("text"), _) => parts.push(json!({
                                "type": "output_text",
                                "text": str_of(part, "text").unwrap_or(""),
                                "annotations": [],
                            })),
                            (Some("refusal"), _) => parts.push(json!({
                                "type": "refusal",
                                "refusal": str_of(part, "refusal").unwrap_or(""),
                            })),
                            _ => {
                                return Err(AdaptError::unsupported(
                                    format!("{content_path}[{j}]"),
                                    "Assistant messages may only hold text and refusals.",
                                ));
                            }
                        }
                    }
                }
                Some(_) => {
                    return Err(AdaptError::invalid_value(
                        content_path,
                        "Message content must be a string or an array of content parts.",
                    ));
                }
            }
            if let Some(refusal) = str_of(message, "refusal") {
                parts.push(json!({"type": "refusal", "refusal": refusal}));
            }
            if !parts.is_empty() {
                input.push(json!({"type": "message", "role": "assistant", "content": parts}));
            }
            let calls = present(message, "tool_calls").and_then(Value::as_array);
            for (j, call) in calls.into_iter().flatten().enumerate() {
                let path = format!("{here}.tool_calls[{j}]");
                if str_of(call, "type").is_some_and(|t| t != "function") {
                    return Err(AdaptError::unsupported(
                        path,
                        "Only function tool calls are supported by this participant.",
                    ));
                }
                let function = call.get("function").unwrap_or(&Value::Null);
                let (Some(id), Some(name)) = (str_of(call, "id"), str_of(function, "name")) else {
                    return Err(AdaptError::missing(
                        path,
                        "Tool calls need an `id` and a `function.name`.",
                    ));
                };
                input.push(json!({
                    "type": "function_call",
                    "call_id": id,
                    "name": name,
                    "arguments": str_of(function, "arguments").unwrap_or("{}"),
                }));
            }
        }
        "tool" => {
            let Some(call_id) = str_of(message, "tool_call_id") else {
                return Err(AdaptError::missing(
                    format!("{here}.tool_call_id"),
                    "Tool messages need a `tool_call_id`.",
                ));
            };
            let output = text_only(message.get("content"), &content_path)?;
            input.push(json!({
                "type": "function_call_output",
                "call_id": call_id,
                "output": output,
            }));
        }
        "function" => {
            return Err(AdaptError::unsupported(
                format!("{here}.role"),
                "The deprecated `function` role is not supported by this participant; use tool messages.",
            ));
        }
        other => {
            return Err(AdaptError::invalid_value(
                format!("{here}.role"),
                format!("Unsupported message role '{other}'."),
            ));
        }
    }
    Ok(())
}

fn user_content_to_responses(content: Option<&Value>, here: &str) -> Result<Value, AdaptError> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::String(s)) => return Ok(json!([{"type": "input_text", "text": s}])),
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
        let path = format!("{here}[{j}]");
        let converted = match (str_of(part, "type"), part) {
            (_, Value::String(s)) => json!({"type": "input_text", "text": s}),
            (Some("text"), _) => {
                json!({"type": "input_text", "text": str_of(part, "text").unwrap_or("")})
            }
            (Some("image_url"), _) => {
                let image = part.get("image_url").unwrap_or(&Value::Null);
                let url = image.as_str().or_else(|| str_of(image, "url"));
                let Some(url) = url else {
                    return Err(AdaptError::missing(
                        format!("{path}.image_url.url"),
                        "Image parts need an `image_url.url`.",
                    ));
                };
                let detail = present(image, "detail").cloned().unwrap_or(json!("auto"));
                json!({"type": "input_image", "image_url": url, "detail": detail})
            }
            (Some("input_audio"), _) => {
                json!({"type": "input_audio", "input_audio": part.get("input_audio")})
            }
            (Some("file"), _) => {
                let file = part.get("file").unwrap_or(&Value::Null);
                let mut out = Map::new();
                out.insert("type".into(), json!("input_file"));
                for key in ["file_data", "file_id", "filename"] {
                    if let Some(v) = present(file, key) {
                        out.insert(key.into(), v.clone());
                    }
                }
                Value::Object(out)
            }
            (kind, _) => {
                return Err(AdaptError::unsupported(
                    path,
                    format!(
                        "Content parts of type '{}' are not supported by this participant (it speaks the Responses API).",
                        kind.unwrap_or("(missing)")
                    ),
                ));
            }
        };
        out.push(converted);
    }
    Ok(Value::Array(out))
}

fn chat_tools_to_responses(tools: &Value) -> Result<Vec<Value>, AdaptError> {
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
            other => {
                return Err(AdaptError::unsupported(
                    here,
                    format!(
                        "Tools of type '{}' are not supported by this participant: only function tools can be bridged.",
                        other.unwrap_or("(missing)")
                    ),
                ));
            }
        }
        let function = tool.get("function").unwrap_or(&Value::Null);
        out.push(flat_function(function, &format!("{here}.function"))?);
    }
    Ok(out)
}

fn legacy_functions_to_responses(functions: &Value) -> Result<Vec<Value>, AdaptError> {
    let Some(functions) = functions.as_array() else {
        return Err(AdaptError::invalid_value(
            "functions",
            "`functions` must be an array.",
        ));
    };
    functions
        .iter()
        .enumerate()
        .map(|(i, f)| flat_function(f, &format!("functions[{i}]")))
        .collect()
}

/// A Chat Completions function definition as a flat Responses function tool.
fn flat_function(function: &Value, here: &str) -> Result<Value, AdaptError> {
    let Some(name) = str_of(function, "name") else {
        return Err(AdaptError::missing(
            format!("{here}.name"),
            "Function tools need a `name`.",
        ));
    };
    let mut out = Map::new();
    out.insert("type".into(), json!("function"));
    out.insert("name".into(), json!(name));
    for key in ["description", "parameters"] {
        if let Some(v) = present(function, key) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert(
        "strict".into(),
        present(function, "strict").cloned().unwrap_or(json!(false)),
    );
    Ok(Value::Object(out))
}

fn chat_tool_choice_to_responses(choice: &Value) -> Result<Value, AdaptError> {
    if choice.is_string() {
        return Ok(choice.clone());
    }
    match str_of(choice, "type") {
        Some("function") => {
            let name = choice.get("function").and_then(|f| str_of(f, "name"));
            let Some(name) = name else {
                return Err(AdaptError::missing(
                    "tool_choice.function.name",
                    "A function tool_choice needs a `function.name`.",
                ));
            };
            Ok(json!({"type": "function", "name": name}))
        }
        Some("allowed_tools") => {
            let allowed = choice.get("allowed_tools").unwrap_or(&Value::Null);
            let mode = str_of(allowed, "mode").unwrap_or("auto");
            let list = allowed.get("tools").and_then(Value::as_array);
            let mut tools = Vec::new();
            for (i, tool) in list.into_iter().flatten().enumerate() {
                let name = tool.get("function").and_then(|f| str_of(f, "name"));
                match (str_of(tool, "type"), name) {
                    (Some("function"), Some(name)) => {
                        tools.push(json!({"type": "function", "name": name}));
                    }
                    _ => {
                        return Err(AdaptError::unsupported(
                            format!("tool_choice.allowed_tools.tools[{i}]"),
                            "Only function tools can be allowed on this participant.",
                        ));
                    }
                }
            }
            Ok(json!({"type": "allowed_tools", "mode": mode, "tools": tools}))
        }
        other => Err(AdaptError::unsupported(
            "tool_choice",
            format!(
                "tool_choice of type '{}' is not supported by this participant.",
                other.unwrap_or("(missing)")
            ),
        )),
    }
}

fn response_format_to_responses(format: &Value) -> Result<Value, AdaptError> {
    match str_of(format, "type") {
        Some("text") => Ok(json!({"type": "text"})),
        Some("json_object") => Ok(json!({"type": "json_object"})),
        Some("json_schema") => {
            let schema = format.get("json_schema").unwrap_or(&Value::Null);
            let mut out = Map::new();
            out.insert("type".into(), json!("json_schema"));
            for key in ["name", "schema", "strict", "description"] {
                if let Some(v) = present(schema, key) {
                    out.insert(key.into(), v.clone());
                }
            }
            Ok(Value::Object(out))
        }
        other => Err(AdaptError::invalid_value(
            "response_format.type",
            format!(
                "Unknown response_format '{}'.",
                other.unwrap_or("(missing)")
            ),
        )),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
