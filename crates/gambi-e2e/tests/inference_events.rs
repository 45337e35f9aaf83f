//! The `llm.*` events of inference requests, end to end: `llm.request` with the queue
//! wait, `llm.complete` with metrics whose token counts are the provider's (streamed or
//! not, in both protocols), `llm.error` with the stage that failed, and exactly one
//! terminal event per routed attempt.
//!
//! Metrics tests run on paused time: the fake provider's delays then pass exactly, and
//! durations can only come out longer than the delays, never shorter.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

mod inference_support;

use std::collections::BTreeMap;
use std::time::Duration;

use gambi_test_support::{Cluster, ParticipantSpec, Protocols, Reply, StreamFailure};
use inference_support::{
    Llm, chat, chat_stream, llm_events_of, next_llm, read_sse, request_id, responses,
    responses_stream, within,
};
use serde_json::{Value, json};

const FIRST_TOKEN: Duration = Duration::from_millis(200);
const BETWEEN_TOKENS: Duration = Duration::from_millis(100);

async fn slow_cluster(protocols: Protocols) -> Cluster {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").provider(|config| {
            config.protocols = protocols;
            config.first_token_delay = FIRST_TOKEN;
            config.token_delay = BETWEEN_TOKENS;
        }))
        .await;
    cluster
}

fn millis(value: &Value) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("a number of ms: {value}"))
}

/// Checks `llm.request` and `llm.complete` of one request and returns the metrics.
fn check_pair(
    events: &[Llm],
    requested: &str,
    protocol: &str,
    client_protocol: &str,
    usage: (u64, u64),
) -> Value {
    assert_eq!(events.len(), 2, "{events:?}");
    let (request, complete) = (&events[0], &events[1]);
    assert_eq!(request.kind, "llm.request");
    assert_eq!(request.data["participantId"], "alice");
    assert_eq!(request.data["model"], requested, "the requested string");
    assert_eq!(request.data["protocol"], client_protocol);
    assert_eq!(millis(&request.data["queueMs"]), 0.0, "nobody waited");

    assert_eq!(complete.kind, "llm.complete", "{:?}", complete.data);
    assert_eq!(complete.data["participantId"], "alice");
    assert_eq!(complete.data["model"], "llama3", "the participant's model");
    assert_eq!(complete.data["protocol"], protocol);
    assert_eq!(complete.data["clientProtocol"], client_protocol);
    assert_eq!(complete.data["status"], 200);
    let metrics = complete.data["metrics"].clone();
    let (input, output) = usage;
    assert_eq!(metrics["inputTokens"], input, "{metrics}");
    assert_eq!(metrics["outputTokens"], output, "{metrics}");
    assert_eq!(metrics["totalTokens"], input + output, "{metrics}");
    assert_eq!(millis(&metrics["queueMs"]), 0.0);
    metrics
}

/// The speed is the output tokens over the generation time (after the first token).
/// Output tokens per second of generation: after the first delta for streams, over the
/// whole duration for answers that arrive whole.
fn check_speed(metrics: &Value, streamed: bool) {
    let duration = millis(&metrics["durationMs"]);
    let ttft = if streamed {
        metrics.get("ttftMs").map_or(0.0, millis)
    } else {
        0.0
    };
    let output = metrics["outputTokens"].as_f64().unwrap();
    let expected = output * 1000.0 / (duration - ttft);
    let speed = metrics["tokensPerSecond"]
        .as_f64()
        .unwrap_or_else(|| panic!("tokensPerSecond is reported: {metrics}"));
    assert!(
        (speed - expected).abs() < 1e-6,
        "{speed} != {expected}: {metrics}"
    );
}

#[tokio::test(start_paused = true)]
async fn metrics_of_non_streamed_answers_in_both_protocols() {
    for (path, protocol) in [
        ("/chat/completions", "chatCompletions"),
        ("/responses", "openResponses"),
    ] {
        let cluster = slow_cluster(Protocols::Both).await;
        let provider = &cluster.member("alice").provider;
        provider.push_reply(Reply::tokens(["a", " b", " c", " d"]).usage(7, 4));
        let mut events = cluster.events().await;
        let body = if path == "/responses" {
            responses("*", "hi")
        } else {
            chat("*", "hi")
        };
        let response = cluster.post(path, &body).await;
        assert_eq!(response.status(), 200);
        let id = request_id(&response);
        let _ = response.bytes().await.unwrap();

        let seen = llm_events_of(&mut events, &id).await;
        let metrics = check_pair(&seen, "*", protocol, protocol, (7, 4));
        let generation = FIRST_TOKEN + BETWEEN_TOKENS * 3;
        let duration = millis(&metrics["durationMs"]);
        assert!(duration >= generation.as_secs_f64() * 1000.0, "{metrics}");
        // A non-streamed answer arrives whole: its first token comes with the answer, and
        // the speed spans the whole duration (the original divided by it minus TTFT).
        let ttft = millis(&metrics["ttftMs"]);
        assert!(
            ttft >= generation.as_secs_f64() * 1000.0 && ttft <= duration,
            "{path}: {metrics}"
        );
        let output = metrics["outputTokens"].as_f64().unwrap();
        let speed = metrics["tokensPerSecond"].as_f64().unwrap();
        let expected = output * 1000.0 / duration;
        assert!((speed - expected).abs() < 1e-6, "{path}: {metrics}");
    }
}

#[tokio::test(start_paused = true)]
async fn metrics_of_streamed_answers_in_both_protocols() {
    for (path, protocol) in [
        ("/chat/completions", "chatCompletions"),
        ("/responses", "openResponses"),
    ] {
        let cluster = slow_cluster(Protocols::Both).await;
        let provider = &cluster.member("alice").provider;
        provider.push_reply(Reply::tokens(["a", " b", " c", " d", " e"]).usage(6, 5));
        let mut events = cluster.events().await;
        // The client does not ask for usage: the hub does, and still reports tokens.
        let body = if path == "/responses" {
            responses_stream("llama3", "hi")
        } else {
            chat_stream("llama3", "hi")
        };
        let response = cluster.post(path, &body).await;
        assert_eq!(response.status(), 200);
        let id = request_id(&response);
        let _ = read_sse(response).await;

        let seen = llm_events_of(&mut events, &id).await;
        let metrics = check_pair(&seen, "llama3", protocol, protocol, (6, 5));
        let ttft = millis(&metrics["ttftMs"]);
        let duration = millis(&metrics["durationMs"]);
        assert!(
            ttft >= FIRST_TOKEN.as_secs_f64() * 1000.0,
            "{path}: {metrics}"
        );
        assert!(
            duration >= ttft + (BETWEEN_TOKENS * 4).as_secs_f64() * 1000.0,
            "{path}: {metrics}"
        );
        check_speed(&metrics, true);
    }
}

/// Adapted answers report the provider's token counts too (the original lost input and
/// output tokens for non-streamed fallback answers and never counted streams).
#[tokio::test(start_paused = true)]
async fn metrics_of_adapted_answers() {
    let cases = [
        ("/responses", false, Protocols::ChatOnly),
        ("/responses", true, Protocols::ChatOnly),
        ("/chat/completions", false, Protocols::ResponsesOnly),
        ("/chat/completions", true, Protocols::ResponsesOnly),
    ];
    for (path, stream, protocols) in cases {
        let cluster = slow_cluster(protocols).await;
        let provider = &cluster.member("alice").provider;
        provider.push_reply(Reply::tokens(["a", " b", " c"]).usage(9, 3));
        let mut events = cluster.events().await;
        let mut body = if path == "/responses" {
            responses("alice", "hi")
        } else {
            chat("alice", "hi")
        };
        body["stream"] = json!(stream);
        let response = cluster.post(path, &body).await;
        assert_eq!(response.status(), 200);
        let id = request_id(&response);
        let _ = response.bytes().await.unwrap();
        let seen = llm_events_of(&mut events, &id).await;
        let (client, provider_protocol) = if path == "/responses" {
            ("openResponses", "chatCompletions")
        } else {
            ("chatCompletions", "openResponses")
        };
        let metrics = check_pair(&seen, "alice", provider_protocol, client, (9, 3));
        assert_eq!(seen[1].data["adapted"], true);
        check_speed(&metrics, stream);
    }
}

#[tokio::test]
async fn a_stream_broken_by_the_provider_is_an_error_at_stage_stream() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    let mut events = cluster.events().await;

    for path in ["/chat/completions", "/responses"] {
        provider.push_reply(
            Reply::text("one two three four five").fail_after(2, StreamFailure::Disconnect),
        );
        let body = if path == "/responses" {
            responses_stream("alice", "hi")
        } else {
            chat_stream("alice", "hi")
        };
        let response = cluster.post(path, &body).await;
        assert_eq!(response.status(), 200);
        let id = request_id(&response);
        let client_events = within("the broken stream ends", read_sse(response)).await;
        let last = client_events.last().unwrap();
        let error = last.json();
        assert!(
            last.event == "error" || error.get("error").is_some(),
            "{path}: the stream ends with an error event: {client_events:?}"
        );
        let seen = within("events", llm_events_of(&mut events, &id)).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[1].kind, "llm.error");
        assert_eq!(seen[1].data["stage"], "stream");
        assert_eq!(seen[1].data["participantId"], "alice");
        assert_eq!(seen[1].data["model"], "llama3");
        assert_eq!(seen[1].data["nickname"], "alice (test)");
        assert!(
            seen[1].data["endpoint"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
        assert_eq!(seen[1].data["protocol"], seen[0].data["protocol"]);
        assert!(seen[1].data["error"].as_str().unwrap().contains("provider"));
    }
}

#[tokio::test]
async fn a_native_stream_carrying_a_provider_error_event_is_an_error_at_stage_stream() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    let mut events = cluster.events().await;

    for path in ["/chat/completions", "/responses"] {
        provider.push_reply(
            Reply::text("one two three four five").fail_after(2, StreamFailure::ErrorEvent),
        );
        let body = if path == "/responses" {
            responses_stream("alice", "hi")
        } else {
            chat_stream("alice", "hi")
        };
        let response = cluster.post(path, &body).await;
        assert_eq!(response.status(), 200);
        let id = request_id(&response);
        let _ = within("the stream ends", read_sse(response)).await;
        let seen = within("events", llm_events_of(&mut events, &id)).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[1].kind, "llm.error", "{path}: {seen:?}");
        assert_eq!(seen[1].data["stage"], "stream");
    }
}

#[tokio::test]
async fn a_tunnel_lost_mid_stream_is_reported_as_such_to_the_client() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    cluster
        .member("alice")
        .provider
        .push_reply(Reply::text("one two three").stall_after(1));
    let response = cluster
        .post("/chat/completions", &chat_stream("alice", "hi"))
        .await;
    assert_eq!(response.status(), 200);
    let mut reader = gambi_test_support::sse::EventReader::new(response);
    let first = within("first chunk", inference_support::next_sse(&mut reader))
        .await
        .unwrap();
    assert!(first.json().get("choices").is_some(), "{first:?}");
    let room = cluster.hub.hub().room(&cluster.code).unwrap();
    let tunnel = room.participant("alice").unwrap().tunnel.unwrap();
    tunnel.close(
        gambi_protocol::CLOSE_TIMEOUT,
        gambi_hub::tunnel::TunnelFailure::Disconnected,
    );
    let mut last = None;
    while let Some(event) =
        within("the stream ends", inference_support::next_sse(&mut reader)).await
    {
        last = Some(event);
    }
    let error = last.expect("an error event").json();
    assert_eq!(error["error"]["code"], "TUNNEL_DISCONNECTED", "{error}");
    assert_eq!(error["error"]["type"], "server_error", "{error}");
}

#[tokio::test]
async fn a_provider_failing_before_any_content_is_an_error_at_stage_dispatch() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    let mut events = cluster.events().await;

    provider.push_reply(Reply::server_error());
    let response = cluster
        .post("/chat/completions", &chat("alice", "hi"))
        .await;
    assert_eq!(response.status(), 500, "the provider's status");
    let id = request_id(&response);
    let seen = within("events", llm_events_of(&mut events, &id)).await;
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[1].kind, "llm.error");
    assert_eq!(seen[1].data["stage"], "dispatch");
    assert_eq!(seen[1].data["participantId"], "alice");

    // The provider going away entirely.
    provider.shutdown().await;
    let response = cluster
        .post("/chat/completions", &chat("alice", "hi"))
        .await;
    let error = inference_support::openai_error(response, 502, "PROVIDER_ERROR").await;
    assert!(
        error["message"].as_str().unwrap().contains("alice"),
        "{error}"
    );
    let event = within("events", next_llm(&mut events)).await;
    assert_eq!(event.kind, "llm.request");
    let event = within("events", next_llm(&mut events)).await;
    assert_eq!(event.kind, "llm.error");
    assert_eq!(event.data["stage"], "dispatch");
}

/// Many requests of every outcome; each routed attempt gets exactly one terminal event.
#[tokio::test]
async fn every_routed_attempt_ends_with_exactly_one_terminal_event() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").slots(4))
        .await;
    let provider = &cluster.member("alice").provider;
    let mut events = cluster.events().await;

    provider.push_reply(Reply::text("fine"));
    let _ = cluster.post("/chat/completions", &chat("alice", "a")).await;
    provider.push_reply(Reply::text("fine streamed"));
    let _ = read_sse(
        cluster
            .post("/responses", &responses_stream("alice", "b"))
            .await,
    )
    .await;
    provider.push_reply(Reply::rate_limited());
    let _ = cluster.post("/chat/completions", &chat("alice", "c")).await;
    provider.push_reply(Reply::server_error());
    let _ = cluster.post("/responses", &responses("alice", "d")).await;
    provider.push_reply(Reply::text("x y z").fail_after(1, StreamFailure::Disconnect));
    let _ = within(
        "cut stream",
        read_sse(
            cluster
                .post("/chat/completions", &chat_stream("alice", "e"))
                .await,
        ),
    )
    .await;
    provider.push_reply(Reply::text("x y z").fail_after(1, StreamFailure::ErrorEvent));
    let _ = within(
        "error event",
        read_sse(
            cluster
                .post("/chat/completions", &chat_stream("alice", "f"))
                .await,
        ),
    )
    .await;
    provider.push_reply(Reply::text("x y z").stall_after(1));
    {
        let response = cluster
            .post("/chat/completions", &chat_stream("alice", "g"))
            .await;
        let mut reader = gambi_test_support::sse::EventReader::new(response);
        let _ = reader.next_event().await;
    } // The client leaves.
    within("abort", provider.wait_for_abort()).await;
    let _ = cluster
        .post("/chat/completions", &chat("model:nothing", "h"))
        .await;
    provider.push_reply(Reply::text("marker"));
    let marker = cluster
        .post("/chat/completions", &chat("alice", "end"))
        .await;
    let marker = request_id(&marker);

    let mut attempts: BTreeMap<(String, u64), (usize, usize)> = BTreeMap::new();
    let mut routing_errors = 0;
    loop {
        let event = within("events", next_llm(&mut events)).await;
        let attempt = event.data["attempt"].as_u64().unwrap_or(1);
        if event.data["stage"] == "routing" {
            routing_errors += 1;
            continue;
        }
        let counts = attempts
            .entry((event.request_id().to_owned(), attempt))
            .or_default();
        if event.is_terminal() {
            counts.1 += 1;
        } else {
            counts.0 += 1;
        }
        if event.request_id() == marker && event.is_terminal() {
            break;
        }
    }
    assert_eq!(routing_errors, 1);
    assert_eq!(attempts.len(), 8, "{attempts:?}");
    for (attempt, counts) in &attempts {
        assert_eq!(
            *counts,
            (1, 1),
            "{attempt:?}: one request, one terminal event"
        );
    }
}

/// The `llm.*` events of one request id (all its attempts) up to `llm.complete`, or up to
/// the `count`-th terminal event.
async fn attempts_of(
    events: &mut gambi_test_support::sse::EventReader,
    id: &str,
    terminals: usize,
) -> Vec<Llm> {
    let mut seen = Vec::new();
    let mut ended = 0;
    while ended < terminals {
        let event = within("events", next_llm(events)).await;
        if event.request_id() != id {
            continue;
        }
        if event.is_terminal() {
            ended += 1;
            if event.kind == "llm.complete" {
                ended = terminals;
            }
        }
        seen.push(event);
    }
    seen
}

/// A participant whose provider is down fails fast; the request goes to another one and
/// each attempt is reported with its own terminal event.
#[tokio::test]
async fn a_failed_attempt_is_reported_and_another_participant_serves() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    cluster.join(ParticipantSpec::new("bob", "llama3")).await;
    cluster.member("alice").provider.shutdown().await;
    let mut events = cluster.events().await;

    for stream in [false, true, false, true] {
        let mut body = chat("llama3", "hi");
        body["stream"] = json!(stream);
        let response = cluster.post("/chat/completions", &body).await;
        assert_eq!(response.status(), 200, "stream {stream}");
        assert_eq!(inference_support::served_by(&response), "bob");
        let id = request_id(&response);
        let _ = response.bytes().await.unwrap();
        let seen = attempts_of(&mut events, &id, 2).await;
        let (last_request, complete) = (&seen[seen.len() - 2], &seen[seen.len() - 1]);
        assert_eq!(complete.kind, "llm.complete");
        assert_eq!(last_request.kind, "llm.request");
        assert_eq!(last_request.data["participantId"], "bob");
        match seen.len() {
            2 => assert!(last_request.data.get("attempt").is_none()),
            4 => {
                // Alice was tried first and failed before answering.
                assert_eq!(seen[0].kind, "llm.request");
                assert_eq!(seen[0].data["participantId"], "alice");
                assert_eq!(seen[1].kind, "llm.error");
                assert_eq!(seen[1].data["stage"], "dispatch");
                assert_eq!(seen[1].data["participantId"], "alice");
                assert_eq!(last_request.data["attempt"], 2);
                assert_eq!(complete.data["participantId"], "bob");
            }
            _ => panic!("one or two attempts: {seen:?}"),
        }
    }
}

/// When every participant fails before answering, the client gets a JSON error (also for
/// a streamed request: nothing was streamed yet) and each attempt has its terminal event.
#[tokio::test]
async fn when_every_participant_fails_the_client_gets_a_json_error() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    cluster.join(ParticipantSpec::new("bob", "llama3")).await;
    cluster.member("alice").provider.shutdown().await;
    cluster.member("bob").provider.shutdown().await;
    let mut events = cluster.events().await;

    for (path, stream) in [
        ("/chat/completions", false),
        ("/chat/completions", true),
        ("/responses", true),
    ] {
        let mut body = if path == "/responses" {
            responses("model:llama3", "hi")
        } else {
            chat("model:llama3", "hi")
        };
        body["stream"] = json!(stream);
        let response = cluster.post(path, &body).await;
        let error = inference_support::openai_error(response, 502, "PROVIDER_ERROR").await;
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("failed before answering"),
            "{error}"
        );
        let first = within("events", next_llm(&mut events)).await;
        assert_eq!(first.kind, "llm.request");
        let seen = attempts_of(&mut events, first.request_id(), 2).await;
        let kinds: Vec<&str> = std::iter::once(&first)
            .chain(&seen)
            .map(|event| event.kind.as_str())
            .collect();
        assert_eq!(
            kinds,
            ["llm.request", "llm.error", "llm.request", "llm.error"],
            "{seen:?}"
        );
        assert_eq!(seen[1].data["attempt"], 2);
        assert_ne!(first.data["participantId"], seen[1].data["participantId"]);
        for error in [&seen[0], &seen[2]] {
            assert_eq!(error.data["stage"], "dispatch");
        }
    }
}

/// A request that waited for a slot says how long, in its events and in a header.
#[tokio::test(start_paused = true)]
async fn queue_wait_is_reported() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").provider(|config| {
            config.token_delay = Duration::from_secs(1);
        }))
        .await;
    let provider = &cluster.member("alice").provider;
    provider.push_replies([
        Reply::tokens(["a", " b", " c"]).usage(1, 3),
        Reply::text("second").usage(1, 1),
    ]);
    let mut events = cluster.events().await;

    // The first request holds the only slot for at least two token delays.
    let first = cluster
        .post("/chat/completions", &chat_stream("alice", "one"))
        .await;
    let second = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat("alice", "two"))
            .send(),
    );
    let _ = read_sse(first).await;
    let second = second.await.unwrap().unwrap();
    assert_eq!(second.status(), 200);
    let header: u64 = second.headers()["x-gambi-queue-ms"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(header >= 2000, "waited at least two token delays: {header}");
    let id = request_id(&second);
    let seen = llm_events_of(&mut events, &id).await;
    assert_eq!(millis(&seen[0].data["queueMs"]), header as f64);
    assert_eq!(seen[1].kind, "llm.complete");
    assert_eq!(millis(&seen[1].data["metrics"]["queueMs"]), header as f64);
}

/// Time to first token is the first piece of content, not the first byte: a provider that
/// sends the role chunk (or `response.created`) at once and thinks before the first token
/// gets a TTFT that includes the thinking (the original measured the first byte).
#[tokio::test(start_paused = true)]
async fn ttft_is_the_first_token_not_the_first_byte() {
    let thinking = Duration::from_millis(300);
    let cluster = Cluster::start().await;
    let mut raw = inference_support::RawParticipant::join(&cluster, "raw", "raw-model").await;
    let mut events = cluster.events().await;
    let role = b"data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n";
    let created = b"event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_t\",\"object\":\"response\",\"status\":\"in_progress\",\"output\":[]}}\n\n";
    let delta = b"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"m\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n";

    for path in ["/chat/completions", "/responses"] {
        let body = if path == "/responses" {
            responses_stream("raw", "hi")
        } else {
            chat_stream("raw", "hi")
        };
        let pending = tokio::spawn(
            cluster
                .http
                .post(format!("{}{path}", cluster.base_url()))
                .json(&body)
                .send(),
        );
        let request = raw.next_request().await;
        raw.start(&request.request_id, 200, "text/event-stream")
            .await;
        let (opening, token): (&[u8], Vec<u8>) = if path == "/responses" {
            (created, delta.to_vec())
        } else {
            (role, inference_support::chat_chunk_event("Hi"))
        };
        raw.chunk(&request.request_id, opening).await;
        // The provider thinks before its first token.
        tokio::time::sleep(thinking).await;
        raw.chunk(&request.request_id, &token).await;
        raw.end(&request.request_id).await;
        let response = pending.await.unwrap().unwrap();
        let id = request_id(&response);
        let _ = read_sse(response).await;
        let seen = llm_events_of(&mut events, &id).await;
        assert_eq!(seen[1].kind, "llm.complete");
        let metrics = &seen[1].data["metrics"];
        assert!(
            millis(&metrics["ttftMs"]) >= thinking.as_secs_f64() * 1000.0,
            "{path}: {metrics}"
        );
    }
}
