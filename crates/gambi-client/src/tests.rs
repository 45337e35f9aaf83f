use super::*;

fn client(url: &str) -> Client {
    Client::new(url).expect("a valid hub URL")
}

#[test]
fn one_trailing_slash_is_dropped() {
    assert_eq!(
        client("http://localhost:3000/").hub_url(),
        "http://localhost:3000"
    );
    assert_eq!(
        client("http://localhost:3000").hub_url(),
        "http://localhost:3000"
    );
    assert_eq!(
        client("http://hub.lan/gambi/").hub_url(),
        "http://hub.lan/gambi"
    );
}

#[test]
fn bad_hub_urls_are_refused() {
    for url in [
        "localhost:3000",
        "ftp://hub",
        "http://",
        "not a url",
        "http://hub?x=1",
        "http://hub#top",
    ] {
        assert!(
            matches!(Client::new(url), Err(NewClientError::InvalidHubUrl { .. })),
            "{url} should be refused"
        );
    }
}

#[test]
fn hub_urls_parse_by_the_clients_rule() {
    assert_eq!(
        parse_hub_url("http://hub.lan/gambi/")
            .map(String::from)
            .ok(),
        Some("http://hub.lan/gambi".to_owned())
    );
    for url in ["localhost:3000", "http://hub?x=1", "ws://hub"] {
        assert!(parse_hub_url(url).is_err(), "{url} should be refused");
    }
}

#[test]
fn urls_encode_their_segments() {
    let client = client("http://localhost:3000");
    assert_eq!(
        client
            .url(&["v1", "rooms", "AB/C", "participants", "a b"])
            .as_str(),
        "http://localhost:3000/v1/rooms/AB%2FC/participants/a%20b"
    );
    let prefixed = Client::new("https://hub.lan/gambi/").expect("valid");
    assert_eq!(
        prefixed.url(&["v1", "health"]).as_str(),
        "https://hub.lan/gambi/v1/health"
    );
}

#[test]
fn inference_urls() {
    let client = client("http://localhost:3000/");
    assert_eq!(
        client.inference_base_url("ABC123"),
        "http://localhost:3000/rooms/ABC123/v1"
    );
    assert_eq!(
        client.inference_url("ABC123", LlmProtocol::default()),
        "http://localhost:3000/rooms/ABC123/v1/responses"
    );
    assert_eq!(
        client.inference_url("ABC123", LlmProtocol::ChatCompletions),
        "http://localhost:3000/rooms/ABC123/v1/chat/completions"
    );
}

#[test]
fn debug_hides_the_token() {
    let client = client("http://localhost:3000").with_token("hunter2");
    assert!(!format!("{client:?}").contains("hunter2"));
}
