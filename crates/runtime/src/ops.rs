//! Forward rules of the parameter-free ops on rank-4 values.
//!
//! Every value is held as a rank-4 tensor `[N, a, b, c]`: a per-sample shape of lower rank is
//! padded with trailing 1s (a flattened `[F]` is `[N, F, 1, 1]`), so one tensor type carries all.

use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions, PadMode};
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use shears_ir::{Op, PadMode as IrPad, Pool2d, Resize};

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
    // `remove`, not `swap_remove`: Concat needs its inputs in order.
    let x = inputs.remove(0);
    match op {
        Op::Relu => activation::relu(x),
        Op::Clip { min, max } => x.clamp(*min, *max),
        Op::LeakyRelu { alpha } => activation::leaky_relu(x, *alpha as f64),
        Op::Sigmoid => activation::sigmoid(x),
        Op::HardSigmoid { alpha, beta } => activation::hard_sigmoid(x, *alpha as f64, *beta as f64),
        Op::HardSwish => activation::hard_swish(x),
        Op::Silu => activation::silu(x),
        Op::Tanh => activation::tanh(x),
        Op::Erf => x.erf(),
        Op::Pow { exponent } => x.powf_scalar(*exponent as f64),
        Op::Sqrt => x.sqrt(),
        Op::ChannelMean => x.mean_dim(1),
        Op::Gelu { tanh: false } => activation::gelu(x),
        Op::Gelu { tanh: true } => activation::gelu_approximate(x),
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
        Op::Sub => x - inputs.swap_remove(0),
        Op::Div => x / inputs.swap_remove(0),
        Op::PermuteChannels { order } => {
            let indices: Vec<i64> = order.iter().map(|&c| c as i64).collect();
            let indices =
                Tensor::<1, Int>::from_data(TensorData::new(indices, [order.len()]), &x.device());
            x.select(1, indices)
        }
        Op::Slice { axis, start, end } => x.narrow(*axis, *start, end - start),
        Op::Pad { pads, mode } => {
            let mode = match *mode {
                IrPad::Constant(v) => PadMode::Constant(v),
                IrPad::Reflect => PadMode::Reflect,
                IrPad::Edge => PadMode::Edge,
            };
            x.pad(padding_pairs(pads), mode)
        }
        Op::Resize(r) => resize(x, r, out_shape),
        Op::Lrn {
            size,
            alpha,
            beta,
            bias,
        } => lrn(x, *size, *alpha, *beta, *bias),
        Op::Input { .. }
        | Op::Constant { .. }
        | Op::Conv2d(_)
        | Op::ConvTranspose2d(_)
        | Op::BatchNorm2d(_)
        | Op::LayerNorm(_)
        | Op::Linear(_) => {
            unreachable!("ops with weights or no inputs are applied by the network")
        }
    }
}

/// ONNX `Resize` as two products with the interpolation matrices: `[N·C·H, W] · A_wᵀ`, then
/// the same along H. Differentiable, and exactly the spec's weights.
fn resize(x: Tensor<4>, r: &Resize, out_shape: &[usize]) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    let (oh, ow) = (out_shape[1], out_shape[2]);
    let matrix = |axis: usize, len: usize, out: usize| {
        let m = Tensor::<1>::from_data(
            TensorData::new(r.matrix(axis, len, out), [out * len]),
            &x.device(),
        );
        m.reshape([out, len]).transpose()
    };
    let (a_h, a_w) = (matrix(0, h, oh), matrix(1, w, ow));
    let x = x.reshape([n * c * h, w]).matmul(a_w);
    let x = x
        .reshape([n * c, h, ow])
        .swap_dims(1, 2)
        .reshape([n * c * ow, h]);
    let x = x.matmul(a_h).reshape([n * c, ow, oh]).swap_dims(1, 2);
    x.reshape([n, c, oh, ow])
}

/// ONNX `LRN`: the window of channel `c` is `c - (size - 1) / 2 ..= c + size / 2` (clipped to the
/// channels), summed as shifted slices of the zero-padded squares.
fn lrn(x: Tensor<4>, size: usize, alpha: f32, beta: f32, bias: f32) -> Tensor<4> {
    let c = x.dims()[1];
    let (before, after) = ((size - 1) / 2, size / 2);
    let squares = x.clone().powf_scalar(2.0);
    let padded = squares.pad([(before, after), (0, 0), (0, 0)], PadMode::Constant(0.0));
    let sum = (1..size).fold(padded.clone().narrow(1, 0, c), |acc, k| {
        acc + padded.clone().narrow(1, k, c)
    });
    let scale = (sum * (alpha as f64 / size as f64) + bias as f64).powf_scalar(beta as f64);
    x / scale
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
