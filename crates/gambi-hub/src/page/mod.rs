//! The web room page: `GET /rooms/{code}`, what a room's people put on a projector or open
//! on a phone.
//!
//! The hub renders the page's frame itself ([`render`]): the room code, the command that
//! joins the room and a QR code of the page's address, both made from the address the
//! browser used (its `Host`, or what a reverse proxy in front of the hub forwards). Everything live comes from the public routes, fetched by the page's
//! script (`assets/room.js`, plain JavaScript, no build step): the room and its
//! participants from `GET /v1/rooms/{code}` and `/participants`, requests and their
//! metrics from the room's event stream, read with `fetch` so that a protected room's
//! password travels as `Authorization: Bearer`, never in a URL.
//!
//! The assets are compiled into the binary. Every answer carries a Content Security
//! Policy that allows only the hub's own scripts, styles and connections, and the script
//! puts what the hub sends into the page as text, never as markup.

mod render;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use gambi_protocol as proto;
use http::{HeaderMap, HeaderValue, StatusCode, Uri, header};

use crate::hub::Hub;
use crate::web::ReachedAt;
use render::{HubAddress, RoomPage};

/// The page's script.
const SCRIPT_PATH: &str = "/ui/room.js";
/// The page's style sheet.
const STYLE_PATH: &str = "/ui/room.css";

const SCRIPT: &str = include_str!("assets/room.js");
const STYLE: &str = include_str!("assets/room.css");

/// What the page may load and run: the hub's own script, style sheet and routes, nothing
/// inline (the QR code is inline SVG markup, which needs no source), no frames, no forms
/// sent anywhere (the password form is handled by the script and must never become a
/// query string).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The page's routes: the page itself (and its address with a trailing slash) and its
/// assets. They sit beside `/rooms/{code}/events` and `/rooms/{code}/v1/*` without
/// overlapping: those have more segments.
pub(crate) fn routes() -> Router<Hub> {
    Router::new()
        .route("/rooms/{code}", get(room_page))
        .route("/rooms/{code}/", get(without_slash))
        .route(SCRIPT_PATH, get(script))
        .route(STYLE_PATH, get(style))
}

/// `GET /rooms/{code}`: the page of that room, or a page saying there is none.
async fn room_page(
    State(hub): State<Hub>,
    Path(code): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Some(room) = hub.room(&code) else {
        return html(StatusCode::NOT_FOUND, render::missing_room_page(&code));
    };
    let Some(address) = hub_address(&uri, &headers, hub.config().tls) else {
        return html(
            StatusCode::BAD_REQUEST,
            render::notice_page(
                "Open this page at the hub's address",
                "The Host of this request is not a plain host name or address, so the page \
                 cannot tell people how to reach the hub. Open it at the hub's name or IP \
                 address, e.g. http://10.0.0.2:3000/rooms/CODE.",
            ),
        );
    };
    let page = RoomPage {
        code: room.code(),
        hub: &address,
        protected: room.is_protected(),
        keep_alive_ms: proto::SSE_KEEP_ALIVE.as_millis(),
    };
    html(StatusCode::OK, page.render())
}

/// `GET /rooms/{code}/`: the page lives without the slash.
async fn without_slash(State(hub): State<Hub>, Path(code): Path<String>) -> Response {
    match hub.room(&code) {
        Some(room) => Redirect::permanent(&format!("/rooms/{}", room.code())).into_response(),
        None => html(StatusCode::NOT_FOUND, render::missing_room_page(&code)),
    }
}

/// The hub as the browser reached it, through a reverse proxy if there is one.
fn hub_address(uri: &Uri, headers: &HeaderMap, tls: bool) -> Option<HubAddress> {
    let reached = ReachedAt::of(uri, headers, tls);
    HubAddress::from_authority(reached.authority?, reached.secure)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// An HTML answer with the page's security headers. Never cached: it names the room's
/// state at the time (protected or not) and the address it was asked at.
fn html(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    security_headers(headers);
    response
}

/// An asset compiled into the binary. Browsers check with the hub before reusing it, so
/// a new hub's page never runs an old script.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    security_headers(headers);
    response
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}
