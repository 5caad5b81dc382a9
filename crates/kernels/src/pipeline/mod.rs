//! Inference of a whole network one image at a time, every activation in the framed layout
//! (`frame.rs`), so that an image's activations stay in its core's cache from the first layer
//! to the last and no layer pays for a padding copy or a copy out of the wide layout.
//! Convolutions read and write frames (`conv`). `plan` folds a residual add into the
//! convolution computed last of its two inputs, which adds the other as it stores, and a
//! ReLU into the layer it alone reads, and shares buffers between activations of one image
//! size whose lifetimes do not overlap (a ReLU, add or flatten writes over an input it reads
//! last);
//! `step` runs one node on one image, `edit` the two nodes whose effect each image chooses
//! (a channel mask, a convolution's share of some input channels withdrawn), with which a
//! pipeline that starts from values cached part-way through a network runs many variants of
//! it at once (the oracle's probes).

mod conv;
mod edit;
mod plan;
mod step;

use crate::activation::{Activation, relu};
use crate::conv::Conv2d;
use crate::direct;
use crate::frame::Frame;
use rayon::prelude::*;
use std::sync::Mutex;
use step::Step;

/// The largest linear layer (in weights, 256 KiB) the pipeline runs: each image reads the
/// whole weight, which for a larger layer costs more than a batched product (LeNet-300-100's
/// 784x300 layer ran 20 times slower per image).
const LINEAR_MOST: usize = 1 << 16;

/// One node of a network; [`Pipeline::new`] is given each with the earlier nodes it reads.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// An input value of one image: `[C, H, W]` (held framed) or `[n]` (flat).
    Input {
        shape: Vec<usize>,
    },
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
    /// Its input with each channel (of a `[C, H, W]` value) or each value (of a flat one)
    /// multiplied by the image's factor, given at run time ([`Rows::factors`]).
    Mask,
    /// The output of convolution `conv` (its first input, `[C_out, H', W']`) less the share
    /// of the input channels the image's factors take away: with `f` the factor of input
    /// channel `c` of the convolution's input (the second input), it subtracts `(1 - f)`
    /// times channel `c` convolved alone with its slice of `weight`. Removing input channel
    /// `c` (`f = 0`) costs `1 / C_in` of the convolution. For an ungrouped convolution with
    /// padding of at most 1.
    Unshare {
        conv: Conv2d,
        weight: usize,
    },
}

/// The shape of one image's activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Framed(Frame),
    Flat(usize),
}

impl Value {
    /// The value of shape `[C, H, W]` (framed) or `[n]`.
    fn of_shape(shape: &[usize]) -> Option<Self> {
        match *shape {
            [channels, height, width] => Some(Value::Framed(Frame {
                channels,
                height,
                width,
            })),
            [n] => Some(Value::Flat(n)),
            _ => None,
        }
    }

    /// Writes the dense value `x` into `buffer` in this layout.
    fn pack(&self, x: &[f32], buffer: &mut [f32]) {
        match self {
            Value::Framed(frame) => frame.pack(x, buffer),
            Value::Flat(n) => buffer[..*n].copy_from_slice(x),
        }
    }

    /// The dense value held in `buffer`, into `x`.
    fn unpack(&self, buffer: &[f32], x: &mut [f32]) {
        match self {
            Value::Framed(frame) => frame.unpack(buffer, x),
            Value::Flat(n) => x.copy_from_slice(&buffer[..*n]),
        }
    }

    /// Factors a [`Node::Mask`] of this value takes per image: one per channel of a frame.
    fn mask_width(&self) -> usize {
        match self {
            Value::Framed(frame) => frame.channels,
            Value::Flat(n) => *n,
        }
    }

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
            Value::Flat(n) => Activation::Relu.apply(&mut buffer[..*n]),
        }
    }
}

/// A network compiled for inference one image at a time on frames.
pub struct Pipeline {
    /// Each input node's value, in node order.
    inputs: Vec<Value>,
    /// Factors per image of each mask or unshare node, in node order.
    factors: Vec<usize>,
    steps: Vec<Step>,
    /// Buffers one task needs, and the values of each.
    buffers: (usize, usize),
    /// The output's buffer and shape.
    output: (usize, Value),
    /// Scratch left by earlier tasks, reused so that a run does not allocate (and fault in)
    /// its buffers again.
    pool: Mutex<Vec<Scratch>>,
}

/// What a run computes on besides the parameters: `rows` images, row `r` made of sample
/// `r % samples` of every input and row `r` of every factor array.
pub struct Rows<'a> {
    /// Per input node, in node order, the dense values of `samples` samples.
    pub inputs: &'a [&'a [f32]],
    pub samples: usize,
    /// Per mask or unshare node, in node order, the factors of every row
    /// ([`Pipeline::factor_widths`] each).
    pub factors: &'a [&'a [f32]],
    pub rows: usize,
}

/// The weights of a pipeline's convolutions as their kernels read them, rearranged once from
/// the parameters ([`Pipeline::prepare`]) for as many runs as the parameters stay the same.
pub struct Prepared(Vec<Option<Vec<f32>>>);

/// Buffers one task reuses across images.
struct Scratch {
    buffers: Vec<Vec<f32>>,
    /// Per buffer, the frame whose edges ([`Frame::clear_edges`]) it holds zero, if known.
    edges: Vec<Option<Frame>>,
    /// A dense input and output for the convolutions that run through dense copies.
    dense: [Vec<f32>; 2],
    /// Per step, a convolution's own buffers.
    convs: Vec<Option<conv::Scratch>>,
}

impl Pipeline {
    /// The pipeline of a network whose nodes each read earlier ones and whose output is node
    /// `output`. `None` when it has no input, or a node or shape the pipeline does not take,
    /// or when the CPU has no AVX-512.
    pub fn new(nodes: &[(Node, Vec<usize>)], output: usize) -> Option<Self> {
        let is_input = |n: &Node| matches!(n, Node::Input { .. });
        if !direct::available() || !nodes.iter().any(|(n, _)| is_input(n)) || output >= nodes.len()
        {
            return None;
        }
        let values = plan::shapes(nodes)?;
        let uses = plan::uses(nodes, output);
        let fused = plan::fuse(nodes, &uses, &values);
        let (steps, slot, count) = plan::allocate(nodes, &values, &uses, &fused);
        let of = |keep: &dyn Fn(&Node) -> bool| {
            let picked = nodes.iter().zip(&values).filter(|((n, _), _)| keep(n));
            picked.map(|(_, v)| *v).collect::<Vec<_>>()
        };
        let factors = nodes.iter().filter_map(|(n, ins)| match n {
            Node::Mask => Some(values[ins[0]].mask_width()),
            Node::Unshare { conv, .. } => Some(conv.in_channels),
            _ => None,
        });
        let output = fused.owner[output];
        Some(Self {
            inputs: of(&is_input),
            factors: factors.collect(),
            steps,
            buffers: (count, values.iter().map(Value::len).max().unwrap_or(0)),
            output: (slot[output], values[output]),
            pool: Mutex::new(Vec::new()),
        })
    }

    /// Values per sample of each input, in node order.
    pub fn input_lens(&self) -> Vec<usize> {
        self.inputs.iter().map(Value::dense_len).collect()
    }

    /// Factors per row of each mask or unshare node, in node order.
    pub fn factor_widths(&self) -> &[usize] {
        &self.factors
    }

    /// Values of one image's output.
    pub fn output_len(&self) -> usize {
        self.output.1.dense_len()
    }

    /// The convolutions' weights of `params` as the kernels read them.
    pub fn prepare(&self, params: &[&[f32]]) -> Prepared {
        let convs = self.steps.iter().map(|s| s.conv.as_ref());
        Prepared(convs.map(|c| c.and_then(|c| c.prepare(params))).collect())
    }

    /// The outputs of `batch` dense images `x` (`[batch, ...]`) through a pipeline of one
    /// input and no factors, `[batch, ...]`, with `params` the parameters the nodes index.
    /// Panics if a length does not match.
    pub fn run(&self, params: &[&[f32]], x: &[f32], batch: usize) -> Vec<f32> {
        let rows = Rows {
            inputs: &[x],
            samples: batch,
            factors: &[],
            rows: batch,
        };
        self.run_rows((params, &self.prepare(params)), &rows)
    }

    /// The outputs of every row of `rows`, `[rows, ...]`, with the parameters and their
    /// [`Pipeline::prepare`]d weights. Panics if the inputs or factors do not have the
    /// lengths [`Pipeline::input_lens`] and [`Pipeline::factor_widths`] give.
    pub fn run_rows(&self, (params, prepared): (&[&[f32]], &Prepared), rows: &Rows) -> Vec<f32> {
        self.check(rows);
        let image_out = self.output_len().max(1);
        let prepared = &prepared.0;
        assert_eq!(
            prepared.len(),
            self.steps.len(),
            "pipeline: prepared weights"
        );
        let per_task = rows.rows.div_ceil(4 * rayon::current_num_threads()).max(1);
        let mut y = vec![0.0; rows.rows * self.output_len()];
        y.par_chunks_mut(per_task * image_out)
            .enumerate()
            .for_each(|(task, y)| {
                let pooled = self.pool.lock().ok().and_then(|mut pool| pool.pop());
                let mut s = pooled.unwrap_or_else(|| self.scratch());
                for (r, y) in y.chunks_mut(image_out).enumerate() {
                    let row = task * per_task + r;
                    self.image(params, prepared, (rows, row), y, &mut s);
                }
                if let Ok(mut pool) = self.pool.lock() {
                    pool.push(s);
                }
            });
        y
    }

    /// Panics unless `rows` has an array of the right length for every input and factor node.
    fn check(&self, rows: &Rows) {
        let arrays = |lens: &[usize], arrays: &[&[f32]], count: usize, what: &str| {
            assert_eq!(lens.len(), arrays.len(), "pipeline: {what} arrays");
            for (len, a) in lens.iter().zip(arrays) {
                assert_eq!(a.len(), len * count, "pipeline: length of {what}");
            }
        };
        arrays(&self.input_lens(), rows.inputs, rows.samples, "input");
        arrays(&self.factors, rows.factors, rows.rows, "factor");
        assert!(
            rows.samples > 0 || rows.rows == 0,
            "pipeline: rows of no sample"
        );
    }

    fn scratch(&self) -> Scratch {
        let convs = self.steps.iter().filter_map(|s| s.conv.as_ref());
        let dense = convs.map(conv::Conv::dense_len).max().unwrap_or(0);
        // Debug builds start from NaN, so that tests see a border left uncleared.
        let fill = if cfg!(debug_assertions) {
            f32::NAN
        } else {
            0.0
        };
        Scratch {
            buffers: vec![vec![fill; self.buffers.1]; self.buffers.0],
            edges: vec![None; self.buffers.0],
            dense: [vec![0.0; dense], vec![0.0; dense]],
            convs: self
                .steps
                .iter()
                .map(|s| s.conv.as_ref().map(conv::Conv::scratch))
                .collect(),
        }
    }

    /// Row `row` of `rows` through every step, its output into `y`.
    fn image(
        &self,
        params: &[&[f32]],
        prepared: &[Option<Vec<f32>>],
        (rows, row): (&Rows, usize),
        y: &mut [f32],
        s: &mut Scratch,
    ) {
        let sample = row % rows.samples;
        for (i, (step, prepared)) in self.steps.iter().zip(prepared).enumerate() {
            if let (Node::Input { .. }, Some(k)) = (&step.node, step.source) {
                let len = self.inputs[k].dense_len();
                let x = &rows.inputs[k][sample * len..][..len];
                self.inputs[k].pack(x, &mut s.buffers[step.output]);
                let edges = &mut s.edges[step.output];
                *edges = self.inputs[k].frame().map(|f| f.edges_after(*edges));
                continue;
            }
            let factors = step.source.map_or(&[][..], |f| {
                let width = self.factors[f];
                &rows.factors[f][row * width..][..width]
            });
            let weights = (params, prepared.as_deref());
            let (earlier, own) = s.convs.split_at_mut(i);
            let split = step.split_from.and_then(|j| earlier[j].as_ref());
            let scratch = (own[0].as_mut(), split);
            let buffers = (&mut s.buffers[..], &mut s.edges[step.output]);
            step.run(weights, factors, scratch, buffers, &mut s.dense);
        }
        let (slot, value) = self.output;
        value.unpack(&s.buffers[slot], y);
    }
}
