//! gambi-test-support
