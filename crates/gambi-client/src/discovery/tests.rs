use super::*;

fn hub(name: &str, url: &str) -> DiscoveredHub {
    DiscoveredHub {
        name: name.into(),
        hub_url: url.into(),
        host: "h".into(),
        port: 3000,
        addresses: Vec::new(),
        source: HubSource::Mdns,
        txt: BTreeMap::new(),
        version: None,
    }
}

fn summary(id: &str, code: &str, name: &str, participants: u32) -> proto::RoomSummary {
    proto::RoomSummary {
        id: id.into(),
        code: code.into(),
        name: name.into(),
        host_id: "host".into(),
        created_at: 0,
        defaults: None,
        password_protected: false,
        participant_count: participants,
    }
}

#[test]
fn rooms_are_deduplicated_by_id_and_sorted() {
    let (a, b) = (hub("a", "http://a:1"), hub("b", "http://b:1"));
    let rooms = collect_rooms([
        (
            &a,
            vec![
                summary("1", "AAAAAA", "Zeta", 1),
                summary("2", "BBBBBB", "Beta", 3),
            ],
        ),
        (
            &b,
            vec![
                summary("1", "AAAAAA", "Zeta", 9),
                summary("3", "CCCCCC", "Alpha", 1),
            ],
        ),
    ]);
    let order: Vec<(&str, &str)> = rooms
        .iter()
        .map(|room| (room.room.code.as_str(), room.hub_url.as_str()))
        .collect();
    assert_eq!(
        order,
        [
            ("BBBBBB", "http://a:1"),
            ("CCCCCC", "http://b:1"),
            ("AAAAAA", "http://a:1"),
        ]
    );
    assert_eq!(rooms[2].room.participant_count, 1, "the first hub's copy");
    assert_eq!(rooms[1].hub_name, "b");
}

fn tagged(rooms: &[proto::RoomSummary]) -> Vec<DiscoveredRoom> {
    let a = hub("a", "http://a:1");
    collect_rooms([(&a, rooms.to_vec())])
}

#[test]
fn selection_and_its_errors() {
    let hubs = [hub("a", "http://a:1")];
    let lab = summary("1", "LAB111", "Lab", 2);
    let lab_too = summary("2", "LAB222", "Lab", 1);
    let home = summary("3", "HOME11", "Home", 0);
    let rooms = tagged(&[lab.clone(), lab_too.clone(), home.clone()]);
    let pick = |query: RoomQuery| select_room(rooms.clone(), &query, &hubs);

    let found = pick(RoomQuery::by_code("lab111")).expect("codes ignore case");
    assert_eq!(found.room, lab);
    assert_eq!(pick(RoomQuery::by_name("Home")).expect("one").room, home);
    let both = RoomQuery {
        code: Some("LAB222".into()),
        name: Some("Lab".into()),
    };
    assert_eq!(pick(both).expect("both fit").room, lab_too);

    let error = pick(RoomQuery::by_name("Lab")).expect_err("two rooms are named Lab");
    assert_eq!(error.code(), "AMBIGUOUS_ROOM_MATCH");
    let codes: Vec<&str> = error
        .matches()
        .iter()
        .map(|m| m.room.code.as_str())
        .collect();
    assert_eq!(codes, ["LAB111", "LAB222"]);
    assert_eq!(error.to_string(), "2 rooms match name 'Lab'.");

    let error = pick(RoomQuery::default()).expect_err("no filter, many rooms");
    assert_eq!(error.code(), "AMBIGUOUS_ROOM_MATCH");
    assert_eq!(error.matches().len(), 3);

    let error = pick(RoomQuery::by_name("lab")).expect_err("names are exact");
    assert_eq!(error.code(), "ROOM_NOT_FOUND");
    assert_eq!(error.to_string(), "No room with name 'lab' found.");
    assert!(error.matches().is_empty());

    let only = tagged(std::slice::from_ref(&home));
    let found = select_room(only, &RoomQuery::default(), &hubs).expect("the only room");
    assert_eq!(found.room, home);

    let error =
        select_room(Vec::new(), &RoomQuery::by_code("X"), &hubs).expect_err("no rooms at all");
    assert_eq!(error.code(), "NO_ROOMS_FOUND");
    assert_eq!(error.to_string(), "No rooms found on http://a:1.");
}

#[test]
fn candidate_urls_follow_the_announcement() {
    let mut announced = AnnouncedHub {
        name: "gambi-hub-3000-abc".into(),
        host: "gambi-abc.local".into(),
        port: 3000,
        addresses: vec![
            "10.0.0.2".parse().expect("ip"),
            "fe80::1".parse().expect("ip"),
            "fd00::2".parse().expect("ip"),
        ],
        txt: BTreeMap::new(),
    };
    assert_eq!(
        announced.candidate_urls(),
        [
            "http://10.0.0.2:3000",
            "http://[fd00::2]:3000",
            "http://gambi-abc.local:3000"
        ]
    );
    announced.txt.insert("protocol".into(), "https".into());
    assert_eq!(announced.candidate_urls()[0], "https://10.0.0.2:3000");
}

#[test]
fn instance_names_lose_the_service_type() {
    assert_eq!(
        instance_of("gambi-hub-3000-abc._gambi._tcp.local."),
        "gambi-hub-3000-abc"
    );
    assert_eq!(instance_of("odd\\.name._gambi._tcp.local."), "odd.name");
}

#[test]
fn errors_name_their_codes() {
    let none = DiscoveryError::NoHubsFound {
        tried: vec!["http://localhost:3000".into()],
        mdns: true,
    };
    assert_eq!(none.code(), "NO_HUBS_FOUND");
    assert_eq!(
        none.to_string(),
        "No Gambi hub found (tried http://localhost:3000 and mDNS)."
    );
    let only = DiscoveryError::NoHubsFound {
        tried: vec!["http://a:1".into(), "http://b:1".into()],
        mdns: false,
    };
    assert_eq!(
        only.to_string(),
        "No Gambi hub found (tried http://a:1 and http://b:1)."
    );
}
