//! Validation of management request bodies.
//!
//! Bodies are parsed from raw JSON rather than straight into structs so that every error
//! names the field at fault, in the order the original hub checks them.

use gambi_protocol as proto;
use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::room::Registration;

/// Longest accepted display name, nickname, model name or participant id.
pub(crate) const MAX_NAME_LEN: usize = 128;
/// Longest accepted room password.
pub(crate) const MAX_PASSWORD_LEN: usize = 1024;

/// A validated `POST /v1/rooms` body.
#[derive(Debug)]
pub(crate) struct NewRoom {
    /// Display name.
    pub name: String,
    /// Password; `None` for an open room (an empty string also means none).
    pub password: Option<String>,
    /// Runtime defaults.
    pub defaults: Option<proto::RuntimeConfig>,
}

fn object(value: &Value) -> Result<&Map<String, Value>, ApiError> {
    value.as_object().ok_or_else(|| {
        ApiError::invalid(
            "Request body must be a JSON object.",
            "Send a JSON object such as {\"name\": \"...\"}.",
        )
    })
}

fn optional_string(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.chars().count() > max => Err(ApiError::invalid(
            format!("Field \"{field}\" is longer than {max} characters."),
            format!("Shorten \"{field}\"."),
        )),
        Some(Value::String(text)) if field != "password" && has_control(text) => {
            Err(ApiError::invalid(
                format!("Field \"{field}\" must not contain control characters."),
                format!("Remove line breaks, tabs and escape sequences from \"{field}\"."),
            ))
        }
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ApiError::invalid(
            format!("Field \"{field}\" must be a string."),
            format!("Send \"{field}\" as a JSON string."),
        )),
    }
}

/// Validates a room creation body.
pub(crate) fn new_room(value: &Value) -> Result<NewRoom, ApiError> {
    let body = object(value)?;
    let name = optional_string(body, "name", MAX_NAME_LEN)?
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "Name is required",
                "Provide a non-empty \"name\" field for the room.",
            )
        })?;
    let password = optional_string(body, "password", MAX_PASSWORD_LEN)?
        .filter(|password| !password.is_empty());
    let defaults = match body.get("defaults") {
        None | Some(Value::Null) => None,
        Some(defaults) => Some(proto::RuntimeConfig::parse(defaults).map_err(|errors| {
            ApiError::invalid(
                format!("Invalid room defaults: {}.", errors.summary()),
                "Fix the listed fields of \"defaults\" and retry.",
            )
            .with_details(serde_json::to_value(&errors).unwrap_or_default())
        })?),
    };
    Ok(NewRoom {
        name,
        password,
        defaults,
    })
}

/// Validates a participant id taken from the path.
pub(crate) fn participant_id(id: &str) -> Result<(), ApiError> {
    if id.is_empty() || id.chars().count() > MAX_NAME_LEN {
        return Err(ApiError::invalid(
            format!("Participant id must be 1 to {MAX_NAME_LEN} characters."),
            "Choose a shorter participant id.",
        ));
    }
    if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(ApiError::invalid(
            "Participant id must not contain spaces or control characters.",
            "Use letters, digits, '-', '_' or '.' in participant ids.",
        ));
    }
    Ok(())
}

/// Validates a participant registration body.
pub(crate) fn registration(value: &Value) -> Result<Registration, ApiError> {
    let body = object(value)?;
    if body.contains_key("authHeaders") {
        return Err(ApiError::invalid(
            "Participant auth headers are not accepted by the hub.",
            "Pass provider credentials to the participant runtime (--header or --header-env); they never leave its machine.",
        )
        .with_details(json!({ "forbidden": ["authHeaders"] })));
    }
    let missing: Vec<&str> = ["nickname", "model", "endpoint"]
        .into_iter()
        .filter(|field| match body.get(*field) {
            None | Some(Value::Null) => true,
            Some(Value::String(text)) => text.trim().is_empty(),
            Some(_) => false,
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::invalid(
            format!("Missing required fields: {}.", missing.join(", ")),
            "Provide nickname, model, and endpoint.",
        )
        .with_details(
            json!({ "required": ["nickname", "model", "endpoint"], "missing": missing }),
        ));
    }

    let mut errors = proto::ValidationErrors::default();
    let text = |field: &str, errors: &mut proto::ValidationErrors| -> String {
        match body.get(field) {
            Some(Value::String(text))
                if text.chars().count() > MAX_NAME_LEN && field != "endpoint" =>
            {
                errors.field(field, format!("must be at most {MAX_NAME_LEN} characters"));
                String::new()
            }
            Some(Value::String(text)) if has_control(text) => {
                errors.field(field, "must not contain control characters");
                String::new()
            }
            Some(Value::String(text)) => text.trim().to_owned(),
            _ => {
                errors.field(field, "must be a string");
                String::new()
            }
        }
    };
    let nickname = text("nickname", &mut errors);
    let model = text("model", &mut errors);
    let mut endpoint = text("endpoint", &mut errors);
    if !errors.field_errors.contains_key("endpoint") {
        match public_endpoint(&endpoint) {
            Some(public) => endpoint = public,
            None => errors.field("endpoint", "must be an absolute http(s) URL"),
        }
    }
    let password = match body.get("password") {
        None | Some(Value::Null) => None,
        Some(Value::String(password)) => Some(password.clone()),
        Some(_) => {
            errors.field("password", "must be a string");
            None
        }
    };
    let specs = match body.get("specs") {
        None | Some(Value::Null) => proto::MachineSpecs::default(),
        Some(specs) => serde_json::from_value(specs.clone()).unwrap_or_else(|error| {
            errors.field("specs", format!("invalid machine specs: {error}"));
            proto::MachineSpecs::default()
        }),
    };
    let config = match body.get("config") {
        None | Some(Value::Null) => proto::RuntimeConfig::default(),
        Some(config) => proto::RuntimeConfig::parse(config).unwrap_or_else(|config_errors| {
            let prefixed = config_errors.prefixed("config");
            for message in prefixed.form_errors {
                errors.field("config", message);
            }
            for (field, messages) in prefixed.field_errors {
                for message in messages {
                    errors.field(field.clone(), message);
                }
            }
            proto::RuntimeConfig::default()
        }),
    };
    let capabilities = match body.get("capabilities") {
        None | Some(Value::Null) => proto::ParticipantCapabilities::default(),
        Some(capabilities) => capabilities_field(capabilities, &mut errors),
    };
    let max_concurrency = match body.get("maxConcurrency") {
        None | Some(Value::Null) => proto::DEFAULT_MAX_CONCURRENCY,
        Some(value) => match value.as_u64() {
            Some(n) if (1..=u64::from(proto::MAX_CONCURRENCY_LIMIT)).contains(&n) => {
                u32::try_from(n).unwrap_or(proto::DEFAULT_MAX_CONCURRENCY)
            }
            _ => {
                errors.field(
                    "maxConcurrency",
                    format!(
                        "must be an integer from 1 to {}",
                        proto::MAX_CONCURRENCY_LIMIT
                    ),
                );
                proto::DEFAULT_MAX_CONCURRENCY
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::invalid(
            format!("Invalid participant registration: {}.", errors.summary()),
            "Fix the listed fields and retry.",
        )
        .with_details(serde_json::to_value(&errors).unwrap_or_default()));
    }
    // An offer this hub cannot read is no offer: the runtime then speaks the original
    // protocol, which every runtime can.
    let tunnel_extensions = body
        .get("tunnelExtensions")
        .and_then(|offer| serde_json::from_value(offer.clone()).ok());
    Ok(Registration {
        nickname,
        model,
        endpoint,
        password,
        specs,
        config,
        capabilities,
        max_concurrency,
        tunnel_extensions,
    })
}

fn capabilities_field(
    value: &Value,
    errors: &mut proto::ValidationErrors,
) -> proto::ParticipantCapabilities {
    let mut capabilities = proto::ParticipantCapabilities::default();
    let Some(object) = value.as_object() else {
        errors.field("capabilities", "must be an object");
        return capabilities;
    };
    for (key, slot) in [
        ("openResponses", &mut capabilities.open_responses),
        ("chatCompletions", &mut capabilities.chat_completions),
    ] {
        match object.get(key).map(Value::as_str) {
            None | Some(Some("unknown")) => {}
            Some(Some("supported")) => *slot = proto::Capability::Supported,
            Some(Some("unsupported")) => *slot = proto::Capability::Unsupported,
            Some(_) => errors.field(
                format!("capabilities.{key}"),
                "must be \"supported\", \"unsupported\" or \"unknown\"",
            ),
        }
    }
    capabilities
}

/// Whether `text` holds a control character (C0, DEL or C1): a terminal escape or a line
/// break in a name would reach every screen that lists it.
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// The endpoint as the hub keeps and publishes it: an absolute http(s) URL without its
/// userinfo, query and fragment, which is where credentials hide
/// (`http://user:key@host/?api_key=…`). The endpoint is informational (the hub never calls
/// it), so nothing is lost; the runtime keeps the full URL for itself. `None` when it is
/// not an absolute http(s) URL.
fn public_endpoint(text: &str) -> Option<String> {
    let (scheme, rest) = text.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, after) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() || host.contains(char::is_whitespace) {
        return None;
    }
    let path = after.split(['?', '#']).next().unwrap_or_default();
    Some(format!("{scheme}://{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_room_err(input: Value, message: &str) {
        let error = new_room(&input).expect_err("invalid");
        assert_eq!(error.message(), message, "{input}");
    }

    fn check_registration_err(input: Value, message: &str) {
        let error = registration(&input).expect_err("invalid");
        assert_eq!(error.message(), message, "{input}");
    }

    #[test]
    fn room_bodies() {
        let room =
            new_room(&json!({"name": " Lab ", "password": "", "defaults": {"temperature": 1}}))
                .expect("valid");
        assert_eq!(room.name, "Lab");
        assert_eq!(room.password, None);
        assert_eq!(room.defaults.and_then(|d| d.temperature), Some(1.0));

        check_room_err(json!([]), "Request body must be a JSON object.");
        check_room_err(json!({}), "Name is required");
        check_room_err(json!({"name": "  "}), "Name is required");
        check_room_err(json!({"name": 5}), "Field \"name\" must be a string.");
        check_room_err(
            json!({"name": "x", "password": 5}),
            "Field \"password\" must be a string.",
        );
        check_room_err(
            json!({"name": "x", "defaults": {"top_p": 3}}),
            "Invalid room defaults: top_p: must be between 0 and 1, got 3.",
        );
    }

    #[test]
    fn registration_bodies() {
        let base = json!({"nickname": "A", "model": "m", "endpoint": "http://localhost:11434"});
        let parsed = registration(&base).expect("valid");
        assert_eq!(parsed.max_concurrency, 1);
        assert_eq!(
            parsed.capabilities,
            proto::ParticipantCapabilities::default()
        );

        let with = |key: &str, value: Value| {
            let mut body = base.clone();
            body[key] = value;
            body
        };
        check_registration_err(
            with("authHeaders", json!({})),
            "Participant auth headers are not accepted by the hub.",
        );
        check_registration_err(
            json!({"nickname": "A"}),
            "Missing required fields: model, endpoint.",
        );
        check_registration_err(with("model", json!("")), "Missing required fields: model.");
        check_registration_err(
            with("endpoint", json!("localhost:11434")),
            "Invalid participant registration: endpoint: must be an absolute http(s) URL.",
        );
        check_registration_err(
            with("model", json!(5)),
            "Invalid participant registration: model: must be a string.",
        );
        check_registration_err(
            with("config", json!({"temperature": 7})),
            "Invalid participant registration: config.temperature: must be between 0 and 2, got 7.",
        );
        check_registration_err(
            with("maxConcurrency", json!(0)),
            "Invalid participant registration: maxConcurrency: must be an integer from 1 to 1024.",
        );
        check_registration_err(
            with("capabilities", json!({"chatCompletions": "maybe"})),
            "Invalid participant registration: capabilities.chatCompletions: must be \"supported\", \"unsupported\" or \"unknown\".",
        );
        check_registration_err(
            with("password", json!(1)),
            "Invalid participant registration: password: must be a string.",
        );
        let parsed = registration(&with("maxConcurrency", json!(8))).expect("valid");
        assert_eq!(parsed.max_concurrency, 8);
    }

    #[test]
    fn endpoints_are_published_without_credentials() {
        let check = |input: &str, expected: Option<&str>| {
            assert_eq!(public_endpoint(input).as_deref(), expected, "{input}");
        };
        check("http://localhost:11434", Some("http://localhost:11434"));
        check(
            "https://api.example.com/v1/",
            Some("https://api.example.com/v1/"),
        );
        check("http://u:secret@host/?k=v", Some("http://host/"));
        check(
            "http://u:s@cret@host:8080/p?k=v#frag",
            Some("http://host:8080/p"),
        );
        check("http://host?api_key=x", Some("http://host"));
        check("HTTP://[::1]:8080/x#y", Some("HTTP://[::1]:8080/x"));
        check("http://user@/x", None);
        check("localhost:11434", None);
        check("ftp://host", None);
        check("http://", None);
        check("http://a b", None);
    }

    #[test]
    fn names_with_control_characters_are_refused_naming_the_field() {
        let base = json!({"nickname": "A", "model": "m", "endpoint": "http://localhost:11434"});
        for (field, value) in [
            ("nickname", "Al\u{1b}[31mice"),
            ("nickname", "a\nb"),
            ("model", "m\u{7f}"),
            ("nickname", "x\u{9b}2J"),
        ] {
            let mut body = base.clone();
            body[field] = json!(value);
            check_registration_err(
                body,
                &format!(
                    "Invalid participant registration: {field}: must not contain control characters."
                ),
            );
        }
        check_room_err(
            json!({"name": "Lab\u{1b}]0;pwned\u{7}"}),
            "Field \"name\" must not contain control characters.",
        );
        assert!(participant_id("a\u{1b}b").is_err());
        // A password is a secret, not a name: any character goes.
        assert!(new_room(&json!({"name": "Lab", "password": "a\tb"})).is_ok());
    }

    #[test]
    fn participant_ids() {
        assert!(participant_id("alice-1").is_ok());
        assert!(participant_id("").is_err());
        assert!(participant_id("a b").is_err());
        assert!(participant_id(&"x".repeat(129)).is_err());
    }
}
