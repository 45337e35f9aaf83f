//! Chat Completions -> Responses.

use super::*;

fn check_c2r(input: Value, expected: Value) {
    check(chat_to_responses, input, expected);
}

fn check_c2r_err(input: Value, param: &str, message_part: &str) {
    check_err(chat_to_responses, input, param, message_part);
}

#[test]
fn c2r_text_and_instructions() {
    check_c2r(
        json!({"model": "m", "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Bonjour"},
            {"role": "system", "content": "Now in German."},
            {"role": "user", "content": [{"type": "text", "text": "Again"}]},
        ]}),
        json!({"model": "m",
               "instructions": "You are terse.\n\nAnswer in French.",
               "input": [
                   {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
                   {"type": "message", "role": "assistant",
                    "content": [{"type": "output_text", "text": "Bonjour", "annotations": []}]},
                   {"type": "message", "role": "system",
                    "content": [{"type": "input_text", "text": "Now in German."}]},
                   {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Again"}]},
               ],
               "store": false}),
    );
}

#[test]
fn c2r_images_files_audio() {
    check_c2r(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Describe"},
            {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JV"}},
            {"type": "input_audio", "input_audio": {"data": "UklG", "format": "mp3"}},
        ]}]}),
        json!({"model": "m", "input": [{"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Describe"},
            {"type": "input_image", "image_url": "https://x/cat.png", "detail": "low"},
            {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "auto"},
            {"type": "input_file", "filename": "a.pdf", "file_data": "data:application/pdf;base64,JV"},
            {"type": "input_audio", "input_audio": {"data": "UklG", "format": "mp3"}},
        ]}], "store": false}),
    );
}

#[test]
fn c2r_tool_round_trip() {
    check_c2r(
        json!({
            "model": "m",
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "noon"}]},
                {"role": "assistant", "content": "It is 18C.", "refusal": null},
            ],
            "tools": [
                {"type": "function", "function": {"name": "get_weather", "description": "Weather",
                                                  "parameters": {"type": "object"}}},
                {"type": "function", "function": {"name": "get_time", "strict": true}},
            ],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        }),
        json!({
            "model": "m",
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
                {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
                {"type": "function_call_output", "call_id": "call_2", "output": "noon"},
                {"type": "message", "role": "assistant",
                 "content": [{"type": "output_text", "text": "It is 18C.", "annotations": []}]},
            ],
            "tools": [
                {"type": "function", "name": "get_weather", "description": "Weather",
                 "parameters": {"type": "object"}, "strict": false},
                {"type": "function", "name": "get_time", "strict": true},
            ],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "store": false,
        }),
    );
}

#[test]
fn c2r_tool_choice_variants() {
    let cases = [
        (json!("auto"), json!("auto")),
        (json!("required"), json!("required")),
        (
            json!({"type": "allowed_tools", "allowed_tools": {"mode": "required", "tools": [
                {"type": "function", "function": {"name": "f"}}]}}),
            json!({"type": "allowed_tools", "mode": "required", "tools": [{"type": "function", "name": "f"}]}),
        ),
    ];
    for (choice, expected) in cases {
        check_c2r(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": choice}),
            json!({"model": "m",
                   "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}],
                   "tool_choice": expected, "store": false}),
        );
    }
    // Deprecated functions / function_call.
    check_c2r(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
               "functions": [{"name": "f", "parameters": {}}], "function_call": {"name": "f"}}),
        json!({"model": "m",
               "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}],
               "tools": [{"type": "function", "name": "f", "parameters": {}, "strict": false}],
               "tool_choice": {"type": "function", "name": "f"}, "store": false}),
    );
}

#[test]
fn c2r_formats_sampling_and_passthrough() {
    let user = json!([{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}]);
    check_c2r(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
               "response_format": {"type": "json_schema", "json_schema": {"name": "s", "strict": true,
                                   "schema": {"type": "object"}}},
               "verbosity": "low", "max_tokens": 10, "max_completion_tokens": 20,
               "temperature": 0.5, "top_p": 0.8, "seed": 1, "frequency_penalty": 0.5,
               "presence_penalty": 0.5, "n": 1, "stop": [], "logprobs": true, "top_logprobs": 2,
               "reasoning_effort": "high", "stream": true,
               "stream_options": {"include_usage": true}, "user": "u", "parallel_tool_calls": true,
               "store": true, "metadata": {"a": "b"}, "prediction": {"type": "content", "content": "x"},
               "logit_bias": {}, "top_k": 20}),
        json!({"model": "m", "input": user,
               "text": {"format": {"type": "json_schema", "name": "s", "strict": true,
                                   "schema": {"type": "object"}}, "verbosity": "low"},
               "max_output_tokens": 20, "temperature": 0.5, "top_p": 0.8,
               "include": ["message.output_text.logprobs"], "top_logprobs": 2,
               "reasoning": {"effort": "high"}, "stream": true, "user": "u",
               "parallel_tool_calls": true, "metadata": {"a": "b"}, "store": false, "top_k": 20}),
    );
    for (format, expected) in [
        (json!({"type": "text"}), json!({"type": "text"})),
        (
            json!({"type": "json_object"}),
            json!({"type": "json_object"}),
        ),
    ] {
        check_c2r(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": format}),
            json!({"model": "m", "input": user, "text": {"format": expected}, "store": false}),
        );
    }
}

#[test]
fn c2r_rejections() {
    let user = json!([{"role": "user", "content": "x"}]);
    let cases = [
        (
            json!({"model": "m", "messages": user, "n": 2}),
            "n",
            "Several choices",
        ),
        (
            json!({"model": "m", "messages": user, "stop": ["END"]}),
            "stop",
            "no `stop` parameter",
        ),
        (
            json!({"model": "m", "messages": user, "stop": "END"}),
            "stop",
            "Stop sequences",
        ),
        (
            json!({"model": "m", "messages": user, "logit_bias": {"50256": -100}}),
            "logit_bias",
            "logit_bias",
        ),
        (
            json!({"model": "m", "messages": user, "modalities": ["text", "audio"]}),
            "modalities",
            "Audio output",
        ),
        (
            json!({"model": "m", "messages": user, "web_search_options": {}}),
            "web_search_options",
            "Web search",
        ),
        (
            json!({"model": "m", "messages": user, "tools": [{"type": "custom", "custom": {"name": "x"}}]}),
            "tools[0]",
            "'custom'",
        ),
        (
            json!({"model": "m", "messages": user, "tool_choice": {"type": "custom", "custom": {"name": "x"}}}),
            "tool_choice",
            "'custom'",
        ),
        (
            json!({"model": "m", "messages": []}),
            "messages",
            "non-empty",
        ),
        (json!({"model": "m"}), "messages", "non-empty"),
        (
            json!({"model": "m", "messages": [{"role": "function", "name": "f", "content": "x"}]}),
            "messages[0].role",
            "deprecated `function` role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id",
            "tool_call_id",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "video", "url": "x"}]}]}),
            "messages[0].content[0]",
            "'video'",
        ),
        (
            json!({"model": "m", "messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}),
            "messages[0].content[0]",
            "Only text",
        ),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
            "'robot'",
        ),
    ];
    for (input, param, message) in cases {
        check_c2r_err(input, param, message);
    }
}
