//! The hub's Prometheus metrics, end to end: real requests through a cluster (our runtime,
//! and a hand-written runtime of the original protocol that also sends a broken frame),
//! then `/metrics` scraped over a socket and its exposition parsed line by line against
//! the OpenMetrics text format; the bearer token; the separate listener; the label limits.
#![allow(clippy::unwrap_used)] // Tests fail loudly.

mod inference_support;

use std::collections::{BTreeMap, HashMap, HashSet};

use gambi_hub::{HubConfig, LabelLimits, MetricsConfig};
use gambi_test_support::cluster::Link;
use gambi_test_support::{Cluster, ParticipantSpec, Reply, TestHub};
use inference_support::{
    RawParticipant, chat, chat_completion_body, chat_stream, read_sse, responses,
    wait_disconnected, wait_routable, within,
};
use serde_json::json;

/// One sample line: its metric name, labels and value.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: the type of each family, and the samples.
#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample `name` whose labels include `labels`; fails unless exactly
    /// one matches.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let found: Vec<&Sample> = self.find(name, labels).collect();
        assert_eq!(
            found.len(),
            1,
            "one {name}{labels:?} in {:#?}",
            self.samples
        );
        found[0].value
    }

    fn find<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = &'a Sample> {
        self.samples.iter().filter(move |sample| {
            sample.name == name
                && labels
                    .iter()
                    .all(|(key, value)| sample.labels.get(*key).map(String::as_str) == Some(value))
        })
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses `{key="value",...}` (escapes `\\`, `\"`, `\n`); returns the labels and the rest.
fn parse_labels(text: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let Some(mut rest) = text.strip_prefix('{') else {
        return (labels, text);
    };
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (key, after) = rest.split_once("=\"").expect("a label is key=\"value\"");
        assert!(
            is_metric_name(key) && !key.contains(':'),
            "label name {key:?}"
        );
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a closed label value") {
                (_, '\\') => match chars.next().expect("an escape").1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    other => panic!("unknown escape \\{other}"),
                },
                (at, '"') => break at,
                (_, c) => value.push(c),
            }
        };
        assert!(
            labels.insert(key.to_owned(), value).is_none(),
            "label {key} twice"
        );
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses an OpenMetrics text exposition, checking each line against the format: `# HELP`,
/// `# TYPE` and `# UNIT` lines before a family's samples, samples named after a declared
/// family (with its type's suffixes), no sample twice, histogram buckets cumulative with
/// `+Inf` equal to `_count`, and `# EOF` last.
fn parse(text: &str) -> Exposition {
    let mut exposition = Exposition::default();
    assert!(text.ends_with("# EOF\n"), "ends with # EOF: {text}");
    let mut seen = HashSet::new();
    for line in text.lines().take_while(|line| *line != "# EOF") {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(is_metric_name(name), "{line}");
            let rest = parts.next().unwrap_or_default();
            match kind {
                "TYPE" => {
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "info",
                            "stateset",
                            "unknown"
                        ]
                        .contains(&rest),
                        "{line}"
                    );
                    exposition.types.insert(name.to_owned(), rest.to_owned());
                }
                "HELP" => assert!(!rest.is_empty(), "{line}"),
                "UNIT" => assert!(name.ends_with(&format!("_{rest}")), "{line}"),
                _ => panic!("unknown comment {line}"),
            }
            continue;
        }
        let name_end = line.find(['{', ' ']).expect("a sample has a value");
        let name = &line[..name_end];
        assert!(is_metric_name(name), "{line}");
        let (labels, rest) = parse_labels(&line[name_end..]);
        let value = rest.strip_prefix(' ').expect("a space before the value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse().unwrap_or_else(|_| panic!("a number: {line}")),
        };
        let family = [
            ("_total", "counter"),
            ("_bucket", "histogram"),
            ("_sum", "histogram"),
            ("_count", "histogram"),
            ("", "gauge"),
        ]
        .iter()
        .find_map(|(suffix, kind)| {
            let family = name.strip_suffix(suffix)?;
            (exposition.types.get(family).map(String::as_str) == Some(kind)).then_some(family)
        });
        assert!(family.is_some(), "{line}: not in a declared family");
        assert!(
            seen.insert(format!("{name}{labels:?}")),
            "{line}: sample twice"
        );
        exposition.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    check_histograms(&exposition);
    exposition
}

fn check_histograms(exposition: &Exposition) {
    for (family, kind) in &exposition.types {
        if kind != "histogram" {
            continue;
        }
        let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let bucket_name = format!("{family}_bucket");
        for sample in exposition.samples.iter().filter(|s| s.name == bucket_name) {
            let mut series = sample.labels.clone();
            let le = series.remove("le").expect("a bucket has le");
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap()
            };
            buckets
                .entry(format!("{series:?}"))
                .or_default()
                .push((le, sample.value));
        }
        for (series, buckets) in buckets {
            assert!(
                buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1),
                "{family}{series}: bounds ascending, counts cumulative: {buckets:?}"
            );
            let (last, total) = *buckets.last().unwrap();
            assert_eq!(last, f64::INFINITY, "{family}{series} ends with +Inf");
            let count = exposition
                .samples
                .iter()
                .find(|s| {
                    s.name == format!("{family}_count") && format!("{:?}", s.labels) == series
                })
                .unwrap_or_else(|| panic!("{family}_count{series}"));
            assert_eq!(count.value, total, "{family}{series}: +Inf is the count");
        }
    }
}

async fn scrape(url: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    within("scrape", request.send()).await.unwrap()
}

async fn scrape_ok(url: &str, token: Option<&str>) -> Exposition {
    let response = scrape(url, token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        gambi_hub::METRICS_CONTENT_TYPE
    );
    parse(&response.text().await.unwrap())
}

#[tokio::test]
async fn a_scrape_counts_what_the_room_served() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").slots(2))
        .await;
    let code = cluster.code.clone();
    let provider = &cluster.member("alice").provider;
    provider.push_reply(Reply::tokens(["a", " b", " c"]).usage(7, 3));
    provider.push_reply(Reply::tokens(["d", " e"]).usage(4, 2));
    let _watcher = cluster.events().await;

    let streamed = cluster
        .post("/chat/completions", &chat_stream("alice", "hi"))
        .await;
    assert_eq!(streamed.status(), 200);
    read_sse(streamed).await;
    let answered = cluster.post("/responses", &responses("llama3", "hi")).await;
    assert_eq!(answered.status(), 200);
    answered.bytes().await.unwrap();
    let nobody = cluster
        .post("/chat/completions", &chat("mistral", "hi"))
        .await;
    assert_eq!(nobody.status(), 404, "no participant serves that model");

    // A runtime of the original protocol whose first answer carries a broken frame.
    let mut raw = RawParticipant::join(&cluster, "raw", "tiny").await;
    let request = {
        let body = chat("raw", "hi");
        let send = cluster.post("/chat/completions", &body);
        let answer = async {
            let request = raw.next_request().await;
            raw.start(&request.request_id, 42, "application/json").await;
            raw.start(&request.request_id, 200, "application/json")
                .await;
            raw.chunk(&request.request_id, &chat_completion_body("ok"))
                .await;
            raw.end(&request.request_id).await;
        };
        let (response, ()) = tokio::join!(send, answer);
        response
    };
    assert_eq!(
        request.status(),
        200,
        "frames after the broken one still count"
    );
    request.bytes().await.unwrap();

    let metrics = scrape_ok(&cluster.hub.url_for("/metrics"), None).await;
    let alice = [
        ("room", code.as_str()),
        ("participant", "alice"),
        ("model", "llama3"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut labels = alice.to_vec();
        labels.extend_from_slice(extra);
        labels
    };
    let complete = |protocol| with(&[("protocol", protocol), ("outcome", "complete")]);
    assert_eq!(
        metrics.value("gambi_requests_total", &complete("chatCompletions")),
        1.0
    );
    assert_eq!(
        metrics.value("gambi_requests_total", &complete("openResponses")),
        1.0
    );
    assert_eq!(
        metrics.value(
            "gambi_requests_total",
            &[
                ("room", code.as_str()),
                ("participant", gambi_hub::NO_PARTICIPANT),
                ("model", gambi_hub::NO_PARTICIPANT),
                ("protocol", "chatCompletions"),
                ("outcome", "routing"),
            ]
        ),
        1.0,
        "the model the client asked for is never a label"
    );
    assert!(
        metrics
            .find("gambi_requests_total", &[("model", "mistral")])
            .next()
            .is_none()
    );
    assert_eq!(
        metrics.value(
            "gambi_requests_total",
            &[
                ("participant", "raw"),
                ("model", "tiny"),
                ("outcome", "complete")
            ]
        ),
        1.0
    );
    assert_eq!(metrics.value("gambi_input_tokens_total", &alice), 11.0);
    assert_eq!(metrics.value("gambi_output_tokens_total", &alice), 5.0);
    assert_eq!(metrics.value("gambi_ttft_seconds_count", &alice), 2.0);
    assert_eq!(
        metrics.value("gambi_request_duration_seconds_count", &alice),
        2.0
    );
    assert_eq!(
        metrics.value("gambi_ttft_seconds_bucket", &with(&[("le", "+Inf")])),
        2.0
    );
    let room = [("room", code.as_str())];
    assert_eq!(metrics.value("gambi_queue_wait_seconds_count", &room), 3.0);
    assert_eq!(metrics.value("gambi_queue_depth", &room), 0.0);
    assert_eq!(
        metrics.value("gambi_slots", &room),
        3.0,
        "alice's 2 and raw's 1"
    );
    assert_eq!(metrics.value("gambi_slots_in_use", &room), 0.0);
    assert_eq!(
        metrics.value(
            "gambi_participants",
            &[("room", code.as_str()), ("state", "online")]
        ),
        2.0
    );
    assert_eq!(
        metrics.value(
            "gambi_participants",
            &[("room", code.as_str()), ("state", "offline")]
        ),
        0.0
    );
    assert_eq!(metrics.value("gambi_event_subscribers", &room), 1.0);
    assert_eq!(metrics.value("gambi_tunnel_reconnects_total", &room), 0.0);
    assert_eq!(metrics.value("gambi_rooms", &[]), 1.0);
    assert_eq!(metrics.value("gambi_requests_in_flight", &[]), 0.0);
    assert_eq!(metrics.value("gambi_malformed_frames_total", &[]), 1.0);
    assert_eq!(metrics.types["gambi_ttft_seconds"], "histogram");
    assert_eq!(metrics.types["gambi_requests"], "counter");
}

#[tokio::test]
async fn a_participant_that_reconnects_is_counted() {
    let mut cluster = Cluster::start().await;
    let link = Link::start(cluster.hub.addr()).await;
    cluster
        .join(ParticipantSpec::new("alice", "llama3").through(&link))
        .await;
    link.cut();
    within("the tunnel drops", wait_disconnected(&cluster, "alice")).await;
    within("the runtime reconnects", wait_routable(&cluster, "alice")).await;

    let metrics = scrape_ok(&cluster.hub.url_for("/metrics"), None).await;
    let room = [("room", cluster.code.as_str())];
    assert_eq!(metrics.value("gambi_tunnel_reconnects_total", &room), 1.0);
    assert_eq!(
        metrics.value(
            "gambi_participants",
            &[("room", cluster.code.as_str()), ("state", "online")]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_token_guards_the_metrics_and_else_the_admin_token_does() {
    let config = HubConfig {
        metrics: MetricsConfig {
            token: Some("scrape-secret".into()),
            ..MetricsConfig::default()
        },
        admin_token: Some("admin-secret".into()),
        ..HubConfig::default()
    };
    let hub = TestHub::with_config(config).await;
    let url = hub.url_for("/metrics");
    let refused = scrape(&url, None).await;
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    assert_eq!(scrape(&url, Some("admin-secret")).await.status(), 401);
    scrape_ok(&url, Some("scrape-secret")).await;

    let admin_only = TestHub::with_config(HubConfig {
        admin_token: Some("admin-secret".into()),
        ..HubConfig::default()
    })
    .await;
    let url = admin_only.url_for("/metrics");
    assert_eq!(scrape(&url, None).await.status(), 401);
    assert_eq!(scrape(&url, Some("wrong")).await.status(), 401);
    scrape_ok(&url, Some("admin-secret")).await;
}

#[tokio::test]
async fn on_a_listener_of_their_own_the_metrics_leave_the_main_one() {
    let hub = TestHub::with_config(HubConfig {
        metrics: MetricsConfig {
            on_main_listener: false,
            ..MetricsConfig::default()
        },
        ..HubConfig::default()
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = tokio::spawn(gambi_hub::serve_metrics(listener, hub.hub().clone()));

    assert_eq!(scrape(&hub.url_for("/metrics"), None).await.status(), 404);
    let metrics = scrape_ok(&format!("http://{addr}/metrics"), None).await;
    assert_eq!(metrics.value("gambi_rooms", &[]), 0.0);
    let elsewhere = scrape(&format!("http://{addr}/v1/health"), None).await;
    assert_eq!(elsewhere.status(), 404, "only the metrics are served there");

    hub.stop().await;
    within("the metrics listener stops with the hub", served)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn rooms_and_participants_past_the_label_limits_share_a_label() {
    let config = HubConfig {
        metrics: MetricsConfig {
            labels: LabelLimits {
                rooms: 1,
                series_per_room: 1,
            },
            ..MetricsConfig::default()
        },
        ..HubConfig::default()
    };
    let mut cluster = Cluster::with(config, json!({"name": "First"})).await;
    cluster.join(ParticipantSpec::new("alice", "llama3")).await;
    cluster.join(ParticipantSpec::new("bob", "qwen3")).await;
    for who in ["alice", "bob"] {
        let provider = &cluster.member(who).provider;
        provider.push_reply(Reply::tokens(["a"]).usage(1, 1));
        let response = cluster.post("/chat/completions", &chat(who, "hi")).await;
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    let second = cluster
        .http
        .post(cluster.hub.url_for("/v1/rooms"))
        .json(&json!({"name": "Second"}))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 201);

    let metrics = scrape_ok(&cluster.hub.url_for("/metrics"), None).await;
    let code = cluster.code.as_str();
    let complete = [("room", code), ("outcome", "complete")];
    assert_eq!(
        metrics
            .find("gambi_requests_total", &complete)
            .map(|sample| sample.labels["participant"].clone())
            .collect::<Vec<_>>(),
        ["alice", gambi_hub::OTHER_PARTICIPANTS],
        "bob came after the one label the room has"
    );
    assert_eq!(
        metrics.value("gambi_rooms", &[]),
        2.0,
        "the second room is counted"
    );
    assert_eq!(
        metrics.value("gambi_queue_depth", &[("room", gambi_hub::OTHER_ROOMS)]),
        0.0,
        "under the shared room label"
    );
    assert!(metrics.samples.iter().all(|sample| {
        sample
            .labels
            .get("room")
            .is_none_or(|room| room == code || room == gambi_hub::OTHER_ROOMS)
    }));
}
