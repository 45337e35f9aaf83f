//! What the tunnel has received for one request and its caller has not taken yet.
//!
//! The session actor pushes a request's events in as frames arrive; the request's caller
//! (a [`super::ResponseStream`]) takes them out. The buffer is bounded in body bytes, not in
//! events: when it is full the actor stops taking that request's bytes (the runtime's credit
//! runs out, or, with a runtime without flow control, the actor stops reading the tunnel),
//! and only a caller that takes nothing for the slow-client grace is cut off. Nothing here
//! waits: pushing never blocks, taking returns `Pending` and registers the caller's waker.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::event::{TunnelEvent, TunnelFailure};

/// Called once when the hub gives up on a request whose caller has not taken what it was
/// sent (cut off as a slow client, or its tunnel ended under it), so whoever holds its
/// resources can free them without waiting for the caller to read again.
pub(super) type AbandonHook = Box<dyn FnOnce(&TunnelFailure) + Send>;

/// Body bytes held for readers across every tunnel of a hub, and the most ever held.
#[derive(Debug, Default)]
pub struct BufferGauge {
    held: AtomicUsize,
    peak: AtomicUsize,
}

impl BufferGauge {
    /// Body bytes held for readers right now.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }

    /// The most body bytes ever held at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    fn add(&self, bytes: usize) {
        let held = self.held.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.peak.fetch_max(held, Ordering::Relaxed);
    }

    fn sub(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// The shared buffer of one request.
pub(crate) struct Inbound {
    state: Mutex<State>,
    gauge: Arc<BufferGauge>,
    /// Most body bytes held before the buffer counts as full.
    limit: usize,
    /// Credit is granted back once this many bytes were taken; `None` without flow control.
    grant_every: Option<u64>,
    /// Wakes the actor when a full buffer it waits on has room again, or its caller left.
    room: Notify,
}

struct State {
    events: VecDeque<TunnelEvent>,
    /// Body bytes in `events`.
    buffered: usize,
    /// Since when events have waited for the caller without it taking any.
    waiting_since: Option<Instant>,
    /// Body bytes taken and not granted back yet.
    ungranted: u64,
    /// The last event (`End` or `Error`) has been pushed.
    ended: bool,
    /// When the response head (`Start`) arrived.
    head_at: Option<Instant>,
    /// When the complete response's `End` arrived: the last byte the hub received.
    end_at: Option<Instant>,
    /// The caller dropped its stream.
    caller_gone: bool,
    /// The actor waits for room in this buffer.
    actor_waiting: bool,
    waker: Option<Waker>,
    abandon: Option<AbandonHook>,
}

/// What became of a pushed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Taken in; the buffer has room for more.
    Room,
    /// Taken in; the buffer is full.
    Full,
    /// The caller is gone; the event was dropped.
    CallerGone,
}

/// One event taken by the caller, with the credit to grant back, if it is time.
#[derive(Debug)]
pub(crate) struct Taken {
    /// The event.
    pub(crate) event: TunnelEvent,
    /// Bytes to grant the runtime, when flow control is on and enough were taken.
    pub(crate) grant: Option<u64>,
}

impl Inbound {
    /// An empty buffer holding at most `limit` body bytes; with `window`, credit is granted
    /// back in steps of a quarter of it.
    pub(crate) fn new(limit: usize, window: Option<u32>, gauge: Arc<BufferGauge>) -> Self {
        Self {
            gauge,
            state: Mutex::new(State {
                events: VecDeque::new(),
                buffered: 0,
                waiting_since: None,
                ungranted: 0,
                ended: false,
                head_at: None,
                end_at: None,
                caller_gone: false,
                actor_waiting: false,
                waker: None,
                abandon: None,
            }),
            limit: limit.max(1),
            grant_every: window.map(|window| (u64::from(window) / 4).max(1)),
            room: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent before it can panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends `event`, received at `now`, and wakes the caller.
    pub(crate) fn push(&self, event: TunnelEvent, now: Instant) -> Pushed {
        let mut state = self.lock();
        if state.caller_gone {
            return Pushed::CallerGone;
        }
        if state.ended {
            // Nothing follows the last event; a runtime that sends more is ignored.
            return Pushed::Room;
        }
        if let TunnelEvent::Chunk(bytes) = &event {
            state.buffered += bytes.len();
            self.gauge.add(bytes.len());
        }
        match &event {
            TunnelEvent::Start { .. } => state.head_at = state.head_at.or(Some(now)),
            TunnelEvent::End => state.end_at = Some(now),
            TunnelEvent::Chunk(_) | TunnelEvent::Error(_) => {}
        }
        state.ended = matches!(event, TunnelEvent::End | TunnelEvent::Error(_));
        if state.events.is_empty() {
            state.waiting_since = Some(now);
        }
        state.events.push_back(event);
        let full = state.buffered >= self.limit;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        if full { Pushed::Full } else { Pushed::Room }
    }

    /// Ends the request with `failure` unless it has ended already. With `discard`, what the
    /// caller has not taken is dropped first (a cut-off client will not read it).
    pub(crate) fn fail(&self, failure: TunnelFailure, discard: bool) {
        let mut state = self.lock();
        if discard {
            state.events.clear();
            self.gauge.sub(std::mem::take(&mut state.buffered));
        }
        if !state.ended {
            state.ended = true;
            state.events.push_back(TunnelEvent::Error(failure));
            state.waiting_since.get_or_insert_with(Instant::now);
        }
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        drop(state);
        self.room.notify_one();
    }

    /// Takes the next event, or registers the caller's waker.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>) -> Poll<Taken> {
        let mut state = self.lock();
        let Some(event) = state.events.pop_front() else {
            if state
                .waker
                .as_ref()
                .is_none_or(|w| !w.will_wake(cx.waker()))
            {
                state.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        state.waiting_since = if state.events.is_empty() {
            None
        } else {
            Some(Instant::now())
        };
        let mut grant = None;
        if let TunnelEvent::Chunk(bytes) = &event {
            let was_full = state.buffered >= self.limit;
            state.buffered -= bytes.len();
            self.gauge.sub(bytes.len());
            if let Some(every) = self.grant_every {
                state.ungranted += bytes.len() as u64;
                if state.ungranted >= every {
                    grant = Some(std::mem::take(&mut state.ungranted));
                }
            }
            if was_full && state.buffered < self.limit && state.actor_waiting {
                state.actor_waiting = false;
                drop(state);
                self.room.notify_one();
            }
        }
        Poll::Ready(Taken { event, grant })
    }

    /// The caller dropped its stream: nothing it was sent matters any more.
    pub(crate) fn caller_gone(&self) {
        let mut state = self.lock();
        state.caller_gone = true;
        state.events.clear();
        self.gauge.sub(std::mem::take(&mut state.buffered));
        state.abandon = None;
        drop(state);
        self.room.notify_one();
    }

    /// When the response head and the end of the complete response arrived, as far as
    /// they have.
    pub(crate) fn received_at(&self) -> (Option<Instant>, Option<Instant>) {
        let state = self.lock();
        (state.head_at, state.end_at)
    }

    /// Whether the caller dropped its stream.
    pub(crate) fn is_caller_gone(&self) -> bool {
        self.lock().caller_gone
    }

    /// Whether everything pushed has been taken.
    pub(crate) fn is_drained(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// How long events have waited for a caller that takes none, as of `now`.
    pub(crate) fn stalled_for(&self, now: Instant) -> Duration {
        self.lock()
            .waiting_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }

    /// Registers what to do if the hub gives up on the caller (see [`AbandonHook`]).
    pub(crate) fn set_abandon_hook(&self, hook: AbandonHook) {
        self.lock().abandon = Some(hook);
    }

    /// Forgets the abandon hook: the caller has ended the request itself.
    pub(crate) fn clear_abandon_hook(&self) {
        self.lock().abandon = None;
    }

    /// Runs the abandon hook, if one is still set.
    pub(crate) fn abandon(&self, failure: &TunnelFailure) {
        let hook = self.lock().abandon.take();
        if let Some(hook) = hook {
            hook(failure);
        }
    }

    /// Resolves once the buffer has room again or the caller is gone. Cancel safe.
    pub(crate) async fn room(&self) {
        loop {
            let notified = self.room.notified();
            {
                let mut state = self.lock();
                if state.buffered < self.limit || state.caller_gone || state.events.is_empty() {
                    state.actor_waiting = false;
                    return;
                }
                state.actor_waiting = true;
            }
            notified.await;
        }
    }
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Inbound")
            .field("events", &state.events.len())
            .field("buffered", &state.buffered)
            .field("limit", &self.limit)
            .field("ended", &state.ended)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use bytes::Bytes;

    use super::*;

    fn take(inbound: &Inbound) -> Option<Taken> {
        let mut cx = Context::from_waker(Waker::noop());
        match inbound.poll_take(&mut cx) {
            Poll::Ready(taken) => Some(taken),
            Poll::Pending => None,
        }
    }

    fn chunk(n: usize) -> TunnelEvent {
        TunnelEvent::Chunk(Bytes::from(vec![b'x'; n]))
    }

    #[tokio::test(start_paused = true)]
    async fn bounded_in_bytes_and_granted_back_by_quarters() {
        let gauge = Arc::new(BufferGauge::default());
        let inbound = Inbound::new(100, Some(80), gauge.clone());
        let now = Instant::now();
        assert_eq!(inbound.push(chunk(60), now), Pushed::Room);
        assert_eq!(inbound.push(chunk(40), now), Pushed::Full);
        let first = take(&inbound).expect("an event");
        assert_eq!(first.grant, Some(60), "60 bytes >= a quarter of 80");
        assert_eq!((gauge.held(), gauge.peak()), (40, 100));
        let second = take(&inbound).expect("an event");
        assert_eq!(second.grant, Some(40));
        assert_eq!((gauge.held(), gauge.peak()), (0, 100));
        assert!(take(&inbound).is_none());
        assert!(inbound.is_drained());
    }

    #[tokio::test(start_paused = true)]
    async fn the_arrival_of_the_head_and_of_the_end_is_kept() {
        let inbound = Inbound::new(1024, None, Arc::default());
        let start = Instant::now();
        assert_eq!(inbound.received_at(), (None, None));
        let head = TunnelEvent::Start {
            status: 200,
            headers: std::collections::BTreeMap::new(),
            timing: None,
        };
        inbound.push(head.clone(), start);
        inbound.push(head, start + Duration::from_secs(1));
        inbound.push(chunk(1), start + Duration::from_secs(2));
        assert_eq!(inbound.received_at(), (Some(start), None), "the first head");
        inbound.push(TunnelEvent::End, start + Duration::from_secs(3));
        assert_eq!(
            inbound.received_at(),
            (Some(start), Some(start + Duration::from_secs(3)))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_stall_clock_runs_only_while_events_wait() {
        let inbound = Inbound::new(1024, None, Arc::default());
        assert_eq!(inbound.stalled_for(Instant::now()), Duration::ZERO);
        inbound.push(chunk(1), Instant::now());
        inbound.push(chunk(1), Instant::now());
        tokio::time::advance(Duration::from_secs(3)).await;
        assert_eq!(inbound.stalled_for(Instant::now()), Duration::from_secs(3));
        let taken = take(&inbound).expect("an event");
        assert_eq!(taken.grant, None, "no flow control, no credit");
        assert_eq!(inbound.stalled_for(Instant::now()), Duration::ZERO);
        take(&inbound).expect("an event");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(
            inbound.stalled_for(Instant::now()),
            Duration::ZERO,
            "a caller waiting for more is not stalled"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_actor_waits_for_room_until_the_caller_takes_or_leaves() {
        let inbound = std::sync::Arc::new(Inbound::new(10, None, Arc::default()));
        inbound.push(chunk(10), Instant::now());
        let waiting = {
            let inbound = inbound.clone();
            tokio::spawn(async move { inbound.room().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        take(&inbound).expect("an event");
        waiting.await.expect("room");

        inbound.push(chunk(10), Instant::now());
        let waiting = {
            let inbound = inbound.clone();
            tokio::spawn(async move { inbound.room().await })
        };
        tokio::task::yield_now().await;
        inbound.caller_gone();
        waiting.await.expect("the caller left");
        assert_eq!(inbound.push(chunk(1), Instant::now()), Pushed::CallerGone);
    }

    #[tokio::test(start_paused = true)]
    async fn failing_ends_once_and_may_discard_what_was_not_taken() {
        let inbound = Inbound::new(100, None, Arc::default());
        inbound.push(chunk(5), Instant::now());
        inbound.fail(TunnelFailure::Disconnected, false);
        inbound.fail(TunnelFailure::Shutdown, false);
        assert!(matches!(
            take(&inbound).map(|t| t.event),
            Some(TunnelEvent::Chunk(_))
        ));
        assert!(matches!(
            take(&inbound).map(|t| t.event),
            Some(TunnelEvent::Error(TunnelFailure::Disconnected))
        ));
        assert!(take(&inbound).is_none());

        let cut = Inbound::new(100, None, Arc::default());
        cut.push(chunk(5), Instant::now());
        let abandoned = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = abandoned.clone();
        cut.set_abandon_hook(Box::new(move |_| {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
        }));
        cut.fail(TunnelFailure::SlowClient, true);
        cut.abandon(&TunnelFailure::SlowClient);
        assert!(abandoned.load(std::sync::atomic::Ordering::Relaxed));
        assert!(matches!(
            take(&cut).map(|t| t.event),
            Some(TunnelEvent::Error(TunnelFailure::SlowClient))
        ));
    }
}
