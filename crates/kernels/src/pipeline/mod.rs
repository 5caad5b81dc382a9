//! Inference of a whole network one image at a time, every activation in the framed layout
//! (`frame.rs`), so that an image's activations stay in its core's cache from the first layer
//! to the last and no layer pays for a padding copy or a copy out of the wide layout.
//! Convolutions read and write frames (`conv`). `plan` folds a residual add into the
//! convolution computed last of its two inputs, which adds the other as it stores, and a
//! ReLU into the layer it alone reads, and shares buffers between activations whose
//! lifetimes do not overlap (a ReLU, add or flatten writes over an input it reads last);
//! `step` runs one node on one image.

mod conv;
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
            Value::Flat(n) => Activation::Relu.apply(&mut buffer[..*n]),
        }
    }
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
        let values = plan::shapes(input, nodes)?;
        let mut uses = vec![0; nodes.len()];
        nodes
            .iter()
            .flat_map(|(_, ins)| ins)
            .for_each(|i| uses[*i] += 1);
        uses[output] += 1;
        let fused = plan::fuse(nodes, &uses, &values);
        let (steps, slot, count) = plan::allocate(nodes, &values, &uses, &fused);
        let output = fused.owner[output];
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
        // Debug builds start from NaN, so that tests see a border left uncleared.
        let fill = if cfg!(debug_assertions) {
            f32::NAN
        } else {
            0.0
        };
        Scratch {
            buffers: vec![vec![fill; self.buffers.1]; self.buffers.0],
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
            if step.node == Node::Input {
                self.input.pack(x, &mut s.buffers[step.output]);
                continue;
            }
            let weights = (params, prepared.as_deref());
            step.run(weights, conv.as_mut(), &mut s.buffers, &mut s.dense);
        }
        let (slot, value) = self.output;
        match value {
            Value::Framed(frame) => frame.unpack(&s.buffers[slot], y),
            Value::Flat(n) => y.copy_from_slice(&s.buffers[slot][..n]),
        }
    }
}
