//! Seeded weight initialisation for built-in architectures, following PyTorch's schemes.

use crate::limits::tensor_elements;
use crate::{Array, BatchNorm2d, Conv2d, Graph, IrError, Linear, Op};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// A seeded source of initial weights. A weight over [`MAX_TENSOR_ELEMENTS`] elements (an
/// input shape too large for the architecture) is not allocated: it is left empty and the
/// first such error is kept, for [`Init::finish`].
pub struct Init {
    rng: StdRng,
    oversized: Option<IrError>,
}

impl Init {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            oversized: None,
        }
    }

    /// The graph built with these weights, or the error of the first oversized weight.
    pub fn finish(self, graph: Graph) -> Result<Graph, IrError> {
        self.oversized.map_or(Ok(graph), Err)
    }

    /// `n` values from `value`, or none when `shape` is over the limit (recorded).
    fn values(&mut self, shape: &[usize], mut value: impl FnMut(&mut StdRng) -> f32) -> Vec<f32> {
        match tensor_elements("a weight of the built-in architecture", shape) {
            Ok(n) => (0..n).map(|_| value(&mut self.rng)).collect(),
            Err(e) => {
                self.oversized.get_or_insert(e);
                Vec::new()
            }
        }
    }

    /// A `k`x`k` conv, no bias, Kaiming-normal weights (fan-out, ReLU gain) as torchvision
    /// initialises its CNNs; padding `k / 2` keeps the spatial size at stride 1.
    pub fn conv(
        &mut self,
        in_ch: usize,
        out_ch: usize,
        k: usize,
        stride: usize,
        groups: usize,
    ) -> Conv2d {
        // PyTorch's fan-out is `weight.size(0) * kh * kw`, whatever the groups.
        let fan_out = (out_ch * k * k) as f32;
        let std = (2.0 / fan_out).sqrt();
        let shape = vec![out_ch, in_ch / groups, k, k];
        let data = self.values(&shape, |rng| std * normal(rng));
        Conv2d {
            weight: Self::array(shape, data),
            bias: None,
            stride: [stride, stride],
            padding: [k / 2; 4],
            dilation: [1, 1],
            groups,
        }
    }

    /// A conv with a bias, PyTorch's default init (uniform in ±1/sqrt(fan_in)).
    pub fn conv_with_bias(
        &mut self,
        in_ch: usize,
        out_ch: usize,
        k: usize,
        padding: usize,
    ) -> Conv2d {
        let bound = 1.0 / ((in_ch * k * k) as f32).sqrt();
        let weight = self.uniform(vec![out_ch, in_ch, k, k], bound);
        let bias = Some(self.uniform(vec![out_ch], bound));
        Conv2d {
            weight,
            bias,
            stride: [1, 1],
            padding: [padding; 4],
            dilation: [1, 1],
            groups: 1,
        }
    }

    /// A linear layer with PyTorch's default init (uniform in ±1/sqrt(in)).
    pub fn linear(&mut self, in_features: usize, out_features: usize) -> Linear {
        let bound = 1.0 / (in_features as f32).sqrt();
        Linear {
            weight: self.uniform(vec![out_features, in_features], bound),
            bias: Some(self.uniform(vec![out_features], bound)),
        }
    }

    fn uniform(&mut self, shape: Vec<usize>, bound: f32) -> Array {
        let data = self.values(&shape, |rng| rng.random_range(-bound..bound));
        Self::array(shape, data)
    }

    /// An array of `values`, which are empty (not the shape's length) when the weight was
    /// too large to allocate: [`Init::finish`] then reports it, so nothing may check here.
    fn array(shape: Vec<usize>, data: Vec<f32>) -> Array {
        Array {
            shape,
            data,
            mask: None,
        }
    }
}

/// A standard normal sample (Box–Muller).
fn normal(rng: &mut StdRng) -> f32 {
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

impl Graph {
    /// A copy with fresh seeded weights, as the built-in architectures start: Kaiming-normal
    /// convolutions (fan-out, ReLU gain) with zero biases, PyTorch's default linear layers,
    /// identity batch and layer norms. Masks stay, and masked weights stay zero: training a
    /// pruned architecture, or a sparsity pattern, from scratch (Liu et al. 2019).
    pub fn reinitialised(&self, seed: u64) -> Graph {
        let mut init = Init::new(seed);
        let mut graph = self.clone();
        for node in &mut graph.nodes {
            match &mut node.op {
                Op::Conv2d(c) => {
                    let fan_out = (c.out_channels() * c.kernel()[0] * c.kernel()[1]) as f32;
                    init.refill(&mut c.weight, |rng| (2.0 / fan_out).sqrt() * normal(rng));
                    c.bias.iter_mut().for_each(|b| b.data.fill(0.0));
                }
                Op::ConvTranspose2d(c) => {
                    let fan_in = c.weight.row_len() as f32;
                    let bound = 1.0 / fan_in.sqrt();
                    init.refill(&mut c.weight, |rng| rng.random_range(-bound..bound));
                    c.bias.iter_mut().for_each(|b| b.data.fill(0.0));
                }
                Op::Linear(l) => {
                    let bound = 1.0 / (l.weight.shape[1] as f32).sqrt();
                    init.refill(&mut l.weight, |rng| rng.random_range(-bound..bound));
                    if let Some(b) = &mut l.bias {
                        init.refill(b, |rng| rng.random_range(-bound..bound));
                    }
                }
                Op::BatchNorm2d(bn) => {
                    let momentum = bn.momentum;
                    *bn = BatchNorm2d {
                        eps: bn.eps,
                        momentum,
                        ..BatchNorm2d::identity(bn.channels())
                    };
                }
                Op::LayerNorm(ln) => {
                    ln.scale.data.fill(1.0);
                    ln.bias.data.fill(0.0);
                }
                _ => {}
            }
        }
        graph
    }
}

impl Init {
    /// Draws every value of `array` afresh from `value`, keeping its mask (masked values 0).
    fn refill(&mut self, array: &mut Array, mut value: impl FnMut(&mut StdRng) -> f32) {
        for (i, v) in array.data.iter_mut().enumerate() {
            let kept = array.mask.as_ref().is_none_or(|m| m[i]);
            let drawn = value(&mut self.rng);
            *v = if kept { drawn } else { 0.0 };
        }
    }
}
