//! CPU kernels for the layers CNN training spends its time in (convolution, batch norm), on
//! plain NCHW `f32` slices.
//!
//! Convolution runs as im2col + GEMM (the `gemm` crate, AVX-512 where the CPU has it), one
//! image per task across rayon's threads; the input gradient is GEMM + col2im and the weight
//! gradient a GEMM against the same patches, accumulated per thread. Nothing here knows about
//! burn: the runtime wraps these functions as a backend extension.

mod batch_norm;
mod conv;
mod matmul;
mod patches;
mod wide;

pub use batch_norm::{BatchNorm, BatchNormGrads};
pub use conv::Conv2d;
