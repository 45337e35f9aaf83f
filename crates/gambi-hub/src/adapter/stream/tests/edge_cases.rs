//! Chat Completions -> Responses: failures, truncation, reasoning and odd providers.

use super::*;

#[test]
fn c2r_provider_error_mid_stream_is_failed() {
    let upstream = [
        chunk(json!({"content": "Par"}), None),
        "data: {\"error\":{\"message\":\"CUDA out of memory\",\"type\":\"server_error\"}}\n\n"
            .to_owned(),
        chunk(json!({"content": "tial"}), None),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.failed",
        ]
    );
    let response = last_response(&events);
    assert_eq!(response["status"], json!("failed"));
    assert_eq!(
        response["error"],
        json!({"code": "server_error", "message": "CUDA out of memory"})
    );
    assert_eq!(response["output"][0]["status"], json!("incomplete"));
    assert_eq!(response["output_text"], json!("Par"));
    assert_eq!(stream.final_response(), Some(&response));

    // A named error event with non-JSON data fails too.
    let (events, _) = run_c2r(
        json!({"input": "x"}),
        "event: error\ndata: upstream exploded\n\n",
    );
    assert_eq!(
        last_response(&events)["error"]["message"],
        json!("upstream exploded")
    );
}

#[test]
fn c2r_truncated_stream_and_transport_failure() {
    let upstream = chunk(json!({"content": "cut"}), None);
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    let response = last_response(&events);
    assert_eq!(response["status"], json!("failed"));
    assert_eq!(
        response["error"]["message"],
        json!("The provider's stream ended before the response was finished.")
    );

    let mut stream = ChatToResponsesStream::new(c2r_ctx(json!({"input": "x"})));
    let mut out = stream
        .feed(chunk(json!({"content": "a"}), None).as_bytes())
        .to_vec();
    out.extend_from_slice(&stream.fail("tunnel closed"));
    let events = frames(&out);
    assert_eq!(
        types(&events).last().map(String::as_str),
        Some("response.failed")
    );
    assert_eq!(
        last_response(&events)["error"]["message"],
        json!("tunnel closed")
    );
    assert_eq!(stream.finish(), Bytes::new());
}

#[test]
fn c2r_empty_answer() {
    let upstream = [
        chunk(json!({"role": "assistant", "content": ""}), None),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.completed"
        ]
    );
    assert_eq!(last_response(&events)["output"], json!([]));
    assert!(!stream.first_content_emitted());
}

#[test]
fn c2r_reasoning_then_text() {
    let upstream = [
        chunk(
            json!({"role": "assistant", "reasoning_content": "Let me"}),
            None,
        ),
        chunk(json!({"reasoning_content": " think."}), None),
        chunk(json!({"content": "42"}), None),
        chunk(json!({}), Some("stop")),
        usage_chunk(1, 3),
    ]
    .concat();
    let (events, stream) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        types(&events),
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.reasoning_text.delta",
            "response.reasoning_text.delta",
            "response.reasoning_text.done",
            "response.content_part.done",
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
    let rs = format!("rs_{}", hex(2));
    let reasoning_events: Vec<Value> = events[2..9].iter().map(|(_, d)| d.clone()).collect();
    let done_item = json!({"id": rs, "type": "reasoning", "summary": [],
                           "content": [{"type": "reasoning_text", "text": "Let me think."}]});
    assert_eq!(
        reasoning_events,
        vec![
            json!({"type": "response.output_item.added", "sequence_number": 2, "output_index": 0,
                   "item": {"id": rs, "type": "reasoning", "summary": [], "content": []}}),
            json!({"type": "response.content_part.added", "sequence_number": 3, "item_id": rs,
                   "output_index": 0, "content_index": 0,
                   "part": {"type": "reasoning_text", "text": ""}}),
            json!({"type": "response.reasoning_text.delta", "sequence_number": 4, "item_id": rs,
                   "output_index": 0, "content_index": 0, "delta": "Let me"}),
            json!({"type": "response.reasoning_text.delta", "sequence_number": 5, "item_id": rs,
                   "output_index": 0, "content_index": 0, "delta": " think."}),
            json!({"type": "response.reasoning_text.done", "sequence_number": 6, "item_id": rs,
                   "output_index": 0, "content_index": 0, "text": "Let me think."}),
            json!({"type": "response.content_part.done", "sequence_number": 7, "item_id": rs,
                   "output_index": 0, "content_index": 0,
                   "part": {"type": "reasoning_text", "text": "Let me think."}}),
            json!({"type": "response.output_item.done", "sequence_number": 8, "output_index": 0,
                   "item": done_item}),
        ]
    );
    let response = last_response(&events);
    assert_eq!(response["output"][0], done_item);
    assert_eq!(response["output"][1]["id"], json!(msg(3)));
    assert_eq!(response["output_text"], json!("42"));
    assert!(stream.first_content_emitted());

    // Ollama names the field `reasoning`.
    let upstream = [
        chunk(json!({"reasoning": "hm"}), None),
        chunk(json!({}), Some("stop")),
        "data: [DONE]\n\n".to_owned(),
    ]
    .concat();
    let (events, _) = run_c2r(json!({"input": "x"}), &upstream);
    assert_eq!(
        last_response(&events)["output"],
        json!([{"id": rs, "type": "reasoning", "summary": [],
                "content": [{"type": "reasoning_text", "text": "hm"}]}])
    );
}

#[test]
fn c2r_tool_name_after_id_and_other_choices_ignored() {
    let second_choice = json!({"choices": [
        {"index": 1, "delta": {"content": "other choice"}},
        {"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"name": "lookup"}}]}},
    ]});
    let upstream = [
        chunk(json!({"tool_calls": [{"index": 0, "id": "call_7", "type": "function", "function": {"arguments": ""}}]}), None),
        format!("data: {second_choice}\n\n"),
        chunk(tool(0, None, None, "{\"q\":1}"), None),
        chunk(json!({}), Some("tool_calls")),
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
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    assert_eq!(
        payloads(&events, "response.output_item.added")[0]["item"]["name"],
        json!("lookup")
    );
    assert_eq!(
        last_response(&events)["output"],
        json!([{"id": fc(2), "type": "function_call", "status": "completed",
                "arguments": "{\"q\":1}", "call_id": "call_7", "name": "lookup"}])
    );
}
