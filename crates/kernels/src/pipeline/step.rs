//! One step of the pipeline on one image: a node run on the task's buffers.

use super::conv::{self, Conv};
use super::{Node, Value, edit};
use crate::activation::relu;
use crate::frame::Frame;
use crate::reduce::{sum, sum_pairs};

/// One node as the pipeline runs it.
pub(super) struct Step {
    pub node: Node,
    /// Each input's buffer and shape (a convolution's residual last).
    pub inputs: Vec<(usize, Value)>,
    pub output: usize,
    pub value: Value,
    /// Whether a ReLU that only reads this node is applied here.
    pub relu: bool,
    /// How a convolution runs.
    pub conv: Option<Conv>,
    /// The run's input an input node packs, or the factor array a mask or unshare reads
    /// (their index among the nodes of their kind).
    pub source: Option<usize>,
    /// The earlier step whose convolution split this one's input into the same phase planes.
    pub split_from: Option<usize>,
}

impl Step {
    /// Runs the step on the task's `buffers` (a convolution with its `scratch` and the
    /// task's `dense` copies); `weights` are the parameters and the convolution's prepared
    /// weight, `factors` the image's factors of a mask or unshare; a convolution's scratch
    /// comes with that of the step it shares a split with ([`Step::split_from`]). `edges`
    /// is the frame whose edges are zero in the output's buffer (see [`Step::conv`]), which
    /// the step updates. Not for an input, which the pipeline packs.
    pub fn run(
        &self,
        weights: (&[&[f32]], Option<&[f32]>),
        factors: &[f32],
        scratch: (Option<&mut conv::Scratch>, Option<&conv::Scratch>),
        (buffers, edges): (&mut [Vec<f32>], &mut Option<Frame>),
        dense: &mut [Vec<f32>; 2],
    ) {
        let (input, out) = (self.inputs[0].0, self.output);
        // Every step that writes a framed value leaves zeros on its edges: a copy or an edit
        // of a framed input (whose edges are zero), a convolution's dense path (which packs
        // the frame), a direct one (cleared where not known zero). A flat value does not.
        let written = self.value.frame();
        match &self.node {
            Node::Input { .. } => unreachable!("the pipeline packs the inputs"),
            Node::Conv { .. } => self.conv(weights, scratch, (buffers, *edges), dense),
            Node::Flatten if input == out => {}
            Node::Relu => {
                self.copy_unless_in_place(buffers);
                self.value.relu(&mut buffers[out]);
            }
            Node::Add => self.add(buffers),
            Node::GlobalAvgPool => {
                let (input, out) = two(buffers, input, out);
                let frame = self.inputs[0].1.frame().expect("checked in `shapes`");
                let area = (frame.height * frame.width) as f64;
                // Partial sums a vector wide: one sum in order was a chain of dependent
                // adds, 1.7% of a 75%-pruned ResNet-20's time.
                for (o, plane) in out.iter_mut().zip(frame.planes(input)) {
                    *o = (sum(plane, |v| v) / area) as f32;
                }
            }
            Node::Flatten => {
                let (input, out) = two(buffers, input, out);
                let value = self.inputs[0].1;
                value.unpack(input, &mut out[..value.dense_len()]);
            }
            Node::Linear { .. } => self.linear(weights.0, two(buffers, input, out)),
            Node::Mask => {
                self.copy_unless_in_place(buffers);
                edit::mask(self.value, factors, &mut buffers[out]);
            }
            Node::Unshare { conv, weight } => {
                self.copy_unless_in_place(buffers);
                let frames = [self.inputs[1].1, self.value].map(|v| v.frame().expect("framed"));
                let io = two(buffers, self.inputs[1].0, out);
                edit::unshare(conv, weights.0[*weight], frames, factors, io);
                if self.relu {
                    self.value.relu(&mut buffers[out]);
                }
            }
        }
        *edges = written.map(|w| w.edges_after(*edges));
    }

    /// Copies the first input into the output's buffer, unless that is the input's own.
    fn copy_unless_in_place(&self, buffers: &mut [Vec<f32>]) {
        let (input, out) = (self.inputs[0].0, self.output);
        if input != out {
            let (input, out) = two(buffers, input, out);
            out[..self.value.len()].copy_from_slice(&input[..self.value.len()]);
        }
    }

    /// A convolution from its input's buffer (and its residual's) into its own. The direct
    /// kernel leaves the output frame's edges as they were: they are cleared but for the
    /// channels whose edges the buffer's `edges` (the frame it last held with zero edges)
    /// says are zero already, as all are from a stage's second layer on where a buffer keeps
    /// one image size (two small `memset` calls per channel and layer were 2.5% of a
    /// 75%-pruned ResNet-20's time in `perf`).
    fn conv(
        &self,
        weights: (&[&[f32]], Option<&[f32]>),
        (scratch, split): (Option<&mut conv::Scratch>, Option<&conv::Scratch>),
        (buffers, edges): (&mut [Vec<f32>], Option<Frame>),
        dense: &mut [Vec<f32>; 2],
    ) {
        let mut output = std::mem::take(&mut buffers[self.output]);
        let input = &buffers[self.inputs[0].0];
        let residual = self.inputs.get(1).map(|(b, _)| buffers[*b].as_slice());
        let (conv, scratch) = (self.conv.as_ref(), scratch);
        let (conv, scratch) = (conv.expect("a convolution"), scratch.expect("its scratch"));
        let io = (input.as_slice(), residual, output.as_mut_slice());
        conv.run(weights, self.relu, io, (scratch, split), dense);
        let to = self.value.frame().expect("a framed convolution");
        if !conv.writes_edges() {
            let known = edges.map_or(0, |e| e.zero_edges_for(to));
            to.clear_edges(&mut output, known);
        }
        buffers[self.output] = output;
    }

    /// A linear layer: `out = weight * input + bias`, rectified if folded in.
    fn linear(&self, params: &[&[f32]], (input, out): (&[f32], &mut [f32])) {
        let Node::Linear {
            weight,
            bias,
            out_features,
        } = &self.node
        else {
            unreachable!("a linear step")
        };
        let n = self.inputs[0].1.len();
        for (o, y) in out[..*out_features].iter_mut().enumerate() {
            let w = &params[*weight][o * n..][..n];
            let sum =
                bias.map_or(0.0, |b| params[b][o]) + sum_pairs(w, &input[..n], |w, x| w * x) as f32;
            *y = if self.relu { relu(sum) } else { sum };
        }
    }

    /// An add: its output buffer holds one addend (copied there unless it is an input's
    /// own), to which the other is added. (The same value twice is never added in place:
    /// it is read once more after the first.)
    fn add(&self, buffers: &mut [Vec<f32>]) {
        let [(a, _), (b, _)] = [self.inputs[0], self.inputs[1]];
        let (out, value) = (self.output, self.value);
        let other = if out == b { a } else { b };
        if out != a && out != b {
            let (a, out) = two(buffers, a, out);
            out[..value.len()].copy_from_slice(&a[..value.len()]);
        }
        let (other, out) = two(buffers, other, out);
        value.add(out, other, self.relu);
    }
}

/// Buffer `read` to read and buffer `write` to write, which differ.
fn two(buffers: &mut [Vec<f32>], read: usize, write: usize) -> (&[f32], &mut [f32]) {
    assert_ne!(read, write, "pipeline: a step reads the buffer it writes");
    if read < write {
        let (low, high) = buffers.split_at_mut(write);
        (&low[read], &mut high[0])
    } else {
        let (low, high) = buffers.split_at_mut(read);
        (&high[0], &mut low[write])
    }
}
