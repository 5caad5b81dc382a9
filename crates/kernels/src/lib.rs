//! CPU kernels for the layers CNN training spends its time in (convolution, batch norm, the
//! residual add and ReLU), on plain NCHW `f32` slices.
//!
//! Convolutions with kernels larger than 1x1 run on a padded copy of the input (`wide`,
//! split into phase planes for a stride above 1), with the direct AVX-512 kernel (`direct`)
//! or, on other CPUs, GEMM over the wide patch matrix (the `gemm` crate); 1x1 convolutions
//! are GEMMs. One image per task across rayon's threads. The stride-1 input gradient is a
//! forward convolution by the flipped weight, other input gradients GEMM + col2im; the weight
//! gradient is the direct kernel over several images on large stride-1 maps, else a GEMM
//! against the patches of two images at a time, accumulated per thread. Outputs are written
//! without a zero fill (`buffer`). For inference, `sparse` multiplies by non-zero weights only
//! (direct sparse convolution, compressed-row matrix products), and `pipeline` runs a whole
//! network one image at a time on zero-framed activations (`frame`). Nothing here knows about
//! burn: the runtime wraps these functions as a backend extension.

mod activation;
mod add;
mod batch_norm;
mod buffer;
mod conv;
mod direct;
mod frame;
mod matmul;
mod patches;
mod pipeline;
mod reduce;
mod sparse;
mod wide;

pub use activation::{Activation, relu_gradient};
pub use add::add;
pub use batch_norm::{BatchNorm, BatchNormGrads};
pub use conv::Conv2d;
pub use pipeline::{Node, Pipeline, Prepared, Rows};
pub use sparse::{SparseConv2d, SparseLinear};
