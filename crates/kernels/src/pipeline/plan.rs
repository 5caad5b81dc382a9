//! How the pipeline runs a network: each node's shape, which adds and ReLUs are folded into
//! the step before them, and which buffer each step writes.

use super::conv::{self, Conv};
use super::step::Step;
use super::{LINEAR_MOST, Node, Value};
use crate::conv::Conv2d;
use crate::frame::Frame;

/// Each node's shape, or `None` if a node reads a shape it does not take.
pub(super) fn shapes(nodes: &[(Node, Vec<usize>)]) -> Option<Vec<Value>> {
    let mut values: Vec<Value> = Vec::with_capacity(nodes.len());
    for (node, ins) in nodes {
        let arity = match node {
            Node::Input { .. } => 0,
            Node::Add | Node::Unshare { .. } => 2,
            _ => 1,
        };
        if ins.len() != arity || ins.iter().any(|i| *i >= values.len()) {
            return None;
        }
        let arg = |k: usize| values[ins[k]];
        let value = match node {
            Node::Input { shape } => Value::of_shape(shape)?,
            Node::Conv { conv, .. } => conv_output(conv, arg(0))?,
            Node::Unshare { conv, .. } => {
                let padded = conv.padding.iter().all(|(a, b)| *a <= 1 && *b <= 1);
                let output = conv_output(conv, arg(1)).filter(|_| conv.groups == 1 && padded);
                (output == Some(arg(0))).then_some(arg(0))?
            }
            Node::Relu | Node::Mask => arg(0),
            Node::Add => (arg(0) == arg(1)).then_some(arg(0))?,
            Node::GlobalAvgPool => Value::Flat(arg(0).frame()?.channels),
            Node::Flatten => Value::Flat(arg(0).dense_len()),
            Node::Linear { out_features, .. } => match arg(0) {
                Value::Flat(n) if n * out_features <= LINEAR_MOST => Value::Flat(*out_features),
                _ => return None,
            },
        };
        values.push(value);
    }
    Some(values)
}

/// The output of `conv` (batch 1) on `input`, if it takes that input.
fn conv_output(conv: &Conv2d, input: Value) -> Option<Value> {
    let frame = input.frame()?;
    let fits = conv.batch == 1
        && frame.channels == conv.in_channels
        && [frame.height, frame.width] == conv.in_size;
    let [height, width] = conv.out_size();
    fits.then_some(Value::Framed(Frame {
        channels: conv.out_channels,
        height,
        width,
    }))
}

/// What the pipeline applies inside another node's step.
pub(super) struct Fused {
    /// Per node, the node whose step computes its value: itself, or the convolution a
    /// residual add was folded into, or the layer a ReLU was folded into.
    pub owner: Vec<usize>,
    /// Per convolution, the activation it adds to its output (a residual add folded in).
    pub residual: Vec<Option<usize>>,
    /// Per node, whether its step applies a ReLU.
    pub relu: Vec<bool>,
}

/// Folds an add of two activations into the later of the two when that is a convolution that
/// stores into its output frame ([`conv::stores_to_frame`]), read by nothing else (the other is then a residual it adds as it stores), and a
/// ReLU into the convolution, add, linear layer or unshare whose value it alone reads.
pub(super) fn fuse(nodes: &[(Node, Vec<usize>)], uses: &[usize], values: &[Value]) -> Fused {
    let count = nodes.len();
    let mut f = Fused {
        owner: (0..count).collect(),
        residual: vec![None; count],
        relu: vec![false; count],
    };
    for (n, (node, ins)) in nodes.iter().enumerate() {
        match (node, &ins[..]) {
            (Node::Add, [a, b]) if a != b => {
                let (p, other) = (*a.max(b), *a.min(b));
                let frames = |p: usize| [values[nodes[p].1[0]].frame(), values[p].frame()];
                let stores = match &nodes[p].0 {
                    Node::Conv { conv, .. } => match frames(p) {
                        [Some(from), Some(to)] => conv::stores_to_frame(conv, [from, to]),
                        _ => false,
                    },
                    _ => false,
                };
                if stores && uses[p] == 1 && f.owner[p] == p && !f.relu[p] {
                    f.owner[n] = p;
                    f.residual[p] = Some(other);
                }
            }
            (Node::Relu, [q]) => {
                let p = f.owner[*q];
                let kind = matches!(
                    nodes[p].0,
                    Node::Conv { .. } | Node::Add | Node::Linear { .. } | Node::Unshare { .. }
                );
                if kind && uses[*q] == 1 && !f.relu[p] {
                    f.owner[n] = p;
                    f.relu[p] = true;
                }
            }
            _ => {}
        }
    }
    f
}

/// How node `n` runs if it is a convolution: from its input's frame to its own.
fn step_conv(node: &Node, ins: &[usize], values: &[Value], n: usize) -> Option<Conv> {
    let Node::Conv { conv, weight, bias } = node else {
        return None;
    };
    let frames = [values[ins[0]].frame()?, values[n].frame()?];
    Some(Conv::new(*conv, (*weight, *bias), frames))
}

/// Each node's step, in order, with the buffer it writes: a ReLU, add, flatten, mask or
/// unshare writes in place over an input it reads last (of its own shape; an unshare only
/// over the output it changes), any other step into a buffer no live value holds. Also each
/// node's buffer and the number of buffers.
pub(super) fn allocate(
    nodes: &[(Node, Vec<usize>)],
    values: &[Value],
    uses: &[usize],
    fused: &Fused,
) -> (Vec<Step>, Vec<usize>, usize) {
    let same = &fused.owner;
    // A step's value is read by the readers of the last node it computes (a folded ReLU).
    let mut last: Vec<usize> = (0..nodes.len()).collect();
    same.iter()
        .enumerate()
        .for_each(|(n, owner)| last[*owner] = n);
    let mut left: Vec<usize> = last.iter().map(|m| uses[*m]).collect();
    let (mut slot, mut free, mut count) = (vec![usize::MAX; nodes.len()], Vec::new(), 0);
    let (mut steps, mut input_nodes) = (Vec::new(), Vec::new());
    let (mut inputs, mut factors) = (0.., 0..);
    for (n, (node, ins)) in nodes.iter().enumerate() {
        if same[n] != n {
            continue;
        }
        let source = match node {
            Node::Input { .. } => inputs.next(),
            Node::Mask | Node::Unshare { .. } => factors.next(),
            _ => None,
        };
        let ins: Vec<usize> = ins
            .iter()
            .chain(&fused.residual[n])
            .map(|i| same[*i])
            .collect();
        let over = match node {
            Node::Relu | Node::Add | Node::Flatten | Node::Mask => &ins[..],
            Node::Unshare { .. } => &ins[..1],
            _ => &[],
        };
        let reuse = over
            .iter()
            .find(|i| left[**i] == 1 && values[**i] == values[n]);
        let out = match reuse {
            Some(i) => slot[*i],
            None => free.pop().unwrap_or_else(|| {
                count += 1;
                count - 1
            }),
        };
        for i in &ins {
            left[*i] -= 1;
            if left[*i] == 0 && slot[*i] != out {
                free.push(slot[*i]);
            }
        }
        slot[n] = out;
        input_nodes.push(ins.first().copied());
        steps.push(Step {
            conv: step_conv(node, &ins, values, n),
            node: node.clone(),
            inputs: ins.iter().map(|i| (slot[*i], values[*i])).collect(),
            output: out,
            value: values[n],
            relu: fused.relu[n],
            source,
            split_from: None,
        });
    }
    share_splits(&mut steps, &input_nodes);
    (steps, slot, count)
}

/// Points each convolution that splits an input into phase planes at the earlier step that
/// split the same value (`input_nodes`: each step's first input node) into the same planes.
fn share_splits(steps: &mut [Step], input_nodes: &[Option<usize>]) {
    for i in 0..steps.len() {
        let Some(phases) = steps[i].conv.as_ref().and_then(Conv::phases) else {
            continue;
        };
        steps[i].split_from = (0..i).find(|&j| {
            let same = steps[j].conv.as_ref().and_then(Conv::phases) == Some(phases);
            same && steps[j].split_from.is_none() && input_nodes[j] == input_nodes[i]
        });
    }
}
