//! Scheduling end to end: slots, leases, the fair wait queue, least-loaded routing,
//! failover and backpressure, through a real hub, the real participant runtime and fake
//! providers on loopback.
//!
//! Most tests run on the current-thread runtime, where a task runs until it yields: once a
//! test has seen a request's terminal event, the task that published it has also dropped
//! its lease, so slot counts can be checked at once. Time is paused only where a wait
//! matters, after the cluster is up; every assertion still holds if the paused clock jumps
//! ahead while sockets are busy (tokio advances it whenever the runtime is idle).
#![allow(clippy::unwrap_used)] // Tests fail loudly.

#[path = "scheduling/backpressure.rs"]
mod backpressure;
#[path = "scheduling/common.rs"]
mod common;
#[path = "scheduling/failover.rs"]
mod failover;
#[path = "scheduling/leases.rs"]
mod leases;
#[path = "scheduling/queue.rs"]
mod queue;
#[path = "scheduling/routing.rs"]
mod routing;
#[path = "scheduling/slots.rs"]
mod slots;
