//! What is not protocol-specific: listings, missing routes, auth, recording, the reply queue,
//! pacing, aborts, concurrency and shutdown.

use std::time::Duration;

use gambi_test_support::{FakeProvider, FakeProviderConfig, MissingRoute, Protocols, Reply};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::{client, first_events, get, json, post};

fn chat_request(stream: bool) -> Value {
    json!({"model": "fake-model", "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn lists_models() {
    let provider = FakeProvider::builder()
        .models(["llama3:latest", "org/model"])
        .start()
        .await;
    let (status, body) = json(get(&provider, "/v1/models").await).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"object": "list", "data": [
            {"id": "llama3:latest", "object": "model", "created": 1_700_000_000, "owned_by": "fake-provider"},
            {"id": "org/model", "object": "model", "created": 1_700_000_000, "owned_by": "fake-provider"},
        ]})
    );
    let (status, body) = json(get(&provider, "/v1/models/org/model").await).await;
    assert_eq!((status, body["id"].clone()), (200, json!("org/model")));
    let (status, body) = json(get(&provider, "/v1/models/llama3").await).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (404, json!("model_not_found"))
    );
    // Not Ollama: no tags route.
    let (status, body) = json(get(&provider, "/api/tags").await).await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
}

#[tokio::test]
async fn serves_ollama_tags() {
    let provider = FakeProvider::builder()
        .ollama()
        .models(["llama3:latest"])
        .start()
        .await;
    let (status, body) = json(get(&provider, "/api/tags").await).await;
    assert_eq!(status, 200);
    let models = body["models"].as_array().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["name"], "llama3:latest");
    assert_eq!(models[0]["model"], "llama3:latest");
    assert_eq!(models[0]["digest"].as_str().unwrap().len(), 64);
    assert_eq!(models[0]["details"]["format"], "gguf");
    // Stable between calls.
    let (_, again) = json(get(&provider, "/api/tags").await).await;
    assert_eq!(again, body);
    let (status, _) = json(get(&provider, "/v1/models").await).await;
    assert_eq!(status, 200);
}

async fn status_and_text(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn a_missing_protocol_answers_like_a_missing_route() {
    let chat_only = FakeProvider::builder().chat_only().start().await;
    let responses_request = json!({"model": "fake-model", "input": "hi"});
    for path in ["/v1/responses", "/v1/responses/resp_1/cancel"] {
        let (status, body) = json(post(&chat_only, path, &responses_request).await).await;
        assert_eq!(
            (status, body),
            (404, json!({"detail": "Not Found"})),
            "{path}"
        );
    }
    let (status, _) = json(get(&chat_only, "/v1/responses/resp_1").await).await;
    assert_eq!(status, 404);
    let (status, _) = json(post(&chat_only, "/v1/chat/completions", &json!({})).await).await;
    assert_eq!(status, 400, "the probe finds the route that exists");

    let responses_only = FakeProvider::builder()
        .responses_only()
        .missing_route(MissingRoute::PlainText)
        .start()
        .await;
    let response = post(
        &responses_only,
        "/v1/chat/completions",
        &chat_request(false),
    )
    .await;
    assert_eq!(
        status_and_text(response).await,
        (
            404,
            "text/plain; charset=utf-8".to_owned(),
            "404 page not found".to_owned()
        )
    );
    let (status, _) = json(post(&responses_only, "/v1/responses", &json!({})).await).await;
    assert_eq!(status, 400);
    let response = get(&responses_only, "/nowhere").await;
    assert_eq!(status_and_text(response).await.2, "404 page not found");
}

#[tokio::test]
async fn a_known_path_with_another_method_is_405() {
    let provider = FakeProvider::start(Default::default()).await;
    let (status, body) = json(get(&provider, "/v1/chat/completions").await).await;
    assert_eq!(
        (status, body),
        (405, json!({"detail": "Method Not Allowed"}))
    );
    let ollama = FakeProvider::builder().ollama().start().await;
    let response = get(&ollama, "/v1/responses").await;
    assert_eq!(status_and_text(response).await.2, "405 method not allowed");
}

#[tokio::test]
async fn requires_the_configured_header() {
    let provider = FakeProvider::builder()
        .require_bearer("secret")
        .start()
        .await;
    assert!(
        !format!("{:?}", provider.config()).contains("secret"),
        "Debug hides the value"
    );

    let (status, body) =
        json(post(&provider, "/v1/chat/completions", &chat_request(false)).await).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(body["error"]["code"], Value::Null);

    let response = client()
        .post(format!("{}/v1/chat/completions", provider.base_url()))
        .bearer_auth("wrong")
        .json(&chat_request(false))
        .send()
        .await
        .unwrap();
    let (status, body) = json(response).await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (401, json!("invalid_api_key"))
    );
    assert!(!body.to_string().contains("wrong"), "the key is not echoed");

    // Every route, the listings and the probes included.
    let (status, _) = json(get(&provider, "/v1/models").await).await;
    assert_eq!(status, 401);

    for (path, body) in [
        ("/v1/chat/completions", chat_request(false)),
        (
            "/v1/responses",
            json!({"model": "fake-model", "input": "hi"}),
        ),
    ] {
        let response = client()
            .post(format!("{}{path}", provider.base_url()))
            .bearer_auth("secret")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }

    let custom = FakeProvider::builder()
        .require_header("X-Api-Key", "k1")
        .start()
        .await;
    let response = client()
        .get(format!("{}/v1/models", custom.base_url()))
        .header("x-api-key", "k1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn records_every_request() {
    let provider = FakeProvider::start(Default::default()).await;
    let response = client()
        .post(format!(
            "{}/v1/chat/completions?trace=1",
            provider.base_url()
        ))
        .header("X-Custom-Thing", "Value")
        .json(&chat_request(false))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    get(&provider, "/v1/models").await;
    client()
        .post(format!("{}/v1/responses", provider.base_url()))
        .body("not json")
        .send()
        .await
        .unwrap();

    provider.wait_for_requests(3).await;
    let requests = provider.requests();
    assert_eq!(requests.len(), 3);
    let first = &requests[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/v1/chat/completions?trace=1");
    assert_eq!(first.header("x-custom-thing"), Some("Value"));
    assert_eq!(first.header("X-CUSTOM-THING"), Some("Value"));
    assert!(
        first
            .headers
            .iter()
            .any(|(name, _)| name == "x-custom-thing")
    );
    assert!(
        first
            .headers
            .iter()
            .all(|(name, _)| *name == name.to_lowercase())
    );
    assert_eq!(first.body, Some(chat_request(false)));
    assert_eq!(
        serde_json::from_slice::<Value>(&first.raw_body).unwrap(),
        chat_request(false)
    );
    assert_eq!(
        (requests[1].method.as_str(), requests[1].path.as_str()),
        ("GET", "/v1/models")
    );
    assert_eq!(requests[1].body, None);
    assert_eq!(requests[2].body, None);
    assert_eq!(&requests[2].raw_body[..], b"not json");
    assert!(requests[0].received_at <= requests[2].received_at);
    assert_eq!(provider.last_request().unwrap().path, "/v1/responses");

    provider.clear_requests();
    assert!(provider.requests().is_empty());
    assert_eq!(provider.request_count(), 3, "counters keep counting");
}

#[tokio::test]
async fn recording_can_be_turned_off() {
    let provider = FakeProvider::start(FakeProviderConfig {
        record_requests: false,
        ..Default::default()
    })
    .await;
    get(&provider, "/v1/models").await;
    assert!(provider.requests().is_empty());
    assert_eq!(provider.request_count(), 1);
}

async fn chat_text(provider: &FakeProvider) -> String {
    let (_, body) = json(post(provider, "/v1/chat/completions", &chat_request(false)).await).await;
    body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn takes_scripted_replies_in_order_then_the_default() {
    let provider = FakeProvider::builder()
        .default_reply(Reply::text("default"))
        .start()
        .await;
    provider.push_replies([Reply::text("first"), Reply::text("second")]);
    assert_eq!(provider.pending_replies(), 2);
    // Probes and rejected requests leave the queue alone.
    post(&provider, "/v1/chat/completions", &json!({})).await;
    assert_eq!(provider.pending_replies(), 2);
    assert_eq!(chat_text(&provider).await, "first");
    assert_eq!(chat_text(&provider).await, "second");
    assert_eq!(chat_text(&provider).await, "default");
    provider.set_default_reply(Reply::text("changed"));
    assert_eq!(chat_text(&provider).await, "changed");
    provider.push_reply(Reply::text("dropped"));
    provider.clear_replies();
    assert_eq!(chat_text(&provider).await, "changed");
    // Shared between the protocols.
    provider.push_reply(Reply::text("via responses"));
    let (_, body) = json(
        post(
            &provider,
            "/v1/responses",
            &json!({"model": "fake-model", "input": "x"}),
        )
        .await,
    )
    .await;
    assert_eq!(body["output"][0]["content"][0]["text"], "via responses");
}

#[tokio::test(start_paused = true)]
async fn paces_a_non_streamed_answer() {
    let provider = FakeProvider::builder()
        .first_token_delay(Duration::from_secs(2))
        .token_delay(Duration::from_secs(1))
        .start()
        .await;
    provider.push_reply(Reply::tokens(["a", "b", "c"]));
    let started = Instant::now();
    assert_eq!(chat_text(&provider).await, "abc");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_millis(4500),
        "{elapsed:?}"
    );

    // A reply's own delays win.
    provider.push_reply(
        Reply::tokens(["a", "b"])
            .first_token_delay(Duration::ZERO)
            .token_delay(Duration::from_secs(10)),
    );
    let started = Instant::now();
    chat_text(&provider).await;
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(10) && elapsed < Duration::from_millis(10500),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn paces_a_stream() {
    let provider = FakeProvider::builder()
        .first_token_delay(Duration::from_secs(2))
        .token_delay(Duration::from_secs(1))
        .start()
        .await;
    provider.push_reply(Reply::tokens(["a", "b", "c"]));
    let started = Instant::now();
    let mut response = post(&provider, "/v1/chat/completions", &chat_request(true)).await;
    assert_eq!(response.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "headers come at once"
    );
    let first = first_events(&mut response, 1).await;
    assert_eq!(first[0].json()["choices"][0]["delta"]["role"], "assistant");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "the first event waits for the first token"
    );
    response.text().await.unwrap();
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(4) && elapsed < Duration::from_millis(4500),
        "{elapsed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn dropping_a_stream_is_an_abort() {
    let provider = FakeProvider::builder()
        .token_delay(Duration::from_secs(1))
        .start()
        .await;
    provider.push_reply(Reply::text("word ".repeat(100)));
    let mut response = post(&provider, "/v1/chat/completions", &chat_request(true)).await;
    let events = first_events(&mut response, 2).await;
    assert_eq!(events[1].json()["choices"][0]["delta"]["content"], "word");
    assert_eq!(provider.in_flight(), 1);
    drop(response);
    provider.wait_for_abort().await;
    let stats = provider.stats();
    assert_eq!((stats.aborted, stats.completed, stats.in_flight), (1, 0, 0));
}

#[tokio::test]
async fn giving_up_on_a_hanging_request_is_an_abort() {
    let provider = FakeProvider::start(Default::default()).await;
    provider.push_reply(Reply::hang());
    let body = json!({"model": "fake-model", "input": "hi"});
    let request = post(&provider, "/v1/responses", &body);
    tokio::select! {
        _ = request => panic!("a hanging reply never answers"),
        () = provider.wait_for_in_flight(1) => {}
    }
    // The request future is dropped, and with it the connection.
    provider.wait_for_abort().await;
    assert_eq!(provider.in_flight(), 0);
}

#[tokio::test]
async fn counts_concurrent_requests() {
    let provider = FakeProvider::builder()
        .default_reply(Reply::text("a b c").stall_after(1))
        .start()
        .await;
    let mut first = post(&provider, "/v1/chat/completions", &chat_request(true)).await;
    let mut second = post(
        &provider,
        "/v1/responses",
        &json!({"model": "fake-model", "input": "hi", "stream": true}),
    )
    .await;
    first_events(&mut first, 2).await;
    first_events(&mut second, 5).await;
    provider.wait_for_in_flight(2).await;
    assert_eq!(provider.max_in_flight(), 2);
    drop(first);
    provider.wait_for_aborts(1).await;
    assert_eq!(provider.in_flight(), 1);
    drop(second);
    provider.wait_for_idle().await;
    let stats = provider.stats();
    assert_eq!(
        (stats.aborted, stats.max_in_flight, stats.received),
        (2, 2, 2)
    );
}

#[tokio::test]
async fn shutdown_makes_it_unreachable_until_restarted() {
    let provider = FakeProvider::start(Default::default()).await;
    provider.push_reply(Reply::text("after restart"));
    let (status, _) = json(get(&provider, "/v1/models").await).await;
    assert_eq!(status, 200);
    assert!(provider.is_running());

    provider.shutdown().await;
    assert!(!provider.is_running());
    let refused = client()
        .get(format!("{}/v1/models", provider.base_url()))
        .send()
        .await;
    assert!(refused.unwrap_err().is_connect());

    provider.restart().await.unwrap();
    assert!(provider.is_running());
    assert_eq!(chat_text(&provider).await, "after restart");
    assert_eq!(provider.request_count(), 2);
}

#[tokio::test]
async fn shutdown_cuts_requests_in_progress() {
    let provider = FakeProvider::start(Default::default()).await;
    provider.push_reply(Reply::text("a b c").stall_after(1));
    let mut response = post(&provider, "/v1/chat/completions", &chat_request(true)).await;
    first_events(&mut response, 2).await;
    provider.shutdown().await;
    assert!(response.chunk().await.is_err(), "the open stream is cut");
    assert_eq!(provider.stats().aborted, 1);
}

#[tokio::test]
async fn dropping_the_provider_closes_the_port() {
    let provider = FakeProvider::start(Default::default()).await;
    let url = format!("{}/v1/models", provider.base_url());
    drop(provider);
    // The server task is aborted, not awaited: give the runtime a moment to drop it, without
    // sleeping on the clock.
    for _ in 0..100 {
        if client().get(&url).send().await.is_err() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the port is still open after the provider was dropped");
}

#[tokio::test]
async fn the_protocols_knob_defaults_to_both() {
    let config = FakeProviderConfig::default();
    assert_eq!(config.protocols, Protocols::Both);
    assert_eq!(config.models, ["fake-model"]);
    assert_eq!(config.missing_route, MissingRoute::JsonDetail);
    assert!(!config.ollama_tags);
}
