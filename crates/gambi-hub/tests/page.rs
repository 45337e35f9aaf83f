//! The web room page over HTTP: the page and its assets, their security headers, how the
//! page's routes sit beside the room's event stream and inference routes, and the address
//! the page tells people to use. What the page does in a browser is tested in
//! `gambi-e2e`'s `room_page.rs`, in headless Chromium.

mod common;

use common::Api;
use gambi_test_support::TestHub;
use reqwest::header::{self, HeaderMap};
use reqwest::{Method, StatusCode, redirect};
use serde_json::json;

/// A page request's answer: status, headers, body.
struct Page {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("a {name} header in {:?}", self.headers))
    }
}

async fn fetch(hub: &TestHub, path: &str, host: Option<&str>) -> Page {
    let client = reqwest::Client::builder()
        .redirect(redirect::Policy::none())
        .build()
        .expect("a client");
    let mut request = client.get(hub.url_for(path));
    if let Some(host) = host {
        request = request.header(header::HOST, host);
    }
    let response = request.send().await.expect("the hub answers");
    Page {
        status: response.status(),
        headers: response.headers().clone(),
        body: response.text().await.expect("a body"),
    }
}

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn assert_secured(page: &Page) {
    assert_eq!(page.header("content-security-policy"), CSP);
    assert_eq!(page.header("x-content-type-options"), "nosniff");
    assert_eq!(page.header("referrer-policy"), "no-referrer");
    assert_eq!(page.header("x-frame-options"), "DENY");
}

#[tokio::test]
async fn the_room_page_names_the_room_the_hub_and_the_join_command() {
    let hub = TestHub::start().await;
    let code = Api::new(&hub).create_room("Lab").await;
    let page = fetch(&hub, &format!("/rooms/{code}"), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(page.header("cache-control"), "no-store");
    assert_secured(&page);
    let body = &page.body;
    let origin = hub.url();
    assert!(body.contains(&format!("data-room=\"{code}\"")), "{body}");
    assert!(body.contains("data-protected=\"false\""), "{body}");
    assert!(
        body.contains(&format!(
            "<code id=\"join-command\">gambi participant join --hub {origin} --room {code}</code>"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("{origin}/rooms/{code}/v1")),
        "{body}"
    );
    assert!(body.contains("<svg class=\"qr-code\""), "{body}");
    assert!(body.contains("<script type=\"module\" src=\"/ui/room.js\"></script>"));
    // Opened at 127.0.0.1, the page says others need the hub's network address.
    assert!(
        body.contains("<p id=\"loopback-notice\" class=\"notice\" >"),
        "{body}"
    );
    // No inline script or handler for the CSP to refuse.
    assert_eq!(body.matches("<script").count(), 1, "{body}");
    assert!(
        !has_inline_handler(body),
        "no inline event handlers: {body}"
    );
}

/// Whether `html` has an attribute like ` onclick=`.
fn has_inline_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let name: String = html[at + 3..]
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        !name.is_empty() && html[at + 3 + name.len()..].starts_with('=')
    })
}

#[tokio::test]
async fn the_page_uses_the_address_the_browser_used() {
    let hub = TestHub::start().await;
    let code = Api::new(&hub).create_room("Lab").await;
    let page = fetch(&hub, &format!("/rooms/{code}"), Some("hub.lab:3000")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!(
            "gambi participant join --hub http://hub.lab:3000 --room {code}"
        )),
        "{}",
        page.body
    );
    assert!(
        page.body.contains(&format!(
            "<a id=\"page-url\" href=\"http://hub.lab:3000/rooms/{code}\">"
        )),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains("<p id=\"loopback-notice\" class=\"notice\" hidden>"),
        "a network address needs no notice: {}",
        page.body
    );

    let refused = fetch(&hub, &format!("/rooms/{code}"), Some("a\"b")).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert_secured(&refused);
    assert!(!refused.body.contains("a\"b"), "{}", refused.body);
}

#[tokio::test]
async fn behind_a_reverse_proxy_the_page_uses_the_address_it_forwards() {
    let hub = TestHub::start().await;
    let code = Api::new(&hub).create_room("Lab").await;
    let client = reqwest::Client::new();
    let page = client
        .get(hub.url_for(&format!("/rooms/{code}")))
        .header("x-forwarded-host", "gambi.example.org")
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("the hub answers");
    assert_eq!(page.status(), StatusCode::OK);
    let body = page.text().await.expect("a body");
    assert!(
        body.contains(&format!(
            "gambi participant join --hub https://gambi.example.org --room {code}"
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "<a id=\"page-url\" href=\"https://gambi.example.org/rooms/{code}\">"
        )),
        "{body}"
    );
}

#[tokio::test]
async fn a_protected_room_page_asks_for_the_password_and_never_holds_it() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let created = api
        .create_room_with(&json!({"name": "Secret", "password": "hunter2"}))
        .await;
    let code = common::code_of(&created);
    let page = fetch(&hub, &format!("/rooms/{}", code.to_lowercase()), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains(&format!("data-room=\"{code}\"")),
        "canonical code"
    );
    assert!(page.body.contains("data-protected=\"true\""));
    assert!(
        page.body.contains(&format!(
            "--room {code} --password &#39;&lt;room password&gt;&#39;</code>"
        )),
        "{}",
        page.body
    );
    assert!(!page.body.contains("hunter2"));
}

#[tokio::test]
async fn an_unknown_room_gets_a_page_that_says_so() {
    let hub = TestHub::start().await;
    let page = fetch(&hub, "/rooms/%3Cb%3EX", None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_secured(&page);
    assert!(page.body.contains("No room &lt;b&gt;X"), "{}", page.body);
    assert!(!page.body.contains("<b>"), "{}", page.body);
}

#[tokio::test]
async fn a_trailing_slash_leads_to_the_page() {
    let hub = TestHub::start().await;
    let code = Api::new(&hub).create_room("Lab").await;
    let page = fetch(&hub, &format!("/rooms/{}/", code.to_lowercase()), None).await;
    assert_eq!(page.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(page.header("location"), format!("/rooms/{code}"));
    let missing = fetch(&hub, "/rooms/NOROOM/", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_assets_are_served_from_the_binary() {
    let hub = TestHub::start().await;
    for (path, kind, marker) in [
        (
            "/ui/room.js",
            "text/javascript; charset=utf-8",
            "class EventParser",
        ),
        ("/ui/room.css", "text/css; charset=utf-8", "body.large"),
    ] {
        let asset = fetch(&hub, path, None).await;
        assert_eq!(asset.status, StatusCode::OK, "{path}");
        assert_eq!(asset.header("content-type"), kind, "{path}");
        assert_eq!(asset.header("cache-control"), "no-cache", "{path}");
        assert_secured(&asset);
        assert!(asset.body.contains(marker), "{path}");
    }
    let missing = fetch(&hub, "/ui/other.js", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_page_sits_beside_the_event_stream_and_the_inference_routes() {
    let hub = TestHub::start().await;
    let api = Api::new(&hub);
    let code = api.create_room("Lab").await;
    let mut events = api.subscribe(&format!("/rooms/{code}/events"), None).await;
    let connected = events.next_event().await.expect("an event");
    assert_eq!(connected.event(), Some("connected"));

    let models = api.get(&format!("/rooms/{code}/v1/models")).await;
    assert_eq!(models.status, StatusCode::OK);
    assert_eq!(models.body["object"], "list", "{}", models.body);

    // Other methods on the page's address are the management plane's 404.
    let posted = api
        .send(api.request(Method::POST, &format!("/rooms/{code}")))
        .await;
    assert_eq!(posted.status, StatusCode::NOT_FOUND);
    assert_eq!(
        posted.body["error"]["code"], "INVALID_REQUEST",
        "{}",
        posted.body
    );
}
