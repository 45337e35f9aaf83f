//! Chat Completions -> Responses.

use super::*;

#[test]
fn c2r_text_stream_exact_events() {
    let upstream = [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({"content": "Hello"}), None),
        chunk(json!({"content": " world"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(10, 2),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, stream) = run_c2r(
        json!({"model": "any", "input": "Hi", "stream": true}),
        &upstream,
    );
    let resp_id = format!("resp_{}", hex(1));
    let skeleton = |status: &str, output: Value, output_text: &str, usage: Value| {
        json!({
            "id": resp_id, "object": "response", "created_at": 1_700_000_000, "status": status,
            "background": false, "error": null, "incomplete_details": null, "instructions": null,
            "max_output_tokens": null, "max_tool_calls": null, "model": "llama3",
            "output": output, "output_text": output_text, "parallel_tool_calls": true,
            "previous_response_id": null, "prompt_cache_key": null,
            "reasoning": {"effort": null, "summary": null}, "safety_identifier": null,
            "service_tier": "default", "store": true, "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
            "tools": [], "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
            "usage": usage, "user": null, "metadata": {},
        })
    };
    let part = |text: &str| json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
    let item = |status: &str, content: Value| json!({"id": msg(2), "type": "message", "status": status, "content": content, "role": "assistant"});
    let final_item = item("completed", json!([part("Hello world")]));
    let expected = vec![
        json!({"type": "response.created", "sequence_number": 0,
               "response": skeleton("in_progress", json!([]), "", Value::Null)}),
        json!({"type": "response.in_progress", "sequence_number": 1,
               "response": skeleton("in_progress", json!([]), "", Value::Null)}),
        json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
               "item": item("in_progress", json!([]))}),
        json!({"type": "response.content_part.added", "sequence_number": 3, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "part": part("")}),
        json!({"type": "response.output_text.delta", "sequence_number": 4, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "delta": "Hello", "logprobs": []}),
        json!({"type": "response.output_text.delta", "sequence_number": 5, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "delta": " world", "logprobs": []}),
        json!({"type": "response.output_text.done", "sequence_number": 6, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "text": "Hello world", "logprobs": []}),
        json!({"type": "response.content_part.done", "sequence_number": 7, "item_id": msg(2),
               "output_index": 0, "content_index": 0, "part": part("Hello world")}),
        json!({"type": "response.output_item.done", "sequence_number": 8, "output_index": 0,
               "item": final_item}),
        json!({"type": "response.completed", "sequence_number": 9,
        "response": skeleton("completed", json!([final_item]), "Hello world", json!({
            "input_tokens": 10, "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": 2, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 12,
        }))}),
    ];
    let got: Vec<Value> = events.into_iter().map(|(_, data)| data).collect();
    assert_eq!(got, expected);
    assert_eq!(
        stream.usage(),
        Some(TokenUsage {
            input_tokens: Some(10),
            output_tokens: Some(2),
            total_tokens: Some(12)
        })
    );
    assert!(stream.first_content_emitted());
    assert_eq!(
        stream.final_response(),
        expected.last().map(|e| &e["response"])
    );
    assert_eq!(stream.response_id(), resp_id);
}

#[test]
fn c2r_start_sends_created_and_first_content_is_tracked() {
    let mut stream = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    let start = frames(&stream.start());
    assert_eq!(types(&start), ["response.created", "response.in_progress"]);
    assert_eq!(stream.start(), Bytes::new());
    assert!(!stream.first_content_emitted());
    let role = stream.feed(chunk(json!({"role": "assistant", "content": ""}), None).as_bytes());
    assert_eq!(role, Bytes::new());
    assert!(!stream.first_content_emitted());
    // Half a frame produces nothing yet; the rest produces the first delta.
    let frame = chunk(json!({"content": "Hi"}), None);
    let (a, b) = frame.as_bytes().split_at(20);
    assert_eq!(stream.feed(a), Bytes::new());
    assert!(!stream.first_content_emitted());
    let out = frames(&stream.feed(b));
    assert_eq!(
        types(&out),
        [
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta"
        ]
    );
    assert!(stream.first_content_emitted());
}

#[test]
fn c2r_tool_call_split_across_many_deltas() {
    let upstream = [
        chunk(json!({"role": "assistant", "content": null}), None),
        chunk(tool(0, Some("call_abc"), Some("get_weather"), ""), None),
        chunk(tool(0, None, None, "{\"ci"), None),
        chunk(tool(0, None, None, "ty\":"), None),
        chunk(tool(0, None, None, "\"Paris\"}"), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(30, 8),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "Weather in Paris?"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        payloads(&events, "response.output_item.added")[0]["item"],
        json!({"id": fc(2), "type": "function_call", "status": "in_progress", "arguments": "",
               "call_id": "call_abc", "name": "get_weather"})
    );
    let deltas: Vec<&Value> = payloads(&events, "response.function_call_arguments.delta")
        .into_iter()
        .map(|d| &d["delta"])
        .collect();
    assert_eq!(
        deltas,
        [&json!("{\"ci"), &json!("ty\":"), &json!("\"Paris\"}")]
    );
    assert_eq!(
        payloads(&events, "response.function_call_arguments.done")[0],
        &json!({"type": "response.function_call_arguments.done", "sequence_number": 6,
                "item_id": fc(2), "output_index": 0, "arguments": "{\"city\":\"Paris\"}",
                "name": "get_weather"})
    );
    let done_item = json!({"id": fc(2), "type": "function_call", "status": "completed",
                           "arguments": "{\"city\":\"Paris\"}", "call_id": "call_abc",
                           "name": "get_weather"});
    assert_eq!(
        payloads(&events, "response.output_item.done")[0]["item"],
        done_item
    );
    let response = last_response(&events);
    assert_eq!(response["output"], json!([done_item]));
    assert_eq!(response["output_text"], json!(""));
    assert_eq!(response["usage"]["total_tokens"], json!(38));
    assert!(stream.first_content_emitted());
}

#[test]
fn c2r_two_parallel_tool_calls() {
    let upstream = [
        chunk(tool(0, Some("call_1"), Some("get_weather"), ""), None),
        chunk(tool(0, None, None, "{\"city\":\"Paris\"}"), None),
        chunk(tool(1, Some("call_2"), Some("get_weather"), ""), None),
        chunk(tool(1, None, None, "{\"city\":\"Rome\"}"), None),
        chunk(json!({}), Some("tool_calls")),
        usage_chunk(1, 1),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let indexes: Vec<&Value> = events
        .iter()
        .filter_map(|(_, d)| d.get("output_index"))
        .collect();
    assert_eq!(
        indexes,
        [
            &json!(0),
            &json!(0),
            &json!(0),
            &json!(0),
            &json!(1),
            &json!(1),
            &json!(1),
            &json!(1)
        ]
    );
    assert_eq!(
        last_response(&events)["output"],
        json!([
            {"id": fc(2), "type": "function_call", "status": "completed",
             "arguments": "{\"city\":\"Paris\"}", "call_id": "call_1", "name": "get_weather"},
            {"id": fc(3), "type": "function_call", "status": "completed",
             "arguments": "{\"city\":\"Rome\"}", "call_id": "call_2", "name": "get_weather"},
        ])
    );
}

#[test]
fn c2r_parallel_tool_calls_in_one_chunk_without_index() {
    // Some providers (older Ollama) send whole calls at once, without `index`.
    let upstream = [
        chunk(
            json!({"tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "a", "arguments": "{}"}},
                {"id": "call_2", "type": "function", "function": {"name": "b", "arguments": {"x": 1}}},
            ]}),
            None,
        ),
        chunk(json!({}), Some("tool_calls")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "x"}), &upstream);
    let output = &last_response(&events)["output"];
    assert_eq!(output[0]["call_id"], json!("call_1"));
    assert_eq!(output[0]["arguments"], json!("{}"));
    assert_eq!(output[1]["call_id"], json!("call_2"));
    assert_eq!(output[1]["name"], json!("b"));
    assert_eq!(output[1]["arguments"], json!("{\"x\":1}"));
    assert_eq!(last_response(&events)["usage"], Value::Null);
    assert_eq!(stream.usage(), None);
}

#[test]
fn c2r_text_then_tool_calls_then_text() {
    let upstream = [
        chunk(json!({"content": "Let me check."}), None),
        chunk(tool(0, Some("call_1"), Some("lookup"), "{}"), None),
        chunk(json!({"content": "Done."}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(5, 5),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    let added: Vec<(Value, Value)> = payloads(&events, "response.output_item.added")
        .into_iter()
        .map(|p| (p["output_index"].clone(), p["item"]["id"].clone()))
        .collect();
    assert_eq!(
        added,
        [
            (json!(0), json!(msg(2))),
            (json!(1), json!(fc(3))),
            (json!(2), json!(msg(4)))
        ]
    );
    let text_delta_indexes: Vec<&Value> = payloads(&events, "response.output_text.delta")
        .into_iter()
        .map(|p| &p["output_index"])
        .collect();
    assert_eq!(text_delta_indexes, [&json!(0), &json!(2)]);
    let response = last_response(&events);
    assert_eq!(response["output_text"], json!("Let me check.Done."));
    assert_eq!(response["output"].as_array().map(Vec::len), Some(3));
}

#[test]
fn c2r_length_and_content_filter_are_incomplete() {
    for (finish, reason) in [
        ("length", "max_output_tokens"),
        ("content_filter", "content_filter"),
    ] {
        let upstream = [
            chunk(json!({"content": "Once upon"}), None),
            chunk(json!({}), Some(finish)),
            usage_chunk(3, 2),
            "data: [DONE]\n\n".to_owned(),
        ]
        .concat();
        let (events, _) = run_c2r(json!({"input": "story", "max_output_tokens": 2}), &upstream);
        let mut expected: Vec<String> = ["response.created", "response.in_progress"]
            .iter()
            .chain(TEXT_EVENTS.iter().take(3))
            .map(|s| s.to_string())
            .collect();
        expected.extend(
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.incomplete",
            ]
            .map(String::from),
        );
        assert_eq!(types(&events), expected);
        let response = last_response(&events);
        assert_eq!(response["status"], json!("incomplete"));
        assert_eq!(response["incomplete_details"], json!({"reason": reason}));
        assert_eq!(response["output"][0]["status"], json!("incomplete"));
        assert_eq!(response["max_output_tokens"], json!(2));
        assert_eq!(
            payloads(&events, "response.output_item.done")[0]["item"]["status"],
            json!("incomplete")
        );
    }
}

#[test]
fn c2r_refusal() {
    let upstream = [
        chunk(json!({"role": "assistant", "refusal": ""}), None),
        chunk(json!({"refusal": "I can't"}), None),
        chunk(json!({"refusal": " help."}), None),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.refusal.delta",
            "response.refusal.delta",
            "response.refusal.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        payloads(&events, "response.content_part.added")[0]["part"],
        json!({"type": "refusal", "refusal": ""})
    );
    assert_eq!(
        payloads(&events, "response.refusal.done")[0]["refusal"],
        json!("I can't help.")
    );
    assert_eq!(
        last_response(&events)["output"][0]["content"],
        json!([{"type": "refusal", "refusal": "I can't help."}])
    );
}

#[test]
fn c2r_logprobs_are_streamed() {
    let lp = json!([{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}]);
    let body = json!({"choices": [{"index": 0, "delta": {"content": "Hi"},
                                   "logprobs": {"content": lp, "refusal": null}}]});
    let upstream = format!("data: {body}\n\n{}", chunk(json!({}), Some("stop")));
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        payloads(&events, "response.output_text.delta")[0]["logprobs"],
        lp
    );
    assert_eq!(
        payloads(&events, "response.output_text.done")[0]["logprobs"],
        lp
    );
    assert_eq!(
        last_response(&events)["output"][0]["content"][0]["logprobs"],
        lp
    );
}

#[test]
fn c2r_waits_for_usage_after_finish() {
    // The finish chunk alone does not end the stream: the usage chunk may follow.
    let mut stream = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    stream.start();
    stream.feed(chunk(json!({"content": "Hi"}), None).as_bytes());
    let out = frames(&stream.feed(chunk(json!({}), Some("stop")).as_bytes()));
    assert_eq!(
        types(&out),
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done"
        ]
    );
    assert!(!stream.is_done());
    // A late content chunk after the finish is ignored.
    assert_eq!(
        stream.feed(chunk(json!({"content": "late"}), None).as_bytes()),
        Bytes::new()
    );
    let out = frames(&stream.feed(usage_chunk(4, 1).as_bytes()));
    assert_eq!(types(&out), ["response.completed"]);
    assert_eq!(out[0].1["response"]["usage"]["input_tokens"], json!(4));
    assert_eq!(out[0].1["response"]["output_text"], json!("Hi"));
    assert!(stream.is_done());
    // [DONE] after the terminal event adds nothing.
    assert_eq!(stream.feed(b"data: [DONE]\n\n"), Bytes::new());

    // Usage on the finish chunk itself ends the stream at once.
    let mut stream = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    let body = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}});
    let out = frames(&stream.feed(format!("data: {body}\n\n").as_bytes()));
    assert_eq!(
        types(&out).last().map(String::as_str),
        Some("response.completed")
    );
    assert!(stream.is_done());

    // Finish without usage, then the upstream ends: completed with null usage.
    let upstream = [
        chunk(json!({"content": "a"}), None),
        chunk(json!({}), Some("stop")),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events).last().map(String::as_str),
        Some("response.completed")
    );
    assert_eq!(last_response(&events)["usage"], Value::Null);
}

#[test]
fn c2r_done_without_finish_is_completed() {
    // An empty-string finish reason is not a finish.
    let upstream = [
        chunk(json!({"content": "a"}), Some("")),
        chunk(json!({"content": "b"}), None),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    let response = last_response(&events);
    assert_eq!(response["status"], json!("completed"));
    assert_eq!(response["output_text"], json!("ab"));
    assert_eq!(response["output"][0]["status"], json!("completed"));
}

#[test]
fn c2r_framing_crlf_comments_multiline_and_malformed() {
    let upstream = concat!(
        ": ping\r\n\r\n",
        "retry: 1000\r\n",
        "data: {\"choices\":[{\"index\":0,\r\n",
        "data: \"delta\":{\"content\":\"He\"}}]}\r\n\r\n",
        "data: {not json}\r\n\r\n",
        "event: message\r\nid: 3\r\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"llo\"}}]}\r\r",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":2,\"completion_tokens\":2,\"total_tokens\":4}}",
    );
    let (events, stream) = run_c2r(json!({"input": "x"}), upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(last_response(&events)["output_text"], json!("Hello"));
    assert_eq!(stream.malformed_events(), 1);
    assert_eq!(stream.usage().and_then(|u| u.total_tokens), Some(4));
}
