//! gambi-hub

pub mod scheduler;
