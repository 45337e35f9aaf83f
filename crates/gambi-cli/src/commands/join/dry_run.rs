//! `--dry-run`: the registration the command would send, secrets redacted.

use std::collections::BTreeMap;

use gambi_participant::ProbeResult;
use gambi_protocol as proto;
use serde::Serialize;
use serde_json::json;

use super::plan::Plan;
use crate::commands::REDACTED;
use crate::output::Output;

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

pub(super) fn print(
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
