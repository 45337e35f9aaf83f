//! Failover: a participant that fails before the first byte is replaced once by another;
//! once bytes have reached the client, a failure is the client's to see.

use gambi_hub::HubConfig;
use gambi_test_support::{Cluster, ParticipantSpec, Reply, StreamFailure};
use serde_json::{Value, json};

use crate::common::{
    Events, assert_slots_free, chat, header, next_request_succeeds, prompts, read_chat_stream,
    spawn_post,
};

/// Alice and Bob, one slot each, serving the same model.
async fn pair(config: HubConfig) -> Cluster {
    let mut cluster = Cluster::with(config, json!({"name": "Failover"})).await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    cluster.join(ParticipantSpec::new("bob", "llama3")).await;
    cluster
}

/// Bob's only slot, taken by a stream that never ends until dropped, so the next request
/// goes to Alice.
async fn occupy_bob(cluster: &Cluster) -> reqwest::Response {
    let bob = &cluster.member("bob").provider;
    bob.push_reply(Reply::text("busy").stall_after(1));
    let response = cluster
        .post("/chat/completions", &chat("bob", "occupy", true))
        .await;
    assert_eq!(response.status(), 200);
    response
}

/// Alice fails the request before answering; it is retried on Bob once he is free, and
/// the events tell both attempts.
async fn retried_on_bob(cluster: &Cluster, stage_error: &str) {
    let occupied = occupy_bob(cluster).await;
    cluster
        .member("bob")
        .provider
        .set_default_reply(Reply::text("rescued"));
    let mut events = Events::open(cluster).await;

    let request = spawn_post(cluster, "client", chat("*", "please", false));
    let first = events
        .until("llm.request", |data| data["participantId"] == "alice")
        .await;
    let id = first["requestId"].as_str().unwrap().to_owned();
    assert!(first.get("attempt").is_none(), "{first}");
    let (kind, failed) = events.next_of(&id).await;
    assert_eq!(kind, "llm.error", "{failed}");
    assert_eq!(failed["stage"], "dispatch", "{failed}");
    assert_eq!(failed["participantId"], "alice", "{failed}");
    assert!(failed.get("attempt").is_none(), "attempt 1: {failed}");
    assert!(
        failed["error"].as_str().unwrap().contains(stage_error),
        "{failed}"
    );

    // The retry avoids Alice and waits for Bob's slot.
    cluster
        .wait_for_scheduler(|snapshot| snapshot.queued == 1)
        .await;
    drop(occupied);
    let response = request.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-gambi-participant").as_deref(),
        Some("bob")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "rescued");

    let (kind, retry) = events.next_of(&id).await;
    assert_eq!(kind, "llm.request", "{retry}");
    assert_eq!(retry["participantId"], "bob", "{retry}");
    assert_eq!(retry["attempt"], 2, "{retry}");
    let (kind, complete) = events.next_of(&id).await;
    assert_eq!(kind, "llm.complete", "{complete}");
    assert_eq!(complete["participantId"], "bob", "{complete}");
    assert_slots_free(cluster);
}

#[tokio::test]
async fn a_provider_error_before_any_byte_is_retried_on_another_participant() {
    let cluster = pair(HubConfig::default()).await;
    cluster
        .member("alice")
        .provider
        .push_reply(Reply::server_error());
    retried_on_bob(&cluster, "500").await;
    assert_eq!(prompts(&cluster.member("alice").provider), ["please"]);
}

#[tokio::test]
async fn an_unreachable_provider_is_retried_on_another_participant() {
    let cluster = pair(HubConfig::default()).await;
    cluster.member("alice").provider.shutdown().await;
    retried_on_bob(&cluster, "provider request failed").await;
}

#[tokio::test]
async fn without_failover_the_first_error_is_the_answer() {
    let cluster = pair(HubConfig {
        failover: false,
        ..HubConfig::default()
    })
    .await;
    let occupied = occupy_bob(&cluster).await;
    cluster
        .member("alice")
        .provider
        .push_reply(Reply::server_error());
    let response = cluster
        .post("/chat/completions", &chat("*", "once", false))
        .await;
    assert_eq!(response.status(), 500);
    drop(occupied);
    cluster.member("bob").provider.wait_for_abort().await;
    assert_eq!(prompts(&cluster.member("bob").provider), ["occupy"]);
    assert_slots_free(&cluster);
}

#[tokio::test]
async fn a_failure_after_the_first_byte_is_not_retried() {
    let cluster = pair(HubConfig::default()).await;
    for member in &cluster.members {
        member
            .provider
            .push_reply(Reply::text("one two three four").fail_after(2, StreamFailure::Disconnect));
    }
    let mut events = Events::open(&cluster).await;

    let response = cluster
        .post("/chat/completions", &chat("*", "break", true))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        read_chat_stream(response).await,
        ("one two".to_owned(), true)
    );
    let request = events.until("llm.request", |_| true).await;
    let id = request["requestId"].as_str().unwrap();
    let (kind, error) = events.next_of(id).await;
    assert_eq!(
        (kind.as_str(), &error["stage"]),
        ("llm.error", &"stream".into())
    );

    // Nothing more happens to it: the next request is the next thing either provider sees.
    for member in &cluster.members {
        member.provider.clear_replies();
    }
    next_request_succeeds(&cluster).await;
    let next = events.until("llm.request", |_| true).await;
    assert_ne!(next["requestId"], id, "no second attempt: {next}");
    assert!(next.get("attempt").is_none(), "{next}");
    let asked: Vec<String> = cluster
        .members
        .iter()
        .flat_map(|member| prompts(&member.provider))
        .collect();
    assert_eq!(asked.iter().filter(|prompt| *prompt == "break").count(), 1);
    assert_slots_free(&cluster);
}
