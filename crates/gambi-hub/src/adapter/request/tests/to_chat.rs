//! Responses -> Chat Completions.

use super::*;

fn check_r2c(input: Value, expected: Value) {
    check(responses_to_chat, input, expected);
}

fn check_r2c_err(input: Value, param: &str, message_part: &str) {
    check_err(responses_to_chat, input, param, message_part);
}

#[test]
fn r2c_text_only() {
    check_r2c(
        json!({"model": "llama3", "input": "Tell me a joke"}),
        json!({"model": "llama3", "messages": [{"role": "user", "content": "Tell me a joke"}]}),
    );
    check_r2c(
        json!({"model": "m", "instructions": "Be brief.", "input": "Hi"}),
        json!({"model": "m", "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
        ]}),
    );
    check_r2c(
        json!({"model": "m", "instructions": "Only instructions"}),
        json!({"model": "m", "messages": [{"role": "system", "content": "Only instructions"}]}),
    );
}

#[test]
fn r2c_multi_turn_and_roles() {
    check_r2c(
        json!({"model": "m", "input": [
            {"role": "developer", "content": "Talk like a pirate."},
            {"role": "user", "content": "Are semicolons optional in JavaScript?"},
            {"type": "message", "role": "assistant", "id": "msg_1", "status": "completed",
             "content": [{"type": "output_text", "text": "Arr, mostly.", "annotations": []}]},
            {"type": "message", "role": "user",
             "content": [{"type": "input_text", "text": "Why?"}, {"type": "input_text", "text": "Explain."}]},
            {"role": "system", "content": []},
        ]}),
        json!({"model": "m", "messages": [
            {"role": "system", "content": "Talk like a pirate."},
            {"role": "user", "content": "Are semicolons optional in JavaScript?"},
            {"role": "assistant", "content": "Arr, mostly."},
            {"role": "user", "content": "Why?\nExplain."},
            {"role": "system", "content": ""},
        ]}),
    );
}

#[test]
fn r2c_instructions_as_items() {
    check_r2c(
        json!({"model": "m",
               "instructions": [{"role": "developer", "content": [{"type": "input_text", "text": "Rule 1"}]}],
               "input": "go"}),
        json!({"model": "m", "messages": [
            {"role": "system", "content": "Rule 1"},
            {"role": "user", "content": "go"},
        ]}),
    );
}

#[test]
fn r2c_images_files_audio() {
    check_r2c(
        json!({"model": "m", "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "what is in this image?"},
            {"type": "input_image", "image_url": "https://example.com/cat.png", "detail": "high"},
            {"type": "input_image", "image_url": "data:image/png;base64,AAAA"},
            {"type": "input_file", "filename": "doc.pdf", "file_data": "data:application/pdf;base64,JVBER"},
            {"type": "input_file", "file_id": "file-123"},
            {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
        ]}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is in this image?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "file", "file": {"filename": "doc.pdf", "file_data": "data:application/pdf;base64,JVBER"}},
            {"type": "file", "file": {"file_id": "file-123"}},
            {"type": "input_audio", "input_audio": {"data": "UklGR", "format": "wav"}},
        ]}]}),
    );
}

#[test]
fn r2c_tools_and_tool_choice() {
    let tool = json!({
        "type": "function", "name": "get_weather", "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": true,
    });
    let chat_tool = json!({"type": "function", "function": {
        "name": "get_weather", "description": "Get the weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "strict": true,
    }});
    let cases = [
        (json!("auto"), json!("auto")),
        (json!("none"), json!("none")),
        (json!("required"), json!("required")),
        (
            json!({"type": "function", "name": "get_weather"}),
            json!({"type": "function", "function": {"name": "get_weather"}}),
        ),
    ];
    for (choice, chat_choice) in cases {
        check_r2c(
            json!({"model": "m", "input": "Weather in Paris?", "tools": [tool], "tool_choice": choice}),
            json!({"model": "m", "messages": [{"role": "user", "content": "Weather in Paris?"}],
                   "tools": [chat_tool], "tool_choice": chat_choice}),
        );
    }
    // A tool without description/strict keeps only what it has.
    check_r2c(
        json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f", "parameters": {}}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
               "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}),
    );
    // allowed_tools narrows the tool list and keeps the mode.
    check_r2c(
        json!({"model": "m", "input": "x",
               "tools": [{"type": "function", "name": "a"}, {"type": "function", "name": "b"}],
               "tool_choice": {"type": "allowed_tools", "mode": "required",
                               "tools": [{"type": "function", "name": "b"}]}}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
               "tools": [{"type": "function", "function": {"name": "b"}}],
               "tool_choice": "required"}),
    );
    // tool_choice without tools is dropped (Chat Completions rejects it).
    check_r2c(
        json!({"model": "m", "input": "x", "tool_choice": "auto", "tools": []}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    );
}

#[test]
fn r2c_function_call_round_trip() {
    check_r2c(
        json!({"model": "m", "input": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "get_weather",
             "arguments": "{\"city\":\"Paris\"}", "status": "completed"},
            {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "get_weather",
             "arguments": "{\"city\":\"Rome\"}"},
            {"type": "function_call_output", "call_id": "call_a", "output": "18C"},
            {"type": "function_call_output", "call_id": "call_b",
             "output": [{"type": "input_text", "text": "21C"}, {"type": "input_text", "text": "sunny"}]},
            {"type": "function_call", "call_id": "call_c", "name": "get_time", "arguments": {"tz": "CET"}},
            {"type": "function_call_output", "call_id": "call_c", "output": {"time": "12:00"}},
        ]}),
        json!({"model": "m", "messages": [
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_a", "content": "18C"},
            {"role": "tool", "tool_call_id": "call_b", "content": "21C\nsunny"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_c", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}},
            ]},
            {"role": "tool", "tool_call_id": "call_c", "content": "{\"time\":\"12:00\"}"},
        ]}),
    );
}

#[test]
fn r2c_text_formats() {
    let cases = [
        (
            json!({"format": {"type": "text"}, "verbosity": "low"}),
            None,
        ),
        (
            json!({"format": {"type": "json_object"}}),
            Some(json!({"type": "json_object"})),
        ),
        (
            json!({"format": {"type": "json_schema", "name": "event", "strict": true,
                              "description": "A calendar event",
                              "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                                         "required": ["name"], "additionalProperties": false}}}),
            Some(json!({"type": "json_schema", "json_schema": {
                "name": "event", "strict": true, "description": "A calendar event",
                "schema": {"type": "object", "properties": {"name": {"type": "string"}},
                           "required": ["name"], "additionalProperties": false}}})),
        ),
    ];
    for (text, format) in cases {
        let mut expected = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        if let Some(format) = format {
            expected["response_format"] = format;
        }
        check_r2c(json!({"model": "m", "input": "x", "text": text}), expected);
    }
}

#[test]
fn r2c_sampling_and_passthrough() {
    check_r2c(
        json!({
            "model": "m", "input": "x",
            "temperature": 0.2, "top_p": 0.9, "seed": 7, "frequency_penalty": 0.1,
            "presence_penalty": 0.3, "max_output_tokens": 256, "stop_sequences": ["\n\n"],
            "parallel_tool_calls": false, "safety_identifier": "user-1", "top_logprobs": 3,
            "service_tier": "flex", "reasoning": {"effort": "low", "summary": "auto"},
            "metadata": {"k": "v"}, "store": true, "truncation": "auto",
            "include": ["reasoning.encrypted_content"], "prompt_cache_key": "abc",
            "background": false, "previous_response_id": "resp_x", "max_tool_calls": 3,
            "stream": true, "top_k": 40, "min_p": 0.05,
        }),
        json!({
            "model": "m", "messages": [{"role": "user", "content": "x"}],
            "temperature": 0.2, "top_p": 0.9, "seed": 7, "frequency_penalty": 0.1,
            "presence_penalty": 0.3, "max_tokens": 256, "stop": ["\n\n"],
            "parallel_tool_calls": false, "user": "user-1", "logprobs": true, "top_logprobs": 3,
            "service_tier": "flex", "reasoning_effort": "low",
            "stream": true, "stream_options": {"include_usage": true},
            "top_k": 40, "min_p": 0.05,
        }),
    );
    // `stop` wins over `stop_sequences`; `user` over `safety_identifier`; null is absent;
    // logprobs requested through `include`.
    check_r2c(
        json!({"model": "m", "input": "x", "stop": "END", "stop_sequences": ["X"],
               "user": "u", "safety_identifier": "s", "temperature": null, "stream": false,
               "include": ["message.output_text.logprobs"]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
               "stop": "END", "user": "u", "logprobs": true}),
    );
}

#[test]
fn r2c_rejections() {
    let cases = [
        (
            json!({"model": "m", "input": "x", "background": true}),
            "background",
            "Background responses",
        ),
        (
            json!({"model": "m", "input": "x", "conversation": "conv_1"}),
            "conversation",
            "Conversations",
        ),
        (
            json!({"model": "m", "prompt": {"id": "pmpt_1"}}),
            "prompt",
            "prompt templates",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}),
            "tools[0]",
            "'web_search'",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}, {"type": "mcp", "server_label": "s"}]}),
            "tools[1]",
            "'mcp'",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}],
                   "tool_choice": {"type": "file_search"}}),
            "tool_choice",
            "'file_search'",
        ),
        (
            json!({"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]}),
            "input[0]",
            "Item references",
        ),
        (
            json!({"model": "m", "input": [{"type": "web_search_call", "id": "ws_1"}]}),
            "input[0]",
            "'web_search_call'",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]}),
            "input[0].content[0].image_url",
            "file_id",
        ),
        (
            json!({"model": "m", "input": [{"role": "assistant", "content": [{"type": "input_image", "image_url": "u"}]}]}),
            "input[0].content[0]",
            "only supported in user messages",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_url": "https://x/a.pdf"}]}]}),
            "input[0].content[0].file_url",
            "file_url",
        ),
        (
            json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
            "input[0].role",
            "'tool'",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}),
            "input[0].call_id",
            "call_id",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c",
                                            "output": [{"type": "input_image", "image_url": "u"}]}]}),
            "input[0].output[0]",
            "Only text",
        ),
        (
            json!({"model": "m", "input": "x", "text": {"format": {"type": "xml"}}}),
            "text.format.type",
            "'xml'",
        ),
        (
            json!({"model": "m"}),
            "input",
            "requires input or instructions",
        ),
        (
            json!({"model": "m", "input": [], "instructions": ""}),
            "input",
            "requires input or instructions",
        ),
        (
            json!({"model": "m", "input": 5}),
            "input",
            "must be a string",
        ),
        (json!([1]), "body", "JSON object"),
    ];
    for (input, param, message) in cases {
        check_r2c_err(input, param, message);
    }
}
