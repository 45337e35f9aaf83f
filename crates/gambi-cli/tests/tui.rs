//! The real `gambi tui` in a pseudo-terminal, against a real hub, a participant runtime
//! and a fake provider: it opens a room's monitor, shows the participant, shows a request
//! made meanwhile in its log, quits on `q` and gives the terminal back.
//!
//! The terminal's output goes through a terminal emulator (`vt100`) so the test reads the
//! screen as a person would see it. It waits for screen changes, never for a fixed time.

mod terminal;

use std::num::NonZeroU16;

use gambi_test_support::{Cluster, DEFAULT_MODEL, ParticipantSpec};
use serde_json::json;
use terminal::Terminal;

const ROWS: NonZeroU16 = NonZeroU16::new(40).expect("non-zero");
const COLS: NonZeroU16 = NonZeroU16::new(140).expect("non-zero");

/// The screen's line holding `needle`.
fn line_with<'a>(screen: &'a str, needle: &str) -> Option<&'a str> {
    screen.lines().find(|line| line.contains(needle))
}

#[tokio::test]
async fn the_monitor_shows_a_request_made_in_its_room() {
    let mut cluster = Cluster::start().await;
    cluster
        .join(ParticipantSpec::new("alice", DEFAULT_MODEL))
        .await;
    let url = cluster.hub.url();
    let mut tui = Terminal::start(
        &["tui", "--hub", &url, "--room", &cluster.code],
        &[],
        ROWS,
        COLS,
    );

    let healthy = format!("hub {url} ● up");
    let screen = tui
        .wait_until(
            "the participant's card, a live stream and the hub's health",
            |screen| {
                screen.contains("alice (test)")
                    && screen.contains("live · 1 participants")
                    && screen.contains(&healthy)
                    && screen.contains("Test room")
            },
        )
        .await;
    assert!(screen.contains(&cluster.code), "{screen}");
    assert!(screen.contains("tunnel up"), "{screen}");

    let response = cluster
        .post("/responses", &json!({"model": "*", "input": "Hello!"}))
        .await;
    assert_eq!(response.status(), 200);

    let screen = tui
        .wait_until("the completed request in the log", |screen| {
            line_with(screen, " done ").is_some_and(|line| line.contains("alice (test)"))
        })
        .await;
    let row = line_with(&screen, " done ").expect("a done row");
    assert!(row.contains(DEFAULT_MODEL), "{row}");
    assert!(row.contains(" ms"), "timings: {row}");
    assert!(
        screen.contains("requests 1 · errors 0"),
        "totals:\n{screen}"
    );

    // Nothing runs inside this window: `q` quits without asking.
    tui.type_keys("q").await;
    let status = tui.exit().await;
    assert!(status.success(), "{status:?}");
    let screen = tui.emulator();
    assert!(
        !screen.screen().alternate_screen(),
        "the terminal is back on its main screen"
    );
    assert!(
        !screen.screen().hide_cursor(),
        "the cursor is visible again"
    );
}
