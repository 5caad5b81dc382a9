//! Each op's rules in one place: how many inputs it reads, how its output channels relate to
//! its inputs' channels, where its weights meet those channels, and what it costs.
//!
//! Channels are axis 0 of a per-sample shape (`C` of `[C, H, W]`). The dependency analysis,
//! surgery, masking, the weight-based criteria and counting in the other crates derive from the
//! answers here instead of matching on the op again, and every `match` below lists every op, so
//! a new op cannot be pruned by a default it never chose. Shape inference is in `shape`; the
//! cut itself (removing or zeroing channels of one op) in `cut`.

use crate::{Array, Op, Shape};

/// How many inputs an op reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    Exactly(usize),
    /// Any number of at least one (`Concat`).
    AtLeastOne,
}

/// How an op's output channels come from its inputs' channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelRule<'a> {
    /// New channels: each one mixes every input channel (a conv, a linear layer), or the op
    /// reads nothing (a graph input, a constant). Nothing ties the two sides.
    Fresh,
    /// Output channel `c` is channel `c` of input 0 (activations, BN, pooling, padding,
    /// resizing, a depthwise conv).
    PassThrough,
    /// Output channel `c` is channel `c` of input 0, each now `H * W` features wide (flatten).
    Flatten,
    /// Channel concat: input `k`'s channel `c` is output channel `offset_k + c`.
    Concat,
    /// Element-wise with NumPy broadcasting: every operand whose axis 0 lines up with the
    /// output's shares its channels; an operand broadcast along channels ties nothing.
    Broadcast,
    /// Output channel `i` is input channel `order[i]`.
    Permute(&'a [usize]),
    /// Output channel `i` is input channel `start + i`.
    Slice { start: usize, end: usize },
    /// New channels in `groups` equal blocks, block `g` computed from block `g` of the input
    /// (a grouped conv). Pruning must keep the blocks equal, so channel `j` of every block is
    /// tied to channel `j` of the first, on the input and on the output.
    Grouped { groups: usize },
    /// One output channel computed from all the input channels without weights (their mean):
    /// pruning the input is allowed, but the result is then over fewer channels, so the pruned
    /// network only approximates the masked one.
    Reduced,
    /// Output channel `c` is channel `c` of input 0, normalised by statistics over all the
    /// channels (a layer norm over channels): pruning is allowed, as Torch-Pruning does it, but
    /// the channels that stay are renormalised over fewer channels, so the pruned network only
    /// approximates the masked one.
    Renormalized,
    /// Pruning would change what the op computes for the channels that stay: its input and
    /// output keep every channel. The text completes "'NODE' ...".
    Blocked(&'static str),
}

/// Which channels an axis of a weight array indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Side {
    /// The op's output channels (for a pass-through op, also its input's).
    Out,
    /// The channels of input 0 the op reads.
    In,
}

/// What a weight array is to the channels it indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightRole {
    /// Filters or matrix rows/columns that compute the output from the input.
    Filter,
    /// An additive bias of the output channels.
    Bias,
    /// A per-channel scale (BN's gamma, LayerNorm's scale).
    Scale,
    /// A per-channel shift (BN's beta, LayerNorm's bias).
    Shift,
    /// Running statistics (BN's mean and variance): state, not parameters.
    Statistic,
    /// A constant operand of a broadcasting op.
    Operand,
}

impl WeightRole {
    /// Whether masking a channel zeroes this array's slice. Zero filters, biases, scales and
    /// shifts make a masked channel contribute exactly nothing (see the prune crate's surgery);
    /// statistics and operands keep their values.
    pub fn masked(self) -> bool {
        matches!(
            self,
            WeightRole::Filter | WeightRole::Bias | WeightRole::Scale | WeightRole::Shift
        )
    }
}

/// One axis of one weight array that runs along channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelWeight {
    /// Index into [`Op::arrays`].
    pub array: usize,
    /// The axis of that array.
    pub axis: usize,
    pub side: Side,
    pub role: WeightRole,
    /// The axis holds one block's channels of a grouped op: index `j` stands for channel `j`
    /// of every block.
    pub per_block: bool,
}

const fn weight(array: usize, axis: usize, side: Side, role: WeightRole) -> ChannelWeight {
    ChannelWeight {
        array,
        axis,
        side,
        role,
        per_block: false,
    }
}

impl Op {
    /// How many inputs the op reads.
    pub fn arity(&self) -> Arity {
        match self {
            Op::Input { .. } | Op::Constant { .. } => Arity::Exactly(0),
            Op::Add | Op::Mul | Op::Sub | Op::Div => Arity::Exactly(2),
            Op::Concat { .. } => Arity::AtLeastOne,
            Op::Conv2d(_)
            | Op::ConvTranspose2d(_)
            | Op::BatchNorm2d(_)
            | Op::LayerNorm(_)
            | Op::Linear(_)
            | Op::Relu
            | Op::Clip { .. }
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Silu
            | Op::Tanh
            | Op::Erf
            | Op::Pow { .. }
            | Op::Sqrt
            | Op::Gelu { .. }
            | Op::MaxPool2d(_)
            | Op::AvgPool2d(_)
            | Op::GlobalAvgPool
            | Op::Flatten { .. }
            | Op::PermuteChannels { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Resize(_)
            | Op::Lrn { .. }
            | Op::ChannelMean
            | Op::Dropout { .. }
            | Op::Identity
            | Op::Softmax { .. } => Arity::Exactly(1),
        }
    }

    /// How the op's output channels relate to its inputs' channels.
    pub fn channel_rule(&self) -> ChannelRule<'_> {
        match self {
            Op::Input { .. } | Op::Constant { .. } | Op::Linear(_) => ChannelRule::Fresh,
            Op::Conv2d(c) => conv_rule(c.groups, c.in_channels(), c.out_channels()),
            Op::ConvTranspose2d(c) => conv_rule(c.groups, c.in_channels(), c.out_channels()),
            Op::BatchNorm2d(_)
            | Op::Relu
            | Op::Clip { .. }
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Silu
            | Op::Tanh
            | Op::Erf
            | Op::Pow { .. }
            | Op::Sqrt
            | Op::Gelu { .. }
            | Op::MaxPool2d(_)
            | Op::AvgPool2d(_)
            | Op::GlobalAvgPool
            | Op::Pad { .. }
            | Op::Resize(_)
            | Op::Dropout { .. }
            | Op::Identity => ChannelRule::PassThrough,
            Op::LayerNorm(_) => ChannelRule::Renormalized,
            Op::ChannelMean => ChannelRule::Reduced,
            Op::Softmax { axis: 1 } => ChannelRule::Blocked("normalises over these channels"),
            Op::Softmax { .. } => ChannelRule::PassThrough,
            Op::Lrn { .. } => ChannelRule::Blocked(
                "normalises each channel by its neighbours, which pruning would change",
            ),
            Op::Flatten { .. } => ChannelRule::Flatten,
            Op::Concat { axis: 1 } => ChannelRule::Concat,
            // Concatenating along a spatial axis: every input carries the output's channels.
            Op::Concat { .. } => ChannelRule::Broadcast,
            Op::Add | Op::Mul | Op::Sub | Op::Div => ChannelRule::Broadcast,
            Op::PermuteChannels { order } => ChannelRule::Permute(order),
            Op::Slice {
                axis: 1,
                start,
                end,
            } => ChannelRule::Slice {
                start: *start,
                end: *end,
            },
            Op::Slice { .. } => ChannelRule::PassThrough,
        }
    }

    /// Every axis of the op's weight arrays that runs along channels.
    pub fn channel_weights(&self) -> Vec<ChannelWeight> {
        use {Side::*, WeightRole::*};
        match self {
            Op::Conv2d(c) => {
                let mut w = match self.channel_rule() {
                    ChannelRule::PassThrough => vec![weight(0, 0, Out, Filter)],
                    _ => vec![
                        weight(0, 0, Out, Filter),
                        ChannelWeight {
                            per_block: c.groups > 1,
                            ..weight(0, 1, In, Filter)
                        },
                    ],
                };
                w.extend(c.bias.as_ref().map(|_| weight(1, 0, Out, Bias)));
                w
            }
            // The weight is `[in, out / groups, ..]`: input channels on axis 0, one block's
            // output channels on axis 1 (a depthwise one's axis 0 is its only channel axis).
            Op::ConvTranspose2d(c) => {
                let mut w = match self.channel_rule() {
                    ChannelRule::PassThrough => vec![weight(0, 0, Out, Filter)],
                    _ => vec![
                        ChannelWeight {
                            per_block: c.groups > 1,
                            ..weight(0, 1, Out, Filter)
                        },
                        weight(0, 0, In, Filter),
                    ],
                };
                w.extend(c.bias.as_ref().map(|_| weight(1, 0, Out, Bias)));
                w
            }
            Op::Linear(l) => {
                let mut w = vec![weight(0, 0, Out, Filter), weight(0, 1, In, Filter)];
                w.extend(l.bias.as_ref().map(|_| weight(1, 0, Out, Bias)));
                w
            }
            Op::LayerNorm(_) => vec![weight(0, 0, Out, Scale), weight(1, 0, Out, Shift)],
            Op::BatchNorm2d(_) => vec![
                weight(0, 0, Out, Scale),
                weight(1, 0, Out, Shift),
                weight(2, 0, Out, Statistic),
                weight(3, 0, Out, Statistic),
            ],
            Op::Constant { value } if !value.shape.is_empty() => {
                vec![weight(0, 0, Out, Operand)]
            }
            Op::Constant { .. }
            | Op::Input { .. }
            | Op::Relu
            | Op::Clip { .. }
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Silu
            | Op::Tanh
            | Op::Erf
            | Op::Pow { .. }
            | Op::Sqrt
            | Op::Gelu { .. }
            | Op::MaxPool2d(_)
            | Op::AvgPool2d(_)
            | Op::GlobalAvgPool
            | Op::Flatten { .. }
            | Op::Add
            | Op::Mul
            | Op::Sub
            | Op::Div
            | Op::PermuteChannels { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Resize(_)
            | Op::Lrn { .. }
            | Op::ChannelMean
            | Op::Concat { .. }
            | Op::Dropout { .. }
            | Op::Identity
            | Op::Softmax { .. } => Vec::new(),
        }
    }

    /// The op's trainable and state arrays, in a fixed order ([`ChannelWeight::array`]
    /// indexes it).
    pub fn arrays(&self) -> Vec<&Array> {
        match self {
            Op::Conv2d(c) => std::iter::once(&c.weight).chain(c.bias.as_ref()).collect(),
            Op::ConvTranspose2d(c) => std::iter::once(&c.weight).chain(c.bias.as_ref()).collect(),
            Op::Linear(l) => std::iter::once(&l.weight).chain(l.bias.as_ref()).collect(),
            Op::BatchNorm2d(b) => vec![&b.gamma, &b.beta, &b.mean, &b.var],
            Op::LayerNorm(l) => vec![&l.scale, &l.bias],
            Op::Constant { value } => vec![value],
            op => {
                debug_assert!(op.channel_weights().is_empty());
                Vec::new()
            }
        }
    }

    /// [`Op::arrays`], mutable.
    pub fn arrays_mut(&mut self) -> Vec<&mut Array> {
        match self {
            Op::Conv2d(c) => std::iter::once(&mut c.weight)
                .chain(c.bias.as_mut())
                .collect(),
            Op::ConvTranspose2d(c) => std::iter::once(&mut c.weight)
                .chain(c.bias.as_mut())
                .collect(),
            Op::Linear(l) => std::iter::once(&mut l.weight)
                .chain(l.bias.as_mut())
                .collect(),
            Op::BatchNorm2d(b) => vec![&mut b.gamma, &mut b.beta, &mut b.mean, &mut b.var],
            Op::LayerNorm(l) => vec![&mut l.scale, &mut l.bias],
            Op::Constant { value } => vec![value],
            op => {
                debug_assert!(op.channel_weights().is_empty());
                Vec::new()
            }
        }
    }

    /// The arrays that are trained parameters, as PyTorch's `parameters()` lists them: BN
    /// running statistics are buffers and a constant operand is not trained.
    pub fn param_arrays(&self) -> Vec<&Array> {
        if let Op::Constant { .. } = self {
            return Vec::new();
        }
        let not_params: Vec<usize> = self
            .channel_weights()
            .iter()
            .filter(|w| w.role == WeightRole::Statistic)
            .map(|w| w.array)
            .collect();
        self.arrays()
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !not_params.contains(i))
            .map(|(_, a)| a)
            .collect()
    }

    /// Number of parameters, counted as PyTorch's `numel` over parameters does.
    pub fn param_count(&self) -> usize {
        self.param_arrays().iter().map(|a| a.len()).sum()
    }

    /// Multiply-accumulates for one sample reading `input` (its input 0, if any) and producing
    /// `out`, as thop and Torch-Pruning count them for CNNs: convolutions and linear layers;
    /// element-wise ops, normalisation and pooling count 0. A transposed conv counts what it
    /// computes: every input pixel times its kernels.
    pub fn macs(&self, input: Option<&Shape>, out: &Shape) -> u64 {
        let pixels =
            |s: Option<&Shape>| s.map_or(0, |s| s.iter().skip(1).product::<usize>()) as u64;
        match self {
            Op::Conv2d(c) => out.iter().product::<usize>() as u64 * c.weight.row_len() as u64,
            Op::ConvTranspose2d(c) => pixels(input) * c.weight.len() as u64,
            Op::Linear(l) => (l.in_features() * l.out_features()) as u64,
            Op::Input { .. }
            | Op::Constant { .. }
            | Op::BatchNorm2d(_)
            | Op::LayerNorm(_)
            | Op::Relu
            | Op::Clip { .. }
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Silu
            | Op::Tanh
            | Op::Erf
            | Op::Pow { .. }
            | Op::Sqrt
            | Op::Gelu { .. }
            | Op::MaxPool2d(_)
            | Op::AvgPool2d(_)
            | Op::GlobalAvgPool
            | Op::Flatten { .. }
            | Op::Add
            | Op::Mul
            | Op::Sub
            | Op::Div
            | Op::PermuteChannels { .. }
            | Op::Slice { .. }
            | Op::Pad { .. }
            | Op::Resize(_)
            | Op::Lrn { .. }
            | Op::ChannelMean
            | Op::Concat { .. }
            | Op::Dropout { .. }
            | Op::Identity
            | Op::Softmax { .. } => 0,
        }
    }
}

/// A plain conv (or transposed conv) mixes all channels; a depthwise one (`groups == in ==
/// out`) maps channel `c` to channel `c`; any other grouped one keeps its groups apart.
fn conv_rule(groups: usize, inputs: usize, outputs: usize) -> ChannelRule<'static> {
    if groups == 1 {
        ChannelRule::Fresh
    } else if groups == inputs && groups == outputs {
        ChannelRule::PassThrough
    } else {
        ChannelRule::Grouped { groups }
    }
}
