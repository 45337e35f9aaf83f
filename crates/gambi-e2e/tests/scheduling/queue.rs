//! The wait queue: bounded, timed, fair between clients, and reported.

use std::time::Duration;

use gambi_hub::HubConfig;
use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::common::{
    Events, assert_slots_free, chat, error_of, header, next_request_succeeds, prompts, spawn_post,
};

/// How long each request of the timed tests takes at the provider.
const WORK: Duration = Duration::from_secs(1);

async fn cluster_with(config: HubConfig, participants: &[(&str, u32)]) -> Cluster {
    let mut cluster = Cluster::with(config, json!({"name": "Queue"})).await;
    for (id, slots) in participants {
        cluster
            .join(ParticipantSpec::new(id, "llama3").slots(*slots))
            .await;
    }
    cluster
}

/// Holds one slot of `id` with a stream that never ends, until dropped.
async fn hold(cluster: &Cluster, id: &str) -> reqwest::Response {
    cluster
        .member(id)
        .provider
        .push_reply(Reply::text("held").stall_after(1));
    let response = cluster
        .post("/chat/completions", &chat(id, "hold", true))
        .await;
    assert_eq!(response.status(), 200);
    response
}

#[tokio::test]
async fn ten_clients_share_two_participants_with_two_slots_each() {
    let cluster = cluster_with(HubConfig::default(), &[("alice", 2), ("bob", 2)]).await;
    for member in &cluster.members {
        member
            .provider
            .set_default_reply(Reply::text("shared").first_token_delay(WORK));
    }
    tokio::time::pause();
    let started = Instant::now();
    let requests: Vec<_> = (0..10)
        .map(|client| {
            spawn_post(
                &cluster,
                &format!("client-{client}"),
                chat("llama3", "hi", false),
            )
        })
        .collect();
    let mut served_by = Vec::new();
    for request in requests {
        let response = request.await.unwrap();
        assert_eq!(response.status(), 200);
        served_by.push(header(&response, "x-gambi-participant").unwrap());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["choices"][0]["message"]["content"], "shared");
    }
    // Four slots for ten requests of one second: at least three rounds.
    assert!(started.elapsed() >= WORK * 3, "{:?}", started.elapsed());
    for member in &cluster.members {
        assert!(member.provider.max_in_flight() <= 2);
        let served = served_by.iter().filter(|id| **id == member.id).count();
        assert_eq!(served, prompts(&member.provider).len());
    }
    assert_slots_free(&cluster);
}

#[tokio::test]
async fn a_full_queue_refuses_at_once_with_a_retry_hint() {
    let config = HubConfig {
        queue_size: 1,
        ..HubConfig::default()
    };
    let cluster = cluster_with(config, &[("alice", 1)]).await;
    cluster
        .member("alice")
        .provider
        .set_default_reply(Reply::text("waited"));
    let held = hold(&cluster, "alice").await;
    let waiting = spawn_post(&cluster, "first", chat("llama3", "wait", false));
    cluster
        .wait_for_scheduler(|snapshot| snapshot.queued == 1)
        .await;

    let refused = cluster
        .post("/chat/completions", &chat("llama3", "no room", false))
        .await;
    let retry_after = header(&refused, "retry-after").expect("a Retry-After header");
    assert!(retry_after.parse::<u64>().unwrap() >= 1, "{retry_after}");
    assert_eq!(error_of(refused).await, (503, "QUEUE_FULL".to_owned()));

    drop(held);
    assert_eq!(waiting.await.unwrap().status(), 200);
    assert_slots_free(&cluster);
}

#[tokio::test]
async fn a_wait_that_runs_out_answers_504() {
    let config = HubConfig {
        queue_timeout: Duration::from_secs(5),
        ..HubConfig::default()
    };
    let cluster = cluster_with(config, &[("alice", 1)]).await;
    let held = hold(&cluster, "alice").await;
    let mut events = Events::open(&cluster).await;

    tokio::time::pause();
    let started = Instant::now();
    let response = cluster
        .post("/chat/completions", &chat("llama3", "too late", false))
        .await;
    assert!(started.elapsed() >= Duration::from_secs(5));
    assert_eq!(error_of(response).await, (504, "QUEUE_TIMEOUT".to_owned()));
    let error = events.until("llm.error", |_| true).await;
    assert_eq!(error["stage"], "routing", "{error}");
    assert_slots_free_but(&cluster, 1);

    drop(held);
    cluster.member("alice").provider.wait_for_abort().await;
    assert_slots_free(&cluster);
    next_request_succeeds(&cluster).await;
}

/// Nobody waits and exactly `held` slots are taken.
#[track_caller]
fn assert_slots_free_but(cluster: &Cluster, held: u32) {
    let snapshot = cluster.snapshot();
    let active: u32 = snapshot.participants.iter().map(|load| load.active).sum();
    assert_eq!((active, snapshot.queued), (held, 0), "{snapshot:?}");
}

#[tokio::test]
async fn a_model_nobody_serves_is_refused_at_once() {
    // A wait would last an hour: an answer within the test's limit was not queued.
    let config = HubConfig {
        queue_timeout: Duration::from_secs(3600),
        ..HubConfig::default()
    };
    let cluster = cluster_with(config, &[("alice", 1)]).await;
    let held = hold(&cluster, "alice").await;
    for model in ["mistral", "model:mistral"] {
        let answer = tokio::time::timeout(
            Duration::from_secs(60),
            cluster.post("/chat/completions", &chat(model, "hi", false)),
        )
        .await
        .expect("answered without waiting");
        assert_eq!(
            error_of(answer).await,
            (404, "MODEL_NOT_FOUND".to_owned()),
            "{model}"
        );
    }
    assert_slots_free_but(&cluster, 1);
    drop(held);
}

#[tokio::test]
async fn time_spent_waiting_is_reported() {
    let cluster = cluster_with(HubConfig::default(), &[("alice", 1)]).await;
    let provider = &cluster.member("alice").provider;
    provider.set_default_reply(Reply::text("in turn").first_token_delay(WORK * 3));
    let mut events = Events::open(&cluster).await;

    tokio::time::pause();
    let first = spawn_post(&cluster, "first", chat("llama3", "first", false));
    cluster
        .wait_for_scheduler(|snapshot| snapshot.participants[0].active == 1)
        .await;
    let second = spawn_post(&cluster, "second", chat("llama3", "second", false));
    cluster
        .wait_for_scheduler(|snapshot| snapshot.queued == 1)
        .await;

    let first = first.await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(header(&first, "x-gambi-queue-ms").as_deref(), Some("0"));
    let second = second.await.unwrap();
    assert_eq!(second.status(), 200);
    let waited: u64 = header(&second, "x-gambi-queue-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(waited >= 3000, "waited {waited} ms behind a 3 s request");

    let first_request = events.until("llm.request", |_| true).await;
    assert_eq!(first_request["queueMs"], 0, "{first_request}");
    let second_request = events
        .until("llm.request", |data| {
            data["requestId"] != first_request["requestId"]
        })
        .await;
    assert_eq!(second_request["queueMs"], waited, "{second_request}");
    let complete = events
        .until("llm.complete", |data| {
            data["requestId"] == second_request["requestId"]
        })
        .await;
    assert_eq!(complete["metrics"]["queueMs"], waited, "{complete}");
}

#[tokio::test]
async fn a_flooding_client_does_not_starve_a_single_one() {
    let cluster = cluster_with(HubConfig::default(), &[("alice", 1)]).await;
    let provider = &cluster.member("alice").provider;
    provider.set_default_reply(Reply::text("ok").first_token_delay(WORK));

    tokio::time::pause();
    // Client A sends eight requests, one after the other joining the queue; then B sends one.
    let mut requests = vec![spawn_post(&cluster, "key-a", chat("llama3", "A0", false))];
    cluster
        .wait_for_scheduler(|snapshot| snapshot.participants[0].active == 1)
        .await;
    for n in 1..8 {
        requests.push(spawn_post(
            &cluster,
            "key-a",
            chat("llama3", &format!("A{n}"), false),
        ));
        cluster
            .wait_for_scheduler(|snapshot| snapshot.queued == n)
            .await;
    }
    requests.push(spawn_post(&cluster, "key-b", chat("llama3", "B", false)));
    cluster
        .wait_for_scheduler(|snapshot| snapshot.queued == 8)
        .await;
    for request in requests {
        assert_eq!(request.await.unwrap().status(), 200);
    }

    let order = prompts(provider);
    let b = order.iter().position(|prompt| prompt == "B").unwrap();
    assert!(b <= 2, "B waited for {b} of A's requests: {order:?}");
    let a: Vec<&String> = order
        .iter()
        .filter(|prompt| prompt.starts_with('A'))
        .collect();
    assert_eq!(
        a,
        ["A0", "A1", "A2", "A3", "A4", "A5", "A6", "A7"],
        "A in order"
    );
    assert_slots_free(&cluster);
}
