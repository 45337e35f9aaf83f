//! Routing: the least loaded participant gets the next request; a participant id gets
//! only that participant.

use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::Value;

use crate::common::{
    active, assert_slots_free, chat, header, next_request_succeeds, prompts, spawn_post,
};

#[tokio::test]
async fn the_least_loaded_participant_is_chosen() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").slots(4))
        .await;
    cluster
        .join(ParticipantSpec::new("bob", "llama3").slots(2))
        .await;
    for member in &cluster.members {
        member
            .provider
            .set_default_reply(Reply::text("held").stall_after(1));
    }

    // Load is the share of slots in use. Whichever way ties fall, three requests end up as
    // alice 2/4 and bob 1/2, and five as alice 3/4 and bob 2/2.
    let mut held = Vec::new();
    for (count, expected) in [(3, (2, 1)), (5, (3, 2))] {
        while held.len() < count {
            let response = cluster
                .post("/chat/completions", &chat("llama3", "hold", true))
                .await;
            assert_eq!(response.status(), 200);
            held.push(response);
        }
        assert_eq!(
            (active(&cluster, "alice"), active(&cluster, "bob")),
            expected,
            "after {count} requests"
        );
    }
    for member in &cluster.members {
        member.provider.wait_for_in_flight(2).await;
    }
    assert_eq!(cluster.member("alice").provider.in_flight(), 3);
    assert_eq!(cluster.member("bob").provider.in_flight(), 2);

    drop(held);
    cluster.member("alice").provider.wait_for_aborts(3).await;
    cluster.member("bob").provider.wait_for_aborts(2).await;
    assert_slots_free(&cluster);
    for member in &cluster.members {
        member.provider.set_default_reply(Reply::text("free again"));
    }
    next_request_succeeds(&cluster).await;
}

#[tokio::test]
async fn a_participant_id_waits_for_that_participant_only() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    cluster.join(ParticipantSpec::new("bob", "llama3")).await;
    let alice = &cluster.member("alice").provider;
    alice.push_reply(Reply::text("held").stall_after(1));
    alice.set_default_reply(Reply::text("from alice"));

    let held = cluster
        .post("/chat/completions", &chat("alice", "hold", true))
        .await;
    assert_eq!(held.status(), 200);
    // Bob is free, but the request names alice: it waits for her.
    let waiting = spawn_post(&cluster, "client", chat("alice", "for alice", false));
    cluster
        .wait_for_scheduler(|snapshot| snapshot.queued == 1)
        .await;
    assert_eq!(active(&cluster, "bob"), 0);

    drop(held);
    let response = waiting.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        header(&response, "x-gambi-participant").as_deref(),
        Some("alice")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["choices"][0]["message"]["content"], "from alice");
    assert!(prompts(&cluster.member("bob").provider).is_empty());
    assert_slots_free(&cluster);
}
