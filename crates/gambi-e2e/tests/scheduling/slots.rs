//! Slots: how many requests a participant is given at once.

use std::time::Duration;

use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::{
    Events, assert_slots_free, chat, models, next_request_succeeds, spawn_post, summaries,
};

/// How long each request of the timed phases takes at the provider.
const WORK: Duration = Duration::from_secs(1);

/// Sends `count` requests at once and waits for all of them; each must succeed at its
/// first attempt. Returns how long that took.
async fn burst(cluster: &Cluster, model: &str, count: usize) -> Duration {
    let mut events = Events::open(cluster).await;
    let started = Instant::now();
    let requests: Vec<_> = (0..count)
        .map(|_| spawn_post(cluster, "client", chat(model, "go", false)))
        .collect();
    for request in requests {
        let response = request.await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "done");
    }
    let took = started.elapsed();
    events.expect_completions(count).await;
    took
}

#[tokio::test]
async fn max_concurrency_is_shown_and_never_exceeded() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").slots(3))
        .await;
    let provider = &cluster.member("alice").provider;

    let idle = &summaries(&cluster).await["alice"];
    assert_eq!(idle["maxConcurrency"], 3, "{idle}");
    assert_eq!(idle["activeRequests"], 0, "{idle}");
    assert_eq!(idle["status"], "online", "{idle}");

    // Three streams take the three slots and stay open: the participant shows as busy.
    provider.push_replies(std::iter::repeat_n(Reply::text("held").stall_after(1), 3));
    let mut held = Vec::new();
    for _ in 0..3 {
        let response = cluster
            .post("/chat/completions", &chat("llama3", "hold", true))
            .await;
        assert_eq!(response.status(), 200);
        held.push(response);
    }
    let full = &summaries(&cluster).await["alice"];
    assert_eq!(full["maxConcurrency"], 3, "{full}");
    assert_eq!(full["activeRequests"], 3, "{full}");
    assert_eq!(full["status"], "busy", "{full}");
    let listed = &models(&cluster).await["alice"];
    assert_eq!(listed["gambi"]["maxConcurrency"], 3, "{listed}");
    assert_eq!(listed["gambi"]["activeRequests"], 3, "{listed}");
    drop(held);
    provider.wait_for_aborts(3).await;

    // Ten requests of one (paused) second each: never more than three at the provider, so
    // they need at least four seconds.
    tokio::time::pause();
    provider.set_default_reply(Reply::text("done").first_token_delay(WORK));
    let completed = provider.completed_count();
    let took = burst(&cluster, "llama3", 10).await;
    assert_eq!(provider.max_in_flight(), 3);
    assert!(
        took >= WORK * 4,
        "ten requests on three slots took {took:?}"
    );
    assert_eq!(provider.completed_count(), completed + 10);
    assert_slots_free(&cluster);
    next_request_succeeds(&cluster).await;
}

#[tokio::test]
async fn a_participant_declaring_no_concurrency_gets_one_slot() {
    let mut cluster = Cluster::start().await;
    // The runtime's own default.
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    // An original runtime that never heard of `maxConcurrency`.
    let url = cluster
        .hub
        .url_for(&format!("/v1/rooms/{}/participants/bob", cluster.code));
    let registered = cluster
        .http
        .put(url)
        .json(&json!({
            "nickname": "Bob",
            "model": "llama3",
            "endpoint": "http://127.0.0.1:9",
        }))
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success());

    let listed = summaries(&cluster).await;
    for id in ["alice", "bob"] {
        assert_eq!(listed[id]["maxConcurrency"], 1, "{}", listed[id]);
        let load = cluster.room().scheduler().participant(id).unwrap();
        assert_eq!(load.max_concurrency, 1, "{load:?}");
    }

    // One slot: four requests of one second each take turns.
    tokio::time::pause();
    let provider = &cluster.member("alice").provider;
    provider.set_default_reply(Reply::text("done").first_token_delay(WORK));
    let took = burst(&cluster, "alice", 4).await;
    assert_eq!(provider.max_in_flight(), 1);
    assert!(took >= WORK * 4, "four requests on one slot took {took:?}");
    assert_slots_free(&cluster);
}
