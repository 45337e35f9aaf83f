// Included twice by `../cancellation.rs`, once per kind of runtime: `participant` comes from
// the including module.

use std::time::Duration;

use gambi_hub::HubConfig;
use gambi_test_support::sse::EventReader;
use gambi_test_support::{Cluster, Reply};
use crate::inference_support::{
    RawParticipant, chat, chat_chunk_event, chat_completion_body, chat_delta, chat_stream,
    llm_events_of, next_sse, openai_error, read_sse, request_id, responses, responses_stream,
    served_by, wait_disconnected, within,
};
use serde_json::{Value, json};

/// A cluster with one participant, `alice`, with a single slot.
async fn one_slot() -> Cluster {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    cluster
}

/// Reads a stream until `count` pieces of content arrived (text deltas of either protocol).
async fn read_content(reader: &mut EventReader, count: usize) {
    let mut seen = 0;
    while seen < count {
        let event = within("content", next_sse(reader))
            .await
            .expect("the stream goes on");
        let data = event.json();
        if chat_delta(&data).is_some() || event.event == "response.output_text.delta" {
            seen += 1;
        }
    }
}

/// The slot is free again: a next request on the one-slot participant is served at once
/// (if it were not, the request would wait a minute in the queue and trip `within`).
async fn slot_is_free(cluster: &Cluster) {
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::text("next"));
    let response = within(
        "the next request",
        cluster.post("/chat/completions", &chat("alice", "again")),
    )
    .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "next");
}

#[tokio::test]
async fn a_client_leaving_a_stream_aborts_the_provider_and_frees_the_slot() {
    let cluster = one_slot().await;
    let provider = &cluster.member("alice").provider;
    let mut events = cluster.events().await;

    for (round, path) in ["/chat/completions", "/responses"].into_iter().enumerate() {
        provider.push_reply(Reply::text("one two three four five").stall_after(2));
        let body = if path == "/responses" {
            responses_stream("alice", "count")
        } else {
            chat_stream("alice", "count")
        };
        let response = cluster.post(path, &body).await;
        assert_eq!(response.status(), 200);
        let id = request_id(&response);
        let mut reader = EventReader::new(response);
        read_content(&mut reader, 2).await;
        drop(reader);

        within(
            "the provider sees the abort",
            provider.wait_for_aborts(round + 1),
        )
        .await;
        let seen = within("events", llm_events_of(&mut events, &id)).await;
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[1].kind, "llm.error");
        assert_eq!(seen[1].data["stage"], "cancelled", "{:?}", seen[1].data);
        assert_eq!(seen[1].data["participantId"], "alice");
        slot_is_free(&cluster).await;
    }
}

/// The client leaves before any answer came: a non-streamed request (the provider answers
/// only once it is done), or a stream whose provider has not started.
#[tokio::test]
async fn a_client_leaving_a_pending_request_aborts_it() {
    let cluster = one_slot().await;
    let provider = &cluster.member("alice").provider;
    let mut events = cluster.events().await;

    let cases = [
        ("/chat/completions", false),
        ("/responses", false),
        ("/chat/completions", true),
        ("/responses", true),
    ];
    for (round, (path, stream)) in cases.into_iter().enumerate() {
        provider.push_reply(Reply::hang());
        // Asked for by model, so its events stand out from those of `slot_is_free`.
        let mut body = if path == "/responses" {
            responses("model:llama3", "wait")
        } else {
            chat("model:llama3", "wait")
        };
        body["stream"] = stream.into();
        let arrived = provider.request_count() + 1;
        let client = tokio::spawn(
            cluster
                .http
                .post(format!("{}{path}", cluster.base_url()))
                .json(&body)
                .send(),
        );
        within(
            "the request reaches the provider",
            provider.wait_for_requests(arrived),
        )
        .await;
        let request = within("llm.request", async {
            loop {
                let event = crate::inference_support::next_llm(&mut events).await;
                if event.kind == "llm.request" && event.data["model"] == "model:llama3" {
                    return event;
                }
            }
        })
        .await;
        client.abort();
        let _ = client.await;

        within(
            "the provider sees the abort",
            provider.wait_for_aborts(round + 1),
        )
        .await;
        let seen = within("events", llm_events_of(&mut events, request.request_id())).await;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].kind, "llm.error", "{path}: {seen:?}");
        assert_eq!(seen[0].data["stage"], "cancelled", "{:?}", seen[0].data);
        slot_is_free(&cluster).await;
    }
}

/// The stream a client gets when its participant goes away mid-answer: an error event in
/// its protocol, then the end of the body.
fn assert_ends_with_error(path: &str, events: &[crate::inference_support::Sse]) {
    let last = events.last().expect("some events");
    let data = last.json();
    if path == "/responses" {
        assert_eq!(last.event, "error", "{events:?}");
        assert!(data["message"].as_str().is_some_and(|m| !m.is_empty()));
    } else {
        assert!(
            data["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{events:?}"
        );
        assert!(events.iter().all(|event| event.data != "[DONE]"));
    }
}

#[tokio::test]
async fn a_participant_closing_mid_stream_ends_the_clients_stream_with_an_error() {
    for path in ["/chat/completions", "/responses"] {
        let mut cluster = Cluster::start().await;
        cluster.join(participant("alice", "llama3")).await;
        let provider = &cluster.member("alice").provider;
        provider.push_reply(Reply::text("one two three four").stall_after(2));
        let mut events = cluster.events().await;
        let body = if path == "/responses" {
            responses_stream("alice", "hi")
        } else {
            chat_stream("alice", "hi")
        };
        let response = cluster.post(path, &body).await;
        let id = request_id(&response);
        let mut reader = EventReader::new(response);
        read_content(&mut reader, 2).await;

        within("close", cluster.member("alice").session.close()).await;
        let mut rest = Vec::new();
        while let Some(event) = within("the stream ends", next_sse(&mut reader)).await {
            rest.push(event);
        }
        assert_ends_with_error(path, &rest);
        let seen = within("events", llm_events_of(&mut events, &id)).await;
        assert_eq!(seen[1].kind, "llm.error");
        assert_eq!(seen[1].data["stage"], "stream");
        within("the provider sees the abort", provider.wait_for_abort()).await;
    }
}

#[tokio::test]
async fn the_provider_going_away_mid_stream_ends_the_clients_stream_with_an_error() {
    let cluster = one_slot().await;
    let provider = &cluster.member("alice").provider;
    let mut events = cluster.events().await;
    for path in ["/chat/completions", "/responses"] {
        provider.push_reply(Reply::text("one two three four").stall_after(2));
        let body = if path == "/responses" {
            responses_stream("alice", "hi")
        } else {
            chat_stream("alice", "hi")
        };
        let response = cluster.post(path, &body).await;
        let id = request_id(&response);
        let mut reader = EventReader::new(response);
        read_content(&mut reader, 2).await;
        provider.shutdown().await;
        let mut rest = Vec::new();
        while let Some(event) = within("the stream ends", next_sse(&mut reader)).await {
            rest.push(event);
        }
        assert_ends_with_error(path, &rest);
        let seen = within("events", llm_events_of(&mut events, &id)).await;
        assert_eq!(seen[1].kind, "llm.error");
        assert_eq!(seen[1].data["stage"], "stream");
        provider.restart().await.unwrap();
        slot_is_free(&cluster).await;
    }
}

#[tokio::test]
async fn a_tunnel_dropping_mid_stream_ends_the_clients_stream_with_an_error() {
    let cluster = Cluster::start().await;
    let mut raw = RawParticipant::join(&cluster, "raw", "raw-model").await;
    let mut events = cluster.events().await;

    let response = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat_stream("raw", "hi"))
            .send(),
    );
    let request = within("request", raw.next_request()).await;
    assert!(request.stream);
    raw.start(&request.request_id, 200, "text/event-stream")
        .await;
    raw.chunk(&request.request_id, &chat_chunk_event("Hel"))
        .await;
    raw.chunk(&request.request_id, &chat_chunk_event("lo"))
        .await;
    let response = within("head", response).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let id = request_id(&response);
    let mut reader = EventReader::new(response);
    read_content(&mut reader, 2).await;

    // The runtime dies: its socket closes without a goodbye.
    drop(raw);
    let mut rest = Vec::new();
    while let Some(event) = within("the stream ends", next_sse(&mut reader)).await {
        rest.push(event);
    }
    assert_ends_with_error("/chat/completions", &rest);
    let seen = within("events", llm_events_of(&mut events, &id)).await;
    assert_eq!(seen[1].kind, "llm.error");
    assert_eq!(seen[1].data["stage"], "stream");
    assert!(
        seen[1].data["error"]
            .as_str()
            .unwrap()
            .contains("disconnected"),
        "{:?}",
        seen[1].data
    );
}

#[tokio::test]
async fn a_tunnel_dropping_under_a_non_streamed_request_is_a_json_error() {
    let cluster = Cluster::start().await;
    let mut events = cluster.events().await;

    // Before the answer started, and after it started (head sent, body incomplete).
    for started in [false, true] {
        let id = format!("raw{}", u8::from(started));
        let mut raw = RawParticipant::join(&cluster, &id, "raw-model").await;
        let response = tokio::spawn(
            cluster
                .http
                .post(format!("{}/responses", cluster.base_url()))
                .json(&responses(&id, "hi"))
                .send(),
        );
        let request = within("request", raw.next_request()).await;
        if started {
            raw.start(&request.request_id, 200, "application/json")
                .await;
            raw.chunk(&request.request_id, b"{\"id\": \"resp_1\", ")
                .await;
        }
        drop(raw);
        let response = within("answer", response).await.unwrap().unwrap();
        let error = openai_error(response, 502, "PROVIDER_ERROR").await;
        assert!(
            error["message"].as_str().unwrap().contains("disconnected"),
            "{error}"
        );
        let event = within("events", crate::inference_support::next_terminal(&mut events)).await;
        assert_eq!(event.kind, "llm.error");
        let stage = if started { "stream" } else { "dispatch" };
        assert_eq!(event.data["stage"], stage, "{:?}", event.data);
        wait_disconnected(&cluster, &id).await;
    }
}

/// The original runtime does not know `tunnel.cancel`: it finishes the request and sends
/// every frame of it. The hub must free the slot anyway, drop those late frames, keep the
/// tunnel, and route the next request to it.
#[tokio::test]
async fn an_original_participant_ignoring_cancel_keeps_working() {
    let cluster = Cluster::start().await;
    let mut raw = RawParticipant::join(&cluster, "legacy", "legacy-model").await;
    let mut events = cluster.events().await;

    // A plain request works.
    let pending = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat("legacy", "hi"))
            .send(),
    );
    let request = within("request", raw.next_request()).await;
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(request.operation, "chat.completions.create");
    assert_eq!(request.body.as_ref().unwrap()["model"], "legacy-model");
    raw.start(&request.request_id, 200, "application/json")
        .await;
    raw.chunk(&request.request_id, &chat_completion_body("Hello"))
        .await;
    raw.end(&request.request_id).await;
    let response = within("answer", pending).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "Hello");

    // A streamed request whose client leaves after the first token.
    let pending = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat_stream("legacy", "count"))
            .send(),
    );
    let cancelled = within("request", raw.next_request()).await;
    raw.start(&cancelled.request_id, 200, "text/event-stream")
        .await;
    raw.chunk(&cancelled.request_id, &chat_chunk_event("one"))
        .await;
    let response = within("head", pending).await.unwrap().unwrap();
    let id = request_id(&response);
    let mut reader = EventReader::new(response);
    read_content(&mut reader, 1).await;
    drop(reader);
    let seen = within("events", llm_events_of(&mut events, &id)).await;
    assert_eq!(seen[1].data["stage"], "cancelled");
    assert_eq!(
        within("cancel", raw.next_cancel()).await,
        cancelled.request_id
    );

    // It ignores the cancel and goes on with the cancelled request ...
    raw.chunk(&cancelled.request_id, &chat_chunk_event(" two"))
        .await;

    // ... while the next request is routed to it at once (its only slot was freed) and
    // served, with the late frames of the cancelled one interleaved and dropped.
    let pending = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat_stream("legacy", "again"))
            .send(),
    );
    let next = within("next request", raw.next_request()).await;
    raw.chunk(&cancelled.request_id, &chat_chunk_event(" three"))
        .await;
    raw.start(&next.request_id, 200, "text/event-stream").await;
    raw.chunk(&next.request_id, &chat_chunk_event("fresh"))
        .await;
    raw.end(&cancelled.request_id).await;
    raw.chunk(&next.request_id, b"data: [DONE]\n\n").await;
    raw.end(&next.request_id).await;
    let response = within("answer", pending).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(served_by(&response), "legacy");
    let streamed = within("the stream", read_sse(response)).await;
    let deltas: Vec<String> = streamed
        .iter()
        .filter_map(|event| chat_delta(&event.json()).map(str::to_owned))
        .collect();
    assert_eq!(deltas, ["fresh"]);
    assert_eq!(streamed.last().unwrap().data, "[DONE]");
    assert_eq!(
        cluster.hub.hub().malformed_frames(),
        0,
        "late frames are not malformed"
    );

    // A streamed answer that ends without ever starting still resolves (the original
    // never answered such a request).
    let pending = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat_stream("legacy", "nothing"))
            .send(),
    );
    let request = within("request", raw.next_request()).await;
    raw.end(&request.request_id).await;
    let response = within("answer", pending).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert!(within("the stream", read_sse(response)).await.is_empty());
}

/// A participant that accepts a request and then never starts answering, or stops in the
/// middle, is timed out (the original waited forever and kept the participant busy): the
/// client gets an error, the participant is told to stop, and its slot is free again.
#[tokio::test(start_paused = true)]
async fn a_participant_that_stops_answering_is_timed_out() {
    let silence = Duration::from_secs(5);
    let config = HubConfig {
        response_start_timeout: silence,
        response_idle_timeout: silence,
        ..HubConfig::default()
    };
    let cluster = Cluster::with(config, json!({"name": "Timeouts"})).await;
    let mut raw = RawParticipant::join(&cluster, "mute", "mute-model").await;
    let mut events = cluster.events().await;
    let post = |body: Value| {
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&body)
            .send()
    };

    // It never starts.
    let pending = tokio::spawn(post(chat("mute", "hi")));
    let request = raw.next_request().await;
    let response = pending.await.unwrap().unwrap();
    let error = openai_error(response, 504, "PROVIDER_ERROR").await;
    assert!(
        error["message"].as_str().unwrap().contains("within 5 s"),
        "{error}"
    );
    let event = crate::inference_support::next_terminal(&mut events).await;
    assert_eq!(event.kind, "llm.error");
    assert_eq!(event.data["stage"], "dispatch");
    assert_eq!(raw.next_cancel().await, request.request_id);

    // It starts, then falls silent.
    let pending = tokio::spawn(post(chat_stream("mute", "hi")));
    let request = raw.next_request().await;
    raw.start(&request.request_id, 200, "text/event-stream")
        .await;
    raw.chunk(&request.request_id, &chat_chunk_event("Hel"))
        .await;
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let streamed = read_sse(response).await;
    assert_eq!(chat_delta(&streamed[0].json()), Some("Hel"), "{streamed:?}");
    assert_ends_with_error("/chat/completions", &streamed);
    let event = crate::inference_support::next_terminal(&mut events).await;
    assert_eq!(event.kind, "llm.error");
    assert_eq!(event.data["stage"], "stream");
    assert!(
        event.data["error"].as_str().unwrap().contains("5 s"),
        "{:?}",
        event.data
    );
    assert_eq!(raw.next_cancel().await, request.request_id);

    // Its only slot is free again.
    let pending = tokio::spawn(post(chat("mute", "again")));
    let request = raw.next_request().await;
    raw.start(&request.request_id, 200, "application/json")
        .await;
    raw.chunk(&request.request_id, &chat_completion_body("back"))
        .await;
    raw.end(&request.request_id).await;
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
}

/// Requests waiting in the queue for a participant that then leaves the room fail at once
/// with a clear error, instead of waiting out the queue timeout.
#[tokio::test]
async fn requests_queued_for_a_participant_that_leaves_fail_at_once() {
    let cluster = one_slot().await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::text("one two three").stall_after(1));
    let response = cluster
        .post("/chat/completions", &chat_stream("alice", "hi"))
        .await;
    let mut reader = EventReader::new(response);
    read_content(&mut reader, 1).await;

    let queued = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat("alice", "queued"))
            .send(),
    );
    let scheduler = cluster
        .hub
        .hub()
        .room(&cluster.code)
        .unwrap()
        .scheduler()
        .clone();
    within("the request queues", async {
        while scheduler.queue_len() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    within("close", cluster.member("alice").session.close()).await;
    let mut rest = Vec::new();
    while let Some(event) = within("the stream ends", next_sse(&mut reader)).await {
        rest.push(event);
    }
    assert_ends_with_error("/chat/completions", &rest);
    let response = within("the queued request", queued).await.unwrap().unwrap();
    let error = openai_error(response, 404, "MODEL_NOT_FOUND").await;
    assert!(
        error["message"].as_str().unwrap().contains("'alice'"),
        "{error}"
    );
}

/// The hub loses a participant's tunnel in the middle of a stream (as when it times the
/// tunnel out): the client's stream ends with an error, the runtime aborts the provider
/// request it was forwarding, reconnects by itself, and serves again.
#[tokio::test]
async fn a_runtime_losing_its_tunnel_mid_stream_aborts_the_provider_and_comes_back() {
    let cluster = one_slot().await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::text("one two three four").stall_after(2));
    let mut events = cluster.events().await;
    let response = cluster
        .post("/chat/completions", &chat_stream("alice", "hi"))
        .await;
    let id = request_id(&response);
    let mut reader = EventReader::new(response);
    read_content(&mut reader, 2).await;

    let room = cluster.hub.hub().room(&cluster.code).unwrap();
    let tunnel = room.participant("alice").unwrap().tunnel.unwrap();
    tunnel.close(
        gambi_protocol::CLOSE_TIMEOUT,
        gambi_hub::tunnel::TunnelFailure::Disconnected,
    );

    let mut rest = Vec::new();
    while let Some(event) = within("the stream ends", next_sse(&mut reader)).await {
        rest.push(event);
    }
    assert_ends_with_error("/chat/completions", &rest);
    let seen = within("events", llm_events_of(&mut events, &id)).await;
    assert_eq!(seen[1].kind, "llm.error");
    assert_eq!(seen[1].data["stage"], "stream");
    within("the provider sees the abort", provider.wait_for_abort()).await;

    within(
        "the runtime reconnects",
        crate::inference_support::wait_routable(&cluster, "alice"),
    )
    .await;
    slot_is_free(&cluster).await;
}

/// A client that gives up while its request waits for a slot leaves the queue at once.
#[tokio::test]
async fn a_client_leaving_the_queue_frees_its_place() {
    let cluster = one_slot().await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::text("one two three").stall_after(1));
    let response = cluster
        .post("/chat/completions", &chat_stream("alice", "hi"))
        .await;
    let mut reader = EventReader::new(response);
    read_content(&mut reader, 1).await;

    let scheduler = cluster
        .hub
        .hub()
        .room(&cluster.code)
        .unwrap()
        .scheduler()
        .clone();
    let queued = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat("alice", "queued"))
            .send(),
    );
    within("the request queues", async {
        while scheduler.queue_len() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    queued.abort();
    let _ = queued.await;
    within("the request leaves the queue", async {
        while scheduler.queue_len() != 0 {
            tokio::task::yield_now().await;
        }
    })
    .await;

    // The stream finishes being read; the slot then serves the next request.
    drop(reader);
    within("the provider sees the abort", provider.wait_for_abort()).await;
    slot_is_free(&cluster).await;
    assert_eq!(
        crate::inference_support::generations(provider).len(),
        2,
        "the abandoned request never reached the provider"
    );
}

/// Cancelling one request leaves the others on the same tunnel alone.
#[tokio::test]
async fn cancelling_one_request_leaves_the_others_alone() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(participant("alice", "llama3").slots(2))
        .await;
    let provider = &cluster.member("alice").provider;
    provider.push_replies([
        Reply::text("one two three four").stall_after(1),
        Reply::text("x y z w").token_delay(Duration::from_millis(20)),
    ]);
    let leaving = cluster
        .post("/chat/completions", &chat_stream("alice", "leave"))
        .await;
    let mut leaving = EventReader::new(leaving);
    read_content(&mut leaving, 1).await;
    let staying = cluster
        .post("/chat/completions", &chat_stream("alice", "stay"))
        .await;
    let mut staying = EventReader::new(staying);
    read_content(&mut staying, 1).await;

    drop(leaving);
    within("the provider sees the abort", provider.wait_for_abort()).await;
    let mut rest = Vec::new();
    while let Some(event) = within("the other stream", next_sse(&mut staying)).await {
        rest.push(event);
    }
    let deltas: Vec<String> = rest
        .iter()
        .filter_map(|event| chat_delta(&event.json()).map(str::to_owned))
        .collect();
    assert_eq!(deltas, [" y", " z", " w"]);
    assert_eq!(rest.last().unwrap().data, "[DONE]");
    assert_eq!(provider.aborted_count(), 1);
}

/// A hub shutting down lets the streams it relays finish within its grace period, ends
/// the rest with `HUB_SHUTTING_DOWN`, and stops.
#[tokio::test]
async fn hub_shutdown_lets_streams_finish_within_the_grace_then_ends_the_rest() {
    let config = HubConfig {
        shutdown_grace: Duration::from_millis(1500),
        ..HubConfig::default()
    };
    let mut cluster = Cluster::with(config, json!({"name": "Shutdown"})).await;
    cluster
        .join(participant("alice", "llama3").slots(2))
        .await;
    let provider = &cluster.member("alice").provider;
    // One stream never finishes; another finishes a little after shutdown begins.
    provider.push_reply(Reply::text("one two three").stall_after(1));
    let stalled = cluster
        .post("/chat/completions", &chat_stream("alice", "forever"))
        .await;
    let mut stalled = EventReader::new(stalled);
    read_content(&mut stalled, 1).await;
    let words: Vec<String> = (0..20).map(|n| format!(" w{n}")).collect();
    provider.push_reply(Reply::tokens(words.clone()).token_delay(Duration::from_millis(25)));
    let finishing = cluster
        .post("/chat/completions", &chat_stream("alice", "soon"))
        .await;
    let mut finishing = EventReader::new(finishing);
    read_content(&mut finishing, 1).await;

    let Cluster { hub, members, .. } = cluster;
    let stopping = tokio::spawn(hub.stop());

    let mut text = String::new();
    let mut done = false;
    while let Some(event) = within("the stream goes on", next_sse(&mut finishing)).await {
        let data = event.json();
        assert!(data.get("error").is_none(), "no error: {data}");
        done |= event.data == "[DONE]";
        text.push_str(chat_delta(&data).unwrap_or_default());
    }
    assert!(done, "the stream in flight finished whole");
    assert!(words.concat().ends_with(&text), "{text}");

    let mut rest = Vec::new();
    while let Some(event) = within("the stalled stream ends", next_sse(&mut stalled)).await {
        rest.push(event);
    }
    assert_ends_with_error("/chat/completions", &rest);
    let error = rest.last().unwrap().json();
    assert_eq!(error["error"]["code"], "HUB_SHUTTING_DOWN", "{error}");
    within("the hub stops", stopping).await.unwrap();
    within(
        "the provider sees the abort",
        members[0].provider.wait_for_abort(),
    )
    .await;
}

/// A participant that leaves while a request waits for its answer hands the request back:
/// the hub retries it on another participant serving the model, and the client never
/// sees the failure.
#[tokio::test]
async fn a_request_pending_on_a_leaving_participant_goes_to_another() {
    let mut cluster = one_slot().await;
    cluster.member("alice").provider.push_reply(Reply::hang());
    let arrived = cluster.member("alice").provider.request_count() + 1;
    let pending = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat("llama3", "hi"))
            .send(),
    );
    within(
        "the request reaches alice",
        cluster.member("alice").provider.wait_for_requests(arrived),
    )
    .await;
    cluster.join(participant("bob", "llama3")).await;
    cluster
        .member("bob")
        .provider
        .push_reply(Reply::text("from bob"));

    within("close", cluster.member("alice").session.close()).await;
    let response = within("the answer", pending).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(served_by(&response), "bob");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "from bob");
    within(
        "alice's provider sees the abort",
        cluster.member("alice").provider.wait_for_abort(),
    )
    .await;
}
