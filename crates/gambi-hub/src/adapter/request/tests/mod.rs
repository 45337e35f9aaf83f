//! The request conversions, case by case: `to_chat` (Responses -> Chat Completions),
//! `to_responses` (Chat Completions -> Responses), and here a round trip through both.

// Table-driven helpers take owned `json!` literals so the cases read as plain data.
#![allow(clippy::needless_pass_by_value)]

use serde_json::{Value, json};

use crate::adapter::error::AdaptError;

use super::*;

mod to_chat;
mod to_responses;

/// One of the two conversions.
type Convert = fn(&Value) -> Result<Value, AdaptError>;

/// `convert` turns `input` into `expected`.
fn check(convert: Convert, input: Value, expected: Value) {
    match convert(&input) {
        Ok(got) => assert_eq!(got, expected, "input: {input}"),
        Err(e) => panic!("input: {input}\nunexpected error: {e:?}"),
    }
}

/// `convert` refuses `input` with a 400 naming `param`, its message containing
/// `message_part`.
fn check_err(convert: Convert, input: Value, param: &str, message_part: &str) {
    match convert(&input) {
        Ok(got) => panic!("input: {input}\nexpected an error, got {got}"),
        Err(e) => {
            assert_eq!(e.status(), 400, "{e:?}");
            assert_eq!(e.param(), Some(param), "{e:?}");
            assert!(e.to_string().contains(message_part), "{e:?}");
        }
    }
}

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
