//! `docs/protocol.md` and this crate name the same things.
//!
//! Both directions are checked: every frame type, event type, error code and close code
//! the crate defines appears in the document's tables, and every one the tables list
//! exists in the crate (the crate's own parsers are the judge, so a name made up in the
//! document fails). The crate's names are read from its sources, so a variant added
//! without a line in the document fails here too. Field names, operations, stages and the
//! protocol constants are checked one way (the document mentions each), and the JSON
//! examples of the document must parse with the crate's types.

use std::collections::BTreeSet;

use gambi_protocol as proto;
use proto::{HubToParticipant, ParticipantToHub, RoomEvent, RoomEventPayload};
use serde_json::{Value, json};

const DOC: &str = include_str!("../../../docs/protocol.md");
/// The tunnel module's sources, every file of it: the frames of each direction, the
/// borrowed parser, binary chunks and errors.
const TUNNEL_SRC: &str = concat!(
    include_str!("../src/tunnel/mod.rs"),
    include_str!("../src/tunnel/to_participant.rs"),
    include_str!("../src/tunnel/to_hub.rs"),
    include_str!("../src/tunnel/parse.rs"),
    include_str!("../src/tunnel/binary.rs"),
    include_str!("../src/tunnel/error.rs"),
);
const EVENT_SRC: &str = include_str!("../src/event.rs");
const ERROR_SRC: &str = include_str!("../src/error.rs");
const CONSTANTS_SRC: &str = include_str!("../src/constants.rs");

/// The part of the document under `heading` (a whole line, such as `### Close codes`), up
/// to the next heading of the same or a higher level.
fn section(heading: &str) -> &'static str {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let start = DOC
        .lines()
        .position(|line| line == heading)
        .unwrap_or_else(|| panic!("docs/protocol.md has no heading {heading:?}"));
    let lines: Vec<&str> = DOC.lines().collect();
    let end = lines[start + 1..]
        .iter()
        .position(|line| {
            let hashes = line.chars().take_while(|c| *c == '#').count();
            hashes > 0 && hashes <= level && line[hashes..].starts_with(' ')
        })
        .map_or(lines.len(), |offset| start + 1 + offset);
    let from = byte_offset(&lines, start);
    let to = if end == lines.len() {
        DOC.len()
    } else {
        byte_offset(&lines, end)
    };
    &DOC[from..to]
}

/// Where line `index` of the document starts.
fn byte_offset(lines: &[&str], index: usize) -> usize {
    lines[..index].iter().map(|line| line.len() + 1).sum()
}

/// The cells of the table rows of `text` (header rows included, separator rows left out).
fn rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|line| line.starts_with('|'))
        .map(|line| {
            line.trim_matches('|')
                .split(" | ")
                .map(|cell| cell.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .filter(|cells| !cells[0].starts_with("---"))
        .collect()
}

/// The first cells of the table rows of `text` that are one name in backticks.
fn first_cell_names(text: &str) -> BTreeSet<String> {
    rows(text)
        .into_iter()
        .filter_map(|cells| {
            let cell = &cells[0];
            let name = cell.strip_prefix('`')?.strip_suffix('`')?;
            (!name.contains('`')).then(|| name.to_owned())
        })
        .collect()
}

/// The words of every code span of the reference outside fenced blocks. A span may run
/// over a line break inside its paragraph (as Markdown allows), so spans are read per
/// paragraph; a span like `404 NO_PARTICIPANT_ONLINE` gives both of its words.
fn backticked() -> BTreeSet<String> {
    let mut fenced = false;
    let mut paragraphs = vec![String::new()];
    for line in DOC.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            paragraphs.push(String::new());
            continue;
        }
        if fenced {
            continue;
        }
        if line.trim().is_empty() {
            paragraphs.push(String::new());
        } else if let Some(paragraph) = paragraphs.last_mut() {
            paragraph.push_str(line);
            paragraph.push('\n');
        }
    }
    paragraphs
        .iter()
        .flat_map(|paragraph| paragraph.split('`').skip(1).step_by(2))
        .flat_map(str::split_whitespace)
        .map(|word| word.trim_matches(|c: char| ",.;:()".contains(c)).to_owned())
        .collect()
}

/// The string literals that follow `marker` in `source`.
fn literals_after<'a>(source: &'a str, marker: &str) -> Vec<&'a str> {
    source
        .match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &source[at + marker.len()..];
            let rest = rest.trim_start().strip_prefix('"')?;
            rest.split('"').next()
        })
        .collect()
}

/// The body of the function whose signature starts with `signature`.
fn function_body<'a>(source: &'a str, signature: &str) -> &'a str {
    let start = source
        .find(signature)
        .unwrap_or_else(|| panic!("no {signature:?} in the sources"));
    let body = &source[start..];
    let end = body.find("\n    }\n").expect("the function ends");
    &body[..end]
}

/// Whether the hub-to-participant parser knows `name`.
fn hub_frame(name: &str) -> bool {
    !matches!(
        HubToParticipant::from_json(&json!({"type": name}).to_string()),
        Err(error) if error.is_unknown_type()
    )
}

/// Whether the participant-to-hub parser knows `name`.
fn participant_frame(name: &str) -> bool {
    !matches!(
        ParticipantToHub::from_json(&json!({"type": name}).to_string()),
        Err(error) if error.is_unknown_type()
    )
}

/// Whether the room event parser knows `name`.
fn event_type(name: &str) -> bool {
    let event = json!({"type": name, "timestamp": 0, "roomCode": "K7QF2M", "data": {}});
    !matches!(
        serde_json::from_value::<RoomEvent>(event),
        Ok(RoomEvent {
            payload: RoomEventPayload::Unknown { .. },
            ..
        })
    )
}

/// Whether `name` is one of the crate's error codes.
fn error_code(name: &str) -> bool {
    !matches!(proto::ErrorCode::parse(name), proto::ErrorCode::Other(_))
}

/// The frame types the crate's sources name, split by direction.
fn crate_frames() -> (BTreeSet<String>, BTreeSet<String>) {
    let names = literals_after(TUNNEL_SRC, "#[serde(rename = ");
    let frames: Vec<&str> = names
        .into_iter()
        .filter(|name| name.starts_with("tunnel."))
        .collect();
    assert!(
        frames.len() >= 9,
        "frame names found in tunnel/: {frames:?}"
    );
    let mut hub = BTreeSet::new();
    let mut participant = BTreeSet::new();
    for name in frames {
        match (hub_frame(name), participant_frame(name)) {
            (true, false) => hub.insert(name.to_owned()),
            (false, true) => participant.insert(name.to_owned()),
            other => panic!("{name} is known in directions {other:?}"),
        };
    }
    (hub, participant)
}

#[test]
fn frame_types_match_the_crate() {
    let (hub, participant) = crate_frames();
    let documented = |heading| -> BTreeSet<String> {
        first_cell_names(section(heading))
            .into_iter()
            .filter(|name| name.starts_with("tunnel."))
            .collect()
    };
    assert_eq!(documented("### Hub to participant"), hub);
    assert_eq!(documented("### Participant to hub"), participant);
    for name in backticked() {
        if name.starts_with("tunnel.") {
            assert!(
                hub_frame(&name) || participant_frame(&name),
                "docs/protocol.md names a frame type that does not exist: {name}"
            );
        }
    }
}

#[test]
fn event_types_match_the_crate() {
    let source = function_body(EVENT_SRC, "pub fn kind(&self) -> &str");
    let names: BTreeSet<String> = literals_after(source, "=> ")
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert!(
        names.len() >= 10,
        "event names found in event.rs: {names:?}"
    );
    for name in &names {
        assert!(event_type(name), "{name} does not parse as a known event");
    }
    assert_eq!(first_cell_names(section("### Event types")), names);
}

#[test]
fn error_codes_match_the_crate() {
    let source = function_body(ERROR_SRC, "pub fn as_str(&self) -> &str");
    let codes: BTreeSet<String> = literals_after(source, "=> ")
        .into_iter()
        .map(str::to_owned)
        .collect();
    assert!(codes.len() >= 20, "codes found in error.rs: {codes:?}");
    for code in &codes {
        assert!(error_code(code), "{code} does not parse as a known code");
    }
    assert_eq!(first_cell_names(section("### Error codes")), codes);
    let looks_like_a_code =
        |name: &str| name.contains('_') && name.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    for name in backticked() {
        if looks_like_a_code(&name) {
            assert!(
                error_code(&name),
                "docs/protocol.md names an error code that does not exist: {name}"
            );
        }
    }
}

#[test]
fn close_codes_match_the_crate() {
    let reasons = [
        proto::CLOSE_TIMEOUT,
        proto::CLOSE_SUPERSEDED,
        proto::CLOSE_SHUTDOWN,
        proto::CLOSE_RESTART,
        proto::CLOSE_TOO_BIG,
        proto::CLOSE_REMOVED,
    ];
    assert_eq!(
        CONSTANTS_SRC
            .matches(": CloseReason = CloseReason {")
            .count(),
        reasons.len(),
        "a close code was added to constants.rs: list it here and in docs/protocol.md"
    );
    let table: Vec<Vec<String>> = rows(section("### Close codes"))
        .into_iter()
        .filter(|cells| cells[0].parse::<u16>().is_ok())
        .collect();
    let documented: BTreeSet<u16> = table
        .iter()
        .map(|cells| cells[0].parse().expect("a number"))
        .collect();
    let defined: BTreeSet<u16> = reasons.iter().map(|reason| reason.code).collect();
    assert_eq!(documented, defined);
    for reason in reasons {
        let row = table
            .iter()
            .find(|cells| cells[0] == reason.code.to_string())
            .expect("documented");
        assert_eq!(row[1], reason.reason, "the reason of {}", reason.code);
    }
}

/// The keys of `value`, and of the objects in it, recursively.
fn keys(value: &Value, into: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                into.insert(key.clone());
                keys(value, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| keys(item, into)),
        _ => {}
    }
}

/// `value` as JSON.
fn wire(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).expect("serializable")
}

/// Whether the document has `word` as a whole word (letters, digits and `_` around it
/// are not part of it).
fn mentions(word: &str) -> bool {
    DOC.match_indices(word).any(|(at, _)| {
        let before = DOC[..at].chars().next_back();
        let after = DOC[at + word.len()..].chars().next();
        let joins = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !joins(before) && !joins(after)
    })
}

#[test]
fn fields_operations_stages_and_constants_are_documented() {
    let metrics = proto::LlmMetrics {
        ttft_ms: Some(1.0),
        duration_ms: 2.0,
        input_tokens: Some(1),
        output_tokens: Some(1),
        total_tokens: Some(2),
        tokens_per_second: Some(1.0),
        queue_ms: Some(0.5),
        hub_ms: Some(0.1),
        tunnel_ms: Some(0.2),
        provider_ttfb_ms: Some(0.3),
        provider_ttft_ms: Some(0.4),
        client_read_ms: Some(0.5),
    };
    let mut traced = proto::TunnelRequest {
        request_id: "r".into(),
        operation: proto::tunnel::operation::RESPONSES_CREATE.into(),
        method: "POST".into(),
        path: "/v1/responses".into(),
        headers: Default::default(),
        body: None,
        stream: true,
        metadata: None,
    };
    traced.set_trace_context(
        [("traceparent", "00-1-2-01"), ("tracestate", "k=v")]
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value.to_owned()))
            .collect(),
    );
    let values: Vec<Value> = vec![
        wire(HubToParticipant::Request(traced)),
        wire(proto::ParticipantRegistration {
            nickname: "a".into(),
            model: "m".into(),
            endpoint: "http://localhost:11434".into(),
            password: Some("p".into()),
            specs: Some(proto::MachineSpecs {
                gpu: Some("g".into()),
                vram: Some(1.0),
                ram: Some(1.0),
                cpu: Some("c".into()),
            }),
            config: None,
            capabilities: Some(proto::ParticipantCapabilities::default()),
            max_concurrency: Some(2),
            tunnel_extensions: Some(proto::TunnelExtensions {
                binary_chunks: true,
                flow_control: true,
                credit_window: Some(1),
                timing: true,
            }),
        }),
        wire(proto::RuntimeConfig {
            temperature: Some(0.1),
            top_p: Some(0.1),
            max_tokens: Some(1),
            stop: Some(vec![]),
            frequency_penalty: Some(0.1),
            presence_penalty: Some(0.1),
            seed: Some(1),
            instructions: Some("i".into()),
        }),
        wire(proto::RuntimeConfig::default().to_public()),
        wire(proto::event::LlmRequestEvent {
            request_id: "r".into(),
            participant_id: "p".into(),
            model: "m".into(),
            protocol: proto::LlmProtocol::OpenResponses,
            adapted: true,
            queue_ms: Some(1),
            attempt: Some(2),
        }),
        wire(proto::event::LlmCompleteEvent {
            request_id: "r".into(),
            participant_id: "p".into(),
            model: "m".into(),
            protocol: proto::LlmProtocol::ChatCompletions,
            client_protocol: Some(proto::LlmProtocol::OpenResponses),
            adapted: true,
            status: Some(200),
            metrics: metrics.clone(),
        }),
        wire(proto::event::LlmErrorEvent {
            request_id: "r".into(),
            participant_id: Some("p".into()),
            nickname: Some("n".into()),
            endpoint: Some("e".into()),
            model: "m".into(),
            protocol: proto::LlmProtocol::OpenResponses,
            client_protocol: Some(proto::LlmProtocol::OpenResponses),
            adapted: false,
            stage: proto::event::stage::STREAM.into(),
            error: "x".into(),
            metrics: Some(metrics),
            attempt: Some(2),
        }),
        wire(ParticipantToHub::ResponseStart {
            request_id: "r".into(),
            status: 200,
            headers: Default::default(),
            timing: Some(proto::ResponseTiming {
                runtime_ms: 1.0,
                provider_ttfb_ms: 1.0,
            }),
        }),
        wire(proto::HeartbeatResponse {
            success: true,
            status: proto::ParticipantStatus::Online,
            last_seen: 1,
        }),
        wire(proto::HealthResponse {
            status: "ok".into(),
            timestamp: 1,
            version: Some("0".into()),
        }),
    ];
    let summary = json!({
        "id": "alice", "nickname": "Alice", "model": "llama3", "endpoint": "http://h",
        "joinedAt": 1, "lastSeen": 1, "updatedAt": 1
    });
    let summary: proto::ParticipantSummary =
        serde_json::from_value(summary).expect("a minimal summary");
    let room = json!({
        "id": "i", "code": "K7QF2M", "name": "Lab", "hostId": "h", "createdAt": 1,
        "defaults": {}, "passwordProtected": false, "participantCount": 0
    });
    let room: proto::RoomSummary = serde_json::from_value(room).expect("a room summary");
    let upsert = proto::UpsertParticipantResponse {
        participant: summary.clone(),
        room_id: "r".into(),
        tunnel: proto::TunnelBootstrap {
            url: "ws://h".into(),
            token: "t".into(),
            extensions: Some(proto::TunnelExtensions::offer()),
        },
        session_token: Some("s".into()),
    };
    let mut names = BTreeSet::new();
    for value in values
        .iter()
        .chain([&wire(summary), &wire(room), &wire(upsert)])
    {
        keys(value, &mut names);
    }
    let operations = [
        proto::tunnel::operation::RESPONSES_CREATE,
        proto::tunnel::operation::CHAT_COMPLETIONS_CREATE,
        proto::tunnel::operation::RESPONSES_GET,
        proto::tunnel::operation::RESPONSES_DELETE,
        proto::tunnel::operation::RESPONSES_CANCEL,
        proto::tunnel::operation::RESPONSES_INPUT_ITEMS,
    ];
    let stages = [
        proto::event::stage::ROUTING,
        proto::event::stage::DISPATCH,
        proto::event::stage::STREAM,
        proto::event::stage::CANCELLED,
    ];
    let txt = proto::mdns::HubTxt::new("0.1.0", false, "id");
    names.extend(operations.map(str::to_owned));
    names.extend(stages.map(str::to_owned));
    names.extend(
        [
            proto::LlmProtocol::OpenResponses,
            proto::LlmProtocol::ChatCompletions,
        ]
        .map(|protocol| protocol.as_str().to_owned()),
    );
    names.extend(txt.to_pairs().into_iter().map(|(key, _)| key.to_owned()));
    names.extend(
        [
            proto::SESSION_HEADER,
            proto::TRACE_CONTEXT,
            proto::mdns::INSTANCE_PREFIX,
            proto::mdns::TXT_FORMAT_VERSION,
        ]
        .map(str::to_owned),
    );
    names.insert(
        proto::mdns::SERVICE_TYPE
            .trim_end_matches("local.")
            .trim_end_matches('.')
            .to_owned(),
    );
    let missing: Vec<&String> = names.iter().filter(|name| !mentions(name)).collect();
    assert!(
        missing.is_empty(),
        "docs/protocol.md does not mention {missing:?}"
    );

    let seconds = |duration: std::time::Duration| format!("{} s", duration.as_secs());
    for figure in [
        seconds(proto::HEALTH_CHECK_INTERVAL),
        seconds(proto::PARTICIPANT_TIMEOUT),
        seconds(proto::TUNNEL_TOKEN_TTL),
        seconds(proto::SSE_KEEP_ALIVE),
        format!("{} MiB", proto::MAX_TUNNEL_REQUEST / (1024 * 1024)),
        format!("1 to {}", proto::MAX_CONCURRENCY_LIMIT),
        format!("{} characters", proto::ROOM_CODE_LEN),
        format!("0x{:02x}", proto::BinaryChunk::KIND),
        format!("port {}", proto::DEFAULT_HUB_PORT),
        format!("{} characters", proto::MAX_TRACE_CONTEXT_VALUE),
    ] {
        assert!(DOC.contains(&figure), "docs/protocol.md lacks {figure:?}");
    }
}

/// The fenced blocks of the document in `language`, with their first line numbers.
fn blocks(language: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (index, line) in DOC.lines().enumerate() {
        match &mut current {
            None if line == format!("```{language}") => current = Some((index + 2, String::new())),
            Some(_) if line == "```" => found.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    found
}

#[test]
fn examples_parse_with_the_crate_types() {
    let mut checked = 0;
    for (line, text) in blocks("json") {
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|error| panic!("docs/protocol.md:{line}: not JSON: {error}"));
        let kind = value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind.starts_with("tunnel.") {
            let parsed = if hub_frame(kind) {
                HubToParticipant::from_json(&text).map(|_| ())
            } else {
                ParticipantToHub::from_json(&text).map(|_| ())
            };
            parsed.unwrap_or_else(|error| panic!("docs/protocol.md:{line}: {error}"));
            checked += 1;
        } else if value.get("meta").is_some() && value.get("error").is_some() {
            serde_json::from_value::<proto::ErrorEnvelope>(value.clone())
                .unwrap_or_else(|error| panic!("docs/protocol.md:{line}: {error}"));
            checked += 1;
        } else if value.get("meta").is_some() {
            serde_json::from_value::<proto::Envelope<Value>>(value.clone())
                .unwrap_or_else(|error| panic!("docs/protocol.md:{line}: {error}"));
            checked += 1;
        } else if let Some(error) = value.get("error") {
            let error: proto::OpenAiError = serde_json::from_value(json!({"error": error}))
                .unwrap_or_else(|error| {
                    panic!("docs/protocol.md:{line}: {error}");
                });
            let code = error.error.code.unwrap_or_default();
            assert!(error_code(&code), "docs/protocol.md:{line}: code {code}");
            checked += 1;
        } else if value.get("token").is_some() {
            serde_json::from_value::<proto::TunnelBootstrap>(value.clone())
                .unwrap_or_else(|error| panic!("docs/protocol.md:{line}: {error}"));
            checked += 1;
        } else if value.get("nickname").is_some() {
            serde_json::from_value::<proto::ParticipantRegistration>(value.clone())
                .unwrap_or_else(|error| panic!("docs/protocol.md:{line}: {error}"));
            checked += 1;
        } else {
            panic!("docs/protocol.md:{line}: a JSON example of no known shape");
        }
    }
    // Event stream frames and stream error events, in text blocks.
    for (line, text) in blocks("text") {
        for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
            let value: Value = serde_json::from_str(data)
                .unwrap_or_else(|error| panic!("docs/protocol.md:{line}: not JSON: {error}"));
            if value.get("roomCode").is_some() {
                let event: RoomEvent = serde_json::from_value(value)
                    .unwrap_or_else(|error| panic!("docs/protocol.md:{line}: {error}"));
                assert!(event_type(event.payload.kind()), "docs/protocol.md:{line}");
            } else {
                let code = value
                    .get("code")
                    .or_else(|| value.get("error").and_then(|error| error.get("code")))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                assert!(error_code(code), "docs/protocol.md:{line}: code {code:?}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} examples found");
}
