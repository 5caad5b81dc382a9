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

/// How many times each node's value is read, the network's `output` counting once.
pub(super) fn uses(nodes: &[(Node, Vec<usize>)], output: usize) -> Vec<usize> {
    let mut uses = vec![0; nodes.len()];
    nodes
        .iter()
        .flat_map(|(_, ins)| ins)
        .for_each(|i| uses[*i] += 1);
    uses[output] += 1;
    uses
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
/// over the output it changes), any other step into a buffer no live value holds that holds
/// values of its image size ([`Buffers`]). Also each node's buffer and the number of buffers.
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
    let (mut slot, mut buffers) = (vec![usize::MAX; nodes.len()], Buffers::default());
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
            None => buffers.take(values[n]),
        };
        for i in &ins {
            left[*i] -= 1;
            if left[*i] == 0 && slot[*i] != out {
                buffers.release(slot[*i]);
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
    (steps, slot, buffers.sizes.len())
}

/// The buffers a pipeline's steps write, each for the values of one image size (or flat
/// values) only: a direct convolution leaves its output frame's edges as the buffer had them
/// ([`Frame::clear_edges`]), and a buffer that held 28x28 frames, then 14x14 ones, then 7x7
/// ones had its edges cleared three times per image (2.5% of a 75%-pruned ResNet-20's time);
/// the original's speed did not change with the extra buffers.
#[derive(Default)]
struct Buffers {
    /// Per buffer, the image size of the frames it holds (`None`: flat values).
    sizes: Vec<Option<(usize, usize)>>,
    /// The buffers no live value holds.
    free: Vec<usize>,
}

impl Buffers {
    /// A free buffer for `value`'s image size (the one freed last), or a new one.
    fn take(&mut self, value: Value) -> usize {
        let size = value.frame().map(|f| (f.height, f.width));
        match self.free.iter().rposition(|b| self.sizes[*b] == size) {
            Some(k) => self.free.remove(k),
            None => {
                self.sizes.push(size);
                self.sizes.len() - 1
            }
        }
    }

    /// Buffer `b` is free again.
    fn release(&mut self, b: usize) {
        self.free.push(b);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain of 3x3 convolutions on 1x8x8 images (stride 2 where `strided`), then global
    /// pooling, flatten and a linear head.
    fn chain(strided: &[bool]) -> Vec<(Node, Vec<usize>)> {
        let mut nodes = vec![(
            Node::Input {
                shape: vec![1, 8, 8],
            },
            vec![],
        )];
        let (mut channels, mut size) = (1, 8);
        for (i, strided) in strided.iter().enumerate() {
            let stride = if *strided { 2 } else { 1 };
            let conv = Conv2d {
                batch: 1,
                in_channels: channels,
                in_size: [size; 2],
                out_channels: 2 + i,
                kernel: [3, 3],
                stride: [stride; 2],
                padding: [(1, 1); 2],
                dilation: [1, 1],
                groups: 1,
            };
            (channels, size) = (2 + i, conv.out_size()[0]);
            nodes.push((
                Node::Conv {
                    conv,
                    weight: i,
                    bias: None,
                },
                vec![i],
            ));
        }
        let last = nodes.len() - 1;
        nodes.push((Node::GlobalAvgPool, vec![last]));
        nodes.push((Node::Flatten, vec![last + 1]));
        let head = Node::Linear {
            weight: 99,
            bias: None,
            out_features: 3,
        };
        nodes.push((head, vec![last + 2]));
        nodes
    }

    #[test]
    fn each_buffer_holds_values_of_one_image_size() {
        let nodes = chain(&[false, false, true, false, false, true, false]);
        let values = shapes(&nodes).expect("shapes");
        let uses = uses(&nodes, nodes.len() - 1);
        let fused = fuse(&nodes, &uses, &values);
        let (steps, _, count) = allocate(&nodes, &values, &uses, &fused);
        let size = |v: Value| v.frame().map(|f| (f.height, f.width));
        let mut held = vec![Vec::new(); count];
        for step in &steps {
            held[step.output].push(size(step.value));
        }
        for sizes in &held {
            assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{held:?}");
        }
        // Two buffers for each image size (8x8, 4x4, 2x2) and two for the flat values (a
        // layer reads one and writes the other): a chain needs no more.
        assert_eq!(count, 8, "{held:?}");
    }
}
