//! Forwarding one `tunnel.request` to the provider and streaming the answer back as
//! `tunnel.response.*` frames.
//!
//! Each provider read becomes one chunk frame as soon as it arrives; nothing is buffered
//! whole. Frames go to the tunnel through a bounded channel, so a slow tunnel slows down
//! the reads from the provider instead of piling up memory.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use gambi_protocol as proto;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;

use crate::provider::Provider;

/// `stage` of a `tunnel.response.error` for a failure talking to the provider (the
/// original runtime's only stage).
pub(crate) const STAGE_PROXY: &str = "proxy";

/// `stage` of a `tunnel.response.error` for a request refused because every slot is taken.
pub(crate) const STAGE_BUSY: &str = "busy";

/// Longest body piece put in one chunk frame; bigger provider reads are split.
const MAX_CHUNK_BYTES: usize = 256 * 1024;

/// Hub-sent headers that are never passed to the provider: hop-by-hop headers the HTTP
/// client sets itself, and credentials (the provider only ever sees the local ones).
const DROPPED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
    "proxy-authorization",
    "authorization",
    "cookie",
];

/// Forwards `request` to the provider and sends every frame of the answer to `frames`,
/// always ending with `tunnel.response.end` or `tunnel.response.error`.
///
/// Dropping the future (the session aborts it on `tunnel.cancel`) drops the provider
/// request, which closes its connection: the provider sees the client go away.
pub(crate) async fn forward(
    provider: &Provider,
    request: proto::TunnelRequest,
    response_timeout: Duration,
    frames: &mpsc::Sender<proto::ParticipantToHub>,
) {
    let request_id = request.request_id.clone();
    let result = stream_response(provider, request, response_timeout, frames).await;
    let last = match result {
        Ok(()) => proto::ParticipantToHub::ResponseEnd { request_id },
        Err(ForwardError::TunnelGone) => return,
        Err(ForwardError::Provider(message)) => {
            tracing::debug!(%message, "forward failed");
            proto::ParticipantToHub::ResponseError {
                request_id,
                stage: STAGE_PROXY.to_owned(),
                message,
            }
        }
    };
    // If the tunnel is gone there is nobody left to tell.
    let _ = frames.send(last).await;
}

enum ForwardError {
    /// The provider failed; reported to the hub.
    Provider(String),
    /// The tunnel's frame channel closed; nothing can be reported.
    TunnelGone,
}

async fn stream_response(
    provider: &Provider,
    request: proto::TunnelRequest,
    response_timeout: Duration,
    frames: &mpsc::Sender<proto::ParticipantToHub>,
) -> Result<(), ForwardError> {
    let request_id = request.request_id.clone();
    let outgoing = build_request(provider, request)?;
    let response = match tokio::time::timeout(response_timeout, outgoing.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            return Err(ForwardError::Provider(format!(
                "provider request failed: {}",
                error_chain(&error.without_url())
            )));
        }
        Err(_) => {
            return Err(ForwardError::Provider(format!(
                "provider did not answer within {} s",
                response_timeout.as_secs()
            )));
        }
    };
    send(
        frames,
        proto::ParticipantToHub::ResponseStart {
            request_id: request_id.clone(),
            status: response.status().as_u16(),
            headers: header_map_to_wire(response.headers()),
        },
    )
    .await?;
    let mut body = response.bytes_stream();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|error| {
            ForwardError::Provider(format!(
                "provider response broke off: {}",
                error_chain(&error.without_url())
            ))
        })?;
        for part in split(piece) {
            send(frames, proto::ParticipantToHub::chunk(&*request_id, &part)).await?;
        }
    }
    Ok(())
}

async fn send(
    frames: &mpsc::Sender<proto::ParticipantToHub>,
    frame: proto::ParticipantToHub,
) -> Result<(), ForwardError> {
    frames
        .send(frame)
        .await
        .map_err(|_| ForwardError::TunnelGone)
}

fn build_request(
    provider: &Provider,
    request: proto::TunnelRequest,
) -> Result<reqwest::RequestBuilder, ForwardError> {
    let method = match request.method.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "DELETE" => Method::DELETE,
        other => {
            return Err(ForwardError::Provider(format!(
                "unsupported method {other:?}"
            )));
        }
    };
    if !request.path.starts_with('/') {
        return Err(ForwardError::Provider(format!(
            "request path {:?} does not start with '/'",
            request.path
        )));
    }
    let mut headers = merge_headers(&request.headers, provider);
    let mut builder = provider
        .client()
        .request(method, provider.url(&request.path));
    if let Some(body) = request.body {
        let body = serde_json::to_vec(&body)
            .map_err(|error| ForwardError::Provider(format!("cannot encode body: {error}")))?;
        headers
            .entry(CONTENT_TYPE)
            .or_insert(HeaderValue::from_static("application/json"));
        builder = builder.body(body);
    }
    Ok(builder.headers(headers))
}

/// The headers sent to the provider: the hub's (minus [`DROPPED_HEADERS`] and invalid
/// ones), then the local credentials, which replace any header of the same name.
pub(crate) fn merge_headers(hub: &BTreeMap<String, String>, provider: &Provider) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in hub {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) else {
            continue;
        };
        if !DROPPED_HEADERS.contains(&name.as_str()) {
            headers.append(name, value);
        }
    }
    provider.auth().apply_to(&mut headers);
    headers
}

/// Provider response headers as the wire's string map; repeated headers are joined with
/// `, ` and values that are not text are left out.
fn header_map_to_wire(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut wire: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let Ok(value) = value.to_str() else {
            continue;
        };
        wire.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(value);
            })
            .or_insert_with(|| value.to_owned());
    }
    wire
}

/// Splits a read into pieces of at most [`MAX_CHUNK_BYTES`] without copying.
fn split(mut piece: Bytes) -> impl Iterator<Item = Bytes> {
    std::iter::from_fn(move || {
        if piece.is_empty() {
            return None;
        }
        let at = piece.len().min(MAX_CHUNK_BYTES);
        Some(piece.split_to(at))
    })
}

/// An error and its causes, joined with `: `.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::*;
    use crate::auth::AuthHeaders;

    fn provider(auth: &[(&str, &str)]) -> Provider {
        Provider::new(
            &Url::parse("http://127.0.0.1:9/").expect("url"),
            AuthHeaders::from_pairs(auth.iter().copied()).expect("valid"),
        )
        .expect("provider")
    }

    #[test]
    fn local_credentials_win_and_hub_credentials_are_dropped() {
        let hub = BTreeMap::from([
            ("Content-Type".to_owned(), "application/json".to_owned()),
            (
                "Authorization".to_owned(),
                "Bearer room-password".to_owned(),
            ),
            ("X-Api-Key".to_owned(), "from-hub".to_owned()),
            ("Host".to_owned(), "evil".to_owned()),
            ("X-Trace".to_owned(), "t1".to_owned()),
            ("Bad Name".to_owned(), "x".to_owned()),
        ]);
        let merged = merge_headers(&hub, &provider(&[("x-api-key", "local-key")]));
        assert_eq!(merged["content-type"], "application/json");
        assert_eq!(merged["x-api-key"], "local-key");
        assert_eq!(merged.get_all("x-api-key").iter().count(), 1);
        assert_eq!(merged["x-trace"], "t1");
        assert!(merged.get("authorization").is_none());
        assert!(merged.get("host").is_none());

        let with_local = merge_headers(&hub, &provider(&[("authorization", "Bearer sk-local")]));
        assert_eq!(with_local["authorization"], "Bearer sk-local");
    }

    #[test]
    fn response_headers_join_repeats() {
        let mut headers = HeaderMap::new();
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        headers.append(
            "content-type",
            HeaderValue::from_static("text/event-stream"),
        );
        assert_eq!(
            header_map_to_wire(&headers),
            BTreeMap::from([
                ("content-type".to_owned(), "text/event-stream".to_owned()),
                ("x-a".to_owned(), "1, 2".to_owned()),
            ])
        );
    }

    #[test]
    fn large_reads_are_split_small_ones_kept() {
        let sizes: Vec<usize> = split(Bytes::from(vec![0; MAX_CHUNK_BYTES * 2 + 5]))
            .map(|part| part.len())
            .collect();
        assert_eq!(sizes, [MAX_CHUNK_BYTES, MAX_CHUNK_BYTES, 5]);
        assert_eq!(split(Bytes::from_static(b"abc")).count(), 1);
        assert_eq!(split(Bytes::new()).count(), 0);
    }
}
