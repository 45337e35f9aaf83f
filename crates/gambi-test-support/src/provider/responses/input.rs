//! The request's `input` as the input items a response keeps.

use serde_json::{Value, json};

use crate::provider::text::new_id;

/// The request's `input` as input items with ids: a string becomes one user message;
/// messages get `type`, `status` and typed content parts; other items are kept as sent.
pub(super) fn input_items_of(input: Option<&Value>) -> Vec<Value> {
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
