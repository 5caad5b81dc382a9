//! The operations a node can hold, with their weights and attributes.
//!
//! Feature maps are NCHW. Weight layouts follow PyTorch and ONNX so import and export copy
//! arrays unchanged.

use crate::{Array, Resize};
use serde::{Deserialize, Serialize};

/// A 2-D convolution (ONNX `Conv`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv2d {
    /// `[out_channels, in_channels / groups, kh, kw]`
    pub weight: Array,
    /// `[out_channels]`
    pub bias: Option<Array>,
    /// `[sh, sw]`
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]` (ONNX `pads` order).
    pub padding: [usize; 4],
    /// `[dh, dw]`
    pub dilation: [usize; 2],
    /// Number of groups; `groups == in_channels == out_channels` is a depthwise conv.
    pub groups: usize,
}

impl Conv2d {
    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.weight.shape[0]
    }
    /// Input channels (all groups).
    pub fn in_channels(&self) -> usize {
        self.weight.shape[1] * self.groups
    }
    /// `[kh, kw]`
    pub fn kernel(&self) -> [usize; 2] {
        [self.weight.shape[2], self.weight.shape[3]]
    }
}

/// A 2-D transposed convolution (ONNX `ConvTranspose`): each input pixel spreads a kernel over
/// the output, `stride` apart. The learned upsampling of U-Nets and segmentation decoders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvTranspose2d {
    /// `[in_channels, out_channels / groups, kh, kw]` (PyTorch's and ONNX's layout).
    pub weight: Array,
    /// `[out_channels]`
    pub bias: Option<Array>,
    /// `[sh, sw]`
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`, cropped from the full output.
    pub padding: [usize; 4],
    /// `[h, w]` added at the bottom and right of the output (less than the stride).
    pub output_padding: [usize; 2],
    /// `[dh, dw]`
    pub dilation: [usize; 2],
    pub groups: usize,
}

impl ConvTranspose2d {
    /// Output channels (all groups).
    pub fn out_channels(&self) -> usize {
        self.weight.shape[1] * self.groups
    }
    /// Input channels.
    pub fn in_channels(&self) -> usize {
        self.weight.shape[0]
    }
    /// `[kh, kw]`
    pub fn kernel(&self) -> [usize; 2] {
        [self.weight.shape[2], self.weight.shape[3]]
    }
}

/// Batch normalisation over the channel axis (ONNX `BatchNormalization`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchNorm2d {
    /// Scale, `[channels]`.
    pub gamma: Array,
    /// Shift, `[channels]`.
    pub beta: Array,
    /// Running mean, `[channels]`.
    pub mean: Array,
    /// Running (unbiased) variance, `[channels]`.
    pub var: Array,
    pub eps: f32,
    /// Weight of the new batch statistic in the running average (PyTorch convention: 0.1).
    pub momentum: f32,
}

impl BatchNorm2d {
    /// Channels normalised.
    pub fn channels(&self) -> usize {
        self.gamma.len()
    }
}

/// Layer normalisation over the channel axis (ConvNeXt's `LayerNorm`, ONNX
/// `LayerNormalization` over the channels): at each position the `C` channel values are
/// normalised to zero mean and unit variance (biased), then scaled and shifted per channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerNorm {
    /// `[C]`
    pub scale: Array,
    /// `[C]`
    pub bias: Array,
    pub eps: f32,
}

/// A fully connected layer, `y = x Wᵀ + b` (ONNX `Gemm` with `transB = 1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Linear {
    /// `[out_features, in_features]`
    pub weight: Array,
    /// `[out_features]`
    pub bias: Option<Array>,
}

impl Linear {
    pub fn out_features(&self) -> usize {
        self.weight.shape[0]
    }
    pub fn in_features(&self) -> usize {
        self.weight.shape[1]
    }
}

/// Attributes of a max or average pooling window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pool2d {
    /// `[kh, kw]`
    pub kernel: [usize; 2],
    /// `[sh, sw]`
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`
    pub padding: [usize; 4],
    /// `[dh, dw]` (max pooling only; 1 for average pooling).
    pub dilation: [usize; 2],
    pub ceil_mode: bool,
    /// Average pooling: whether padded zeros count in the denominator.
    pub count_include_pad: bool,
}

impl Pool2d {
    /// A window of `k`, stride `s` and symmetric padding `p`.
    pub fn square(k: usize, s: usize, p: usize) -> Self {
        Self {
            kernel: [k, k],
            stride: [s, s],
            padding: [p; 4],
            dilation: [1, 1],
            ceil_mode: false,
            count_include_pad: false,
        }
    }
}

/// How [`Op::Pad`] fills the border (ONNX `Pad`'s modes).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum PadMode {
    Constant(f32),
    /// Mirrors the map without repeating the edge.
    Reflect,
    /// Repeats the edge.
    Edge,
}

/// One operation of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// A graph input; `shape` excludes the (dynamic) batch axis, e.g. `[C, H, W]`.
    Input {
        shape: Vec<usize>,
    },
    Conv2d(Conv2d),
    ConvTranspose2d(ConvTranspose2d),
    BatchNorm2d(BatchNorm2d),
    LayerNorm(LayerNorm),
    Linear(Linear),
    Relu,
    /// `min(max(x, min), max)`; ReLU6 is `Clip { min: 0, max: 6 }`.
    Clip {
        min: f32,
        max: f32,
    },
    LeakyRelu {
        alpha: f32,
    },
    Sigmoid,
    /// `max(0, min(1, alpha * x + beta))`
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// `x * relu6(x + 3) / 6`
    HardSwish,
    /// `x * sigmoid(x)`
    Silu,
    Tanh,
    /// `x^exponent`, element-wise (ONNX `Pow` by a constant).
    Pow {
        exponent: f32,
    },
    /// The square root, element-wise.
    Sqrt,
    /// The mean over the channels at each position, `[C, H, W]` to `[1, H, W]` (ONNX
    /// `ReduceMean` over axis 1 keeping it): a layer norm over channels written out.
    ChannelMean,
    /// The Gauss error function, element-wise (the exact GELU is written with it).
    Erf,
    /// `x * Φ(x)` (ONNX `Gelu`, 20); `tanh` selects the tanh approximation.
    Gelu {
        tanh: bool,
    },
    MaxPool2d(Pool2d),
    AvgPool2d(Pool2d),
    /// Mean over the spatial axes, keeping them as 1x1 (ONNX `GlobalAveragePool`).
    GlobalAvgPool,
    /// Flattens every axis from `axis` on (counted with the batch axis, as ONNX does).
    Flatten {
        axis: usize,
    },
    /// Element-wise sum with NumPy broadcasting (residual joins add equal shapes).
    Add,
    /// Element-wise product with NumPy broadcasting, e.g. a feature map times a per-channel
    /// gate `[C, 1, 1]` (SE blocks).
    Mul,
    /// Element-wise difference `a - b` with NumPy broadcasting.
    Sub,
    /// Element-wise quotient `a / b` with NumPy broadcasting.
    Div,
    /// A constant operand of a broadcasting op (a Caffe2 scale layer's `[C, 1, 1]` factors, a
    /// MatMul's bias `[out]`): `value`'s shape is its per-sample shape, shared by every sample.
    Constant {
        value: Array,
    },
    /// Output channel `i` is input channel `order[i]` (a channel shuffle; ONNX `Gather` on
    /// axis 1).
    PermuteChannels {
        order: Vec<usize>,
    },
    /// Elements `start..end` along `axis` (counted with the batch axis; 1 is channels).
    Slice {
        axis: usize,
        start: usize,
        end: usize,
    },
    /// Padding of the spatial axes, `[top, left, bottom, right]` (ONNX `Pad`).
    Pad {
        pads: [usize; 4],
        mode: PadMode,
    },
    /// Resizing of the spatial axes (ONNX `Resize`; `Upsample` before opset 10).
    Resize(Resize),
    /// Local response normalisation across channels (ONNX `LRN`):
    /// `x / (bias + alpha / size * sum of x^2 over size neighbouring channels)^beta`.
    Lrn {
        size: usize,
        alpha: f32,
        beta: f32,
        bias: f32,
    },
    /// Concatenation along `axis` (counted with the batch axis; 1 is channels).
    Concat {
        axis: usize,
    },
    /// Identity at inference; drops with probability `ratio` in training.
    Dropout {
        ratio: f32,
    },
    Identity,
    /// Softmax along `axis` (counted with the batch axis).
    Softmax {
        axis: usize,
    },
}

impl Op {
    /// The op's name as ONNX spells it (the IR's name where ONNX has none).
    pub fn type_name(&self) -> &'static str {
        match self {
            Op::Input { .. } => "Input",
            Op::Conv2d(_) => "Conv",
            Op::ConvTranspose2d(_) => "ConvTranspose",
            Op::BatchNorm2d(_) => "BatchNormalization",
            Op::LayerNorm(_) => "LayerNormalization",
            Op::Linear(_) => "Gemm",
            Op::Relu => "Relu",
            Op::Clip { .. } => "Clip",
            Op::LeakyRelu { .. } => "LeakyRelu",
            Op::Sigmoid => "Sigmoid",
            Op::HardSigmoid { .. } => "HardSigmoid",
            Op::HardSwish => "HardSwish",
            Op::Silu => "Silu",
            Op::Tanh => "Tanh",
            Op::Erf => "Erf",
            Op::Pow { .. } => "Pow",
            Op::Sqrt => "Sqrt",
            Op::ChannelMean => "ReduceMean",
            Op::Gelu { .. } => "Gelu",
            Op::MaxPool2d(_) => "MaxPool",
            Op::AvgPool2d(_) => "AveragePool",
            Op::GlobalAvgPool => "GlobalAveragePool",
            Op::Flatten { .. } => "Flatten",
            Op::Add => "Add",
            Op::Mul => "Mul",
            Op::Sub => "Sub",
            Op::Div => "Div",
            Op::Constant { .. } => "Constant",
            Op::PermuteChannels { .. } => "Gather",
            Op::Slice { .. } => "Slice",
            Op::Pad { .. } => "Pad",
            Op::Resize(_) => "Resize",
            Op::Lrn { .. } => "LRN",
            Op::Concat { .. } => "Concat",
            Op::Dropout { .. } => "Dropout",
            Op::Identity => "Identity",
            Op::Softmax { .. } => "Softmax",
        }
    }
}
