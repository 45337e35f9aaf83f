//! gambi-hub
