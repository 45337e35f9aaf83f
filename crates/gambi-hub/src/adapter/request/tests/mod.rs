//! The request conversions, case by case: `to_chat` (Responses -> Chat Completions),
//! `to_responses` (Chat Completions -> Responses), and here a round trip through both.

// Table-driven helpers take owned `json!` literals so the cases read as plain data.
#![allow(clippy::needless_pass_by_value)]

use serde_json::{Value, json};

use super::*;

mod to_chat;
mod to_responses;

#[test]
fn round_trip_preserves_a_tool_conversation() {
    let responses = json!({"model": "m", "instructions": "Be helpful.", "input": [
        {"role": "user", "content": "Weather?"},
        {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    ], "tools": [{"type": "function", "name": "w", "parameters": {}, "strict": false}]});
    let chat = responses_to_chat(&responses).ok();
    let back = chat.as_ref().and_then(|c| chat_to_responses(c).ok());
    assert_eq!(
        back,
        Some(
            json!({"model": "m", "instructions": "Be helpful.", "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "w", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ], "tools": [{"type": "function", "name": "w", "parameters": {}, "strict": false}],
        "store": false})
        )
    );
}
