//! gambi-participant
