//! The official OpenAI JS SDK in a real browser: a page on another origin streams a chat
//! completion and a response through the hub, in headless Chromium.
//!
//! The test serves the page (`conformance/browser/index.html` and the SDK bundle that
//! `npm run build` makes in `conformance/browser/dist/`) from a loopback port of its own,
//! so the browser treats the hub as another origin and every call goes through CORS: the
//! SDK sends `Authorization` (the room password) and its `x-stainless-*` headers, which the
//! preflight must allow, and reads `x-request-id`, which the hub must expose.
//! `conformance/browser/drive.mjs` (playwright-core) opens the page in Debian's Chromium
//! and prints what the page shows once it is done; the assertions are on that.
//!
//! `./scripts/browser-env` installs what this needs (Chromium, the pinned npm packages,
//! the bundle); a missing piece fails the test with that advice, it never skips.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use gambi_hub::{CorsOrigins, HubConfig};
use gambi_test_support::{Cluster, ParticipantSpec, Reply};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Command;

/// The longest one browser run may take.
const TIME_LIMIT: Duration = Duration::from_secs(90);

/// The room's password, which the page sends as its API key.
const PASSWORD: &str = "browser-pass";

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_js_sdk_streams_a_chat_completion_and_a_response_from_another_origin() {
    let page = PageServer::start().await;
    let cluster = cluster(HubConfig::default()).await;
    let shown = page.open(&cluster).await;
    assert_eq!(shown["error"], "", "{shown}");
    let result: Value = serde_json::from_str(shown["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["origin"], page.origin(), "{result}");
    assert_ne!(
        page.origin(),
        cluster.hub.url(),
        "the hub is another origin"
    );

    let chat = &result["chat"];
    assert_eq!(chat["text"], "Hello from Gambi", "{result}");
    assert!(chat["chunks"].as_u64().unwrap() >= 3, "streamed: {result}");
    assert!(
        chat["requestId"].as_str().is_some_and(|id| !id.is_empty()),
        "x-request-id is readable from the page: {result}"
    );
    assert_eq!(chat["participant"], "alice", "{result}");

    let responses = &result["responses"];
    assert_eq!(responses["text"], "Streams work", "{result}");
    assert_eq!(responses["completed"], "Streams work", "{result}");
    let events: Vec<&str> = responses["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event.as_str().unwrap())
        .collect();
    for kind in [
        "response.created",
        "response.output_text.delta",
        "response.completed",
    ] {
        assert!(events.contains(&kind), "{kind} in {events:?}");
    }
    // The provider saw exactly the two calls, and no preflight.
    assert_eq!(
        generations(&cluster),
        ["/v1/chat/completions", "/v1/responses"]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_configured_origins_may_call_the_hub_from_a_browser() {
    let page = PageServer::start().await;
    let allowed = cluster(HubConfig {
        cors_origins: CorsOrigins::parse([page.origin()]).unwrap(),
        ..HubConfig::default()
    })
    .await;
    let shown = page.open(&allowed).await;
    assert_eq!(shown["error"], "", "{shown}");
    let result: Value = serde_json::from_str(shown["result"].as_str().unwrap()).unwrap();
    assert_eq!(result["chat"]["text"], "Hello from Gambi", "{result}");

    let elsewhere = cluster(HubConfig {
        cors_origins: CorsOrigins::parse(["http://127.0.0.1:9"]).unwrap(),
        ..HubConfig::default()
    })
    .await;
    let shown = page.open(&elsewhere).await;
    assert_eq!(shown["result"], "", "{shown}");
    assert!(
        shown["error"]
            .as_str()
            .unwrap()
            .starts_with("APIConnectionError"),
        "the browser refuses the answer: {shown}"
    );
    assert!(
        shown["console"]
            .as_array()
            .unwrap()
            .iter()
            .any(|line| line.as_str().unwrap().contains("CORS")),
        "{shown}"
    );
    // The preflight was refused, so the call itself was never sent.
    assert_eq!(generations(&elsewhere), Vec::<String>::new());
}

/// The paths of the generation requests the provider received (its probes left out).
fn generations(cluster: &Cluster) -> Vec<String> {
    cluster
        .member("alice")
        .provider
        .requests()
        .into_iter()
        .filter(|request| {
            request
                .body
                .as_ref()
                .is_some_and(|body| body.get("model").is_some())
        })
        .map(|request| request.path)
        .collect()
}

/// A hub with `config` and a protected room with one participant, whose provider answers
/// the chat completion and then the response.
async fn cluster(config: HubConfig) -> Cluster {
    let mut cluster = Cluster::with(config, json!({"name": "Browser", "password": PASSWORD})).await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::tokens(["Hello", " from", " Gambi"]));
    provider.push_reply(Reply::tokens(["Streams", " work"]));
    cluster
}

/// The page, served from a loopback port of its own.
struct PageServer {
    origin: String,
    browser_dir: PathBuf,
}

impl PageServer {
    async fn start() -> Self {
        let browser_dir = repository().join("conformance/browser");
        let bundle = browser_dir.join("dist/page.js");
        assert!(
            bundle.exists() && browser_dir.join("node_modules/playwright-core").exists(),
            "the browser test needs its npm packages and the SDK bundle: run ./scripts/browser-env"
        );
        let files = [
            (
                "/index.html",
                "text/html; charset=utf-8",
                browser_dir.join("index.html"),
            ),
            ("/page.js", "text/javascript; charset=utf-8", bundle),
        ]
        .map(|(path, kind, file)| (path, kind, std::fs::read(file).unwrap()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let origin = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let files = std::sync::Arc::new(files);
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve_file(socket, files.clone()));
            }
        });
        Self {
            origin,
            browser_dir,
        }
    }

    fn origin(&self) -> &str {
        &self.origin
    }

    /// Opens the page against `cluster`'s room and returns what it shows.
    async fn open(&self, cluster: &Cluster) -> Value {
        let base = format!("{}/rooms/{}/v1", cluster.hub.url(), cluster.code);
        let url = format!(
            "{}/index.html?base={}&key={PASSWORD}&model=llama3",
            self.origin,
            base.replace(':', "%3A").replace('/', "%2F")
        );
        let mut command = Command::new("node");
        command
            .arg(self.browser_dir.join("drive.mjs"))
            .arg(&url)
            .arg(chromium())
            .env_clear()
            .envs(
                std::env::vars().filter(|(name, _)| {
                    matches!(name.as_str(), "PATH" | "HOME" | "LANG" | "TMPDIR")
                }),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let output = tokio::time::timeout(TIME_LIMIT, command.output())
            .await
            .expect("the browser run ends in time")
            .expect("node runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "drive.mjs failed: {stderr}\n{stdout}"
        );
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|error| panic!("{error}: {stdout} {stderr}"))
    }
}

/// Serves one request for one of `files` (path, content type, bytes), then closes.
async fn serve_file(
    mut socket: tokio::net::TcpStream,
    files: std::sync::Arc<[(&'static str, &'static str, Vec<u8>); 2]>,
) {
    let mut request = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !request.windows(4).any(|window| window == b"\r\n\r\n") {
        match socket.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => request.extend_from_slice(&buffer[..read]),
        }
    }
    let line = String::from_utf8_lossy(&request);
    let path = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_owned();
    let (status, kind, body): (&str, &str, &[u8]) =
        match files.iter().find(|(served, _, _)| *served == path) {
            Some((_, kind, body)) => ("200 OK", kind, body),
            None => ("404 Not Found", "text/plain", b"not found"),
        };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = socket.write_all(head.as_bytes()).await;
    let _ = socket.write_all(body).await;
    let _ = socket.shutdown().await;
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
        "the browser test needs Chromium at {}: run ./scripts/browser-env (or set GAMBI_CHROMIUM)",
        chromium.display()
    );
    chromium
}
