//! Integration tests of `shears-data`, one module per area.

mod cifar;
mod common;
mod folder;
mod fuzz;
mod idx;
mod loader;
mod real;
mod source;
mod transform;
