//! The wire JSON of every frame, both ways, and how broken or unknown frames are told apart.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::*;

fn check_hub(frame: HubToParticipant, expected: Value) {
    assert_eq!(
        serde_json::to_value(&frame).expect("serializable"),
        expected
    );
    assert_eq!(
        HubToParticipant::from_json(&expected.to_string()).expect("parses back"),
        frame
    );
}

fn check_participant(frame: ParticipantToHub, expected: Value) {
    assert_eq!(
        serde_json::to_value(&frame).expect("serializable"),
        expected
    );
    assert_eq!(
        ParticipantToHub::from_json(&expected.to_string()).expect("parses back"),
        frame
    );
}

#[test]
fn hub_to_participant_frames() {
    check_hub(
        HubToParticipant::Request(TunnelRequest {
            request_id: "r1".into(),
            operation: operation::CHAT_COMPLETIONS_CREATE.into(),
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            headers: BTreeMap::from([("Content-Type".into(), "application/json".into())]),
            body: Some(json!({"model": "llama3", "messages": []})),
            stream: true,
            metadata: None,
        }),
        json!({
            "type": "tunnel.request", "requestId": "r1",
            "operation": "chat.completions.create", "method": "POST",
            "path": "/v1/chat/completions",
            "headers": {"Content-Type": "application/json"},
            "body": {"model": "llama3", "messages": []}, "stream": true
        }),
    );
    check_hub(
        HubToParticipant::Pong { timestamp: 42 },
        json!({"type": "tunnel.pong", "timestamp": 42}),
    );
    check_hub(
        HubToParticipant::Cancel {
            request_id: "r1".into(),
        },
        json!({"type": "tunnel.cancel", "requestId": "r1"}),
    );
}

#[test]
fn trace_context_travels_in_metadata() {
    let mut request = TunnelRequest {
        request_id: "r1".into(),
        operation: operation::RESPONSES_CREATE.into(),
        method: "POST".into(),
        path: "/v1/responses".into(),
        headers: BTreeMap::new(),
        body: None,
        stream: false,
        metadata: None,
    };
    assert!(request.trace_context().is_empty());
    request.set_trace_context(BTreeMap::new());
    assert_eq!(request.metadata, None, "no context, no metadata");

    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    request.set_trace_context(BTreeMap::from([("traceparent".into(), parent.into())]));
    check_hub(
        HubToParticipant::Request(request.clone()),
        json!({
            "type": "tunnel.request", "requestId": "r1", "operation": "responses.create",
            "method": "POST", "path": "/v1/responses", "headers": {}, "stream": false,
            "metadata": {"traceContext": {"traceparent": parent}}
        }),
    );
    assert!(request.headers.is_empty(), "never a header");
    assert_eq!(
        request.trace_context(),
        BTreeMap::from([("traceparent".to_owned(), parent.to_owned())])
    );

    // Other metadata is kept; what is not a string, or too long, is not context.
    request.metadata = Some(json!({"other": 1, "traceContext": {
        "traceparent": parent, "tracestate": "x".repeat(MAX_TRACE_CONTEXT_VALUE + 1),
        "number": 7,
    }}));
    assert_eq!(request.trace_context().len(), 1);
    request.set_trace_context(BTreeMap::from([("tracestate".into(), "k=v".into())]));
    assert_eq!(
        request.metadata,
        Some(json!({"other": 1, "traceContext": {"tracestate": "k=v"}}))
    );
    request.metadata = Some(json!({"traceContext": "00-…"}));
    assert!(request.trace_context().is_empty());
    request.metadata = Some(json!([1]));
    request.set_trace_context(BTreeMap::from([("traceparent".into(), parent.into())]));
    assert_eq!(
        request.metadata,
        Some(json!([1])),
        "not an object: left alone"
    );
}

#[test]
fn participant_to_hub_frames() {
    check_participant(
        ParticipantToHub::Ping { timestamp: 7 },
        json!({"type": "tunnel.ping", "timestamp": 7}),
    );
    check_participant(
        ParticipantToHub::ResponseStart {
            request_id: "r1".into(),
            status: 200,
            headers: BTreeMap::from([("content-type".into(), "text/event-stream".into())]),
            timing: None,
        },
        json!({"type": "tunnel.response.start", "requestId": "r1", "status": 200,
               "headers": {"content-type": "text/event-stream"}}),
    );
    check_participant(
        ParticipantToHub::ResponseStart {
            request_id: "r1".into(),
            status: 200,
            headers: BTreeMap::new(),
            timing: Some(ResponseTiming {
                runtime_ms: 41.5,
                provider_ttfb_ms: 40.0,
            }),
        },
        json!({"type": "tunnel.response.start", "requestId": "r1", "status": 200,
               "headers": {}, "timing": {"runtimeMs": 41.5, "providerTtfbMs": 40}}),
    );
    check_participant(
        ParticipantToHub::chunk("r1", b"data: hi\n\n"),
        json!({"type": "tunnel.response.chunk", "requestId": "r1", "chunk": "ZGF0YTogaGkKCg=="}),
    );
    check_participant(
        ParticipantToHub::ResponseEnd {
            request_id: "r1".into(),
        },
        json!({"type": "tunnel.response.end", "requestId": "r1"}),
    );
    check_participant(
        ParticipantToHub::ResponseError {
            request_id: "r1".into(),
            stage: "proxy".into(),
            message: "connection refused".into(),
        },
        json!({"type": "tunnel.response.error", "requestId": "r1", "stage": "proxy",
               "message": "connection refused"}),
    );
}

#[test]
fn original_frames_with_defaults_and_extra_fields_parse() {
    let start = ParticipantToHub::from_json(
        r#"{"type":"tunnel.response.start","requestId":"r","status":201,"extra":1}"#,
    )
    .expect("headers default to empty, unknown fields ignored");
    assert_eq!(
        start,
        ParticipantToHub::ResponseStart {
            request_id: "r".into(),
            status: 201,
            headers: BTreeMap::new(),
            timing: None,
        }
    );
    let request = HubToParticipant::from_json(
        r#"{"type":"tunnel.request","requestId":"r","operation":"responses.get","method":"GET","path":"/v1/responses/x","headers":{}}"#,
    )
    .expect("body, stream and metadata are optional");
    let HubToParticipant::Request(request) = request else {
        panic!("expected a request, got {request:?}");
    };
    assert!(!request.stream && request.body.is_none());
}

#[test]
fn borrowed_frames_borrow_and_agree_with_owned_ones() {
    let text = r#"{"type":"tunnel.response.chunk","requestId":"r1","chunk":"aGk="}"#;
    let frame = ParticipantFrame::parse(text).expect("a chunk frame");
    let ParticipantFrame::ResponseChunk { request_id, chunk } = &frame else {
        panic!("expected a chunk, got {frame:?}");
    };
    assert!(matches!(request_id, Cow::Borrowed("r1")));
    assert!(matches!(chunk, Cow::Borrowed("aGk=")));
    assert_eq!(
        frame.into_owned(),
        ParticipantToHub::chunk("r1", b"hi"),
        "same frame as the owned parser builds"
    );
    let escaped = ParticipantFrame::parse(
        r#"{"type":"tunnel.response.error","requestId":"r\u0031","stage":"proxy","message":"a\nb"}"#,
    )
    .expect("escapes are decoded");
    assert_eq!(
        escaped.into_owned(),
        ParticipantToHub::ResponseError {
            request_id: "r1".into(),
            stage: "proxy".into(),
            message: "a\nb".into()
        }
    );
    assert!(matches!(
        ParticipantFrame::parse(r#"{"type":"tunnel.ping"}"#),
        Err(FrameError::Invalid { .. })
    ));
    assert!(matches!(
        ParticipantFrame::parse(
            r#"{"type":"tunnel.response.start","requestId":"r","status":"ok"}"#
        ),
        Err(FrameError::Invalid { .. })
    ));
}

#[test]
fn chunk_round_trips_bytes() {
    let bytes = [0_u8, 159, 146, 150, 255];
    let ParticipantToHub::ResponseChunk { chunk, .. } = ParticipantToHub::chunk("r", &bytes) else {
        panic!("chunk builds a chunk frame");
    };
    assert_eq!(decode_chunk(&chunk).expect("valid base64"), bytes);
    assert!(decode_chunk("not base64!").is_err());
}

#[test]
fn unknown_and_malformed_frames_are_classified() {
    assert_eq!(
        ParticipantToHub::from_json(r#"{"type":"tunnel.hello","v":2}"#),
        Err(FrameError::UnknownType("tunnel.hello".into()))
    );
    assert_eq!(
        HubToParticipant::from_json(r#"{"type":"tunnel.future"}"#),
        Err(FrameError::UnknownType("tunnel.future".into()))
    );
    assert!(matches!(
        ParticipantToHub::from_json("not json"),
        Err(FrameError::Malformed(_))
    ));
    assert!(matches!(
        ParticipantToHub::from_json(r#"{"no":"type"}"#),
        Err(FrameError::Malformed(_))
    ));
    assert!(matches!(
        ParticipantToHub::from_json(r#"{"type":"tunnel.response.end"}"#),
        Err(FrameError::Invalid { .. })
    ));
    assert!(matches!(
        ParticipantToHub::from_json(
            r#"{"type":"tunnel.response.start","requestId":"r","status":42}"#
        ),
        Err(FrameError::Invalid { .. })
    ));
}

#[test]
fn timing_from_a_peer_is_sanitized() {
    let odd = ResponseTiming {
        runtime_ms: 5.0,
        provider_ttfb_ms: 9.0,
    };
    assert_eq!(
        odd.sanitized(),
        ResponseTiming {
            runtime_ms: 5.0,
            provider_ttfb_ms: 5.0
        }
    );
    let broken = ResponseTiming {
        runtime_ms: f64::NAN,
        provider_ttfb_ms: -3.0,
    };
    assert_eq!(broken.sanitized(), ResponseTiming::default());
}

#[test]
fn credit_frames() {
    check_hub(
        HubToParticipant::Credit {
            request_id: "r1".into(),
            bytes: 65_536,
        },
        json!({"type": "tunnel.credit", "requestId": "r1", "bytes": 65_536}),
    );
}

#[test]
fn binary_chunks_round_trip_and_refuse_what_they_must() {
    let message = BinaryChunk::encode("req-1", b"data: {}\n\n").expect("encodes");
    assert_eq!(&message[..7], b"\x01\x05req-1");
    let chunk = BinaryChunk::decode(&message).expect("decodes");
    assert_eq!(chunk.request_id, "req-1");
    assert_eq!(&message[chunk.body_offset..], b"data: {}\n\n");
    // An empty body is a valid (if useless) chunk.
    let empty = BinaryChunk::encode("r", b"").expect("encodes");
    assert_eq!(BinaryChunk::decode(&empty).expect("decodes").body_offset, 3);

    assert_eq!(BinaryChunk::encode("", b"x"), None);
    assert_eq!(BinaryChunk::encode(&"x".repeat(256), b"x"), None);
    assert!(BinaryChunk::encode(&"x".repeat(255), b"x").is_some());
    for broken in [
        &b""[..],
        b"\x01",
        b"\x01\x00",
        b"\x01\x05abc",
        b"\x01\x01\xff",
    ] {
        assert!(BinaryChunk::decode(broken).is_err(), "{broken:?}");
    }
    assert!(matches!(
        BinaryChunk::decode(br#"{"type":"tunnel.ping"}"#),
        Err(FrameError::Malformed(_))
    ));
}
