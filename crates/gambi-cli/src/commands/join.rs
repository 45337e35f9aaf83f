//! `gambi participant join`: lend a local provider to a room until SIGINT or SIGTERM.
//!
//! The command resolves the provider headers and checks its flags (exit 2), probes the
//! provider once and checks that it serves the model (exit 3), collects the machine's
//! specs, and then either prints the registration it would send (`--dry-run`) or starts a
//! [`ParticipantSession`] with that probe and prints the session's lifecycle until a
//! signal (the session leaves the room; exit 0) or a failure it cannot recover from
//! (exit 3).
//!
//! Structured output (NDJSON) is a sequence of `{type, timestamp, data}` objects:
//!
//! | `type` | `data` |
//! |---|---|
//! | `prepared` | `{room, participantId, endpoint, connection: {kind: "tunnel"}}` |
//! | `registered` | `{participant, roomId, tunnel: {url}}` (the token is never printed) |
//! | `tunnel_connected` | `{participantId, room}` |
//! | `tunnel_lost` | `{participantId, room, message}` |
//! | `unregistered` | `{participantId, room, message}` |
//! | `reconnecting` | `{participantId, room, attempt, delayMs, reason}` |
//! | `heartbeat_missed` | `{participantId, room, message}` |
//! | `leaving` | `{signal, participantId, room}` |
//! | `left` | `{participantId, room}` |
//! | `heartbeat_failed`, `tunnel_failed` | `{participantId, room, reason, message}` |
//!
//! `registered` and `tunnel_connected` repeat after every reconnection. `tunnel_lost`,
//! `unregistered`, `reconnecting` and `heartbeat_missed` are ours; the original runtime
//! never reconnected. A heartbeat that fails for a passing reason is `heartbeat_missed`,
//! not `heartbeat_failed`, because the original's consumers read `heartbeat_failed` as
//! the end of the session.
//!
//! Provider headers (from `--header`, `--header-env` and the config file) and the room
//! password never appear in any output, event, log line or error message.

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use anyhow::Context as _;
use gambi_participant::{
    AuthHeaders, BackoffPolicy, CloseOutcome, CloseReason, HubError, InvalidHeader,
    ParticipantSession, ProbeResult, ProviderSetupError, SessionEvent, SessionOptions, StartError,
};
use gambi_protocol as proto;
use serde::Serialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::{Context, REDACTED, read_runtime_config};
use crate::cli::JoinArgs;
use crate::config::ProviderHeaders;
use crate::error::{CliError, Exit};
use crate::output::Output;
use crate::signal::Signals;

/// Runs `gambi participant join`.
pub(crate) async fn join(args: JoinArgs, ctx: &Context) -> anyhow::Result<()> {
    let dry_run = args.dry_run;
    let plan = Plan::resolve(args, ctx, |name| std::env::var(name).ok())?;
    let (probe, specs) = tokio::join!(
        gambi_participant::probe(&plan.endpoint, &plan.auth_headers),
        async {
            if plan.share_specs {
                Some(gambi_participant::collect_specs().await)
            } else {
                None
            }
        }
    );
    let probe = probe.map_err(|error| setup_error(&error))?;
    let model = check_model(&probe, &plan.model, &plan.endpoint_text())?;
    if dry_run {
        return print_dry_run(ctx.out, &plan, &model, &probe, specs.as_ref());
    }
    run(ctx.out, plan, probe, specs).await
}

/// Everything the command needs, checked.
struct Plan {
    hub_url: Url,
    room: String,
    participant_id: String,
    nickname: String,
    /// The model as asked for (the provider may know it as `<model>:latest`).
    model: String,
    endpoint: Url,
    password: Option<String>,
    config: Option<proto::RuntimeConfig>,
    auth_headers: AuthHeaders,
    share_specs: bool,
    max_concurrency: NonZeroU32,
    reconnect: bool,
}

impl Plan {
    /// Checks the flags in the original's order: provider headers, then room, model,
    /// participant id, config file and endpoint; then the hub URL. `env_var` reads
    /// `--header-env` variables.
    fn resolve(
        args: JoinArgs,
        ctx: &Context,
        env_var: impl Fn(&str) -> Option<String>,
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
        let model = required(args.model).ok_or_else(|| {
            CliError::usage(
                "Model is required.",
                "Pass --model <MODEL>, one the provider lists (e.g. `ollama list`).",
            )
        })?;
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
        let hub_url = parse_hub_url(ctx.hub_url())?;
        let nickname =
            required(args.nickname).unwrap_or_else(|| default_nickname(&model, &participant_id));
        Ok(Self {
            hub_url,
            room,
            participant_id,
            nickname,
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

    /// The hub URL as printed, without a trailing `/`.
    fn hub_text(&self) -> String {
        self.hub_url.as_str().trim_end_matches('/').to_owned()
    }

    /// The endpoint as printed and registered, without a trailing `/`.
    fn endpoint_text(&self) -> String {
        self.endpoint.as_str().trim_end_matches('/').to_owned()
    }

    /// `{participantId, room}`, the core of every lifecycle event.
    fn who(&self) -> serde_json::Value {
        json!({ "participantId": self.participant_id, "room": self.room })
    }

    /// `who` plus more fields.
    fn who_and(&self, extra: serde_json::Value) -> serde_json::Value {
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

fn parse_hub_url(text: &str) -> Result<Url, CliError> {
    Url::parse(text.trim())
        .ok()
        .filter(|url| matches!(url.scheme(), "http" | "https") && url.host_str().is_some())
        .ok_or_else(|| {
            CliError::usage(
                format!("Invalid hub URL '{text}'."),
                "Pass --hub (or GAMBI_HUB_URL) an http(s) URL such as http://localhost:3000.",
            )
        })
}

/// The provider's name for `requested`, or why the provider cannot serve it (exit 3).
fn check_model(probe: &ProbeResult, requested: &str, endpoint: &str) -> Result<String, CliError> {
    if let Some(model) = probe.resolve_model(requested) {
        return Ok(model);
    }
    let not_found = |hint: String| {
        CliError::unavailable(
            format!("Model '{requested}' not found on {endpoint}."),
            hint,
        )
    };
    if !probe.models.is_empty() {
        return Err(not_found(format!(
            "available models: {}",
            probe.models.join(", ")
        )));
    }
    if let Some(rejection) = probe.auth_rejections.first() {
        return Err(CliError::unavailable(
            format!(
                "The provider at {endpoint} refused the credentials (HTTP {} on {}).",
                rejection.status, rejection.path
            ),
            "Pass the provider's credentials with --header or --header-env, \
             e.g. --header-env Authorization=OPENAI_AUTH.",
        ));
    }
    if !probe.reachable {
        return Err(CliError::unavailable(
            format!("Could not reach the provider at {endpoint}."),
            "Start the provider, or pass --endpoint with its base URL (without /v1).",
        ));
    }
    Err(not_found(
        if endpoint.trim_end_matches('/').ends_with("/v1") {
            "the provider lists no models; drop the trailing /v1 from --endpoint (request paths \
         already start with /v1)."
                .to_owned()
        } else {
            "the provider lists no models (neither /api/tags nor /v1/models named any).".to_owned()
        },
    ))
}

fn setup_error(error: &ProviderSetupError) -> CliError {
    match error {
        ProviderSetupError::InvalidEndpoint(_) => CliError::usage(
            error.to_string(),
            "Pass --endpoint the provider's base URL without /v1, e.g. http://localhost:11434.",
        ),
        ProviderSetupError::Client(_) => CliError {
            exit: Exit::Unexpected,
            message: error.to_string(),
            hint: None,
            request_id: None,
        },
    }
}

/// What `--dry-run` prints in structured formats.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRun<'a> {
    hub_url: String,
    room: &'a str,
    participant_id: &'a str,
    endpoint: String,
    connection: serde_json::Value,
    payload: Payload<'a>,
}

/// The registration `--dry-run` would send, secrets redacted.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    nickname: &'a str,
    model: &'a str,
    endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    specs: Option<&'a proto::MachineSpecs>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config: Option<&'a proto::RuntimeConfig>,
    capabilities: proto::ParticipantCapabilities,
    max_concurrency: u32,
    /// Header names (lower case); the values stay on this machine and are not printed.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    auth_headers: BTreeMap<&'a str, &'static str>,
}

fn print_dry_run(
    out: Output,
    plan: &Plan,
    model: &str,
    probe: &ProbeResult,
    specs: Option<&proto::MachineSpecs>,
) -> anyhow::Result<()> {
    let payload = Payload {
        nickname: &plan.nickname,
        model,
        endpoint: plan.endpoint_text(),
        password: plan.password.as_ref().map(|_| REDACTED),
        specs,
        config: plan.config.as_ref(),
        capabilities: probe.capabilities,
        max_concurrency: plan.max_concurrency.get(),
        auth_headers: plan
            .auth_headers
            .names()
            .map(|name| (name, REDACTED))
            .collect(),
    };
    if out.is_text() {
        out.line(&format!(
            "Would join room {} on {} as {} ({model} via {}).",
            plan.room,
            plan.hub_text(),
            plan.participant_id,
            plan.endpoint_text()
        ))?;
        out.value(&payload)?;
    } else {
        out.value(&DryRun {
            hub_url: plan.hub_text(),
            room: &plan.room,
            participant_id: &plan.participant_id,
            endpoint: plan.endpoint_text(),
            connection: json!({ "kind": "tunnel" }),
            payload,
        })?;
    }
    Ok(())
}

/// Joins the room and serves until a signal or a failure.
async fn run(
    out: Output,
    plan: Plan,
    probe: ProbeResult,
    specs: Option<proto::MachineSpecs>,
) -> anyhow::Result<()> {
    // Handlers go in before anything is announced: a signal sent right after reading an
    // event must make the participant leave the room, not kill the process.
    let mut signals = Signals::new().context("Could not install signal handlers")?;
    if !out.is_text() {
        out.event(
            "prepared",
            &json!({
                "room": plan.room,
                "participantId": plan.participant_id,
                "endpoint": plan.endpoint_text(),
                "connection": { "kind": "tunnel" },
            }),
        )?;
    }
    let shutdown = CancellationToken::new();
    let options = SessionOptions {
        hub_url: plan.hub_url.clone(),
        room_code: plan.room.clone(),
        participant_id: plan.participant_id.clone(),
        nickname: plan.nickname.clone(),
        model: plan.model.clone(),
        endpoint: plan.endpoint.clone(),
        password: plan.password.clone(),
        specs,
        config: plan.config.clone(),
        capabilities: None,
        auth_headers: plan.auth_headers.clone(),
        initial_probe: Some(probe),
        max_concurrency: plan.max_concurrency,
        reconnect: plan.reconnect.then(BackoffPolicy::default),
        timing: gambi_participant::Timing::default(),
        shutdown: shutdown.clone(),
    };
    let mut printer = Printer::new(out, &plan);

    let start = ParticipantSession::start(options);
    tokio::pin!(start);
    let started = tokio::select! {
        started = &mut start => started,
        signal = signals.recv() => {
            // Let the session undo whatever part of the join it has done.
            shutdown.cancel();
            let announced = printer.leaving(signal);
            if let Ok(session) = start.await {
                session.close().await;
            }
            announced?;
            return printer.left();
        }
    };
    let mut session = started.map_err(|error| start_error(error, &plan))?;
    let mut events = session
        .take_events()
        .context("The session's events were already taken")?;

    let ended = loop {
        let printed = tokio::select! {
            biased;
            Some(event) = events.recv() => printer.event(&event),
            outcome = session.wait() => break Ended::Outcome(outcome),
            signal = signals.recv() => break Ended::Signal(signal),
        };
        if let Err(error) = printed {
            // Nobody can read the output any more: still leave the room.
            session.close().await;
            return Err(error);
        }
    };
    let outcome = match ended {
        Ended::Outcome(outcome) => outcome,
        Ended::Signal(signal) => {
            let announced = printer.leaving(signal);
            let outcome = tokio::select! {
                outcome = session.close() => outcome,
                second = signals.recv() => {
                    return Err(CliError::new(
                        Exit::Unexpected,
                        format!("Stopped before leaving the room ({second} received twice)."),
                        format!(
                            "The hub drops the participant when its tunnel goes quiet; \
                             `gambi participant leave -r {} --participant-id {}` removes it now.",
                            plan.room, plan.participant_id
                        ),
                    )
                    .into());
                }
            };
            announced?;
            outcome
        }
    };
    drain(&mut events, &mut printer)?;
    printer.finish(outcome)
}

/// How the serving loop ended.
enum Ended {
    Outcome(CloseOutcome),
    Signal(&'static str),
}

/// Prints the events that were still queued when the session ended.
fn drain(
    events: &mut mpsc::Receiver<SessionEvent>,
    printer: &mut Printer<'_>,
) -> anyhow::Result<()> {
    while let Ok(event) = events.try_recv() {
        printer.event(&event)?;
    }
    Ok(())
}

/// Turns session events into text lines or NDJSON lifecycle events.
struct Printer<'a> {
    out: Output,
    plan: &'a Plan,
    registrations: u32,
    connections: u32,
}

impl<'a> Printer<'a> {
    fn new(out: Output, plan: &'a Plan) -> Self {
        Self {
            out,
            plan,
            registrations: 0,
            connections: 0,
        }
    }

    fn event(&mut self, event: &SessionEvent) -> anyhow::Result<()> {
        let (out, plan) = (self.out, self.plan);
        let room = &plan.room;
        match event {
            SessionEvent::Registered(registration) => {
                self.registrations += 1;
                if !out.is_text() {
                    out.event(
                        "registered",
                        &json!({
                            "participant": registration.participant,
                            "roomId": registration.room_id,
                            "tunnel": { "url": registration.tunnel_url },
                        }),
                    )?;
                } else if self.registrations == 1 {
                    let participant = &registration.participant;
                    out.line(&format!(
                        "Joined room {room} as {} ({} via {}).",
                        participant.nickname, participant.model, participant.endpoint
                    ))?;
                } else {
                    out.line(&format!("Registered again with room {room}."))?;
                }
            }
            SessionEvent::TunnelConnected => {
                self.connections += 1;
                if !out.is_text() {
                    out.event("tunnel_connected", &plan.who())?;
                } else if self.connections == 1 {
                    out.line("Tunnel connected; serving requests.")?;
                    out.note("Press Ctrl+C to leave.")?;
                } else {
                    out.line("Reconnected; serving requests again.")?;
                }
            }
            SessionEvent::TunnelLost { message } => {
                if out.is_text() {
                    out.line(&format!("Lost the tunnel: {message}"))?;
                } else {
                    out.event("tunnel_lost", &plan.who_and(json!({ "message": message })))?;
                }
            }
            SessionEvent::Unregistered { message } => {
                if out.is_text() {
                    out.line(&format!(
                        "The hub no longer has this participant ({message}); registering again."
                    ))?;
                } else {
                    out.event("unregistered", &plan.who_and(json!({ "message": message })))?;
                }
            }
            SessionEvent::Reconnecting {
                attempt,
                delay,
                reason,
            } => {
                if out.is_text() {
                    out.line(&format!(
                        "Reconnecting in {:.1} s (attempt {attempt}): {reason}",
                        delay.as_secs_f64()
                    ))?;
                } else {
                    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    out.event(
                        "reconnecting",
                        &plan.who_and(json!({
                            "attempt": attempt,
                            "delayMs": delay_ms,
                            "reason": reason,
                        })),
                    )?;
                }
            }
            SessionEvent::HeartbeatFailed { message } => {
                if out.is_text() {
                    out.line(&format!(
                        "A heartbeat failed ({message}); the next one is sent on schedule."
                    ))?;
                } else {
                    out.event(
                        "heartbeat_missed",
                        &plan.who_and(json!({ "message": message })),
                    )?;
                }
            }
            // The command announces leaving and leaving itself: it knows the signal.
            SessionEvent::Leaving | SessionEvent::Left => {}
            other => {
                tracing::debug!(kind = other.kind(), "participant session event");
            }
        }
        Ok(())
    }

    fn leaving(&self, signal: &str) -> std::io::Result<()> {
        if self.out.is_text() {
            self.out
                .note(&format!("Leaving room {} ({signal})...", self.plan.room))
        } else {
            self.out
                .event("leaving", &self.plan.who_and(json!({ "signal": signal })))
        }
    }

    fn left(&self) -> anyhow::Result<()> {
        if self.out.is_text() {
            self.out.line(&format!("Left room {}.", self.plan.room))?;
        } else {
            self.out.event("left", &self.plan.who())?;
        }
        Ok(())
    }

    /// Reports how the session ended: `left` after a clean close, otherwise the failure
    /// event and an exit-3 error.
    fn finish(&self, outcome: CloseOutcome) -> anyhow::Result<()> {
        let kind = match outcome.reason {
            CloseReason::Closed => {
                return match outcome.error {
                    None => self.left(),
                    Some(error) => Err(CliError {
                        exit: Exit::Unexpected,
                        message: format!("The participant session failed: {error}."),
                        hint: None,
                        request_id: None,
                    }
                    .into()),
                };
            }
            CloseReason::HeartbeatFailed => "heartbeat_failed",
            CloseReason::TunnelClosed => "tunnel_failed",
        };
        let message = outcome
            .error
            .unwrap_or_else(|| "Participant session closed.".to_owned());
        if !self.out.is_text() {
            self.out.event(
                kind,
                &self.plan.who_and(json!({
                    "reason": outcome.reason.as_str(),
                    "message": message,
                })),
            )?;
        }
        let hint = if self.plan.reconnect {
            "Reconnecting cannot fix this; fix the cause and join again."
        } else {
            "Join again, or drop --no-reconnect to reconnect automatically."
        };
        Err(CliError::unavailable(sentence_case(&message), hint).into())
    }
}

/// `message` with its first letter upper-cased, for `Error: <message>`.
fn sentence_case(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// Maps a failed start to a message and exit code. Causes the user can fix here get their
/// own hint; everything else is a connectivity failure (exit 3), as in the original.
fn start_error(error: StartError, plan: &Plan) -> CliError {
    let hub = plan.hub_text();
    match error {
        StartError::Hub(HubError::RoomNotFound { message }) => CliError::new(
            Exit::Rejected,
            message,
            format!("Check the room code; `gambi room list --hub {hub}` shows the hub's rooms."),
        ),
        StartError::Hub(HubError::InvalidPassword { message }) => CliError::unavailable(
            message,
            if plan.password.is_some() {
                "The room password is wrong; pass the right one with --password."
            } else {
                "The room is password-protected; pass its password with --password."
            },
        ),
        StartError::Hub(HubError::InvalidRequest { message, hint }) => CliError {
            exit: Exit::Usage,
            message,
            hint,
            request_id: None,
        },
        StartError::Hub(HubError::Conflict { message }) => CliError::new(
            Exit::Rejected,
            message,
            "A live session already holds this participant id; choose another \
             --participant-id, or stop that session first.",
        ),
        StartError::Hub(HubError::Rejected {
            status, message, ..
        }) => CliError {
            exit: match Exit::from_status(status) {
                Exit::Unexpected => Exit::Unavailable,
                exit => exit,
            },
            message,
            hint: None,
            request_id: None,
        },
        StartError::Hub(HubError::Unreachable(detail)) => CliError::unavailable(
            format!("Failed to reach hub at {hub}: {detail}"),
            "Check --hub (or the config file's hubUrl) and that the hub is running.",
        ),
        StartError::Hub(error @ HubError::InvalidResponse { .. }) => CliError::unavailable(
            format!("{error}."),
            format!("Check that {hub} is a Gambi hub."),
        ),
        StartError::Hub(error @ HubError::ParticipantNotFound { .. }) => {
            CliError::unavailable(error.to_string(), "Join again.")
        }
        StartError::Tunnel(detail) => CliError::unavailable(
            format!("Failed to open participant tunnel: {detail}"),
            "The hub accepted the registration but the WebSocket did not open; check any \
             proxy between here and the hub.",
        ),
        StartError::ModelNotFound {
            model,
            endpoint,
            available,
        } => CliError::unavailable(
            format!("Model '{model}' not found on {endpoint}."),
            format!("available models: {}", available.join(", ")),
        ),
        error @ (StartError::ProviderUnreachable { .. }
        | StartError::ProviderAuthRejected { .. }) => CliError::unavailable(
            error.to_string(),
            "Check that the provider is running and accepts the --header credentials.",
        ),
        StartError::ProviderSetup(error) => setup_error(&error),
        error @ StartError::InvalidOptions(_) => CliError {
            exit: Exit::Usage,
            message: error.to_string(),
            hint: None,
            request_id: None,
        },
        error @ StartError::Cancelled => CliError {
            exit: Exit::Unexpected,
            message: error.to_string(),
            hint: None,
            request_id: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn sentences() {
        assert_eq!(
            sentence_case("hub closed the tunnel"),
            "Hub closed the tunnel"
        );
        assert_eq!(sentence_case("Already"), "Already");
        assert_eq!(sentence_case("émoi"), "Émoi");
        assert_eq!(sentence_case(""), "");
    }

    #[test]
    fn default_nicknames() {
        assert_eq!(default_nickname("llama3", "alice-laptop"), "llama3@alice-");
        assert_eq!(default_nickname("m", "bo"), "m@bo");
        assert_eq!(default_nickname("m", "ñandú-01"), "m@ñandú-");
    }

    fn probe(models: &[&str], reachable: bool, rejected: bool) -> ProbeResult {
        ProbeResult {
            models: models.iter().map(|model| (*model).to_owned()).collect(),
            capabilities: proto::ParticipantCapabilities::default(),
            reachable,
            auth_rejections: if rejected {
                vec![gambi_participant::AuthRejection {
                    path: "/v1/models",
                    status: 401,
                }]
            } else {
                Vec::new()
            },
        }
    }

    #[test]
    fn model_checks() {
        let endpoint = "http://localhost:11434";
        let check = |probe: ProbeResult| check_model(&probe, "llama3", endpoint);
        assert_eq!(
            check(probe(&["llama3:latest"], true, false)),
            Ok("llama3:latest".to_owned())
        );
        let error = check(probe(&["a", "b"], true, false)).expect_err("absent");
        assert_eq!(error.exit, Exit::Unavailable);
        assert_eq!(
            error.message,
            "Model 'llama3' not found on http://localhost:11434."
        );
        assert_eq!(error.hint.as_deref(), Some("available models: a, b"));
        let error = check(probe(&[], true, true)).expect_err("refused");
        assert_eq!(
            error.message,
            "The provider at http://localhost:11434 refused the credentials (HTTP 401 on /v1/models)."
        );
        let error = check(probe(&[], false, false)).expect_err("unreachable");
        assert_eq!(
            error.message,
            "Could not reach the provider at http://localhost:11434."
        );
        let error = check(probe(&[], true, false)).expect_err("empty");
        assert_eq!(error.exit, Exit::Unavailable);
        assert!(error.message.starts_with("Model 'llama3' not found"));
        let error = check_model(&probe(&[], true, false), "m", "http://h:1/v1").expect_err("/v1");
        assert!(
            error
                .hint
                .unwrap_or_default()
                .contains("drop the trailing /v1"),
            "a base URL ending in /v1 is the usual mistake"
        );
    }
}
