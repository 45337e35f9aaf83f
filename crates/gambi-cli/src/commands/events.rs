//! `gambi events watch`: print a room's events until the hub closes the stream.
//!
//! Text: one line per event, `<ISO time> <type> <data as compact JSON>`. Structured: each
//! event as the hub sent it, one JSON object per line. The command ends with exit 0 when
//! the hub closes the stream (e.g. it shuts down) or on SIGINT/SIGTERM; it does not
//! reconnect. A refused subscription or a lost connection exits like any hub failure.

use futures::StreamExt;
use gambi_protocol as proto;

use super::Context;
use crate::cli::WatchArgs;
use crate::output::iso_time;
use crate::signal::Signals;

/// Runs `gambi events watch`.
pub(crate) async fn watch(args: WatchArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client(args.password.as_deref())?;
    let mut signals = Signals::new()?;
    let mut events = client.events().watch_room(&args.room);
    loop {
        let next = tokio::select! {
            next = events.next() => next,
            _ = signals.recv() => return Ok(()),
        };
        match next {
            None => return Ok(()),
            Some(Ok(event)) => print_event(ctx, &event)?,
            Some(Err(error)) => return Err(error.into()),
        }
    }
}

fn print_event(ctx: &Context, event: &proto::RoomEvent) -> anyhow::Result<()> {
    if ctx.out.is_text() {
        let value = serde_json::to_value(event)?;
        ctx.out.line(&format!(
            "{} {} {}",
            iso_time(event.timestamp),
            event.payload.kind(),
            serde_json::to_string(&value["data"])?
        ))?;
    } else {
        ctx.out.value(event)?;
    }
    Ok(())
}
