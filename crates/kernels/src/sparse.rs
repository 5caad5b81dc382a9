//! Inference kernels that skip zero weights: what unstructured, N:M and stripe pruning buy on
//! a CPU with no sparse hardware. The weights are kept in compressed rows (each output
//! channel's non-zeros, with where they read), built once per layer.
//!
//! The convolution is Park et al.'s direct sparse convolution (2017): every non-zero weight
//! adds its input plane, shifted, to its output plane. The padded input is split by stride
//! phase, so that the shifted plane is one contiguous run (rows `Wp` apart, as in
//! [`crate::wide`]) at any stride, and each weight is one long vectorised `y += w * x`; the
//! columns past the output width are computed and dropped. The matrix product multiplies the compressed rows by the transposed input, each
//! weight scaling a row of the batch (small batches take sparse dot products instead).

use crate::Conv2d;
use crate::wide::Wide;
use rayon::prelude::*;

/// Output positions one register tile of the stride-1 convolution sums (four AVX-512
/// registers).
const TILE: usize = 64;

// The wide layout's padded input leaves room for the direct kernel's widest tile past the
// last shifted run; the sparse convolution's tiles read into that room too.
const _: () = assert!(TILE <= crate::direct::MAX_TILE);

/// One layer's non-zero weights by output channel.
#[derive(Clone, Debug, PartialEq)]
struct Rows {
    /// `start[o]..start[o + 1]` indexes output `o`'s non-zeros.
    start: Vec<usize>,
    /// Where each non-zero reads: an offset into the (padded) input of one sample.
    offsets: Vec<usize>,
    values: Vec<f32>,
}

impl Rows {
    /// The non-zeros of `rows` rows of `weight`, each at `offset(row, column)`.
    fn of(weight: &[f32], rows: usize, offset: impl Fn(usize, usize) -> usize) -> Self {
        let cols = weight.len() / rows;
        let mut r = Rows {
            start: vec![0],
            offsets: Vec::new(),
            values: Vec::new(),
        };
        for (o, row) in weight.chunks(cols).enumerate() {
            for (i, &w) in row.iter().enumerate().filter(|(_, w)| **w != 0.0) {
                r.offsets.push(offset(o, i));
                r.values.push(w);
            }
            r.start.push(r.offsets.len());
        }
        r
    }

    fn row(&self, o: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let range = self.start[o]..self.start[o + 1];
        self.offsets[range.clone()]
            .iter()
            .copied()
            .zip(self.values[range].iter().copied())
    }
}

/// A convolution that multiplies by its non-zero weights only.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseConv2d {
    conv: Conv2d,
    rows: Rows,
}

impl SparseConv2d {
    /// `weight` is `[out_channels, in_channels / groups, kh, kw]`; `conv.batch` is ignored
    /// (each call gives its own).
    pub fn new(conv: Conv2d, weight: &[f32]) -> Self {
        let [kh, kw] = conv.kernel;
        let layout = Wide::of(&conv);
        let (group_in, group_out) = (conv.group_in(), conv.group_out());
        let rows = Rows::of(weight, conv.out_channels, |o, i| {
            let c = (o / group_out) * group_in + i / (kh * kw);
            let tap = [i / kw % kh, i % kw];
            layout.offset(c, std::array::from_fn(|a| tap[a] * conv.dilation[a]))
        });
        Self { conv, rows }
    }

    /// Non-zero weights.
    pub fn nonzeros(&self) -> usize {
        self.rows.values.len()
    }

    /// `y = conv(x) + bias` for `batch` samples; `x` and `y` are NCHW.
    pub fn forward(&self, x: &[f32], batch: usize, bias: Option<&[f32]>, y: &mut [f32]) {
        let conv = Conv2d { batch, ..self.conv };
        let [oh, ow] = conv.out_size();
        let layout = Wide::of(&conv);
        let (image, len) = (conv.in_channels * conv.plane(), layout.image_len(&conv));
        let mut phases = vec![0.0; batch * len];
        phases
            .par_chunks_mut(len)
            .zip(x.par_chunks(image))
            .for_each(|(p, x)| layout.pad_image(&conv, x, p));
        y.par_chunks_mut(oh * ow)
            .enumerate()
            .for_each_init(Vec::new, |wide, (i, y)| {
                let (n, o) = (i / conv.out_channels, i % conv.out_channels);
                let input = &phases[n * len..(n + 1) * len];
                let b = bias.map_or(0.0, |b| b[o]);
                self.output(input, o, [oh, ow, layout.width()], b, wide, y);
            });
    }

    /// Output plane `o`: one shifted run per weight over `oh` rows of `wp` columns of its
    /// phase plane, of which the first `ow` are kept. The runs are summed a register tile at
    /// a time, so the partial sums stay in registers across the weights.
    fn output(
        &self,
        input: &[f32],
        o: usize,
        [oh, ow, wp]: [usize; 3],
        bias: f32,
        wide: &mut Vec<f32>,
        y: &mut [f32],
    ) {
        wide.clear();
        wide.resize((oh * wp).next_multiple_of(TILE), bias);
        let range = self.rows.start[o]..self.rows.start[o + 1];
        let (offsets, values) = (&self.rows.offsets[range.clone()], &self.rows.values[range]);
        for (t, tile) in wide.chunks_exact_mut(TILE).enumerate() {
            let tile: &mut [f32; TILE] = tile.try_into().expect("a whole tile");
            sum_runs(input, offsets, values, t * TILE, tile);
        }
        for (y, row) in y.chunks_mut(ow).zip(wide.chunks(wp)) {
            y.copy_from_slice(&row[..ow]);
        }
    }
}

/// Adds `w * input[offset + start..][..TILE]` to `acc` for every weight `w` at its offset,
/// with fused multiply-adds in AVX-512 registers where the CPU has them.
fn sum_runs(input: &[f32], offsets: &[usize], values: &[f32], start: usize, acc: &mut [f32; TILE]) {
    #[cfg(target_arch = "x86_64")]
    if crate::direct::available() {
        // SAFETY: the CPU has AVX-512 (and with it FMA).
        return unsafe { sum_runs_avx512(input, offsets, values, start, acc) };
    }
    sum_runs_with::<false>(input, offsets, values, start, acc);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sum_runs_avx512(
    input: &[f32],
    offsets: &[usize],
    values: &[f32],
    start: usize,
    acc: &mut [f32; TILE],
) {
    sum_runs_with::<true>(input, offsets, values, start, acc);
}

/// [`sum_runs`], compiled for the caller's target features; `FUSED` where `mul_add` is one
/// instruction.
#[inline(always)]
fn sum_runs_with<const FUSED: bool>(
    input: &[f32],
    offsets: &[usize],
    values: &[f32],
    start: usize,
    acc: &mut [f32; TILE],
) {
    let mut sum = *acc;
    for (&offset, &w) in offsets.iter().zip(values) {
        let x: &[f32; TILE] = input[offset + start..offset + start + TILE]
            .try_into()
            .expect("a whole tile");
        for (a, &x) in sum.iter_mut().zip(x) {
            *a = if FUSED { w.mul_add(x, *a) } else { *a + w * x };
        }
    }
    *acc = sum;
}

/// A fully connected layer that multiplies by its non-zero weights only.
#[derive(Clone, Debug, PartialEq)]
pub struct SparseLinear {
    in_features: usize,
    out_features: usize,
    rows: Rows,
}

impl SparseLinear {
    /// `weight` is `[out_features, in_features]`.
    pub fn new(weight: &[f32], out_features: usize) -> Self {
        let in_features = weight.len() / out_features;
        Self {
            in_features,
            out_features,
            rows: Rows::of(weight, out_features, |_, i| i),
        }
    }

    pub fn nonzeros(&self) -> usize {
        self.rows.values.len()
    }

    /// `y = x W^T + bias` for `x` of `[batch, in_features]`, `y` of `[batch, out_features]`.
    pub fn forward(&self, x: &[f32], batch: usize, bias: Option<&[f32]>, y: &mut [f32]) {
        if batch < TILE {
            return self.forward_rows(x, bias, y);
        }
        // Inputs by feature, the batch padded to whole tiles, so that each weight scales
        // contiguous runs of the batch.
        let width = batch.next_multiple_of(TILE);
        let mut xt = vec![0.0; self.in_features * width + TILE];
        for (b, row) in x.chunks(self.in_features).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                xt[i * width + b] = v;
            }
        }
        let mut yt = vec![0.0; width * self.out_features];
        yt.par_chunks_mut(width).enumerate().for_each(|(o, acc)| {
            let range = self.rows.start[o]..self.rows.start[o + 1];
            let (offsets, values) = (&self.rows.offsets[range.clone()], &self.rows.values[range]);
            let offsets: Vec<usize> = offsets.iter().map(|i| i * width).collect();
            for (t, tile) in acc.chunks_exact_mut(TILE).enumerate() {
                let tile: &mut [f32; TILE] = tile.try_into().expect("a whole tile");
                tile.fill(bias.map_or(0.0, |b| b[o]));
                sum_runs(&xt, &offsets, values, t * TILE, tile);
            }
        });
        for (o, acc) in yt.chunks(width).enumerate() {
            for (b, &v) in acc[..batch].iter().enumerate() {
                y[b * self.out_features + o] = v;
            }
        }
    }

    /// [`SparseLinear::forward`] for small batches: one sparse dot product per output,
    /// sample by sample.
    fn forward_rows(&self, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        for (x, y) in x
            .chunks(self.in_features)
            .zip(y.chunks_mut(self.out_features))
        {
            for (o, y) in y.iter_mut().enumerate() {
                let dot: f32 = self.rows.row(o).map(|(i, w)| w * x[i]).sum();
                *y = bias.map_or(0.0, |b| b[o]) + dot;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A direct loop over every weight, the reference.
    fn naive_conv(conv: &Conv2d, x: &[f32], w: &[f32], bias: &[f32]) -> Vec<f32> {
        let [oh, ow] = conv.out_size();
        let [kh, kw] = conv.kernel;
        let [h, wd] = conv.in_size;
        let (gi, go) = (conv.group_in(), conv.group_out());
        let mut y = vec![0.0; conv.batch * conv.out_channels * oh * ow];
        for n in 0..conv.batch {
            for o in 0..conv.out_channels {
                for r in 0..oh {
                    for c in 0..ow {
                        let mut acc = bias[o];
                        for i in 0..gi {
                            let ch = (o / go) * gi + i;
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let yy = (r * conv.stride[0] + ky * conv.dilation[0]) as isize
                                        - conv.padding[0].0 as isize;
                                    let xx = (c * conv.stride[1] + kx * conv.dilation[1]) as isize
                                        - conv.padding[1].0 as isize;
                                    if yy < 0 || xx < 0 || yy >= h as isize || xx >= wd as isize {
                                        continue;
                                    }
                                    let xv = x[((n * conv.in_channels + ch) * h + yy as usize)
                                        * wd
                                        + xx as usize];
                                    acc += w[((o * gi + i) * kh + ky) * kw + kx] * xv;
                                }
                            }
                        }
                        y[((n * conv.out_channels + o) * oh + r) * ow + c] = acc;
                    }
                }
            }
        }
        y
    }

    fn close(a: &[f32], b: &[f32]) -> Result<(), TestCaseError> {
        prop_assert_eq!(a.len(), b.len());
        for (a, b) in a.iter().zip(b) {
            prop_assert!((a - b).abs() <= 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
        }
        Ok(())
    }

    /// Random values with about `density` of them non-zero.
    fn sparse_values(len: usize, density: f64, seed: u64) -> Vec<f32> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..len)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (state >> 11) as f64 / (1u64 << 53) as f64;
                match u < density {
                    true => (u / density * 2.0 - 1.0) as f32,
                    false => 0.0,
                }
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn sparse_conv_equals_the_dense_loop(
            batch in 1usize..3, groups in 1usize..3, per_group in 1usize..4,
            out_per_group in 1usize..4, h in 3usize..9, w in 3usize..9,
            k in 1usize..4, stride in 1usize..3, dilation in 1usize..3, pad in 0usize..3,
            density in 0.0f64..1.0, seed in 0u64..1000,
        ) {
            let span = dilation * (k - 1) + 1;
            prop_assume!(h + 2 * pad >= span && w + 2 * pad >= span);
            let conv = Conv2d {
                batch,
                in_channels: groups * per_group,
                in_size: [h, w],
                out_channels: groups * out_per_group,
                kernel: [k, k],
                stride: [stride, stride],
                padding: [(pad, pad), (pad, pad + 1)],
                dilation: [dilation, dilation],
                groups,
            };
            let [xl, wl, yl] = conv.lens();
            let x = sparse_values(xl, 1.0, seed);
            let weight = sparse_values(wl, density, seed + 1);
            let bias = sparse_values(conv.out_channels, 1.0, seed + 2);
            let sparse = SparseConv2d::new(conv, &weight);
            prop_assert_eq!(sparse.nonzeros(), weight.iter().filter(|v| **v != 0.0).count());
            let mut y = vec![f32::NAN; yl];
            sparse.forward(&x, batch, Some(&bias), &mut y);
            close(&y, &naive_conv(&conv, &x, &weight, &bias))?;
        }

        #[test]
        fn sparse_linear_equals_the_dense_product(
            batch in prop_oneof![1usize..5, 60usize..140], inputs in 1usize..40, outputs in 1usize..20,
            density in 0.0f64..1.0, seed in 0u64..1000,
        ) {
            let x = sparse_values(batch * inputs, 1.0, seed);
            let weight = sparse_values(outputs * inputs, density, seed + 1);
            let bias = sparse_values(outputs, 1.0, seed + 2);
            let mut y = vec![f32::NAN; batch * outputs];
            SparseLinear::new(&weight, outputs).forward(&x, batch, Some(&bias), &mut y);
            let want: Vec<f32> = (0..batch * outputs)
                .map(|j| {
                    let (b, o) = (j / outputs, j % outputs);
                    bias[o] + (0..inputs).map(|i| weight[o * inputs + i] * x[b * inputs + i]).sum::<f32>()
                })
                .collect();
            close(&y, &want)?;
        }
    }
}
