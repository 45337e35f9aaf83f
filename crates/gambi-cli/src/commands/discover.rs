//! `gambi hub discover`, `gambi room discover`, and `--room-name`: finding hubs and
//! rooms through [`gambi_client::discovery`].
//!
//! Candidates are the configured hub (`--hub`, `GAMBI_HUB_URL`, the config file's
//! `hubUrl`, else `http://localhost:3000`), the config file's `hubs`, and the hubs
//! announced over mDNS; only those that answer are listed. `--room-name` looks only at
//! `--hub` when it is given: a hub named on the command line always wins.
//!
//! Text output is a table; JSON is the list of hubs (`{name, hubUrl, host, port,
//! addresses, source, txt, version}`) or rooms (the room's fields plus `hubName`,
//! `hubSource`, `hubUrl`).

use std::time::Duration;

use gambi_client::discovery::{
    self, DiscoveredHub, DiscoveredRoom, DiscoveryError, RoomQuery, Target,
};

use super::Context;
use crate::cli::{DiscoverArgs, RoomDiscoverArgs};
use crate::error::{CliError, Exit};

/// Runs `gambi hub discover`.
pub(crate) async fn hubs(args: DiscoverArgs, ctx: &Context) -> anyhow::Result<()> {
    let options = ctx.discovery(Duration::from_millis(args.browse.timeout_ms));
    let hubs = discovery::discover_hubs(&options).await;
    let out = ctx.out;
    if !out.is_text() {
        out.value(&hubs)?;
    } else if hubs.is_empty() {
        out.line("No hubs found.")?;
        out.note(
            "Start one with `gambi hub serve --mdns`, or list known hubs under \"hubs\" in the config file.",
        )?;
    } else {
        for line in hub_table(&hubs) {
            out.line(&line)?;
        }
    }
    Ok(())
}

/// Runs `gambi room discover`.
pub(crate) async fn rooms(args: RoomDiscoverArgs, ctx: &Context) -> anyhow::Result<()> {
    let mut options = ctx.discovery(Duration::from_millis(args.browse.timeout_ms));
    options.admin_token = args.admin_token.filter(|token| !token.is_empty());
    let rooms = discovery::discover_rooms(&options).await;
    let out = ctx.out;
    if !out.is_text() {
        out.value(&rooms)?;
    } else if rooms.is_empty() {
        out.line("No rooms found.")?;
    } else {
        for line in room_table(&rooms) {
            out.line(&line)?;
        }
    }
    Ok(())
}

/// The one room called `name`, among the rooms of `--hub` or of the hubs discovery finds.
pub(crate) async fn resolve_room_name(ctx: &Context, name: &str) -> Result<Target, CliError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(CliError::usage(
            "Room name is empty.",
            "Pass --room-name <NAME>, or --room <CODE>.",
        ));
    }
    let target = discovery::resolve_target(&ctx.room_resolution(), &RoomQuery::by_name(name))
        .await
        .map_err(|error| discovery_error(&error))?;
    tracing::debug!(
        room = %target.room.room.code,
        hub = %target.hub.hub_url,
        "--room-name resolved"
    );
    Ok(target)
}

/// How a discovery failure reads and exits: no hub is a connectivity failure (3), no
/// room a rejection (4), an ambiguous name a usage error (2) that lists the choices.
pub(crate) fn discovery_error(error: &DiscoveryError) -> CliError {
    match error {
        DiscoveryError::NoHubsFound { .. } => CliError::new(
            Exit::Unavailable,
            error.to_string(),
            "Start a hub with `gambi hub serve --mdns`, pass --hub, or list known hubs under \
             \"hubs\" in the config file.",
        ),
        DiscoveryError::NoRoomsFound { .. } => CliError::new(
            Exit::Rejected,
            error.to_string(),
            "Create one with `gambi room create`.",
        ),
        DiscoveryError::RoomNotFound { .. } => CliError::new(
            Exit::Rejected,
            error.to_string(),
            "`gambi room discover` lists the rooms found.",
        ),
        DiscoveryError::AmbiguousRoomMatch { matches, .. } => {
            let choices: Vec<String> = matches
                .iter()
                .map(|room| {
                    format!(
                        "{} \"{}\" on {}",
                        room.room.code, room.room.name, room.hub_url
                    )
                })
                .collect();
            CliError::usage(
                format!("{} Choices: {}.", error, choices.join("; ")),
                "Pass --room <CODE> (and --hub <URL>) to pick one.",
            )
        }
    }
}

/// Columns padded to their widest cell, two spaces apart; the last one is not padded.
fn table(rows: &[Vec<String>]) -> Vec<String> {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (column, cell) in row.iter().enumerate() {
                if column + 1 == columns {
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    let pad = widths[column] - cell.chars().count() + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line
        })
        .collect()
}

fn hub_table(hubs: &[DiscoveredHub]) -> Vec<String> {
    let mut rows = vec![vec![
        "NAME".to_owned(),
        "URL".to_owned(),
        "VERSION".to_owned(),
        "SOURCE".to_owned(),
    ]];
    rows.extend(hubs.iter().map(|hub| {
        vec![
            hub.name.clone(),
            hub.hub_url.clone(),
            hub.version.clone().unwrap_or_else(|| "-".to_owned()),
            hub.source.as_str().to_owned(),
        ]
    }));
    table(&rows)
}

fn room_table(rooms: &[DiscoveredRoom]) -> Vec<String> {
    let mut rows = vec![vec![
        "CODE".to_owned(),
        "NAME".to_owned(),
        "PARTICIPANTS".to_owned(),
        "PROTECTED".to_owned(),
        "HUB".to_owned(),
    ]];
    rows.extend(rooms.iter().map(|room| {
        vec![
            room.room.code.clone(),
            room.room.name.clone(),
            room.room.participant_count.to_string(),
            if room.room.password_protected {
                "yes"
            } else {
                "no"
            }
            .to_owned(),
            format!("{} ({})", room.hub_url, room.hub_name),
        ]
    }));
    table(&rows)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use gambi_client::discovery::HubSource;
    use gambi_protocol as proto;

    use super::*;

    fn hub(name: &str, url: &str, version: Option<&str>, source: HubSource) -> DiscoveredHub {
        DiscoveredHub {
            name: name.into(),
            hub_url: url.into(),
            host: "h".into(),
            port: 3000,
            addresses: Vec::new(),
            source,
            txt: BTreeMap::new(),
            version: version.map(str::to_owned),
        }
    }

    fn room(code: &str, name: &str, hub_url: &str) -> DiscoveredRoom {
        DiscoveredRoom {
            room: proto::RoomSummary {
                id: code.to_lowercase(),
                code: code.into(),
                name: name.into(),
                host_id: "host".into(),
                created_at: 0,
                defaults: None,
                password_protected: code.starts_with('P'),
                participant_count: 2,
            },
            hub_name: "gambi-hub-3000-abc".into(),
            hub_source: HubSource::Mdns,
            hub_url: hub_url.into(),
        }
    }

    #[test]
    fn tables_line_up() {
        let hubs = [
            hub(
                "gambi-hub-3000-abc",
                "http://10.0.0.2:3000",
                Some("0.1.0"),
                HubSource::Mdns,
            ),
            hub(
                "Configured hub",
                "http://localhost:3000",
                None,
                HubSource::Configured,
            ),
        ];
        assert_eq!(
            hub_table(&hubs),
            [
                "NAME                URL                    VERSION  SOURCE",
                "gambi-hub-3000-abc  http://10.0.0.2:3000   0.1.0    mdns",
                "Configured hub      http://localhost:3000  -        configured",
            ]
        );
        let rooms = [
            room("ABC123", "Lab", "http://10.0.0.2:3000"),
            room("PXYZ99", "Night class", "http://10.0.0.2:3000"),
        ];
        assert_eq!(
            room_table(&rooms),
            [
                "CODE    NAME         PARTICIPANTS  PROTECTED  HUB",
                "ABC123  Lab          2             no         http://10.0.0.2:3000 (gambi-hub-3000-abc)",
                "PXYZ99  Night class  2             yes        http://10.0.0.2:3000 (gambi-hub-3000-abc)",
            ]
        );
    }

    #[test]
    fn discovery_errors_exit_as_documented() {
        let ambiguous = DiscoveryError::AmbiguousRoomMatch {
            query: RoomQuery::by_name("Lab"),
            matches: vec![
                room("ABC123", "Lab", "http://a:3000"),
                room("DEF456", "Lab", "http://b:3000"),
            ],
        };
        let error = discovery_error(&ambiguous);
        assert_eq!(error.exit, Exit::Usage);
        assert_eq!(
            error.message,
            "2 rooms match name 'Lab'. Choices: ABC123 \"Lab\" on http://a:3000; \
             DEF456 \"Lab\" on http://b:3000."
        );
        let cases = [
            (
                DiscoveryError::NoHubsFound {
                    tried: Vec::new(),
                    mdns: true,
                },
                Exit::Unavailable,
            ),
            (
                DiscoveryError::NoRoomsFound { hubs: Vec::new() },
                Exit::Rejected,
            ),
            (
                DiscoveryError::RoomNotFound {
                    query: RoomQuery::by_name("x"),
                },
                Exit::Rejected,
            ),
        ];
        for (error, exit) in cases {
            assert_eq!(discovery_error(&error).exit, exit, "{error:?}");
        }
    }
}
