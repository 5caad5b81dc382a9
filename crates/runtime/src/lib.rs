//! Runs and trains IR graphs.
