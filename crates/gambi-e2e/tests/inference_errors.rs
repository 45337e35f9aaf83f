//! Inference errors end to end: every failure a client can meet comes back in the OpenAI
//! error shape `{"error": {"message", "type", "param", "code"}}` with our code, a status
//! that says what happened, and a message an OpenAI SDK shows to a person. None of them
//! is a bare 500 (the original crashed on malformed input and used `{"error": "text"}`).
#![allow(clippy::unwrap_used)] // Tests fail loudly.

mod inference_support;

use std::time::Duration;

use gambi_hub::HubConfig;
use gambi_protocol as proto;
use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use inference_support::{
    RawParticipant, chat, chat_stream, next_llm, openai_error, register, responses, within,
};
use serde_json::{Value, json};

fn message(error: &Value) -> &str {
    error["message"].as_str().unwrap()
}

#[tokio::test]
async fn unknown_room() {
    let cluster = Cluster::start().await;
    let base = cluster.hub.url_for("/rooms/NOPE42/v1");
    for (path, body) in [
        ("/chat/completions", Some(chat("*", "hi"))),
        ("/responses", Some(responses("*", "hi"))),
        ("/models", None),
    ] {
        let request = match &body {
            Some(body) => cluster.http.post(format!("{base}{path}")).json(body),
            None => cluster.http.get(format!("{base}{path}")),
        };
        let response = request.send().await.unwrap();
        let error = openai_error(response, 404, "ROOM_NOT_FOUND").await;
        assert!(message(&error).contains("NOPE42"), "{error}");
        assert_eq!(error["type"], "invalid_request_error");
    }
}

#[tokio::test]
async fn no_participant_serves_the_model_fails_at_once() {
    // The default queue timeout is a minute: a request that queued would trip `within`.
    let mut cluster = Cluster::start().await;
    let empty = within(
        "empty room",
        cluster.post("/chat/completions", &chat("*", "hi")),
    )
    .await;
    let error = openai_error(empty, 404, "MODEL_NOT_FOUND").await;
    assert!(message(&error).contains("No participant"), "{error}");

    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    for (model, named) in [
        ("model:gpt-9", "'gpt-9'"),
        ("gpt-9", "'gpt-9'"),
        // `model:` names models only, never participant ids.
        ("model:alice", "'alice'"),
    ] {
        for path in ["/chat/completions", "/responses"] {
            let body = if path == "/responses" {
                responses(model, "hi")
            } else {
                chat(model, "hi")
            };
            let response = within(model, cluster.post(path, &body)).await;
            let error = openai_error(response, 404, "MODEL_NOT_FOUND").await;
            assert!(message(&error).contains(named), "{model}: {error}");
            assert!(message(&error).contains("/models"), "says where to look");
            assert_eq!(error["param"], "model");
        }
    }
    assert!(
        inference_support::generations(&cluster.member("alice").provider).is_empty(),
        "nothing reached a provider"
    );
}

#[tokio::test]
async fn unknown_participant_id() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let mut events = cluster.events().await;
    let response = within(
        "unknown id",
        cluster.post("/chat/completions", &chat("nobody", "hi")),
    )
    .await;
    let error = openai_error(response, 404, "MODEL_NOT_FOUND").await;
    assert!(message(&error).contains("'nobody'"), "{error}");
    assert_eq!(error["param"], "model");

    // The failure is reported on the event stream too, as a routing error.
    let event = next_llm(&mut events).await;
    assert_eq!(event.kind, "llm.error");
    assert_eq!(event.data["stage"], "routing");
    assert_eq!(event.data["model"], "nobody");
    assert_eq!(event.data["error"], error["message"]);
}

/// A participant that never connected, or whose tunnel dropped longer ago than the
/// liveness window, will not serve anything soon: requests only it could serve are
/// answered at once (the original's 503 "not connected" for a participant id, 404 for a
/// model), not after a minute in the queue.
#[tokio::test(start_paused = true)]
async fn requests_for_offline_participants_fail_at_once() {
    let cluster = Cluster::start().await;
    // Never connected.
    register(&cluster, "ghost", "ghost-model").await;
    // Connected, then its tunnel dropped (its runtime crashed without leaving) and it did
    // not come back within the liveness window.
    let raw = RawParticipant::join(&cluster, "crashed", "crashed-model").await;
    drop(raw);
    inference_support::wait_disconnected(&cluster, "crashed").await;
    tokio::time::sleep(proto::PARTICIPANT_TIMEOUT + proto::HEALTH_CHECK_INTERVAL).await;
    let mut events = cluster.events().await;

    for (model, status, code, says) in [
        (
            "ghost",
            503,
            "PARTICIPANT_TUNNEL_NOT_CONNECTED",
            "Participant 'ghost' is not connected.",
        ),
        (
            "model:ghost-model",
            404,
            "NO_PARTICIPANT_ONLINE",
            "No participant online for model 'ghost-model'.",
        ),
        (
            "crashed",
            503,
            "PARTICIPANT_TUNNEL_NOT_CONNECTED",
            "Participant 'crashed' is not connected.",
        ),
        (
            "crashed-model",
            404,
            "NO_PARTICIPANT_ONLINE",
            "No participant online for model 'crashed-model'.",
        ),
        (
            "*",
            404,
            "NO_PARTICIPANT_ONLINE",
            "No participant in this room is online.",
        ),
    ] {
        let started = tokio::time::Instant::now();
        let response = cluster.post("/chat/completions", &chat(model, "hi")).await;
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{model}: it waited"
        );
        let error = openai_error(response, status, code).await;
        assert!(message(&error).starts_with(says), "{error}");
        assert_eq!(error["param"], "model");
        let event = next_llm(&mut events).await;
        assert_eq!(event.kind, "llm.error");
        assert_eq!(event.data["stage"], "routing");
        assert_eq!(event.data["model"], model);
    }
    assert_eq!(cluster.snapshot().queued, 0);
}

/// A participant whose tunnel just dropped is probably reconnecting: requests for it wait
/// in the queue and are served when it is back; if it stays away past the liveness
/// window, they fail then, without waiting for the whole queue timeout.
#[tokio::test(start_paused = true)]
async fn requests_wait_for_a_participant_reconnecting_within_the_liveness_window() {
    let cluster = Cluster::start().await;
    let raw = RawParticipant::join(&cluster, "flaky", "flaky-model").await;
    drop(raw);
    inference_support::wait_disconnected(&cluster, "flaky").await;

    let waiting = tokio::spawn({
        let request = cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&chat("flaky", "hi"));
        async move { request.send().await.unwrap() }
    });
    cluster
        .wait_for_scheduler(|snapshot| snapshot.queued == 1)
        .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut raw = RawParticipant::join(&cluster, "flaky", "flaky-model").await;
    let request = raw.next_request().await;
    raw.start(&request.request_id, 200, "application/json")
        .await;
    raw.chunk(
        &request.request_id,
        &inference_support::chat_completion_body("back"),
    )
    .await;
    raw.end(&request.request_id).await;
    let response = waiting.await.unwrap();
    assert_eq!(response.status(), 200);

    // Gone again, for good this time: the waiting request fails when the window closes.
    drop(raw);
    inference_support::wait_disconnected(&cluster, "flaky").await;
    let started = tokio::time::Instant::now();
    let response = cluster
        .post("/chat/completions", &chat("flaky-model", "hi"))
        .await;
    let waited = started.elapsed();
    assert!(
        waited >= proto::PARTICIPANT_TIMEOUT
            && waited <= proto::PARTICIPANT_TIMEOUT + proto::HEALTH_CHECK_INTERVAL * 2,
        "waited {waited:?}"
    );
    openai_error(response, 404, "NO_PARTICIPANT_ONLINE").await;
}

#[tokio::test]
async fn malformed_requests_are_400_and_name_the_field() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let url = format!("{}/chat/completions", cluster.base_url());
    let cases: [(&str, &str, Option<&str>, &str); 6] = [
        ("{not json", "INVALID_REQUEST", None, "Invalid JSON"),
        ("[1, 2]", "INVALID_REQUEST", None, "JSON object"),
        (
            r#"{"messages": []}"#,
            "INVALID_REQUEST",
            Some("model"),
            "'model'",
        ),
        (
            r#"{"model": 7, "messages": []}"#,
            "INVALID_REQUEST",
            Some("model"),
            "'model'",
        ),
        (
            r#"{"model": "alice", "messages": [], "stream": "yes"}"#,
            "INVALID_REQUEST",
            Some("stream"),
            "'stream'",
        ),
        ("", "INVALID_REQUEST", None, "Invalid JSON"),
    ];
    for path in ["/chat/completions", "/responses"] {
        let url = url.replace("/chat/completions", path);
        for (body, code, param, named) in cases {
            let response = cluster
                .http
                .post(&url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let error = openai_error(response, 400, code).await;
            assert_eq!(error["type"], "invalid_request_error");
            assert_eq!(error["param"].as_str(), param, "{body}: {error}");
            assert!(message(&error).contains(named), "{body}: {error}");
        }
    }
    assert!(inference_support::generations(&cluster.member("alice").provider).is_empty());

    // A body the hub can route but the provider rejects: the provider's 400 comes back,
    // never a crash.
    let response = cluster
        .post(
            "/chat/completions",
            &json!({"model": "alice", "messages": "hi"}),
        )
        .await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test]
async fn body_too_large_is_413() {
    let config = HubConfig {
        max_inference_body: 1024,
        ..HubConfig::default()
    };
    let mut cluster = Cluster::with(config, json!({"name": "Small"})).await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let response = cluster
        .post("/chat/completions", &chat("alice", &"x".repeat(4096)))
        .await;
    let error = openai_error(response, 413, "PAYLOAD_TOO_LARGE").await;
    assert!(message(&error).contains("1024 bytes"), "{error}");
    assert!(inference_support::generations(&cluster.member("alice").provider).is_empty());

    let response = cluster
        .post("/chat/completions", &chat("alice", "hi"))
        .await;
    assert_eq!(response.status(), 200, "a small one still passes");
}

#[tokio::test]
async fn protected_room_needs_the_password_as_api_key() {
    let mut cluster = Cluster::with(
        HubConfig::default(),
        json!({"name": "Locked", "password": "s3cret"}),
    )
    .await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let base = cluster.base_url();
    for key in [None, Some("wrong"), Some("")] {
        for (path, body) in [
            ("/chat/completions", Some(chat("alice", "hi"))),
            ("/responses", Some(responses("alice", "hi"))),
            ("/models", None),
        ] {
            let mut request = match &body {
                Some(body) => cluster.http.post(format!("{base}{path}")).json(body),
                None => cluster.http.get(format!("{base}{path}")),
            };
            if let Some(key) = key {
                request = request.bearer_auth(key);
            }
            let response = request.send().await.unwrap();
            let error = openai_error(response, 401, "INVALID_PASSWORD").await;
            assert_eq!(error["type"], "authentication_error");
            assert!(message(&error).contains("password"), "{error}");
            assert!(!message(&error).contains("s3cret"));
        }
    }
    assert!(inference_support::generations(&cluster.member("alice").provider).is_empty());

    // `Cluster::post` presents the room password.
    let response = cluster
        .post("/chat/completions", &chat("alice", "hi"))
        .await;
    assert_eq!(response.status(), 200);
    let response = cluster.post("/responses", &responses("alice", "hi")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(cluster.get("/models").await.status(), 200);
    // The password never reaches the provider.
    for request in inference_support::generations(&cluster.member("alice").provider) {
        assert!(request.header("authorization").is_none());
    }
}

#[tokio::test]
async fn provider_errors_keep_their_status_and_body() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;

    // Streamed or not, a provider's error answer comes back as the JSON it is, with its
    // status (not relabelled as an event stream).
    for body in [chat("alice", "hi"), chat_stream("alice", "hi")] {
        provider.push_reply(Reply::rate_limited());
        let response = cluster.post("/chat/completions", &body).await;
        let error = openai_error(response, 429, "rate_limit_exceeded").await;
        assert!(message(&error).contains("Rate limit"));
    }

    // A plain-text error keeps its status and text.
    provider.push_reply(Reply::error_text(400, "bad things"));
    let response = cluster
        .post("/chat/completions", &chat("alice", "hi"))
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.text().await.unwrap(), "bad things");
}

#[tokio::test]
async fn lifecycle_on_a_disconnected_participant_is_a_clear_error() {
    let cluster = Cluster::start().await;
    let mut raw = RawParticipant::join(&cluster, "raw", "raw-model").await;
    let client = tokio::spawn(
        cluster
            .http
            .post(format!("{}/responses", cluster.base_url()))
            .json(&responses("raw", "hi"))
            .send(),
    );
    let request = raw.next_request().await;
    assert_eq!(request.path, "/v1/responses");
    raw.start(&request.request_id, 200, "application/json")
        .await;
    let body =
        json!({"id": "resp_raw1", "object": "response", "status": "completed", "output": []});
    raw.chunk(&request.request_id, body.to_string().as_bytes())
        .await;
    raw.end(&request.request_id).await;
    assert_eq!(client.await.unwrap().unwrap().status(), 200);

    drop(raw);
    inference_support::wait_disconnected(&cluster, "raw").await;
    let response = cluster.get("/responses/resp_raw1").await;
    let error = openai_error(response, 503, "PARTICIPANT_TUNNEL_NOT_CONNECTED").await;
    assert!(message(&error).contains("'raw'"), "{error}");
}

/// When the only other participant that could take over a failed request is not
/// connected, there is nobody to fail over to; the client then gets the failure that
/// actually happened, at once, not "no participant online".
#[tokio::test(start_paused = true)]
async fn a_failover_with_nobody_online_reports_the_real_failure() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    register(&cluster, "ghost", "llama3").await; // same model, never connected
    cluster.member("alice").provider.shutdown().await;
    let mut events = cluster.events().await;

    let started = tokio::time::Instant::now();
    let response = cluster
        .post("/chat/completions", &chat("llama3", "hi"))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the failover did not wait"
    );
    let error = openai_error(response, 502, "PROVIDER_ERROR").await;
    assert!(message(&error).contains("'alice'"), "{error}");

    let request = next_llm(&mut events).await;
    assert_eq!(request.kind, "llm.request");
    let failed = next_llm(&mut events).await;
    assert_eq!(failed.kind, "llm.error");
    assert_eq!(failed.data["stage"], "dispatch");
    // Then the next request's events: the failed one had exactly one terminal event.
    cluster.member("alice").provider.restart().await.unwrap();
    let response = cluster
        .post("/chat/completions", &chat("alice", "hi"))
        .await;
    assert_eq!(response.status(), 200);
    let next = next_llm(&mut events).await;
    assert_eq!(next.kind, "llm.request");
    assert_ne!(next.request_id(), request.request_id());
}
