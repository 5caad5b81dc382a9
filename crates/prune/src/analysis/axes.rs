//! The channel axis of every value: how many channels it carries and how wide each one is.
//!
//! A feature map `[C, H, W]` has `C` channels of width 1 along axis 0. Flattening it keeps the
//! `C` channels but makes each `H * W` features wide, so a linear layer that reads the flat vector
//! still sees whole channels. Every other op either inherits its (first coupled) input's axis or
//! starts a fresh one of width 1, as its [`ChannelRule`] says. The invariant is `channels * per_channel == shape[0]`.

use shears_ir::{ChannelRule, Graph, Shape};

/// The channel axis (axis 0 of the per-sample shape) of one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Axis {
    /// Number of channels; 0 for a scalar value, which has no axis.
    pub channels: usize,
    /// Elements of axis 0 per channel.
    pub per_channel: usize,
    /// Index of the value's first channel in the flat channel numbering of the whole graph.
    pub base: usize,
}

/// The axis of every node's output, in node order, and the total number of channels.
pub(crate) fn channel_axes(graph: &Graph, shapes: &[&Shape]) -> (Vec<Axis>, usize) {
    let mut axes: Vec<Axis> = Vec::with_capacity(graph.nodes.len());
    let mut base = 0;
    for (v, node) in graph.nodes.iter().enumerate() {
        let fresh = (shapes[v].first().copied().unwrap_or(0), 1);
        let input = |k: usize| axes[node.inputs[k].node];
        let (channels, per_channel) = match node.op.channel_rule() {
            ChannelRule::Fresh
            | ChannelRule::Reduced
            | ChannelRule::Grouped { .. }
            | ChannelRule::Blocked(_) => fresh,
            ChannelRule::PassThrough | ChannelRule::Renormalized | ChannelRule::Permute(_) => {
                let x = input(0);
                (x.channels, x.per_channel)
            }
            ChannelRule::Flatten => {
                let x = input(0);
                let spatial: usize = shapes[node.inputs[0].node].iter().skip(1).product();
                (x.channels, x.per_channel * spatial)
            }
            ChannelRule::Slice { start, end } if input(0).per_channel == 1 => (end - start, 1),
            ChannelRule::Slice { .. } => fresh,
            ChannelRule::Concat => {
                let width = input(0).per_channel;
                if (0..node.inputs.len()).all(|k| input(k).per_channel == width) {
                    let channels = (0..node.inputs.len()).map(|k| input(k).channels).sum();
                    (channels, width)
                } else {
                    fresh
                }
            }
            ChannelRule::Broadcast => match channel_operand(shapes, &node.inputs, v) {
                Some(k) => {
                    let x = input(k);
                    (x.channels, x.per_channel)
                }
                None => fresh,
            },
        };
        axes.push(Axis {
            channels,
            per_channel,
            base,
        });
        base += channels;
    }
    (axes, base)
}

/// The first operand of a broadcasting op whose axis 0 lines up with the output's axis 0 at
/// full size (the operand the output's channels come from).
pub(crate) fn channel_operand(
    shapes: &[&Shape],
    inputs: &[shears_ir::OutletId],
    out: usize,
) -> Option<usize> {
    (0..inputs.len()).find(|&k| aligned_on_channels(shapes[inputs[k].node], shapes[out]))
}

/// Whether `operand` shares the channel axis of `out` under NumPy broadcasting: same rank and
/// the same size on axis 0.
pub(crate) fn aligned_on_channels(operand: &Shape, out: &Shape) -> bool {
    operand.len() == out.len() && !out.is_empty() && operand[0] == out[0]
}
