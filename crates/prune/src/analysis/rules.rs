//! Ties between channels: which channels of an op's inputs and output are the same channels,
//! applied from each op's [`ChannelRule`] (stated once per op in `shears_ir`).
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
//! outputs, the two sides of an op whose rule is `Blocked` (a softmax over channels, an LRN), an
//! operand broadcast against a spatial axis, a concat of values laid out differently, an op with
//! one weight per channel, a slice or a permutation that meets flattened features.

use super::axes::{Axis, aligned_on_channels};
use super::union_find::UnionFind;
use shears_ir::{ChannelRule, Graph, Shape};

/// Ties between channels, and the values that must keep all theirs.
pub(crate) struct Coupling {
    pub uf: UnionFind,
    /// Per value (node): why its channels must not be pruned.
    pub blocked: Vec<Option<String>>,
    /// Per value (node): why pruning its channels only approximates masking them.
    pub approximate: Vec<Option<String>>,
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

/// Applies every node's channel rule and blocks the graph's inputs and outputs.
pub(crate) fn couple(graph: &Graph, shapes: &[&Shape], axes: &[Axis], total: usize) -> Coupling {
    let mut c = Coupling {
        uf: UnionFind::new(total),
        blocked: vec![None; graph.nodes.len()],
        approximate: vec![None; graph.nodes.len()],
    };
    for (v, node) in graph.nodes.iter().enumerate() {
        let name = node.name.as_str();
        let out = axes[v];
        let x = node.inputs.first().map(|o| o.node);
        // Blocks both sides when input 0 is flattened features the rule cannot follow.
        let flat = |c: &mut Coupling, why: &dyn Fn() -> String| {
            let flattened = x.is_some_and(|x| axes[x].per_channel > 1);
            if flattened {
                c.block(x.unwrap(), why);
                c.block(v, why);
            }
            flattened
        };
        match node.op.channel_rule() {
            ChannelRule::Fresh => {}
            ChannelRule::Reduced => {
                c.approximate[x.unwrap()] = Some(format!(
                    "'{name}' averages over these channels, and over fewer once some are pruned"
                ));
            }
            rule @ (ChannelRule::PassThrough | ChannelRule::Renormalized) => {
                let per_channel = !node.op.channel_weights().is_empty();
                let why =
                    || format!("'{name}' has one weight per channel but reads flattened features");
                if !(per_channel && flat(&mut c, &why)) {
                    c.tie(axes[x.unwrap()], 0, out, 0, out.channels);
                }
                if rule == ChannelRule::Renormalized {
                    c.approximate[v] = Some(format!(
                        "{} '{name}' renormalises the channels that stay over fewer channels",
                        node.op.type_name()
                    ));
                }
            }
            ChannelRule::Flatten => c.tie(axes[x.unwrap()], 0, out, 0, out.channels),
            ChannelRule::Grouped { groups } => {
                grouped(&mut c, groups, axes[x.unwrap()]);
                grouped(&mut c, groups, out);
            }
            ChannelRule::Slice { start, .. } => {
                let why = || format!("slice '{name}' cuts through flattened channels");
                if !flat(&mut c, &why) {
                    c.tie(axes[x.unwrap()], start, out, 0, out.channels);
                }
            }
            ChannelRule::Permute(order) => {
                let why = || format!("'{name}' permutes flattened features");
                if !flat(&mut c, &why) {
                    for (i, &from) in order.iter().enumerate() {
                        c.tie(axes[x.unwrap()], from, out, i, 1);
                    }
                }
            }
            ChannelRule::Blocked(why) => {
                let why = || format!("{} '{name}' {why}", node.op.type_name());
                for input in &node.inputs {
                    c.block(input.node, why);
                }
                c.block(v, why);
            }
            ChannelRule::Concat => concat(&mut c, graph, axes, v),
            ChannelRule::Broadcast => broadcast(&mut c, graph, shapes, axes, v),
        }
    }
    for &input in &graph.inputs {
        let name = &graph.nodes[input].name;
        c.block(input, || format!("'{name}' is a graph input"));
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
fn grouped(c: &mut Coupling, groups: usize, axis: Axis) {
    let per_group = axis.channels / groups;
    for g in 1..groups {
        c.tie(axis, g * per_group, axis, 0, per_group);
    }
}

/// `Concat` on channels places input `k` at `offset_k`.
fn concat(c: &mut Coupling, graph: &Graph, axes: &[Axis], v: usize) {
    let node = &graph.nodes[v];
    let out = axes[v];
    let ins: Vec<usize> = node.inputs.iter().map(|o| o.node).collect();
    let same_layout = ins.iter().all(|&k| axes[k].per_channel == out.per_channel)
        && ins.iter().map(|&k| axes[k].channels).sum::<usize>() == out.channels;
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
        offset += x.channels;
    }
}

/// `Add`, `Mul`, a spatial `Concat`: an operand with the output's channel axis shares its channels; one of size 1
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
