//! What every HTTP exchange goes through, and helpers both planes share.
//!
//! Layers, outermost first: the request id (an incoming well-formed `x-request-id` or a
//! fresh one, visible to handlers and echoed in the response), a tracing span per
//! exchange (request id, method, route, room; the participant once one is chosen; with
//! the `otel` feature, a child of the client's span when it sent W3C `traceparent`), and
//! CORS (any origin unless the operator names them, requested headers mirrored, `x-request-id`, `retry-after` and the
//! `x-gambi-*` headers readable by scripts; every `OPTIONS` answered `204`, as the original
//! hub does).

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};
use tracing::{Level, Span};

use crate::config::CorsOrigins;
use crate::hub::Hub;

/// `routes` with the layers every exchange goes through; browsers may call them from
/// `origins`, and `undecodable` answers a path that is not UTF-8 once decoded, in the shape
/// of the plane the path names.
pub(crate) fn with_layers(
    routes: Router<Hub>,
    origins: &CorsOrigins,
    undecodable: fn(&str) -> Response,
) -> Router<Hub> {
    routes
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            refuse_undecodable_paths(request, next, undecodable)
        }))
        .layer(cors(origins))
        .layer(middleware::map_response(preflight_without_content))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_failure(DefaultOnFailure::new().level(Level::WARN)),
        )
        .layer(middleware::from_fn(request_id_layer))
}

/// Headers a script in a browser may read from the hub's responses.
const EXPOSED_HEADERS: [&str; 5] = [
    "x-request-id",
    "retry-after",
    "x-gambi-request-id",
    "x-gambi-participant",
    "x-gambi-queue-ms",
];

/// By default any origin may call the hub (it serves a LAN, as the original does); the
/// operator may name the origins instead. Browsers may send whatever headers their client
/// sends: the OpenAI SDKs add their own (`x-stainless-*`), and `Authorization` must be
/// allowed by name, which a wildcard does not do.
fn cors(origins: &CorsOrigins) -> CorsLayer {
    let allow_origin = match origins {
        CorsOrigins::Any => AllowOrigin::any(),
        // `CorsOrigins` only holds origins checked to be valid header values.
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers(AllowHeaders::mirror_request())
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
}

/// The CORS layer answers every `OPTIONS` itself with `200`; the original hub answers
/// `204`, and clients written against it may expect that.
async fn preflight_without_content(mut response: Response) -> Response {
    if response
        .headers()
        .contains_key(header::ACCESS_CONTROL_ALLOW_METHODS)
        && response.status() == StatusCode::OK
    {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

/// Middleware: a path whose percent-escapes do not decode to UTF-8 cannot name a room, a
/// participant or a response. Axum's path extractor would answer it in plain text;
/// `answer` answers it in the shape of the plane it was meant for.
async fn refuse_undecodable_paths(
    request: Request,
    next: Next,
    answer: fn(&str) -> Response,
) -> Response {
    let path = request.uri().path();
    if String::from_utf8(percent_decode(path)).is_ok() {
        return next.run(request).await;
    }
    answer(path)
}

/// The bytes `path` stands for, with every valid `%XX` escape decoded.
fn percent_decode(path: &str) -> Vec<u8> {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let escaped = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                decoded.push(byte);
                at += 3;
            }
            None => {
                decoded.push(bytes[at]);
                at += 1;
            }
        }
    }
    decoded
}

/// The id of one HTTP exchange, in the request's extensions.
#[derive(Debug, Clone)]
struct RequestId(String);

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the HTTP exchange being handled, or a fresh one outside any exchange.
pub(crate) fn current_request_id() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string())
}

/// Middleware: gives each exchange a request id (honouring a well-formed incoming
/// `x-request-id`) and echoes it in the response.
pub(crate) async fn request_id_layer(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty() && value.len() <= 128 && value.is_ascii())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let mut request = request;
    request.extensions_mut().insert(RequestId(id.clone()));
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// The span of one exchange. `participant` is recorded once routing has chosen one; the
/// `otel.*` fields only by the `otel` feature, for trace viewers.
fn request_span(request: &Request<Body>) -> Span {
    let id = request
        .extensions()
        .get::<RequestId>()
        .map_or("", |id| id.0.as_str());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str);
    // Recorded with `%` so they read `room=K7QF2M`, as in the other spans of the hub.
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        route = %route,
        room = %room_code(request.uri().path()).unwrap_or(""),
        participant = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
    );
    #[cfg(feature = "otel")]
    otel::server_span(&span, request, route);
    span
}

/// The request span as OpenTelemetry sees it (the `otel` feature).
#[cfg(feature = "otel")]
mod otel {
    use std::collections::HashMap;

    use axum::body::Body;
    use axum::extract::Request;
    use opentelemetry::propagation::TextMapPropagator as _;
    use opentelemetry::trace::TraceContextExt as _;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt as _;

    /// W3C trace context headers a client may send.
    const HEADERS: [&str; 2] = ["traceparent", "tracestate"];

    /// Names `span` as HTTP servers name theirs (`POST /rooms/{code}/v1/responses`), and
    /// makes it a child of the client's span when the client sent W3C trace context.
    pub(super) fn server_span(span: &Span, request: &Request<Body>, route: &str) {
        let name = if route.is_empty() {
            request.method().to_string()
        } else {
            format!("{} {route}", request.method())
        };
        span.record("otel.name", name);
        span.record("otel.kind", "server");
        let carrier: HashMap<String, String> = HEADERS
            .iter()
            .filter_map(|name| {
                let value = request.headers().get(*name)?.to_str().ok()?;
                (value.len() <= gambi_protocol::MAX_TRACE_CONTEXT_VALUE)
                    .then(|| ((*name).to_owned(), value.to_owned()))
            })
            .collect();
        if carrier.is_empty() {
            return;
        }
        let parent = TraceContextPropagator::new().extract(&carrier);
        if parent.span().span_context().is_valid() {
            // Fails only when no OpenTelemetry layer records the span: nothing to link.
            let _ = span.set_parent(parent);
        }
    }
}

/// The room code in a path of either plane, as sent.
fn room_code(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/rooms/")
        .or_else(|| path.strip_prefix("/rooms/"))?
        .split('/')
        .next()
        .filter(|code| !code.is_empty())
}

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// It is larger than the limit.
    TooLarge,
    /// The connection failed while reading it.
    Unreadable,
}

/// Reads `body`, at most `limit` bytes.
pub(crate) async fn read_limited(body: Body, limit: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, limit).await.map_err(|error| {
        if std::error::Error::source(&error)
            .is_some_and(|source| source.is::<http_body_util::LengthLimitError>())
        {
            BodyError::TooLarge
        } else {
            BodyError::Unreadable
        }
    })
}

/// The token of an `Authorization: Bearer <token>` header.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// How a client reached the hub: the authority it named (`host[:port]`) and whether it
/// came over TLS. A reverse proxy in front of the hub says so in `x-forwarded-host` and
/// `x-forwarded-proto` (their first value: the client's side of the first proxy);
/// without them it is the request's own authority (HTTP/2) or `Host`, and TLS only when
/// the hub terminates it. The hub builds the addresses it hands out (tunnel URLs, the room
/// page's join command and QR code) from this, so they work from where the client stands.
pub(crate) struct ReachedAt<'a> {
    pub(crate) authority: Option<&'a str>,
    pub(crate) secure: bool,
}

impl<'a> ReachedAt<'a> {
    pub(crate) fn of(uri: &'a http::Uri, headers: &'a HeaderMap, tls: bool) -> Self {
        let first = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.split(',').next())
                .map(str::trim)
                .filter(|value| !value.is_empty())
        };
        let forwarded_proto = first("x-forwarded-proto");
        let authority = first("x-forwarded-host")
            .or_else(|| uri.authority().map(http::uri::Authority::as_str))
            .or_else(|| first(header::HOST.as_str()));
        Self {
            authority,
            secure: tls || forwarded_proto.is_some_and(|proto| proto.eq_ignore_ascii_case("https")),
        }
    }
}

/// The `x-gambi-session` header: a participant's session credential.
pub(crate) fn session_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(gambi_protocol::SESSION_HEADER)?.to_str().ok()
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Uri};

    use super::{ReachedAt, room_code};

    fn reached(
        uri: &str,
        headers: &[(&'static str, &'static str)],
        tls: bool,
    ) -> (Option<String>, bool) {
        let uri: Uri = uri.parse().expect("a valid URI");
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(*name, HeaderValue::from_static(value));
        }
        let at = ReachedAt::of(&uri, &map, tls);
        (at.authority.map(str::to_owned), at.secure)
    }

    #[test]
    fn a_client_reached_the_hub_where_its_proxy_says() {
        // Directly: the Host, over TLS only when the hub terminates it.
        assert_eq!(
            reached("/x", &[("host", "10.0.0.2:3000")], false),
            (Some("10.0.0.2:3000".into()), false)
        );
        assert_eq!(
            reached("/x", &[("host", "hub.lan")], true),
            (Some("hub.lan".into()), true)
        );
        // HTTP/2 names the authority in the request itself.
        assert_eq!(
            reached("http://hub.lan:3000/x", &[], false),
            (Some("hub.lan:3000".into()), false)
        );
        // Behind a proxy: its first forwarded host and protocol.
        assert_eq!(
            reached(
                "/x",
                &[
                    ("host", "127.0.0.1:3000"),
                    ("x-forwarded-host", "gambi.example.org, inner"),
                    ("x-forwarded-proto", "HTTPS, http"),
                ],
                false,
            ),
            (Some("gambi.example.org".into()), true)
        );
        assert_eq!(
            reached(
                "/x",
                &[("host", "hub.lan"), ("x-forwarded-proto", "http")],
                false
            ),
            (Some("hub.lan".into()), false)
        );
        // Nothing names it.
        assert_eq!(
            reached("/x", &[("x-forwarded-host", " ")], false),
            (None, false)
        );
    }

    #[test]
    fn paths_decode() {
        assert_eq!(
            super::percent_decode("/a%20b/%C3%A9%"),
            "/a b/é%".as_bytes()
        );
        assert_eq!(super::percent_decode("/%FF%zz"), b"/\xFF%zz");
    }

    #[test]
    fn room_codes_of_both_planes() {
        for (path, code) in [
            ("/v1/rooms/ABC123/participants/alice", Some("ABC123")),
            ("/v1/rooms/ABC123", Some("ABC123")),
            ("/rooms/abc123/v1/chat/completions", Some("abc123")),
            ("/v1/rooms", None),
            ("/v1/rooms/", None),
            ("/v1/health", None),
        ] {
            assert_eq!(room_code(path), code, "{path}");
        }
    }
}
