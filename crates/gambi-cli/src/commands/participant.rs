//! `gambi participant leave|heartbeat`.

use super::Context;
use crate::cli::{HeartbeatArgs, LeaveArgs};

/// Runs `gambi participant leave`.
pub(crate) async fn leave(args: LeaveArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client(args.password.as_deref())?;
    let envelope = client
        .participants()
        .remove(&args.room, &args.participant_id)
        .await?;
    if ctx.out.is_text() {
        ctx.out.line(&format!(
            "Removed participant {} from room {}.",
            args.participant_id, args.room
        ))?;
    } else {
        ctx.out.value(&envelope)?;
    }
    Ok(())
}

/// Runs `gambi participant heartbeat`.
pub(crate) async fn heartbeat(args: HeartbeatArgs, ctx: &Context) -> anyhow::Result<()> {
    let client = ctx.client(None)?;
    let envelope = client
        .participants()
        .heartbeat(&args.room, &args.participant_id)
        .await?;
    if ctx.out.is_text() {
        ctx.out.line(&format!(
            "Heartbeat ok for {} ({}).",
            args.participant_id,
            envelope.data.status.as_str()
        ))?;
    } else {
        ctx.out.value(&envelope)?;
    }
    Ok(())
}
