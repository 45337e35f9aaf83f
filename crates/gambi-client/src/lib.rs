//! gambi-client
