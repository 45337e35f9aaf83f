// Included twice by `../inference.rs`, once per kind of runtime: `participant` comes from
// the including module.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use gambi_protocol as proto;
use gambi_test_support::{Cluster, Reply};
use crate::inference_support::{
    RawParticipant, chat, chat_delta, chat_stream, generations, only_generation, openai_error,
    read_sse, register, responses, responses_stream, served_by,
};
use serde_json::{Value, json};

#[tokio::test]
async fn every_routing_form_reaches_the_participant_it_names() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    cluster.join(participant("bob", "qwen")).await;
    // A model named like another participant's id: ids win for plain strings.
    cluster.join(participant("carol", "alice")).await;

    let cases = [
        ("alice", "alice"),
        ("bob", "bob"),
        ("qwen", "bob"),
        ("llama3", "alice"),
        ("model:qwen", "bob"),
        ("model:llama3", "alice"),
        ("model:alice", "carol"),
    ];
    let mut expected: BTreeMap<&str, usize> = BTreeMap::new();
    for (model, participant) in cases {
        let response = cluster.post("/chat/completions", &chat(model, "hi")).await;
        assert_eq!(response.status(), 200, "model {model}");
        assert_eq!(served_by(&response), participant, "model {model}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion", "model {model}");
        *expected.entry(participant).or_default() += 1;
    }
    let mut served_any = 0;
    for model in ["*", "any"] {
        for _ in 0..3 {
            let response = cluster.post("/responses", &responses(model, "hi")).await;
            assert_eq!(response.status(), 200, "model {model}");
            assert!(["alice", "bob", "carol"].contains(&served_by(&response).as_str()));
            served_any += 1;
        }
    }

    // Each provider saw exactly the requests routed to it, under its own model name.
    let mut total = 0;
    for member in &cluster.members {
        let received = generations(&member.provider);
        let model = &member.provider.config().models[0];
        for request in &received {
            assert_eq!(request.body.as_ref().unwrap()["model"], model.as_str());
        }
        let chats = received
            .iter()
            .filter(|request| request.path == "/v1/chat/completions")
            .count();
        assert_eq!(
            chats,
            expected.get(member.id.as_str()).copied().unwrap_or(0),
            "{}",
            member.id
        );
        total += received.len();
    }
    assert_eq!(total, cases.len() + served_any);
}

#[tokio::test]
async fn a_participant_whose_runtime_closed_is_never_chosen() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    cluster.join(participant("bob", "llama3")).await;
    let outcome = cluster.member("alice").session.close().await;
    assert_eq!(outcome.reason, gambi_participant::CloseReason::Closed);

    for model in ["*", "any", "llama3", "model:llama3", "bob"] {
        for _ in 0..3 {
            let response = cluster.post("/chat/completions", &chat(model, "hi")).await;
            assert_eq!(response.status(), 200, "model {model}");
            assert_eq!(served_by(&response), "bob", "model {model}");
        }
    }
    assert!(generations(&cluster.member("alice").provider).is_empty());

    // Asking for it by name fails clearly, at once.
    let response = cluster
        .post("/chat/completions", &chat("alice", "hi"))
        .await;
    let error = openai_error(response, 404, "MODEL_NOT_FOUND").await;
    assert!(
        error["message"].as_str().unwrap().contains("'alice'"),
        "{error}"
    );
    assert_eq!(error["param"], "model");
}

#[tokio::test]
async fn a_registered_participant_without_a_tunnel_is_skipped() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("bob", "llama3")).await;
    // Registered like the original runtime would, but its tunnel never opens.
    register(&cluster, "ghost", "llama3").await;

    for model in ["*", "llama3", "model:llama3"] {
        for _ in 0..3 {
            let response = cluster.post("/chat/completions", &chat(model, "hi")).await;
            assert_eq!(response.status(), 200, "model {model}");
            assert_eq!(served_by(&response), "bob", "model {model}");
        }
    }
}

#[tokio::test]
async fn chat_completions_natively_without_streaming() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::text("Hello there").usage(3, 2));

    let response = cluster.post("/chat/completions", &chat("*", "hi")).await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello there");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5})
    );

    let requests = generations(provider);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    let sent = requests[0].body.as_ref().unwrap();
    assert_eq!(sent["model"], "llama3");
    assert_eq!(sent["messages"], json!([{"role": "user", "content": "hi"}]));
    assert!(sent.get("stream_options").is_none(), "{sent}");
}

#[tokio::test]
async fn chat_completions_stream_without_usage_hides_the_usage_chunk() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::tokens(["Hel", "lo", " there"]).usage(4, 3));

    let response = cluster
        .post("/chat/completions", &chat_stream("alice", "hi"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = read_sse(response).await;

    let data: Vec<&str> = events.iter().map(|event| event.data.as_str()).collect();
    assert_eq!(data.last(), Some(&"[DONE]"), "{data:?}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(crate::inference_support::Sse::json)
        .collect();
    let deltas: Vec<&str> = chunks.iter().filter_map(chat_delta).collect();
    assert_eq!(deltas, ["Hel", "lo", " there"], "one event per token");
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk", "{chunk}");
        assert_eq!(
            chunk["choices"].as_array().map(Vec::len),
            Some(1),
            "no usage-only chunk: {chunk}"
        );
    }
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );

    // The hub asked the provider for usage anyway, for its metrics.
    let sent = only_generation(provider);
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
}

#[tokio::test]
async fn chat_completions_stream_with_usage_keeps_the_usage_chunk() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::tokens(["Hel", "lo"]).usage(4, 2));

    let mut request = chat_stream("alice", "hi");
    request["stream_options"] = json!({"include_usage": true});
    let response = cluster.post("/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    let events = read_sse(response).await;
    let data: Vec<&str> = events.iter().map(|event| event.data.as_str()).collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let usage_chunk = events[events.len() - 2].json();
    assert_eq!(usage_chunk["choices"], json!([]), "{usage_chunk}");
    assert_eq!(
        usage_chunk["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6})
    );
    let deltas: Vec<String> = events
        .iter()
        .filter_map(|event| chat_delta(&event.json()).map(str::to_owned))
        .collect();
    assert_eq!(deltas, ["Hel", "lo"]);
    assert_eq!(
        only_generation(provider)["stream_options"],
        json!({"include_usage": true})
    );
}

#[tokio::test]
async fn responses_natively_without_streaming() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::text("Hello there").usage(3, 2));

    let response = cluster.post("/responses", &responses("llama3", "hi")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "response");
    assert_eq!(body["status"], "completed");
    assert_eq!(body["output"][0]["type"], "message");
    assert_eq!(body["output"][0]["content"][0]["text"], "Hello there");
    assert_eq!(body["usage"]["input_tokens"], 3);
    assert_eq!(body["usage"]["output_tokens"], 2);
    assert_eq!(body["usage"]["total_tokens"], 5);

    let requests = generations(provider);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/responses", "spoken natively");
    assert_eq!(requests[0].body.as_ref().unwrap()["model"], "llama3");
}

#[tokio::test]
async fn responses_natively_streamed() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::tokens(["Hel", "lo", " there"]).usage(4, 3));

    let response = cluster
        .post("/responses", &responses_stream("model:llama3", "hi"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let events = read_sse(response).await;
    for event in &events {
        assert_eq!(event.json()["type"], event.event.as_str(), "{event:?}");
    }
    assert_eq!(events.first().unwrap().event, "response.created");
    let last = events.last().unwrap();
    assert_eq!(last.event, "response.completed");
    let deltas: Vec<String> = events
        .iter()
        .filter(|event| event.event == "response.output_text.delta")
        .map(|event| event.json()["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deltas, ["Hel", "lo", " there"], "one event per token");
    let completed = last.json();
    assert_eq!(completed["response"]["usage"]["input_tokens"], 4);
    assert_eq!(completed["response"]["usage"]["output_tokens"], 3);

    let requests = generations(provider);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/responses");
    assert_eq!(requests[0].body.as_ref().unwrap()["stream"], true);
}

/// With paused time, each token event is written by the provider after its own pause, so
/// each one is its own HTTP chunk all the way to the client: the hub and the participant
/// must pass events on as they come, never merged.
#[tokio::test(start_paused = true)]
async fn streamed_events_reach_the_client_unmerged() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(participant("alice", "llama3").provider(|config| {
            config.token_delay = Duration::from_millis(50);
        }))
        .await;
    let provider = &cluster.member("alice").provider;
    let tokens = ["one", " two", " three", " four", " five"];
    for path in ["/chat/completions", "/responses"] {
        provider.push_reply(Reply::tokens(tokens));
        let body = if path == "/responses" {
            responses_stream("alice", "count")
        } else {
            chat_stream("alice", "count")
        };
        let response = cluster.post(path, &body).await;
        assert_eq!(response.status(), 200);
        let mut body = response.bytes_stream();
        let mut seen = Vec::new();
        while let Some(piece) = body.next().await {
            let piece = String::from_utf8(piece.unwrap().to_vec()).unwrap();
            let in_piece = tokens
                .iter()
                .filter(|token| {
                    piece.contains(&format!("\"content\":\"{token}\""))
                        || piece.contains(&format!("\"delta\":\"{token}\""))
                })
                .count();
            assert!(
                in_piece <= 1,
                "{path}: tokens merged into one chunk: {piece}"
            );
            seen.push(piece);
        }
        let whole = seen.concat();
        for token in tokens {
            assert!(whole.contains(token), "{path}: {token} arrived");
        }
    }
}

#[tokio::test]
async fn model_list_shows_connected_participants_with_the_gambi_extension() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    cluster
        .join(participant("bob", "qwen").slots(3))
        .await;
    register(&cluster, "ghost", "llama3").await; // no tunnel

    let response = cluster.get("/models").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    let data = body["data"].as_array().unwrap();
    let ids: Vec<&str> = data
        .iter()
        .map(|entry| entry["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["alice", "bob"], "only connected participants");
    for entry in data {
        assert_eq!(entry["object"], "model");
        assert!(
            entry["created"].as_u64().unwrap() > 1_600_000_000,
            "{entry}"
        );
        assert_eq!(
            entry["owned_by"],
            format!("{} (test)", entry["id"].as_str().unwrap())
        );
        let gambi = &entry["gambi"];
        assert_eq!(gambi["nickname"], entry["owned_by"]);
        assert_eq!(gambi["connection"]["kind"], "tunnel");
        assert_eq!(gambi["connection"]["connected"], true);
        assert_eq!(gambi["capabilities"]["chatCompletions"], "supported");
        assert_eq!(gambi["capabilities"]["openResponses"], "supported");
        assert!(
            gambi["endpoint"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:")
        );
    }
    assert_eq!(data[0]["gambi"]["model"], "llama3");
    assert_eq!(data[1]["gambi"]["model"], "qwen");

    // A participant that leaves disappears from the list; one that comes back reappears.
    cluster.member("alice").session.close().await;
    let body: Value = cluster.get("/models").await.json().await.unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["bob"]);
    let _raw = RawParticipant::join(&cluster, "ghost", "llama3").await;
    let body: Value = cluster.get("/models").await.json().await.unwrap();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["bob", "ghost"]);
}

fn room_defaults() -> Value {
    json!({
        "name": "Defaults",
        "defaults": {
            "instructions": "Room instructions",
            "temperature": 0.2,
            "max_tokens": 128,
            "seed": 11,
            "stop": ["ROOM"],
        },
    })
}

fn participant_defaults() -> proto::RuntimeConfig {
    proto::RuntimeConfig {
        instructions: Some("Participant instructions".into()),
        temperature: Some(0.4),
        top_p: Some(0.5),
        presence_penalty: Some(0.25),
        ..proto::RuntimeConfig::default()
    }
}

async fn defaults_cluster() -> Cluster {
    let mut cluster = Cluster::with(gambi_hub::HubConfig::default(), room_defaults()).await;
    cluster
        .join(participant("alice", "llama3").config(participant_defaults()))
        .await;
    cluster
}

#[tokio::test]
async fn chat_completions_get_room_then_participant_then_request_values() {
    let cluster = defaults_cluster().await;
    let provider = &cluster.member("alice").provider;

    for stream in [false, true] {
        provider.clear_requests();
        let mut request = chat("*", "hi");
        request["temperature"] = json!(0.9);
        request["stream"] = json!(stream);
        let response = cluster.post("/chat/completions", &request).await;
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await.unwrap();
        let sent = only_generation(provider);
        assert_eq!(sent["model"], "llama3", "the participant's model");
        assert_eq!(
            sent["messages"],
            json!([
                {"role": "system", "content": "Participant instructions"},
                {"role": "user", "content": "hi"},
            ]),
            "stream {stream}"
        );
        assert_eq!(sent["temperature"], 0.9, "the request wins");
        assert_eq!(sent["top_p"], 0.5, "the participant's");
        assert_eq!(sent["presence_penalty"], 0.25, "the participant's");
        assert_eq!(sent["max_tokens"], 128, "the room's");
        assert_eq!(sent["seed"], 11, "the room's");
        assert_eq!(sent["stop"], json!(["ROOM"]), "the room's");
    }

    // A conversation with its own system message keeps it alone; fields it sets win.
    provider.clear_requests();
    let request = json!({
        "model": "llama3",
        "messages": [
            {"role": "system", "content": "Mine"},
            {"role": "user", "content": "hi"},
        ],
        "max_tokens": 7,
        "seed": null,
    });
    let response = cluster.post("/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    let sent = only_generation(provider);
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "Mine"},
            {"role": "user", "content": "hi"},
        ])
    );
    assert_eq!(sent["max_tokens"], 7);
    assert_eq!(sent["seed"], 11, "a null field takes the default");
    assert_eq!(sent["temperature"], 0.4);
}

#[tokio::test]
async fn responses_get_room_then_participant_then_request_values() {
    let cluster = defaults_cluster().await;
    let provider = &cluster.member("alice").provider;

    for stream in [false, true] {
        provider.clear_requests();
        let mut request = responses("alice", "hi");
        request["temperature"] = json!(0.9);
        request["stream"] = json!(stream);
        let response = cluster.post("/responses", &request).await;
        assert_eq!(response.status(), 200);
        let _ = response.bytes().await.unwrap();
        let requests = generations(provider);
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].path, "/v1/responses");
        let sent = requests[0].body.clone().unwrap();
        assert_eq!(sent["model"], "llama3");
        assert_eq!(sent["input"], "hi");
        assert_eq!(sent["instructions"], "Participant instructions");
        assert_eq!(sent["temperature"], 0.9, "the request wins");
        assert_eq!(sent["top_p"], 0.5, "the participant's");
        assert_eq!(sent["max_output_tokens"], 128, "the room's");
    }

    provider.clear_requests();
    let request = json!({
        "model": "alice",
        "input": "hi",
        "instructions": "Mine",
        "max_output_tokens": 9,
    });
    let response = cluster.post("/responses", &request).await;
    assert_eq!(response.status(), 200);
    let sent = only_generation(provider);
    assert_eq!(sent["instructions"], "Mine");
    assert_eq!(sent["max_output_tokens"], 9);
    assert_eq!(sent["temperature"], 0.4);
}

/// The usage-only chunk follows the client's `stream_options` also when the hub adapts a
/// Responses stream into Chat Completions.
#[tokio::test]
async fn an_adapted_chat_stream_has_the_usage_chunk_only_when_asked() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(participant("bob", "qwen").provider(|config| {
            config.protocols = gambi_test_support::Protocols::ResponsesOnly;
        }))
        .await;
    let provider = &cluster.member("bob").provider;
    for include_usage in [false, true] {
        provider.push_reply(Reply::tokens(["Hel", "lo"]).usage(4, 2));
        let mut request = chat_stream("bob", "hi");
        if include_usage {
            request["stream_options"] = json!({"include_usage": true});
        }
        let response = cluster.post("/chat/completions", &request).await;
        assert_eq!(response.status(), 200);
        let events = read_sse(response).await;
        assert_eq!(events.last().unwrap().data, "[DONE]");
        let usage_chunks: Vec<Value> = events
            .iter()
            .map(crate::inference_support::Sse::json)
            .filter(|chunk| chunk["choices"] == json!([]))
            .collect();
        if include_usage {
            assert_eq!(usage_chunks.len(), 1, "{events:?}");
            assert_eq!(usage_chunks[0]["usage"]["prompt_tokens"], 4);
            assert_eq!(usage_chunks[0]["usage"]["completion_tokens"], 2);
        } else {
            assert!(usage_chunks.is_empty(), "{events:?}");
        }
        let deltas: Vec<String> = events
            .iter()
            .filter_map(|event| chat_delta(&event.json()).map(str::to_owned))
            .collect();
        assert_eq!(deltas, ["Hel", "lo"]);
    }
}

#[tokio::test]
async fn the_room_code_is_case_insensitive() {
    let mut cluster = Cluster::start().await;
    cluster.join(participant("alice", "llama3")).await;
    let mut events = cluster.events().await;
    let base = cluster
        .hub
        .url_for(&format!("/rooms/{}/v1", cluster.code.to_lowercase()));
    let response = cluster
        .http
        .post(format!("{base}/chat/completions"))
        .json(&chat("alice", "hi"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = crate::inference_support::request_id(&response);
    // Its events reach a subscriber that spelled the code differently.
    let seen = crate::inference_support::llm_events_of(&mut events, &id).await;
    assert_eq!(seen[1].kind, "llm.complete");
    let response = cluster
        .http
        .get(format!("{base}/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

/// "Online" means fresh heartbeats as well as a tunnel: a participant whose heartbeats
/// stopped (while its tunnel still answers) is not chosen, until it heartbeats again.
#[tokio::test(start_paused = true)]
async fn a_participant_that_misses_its_heartbeats_is_not_chosen() {
    let config = gambi_hub::HubConfig {
        queue_timeout: Duration::from_secs(5),
        ..gambi_hub::HubConfig::default()
    };
    let cluster = Cluster::with(config, json!({"name": "Heartbeats"})).await;
    let mut raw = RawParticipant::join(&cluster, "raw", "raw-model").await;
    let mut events = cluster.events().await;

    // The tunnel stays alive; the heartbeats stop.
    for _ in 0..4 {
        raw.ping().await;
        tokio::time::advance(proto::HEALTH_CHECK_INTERVAL).await;
    }
    loop {
        let frame = events.next_event().await.unwrap();
        if frame.event() == Some("participant.offline") {
            assert_eq!(frame.json()["data"]["participantId"], "raw");
            break;
        }
    }
    let body: Value = cluster.get("/models").await.json().await.unwrap();
    assert_eq!(body["data"], json!([]), "not listed while offline");
    let response = cluster.post("/chat/completions", &chat("raw", "hi")).await;
    openai_error(response, 504, "QUEUE_TIMEOUT").await;

    // A heartbeat brings it back.
    crate::inference_support::heartbeat(&cluster, "raw").await;
    crate::inference_support::wait_routable(&cluster, "raw").await;
    let pending = tokio::spawn(
        cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat("raw", "hi"))
            .send(),
    );
    let request = raw.next_request().await;
    raw.start(&request.request_id, 200, "application/json")
        .await;
    raw.chunk(
        &request.request_id,
        &crate::inference_support::chat_completion_body("back"),
    )
    .await;
    raw.end(&request.request_id).await;
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(served_by(&response), "raw");
}
