//! Discovery against real hubs: mDNS for real in a network namespace of the test's own
//! (two hubs on one port told apart, a hub gone after it stops), and the configured hub,
//! the static list and `resolve_target`'s errors over loopback.

use std::collections::BTreeSet;
use std::time::Duration;

use gambi_client::Client;
use gambi_client::discovery::{
    self, DiscoveryError, DiscoveryOptions, HubSource, RoomQuery, discover_hubs, discover_rooms,
    resolve_target,
};
use gambi_hub::HubConfig;
use gambi_hub::mdns::Announcement;
use gambi_protocol as proto;
use gambi_test_support::TestHub;
use tokio::net::TcpListener;

/// Long enough for every answer on a loopback interface of a loaded machine, short
/// enough for a test.
const WINDOW: Duration = Duration::from_millis(2000);

async fn create_room(hub_url: &str, name: &str) -> proto::RoomSummary {
    Client::new(hub_url)
        .expect("a hub URL")
        .rooms()
        .create(&proto::CreateRoomRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .data
        .room
}

/// Only mDNS: no configured hub.
fn mdns_only() -> DiscoveryOptions {
    DiscoveryOptions {
        configured_hub: None,
        browse_window: WINDOW,
        ..DiscoveryOptions::default()
    }
}

#[tokio::test]
async fn two_hubs_on_one_port_are_told_apart_and_a_stopped_hub_is_no_longer_found() {
    if !gambi_test_support::inside!(
        two_hubs_on_one_port_are_told_apart_and_a_stopped_hub_is_no_longer_found
    ) {
        return;
    }
    let first = TcpListener::bind("127.0.0.2:0").await.expect("bind");
    let port = first.local_addr().expect("address").port();
    let second = TcpListener::bind(("127.0.0.3", port))
        .await
        .expect("the same port on another address");
    let (hub_a, hub_b) = (
        TestHub::on(first, HubConfig::default()),
        TestHub::on(second, HubConfig::default()),
    );
    let announced_a = Announcement::publish(hub_a.addr(), false)
        .await
        .expect("announced");
    let announced_b = Announcement::publish(hub_b.addr(), false)
        .await
        .expect("announced");
    let prefix = format!("gambi-hub-{port}-");
    assert!(announced_a.name().starts_with(&prefix), "{announced_a:?}");
    assert!(announced_b.name().starts_with(&prefix), "{announced_b:?}");
    assert_ne!(announced_a.name(), announced_b.name());

    let seen = discovery::browse(WINDOW).await.expect("browsed");
    let by_name = |name: &str| {
        seen.iter()
            .find(|hub| hub.name == name)
            .unwrap_or_else(|| panic!("{name} in {seen:#?}"))
    };
    let seen_a = by_name(announced_a.name());
    assert_eq!(seen_a.port, port);
    assert_eq!(
        seen_a.addresses,
        ["127.0.0.2".parse::<std::net::IpAddr>().expect("ip")]
    );
    assert_eq!(seen_a.txt.get("version").map(String::as_str), Some("1.0"));
    assert_eq!(seen_a.txt.get("protocol").map(String::as_str), Some("http"));
    assert_eq!(seen_a.txt.get("tls").map(String::as_str), Some("false"));
    assert_eq!(
        seen_a.txt.get("hubVersion").map(String::as_str),
        Some(env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        seen_a.txt.get("id").map(String::as_str),
        Some(announced_a.id())
    );
    let seen_b = by_name(announced_b.name());
    assert_eq!(
        seen_b.addresses,
        ["127.0.0.3".parse::<std::net::IpAddr>().expect("ip")]
    );
    assert_ne!(
        seen_a.host, seen_b.host,
        "each hub has a host name of its own"
    );

    let url_a = format!("http://127.0.0.2:{port}");
    let url_b = format!("http://127.0.0.3:{port}");
    let hubs = discover_hubs(&mdns_only()).await;
    let found: BTreeSet<(&str, &str)> = hubs
        .iter()
        .map(|hub| (hub.name.as_str(), hub.hub_url.as_str()))
        .collect();
    assert_eq!(
        found,
        BTreeSet::from([
            (announced_a.name(), url_a.as_str()),
            (announced_b.name(), url_b.as_str())
        ])
    );
    for hub in &hubs {
        assert_eq!(hub.source, HubSource::Mdns);
        assert_eq!(hub.port, port);
        assert_eq!(hub.version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
    }

    // Rooms of both hubs; a name on both is ambiguous, one on a single hub is not.
    create_room(&url_a, "Lab").await;
    create_room(&url_b, "Lab").await;
    let solo = create_room(&url_b, "Solo").await;
    let rooms = discover_rooms(&mdns_only()).await;
    assert_eq!(rooms.len(), 3, "{rooms:#?}");
    let target = resolve_target(&mdns_only(), &RoomQuery::by_name("Solo"))
        .await
        .expect("one room is named Solo");
    assert_eq!(target.room.room.code, solo.code);
    assert_eq!(target.hub.hub_url, url_b);
    assert_eq!(target.room.hub_name, announced_b.name());
    assert_eq!(
        target.room_handle().expect("a room").base_url(),
        format!("{url_b}/rooms/{}/v1", solo.code)
    );
    let error = resolve_target(&mdns_only(), &RoomQuery::by_name("Lab"))
        .await
        .expect_err("two hubs have a Lab");
    assert_eq!(error.code(), "AMBIGUOUS_ROOM_MATCH");
    let hubs_of_matches: BTreeSet<&str> = error
        .matches()
        .iter()
        .map(|room| room.hub_url.as_str())
        .collect();
    assert_eq!(
        hubs_of_matches,
        BTreeSet::from([url_a.as_str(), url_b.as_str()])
    );

    // A hub that stops takes its announcement back.
    announced_a.unpublish().await;
    hub_a.stop().await;
    let seen = discovery::browse(WINDOW).await.expect("browsed");
    let names: Vec<&str> = seen.iter().map(|hub| hub.name.as_str()).collect();
    assert_eq!(names, [announced_b.name()]);
    let hubs = discover_hubs(&mdns_only()).await;
    let urls: Vec<&str> = hubs.iter().map(|hub| hub.hub_url.as_str()).collect();
    assert_eq!(urls, [url_b.as_str()]);

    drop(announced_b);
    hub_b.stop().await;
}

/// A loopback URL nobody listens on.
async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn the_configured_hub_comes_first_and_the_static_list_stands_in_for_mdns() {
    let hub = TestHub::start().await;
    let other = TestHub::start().await;
    let closed = closed_port_url().await;

    let options = DiscoveryOptions {
        configured_hub: Some(format!("{}/", hub.url())),
        fallback_hubs: vec![closed.clone(), other.url(), hub.url()],
        mdns: false,
        ..DiscoveryOptions::default()
    };
    let hubs = discover_hubs(&options).await;
    let found: Vec<(&str, HubSource, &str)> = hubs
        .iter()
        .map(|hub| (hub.name.as_str(), hub.source, hub.hub_url.as_str()))
        .collect();
    let other_url = other.url();
    assert_eq!(
        found,
        [
            ("Configured hub", HubSource::Configured, hub.url().as_str()),
            (other_url.as_str(), HubSource::Static, other_url.as_str()),
        ],
        "the closed port is dropped, the configured hub is not listed twice"
    );
    assert_eq!(hubs[0].host, "127.0.0.1");
    assert_eq!(hubs[0].port, hub.addr().port());
    assert!(hubs[0].addresses.is_empty() && hubs[0].txt.is_empty());

    let json = serde_json::to_value(&hubs[1]).expect("serializable");
    assert_eq!(json["source"], "static");
    assert_eq!(json["hubUrl"], other_url.as_str());

    hub.stop().await;
    other.stop().await;
}

#[tokio::test]
async fn resolve_target_says_why_it_cannot_name_one_room() {
    let closed = closed_port_url().await;
    let error = resolve_target(&DiscoveryOptions::only(&closed), &RoomQuery::default())
        .await
        .expect_err("nobody answers");
    assert_eq!(error.code(), "NO_HUBS_FOUND");
    assert_eq!(
        error,
        DiscoveryError::NoHubsFound {
            tried: vec![closed.clone()],
            mdns: false,
        }
    );

    let hub = TestHub::start().await;
    let only = DiscoveryOptions::only(hub.url());
    let error = resolve_target(&only, &RoomQuery::by_code("ABC123"))
        .await
        .expect_err("no rooms yet");
    assert_eq!(error.code(), "NO_ROOMS_FOUND");

    let lab = create_room(&hub.url(), "Lab").await;
    let target = resolve_target(&only, &RoomQuery::default())
        .await
        .expect("the only room needs no filter");
    assert_eq!(target.room.room.code, lab.code);
    assert_eq!(target.room.hub_source, HubSource::Configured);
    let target = resolve_target(&only, &RoomQuery::by_code(lab.code.to_lowercase()))
        .await
        .expect("codes ignore case");
    assert_eq!(target.room.room.id, lab.id);

    let error = resolve_target(&only, &RoomQuery::by_name("Nope"))
        .await
        .expect_err("no such room");
    assert_eq!(error.code(), "ROOM_NOT_FOUND");

    let other_lab = create_room(&hub.url(), "Lab").await;
    let error = resolve_target(&only, &RoomQuery::by_name("Lab"))
        .await
        .expect_err("two rooms named Lab");
    assert_eq!(error.code(), "AMBIGUOUS_ROOM_MATCH");
    let codes: BTreeSet<&str> = error
        .matches()
        .iter()
        .map(|room| room.room.code.as_str())
        .collect();
    assert_eq!(
        codes,
        BTreeSet::from([lab.code.as_str(), other_lab.code.as_str()])
    );
    let error = resolve_target(&only, &RoomQuery::default())
        .await
        .expect_err("no filter and two rooms");
    assert_eq!(error.code(), "AMBIGUOUS_ROOM_MATCH");

    // A hub that wants an admin token to list rooms is skipped without one.
    let locked = TestHub::with_config(HubConfig {
        admin_token: Some("admin".into()),
        ..HubConfig::default()
    })
    .await;
    let mut options = DiscoveryOptions::only(locked.url());
    let error = resolve_target(&options, &RoomQuery::default())
        .await
        .expect_err("the rooms are not listed");
    assert_eq!(error.code(), "NO_ROOMS_FOUND");
    Client::new(&locked.url())
        .expect("a client")
        .with_token("admin")
        .rooms()
        .create(&proto::CreateRoomRequest {
            name: "Locked".into(),
            ..Default::default()
        })
        .await
        .expect("created with the token");
    options.admin_token = Some("admin".into());
    let target = resolve_target(&options, &RoomQuery::default())
        .await
        .expect("listed with the token");
    assert_eq!(target.room.room.name, "Locked");

    hub.stop().await;
    locked.stop().await;
}
