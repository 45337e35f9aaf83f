//! Tests of the stream tap: scanning agrees however the bytes are cut and whether or not the
//! filter is on, and the filter drops exactly the usage-only chunk.

use super::*;

fn u(i: Option<u64>, o: Option<u64>, t: Option<u64>) -> Option<TokenUsage> {
    Some(TokenUsage {
        input_tokens: i,
        output_tokens: o,
        total_tokens: t,
    })
}

/// Feeds `stream` whole and byte by byte, with and without the usage filter, checks that
/// all four agree, and that without the filter every byte passes at once; returns the tap
/// fed whole, without the filter.
fn scan(protocol: LlmProtocol, stream: &[u8]) -> StreamTap {
    let run = |strip: bool, bytewise: bool| {
        let mut tap = StreamTap::new(protocol, strip);
        let mut out = Vec::new();
        if bytewise {
            for b in stream {
                out.extend_from_slice(&tap.feed(Bytes::copy_from_slice(&[*b])));
            }
        } else {
            out.extend_from_slice(&tap.feed(Bytes::copy_from_slice(stream)));
        }
        out.extend_from_slice(&tap.finish());
        (tap, out)
    };
    let (whole, passed) = run(false, false);
    assert_eq!(passed, stream, "without a filter every byte passes");
    for (strip, bytewise) in [(false, true), (true, false), (true, true)] {
        let (other, _) = run(strip, bytewise);
        assert_eq!(
            whole.usage(),
            other.usage(),
            "strip {strip}, bytewise {bytewise}"
        );
        assert_eq!(whole.first_content_seen(), other.first_content_seen());
        assert_eq!(whole.error_seen(), other.error_seen());
        assert_eq!(whole.response_id(), other.response_id());
        assert_eq!(whole.events_seen(), other.events_seen());
    }
    whole
}

/// What the client gets of `stream` through a filtering tap fed in `pieces`-byte chunks.
fn filtered(stream: &[u8], pieces: usize) -> String {
    let mut tap = StreamTap::new(LlmProtocol::ChatCompletions, true);
    let mut out = Vec::new();
    for piece in stream.chunks(pieces) {
        out.extend_from_slice(&tap.feed(Bytes::copy_from_slice(piece)));
    }
    out.extend_from_slice(&tap.finish());
    String::from_utf8(out).expect("utf8")
}

#[test]
fn chat_stream_usage_in_trailing_chunk_and_few_parses() {
    let stream = concat!(
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"}}],\"usage\":null}\n\n",
        "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
        "data: [DONE]\n\n",
    );
    let s = scan(LlmProtocol::ChatCompletions, stream.as_bytes());
    assert_eq!(s.usage(), u(Some(9), Some(2), Some(11)));
    assert!(s.first_content_seen());
    assert!(!s.error_seen());
    // The role chunk, the first content chunk and the usage chunk.
    assert_eq!(s.parsed_events(), 3);
}

#[test]
fn chat_stream_first_content_cases() {
    let cases: [(&str, bool); 7] = [
        (
            r#"{"choices":[{"delta":{"reasoning_content":"Hmm"}}]}"#,
            true,
        ),
        (r#"{"choices":[{"delta":{"reasoning":""}}]}"#, false),
        (
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            false,
        ),
        (r#"{"choices":[{"delta":{"content":null}}]}"#, false),
        (r#"{"choices":[{"delta":{"content":"x"}}]}"#, true),
        (
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":""}}]}}]}"#,
            true,
        ),
        (r#"{"choices":[{"delta":{"refusal":"no"}}]}"#, true),
    ];
    for (chunk, expected) in cases {
        let s = scan(
            LlmProtocol::ChatCompletions,
            format!("data: {chunk}\n\n").as_bytes(),
        );
        assert_eq!(s.first_content_seen(), expected, "{chunk}");
    }
}

#[test]
fn chat_stream_error_is_seen() {
    let s = scan(
        LlmProtocol::ChatCompletions,
        b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"boom\"}}\n\n",
    );
    assert!(s.error_seen());
}

#[test]
fn responses_stream_usage_id_and_first_content() {
    let stream = concat!(
        "event: response.created\n",
        "data: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"usage\":null}}\n\n",
        "event: response.in_progress\n",
        "data: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_1\"}}\n\n",
        "event: response.output_text.delta\n",
        "data: {\"type\":\"response.output_text.delta\",\"sequence_number\":2,\"delta\":\"Hi\"}\n\n",
        "event: response.completed\n",
        "data: {\"type\":\"response.completed\",\"sequence_number\":3,\"response\":{\"id\":\"resp_1\",\"usage\":{\"input_tokens\":4,\"output_tokens\":1,\"total_tokens\":5}}}\n\n",
    );
    let s = scan(LlmProtocol::OpenResponses, stream.as_bytes());
    assert_eq!(s.usage(), u(Some(4), Some(1), Some(5)));
    assert_eq!(s.response_id(), Some("resp_1"));
    assert!(s.first_content_seen());
    assert_eq!(s.parsed_events(), 2);
    assert_eq!(s.events_seen(), 4);
}

#[test]
fn responses_stream_reasoning_is_first_content() {
    let stream = "event: response.reasoning_text.delta\ndata: {\"delta\":\"Hmm\"}\n\n";
    assert!(scan(LlmProtocol::OpenResponses, stream.as_bytes()).first_content_seen());
}

#[test]
fn responses_stream_without_event_names_is_parsed() {
    let stream = concat!(
        "data: {\"type\":\"response.function_call_arguments.delta\",\"delta\":\"{\"}\n\n",
        "data: {\"type\":\"response.failed\",\"response\":{\"id\":\"resp_2\",\"usage\":null}}\n\n",
    );
    let s = scan(LlmProtocol::OpenResponses, stream.as_bytes());
    assert!(s.first_content_seen());
    assert!(s.error_seen());
    assert_eq!(s.response_id(), Some("resp_2"));
    assert_eq!(s.usage(), None);
}

#[test]
fn object_key_detection() {
    let check = |data: &str| has_object_value(data.as_bytes(), &USAGE);
    assert!(check(r#"{"usage":{"a":1}}"#));
    assert!(check(r#"{"usage" :  {"a":1}}"#));
    assert!(!check(r#"{"usage":null}"#));
    assert!(!check(r#"{"content":"usage"}"#));
    assert!(check(r#"{"x":"\"usage\"","usage":{}}"#));
}

const STREAM: &str = concat!(
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1}}\n\n",
    "data: [DONE]\n\n",
);

const FILTERED: &str = concat!(
    "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\n\n",
    "data: {\"choices\":[{\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn the_usage_chunk_is_dropped_however_the_stream_is_cut() {
    for pieces in [STREAM.len(), 1, 2, 7, 50] {
        assert_eq!(
            filtered(STREAM.as_bytes(), pieces),
            FILTERED,
            "pieces of {pieces}"
        );
    }
    // The usage is still counted.
    assert_eq!(
        scan(LlmProtocol::ChatCompletions, STREAM.as_bytes()).usage(),
        u(Some(1), Some(1), None)
    );
}

#[test]
fn crlf_and_cr_events_and_unterminated_tails_are_kept() {
    let mut tap = StreamTap::new(LlmProtocol::ChatCompletions, true);
    let out = tap.feed(Bytes::from_static(
        b"data: {\"choices\":[{}]}\r\n\r\ndata: [DO",
    ));
    assert_eq!(&out[..], b"data: {\"choices\":[{}]}\r\n\r\n");
    assert_eq!(&tap.finish()[..], b"data: [DO");

    let crlf = STREAM.replace("\n", "\r\n");
    assert_eq!(filtered(crlf.as_bytes(), 3), FILTERED.replace("\n", "\r\n"));
    let cr = STREAM.replace("\n", "\r");
    assert_eq!(filtered(cr.as_bytes(), 5), FILTERED.replace("\n", "\r"));
    assert_eq!(
        scan(LlmProtocol::ChatCompletions, cr.as_bytes()).usage(),
        u(Some(1), Some(1), None)
    );
}

#[test]
fn a_usage_chunk_at_the_very_end_without_its_blank_line_is_dropped() {
    let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"total_tokens\":3}}";
    assert_eq!(
        filtered(stream.as_bytes(), 4),
        "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
    );
}

#[test]
fn an_oversized_event_passes_through_unheld_and_unread() {
    let big = format!(
        "data: {{\"choices\":[{{\"delta\":{{\"content\":\"{}\"}}}}]}}\n\n",
        "x".repeat(MAX_HELD_EVENT + 10)
    );
    let stream = format!("{big}{STREAM}");
    assert_eq!(
        filtered(stream.as_bytes(), 64 * 1024),
        format!("{big}{FILTERED}")
    );
    let mut tap = StreamTap::new(LlmProtocol::ChatCompletions, false);
    for piece in stream.as_bytes().chunks(64 * 1024) {
        tap.feed(Bytes::copy_from_slice(piece));
        assert!(
            tap.partial.len() <= MAX_HELD_EVENT,
            "nothing unbounded is held"
        );
    }
    tap.finish();
    assert_eq!(
        tap.usage(),
        u(Some(1), Some(1), None),
        "later events are read again"
    );
}

#[test]
fn comments_are_not_events() {
    let s = scan(
        LlmProtocol::OpenResponses,
        b": keep-alive\n\nevent: response.output_text.delta\ndata: {}\n\n",
    );
    assert_eq!(s.events_seen(), 1);
    assert!(s.first_content_seen());
}

#[test]
fn random_cuts_of_a_long_stream_lose_nothing() {
    let mut stream = String::new();
    for n in 0..2000 {
        stream.push_str(&format!(
            "data: {{\"choices\":[{{\"delta\":{{\"content\":\" t{n}\"}}}}],\"usage\":null}}\n\n"
        ));
    }
    let expected = format!("{stream}data: [DONE]\n\n");
    stream.push_str("data: {\"choices\":[],\"usage\":{\"total_tokens\":3}}\n\ndata: [DONE]\n\n");
    // A simple deterministic generator of cut lengths.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20 {
        let mut tap = StreamTap::new(LlmProtocol::ChatCompletions, true);
        let mut out = Vec::new();
        let mut rest = stream.as_bytes();
        while !rest.is_empty() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = usize::try_from(seed % 300).expect("small") + 1;
            let (piece, tail) = rest.split_at(n.min(rest.len()));
            out.extend_from_slice(&tap.feed(Bytes::copy_from_slice(piece)));
            rest = tail;
        }
        out.extend_from_slice(&tap.finish());
        assert!(String::from_utf8(out).expect("utf8") == expected);
    }
}
