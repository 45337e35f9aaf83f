//! gambi-protocol
