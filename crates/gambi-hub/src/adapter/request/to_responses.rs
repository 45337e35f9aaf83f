//! Chat Completions request -> Responses request.

use serde_json::{Map, Value, json};

use super::pass_unknown;
use crate::adapter::error::AdaptError;
use crate::adapter::{present, str_of};

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
