//! gambi-hub

pub mod adapter;
