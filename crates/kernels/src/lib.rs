//! CPU kernels for the layers CNN training spends its time in (convolution, batch norm), on
//! plain NCHW `f32` slices.
//!
//! Convolution runs as im2col + GEMM (the `gemm` crate, AVX-512 where the CPU has it), one
//! image per task across rayon's threads. Stride-1 convolutions take their patches from a
//! padded copy of the input (`wide`); the stride-1 input gradient is a forward convolution by
//! the flipped weight, other input gradients GEMM + col2im; the weight gradient is a GEMM
//! against the patches of two images at a time, accumulated per thread. For inference,
//! `sparse` multiplies by non-zero weights only (direct sparse convolution, compressed-row
//! matrix products). Nothing here knows about burn: the runtime wraps these functions as a backend extension.

mod activation;
mod add;
mod batch_norm;
mod buffer;
mod conv;
mod direct;
mod matmul;
mod patches;
mod sparse;
mod wide;

pub use activation::{Activation, relu_gradient};
pub use add::add;
pub use batch_norm::{BatchNorm, BatchNormGrads};
pub use conv::Conv2d;
pub use sparse::{SparseConv2d, SparseLinear};
