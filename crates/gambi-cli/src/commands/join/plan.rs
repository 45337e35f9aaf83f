//! The command's flags, checked into a [`Plan`]: provider headers, room, model,
//! participant id, config file, endpoint and hub URL, in the original's order.

use std::num::NonZeroU32;

use gambi_participant::{AuthHeaders, InvalidHeader};
use gambi_protocol as proto;
use serde_json::json;
use url::Url;

use crate::cli::JoinArgs;
use crate::commands::{Context, read_runtime_config};
use crate::config::ProviderHeaders;
use crate::error::CliError;

/// Everything the command needs, checked.
pub(super) struct Plan {
    pub(super) hub_url: Url,
    pub(super) room: String,
    pub(super) participant_id: String,
    pub(super) nickname: String,
    /// Whether the nickname was given (else it follows the model).
    pub(super) nickname_given: bool,
    /// The model as asked for (the provider may know it as `<model>:latest`); empty
    /// until [`Plan::choose_model`] when it is to be picked from the provider's list.
    pub(super) model: String,
    pub(super) endpoint: Url,
    pub(super) password: Option<String>,
    pub(super) config: Option<proto::RuntimeConfig>,
    pub(super) auth_headers: AuthHeaders,
    pub(super) share_specs: bool,
    pub(super) max_concurrency: NonZeroU32,
    pub(super) reconnect: bool,
}

impl Plan {
    /// Checks the flags in the original's order: provider headers, then room, model,
    /// participant id, config file and endpoint; then the hub URL. `env_var` reads
    /// `--header-env` variables. With `model_later`, a missing model is not an error: it
    /// is picked from the provider's list once probed ([`Plan::choose_model`]).
    pub(super) fn resolve(
        args: JoinArgs,
        ctx: &Context,
        env_var: impl Fn(&str) -> Option<String>,
        model_later: bool,
    ) -> Result<Self, CliError> {
        let env = ctx.env.clone().unwrap_or_default();
        let auth_headers =
            resolve_auth_headers(&env.headers, &args.headers, &args.header_envs, env_var)?;
        let room = required(args.room).ok_or_else(|| {
            CliError::usage(
                "Room code is required.",
                "Pass --room <CODE>; `gambi room list` shows the hub's rooms.",
            )
        })?;
        let model = match required(args.model) {
            Some(model) => model,
            None if model_later => String::new(),
            None => {
                return Err(CliError::usage(
                    "Model is required.",
                    "Pass --model <MODEL>, one the provider lists (e.g. `ollama list`).",
                ));
            }
        };
        let participant_id = required(args.participant_id).ok_or_else(|| {
            CliError::usage(
                "Participant id is required.",
                "Pass --participant-id <ID>. Keep it stable: joining again with the same id \
                 replaces this participant instead of adding another, so retries are safe.",
            )
        })?;
        let config = match &args.config {
            Some(source) => Some(read_runtime_config(source, "participant config")?),
            None => None,
        };
        let endpoint = parse_endpoint(
            args.endpoint
                .as_deref()
                .or(env.endpoint.as_deref())
                .unwrap_or(proto::DEFAULT_PROVIDER_ENDPOINT),
        )?;
        let hub_url = gambi_client::parse_hub_url(ctx.hub_url().trim())?;
        let nickname_given = required(args.nickname);
        let nickname_given_flag = nickname_given.is_some();
        let nickname = nickname_given.unwrap_or_else(|| default_nickname(&model, &participant_id));
        Ok(Self {
            hub_url,
            room,
            participant_id,
            nickname,
            nickname_given: nickname_given_flag,
            model,
            endpoint,
            password: args.password.filter(|password| !password.is_empty()),
            config,
            auth_headers,
            share_specs: !(args.no_specs || env.no_specs),
            max_concurrency: args.max_concurrency,
            reconnect: !args.no_reconnect,
        })
    }

    /// Sets the model picked from the provider's list (and the default nickname that
    /// follows it).
    pub(super) fn choose_model(&mut self, model: String) {
        if !self.nickname_given {
            self.nickname = default_nickname(&model, &self.participant_id);
        }
        self.model = model;
    }

    /// The hub URL as printed, without a trailing `/`.
    pub(super) fn hub_text(&self) -> String {
        self.hub_url.as_str().trim_end_matches('/').to_owned()
    }

    /// The endpoint as printed and registered, without a trailing `/`.
    pub(super) fn endpoint_text(&self) -> String {
        self.endpoint.as_str().trim_end_matches('/').to_owned()
    }

    /// `{participantId, room}`, the core of every lifecycle event.
    pub(super) fn who(&self) -> serde_json::Value {
        json!({ "participantId": self.participant_id, "room": self.room })
    }

    /// `who` plus more fields.
    pub(super) fn who_and(&self, extra: serde_json::Value) -> serde_json::Value {
        let mut data = self.who();
        if let (Some(data), serde_json::Value::Object(extra)) = (data.as_object_mut(), extra) {
            data.extend(extra);
        }
        data
    }
}

/// A flag's value, trimmed; `None` when absent or blank.
fn required(value: Option<String>) -> Option<String> {
    value
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `<model>@<first 6 characters of the id>`, the original's default nickname.
pub(crate) fn default_nickname(model: &str, participant_id: &str) -> String {
    let short: String = participant_id.chars().take(6).collect();
    format!("{model}@{short}")
}

/// The provider headers: the config file's, then each `--header`, then each
/// `--header-env` (a later header replaces an earlier one of the same name). Messages
/// name headers and variables, never a value.
pub(crate) fn resolve_auth_headers(
    from_config: &ProviderHeaders,
    assignments: &[String],
    env_assignments: &[String],
    env_var: impl Fn(&str) -> Option<String>,
) -> Result<AuthHeaders, CliError> {
    let mut headers = AuthHeaders::new();
    for (name, value) in &from_config.0 {
        insert_header(&mut headers, name, value)?;
    }
    for assignment in assignments {
        let (name, value) = split_assignment(assignment).map_err(|problem| {
            CliError::usage(
                format!("Invalid header assignment: {problem}."),
                "Use --header Name=Value, e.g. --header \"Authorization=Bearer sk-...\".",
            )
        })?;
        insert_header(&mut headers, name, value)?;
    }
    for assignment in env_assignments {
        let (name, variable) = split_assignment(assignment).map_err(|_| {
            // Only a header name and a variable name here, no secret: safe to echo.
            CliError::usage(
                format!("Invalid header assignment '{assignment}'. Use Header=ENV_VAR."),
                "Use --header-env Name=ENV_VAR, e.g. --header-env Authorization=OPENAI_AUTH.",
            )
        })?;
        let value = env_var(variable)
            .filter(|value| !value.trim().is_empty())
            .ok_or_else(|| {
                CliError::usage(
                    format!("Environment variable '{variable}' is required for header '{name}'."),
                    format!("Export {variable} with the header's value, or drop --header-env."),
                )
            })?;
        insert_header(&mut headers, name, &value)?;
    }
    Ok(headers)
}

/// Splits `Name=Value` at the first `=`, both sides trimmed and non-empty. The error
/// says what is wrong without repeating the value.
fn split_assignment(assignment: &str) -> Result<(&str, &str), &'static str> {
    let (name, value) = assignment
        .split_once('=')
        .ok_or("expected Name=Value, found no '='")?;
    let (name, value) = (name.trim(), value.trim());
    if name.is_empty() {
        return Err("the header name is empty");
    }
    if value.is_empty() {
        return Err("the header value is empty");
    }
    Ok((name, value))
}

fn insert_header(headers: &mut AuthHeaders, name: &str, value: &str) -> Result<(), CliError> {
    headers.insert(name, value).map_err(|error| match error {
        InvalidHeader::Name(name) => CliError::usage(
            format!("Invalid header name '{name}'."),
            "Header names are letters, digits and -, e.g. Authorization or x-api-key.",
        ),
        InvalidHeader::Value(name) => CliError::usage(
            format!(
                "Invalid value for header '{name}': it has characters HTTP headers cannot carry."
            ),
            "Remove line breaks and other control characters from the value.",
        ),
    })
}

/// The provider endpoint: an absolute http(s) URL without credentials or a query (both
/// would be shown to the room, and a query would be dropped).
pub(crate) fn parse_endpoint(text: &str) -> Result<Url, CliError> {
    let hint = "Pass --endpoint the provider's base URL without /v1, e.g. http://localhost:11434.";
    let url = Url::parse(text.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some());
    let Some(url) = url else {
        return Err(CliError::usage(
            format!("Invalid endpoint '{text}': expected an http(s) URL."),
            hint,
        ));
    };
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        // Not echoed: the part to drop may be a credential.
        return Err(CliError::usage(
            "Invalid endpoint: it must not carry credentials (user:password@) or a query \
             string, because the endpoint is shown to the room.",
            "Pass the provider's credentials with --header or --header-env instead.",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Exit;

    #[test]
    fn assignments() {
        let cases = [
            (
                "Authorization=Bearer a=b",
                Ok(("Authorization", "Bearer a=b")),
            ),
            (" x-api-key = k ", Ok(("x-api-key", "k"))),
            ("Authorization", Err("expected Name=Value, found no '='")),
            ("=v", Err("the header name is empty")),
            ("Name= ", Err("the header value is empty")),
        ];
        for (input, expected) in cases {
            assert_eq!(split_assignment(input), expected, "{input}");
        }
    }

    fn headers(
        config: &[(&str, &str)],
        flags: &[&str],
        env_flags: &[&str],
    ) -> Result<AuthHeaders, CliError> {
        let config = ProviderHeaders(
            config
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
                .collect(),
        );
        let flags: Vec<String> = flags.iter().map(|flag| (*flag).to_owned()).collect();
        let env_flags: Vec<String> = env_flags.iter().map(|flag| (*flag).to_owned()).collect();
        resolve_auth_headers(&config, &flags, &env_flags, |name| {
            (name == "PROVIDER_KEY").then(|| "sk-from-env".to_owned())
        })
    }

    #[test]
    fn headers_come_from_config_flags_and_environment() {
        let resolved = headers(
            &[("X-Team", "t1"), ("Authorization", "Bearer old")],
            &["Authorization=Bearer sk-flag"],
            &["X-Api-Key=PROVIDER_KEY"],
        )
        .expect("valid");
        let names: Vec<&str> = resolved.names().collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for name in ["x-team", "authorization", "x-api-key"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
    }

    #[test]
    fn header_errors_never_repeat_a_value() {
        let secret = "sk-must-not-leak";
        let cases = [
            headers(&[], &[secret], &[]),
            headers(&[], &[&format!("Authorization=Bearer\n{secret}")], &[]),
            headers(&[], &[&format!("bad name={secret}")], &[]),
            headers(&[("x", &format!("{secret}\u{7}x"))], &[], &[]),
        ];
        for result in cases {
            let error = result.expect_err("invalid");
            assert_eq!(error.exit, Exit::Usage);
            assert!(!error.message.contains(secret), "{error:?}");
            assert!(!error.hint.unwrap_or_default().contains(secret));
        }
    }

    #[test]
    fn a_missing_header_variable_is_named() {
        let error = headers(&[], &[], &["Authorization=NOPE"]).expect_err("missing");
        assert_eq!(error.exit, Exit::Usage);
        assert_eq!(
            error.message,
            "Environment variable 'NOPE' is required for header 'Authorization'."
        );
        let error = headers(&[], &[], &["Authorization"]).expect_err("malformed");
        assert_eq!(
            error.message,
            "Invalid header assignment 'Authorization'. Use Header=ENV_VAR."
        );
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            parse_endpoint("http://localhost:11434").map(|url| url.to_string()),
            Ok("http://localhost:11434/".to_owned())
        );
        assert!(parse_endpoint(" https://api.example.com/openai/ ").is_ok());
        for bad in ["localhost:11434", "ftp://h", "not a url", "http://", ""] {
            let error = parse_endpoint(bad).expect_err(bad);
            assert_eq!(error.exit, Exit::Usage, "{bad}");
        }
        for secret in ["http://user:sk-pw@h:1", "http://h:1/?key=sk-pw"] {
            let error = parse_endpoint(secret).expect_err(secret);
            assert!(!error.message.contains("sk-pw"), "{error:?}");
        }
    }

    #[test]
    fn default_nicknames() {
        assert_eq!(default_nickname("llama3", "alice-laptop"), "llama3@alice-");
        assert_eq!(default_nickname("m", "bo"), "m@bo");
        assert_eq!(default_nickname("m", "ñandú-01"), "m@ñandú-");
    }
}
