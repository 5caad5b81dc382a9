//! Batch normalisation in training mode on NCHW `f32` slices: batch statistics, the
//! normalised output and the three gradients, each in two passes over the data.

use crate::activation::{Activation, relu, relu_gate};
use crate::buffer::written;
use crate::reduce::{sum, sum_pairs};
use rayon::prelude::*;

/// The layout of one batch-norm input: `[batch, channels, plane]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchNorm {
    pub batch: usize,
    pub channels: usize,
    /// Elements per channel per image (H x W).
    pub plane: usize,
}

/// The gradients of a batch-norm layer.
pub struct BatchNormGrads {
    pub x: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

impl BatchNorm {
    fn len(&self) -> usize {
        self.batch * self.channels * self.plane
    }

    /// Values averaged per channel.
    fn count(&self) -> f64 {
        (self.batch * self.plane) as f64
    }

    /// The values of channel `c`, image by image.
    fn channel<'a>(&self, x: &'a [f32], c: usize) -> impl Iterator<Item = &'a [f32]> {
        (0..self.batch).map(move |n| &x[(n * self.channels + c) * self.plane..][..self.plane])
    }

    /// Per channel, `f(c)` computed in parallel.
    fn per_channel<T: Send>(&self, f: impl Fn(usize) -> T + Sync + Send) -> Vec<T> {
        (0..self.channels).into_par_iter().map(&f).collect()
    }

    /// `out = f(coefficients[c], x, dy)` element by element for the values of channel `c`;
    /// images in parallel, the output written without a zero fill.
    fn per_element<K: Copy + Sync>(
        &self,
        x: &[f32],
        dy: &[f32],
        coefficients: &[K],
        f: impl Fn(K, f32, f32) -> f32 + Sync,
    ) -> Vec<f32> {
        assert!(
            x.len() == self.len() && dy.len() == self.len() && coefficients.len() == self.channels
        );
        let image = (self.channels * self.plane).max(1);
        let plane = self.plane.max(1);
        let fill = |out: &mut [f32]| {
            out.par_chunks_mut(image).enumerate().for_each(|(n, out)| {
                for ((c, out), k) in out.chunks_exact_mut(plane).enumerate().zip(coefficients) {
                    let start = (n * self.channels + c) * self.plane;
                    let (x, dy) = (&x[start..][..self.plane], &dy[start..][..self.plane]);
                    for ((out, x), dy) in out.iter_mut().zip(x).zip(dy) {
                        *out = f(*k, *x, *dy);
                    }
                }
            })
        };
        // SAFETY: the chunks cover the output (`batch` images of `channels` planes, one
        // coefficient per channel, as asserted) and each value is written, never read.
        unsafe { written(self.len(), fill) }
    }

    /// The normalised, scaled and shifted `x`, with the batch mean and (biased) variance.
    pub fn forward(
        &self,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        eps: f64,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        self.forward_then(x, [gamma, beta], eps, Activation::None)
    }

    /// [`BatchNorm::forward`] followed by `activation` in the same pass.
    pub fn forward_then(
        &self,
        x: &[f32],
        [gamma, beta]: [&[f32]; 2],
        eps: f64,
        activation: Activation,
    ) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        assert_eq!(x.len(), self.len(), "batch norm: input length");
        let stats = self.per_channel(|c| {
            let mean = self.channel(x, c).map(|x| sum(x, |v| v)).sum::<f64>() / self.count();
            let m = mean as f32;
            let var = self
                .channel(x, c)
                .map(|x| sum(x, |v| (v - m) * (v - m)))
                .sum::<f64>()
                / self.count();
            (m, var as f32)
        });
        let (mean, var): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
        let coefficients = output_coefficients([gamma, beta], [&mean, &var], eps);
        let y = match activation {
            Activation::None => self.per_element(x, x, &coefficients, |k, x, _| output(k, x)),
            Activation::Relu => self.per_element(x, x, &coefficients, |k, x, _| relu(output(k, x))),
        };
        (y, mean, var)
    }

    /// The gradients for `x`, `gamma` and `beta`, given the statistics [`BatchNorm::forward`]
    /// returned and the output gradient `dy`.
    pub fn backward(
        &self,
        x: &[f32],
        gamma: &[f32],
        [mean, var]: [&[f32]; 2],
        eps: f64,
        dy: &[f32],
    ) -> BatchNormGrads {
        let open = vec![(); self.channels];
        self.backward_gated(x, gamma, [mean, var], eps, dy, (&open, |_, _, dy| dy))
    }

    /// The gradients of [`BatchNorm::forward_then`] with `activation`: the output gradient
    /// `dy` passes back through the activation, whose output is recomputed from `x` exactly
    /// as the forward pass computed it, inside batch norm's own two passes.
    pub fn backward_then(
        &self,
        x: &[f32],
        [gamma, beta]: [&[f32]; 2],
        [mean, var]: [&[f32]; 2],
        eps: f64,
        dy: &[f32],
        activation: Activation,
    ) -> BatchNormGrads {
        match activation {
            Activation::None => self.backward(x, gamma, [mean, var], eps, dy),
            Activation::Relu => {
                let outputs = output_coefficients([gamma, beta], [mean, var], eps);
                let relu = |k, x, dy| relu_gate(output(k, x), dy);
                self.backward_gated(x, gamma, [mean, var], eps, dy, (&outputs, relu))
            }
        }
    }

    /// The gradients when the output gradient reaching batch norm is `gate(g[c], x, dy)` for
    /// a value `x` of channel `c`, with `(g, gate)` the gate's per-channel coefficients and
    /// function.
    fn backward_gated<G: Copy + Sync>(
        &self,
        x: &[f32],
        gamma: &[f32],
        [mean, var]: [&[f32]; 2],
        eps: f64,
        dy: &[f32],
        (gates, gate): (&[G], impl Fn(G, f32, f32) -> f32 + Sync),
    ) -> BatchNormGrads {
        assert!(
            x.len() == self.len() && dy.len() == self.len(),
            "batch norm: gradient length"
        );
        let inv_std: Vec<f32> = var
            .iter()
            .map(|v| (1.0 / (*v as f64 + eps).sqrt()) as f32)
            .collect();
        let sums = self.per_channel(|c| {
            let (mut beta, mut gamma) = (0.0f64, 0.0f64);
            let dy_of = |x, dy| gate(gates[c], x, dy);
            for (x, dy) in self.channel(x, c).zip(self.channel(dy, c)) {
                beta += sum_pairs(x, dy, dy_of);
                gamma += sum_pairs(x, dy, |x, dy| (x - mean[c]) * inv_std[c] * dy_of(x, dy));
            }
            (gamma as f32, beta as f32)
        });
        let (dgamma, dbeta): (Vec<f32>, Vec<f32>) = sums.into_iter().unzip();
        // dx = g * (dy - dbeta / count - xhat * dgamma / count), g = gamma / sigma, which is
        // affine in x and dy per channel.
        let count = self.count() as f32;
        let coefficients: Vec<([f32; 3], G)> = (0..self.channels)
            .map(|c| {
                let g = gamma[c] * inv_std[c];
                let a = -g * inv_std[c] * dgamma[c] / count;
                ([a, g, -g * dbeta[c] / count - a * mean[c]], gates[c])
            })
            .collect();
        let dx = self.per_element(x, dy, &coefficients, |([a, b, k], g), x, dy| {
            a * x + b * gate(g, x, dy) + k
        });
        BatchNormGrads {
            x: dx,
            gamma: dgamma,
            beta: dbeta,
        }
    }
}

/// The forward pass's output for one value: `y = scale * x + shift`, from
/// [`output_coefficients`].
fn output([scale, _, shift]: [f32; 3], x: f32) -> f32 {
    scale * x + shift
}

/// Per channel, the forward pass's `[scale, 0, shift]`.
fn output_coefficients(
    [gamma, beta]: [&[f32]; 2],
    [mean, var]: [&[f32]; 2],
    eps: f64,
) -> Vec<[f32; 3]> {
    mean.iter()
        .zip(var)
        .zip(gamma.iter().zip(beta))
        .map(|((mean, var), (g, b))| {
            let scale = g / (*var as f64 + eps).sqrt() as f32;
            [scale, 0.0, b - mean * scale]
        })
        .collect()
}
