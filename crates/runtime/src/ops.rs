//! Forward rules of the parameter-free ops on rank-4 values.
//!
//! Every value is held as a rank-4 tensor `[N, a, b, c]`: a per-sample shape of lower rank is
//! padded with trailing 1s (a flattened `[F]` is `[N, F, 1, 1]`), so one tensor type carries all.

use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};
use burn::tensor::{Distribution, Tensor};
use shears_ir::{Op, Pool2d};

/// The rank-4 layout `[N, ...]` of a per-sample shape.
pub fn padded(batch: usize, shape: &[usize]) -> [usize; 4] {
    let mut dims = [batch, 1, 1, 1];
    dims[1..=shape.len()].copy_from_slice(shape);
    dims
}

/// Reshapes an operand of a broadcasting op so that NumPy's right alignment of per-sample
/// shapes holds in the rank-4 layout (`[W]` against `[C, H, W]` becomes `[N, 1, 1, W]`).
pub fn align_for_broadcast(x: Tensor<4>, shape: &[usize], rank: usize) -> Tensor<4> {
    if shape.len() == rank {
        return x;
    }
    let mut aligned = vec![1; rank - shape.len()];
    aligned.extend_from_slice(shape);
    let batch = x.dims()[0];
    x.reshape(padded(batch, &aligned))
}

/// Applies a parameter-free op to its inputs. `train` switches dropout on.
pub fn apply(op: &Op, mut inputs: Vec<Tensor<4>>, out_shape: &[usize], train: bool) -> Tensor<4> {
    let x = inputs.swap_remove(0);
    match op {
        Op::Relu => activation::relu(x),
        Op::Clip { min, max } => x.clamp(*min, *max),
        Op::LeakyRelu { alpha } => activation::leaky_relu(x, *alpha as f64),
        Op::Sigmoid => activation::sigmoid(x),
        Op::HardSigmoid { alpha, beta } => activation::hard_sigmoid(x, *alpha as f64, *beta as f64),
        Op::HardSwish => activation::hard_swish(x),
        Op::Silu => activation::silu(x),
        Op::Tanh => activation::tanh(x),
        Op::MaxPool2d(p) => max_pool2d(x, max_pool_options(p)),
        Op::AvgPool2d(p) => avg_pool2d(x, avg_pool_options(p)),
        Op::GlobalAvgPool => x.mean_dim(2).mean_dim(3),
        Op::Flatten { .. } | Op::Identity => {
            let batch = x.dims()[0];
            x.reshape(padded(batch, out_shape))
        }
        Op::Dropout { ratio } if train && *ratio > 0.0 => {
            let keep = 1.0 - *ratio as f64;
            let mask = Tensor::random(x.dims(), Distribution::Bernoulli(keep), &x.device());
            x * mask / keep
        }
        Op::Dropout { .. } => x,
        Op::Softmax { axis } => activation::softmax(x, *axis),
        Op::Concat { axis } => {
            inputs.insert(0, x);
            Tensor::cat(inputs, *axis)
        }
        Op::Add => x + inputs.swap_remove(0),
        Op::Mul => x * inputs.swap_remove(0),
        Op::Input { .. } | Op::Conv2d(_) | Op::BatchNorm2d(_) | Op::Linear(_) => {
            unreachable!("ops with weights are applied by the network")
        }
    }
}

/// `[(top, bottom), (left, right)]` burn padding from the IR's `[top, left, bottom, right]`.
pub fn padding_pairs(p: &[usize; 4]) -> [(usize, usize); 2] {
    [(p[0], p[2]), (p[1], p[3])]
}

fn max_pool_options(p: &Pool2d) -> MaxPoolOptions<2> {
    MaxPoolOptions::new(p.kernel)
        .with_stride(p.stride)
        .with_padding_pairs(padding_pairs(&p.padding))
        .with_dilation(p.dilation)
        .with_ceil_mode(p.ceil_mode)
}

fn avg_pool_options(p: &Pool2d) -> AvgPoolOptions<2> {
    AvgPoolOptions::new(p.kernel)
        .with_stride(p.stride)
        .with_padding_pairs(padding_pairs(&p.padding))
        .with_count_include_pad(p.count_include_pad)
        .with_ceil_mode(p.ceil_mode)
}
