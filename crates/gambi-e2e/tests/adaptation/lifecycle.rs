//! The Responses lifecycle routes on native responses (proxied to the participant that
//! created them) and adapted ones (served from the hub's store), and `previous_response_id`
//! on a participant that keeps no state.

use gambi_test_support::{Cluster, Protocols, Reply};
use serde_json::{Value, json};

use crate::support::{
    RoomEvents, body, cluster_with, delete_json, generations, get_json, paths, post_json, speaking,
    stream, within,
};

/// Checks an OpenAI-shaped error with `status`.
fn assert_error(status: u16, answer: &Value, expected: u16) {
    assert_eq!(status, expected, "{answer}");
    let error = &answer["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{answer}"
    );
    assert!(error["type"].is_string(), "{answer}");
    assert!(error.get("param").is_some(), "{answer}");
    assert!(error.get("code").is_some(), "{answer}");
}

/// Creates a Response and returns it.
async fn create(cluster: &Cluster, request: &Value) -> Value {
    let (status, response) = post_json(cluster, "/responses", request).await;
    assert_eq!(status, 200, "{response}");
    response
}

/// Creates a second room on the same hub and returns its code.
async fn other_room(cluster: &Cluster) -> String {
    let created: Value = within(
        "the other room",
        cluster
            .http
            .post(cluster.hub.url_for("/v1/rooms"))
            .json(&json!({"name": "Other room"}))
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    created["data"]["room"]["code"].as_str().unwrap().to_owned()
}

/// `GET /rooms/{code}/v1{path}` for any room of the cluster's hub.
async fn get_in_room(cluster: &Cluster, code: &str, path: &str) -> (u16, Value) {
    let response = within(
        "the hub",
        cluster
            .http
            .get(cluster.hub.url_for(&format!("/rooms/{code}/v1{path}")))
            .send(),
    )
    .await
    .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn conversation_input() -> Value {
    json!([
        {"role": "developer", "content": "Answer in one word."},
        {"role": "user", "content": "Colour of the sky?"},
        {"role": "assistant", "content": "Blue."},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "And grass?"}]},
    ])
}

#[tokio::test]
async fn native_responses_are_proxied_to_their_participant() {
    let cluster = cluster_with(speaking("alice", "llama3", Protocols::ResponsesOnly)).await;
    let provider = &cluster.member("alice").provider;
    let response = create(
        &cluster,
        &json!({"model": "llama3", "input": conversation_input()}),
    )
    .await;
    let id = response["id"].as_str().unwrap().to_owned();
    assert!(provider.stored_response(&id).is_some(), "created natively");
    provider.clear_requests();

    let (status, retrieved) = get_json(&cluster, &format!("/responses/{id}")).await;
    assert_eq!(status, 200, "{retrieved}");
    assert_eq!(retrieved, response);

    let (status, items) = get_json(
        &cluster,
        &format!("/responses/{id}/input_items?limit=2&order=asc"),
    )
    .await;
    assert_eq!(status, 200, "{items}");
    assert_eq!(items["object"], "list");
    assert_eq!(items["data"].as_array().unwrap().len(), 2, "{items}");
    assert_eq!(items["has_more"], true);

    let cancel = within(
        "the hub",
        cluster.post(&format!("/responses/{id}/cancel"), &json!({})),
    )
    .await;
    assert_eq!(cancel.status(), 200);

    let (status, deleted) = delete_json(&cluster, &format!("/responses/{id}")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );
    assert_eq!(
        paths(&cluster, "alice"),
        [
            format!("GET /v1/responses/{id}"),
            format!("GET /v1/responses/{id}/input_items?limit=2&order=asc"),
            format!("POST /v1/responses/{id}/cancel"),
            format!("DELETE /v1/responses/{id}"),
        ]
    );

    let (status, answer) = get_json(&cluster, &format!("/responses/{id}")).await;
    assert_error(status, &answer, 404);
    let (status, answer) = delete_json(&cluster, &format!("/responses/{id}")).await;
    assert_error(status, &answer, 404);
}

#[tokio::test]
async fn a_streamed_native_response_can_be_retrieved() {
    let cluster = cluster_with(speaking("bob", "llama3", Protocols::Both)).await;
    let frames = stream(
        &cluster,
        "/responses",
        &json!({"model": "llama3", "input": "hello", "stream": true}),
    )
    .await;
    let completed = frames.last().unwrap().json();
    assert_eq!(completed["type"], "response.completed");
    let id = completed["response"]["id"].as_str().unwrap().to_owned();
    let (status, retrieved) = get_json(&cluster, &format!("/responses/{id}")).await;
    assert_eq!(status, 200, "{retrieved}");
    assert_eq!(retrieved["id"], id.as_str());
    assert_eq!(retrieved["status"], "completed");
    assert_eq!(
        paths(&cluster, "bob").last().unwrap(),
        &format!("GET /v1/responses/{id}")
    );
}

#[tokio::test]
async fn adapted_responses_are_served_from_the_hub() {
    let cluster = cluster_with(speaking("carol", "llama3", Protocols::ChatOnly)).await;
    cluster
        .member("carol")
        .provider
        .push_reply(Reply::text("Green."));
    let response = create(
        &cluster,
        &json!({"model": "llama3", "input": conversation_input()}),
    )
    .await;
    let id = response["id"].as_str().unwrap().to_owned();
    cluster.member("carol").provider.clear_requests();

    let (status, retrieved) = get_json(&cluster, &format!("/responses/{id}")).await;
    assert_eq!(status, 200, "{retrieved}");
    assert_eq!(retrieved, response);

    // Newest first by default, every item with an id, in OpenAI's list shape.
    let (status, page) = get_json(&cluster, &format!("/responses/{id}/input_items")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["object"], "list");
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 4, "{page}");
    assert_eq!(data[0]["role"], "user");
    assert_eq!(data[0]["content"][0]["text"], "And grass?");
    assert_eq!(data[3]["role"], "developer");
    assert!(
        data.iter()
            .all(|item| item["id"].is_string() && item["type"] == "message")
    );
    assert_eq!(page["first_id"], data[0]["id"]);
    assert_eq!(page["last_id"], data[3]["id"]);
    assert_eq!(page["has_more"], false);

    // Pages in ascending order, continued with `after`.
    let (status, first) = get_json(
        &cluster,
        &format!("/responses/{id}/input_items?limit=2&order=asc"),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"][0]["id"], data[3]["id"]);
    assert_eq!(first["data"][1]["id"], data[2]["id"]);
    assert_eq!(first["has_more"], true);
    let after = first["last_id"].as_str().unwrap();
    let (status, second) = get_json(
        &cluster,
        &format!("/responses/{id}/input_items?limit=2&order=asc&after={after}"),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["data"][0]["id"], data[1]["id"]);
    assert_eq!(second["data"][1]["id"], data[0]["id"]);
    assert_eq!(second["first_id"], data[1]["id"]);
    assert_eq!(second["last_id"], data[0]["id"]);
    assert_eq!(second["has_more"], false);
    let (status, answer) =
        get_json(&cluster, &format!("/responses/{id}/input_items?limit=0")).await;
    assert_error(status, &answer, 400);

    // A finished response cannot be cancelled; the answer says so in OpenAI's shape.
    let cancel = within(
        "the hub",
        cluster.post(&format!("/responses/{id}/cancel"), &json!({})),
    )
    .await;
    let status = cancel.status().as_u16();
    assert_error(status, &cancel.json().await.unwrap(), 400);

    let (status, deleted) = delete_json(&cluster, &format!("/responses/{id}")).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted,
        json!({"id": id, "object": "response", "deleted": true})
    );
    for path in [
        format!("/responses/{id}"),
        format!("/responses/{id}/input_items"),
    ] {
        let (status, answer) = get_json(&cluster, &path).await;
        assert_error(status, &answer, 404);
    }
    let (status, answer) = delete_json(&cluster, &format!("/responses/{id}")).await;
    assert_error(status, &answer, 404);
    assert!(
        paths(&cluster, "carol").is_empty(),
        "a chat-only provider is never asked about responses"
    );
}

#[tokio::test]
async fn a_streamed_adapted_response_is_stored_too() {
    let cluster = cluster_with(speaking("dave", "llama3", Protocols::ChatOnly)).await;
    cluster
        .member("dave")
        .provider
        .push_reply(Reply::text("Streamed and kept"));
    let frames = stream(
        &cluster,
        "/responses",
        &json!({"model": "llama3", "input": "keep this", "stream": true}),
    )
    .await;
    let completed = frames.last().unwrap().json();
    assert_eq!(completed["type"], "response.completed");
    let id = completed["response"]["id"].as_str().unwrap().to_owned();
    let (status, retrieved) = get_json(&cluster, &format!("/responses/{id}")).await;
    assert_eq!(status, 200, "{retrieved}");
    assert_eq!(retrieved, completed["response"]);
    assert_eq!(retrieved["output_text"], "Streamed and kept");
    let (status, items) = get_json(&cluster, &format!("/responses/{id}/input_items")).await;
    assert_eq!(status, 200, "{items}");
    assert_eq!(items["data"][0]["content"][0]["text"], "keep this");
}

#[tokio::test]
async fn store_false_keeps_nothing() {
    let cluster = cluster_with(speaking("erin", "llama3", Protocols::ChatOnly)).await;
    let response = create(
        &cluster,
        &json!({"model": "llama3", "input": "forget me", "store": false}),
    )
    .await;
    let id = response["id"].as_str().unwrap();
    let (status, answer) = get_json(&cluster, &format!("/responses/{id}")).await;
    assert_error(status, &answer, 404);
}

/// The messages the provider of `id` received in its latest generation request.
fn last_messages(cluster: &Cluster, id: &str) -> Value {
    let sent = generations(cluster, id);
    body(sent.last().unwrap())["messages"].clone()
}

#[tokio::test]
async fn previous_response_id_rebuilds_the_conversation_for_a_chat_provider() {
    let cluster = cluster_with(speaking("fay", "llama3", Protocols::ChatOnly)).await;
    let provider = &cluster.member("fay").provider;
    provider.push_replies([
        Reply::text("Nice to meet you, Ada."),
        Reply::text("Your name is Ada."),
        Reply::text("Ada Lovelace."),
    ]);

    let first = create(
        &cluster,
        &json!({"model": "llama3", "instructions": "Be kind.", "input": "My name is Ada."}),
    )
    .await;
    assert_eq!(
        last_messages(&cluster, "fay"),
        json!([
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "My name is Ada."},
        ])
    );

    // Turn 2, streamed: the instructions of turn 1 are not carried over (as OpenAI does).
    let frames = stream(
        &cluster,
        "/responses",
        &json!({"model": "llama3", "previous_response_id": first["id"],
                "input": "What is my name?", "stream": true}),
    )
    .await;
    let second = frames.last().unwrap().json()["response"].clone();
    assert_eq!(second["status"], "completed", "{second}");
    assert_eq!(second["previous_response_id"], first["id"]);
    assert_eq!(
        last_messages(&cluster, "fay"),
        json!([
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Nice to meet you, Ada."},
            {"role": "user", "content": "What is my name?"},
        ])
    );

    // Turn 3 chains on turn 2 and has instructions of its own.
    let third = create(
        &cluster,
        &json!({"model": "llama3", "previous_response_id": second["id"],
                "instructions": "Be brief.", "input": [{"role": "user", "content": "Full name?"}]}),
    )
    .await;
    assert_eq!(third["output_text"], "Ada Lovelace.");
    assert_eq!(
        last_messages(&cluster, "fay"),
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Nice to meet you, Ada."},
            {"role": "user", "content": "What is my name?"},
            {"role": "assistant", "content": "Your name is Ada."},
            {"role": "user", "content": "Full name?"},
        ])
    );
}

#[tokio::test]
async fn previous_response_id_carries_a_tool_call_to_a_chat_provider() {
    let cluster = cluster_with(speaking("gus", "llama3", Protocols::ChatOnly)).await;
    let provider = &cluster.member("gus").provider;
    provider.push_replies([
        Reply::tool_call("get_time", json!({"zone": "UTC"})),
        Reply::text("It is noon."),
    ]);
    let tools = json!([{"type": "function", "name": "get_time", "parameters": {"type": "object"}}]);
    let first = create(
        &cluster,
        &json!({"model": "llama3", "input": "Time?", "tools": tools}),
    )
    .await;
    let call = first["output"][0].clone();
    assert_eq!(call["type"], "function_call", "{first}");
    let second = create(
        &cluster,
        &json!({"model": "llama3", "previous_response_id": first["id"], "tools": tools,
                "input": [{"type": "function_call_output", "call_id": call["call_id"], "output": "12:00"}]}),
    )
    .await;
    assert_eq!(second["output_text"], "It is noon.");
    assert_eq!(
        last_messages(&cluster, "gus"),
        json!([
            {"role": "user", "content": "Time?"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": call["call_id"], "type": "function",
                "function": {"name": "get_time", "arguments": call["arguments"]},
            }]},
            {"role": "tool", "tool_call_id": call["call_id"], "content": "12:00"},
        ])
    );
}

#[tokio::test]
async fn an_unknown_previous_response_id_is_a_404() {
    let cluster = cluster_with(speaking("hal", "llama3", Protocols::ChatOnly)).await;
    let (status, answer) = post_json(
        &cluster,
        "/responses",
        &json!({"model": "llama3", "previous_response_id": "resp_nope", "input": "hi"}),
    )
    .await;
    assert_error(status, &answer, 404);
    assert_eq!(answer["error"]["param"], "previous_response_id");
    assert!(generations(&cluster, "hal").is_empty());
}

#[tokio::test]
async fn unknown_ids_and_other_rooms_responses_are_404() {
    let mut cluster = cluster_with(speaking("ivy", "llama3", Protocols::ChatOnly)).await;
    within(
        "the second participant",
        cluster.join(speaking("jo", "qwen", Protocols::Both)),
    )
    .await;
    let adapted = create(&cluster, &json!({"model": "llama3", "input": "one"})).await;
    let native = create(&cluster, &json!({"model": "qwen", "input": "two"})).await;
    let other = other_room(&cluster).await;
    for id in [&adapted["id"], &native["id"]] {
        let id = id.as_str().unwrap();
        let (status, _) = get_json(&cluster, &format!("/responses/{id}")).await;
        assert_eq!(status, 200);
        for path in [
            format!("/responses/{id}"),
            format!("/responses/{id}/input_items"),
        ] {
            let (status, answer) = get_in_room(&cluster, &other, &path).await;
            assert_error(status, &answer, 404);
        }
    }
    for path in [
        "/responses/resp_unknown",
        "/responses/resp_unknown/input_items",
    ] {
        let (status, answer) = get_json(&cluster, path).await;
        assert_error(status, &answer, 404);
    }
    let (status, answer) = delete_json(&cluster, "/responses/resp_unknown").await;
    assert_error(status, &answer, 404);
    let cancel = within(
        "the hub",
        cluster.post("/responses/resp_unknown/cancel", &json!({})),
    )
    .await;
    let status = cancel.status().as_u16();
    assert_error(status, &cancel.json().await.unwrap(), 404);
}

#[tokio::test]
async fn a_native_response_whose_participant_left_is_a_clear_404() {
    let cluster = cluster_with(speaking("kim", "llama3", Protocols::Both)).await;
    let response = create(&cluster, &json!({"model": "llama3", "input": "hello"})).await;
    let id = response["id"].as_str().unwrap().to_owned();
    let mut events = RoomEvents::subscribe(&cluster).await;
    within(
        "the session to close",
        cluster.member("kim").session.close(),
    )
    .await;
    events.until("participant.left").await;

    for path in [
        format!("/responses/{id}"),
        format!("/responses/{id}/input_items"),
    ] {
        let (status, answer) = get_json(&cluster, &path).await;
        assert_error(status, &answer, 404);
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("kim") && message.contains("left"),
            "{answer}"
        );
    }
    let (status, answer) = delete_json(&cluster, &format!("/responses/{id}")).await;
    assert_error(status, &answer, 404);
}

#[tokio::test]
async fn a_client_that_stops_reading_at_response_completed_can_chain_on_it() {
    // Agent loops often break out of the event loop at `response.completed` and send the
    // next turn at once; the hub must have stored the response by then.
    let cluster = cluster_with(speaking("lee", "llama3", Protocols::ChatOnly)).await;
    let mut events = RoomEvents::subscribe(&cluster).await;
    for turn in 0..20 {
        let request = json!({"model": "llama3", "input": format!("turn {turn}"), "stream": true});
        let response = within("the hub", cluster.post("/responses", &request)).await;
        let mut reader = gambi_test_support::sse::EventReader::new(response);
        let completed = loop {
            let frame = within("an event", reader.next_event()).await.unwrap();
            if frame.event() == Some("response.completed") {
                break frame.json();
            }
        };
        drop(reader);
        let id = completed["response"]["id"].clone();
        events.request().await;
        let (status, answer) = post_json(
            &cluster,
            "/responses",
            &json!({"model": "llama3", "previous_response_id": id, "input": "next"}),
        )
        .await;
        assert_eq!(status, 200, "turn {turn}: {answer}");
        events.request().await;
    }
}

#[tokio::test]
async fn a_native_response_still_streaming_can_be_retrieved_and_cancelled() {
    let cluster = cluster_with(speaking("mia", "llama3", Protocols::Both)).await;
    cluster
        .member("mia")
        .provider
        .push_reply(Reply::text("one two three four").stall_after(1));
    let request = json!({"model": "llama3", "input": "go slowly", "stream": true});
    let response = within("the hub", cluster.post("/responses", &request)).await;
    assert_eq!(response.status(), 200);
    let mut reader = gambi_test_support::sse::EventReader::new(response);
    let mut id = None;
    loop {
        let frame = within("an event", reader.next_event()).await.unwrap();
        if frame.event() == Some("response.created") {
            id = frame.json()["response"]["id"].as_str().map(str::to_owned);
        }
        if frame.event() == Some("response.output_text.delta") {
            break;
        }
    }
    let id = id.expect("response.created names the response");

    let (status, retrieved) = get_json(&cluster, &format!("/responses/{id}")).await;
    assert_eq!(status, 200, "{retrieved}");
    assert_eq!(retrieved["status"], "in_progress");
    let cancel = within(
        "the hub",
        cluster.post(&format!("/responses/{id}/cancel"), &json!({})),
    )
    .await;
    assert_eq!(cancel.status(), 200);
    let cancelled: Value = cancel.json().await.unwrap();
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    drop(reader);
}

#[tokio::test]
async fn an_adapted_response_outlives_its_participant() {
    let mut cluster = cluster_with(speaking("nia", "llama3", Protocols::ChatOnly)).await;
    within(
        "the second participant",
        cluster.join(speaking("oz", "qwen", Protocols::Both)),
    )
    .await;
    cluster
        .member("nia")
        .provider
        .push_reply(Reply::text("Noted: blue."));
    let first = create(
        &cluster,
        &json!({"model": "llama3", "input": "My favourite colour is blue."}),
    )
    .await;
    let id = first["id"].as_str().unwrap().to_owned();
    let mut events = RoomEvents::subscribe(&cluster).await;
    within(
        "the session to close",
        cluster.member("nia").session.close(),
    )
    .await;
    events.until("participant.left").await;

    let (status, retrieved) = get_json(&cluster, &format!("/responses/{id}")).await;
    assert_eq!(status, 200, "{retrieved}");
    assert_eq!(retrieved, first);

    // The conversation continues on another participant, which speaks Responses natively:
    // it gets the whole history as input items.
    cluster.member("oz").provider.clear_requests();
    let second = create(
        &cluster,
        &json!({"model": "*", "previous_response_id": id, "input": "What is my favourite colour?"}),
    )
    .await;
    assert_eq!(second["status"], "completed", "{second}");
    let sent = body(&generations(&cluster, "oz")[0]);
    assert!(sent.get("previous_response_id").is_none(), "{sent}");
    let input = sent["input"].as_array().unwrap();
    let texts: Vec<&str> = input
        .iter()
        .map(|item| item["content"][0]["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "My favourite colour is blue.",
            "Noted: blue.",
            "What is my favourite colour?"
        ]
    );
    assert_eq!(input[1]["role"], "assistant");
}
