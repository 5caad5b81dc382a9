//! HRank (Lin et al. 2020): channels whose feature maps have a high rank carry more
//! information. A channel's score is the numerical rank of its `H x W` map, averaged over the
//! scoring images and its group's observed layers.
//!
//! The rank is numerical, as HRank's `torch.matrix_rank`: directions below a tolerance of
//! `max(H, W) * eps(f32)` times the matrix's size count as zero. It is found by Gaussian
//! elimination with complete pivoting in `f64`, which reveals the rank of such maps at a tenth
//! of an SVD's cost; the tests check it against the singular values (Jacobi on the Gram matrix).

use super::probe::{Accumulator, ScoreData, observe};
use super::{GroupScores, Importance, Reduction, ScoreContext};
use crate::{ChannelGroup, PruneError};

/// Average feature-map rank.
pub struct HRank {
    data: ScoreData,
    reduction: Reduction,
}

impl HRank {
    pub fn new(data: ScoreData, reduction: Reduction) -> Self {
        Self { data, reduction }
    }
}

impl Importance for HRank {
    fn name(&self) -> String {
        "hrank".into()
    }

    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        let mut sums = Accumulator::new(groups);
        observe(ctx.graph, &self.data, groups, false, |g, t, dims, obs| {
            let (rows, cols) = obs.map_dims(dims);
            let acc = sums.batch(g, t, groups[g].channels);
            for (c, slot) in acc.iter_mut().enumerate() {
                let total: usize = (0..obs.n)
                    .map(|s| matrix_rank(&obs.values[obs.range(s, c)], rows, cols))
                    .sum();
                *slot += total as f64 / obs.n as f64;
            }
        })?;
        Ok(sums.finish(false, self.reduction))
    }
}

/// The numerical rank of the row-major `rows x cols` matrix `a`: the number of pivots of
/// Gaussian elimination with complete pivoting above `max(rows, cols) * f32::EPSILON * |A|_F`.
pub fn matrix_rank(a: &[f32], rows: usize, cols: usize) -> usize {
    debug_assert_eq!(a.len(), rows * cols);
    let mut m: Vec<f64> = a.iter().map(|&v| v as f64).collect();
    let frobenius = m.iter().map(|v| v * v).sum::<f64>().sqrt();
    let tol = rows.max(cols) as f64 * f32::EPSILON as f64 * frobenius;
    let mut row_of: Vec<usize> = (0..rows).collect();
    let mut col_of: Vec<usize> = (0..cols).collect();
    for step in 0..rows.min(cols) {
        // The largest remaining entry becomes the pivot.
        let mut best = (0.0, step, step);
        for (ri, &r) in row_of.iter().enumerate().skip(step) {
            for (ci, &c) in col_of.iter().enumerate().skip(step) {
                let v = m[r * cols + c].abs();
                if v > best.0 {
                    best = (v, ri, ci);
                }
            }
        }
        if best.0 <= tol {
            return step;
        }
        row_of.swap(step, best.1);
        col_of.swap(step, best.2);
        let (pr, pc) = (row_of[step], col_of[step]);
        let pivot = m[pr * cols + pc];
        for &r in &row_of[step + 1..] {
            let factor = m[r * cols + pc] / pivot;
            if factor != 0.0 {
                for &c in &col_of[step..] {
                    m[r * cols + c] -= factor * m[pr * cols + c];
                }
            }
        }
    }
    rows.min(cols)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `rows x cols` of rank `r`: a product of random `rows x r` and `r x cols` factors.
    fn low_rank(rows: usize, cols: usize, r: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let u: Vec<f32> = (0..rows * r).map(|_| next()).collect();
        let v: Vec<f32> = (0..r * cols).map(|_| next()).collect();
        (0..rows * cols)
            .map(|e| {
                let (i, j) = (e / cols, e % cols);
                (0..r).map(|k| u[i * r + k] * v[k * cols + j]).sum()
            })
            .collect()
    }

    /// The reference: the singular values of `a` from the eigenvalues of the Gram matrix
    /// `A^T A` in `f64`, with the tolerance NumPy and PyTorch use by default,
    /// `max(rows, cols) * eps(f32) * sigma_max`.
    fn singular_values(a: &[f32], rows: usize, cols: usize) -> (Vec<f64>, f64) {
        let entry = |i: usize, j: usize| -> f64 {
            (0..rows)
                .map(|r| a[r * cols + i] as f64 * a[r * cols + j] as f64)
                .sum()
        };
        let gram: Vec<f64> = (0..cols * cols)
            .map(|e| entry(e / cols, e % cols))
            .collect();
        let sigma: Vec<f64> = symmetric_eigenvalues(gram, cols)
            .iter()
            .map(|e| e.max(0.0).sqrt())
            .collect();
        let max = sigma.iter().copied().fold(0.0, f64::max);
        let tol = rows.max(cols) as f64 * f32::EPSILON as f64 * max;
        (sigma, tol)
    }

    /// The ranks the singular values allow: a value within a factor of ten of the tolerance
    /// is f32 rounding noise or signal, and either answer is right for it.
    fn rank_bracket(a: &[f32], rows: usize, cols: usize) -> std::ops::RangeInclusive<usize> {
        let (sigma, tol) = singular_values(a, rows, cols);
        let above = |t: f64| sigma.iter().filter(|&&s| s > t).count();
        above(10.0 * tol)..=above(tol / 10.0)
    }

    /// Eigenvalues of the symmetric `k x k` matrix `m` by cyclic Jacobi rotations.
    fn symmetric_eigenvalues(mut m: Vec<f64>, k: usize) -> Vec<f64> {
        for _sweep in 0..100 {
            let off: f64 = (0..k * k)
                .filter(|e| e / k != e % k)
                .map(|e| m[e] * m[e])
                .sum();
            let diag: f64 = (0..k).map(|i| m[i * k + i] * m[i * k + i]).sum();
            if off <= 1e-30 * diag {
                break;
            }
            for p in 0..k {
                for q in p + 1..k {
                    let apq = m[p * k + q];
                    if apq == 0.0 {
                        continue;
                    }
                    let theta = (m[q * k + q] - m[p * k + p]) / (2.0 * apq);
                    let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                    let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                    let c = 1.0 / (t * t + 1.0).sqrt();
                    let s = t * c;
                    for r in 0..k {
                        let (mrp, mrq) = (m[r * k + p], m[r * k + q]);
                        m[r * k + p] = c * mrp - s * mrq;
                        m[r * k + q] = s * mrp + c * mrq;
                    }
                    for r in 0..k {
                        let (mpr, mqr) = (m[p * k + r], m[q * k + r]);
                        m[p * k + r] = c * mpr - s * mqr;
                        m[q * k + r] = s * mpr + c * mqr;
                    }
                }
            }
        }
        (0..k).map(|i| m[i * k + i]).collect()
    }

    proptest! {
        #[test]
        fn the_rank_of_a_product_is_its_inner_dimension(
            rows in 1usize..20, cols in 1usize..20, r in 1usize..8, seed in any::<u64>()
        ) {
            let r = r.min(rows).min(cols);
            let a = low_rank(rows, cols, r, seed);
            let bracket = rank_bracket(&a, rows, cols);
            prop_assert!(bracket.contains(&r), "{r} outside {bracket:?}");
            prop_assert!(bracket.contains(&matrix_rank(&a, rows, cols)));
        }

        #[test]
        fn elimination_agrees_with_singular_values_on_relu_maps(
            size in 2usize..16, r in 1usize..6, seed in any::<u64>()
        ) {
            let a: Vec<f32> = low_rank(size, size, r.min(size), seed)
                .into_iter()
                .map(|v| v.max(0.0))
                .collect();
            let (rank, bracket) = (matrix_rank(&a, size, size), rank_bracket(&a, size, size));
            prop_assert!(bracket.contains(&rank), "{rank} outside {bracket:?}");
        }
    }

    #[test]
    fn special_matrices() {
        assert_eq!(matrix_rank(&[0.0; 12], 3, 4), 0);
        let identity: Vec<f32> = (0..25).map(|i| f32::from(u8::from(i % 6 == 0))).collect();
        assert_eq!(matrix_rank(&identity, 5, 5), 5);
        // A ReLU map with a single non-zero row has rank one.
        let mut m = vec![0.0; 28 * 28];
        m[28 * 3..28 * 4].iter_mut().for_each(|v| *v = 0.7);
        assert_eq!(matrix_rank(&m, 28, 28), 1);
    }
}
