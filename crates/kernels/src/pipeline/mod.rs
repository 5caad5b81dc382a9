//! Inference of a whole network one image at a time, every activation in the framed layout
//! (`frame.rs`), so that an image's activations stay in its core's cache from the first layer
//! to the last and no layer pays for a padding copy or a copy out of the wide layout.
//! Convolutions read and write frames (`conv`); a residual add is folded into the convolution
//! computed last of its two inputs, which adds the other as it stores, and a ReLU into the
//! layer it alone reads; ReLU, the residual add and flatten (of a flat value) work
//! in place where their input is read last; buffers are shared between activations whose
//! lifetimes do not overlap.

mod conv;

use crate::activation::relu;
use crate::conv::Conv2d;
use crate::direct;
use crate::frame::Frame;
use rayon::prelude::*;
use std::sync::Mutex;

/// The largest linear layer (in weights, 256 KiB) the pipeline runs: each image reads the
/// whole weight, which for a larger layer costs more than a batched product (LeNet-300-100's
/// 784x300 layer ran 20 times slower per image).
const LINEAR_MOST: usize = 1 << 16;

/// One node of a network; [`Pipeline::new`] is given each with the earlier nodes it reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// The image, `[C, H, W]`.
    Input,
    /// `weight` and `bias` index the parameters [`Pipeline::run`] is given; `conv.batch`
    /// must be 1.
    Conv {
        conv: Conv2d,
        weight: usize,
        bias: Option<usize>,
    },
    Relu,
    /// Of two activations of one shape.
    Add,
    GlobalAvgPool,
    /// Every axis into one.
    Flatten,
    /// `weight` is `[out_features, in_features]`.
    Linear {
        weight: usize,
        bias: Option<usize>,
        out_features: usize,
    },
}

/// The shape of one image's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Framed(Frame),
    Flat(usize),
}

impl Value {
    /// Values its buffer holds.
    fn len(&self) -> usize {
        match self {
            Value::Framed(f) => f.len(),
            Value::Flat(n) => *n,
        }
    }

    /// Values of the activation itself.
    fn dense_len(&self) -> usize {
        match self {
            Value::Framed(f) => f.dense_len(),
            Value::Flat(n) => *n,
        }
    }

    fn frame(&self) -> Option<Frame> {
        match self {
            Value::Framed(f) => Some(*f),
            Value::Flat(_) => None,
        }
    }

    /// Adds the activation in `b` to the one in `a`, rectified if `relu`.
    fn add(&self, a: &mut [f32], b: &[f32], relu: bool) {
        let sum = |a: &mut [f32], b: &[f32]| {
            if relu {
                a.iter_mut()
                    .zip(b)
                    .for_each(|(a, b)| *a = self::relu(*a + b));
            } else {
                a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
            }
        };
        match self {
            Value::Framed(frame) => {
                for (a, b) in frame.planes_mut(a).zip(frame.planes(b)) {
                    sum(a, b);
                }
            }
            Value::Flat(n) => sum(&mut a[..*n], &b[..*n]),
        }
    }

    /// Rectifies the activation in `buffer` in place.
    fn relu(&self, buffer: &mut [f32]) {
        match self {
            Value::Framed(frame) => frame.relu(buffer),
            Value::Flat(n) => buffer[..*n].iter_mut().for_each(|v| *v = relu(*v)),
        }
    }
}

/// One node as the pipeline runs it.
struct Step {
    node: Node,
    /// Each input's buffer and shape (a convolution's residual last).
    inputs: Vec<(usize, Value)>,
    output: usize,
    value: Value,
    /// Whether a ReLU that only reads this node is applied here.
    relu: bool,
    /// How a convolution runs.
    conv: Option<conv::Conv>,
}

/// A network compiled for inference one image at a time on frames.
pub struct Pipeline {
    input: Frame,
    steps: Vec<Step>,
    /// Buffers one task needs, and the values of each.
    buffers: (usize, usize),
    /// The output's buffer and shape.
    output: (usize, Value),
    /// Scratch left by earlier tasks, reused so that a run does not allocate (and fault in)
    /// its buffers again.
    pool: Mutex<Vec<Scratch>>,
}

/// Buffers one task reuses across images.
struct Scratch {
    buffers: Vec<Vec<f32>>,
    /// A dense input and output for the convolutions that run through dense copies.
    dense: [Vec<f32>; 2],
    /// Per step, a convolution's own buffers.
    convs: Vec<Option<conv::Scratch>>,
}

impl Pipeline {
    /// The pipeline of a network whose input is `[C, H, W]`, whose nodes each read earlier
    /// ones and whose output is node `output`. `None` when it has another node than one
    /// input, or shapes the nodes do not take, or when the CPU has no AVX-512.
    pub fn new(input: [usize; 3], nodes: &[(Node, Vec<usize>)], output: usize) -> Option<Self> {
        let inputs = nodes.iter().filter(|(n, _)| *n == Node::Input).count();
        if !direct::available() || inputs != 1 || output >= nodes.len() {
            return None;
        }
        let values = shapes(input, nodes)?;
        let mut uses = vec![0; nodes.len()];
        nodes
            .iter()
            .flat_map(|(_, ins)| ins)
            .for_each(|i| uses[*i] += 1);
        uses[output] += 1;
        let fused = fuse(nodes, &uses, &values);
        let same = &fused.owner;
        let mut left: Vec<usize> = (0..nodes.len()).map(|n| uses[last(same, n)]).collect();
        let (mut slot, mut free, mut count) = (vec![usize::MAX; nodes.len()], Vec::new(), 0);
        let mut steps = Vec::new();
        for (n, (node, ins)) in nodes.iter().enumerate() {
            if same[n] != n {
                continue;
            }
            let ins: Vec<usize> = ins
                .iter()
                .chain(&fused.residual[n])
                .map(|i| same[*i])
                .collect();
            let in_place = matches!(node, Node::Relu | Node::Add | Node::Flatten);
            let reuse = ins
                .iter()
                .find(|i| in_place && left[**i] == 1 && values[**i] == values[n]);
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
            steps.push(Step {
                conv: step_conv(node, &ins, &values, n),
                node: node.clone(),
                inputs: ins.iter().map(|i| (slot[*i], values[*i])).collect(),
                output: out,
                value: values[n],
                relu: fused.relu[n],
            });
        }
        let output = same[output];
        Some(Self {
            input: values
                .iter()
                .zip(nodes)
                .find_map(|(v, (n, _))| (*n == Node::Input).then(|| v.frame()).flatten())?,
            steps,
            buffers: (count, values.iter().map(Value::len).max().unwrap_or(0)),
            output: (slot[output], values[output]),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Values of one image's input and output.
    pub fn image_lens(&self) -> [usize; 2] {
        [self.input.dense_len(), self.output.1.dense_len()]
    }

    /// The outputs of `batch` dense images `x` (`[batch, C, H, W]`), `[batch, ...]`, with
    /// `params` the parameters the nodes index. Panics if a length does not match.
    pub fn run(&self, params: &[&[f32]], x: &[f32], batch: usize) -> Vec<f32> {
        let [image_in, image_out] = self.image_lens().map(|n| n.max(1));
        assert_eq!(
            x.len(),
            batch * self.input.dense_len(),
            "pipeline: input length"
        );
        let prepared: Vec<Option<Vec<f32>>> = self
            .steps
            .iter()
            .map(|s| s.conv.as_ref().and_then(|c| c.prepare(params)))
            .collect();
        let per_task = batch.div_ceil(4 * rayon::current_num_threads()).max(1);
        let mut y = vec![0.0; batch * self.output.1.dense_len()];
        y.par_chunks_mut(per_task * image_out)
            .zip(x.par_chunks(per_task * image_in))
            .for_each(|(y, x)| {
                let pooled = self.pool.lock().ok().and_then(|mut pool| pool.pop());
                let mut s = pooled.unwrap_or_else(|| self.scratch());
                for (y, x) in y.chunks_mut(image_out).zip(x.chunks(image_in)) {
                    self.image(params, &prepared, x, y, &mut s);
                }
                if let Ok(mut pool) = self.pool.lock() {
                    pool.push(s);
                }
            });
        y
    }

    fn scratch(&self) -> Scratch {
        let convs = self.steps.iter().filter_map(|s| s.conv.as_ref());
        let dense = convs.map(conv::Conv::dense_len).max().unwrap_or(0);
        Scratch {
            // Debug builds start from NaN, so that tests see a border left uncleared.
            buffers: vec![
                vec![
                    if cfg!(debug_assertions) {
                        f32::NAN
                    } else {
                        0.0
                    };
                    self.buffers.1
                ];
                self.buffers.0
            ],
            dense: [vec![0.0; dense], vec![0.0; dense]],
            convs: self
                .steps
                .iter()
                .map(|s| s.conv.as_ref().map(conv::Conv::scratch))
                .collect(),
        }
    }

    /// One image `x` through every step, its output into `y`.
    fn image(
        &self,
        params: &[&[f32]],
        prepared: &[Option<Vec<f32>>],
        x: &[f32],
        y: &mut [f32],
        s: &mut Scratch,
    ) {
        for ((step, prepared), conv) in self.steps.iter().zip(prepared).zip(&mut s.convs) {
            let out = step.output;
            match &step.node {
                Node::Input => self.input.pack(x, &mut s.buffers[out]),
                Node::Conv { .. } => {
                    let mut output = std::mem::take(&mut s.buffers[out]);
                    let input = &s.buffers[step.inputs[0].0];
                    let residual = step.inputs.get(1).map(|(b, _)| s.buffers[*b].as_slice());
                    let (c, scratch) = (step.conv.as_ref(), conv.as_mut());
                    let (c, scratch) = (c.expect("a convolution"), scratch.expect("its scratch"));
                    c.run(
                        (params, prepared.as_deref()),
                        step.relu,
                        (input, residual, &mut output),
                        scratch,
                        &mut s.dense,
                    );
                    s.buffers[out] = output;
                }
                Node::Relu | Node::Flatten if step.inputs[0].0 == out => {
                    if step.node == Node::Relu {
                        step.value.relu(&mut s.buffers[out]);
                    }
                }
                Node::Relu => {
                    let (input, out) = two(&mut s.buffers, step.inputs[0].0, out);
                    out[..step.value.len()].copy_from_slice(&input[..step.value.len()]);
                    step.value.relu(out);
                }
                Node::Add => add(step, &mut s.buffers),
                Node::GlobalAvgPool => {
                    let (input, out) = two(&mut s.buffers, step.inputs[0].0, out);
                    let frame = step.inputs[0].1.frame().expect("checked in `shapes`");
                    let area = (frame.height * frame.width) as f32;
                    for (o, plane) in out.iter_mut().zip(frame.planes(input)) {
                        *o = plane.iter().sum::<f32>() / area;
                    }
                }
                Node::Flatten => {
                    let (input, out) = two(&mut s.buffers, step.inputs[0].0, out);
                    match step.inputs[0].1 {
                        Value::Framed(frame) => frame.unpack(input, &mut out[..frame.dense_len()]),
                        Value::Flat(n) => out[..n].copy_from_slice(&input[..n]),
                    }
                }
                Node::Linear {
                    weight,
                    bias,
                    out_features,
                } => {
                    let (input, out) = two(&mut s.buffers, step.inputs[0].0, out);
                    let n = step.inputs[0].1.len();
                    for (o, y) in out[..*out_features].iter_mut().enumerate() {
                        let w = &params[*weight][o * n..][..n];
                        let dot = dot(w, &input[..n]);
                        let y0 = bias.map_or(0.0, |b| params[b][o]) + dot;
                        *y = if step.relu { relu(y0) } else { y0 };
                    }
                }
            }
        }
        let (slot, value) = self.output;
        match value {
            Value::Framed(frame) => frame.unpack(&s.buffers[slot], y),
            Value::Flat(n) => y.copy_from_slice(&s.buffers[slot][..n]),
        }
    }
}

/// Each node's shape, or `None` if a node reads a shape it does not take.
fn shapes(input: [usize; 3], nodes: &[(Node, Vec<usize>)]) -> Option<Vec<Value>> {
    let mut values: Vec<Value> = Vec::with_capacity(nodes.len());
    for (node, ins) in nodes {
        let arity = match node {
            Node::Input => 0,
            Node::Add => 2,
            _ => 1,
        };
        if ins.len() != arity || ins.iter().any(|i| *i >= values.len()) {
            return None;
        }
        let arg = |k: usize| values[ins[k]];
        let value = match node {
            Node::Input => Value::Framed(Frame {
                channels: input[0],
                height: input[1],
                width: input[2],
            }),
            Node::Conv { conv, .. } => {
                let frame = arg(0).frame()?;
                let fits = conv.batch == 1
                    && frame.channels == conv.in_channels
                    && [frame.height, frame.width] == conv.in_size;
                let [height, width] = conv.out_size();
                fits.then_some(Value::Framed(Frame {
                    channels: conv.out_channels,
                    height,
                    width,
                }))?
            }
            Node::Relu => arg(0),
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

/// What the pipeline applies inside another node's step.
struct Fused {
    /// Per node, the node whose step computes its value: itself, or the convolution a
    /// residual add was folded into, or the layer a ReLU was folded into.
    owner: Vec<usize>,
    /// Per convolution, the activation it adds to its output (a residual add folded in).
    residual: Vec<Option<usize>>,
    /// Per node, whether its step applies a ReLU.
    relu: Vec<bool>,
}

/// Folds an add of two activations into the later of the two when that is a convolution that
/// stores into its output frame ([`conv::stores_to_frame`]), read by nothing else (the other is then a residual it adds as it stores), and a
/// ReLU into the convolution, add or linear layer whose value it alone reads.
fn fuse(nodes: &[(Node, Vec<usize>)], uses: &[usize], values: &[Value]) -> Fused {
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
                let stores = match (&nodes[p].0, frames(p)) {
                    (Node::Conv { conv, .. }, [Some(from), Some(to)]) => {
                        conv::stores_to_frame(conv, [from, to])
                    }
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
                    Node::Conv { .. } | Node::Add | Node::Linear { .. }
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

/// The last node whose value node `n`'s step computes ([`Fused::owner`]), or `n`.
fn last(same: &[usize], n: usize) -> usize {
    (n..same.len()).rev().find(|m| same[*m] == n).unwrap_or(n)
}

/// How node `n` runs if it is a convolution: from its input's frame to its own.
fn step_conv(node: &Node, ins: &[usize], values: &[Value], n: usize) -> Option<conv::Conv> {
    let Node::Conv { conv, weight, bias } = node else {
        return None;
    };
    let frames = [values[ins[0]].frame()?, values[n].frame()?];
    Some(conv::Conv::new(*conv, (*weight, *bias), frames))
}

/// An add step: its output buffer holds one addend (copied there unless it is an input's
/// own), to which the other is added. (The same value twice is never added in place: it
/// is read once more after the first.)
fn add(step: &Step, buffers: &mut [Vec<f32>]) {
    let [(a, _), (b, _)] = [step.inputs[0], step.inputs[1]];
    let (out, value) = (step.output, step.value);
    let other = if out == b { a } else { b };
    if out != a && out != b {
        let (a, out) = two(buffers, a, out);
        out[..value.len()].copy_from_slice(&a[..value.len()]);
    }
    let (other, out) = two(buffers, other, out);
    value.add(out, other, step.relu);
}

/// `sum(a[i] * b[i])` in 16 independent sums, which vectorise.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 16];
    let (a16, b16) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = a16
        .remainder()
        .iter()
        .zip(b16.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in a16.zip(b16) {
        for ((s, a), b) in sums.iter_mut().zip(a).zip(b) {
            *s += a * b;
        }
    }
    sums.iter().sum::<f32>() + tail
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
