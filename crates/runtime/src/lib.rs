//! Runs and trains shears IR graphs on burn.
//!
//! [`Network`] compiles a [`shears_ir::Graph`] into burn tensors on a run-time chosen
//! [`Device`](burn::tensor::Device) (see [`device`]); it runs forward in eval or train mode,
//! captures chosen nodes' activations and gradients ([`Taps`]), and writes trained weights and
//! BN statistics back into the IR. On the default flex device, convolutions and training-mode
//! batch norm run on shears' own CPU kernels ([`kernels`]). [`train`] holds the training loop
//! with its optimisers, learning-rate schedules, evaluation and checkpoints.

pub mod bench;
pub mod device;
mod error;
mod fusion;
pub mod kernels;
pub mod memory;
mod network;
mod ops;
mod pipeline;
mod skeleton;
mod sparse;
pub mod train;

pub use device::DeviceKind;
pub use error::RuntimeError;
pub use network::{Mode, Network, Prefix, TapSpec, Taps, host_values};
pub use pipeline::Suffix;
