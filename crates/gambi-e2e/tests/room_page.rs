//! The web room page (`GET /rooms/{code}`) in a real browser: headless Chromium opens the
//! page the hub serves, participants join and requests go through real runtimes to fake
//! providers, and the test reads what the page shows.
//!
//! `conformance/browser/session.mjs` (playwright-core) drives Debian's Chromium one JSON
//! command at a time, so the test can act between looking: open the page, join a
//! participant, wait until its card shows, send a request, wait until the feed shows it.
//! `./scripts/browser-env` installs what this needs; a missing piece fails the test with
//! that advice, it never skips.
//!
//! The README's screenshot comes from `a_busy_room_on_a_projector_and_on_a_phone`:
//! `GAMBI_ROOM_PAGE_SCREENSHOT=docs/room-page.png cargo test -p gambi-e2e --test room_page`
//! (a relative path is taken from the repository's root).
#![allow(clippy::unwrap_used)] // Tests fail loudly.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use gambi_hub::HubConfig;
use gambi_participant::{ParticipantSession, SessionOptions};
use gambi_protocol as proto;
use gambi_test_support::cluster::Link;
use gambi_test_support::{Cluster, FakeProvider, FakeProviderConfig, ParticipantSpec, Reply};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The longest one browser command may take (the page's own waits are shorter).
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

const PASSWORD: &str = "page-pass";

#[tokio::test(flavor = "multi_thread")]
async fn the_page_shows_a_participant_that_joins_and_a_request_that_completes() {
    let mut cluster = Cluster::start().await;
    let mut browser = Browser::start().await;
    browser
        .open(&page_url(&cluster.hub.url(), &cluster), 1280, 900)
        .await;
    browser.wait("#stream-state[data-state='live']").await;
    browser.wait("#no-participants").await;
    assert_eq!(browser.text("#room-name").await, "Test room");
    assert_eq!(
        browser.text("#join-command").await,
        format!(
            "gambi participant join --hub {} --room {}",
            cluster.hub.url(),
            cluster.code
        )
    );

    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let card = "#participants li[data-participant='alice'][data-status='online']";
    browser.wait(card).await;
    let shown = browser.text(card).await;
    for part in ["alice (test)", "llama3", "0/1 slots", "tunnel up"] {
        assert!(shown.contains(part), "{part} in {shown:?}");
    }
    browser.gone("#no-participants").await;

    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::tokens(["Hello", " from", " the", " page"]).usage(7, 4));
    let request_id = chat(&cluster, "*").await;
    let row = format!("#feed tr[data-request='{request_id}'][data-status='done']");
    browser.wait(&row).await;
    let cells = browser.texts(&format!("{row} td")).await;
    assert_eq!(cells[1..4], ["done", "alice (test)", "llama3"], "{cells:?}");
    assert!(is_duration(&cells[4]), "TTFT shown: {cells:?}");
    assert!(is_duration(&cells[5]), "duration shown: {cells:?}");
    assert_eq!(cells[6], "4", "output tokens: {cells:?}");
    assert!(cells[7].parse::<f64>().is_ok(), "tokens/s shown: {cells:?}");

    let leader = "#leaderboard tr[data-participant='alice'] td";
    browser.wait(leader).await;
    let cells = browser.texts(leader).await;
    assert_eq!(cells[..3], ["1", "alice (test)", "1"], "{cells:?}");
    assert!(is_duration(&cells[3]), "median TTFT: {cells:?}");
    assert_eq!(cells[5], "4", "{cells:?}");
    browser.gone("#no-leaders").await;

    // Names can be anything: the page shows them as text, never as markup.
    let registered = cluster
        .http
        .put(
            cluster
                .hub
                .url_for(&format!("/v1/rooms/{}/participants/mallory", cluster.code)),
        )
        .json(&json!({
            "nickname": "<img src=x id=pwned>",
            "model": "<b>bold</b>",
            "endpoint": "http://127.0.0.1:9",
        }))
        .send()
        .await
        .unwrap();
    assert!(registered.status().is_success(), "{registered:?}");
    let card = "#participants li[data-participant='mallory']";
    browser.wait(card).await;
    let shown = browser.text(card).await;
    assert!(shown.contains("<img src=x id=pwned>"), "{shown:?}");
    assert!(shown.contains("<b>bold</b>"), "{shown:?}");
    assert_eq!(browser.count("#pwned").await, 0);
    assert_eq!(browser.count("#participants b, #participants img").await, 0);

    // The projector mode.
    browser.click("#large-type").await;
    browser.wait("body.large").await;
    assert_eq!(browser.attr("#large-type", "aria-pressed").await, "true");

    browser.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_protected_room_asks_for_the_password_once_and_never_puts_it_in_an_address() {
    let mut cluster = Cluster::with(
        HubConfig::default(),
        json!({"name": "Secret", "password": PASSWORD}),
    )
    .await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let mut browser = Browser::start().await;
    browser
        .open(&page_url(&cluster.hub.url(), &cluster), 1280, 900)
        .await;
    browser.wait("#password-panel").await;
    browser.wait("#stream-state[data-state='password']").await;
    // Who is in the room is public; what they do is not.
    browser
        .wait("#participants li[data-participant='alice'][data-status='online']")
        .await;
    assert!(
        browser
            .text("#join-command")
            .await
            .ends_with("--password '<room password>'")
    );

    browser.fill("#password-input", "not-it").await;
    browser.press("#password-input", "Enter").await;
    browser.wait("#password-error").await;
    assert!(
        browser
            .text("#password-error")
            .await
            .contains("not this room's"),
        "a wrong password is said to be wrong"
    );

    browser.fill("#password-input", PASSWORD).await;
    browser.click("#password-form button[type='submit']").await;
    browser.wait("#stream-state[data-state='live']").await;
    browser.gone("#password-panel").await;
    assert_eq!(browser.attr("#password-input", "value").await, Value::Null);

    cluster
        .member("alice")
        .provider
        .push_reply(Reply::tokens(["Only", " for", " members"]));
    let request_id = chat(&cluster, "alice").await;
    browser
        .wait(&format!(
            "#feed tr[data-request='{request_id}'][data-status='done']"
        ))
        .await;

    let url = browser.send(json!({"op": "url"})).await["url"].clone();
    let requests = browser.send(json!({"op": "requests"})).await["requests"].clone();
    let requests = requests.as_array().unwrap();
    for request in requests.iter().chain([&json!({"url": url})]) {
        let address = request["url"].as_str().unwrap();
        assert!(
            !address.contains(PASSWORD) && !address.contains("not-it"),
            "no password in {address}"
        );
    }
    let events = format!("/v1/rooms/{}/events", cluster.code);
    let sent: Vec<&Value> = requests
        .iter()
        .filter(|request| request["url"].as_str().unwrap().ends_with(&events))
        .map(|request| &request["authorization"])
        .collect();
    assert_eq!(
        sent,
        [
            &json!("Bearer not-it"),
            &json!(format!("Bearer {PASSWORD}"))
        ],
        "the event stream is asked for with the wrong, then with the right password"
    );
    browser.assert_clean_console().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_reconnects_when_its_event_stream_drops() {
    let mut cluster = Cluster::start().await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    // The browser reaches the hub through a relay the test can cut.
    let link = Link::start(cluster.hub.addr()).await;
    let mut browser = Browser::start().await;
    browser
        .open(&page_url(&link.url(), &cluster), 1280, 900)
        .await;
    browser
        .wait("#stream-state[data-state='live'][data-connects='1']")
        .await;

    link.cut();
    browser
        .wait("#stream-state[data-state='live'][data-connects='2']")
        .await;
    cluster
        .member("alice")
        .provider
        .push_reply(Reply::tokens(["Still", " here"]));
    let request_id = chat(&cluster, "*").await;
    browser
        .wait(&format!(
            "#feed tr[data-request='{request_id}'][data-status='done']"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_busy_room_on_a_projector_and_on_a_phone() {
    let cluster = Cluster::with(HubConfig::default(), json!({"name": "Hackathon lab"})).await;
    let alice = join_with_specs(
        &cluster,
        "alice-laptop",
        "llama3.1:8b",
        2,
        proto::MachineSpecs {
            gpu: Some("NVIDIA RTX 4090".into()),
            vram: Some(24.0),
            ram: Some(64.0),
            cpu: Some("AMD Ryzen 9 7950X".into()),
        },
    )
    .await;
    let bob = join_with_specs(
        &cluster,
        "bob-mac",
        "qwen3:8b",
        1,
        proto::MachineSpecs {
            gpu: Some("Apple M2 Pro".into()),
            vram: None,
            ram: Some(32.0),
            cpu: None,
        },
    )
    .await;
    let offline = cluster
        .http
        .put(cluster.hub.url_for(&format!(
            "/v1/rooms/{}/participants/carol-desktop",
            cluster.code
        )))
        .json(&json!({
            "nickname": "carol-desktop",
            "model": "mistral:7b",
            "endpoint": "http://127.0.0.1:9",
            "specs": {"gpu": "AMD RX 7800 XT", "vram": 16, "ram": 32},
        }))
        .send()
        .await
        .unwrap();
    assert!(offline.status().is_success(), "{offline:?}");

    let mut browser = Browser::start().await;
    // At a name, as people on the network open it (the browser maps the name to
    // 127.0.0.1): the QR code and the command name it, and no notice says that only this
    // machine can reach the hub.
    let origin = format!("http://gambi-hub.test:{}", cluster.hub.addr().port());
    browser
        .open(
            &format!("{}?large=1", page_url(&origin, &cluster)),
            1600,
            1000,
        )
        .await;
    browser
        .wait("body.large #stream-state[data-state='live']")
        .await;
    assert!(
        browser
            .text("#join-command")
            .await
            .starts_with(&format!("gambi participant join --hub {origin} --room")),
    );
    assert_eq!(browser.attr("#loopback-notice", "hidden").await, "");
    let card = "#participants li[data-participant='alice-laptop']";
    browser.wait(card).await;
    assert!(
        browser
            .text(card)
            .await
            .contains("NVIDIA RTX 4090 24 GB · 64 GB RAM · AMD Ryzen 9 7950X")
    );

    // Alice answers quickly, Bob slowly: the leaderboard puts Alice first.
    for reply in [
        ["Hello", " there", "!", " How", " can", " I", " help"],
        ["Rust", " is", " a", " systems", " language", ".", ""],
        ["Sure", ",", " here", " is", " a", " haiku", "."],
    ] {
        alice
            .0
            .push_reply(Reply::tokens(reply).token_delay(Duration::from_millis(2)));
        chat(&cluster, "alice-laptop").await;
    }
    for reply in [
        ["Thinking", " about", " it", ",", " the", " answer", " is"],
        ["Let", " me", " explain", " step", " by", " step", "."],
    ] {
        bob.0
            .push_reply(Reply::tokens(reply).token_delay(Duration::from_millis(60)));
        chat(&cluster, "bob-mac").await;
    }
    bob.0.push_reply(Reply::server_error());
    let failed = cluster
        .post(
            "/chat/completions",
            &json!({"model": "bob-mac", "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert!(failed.status().is_server_error(), "{failed:?}");
    browser.wait("#feed tr[data-status='error']").await;
    assert_eq!(browser.count("#feed tr[data-status='done']").await, 5);
    let leaders = browser.texts("#leaderboard tbody tr td.name").await;
    assert_eq!(leaders, ["alice-laptop", "bob-mac"]);

    // One still running, on a participant with every slot taken.
    bob.0.push_reply(Reply::hang());
    let running = {
        let request = cluster
            .http
            .post(format!("{}/chat/completions", cluster.base_url()))
            .json(&json!({"model": "bob-mac", "stream": true,
                          "messages": [{"role": "user", "content": "Write a long story"}]}));
        // Held open until the test ends; its provider never answers.
        tokio::spawn(async move {
            let response = request.send().await;
            std::future::pending::<()>().await;
            drop(response);
        })
    };
    browser.wait("#feed tr[data-status='running']").await;
    browser
        .wait("#participants li[data-participant='bob-mac'][data-status='busy']")
        .await;

    let shot = std::env::temp_dir().join(format!("gambi-room-page-{}.png", std::process::id()));
    browser
        .send(json!({"op": "screenshot", "path": shot, "fullPage": true}))
        .await;
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    if let Some(target) = std::env::var_os("GAMBI_ROOM_PAGE_SCREENSHOT") {
        let target = repository().join(target);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(target, &png).unwrap();
    }
    std::fs::remove_file(&shot).unwrap();

    // On a phone, the page fits the screen's width.
    browser
        .open(&page_url(&cluster.hub.url(), &cluster), 390, 844)
        .await;
    browser.wait("#stream-state[data-state='live']").await;
    browser
        .wait("#participants li[data-participant='alice-laptop']")
        .await;
    let fits = browser
        .send(json!({"op": "eval",
                     "expression": "document.documentElement.scrollWidth <= window.innerWidth"}))
        .await;
    if fits["value"] != true {
        let wider = browser
            .send(json!({"op": "eval", "expression": STICKING_OUT}))
            .await;
        panic!("sideways scrolling on a phone: {}", wider["value"]);
    }
    browser.assert_clean_console().await;
    running.abort();
}

/// The elements wider than the window, for a failure message.
const STICKING_OUT: &str = "[...document.querySelectorAll('*')]\
    .filter((e) => e.getBoundingClientRect().right > window.innerWidth)\
    .map((e) => `${e.tagName}#${e.id}.${e.className}`).join(', ')";

/// The room page of `cluster`'s room, reached at `origin`.
fn page_url(origin: &str, cluster: &Cluster) -> String {
    format!("{origin}/rooms/{}", cluster.code)
}

/// Sends a streamed chat completion for `model` to the room, reads it whole, and returns
/// its request id.
async fn chat(cluster: &Cluster, model: &str) -> String {
    let response = cluster
        .post(
            "/chat/completions",
            &json!({
                "model": model,
                "stream": true,
                "messages": [{"role": "user", "content": "Say hello"}],
            }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let id = response
        .headers()
        .get("x-gambi-request-id")
        .and_then(|value| value.to_str().ok())
        .unwrap()
        .to_owned();
    let body = response.text().await.unwrap();
    assert!(body.contains("[DONE]"), "{body}");
    id
}

/// Whether the page shows a time: `12.3 ms`, `45 ms`, `1.20 s`.
fn is_duration(text: &str) -> bool {
    text.strip_suffix(" ms")
        .or_else(|| text.strip_suffix(" s"))
        .is_some_and(|number| number.parse::<f64>().is_ok())
}

/// Joins a participant that shares `specs` (which [`Cluster::join`] leaves out) and
/// returns its provider and session, which keep it in the room.
async fn join_with_specs(
    cluster: &Cluster,
    id: &str,
    model: &str,
    slots: u32,
    specs: proto::MachineSpecs,
) -> (FakeProvider, ParticipantSession) {
    let provider = FakeProvider::start(FakeProviderConfig {
        models: vec![model.to_owned()],
        ..FakeProviderConfig::default()
    })
    .await;
    let mut options = SessionOptions::new(
        cluster.hub.url().parse().unwrap(),
        &cluster.code,
        id,
        id,
        model,
        provider.base_url().parse().unwrap(),
    );
    options.specs = Some(specs);
    options.max_concurrency = NonZeroU32::new(slots).unwrap();
    let session = ParticipantSession::start(options).await.unwrap();
    cluster.wait_routable(id).await;
    (provider, session)
}

/// Headless Chromium, driven one command at a time by `session.mjs`.
struct Browser {
    _child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    async fn start() -> Self {
        let dir = repository().join("conformance/browser");
        assert!(
            dir.join("node_modules/playwright-core").exists(),
            "the room page test needs its npm packages: run ./scripts/browser-env"
        );
        let mut child =
            Command::new("node")
                .arg(dir.join("session.mjs"))
                .arg(chromium())
                .env_clear()
                .envs(std::env::vars().filter(|(name, _)| {
                    matches!(name.as_str(), "PATH" | "HOME" | "LANG" | "TMPDIR")
                }))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .kill_on_drop(true)
                .spawn()
                .expect("node runs");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            _child: child,
            stdin,
            stdout,
        }
    }

    /// Sends one command and returns its answer; a failed command fails the test, with
    /// what the page logged.
    async fn send(&mut self, command: Value) -> Value {
        let answer = self.exchange(&command).await;
        if answer["ok"] != true {
            let console = self.exchange(&json!({"op": "console"})).await;
            panic!(
                "{command} failed: {}\npage console: {}",
                answer["error"], console["console"]
            );
        }
        answer
    }

    async fn exchange(&mut self, command: &Value) -> Value {
        let line = format!("{command}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
        let answer = tokio::time::timeout(COMMAND_LIMIT, self.stdout.next_line())
            .await
            .unwrap_or_else(|_| panic!("{command} answered in time"))
            .unwrap()
            .unwrap_or_else(|| panic!("the browser session ended during {command}"));
        serde_json::from_str(&answer).unwrap_or_else(|error| panic!("{error}: {answer}"))
    }

    async fn open(&mut self, url: &str, width: u32, height: u32) {
        self.send(json!({"op": "open", "url": url, "width": width, "height": height}))
            .await;
    }

    async fn wait(&mut self, selector: &str) {
        self.send(json!({"op": "wait", "selector": selector})).await;
    }

    async fn gone(&mut self, selector: &str) {
        self.send(json!({"op": "gone", "selector": selector})).await;
    }

    async fn text(&mut self, selector: &str) -> String {
        let answer = self.send(json!({"op": "text", "selector": selector})).await;
        answer["text"].as_str().unwrap().to_owned()
    }

    async fn texts(&mut self, selector: &str) -> Vec<String> {
        let answer = self
            .send(json!({"op": "texts", "selector": selector}))
            .await;
        serde_json::from_value(answer["texts"].clone()).unwrap()
    }

    async fn count(&mut self, selector: &str) -> u64 {
        let answer = self
            .send(json!({"op": "count", "selector": selector}))
            .await;
        answer["count"].as_u64().unwrap()
    }

    async fn attr(&mut self, selector: &str, name: &str) -> Value {
        let answer = self
            .send(json!({"op": "attr", "selector": selector, "name": name}))
            .await;
        answer["value"].clone()
    }

    async fn fill(&mut self, selector: &str, value: &str) {
        self.send(json!({"op": "fill", "selector": selector, "value": value}))
            .await;
    }

    async fn press(&mut self, selector: &str, key: &str) {
        self.send(json!({"op": "press", "selector": selector, "key": key}))
            .await;
    }

    async fn click(&mut self, selector: &str) {
        self.send(json!({"op": "click", "selector": selector}))
            .await;
    }

    /// No script error and nothing the Content Security Policy refused.
    async fn assert_clean_console(&mut self) {
        let answer = self.send(json!({"op": "console"})).await;
        let lines: Vec<String> = serde_json::from_value(answer["console"].clone()).unwrap();
        let bad: Vec<&String> = lines
            .iter()
            .filter(|line| {
                line.starts_with("pageerror")
                    || line.contains("Content Security Policy")
                    || line.contains("Refused to")
            })
            .collect();
        assert!(bad.is_empty(), "{bad:?}");
    }
}

/// The repository's root.
fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Chromium: `GAMBI_CHROMIUM`, else Debian's `/usr/bin/chromium`.
fn chromium() -> PathBuf {
    let chromium = std::env::var_os("GAMBI_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    assert!(
        chromium.exists(),
        "the room page test needs Chromium at {}: run ./scripts/browser-env (or set GAMBI_CHROMIUM)",
        chromium.display()
    );
    chromium
}
