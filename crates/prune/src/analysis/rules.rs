//! Per-op channel rules: which channels of an op's inputs and output are the same channels.
//!
//! Torch-Pruning's two rules, in the IR's terms:
//!
//! - **Between layers**: a value's channels are the input channels of every op reading it. That
//!   needs no rule here: a group is found from the values it spans, and every reader of a value
//!   becomes a member (see `groups`).
//! - **Within a layer**: an op that keeps channel `c` as channel `c` *ties* its input and output
//!   channels. BN, activations, dropout, identity, pooling, global average pooling, flatten (whole
//!   channels of `H * W` features) and depthwise convs tie them. A residual `Add` ties every
//!   operand that carries the output's channels; an SE `Mul` ties the feature map to its
//!   `[C, 1, 1]` gate, while an operand broadcast along channels (`[1, H, W]`) ties nothing.
//!   `Concat` on channels ties input `k`'s channel `c` to output channel `offset_k + c`.
//!   Convs, linear layers and other channel-mixing ops tie nothing: their outputs are fresh.
//!
//! Some values must keep every channel; they are *blocked* with the reason: graph inputs and
//! outputs, a softmax over channels, an
//! operand broadcast against a spatial axis, a concat of values laid out differently, an LRN
//! (it mixes neighbouring channels).

use super::axes::{Axis, aligned_on_channels};
use super::union_find::UnionFind;
use shears_ir::{Conv2d, Graph, Op, Shape};

/// Ties between channels, and the values that must keep all theirs.
pub(crate) struct Coupling {
    pub uf: UnionFind,
    /// Per value (node): why its channels must not be pruned.
    pub blocked: Vec<Option<String>>,
}

impl Coupling {
    fn tie(&mut self, a: Axis, a_offset: usize, b: Axis, b_offset: usize, n: usize) {
        for i in 0..n {
            self.uf.union(a.base + a_offset + i, b.base + b_offset + i);
        }
    }

    fn block(&mut self, value: usize, reason: impl FnOnce() -> String) {
        if self.blocked[value].is_none() {
            self.blocked[value] = Some(reason());
        }
    }
}

/// A depthwise conv maps input channel `c` to output channel `c` alone.
pub(crate) fn is_depthwise(conv: &Conv2d) -> bool {
    conv.groups > 1 && conv.groups == conv.in_channels() && conv.groups == conv.out_channels()
}

/// Applies every node's rule and blocks the graph's inputs and outputs.
pub(crate) fn couple(graph: &Graph, shapes: &[&Shape], axes: &[Axis], total: usize) -> Coupling {
    let mut c = Coupling {
        uf: UnionFind::new(total),
        blocked: vec![None; graph.nodes.len()],
    };
    for (v, node) in graph.nodes.iter().enumerate() {
        let name = node.name.as_str();
        let out = axes[v];
        let x = node.inputs.first().map(|o| o.node);
        // Ties the whole channel axis of the first input to the output's.
        let pass = |c: &mut Coupling| {
            let x = axes[x.unwrap()];
            c.tie(x, 0, out, 0, out.channels);
        };
        match &node.op {
            Op::Input { .. } => c.block(v, || format!("'{name}' is a graph input")),
            Op::Conv2d(conv) if conv.groups == 1 => {}
            Op::Conv2d(conv) if is_depthwise(conv) => pass(&mut c),
            Op::Conv2d(conv) => {
                grouped_conv(&mut c, conv.groups, axes[x.unwrap()]);
                grouped_conv(&mut c, conv.groups, out);
            }
            Op::Linear(_) => {}
            Op::BatchNorm2d(_) => {
                if axes[x.unwrap()].per_channel > 1 {
                    c.block(v, || {
                        format!("batch norm '{name}' normalises flattened features one by one")
                    });
                }
                pass(&mut c);
            }
            Op::Softmax { axis: 1 } => {
                let why = || format!("softmax '{name}' normalises over these channels");
                c.block(x.unwrap(), why);
                c.block(v, why);
            }
            Op::Relu
            | Op::Clip { .. }
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Silu
            | Op::Tanh
            | Op::Dropout { .. }
            | Op::Identity
            | Op::Softmax { .. }
            | Op::MaxPool2d(_)
            | Op::AvgPool2d(_)
            | Op::GlobalAvgPool
            | Op::Flatten { .. }
            | Op::Pad { .. } => pass(&mut c),
            Op::Slice { axis: 1, start, .. } => {
                let x = axes[x.unwrap()];
                if x.per_channel == 1 {
                    c.tie(x, *start, out, 0, out.channels);
                } else {
                    let why = || format!("slice '{name}' cuts through flattened channels");
                    c.block(node.inputs[0].node, why);
                    c.block(v, why);
                }
            }
            Op::Slice { .. } => pass(&mut c),
            Op::PermuteChannels { order } => {
                let x = axes[x.unwrap()];
                if x.per_channel == 1 {
                    for (i, &from) in order.iter().enumerate() {
                        c.tie(x, from, out, i, 1);
                    }
                } else {
                    let why = || format!("'{name}' permutes flattened features");
                    c.block(node.inputs[0].node, why);
                    c.block(v, why);
                }
            }
            Op::Lrn { .. } => {
                let why = || {
                    format!(
                        "LRN '{name}' normalises each channel by its neighbours, which pruning would change"
                    )
                };
                c.block(x.unwrap(), why);
                c.block(v, why);
            }
            Op::Constant { .. } => {}
            Op::Concat { axis } => concat(&mut c, graph, axes, v, *axis),
            Op::Add | Op::Mul | Op::Sub | Op::Div => broadcast(&mut c, graph, shapes, axes, v),
        }
    }
    for out in &graph.outputs {
        let name = &graph.nodes[out.node].name;
        c.block(out.node, || format!("it reaches the graph output '{name}'"));
    }
    c
}

/// A grouped conv keeps `groups` groups of equal size on both sides, and reads channel `j` of
/// every input group through the same weight slice (axis 1 index `j`). Like Torch-Pruning, it
/// ties channel `j` of each group to channel `j` of the first, on its input and its output:
/// pruning removes the same channel from every group, so the groups stay equal.
fn grouped_conv(c: &mut Coupling, groups: usize, axis: Axis) {
    let per_group = axis.channels / groups;
    for g in 1..groups {
        c.tie(axis, g * per_group, axis, 0, per_group);
    }
}

/// `Concat` on channels places input `k` at `offset_k`; on another axis every input carries the
/// output's channels.
fn concat(c: &mut Coupling, graph: &Graph, axes: &[Axis], v: usize, axis: usize) {
    let node = &graph.nodes[v];
    let out = axes[v];
    let ins: Vec<usize> = node.inputs.iter().map(|o| o.node).collect();
    let same_layout = if axis == 1 {
        ins.iter().all(|&k| axes[k].per_channel == out.per_channel)
            && ins.iter().map(|&k| axes[k].channels).sum::<usize>() == out.channels
    } else {
        ins.iter()
            .all(|&k| axes[k].per_channel == out.per_channel && axes[k].channels == out.channels)
    };
    if !same_layout {
        let why = || {
            format!(
                "concat '{}' joins values whose channels are laid out differently",
                node.name
            )
        };
        c.block(v, why);
        for k in ins {
            c.block(k, why);
        }
        return;
    }
    let mut offset = 0;
    for k in ins {
        let x = axes[k];
        c.tie(x, 0, out, offset, x.channels);
        if axis == 1 {
            offset += x.channels;
        }
    }
}

/// `Add` / `Mul`: an operand with the output's channel axis shares its channels; one of size 1
/// there is broadcast and ties nothing; one of lower rank whose axis 0 lines up with a spatial
/// axis of the output cannot lose channels.
fn broadcast(c: &mut Coupling, graph: &Graph, shapes: &[&Shape], axes: &[Axis], v: usize) {
    let node = &graph.nodes[v];
    let out = axes[v];
    for outlet in &node.inputs {
        let k = outlet.node;
        let (shape, x) = (shapes[k], axes[k]);
        if aligned_on_channels(shape, shapes[v]) {
            if x.per_channel == out.per_channel && x.channels == out.channels {
                c.tie(x, 0, out, 0, out.channels);
            } else {
                let why = || {
                    format!(
                        "'{}' combines values whose channels are laid out differently",
                        node.name
                    )
                };
                c.block(k, why);
                c.block(v, why);
            }
        } else if shape.len() < shapes[v].len() && shape.first().is_some_and(|&n| n > 1) {
            let axis = shapes[v].len() - shape.len();
            c.block(k, || {
                format!(
                    "'{}' broadcasts these channels against axis {axis} of its output",
                    node.name
                )
            });
        }
    }
}
