//! What the room page shows that the hub works out itself, as pure functions: where people
//! reach the hub, the command that joins the room, the QR code of the page, and the page's
//! HTML with those filled in, escaped.

use std::borrow::Cow;
use std::net::IpAddr;

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Where people reach the hub, as the request for the page names it (its `Host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HubAddress {
    /// `http://10.0.0.2:3000`: scheme, host and port (the default port left out).
    origin: String,
    /// Whether the host is this machine's own (`localhost`, `127.0.0.1`, `[::1]`): other
    /// machines cannot reach the hub at that address.
    loopback: bool,
}

impl HubAddress {
    /// The address in `authority` (`host[:port]`, as a `Host` header carries it), reached
    /// over TLS or not. `None` unless it is a plain host name (letters, digits, dots and
    /// hyphens), an IPv4 address or a bracketed IPv6 address, with an optional port: the
    /// value ends up in a shell command and a QR code, and a browser sends nothing else.
    pub(super) fn from_authority(authority: &str, tls: bool) -> Option<Self> {
        let scheme = if tls { "https" } else { "http" };
        let parsed = url::Url::parse(&format!("{scheme}://{authority}/")).ok()?;
        let simple = parsed.path() == "/"
            && parsed.username().is_empty()
            && parsed.password().is_none()
            && parsed.query().is_none()
            && parsed.fragment().is_none();
        if !simple {
            return None;
        }
        let loopback = match parsed.host()? {
            url::Host::Domain(name) => {
                let plain = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
                if !plain {
                    return None;
                }
                name == "localhost" || name.ends_with(".localhost")
            }
            url::Host::Ipv4(ip) => IpAddr::V4(ip).is_loopback(),
            url::Host::Ipv6(ip) => IpAddr::V6(ip).is_loopback(),
        };
        Some(Self {
            origin: parsed.origin().ascii_serialization(),
            loopback,
        })
    }

    /// `http://host:port`.
    pub(super) fn origin(&self) -> &str {
        &self.origin
    }

    /// Whether only this machine can reach the hub at this address.
    pub(super) fn is_loopback(&self) -> bool {
        self.loopback
    }
}

/// The command that lends a provider to the room `code` on the hub at `hub`. On a
/// terminal it asks for what it is not given (participant id, model); a protected room
/// also needs its password, which the page never knows, so it stands there as a
/// placeholder.
pub(super) fn join_command(hub: &HubAddress, code: &str, protected: bool) -> String {
    let mut command = format!(
        "gambi participant join --hub {} --room {}",
        shell_word(hub.origin()),
        shell_word(code)
    );
    if protected {
        command.push_str(" --password '<room password>'");
    }
    command
}

/// `word` as one shell word: as it is when it holds only characters no shell treats
/// specially, else single-quoted.
fn shell_word(word: &str) -> Cow<'_, str> {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/=@%+,".contains(c));
    if plain {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// A QR code of `text` as an inline SVG element, one unit per module (a 4-module quiet
/// zone included), to be sized by CSS. `None` when `text` is too long for a QR code.
pub(super) fn qr_svg(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text, EcLevel::M).ok()?;
    let image = code
        .render::<svg::Color<'_>>()
        .module_dimensions(1, 1)
        .quiet_zone(true)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    // The renderer writes a standalone document; inline in HTML only the element belongs.
    let element = &image[image.find("<svg")?..];
    Some(element.replacen("<svg ", "<svg class=\"qr-code\" aria-hidden=\"true\" ", 1))
}

/// `text` escaped for HTML, in text or in a quoted attribute value.
pub(super) fn escape(text: &str) -> Cow<'_, str> {
    if !text.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    Cow::Owned(escaped)
}

/// The page's HTML: `{{name}}` slots of the template filled from `slots`.
const ROOM_TEMPLATE: &str = include_str!("assets/room.html");

/// What fills a slot of a template.
#[derive(Debug, Clone, Copy)]
enum Slot<'a> {
    /// Text, escaped on its way in.
    Text(&'a str),
    /// Markup the hub made itself (the QR code's SVG, fixed attributes).
    Markup(&'a str),
}

/// What the room page is rendered from.
#[derive(Debug)]
pub(super) struct RoomPage<'a> {
    /// The room's canonical code.
    pub(super) code: &'a str,
    /// Where the request reached the hub.
    pub(super) hub: &'a HubAddress,
    /// Whether the room has a password.
    pub(super) protected: bool,
    /// How often an idle event stream carries a keep-alive, in milliseconds.
    pub(super) keep_alive_ms: u128,
}

impl RoomPage<'_> {
    /// The page's address, which the QR code carries.
    pub(super) fn page_url(&self) -> String {
        format!("{}/rooms/{}", self.hub.origin(), self.code)
    }

    /// The page, as HTML.
    pub(super) fn render(&self) -> String {
        let page_url = self.page_url();
        let qr = qr_svg(&page_url).unwrap_or_default();
        let join = join_command(self.hub, self.code, self.protected);
        let base_url = format!("{page_url}/v1");
        let keep_alive = self.keep_alive_ms.to_string();
        let hidden = |shown: bool| if shown { "" } else { "hidden" };
        fill(
            ROOM_TEMPLATE,
            &[
                ("code", Slot::Text(self.code)),
                ("hub", Slot::Text(self.hub.origin())),
                ("page_url", Slot::Text(&page_url)),
                ("base_url", Slot::Text(&base_url)),
                ("join_command", Slot::Text(&join)),
                ("keep_alive_ms", Slot::Text(&keep_alive)),
                (
                    "protected",
                    Slot::Markup(if self.protected { "true" } else { "false" }),
                ),
                ("qr_svg", Slot::Markup(&qr)),
                ("protected_hidden", Slot::Markup(hidden(self.protected))),
                (
                    "loopback_hidden",
                    Slot::Markup(hidden(self.hub.is_loopback())),
                ),
            ],
        )
    }
}

/// A page that says one thing: no such room, or an address the page cannot be made for.
const NOTICE_TEMPLATE: &str = include_str!("assets/notice.html");

/// A page titled `title` that says `message`.
pub(super) fn notice_page(title: &str, message: &str) -> String {
    fill(
        NOTICE_TEMPLATE,
        &[
            ("title", Slot::Text(title)),
            ("message", Slot::Text(message)),
        ],
    )
}

/// The page for a room code that names no room.
pub(super) fn missing_room_page(code: &str) -> String {
    notice_page(
        &format!("No room {code}"),
        &format!(
            "This hub has no room with the code {code}. Check the code, or list the rooms \
             with `gambi room list`."
        ),
    )
}

/// `template` with each `{{name}}` replaced by the slot of that name. A slot the template
/// names but `slots` lacks is left empty (the tests check every template is fully served).
fn fill(template: &str, slots: &[(&str, Slot<'_>)]) -> String {
    let mut page = String::with_capacity(template.len() + 4096);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        page.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            page.push_str(&rest[start..]);
            return page;
        };
        let name = &after[..end];
        match slots.iter().find(|(slot, _)| *slot == name) {
            Some((_, Slot::Text(text))) => page.push_str(&escape(text)),
            Some((_, Slot::Markup(markup))) => page.push_str(markup),
            None => {}
        }
        rest = &after[end + 2..];
    }
    page.push_str(rest);
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(authority: &str) -> HubAddress {
        HubAddress::from_authority(authority, false)
            .unwrap_or_else(|| panic!("{authority} is accepted"))
    }

    #[test]
    fn the_hub_address_comes_from_the_host_the_browser_used() {
        for (authority, tls, origin, loopback) in [
            ("10.0.0.2:3000", false, "http://10.0.0.2:3000", false),
            (
                "hub.lab.example:3000",
                false,
                "http://hub.lab.example:3000",
                false,
            ),
            ("Hub.Lab:80", false, "http://hub.lab", false),
            ("hub.lab:443", true, "https://hub.lab", false),
            ("localhost:3000", false, "http://localhost:3000", true),
            ("app.localhost", false, "http://app.localhost", true),
            ("127.0.0.1:41234", false, "http://127.0.0.1:41234", true),
            ("127.1.2.3", false, "http://127.1.2.3", true),
            ("[::1]:3000", false, "http://[::1]:3000", true),
            ("[fe80::1]:3000", false, "http://[fe80::1]:3000", false),
        ] {
            let address = HubAddress::from_authority(authority, tls)
                .unwrap_or_else(|| panic!("{authority} is accepted"));
            assert_eq!(address.origin(), origin, "{authority}");
            assert_eq!(address.is_loopback(), loopback, "{authority}");
        }
    }

    #[test]
    fn a_host_that_is_not_a_plain_address_is_refused() {
        for authority in [
            "",
            "user:pass@hub:3000",
            "hub:3000/path",
            "hub:3000?x=1",
            "hub:3000#x",
            "hub:notaport",
            "a'b",
            "a\"b",
            "a$(reboot)",
            "a`b`",
            "<script>",
            "hub lab",
            "a;b",
        ] {
            assert_eq!(
                HubAddress::from_authority(authority, false),
                None,
                "{authority}"
            );
        }
    }

    #[test]
    fn the_join_command_names_the_hub_and_the_room() {
        assert_eq!(
            join_command(&hub("10.0.0.2:3000"), "K7QF2M", false),
            "gambi participant join --hub http://10.0.0.2:3000 --room K7QF2M"
        );
        assert_eq!(
            join_command(&hub("hub.lab"), "K7QF2M", true),
            "gambi participant join --hub http://hub.lab --room K7QF2M --password '<room password>'"
        );
        // Brackets are glob characters to zsh.
        assert_eq!(
            join_command(&hub("[fe80::1]:3000"), "K7QF2M", false),
            "gambi participant join --hub 'http://[fe80::1]:3000' --room K7QF2M"
        );
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        for (word, expected) in [
            ("K7QF2M", "K7QF2M"),
            ("http://hub:3000", "http://hub:3000"),
            ("a b", "'a b'"),
            ("it's", r"'it'\''s'"),
            ("$HOME", "'$HOME'"),
            ("", "''"),
        ] {
            assert_eq!(shell_word(word), expected, "{word}");
        }
    }

    #[test]
    fn html_is_escaped_in_text_and_attributes() {
        assert_eq!(escape("plain text"), "plain text");
        assert_eq!(
            escape(r#"<img src=x onerror="alert('1')"> & co"#),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt; &amp; co"
        );
    }

    /// The dark modules an SVG of [`qr_svg`] draws, read back from its path.
    fn modules_of(svg: &str) -> (usize, Vec<bool>) {
        let view_box = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .and_then(|size| size.parse::<usize>().ok())
            .expect("a viewBox");
        let path = svg
            .split(" d=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a path");
        let mut dark = vec![false; view_box * view_box];
        // Each rectangle is `M{x} {y}h{w}v{h}H{x}V{y}`.
        for rect in path.split('M').filter(|rect| !rect.is_empty()) {
            let numbers: Vec<usize> = rect
                .split(|c: char| !c.is_ascii_digit())
                .filter(|number| !number.is_empty())
                .map(|number| number.parse().expect("a number"))
                .collect();
            let [x, y, width, height, ..] = numbers[..] else {
                panic!("a rectangle: {rect}");
            };
            for row in y..y + height {
                for column in x..x + width {
                    dark[row * view_box + column] = true;
                }
            }
        }
        (view_box, dark)
    }

    #[test]
    fn the_qr_code_carries_the_page_address() {
        let text = "http://10.0.0.2:3000/rooms/K7QF2M";
        let svg = qr_svg(text).expect("short enough");
        assert!(svg.starts_with("<svg class=\"qr-code\""), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("<?xml"), "{svg}");

        let expected = QrCode::with_error_correction_level(text, EcLevel::M).expect("encodes");
        let width = expected.width();
        let (size, dark) = modules_of(&svg);
        assert_eq!(size, width + 8, "one unit per module, with the quiet zone");
        for (index, color) in expected.to_colors().into_iter().enumerate() {
            let (row, column) = (index / width + 4, index % width + 4);
            assert_eq!(
                dark[row * size + column],
                color == qrcode::Color::Dark,
                "module {row},{column}"
            );
        }
        let quiet =
            (0..size).all(|at| !dark[at] && !dark[at * size] && !dark[(size - 1) * size + at]);
        assert!(quiet, "the quiet zone is light");

        assert_ne!(qr_svg("http://10.0.0.2:3000/rooms/ABCDEF"), Some(svg));
        assert_eq!(qr_svg(&"x".repeat(5000)), None, "too long for a QR code");
    }

    #[test]
    fn templates_are_filled_and_escaped() {
        let filled = fill(
            "<p title=\"{{a}}\">{{b}}</p>{{c}}{{missing}}",
            &[
                ("a", Slot::Text("\"x\"")),
                ("b", Slot::Text("<b>")),
                ("c", Slot::Markup("<svg/>")),
            ],
        );
        assert_eq!(filled, "<p title=\"&quot;x&quot;\">&lt;b&gt;</p><svg/>");
        assert_eq!(fill("open {{ end", &[]), "open {{ end");
    }

    /// The names of the `{{slots}}` of `template`.
    fn slots_of(template: &str) -> Vec<&str> {
        template
            .split("{{")
            .skip(1)
            .filter_map(|rest| rest.split_once("}}").map(|(name, _)| name))
            .collect()
    }

    #[test]
    fn the_room_page_fills_every_slot() {
        let hub = hub("10.0.0.2:3000");
        let page = RoomPage {
            code: "K7QF2M",
            hub: &hub,
            protected: true,
            keep_alive_ms: 15_000,
        };
        let html = page.render();
        assert!(!html.contains("{{"), "every slot filled");
        for name in slots_of(ROOM_TEMPLATE) {
            assert!(
                [
                    "code",
                    "hub",
                    "page_url",
                    "base_url",
                    "join_command",
                    "keep_alive_ms",
                    "protected",
                    "qr_svg",
                    "protected_hidden",
                    "loopback_hidden",
                ]
                .contains(&name),
                "{name} is a slot the page fills"
            );
        }
        assert!(html.contains("data-room=\"K7QF2M\""), "{html}");
        assert!(html.contains("data-protected=\"true\""), "{html}");
        assert!(
            html.contains(
                "gambi participant join --hub http://10.0.0.2:3000 --room K7QF2M --password &#39;&lt;room password&gt;&#39;"
            ),
            "{html}"
        );
        assert!(
            html.contains("http://10.0.0.2:3000/rooms/K7QF2M/v1"),
            "{html}"
        );
        assert!(html.contains("<svg class=\"qr-code\""), "{html}");
        assert_eq!(page.page_url(), "http://10.0.0.2:3000/rooms/K7QF2M");
    }

    #[test]
    fn the_missing_room_page_escapes_the_code() {
        let html = missing_room_page("<b>nope</b>");
        assert!(html.contains("No room &lt;b&gt;nope&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        let mut names = slots_of(NOTICE_TEMPLATE);
        names.sort_unstable();
        names.dedup();
        assert_eq!(names, ["message", "title"]);
    }
}
