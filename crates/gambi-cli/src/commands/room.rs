//! `gambi room create|list|get`.

use gambi_protocol as proto;
use serde::Serialize;
use serde_json::Value;
use std::cmp::Ordering;

use super::{Context, REDACTED, read_runtime_config};
use crate::cli::{CreateArgs, GetArgs, ListArgs, RoomSort};
use crate::error::CliError;
use crate::output::{Output, iso_time};
use crate::prompt;

/// Runs `gambi room create`.
pub(crate) async fn create(args: CreateArgs, ctx: &Context) -> anyhow::Result<()> {
    let given = args
        .name
        .as_deref()
        .map(str::trim)
        .filter(|name| !name.is_empty());
    let (name, password) = match given {
        Some(name) => (name.to_owned(), args.password),
        // As the original does: on a terminal, ask for the name, and then the password.
        None if ctx.interactive => {
            let name = prompt::text("Room name", None)?;
            let password = match args.password {
                Some(password) => Some(password),
                None => prompt::secret("Room password (empty: none)")?,
            };
            (name, password)
        }
        None => {
            return Err(CliError::usage("Room name is required.", "Pass --name <NAME>.").into());
        }
    };
    if name.is_empty() {
        return Err(CliError::usage("Room name is required.", "Pass --name <NAME>.").into());
    }
    let name = name.as_str();
    let defaults = match &args.config {
        Some(source) => Some(
            serde_json::to_value(read_runtime_config(source, "room config")?)
                .unwrap_or(Value::Null),
        ),
        None => None,
    };
    let request = proto::CreateRoomRequest {
        name: name.to_owned(),
        password: password.filter(|password| !password.is_empty()),
        defaults,
    };
    let client = ctx.client(args.admin_token.as_deref())?;
    let out = ctx.out;

    if args.dry_run {
        let payload = proto::CreateRoomRequest {
            password: request.password.as_ref().map(|_| REDACTED.to_owned()),
            ..request.clone()
        };
        if out.is_text() {
            out.line(&format!(
                "Would create room '{}' on {}.",
                request.name,
                client.hub_url()
            ))?;
            out.value(&payload)?;
        } else {
            out.value(&DryRun {
                hub_url: client.hub_url(),
                payload: &payload,
            })?;
        }
        return Ok(());
    }

    let envelope = client.rooms().create(&request).await?;
    if out.is_text() {
        let room = &envelope.data.room;
        out.line(&format!("Created room {} ({}).", room.code, room.name))?;
        out.line(&format!("host_id: {}", envelope.data.host_id))?;
    } else {
        out.value(&envelope)?;
    }
    Ok(())
}

/// What `room create --dry-run` prints in structured formats.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DryRun<'a> {
    hub_url: &'a str,
    payload: &'a proto::CreateRoomRequest,
}

/// Runs `gambi room list`.
pub(crate) async fn list(args: ListArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client(args.admin_token.as_deref())?;
    let mut envelope = client.rooms().list().await?;
    sort_rooms(&mut envelope.data, args.sort, args.reverse);
    let out = ctx.out;
    if !out.is_text() {
        out.value(&envelope)?;
    } else if envelope.data.is_empty() {
        out.line("No rooms found.")?;
    } else {
        for (index, room) in envelope.data.iter().enumerate() {
            if index > 0 {
                out.line("")?;
            }
            print_room(out, room)?;
        }
    }
    Ok(())
}

/// Orders rooms for `room list`: by participant count (most first, then newest first), by
/// creation (newest first) or by name (A to Z, ignoring case); `reverse` flips the result.
/// The sort is stable, so rooms that compare equal keep the hub's (creation) order.
fn sort_rooms(rooms: &mut [proto::RoomSummary], sort: RoomSort, reverse: bool) {
    let newest_first =
        |a: &proto::RoomSummary, b: &proto::RoomSummary| b.created_at.cmp(&a.created_at);
    let order = |a: &proto::RoomSummary, b: &proto::RoomSummary| -> Ordering {
        match sort {
            RoomSort::ParticipantCount => b
                .participant_count
                .cmp(&a.participant_count)
                .then_with(|| newest_first(a, b)),
            RoomSort::CreatedAt => newest_first(a, b),
            RoomSort::Name => a
                .name
                .to_lowercase()
                .cmp(&b.name.to_lowercase())
                .then_with(|| a.name.cmp(&b.name)),
        }
    };
    rooms.sort_by(order);
    if reverse {
        rooms.reverse();
    }
}

/// Runs `gambi room get`.
pub(crate) async fn get(args: GetArgs, ctx: &Context) -> anyhow::Result<()> {
    let envelope = ctx.client(None)?.rooms().get(&args.code).await?;
    let out = ctx.out;
    if out.is_text() {
        print_room(out, &envelope.data)?;
        if let Some(defaults) = &envelope.data.defaults {
            out.line(&format!("  defaults: {}", serde_json::to_string(defaults)?))?;
        }
    } else {
        out.value(&envelope)?;
    }
    Ok(())
}

/// `CODE  name`, then indented participants, protected and created_at lines.
fn print_room(out: Output, room: &proto::RoomSummary) -> std::io::Result<()> {
    out.line(&format!("{}  {}", room.code, room.name))?;
    out.line(&format!("  participants: {}", room.participant_count))?;
    out.line(&format!(
        "  protected: {}",
        if room.password_protected { "yes" } else { "no" }
    ))?;
    out.line(&format!("  created_at: {}", iso_time(room.created_at)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(code: &str, name: &str, participants: u32, created_at: i64) -> proto::RoomSummary {
        proto::RoomSummary {
            id: code.to_lowercase(),
            code: code.into(),
            name: name.into(),
            host_id: "host".into(),
            created_at,
            defaults: None,
            password_protected: false,
            participant_count: participants,
        }
    }

    fn check(sort: RoomSort, reverse: bool, expected: &[&str]) {
        // In the hub's (creation) order.
        let mut rooms = vec![
            room("AAAAAA", "beta", 1, 1),
            room("BBBBBB", "Alpha", 3, 2),
            room("CCCCCC", "gamma", 1, 3),
            room("DDDDDD", "alpha", 0, 4),
        ];
        sort_rooms(&mut rooms, sort, reverse);
        let codes: Vec<&str> = rooms.iter().map(|room| room.code.as_str()).collect();
        assert_eq!(codes, expected, "{sort:?} reverse={reverse}");
    }

    #[test]
    fn room_order() {
        check(
            RoomSort::ParticipantCount,
            false,
            &["BBBBBB", "CCCCCC", "AAAAAA", "DDDDDD"],
        );
        check(
            RoomSort::ParticipantCount,
            true,
            &["DDDDDD", "AAAAAA", "CCCCCC", "BBBBBB"],
        );
        check(
            RoomSort::CreatedAt,
            false,
            &["DDDDDD", "CCCCCC", "BBBBBB", "AAAAAA"],
        );
        check(
            RoomSort::Name,
            false,
            &["BBBBBB", "DDDDDD", "AAAAAA", "CCCCCC"],
        );
        check(
            RoomSort::Name,
            true,
            &["CCCCCC", "AAAAAA", "DDDDDD", "BBBBBB"],
        );
    }
}
