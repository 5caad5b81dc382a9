//! Data sets for shears.
