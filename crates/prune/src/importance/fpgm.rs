//! FPGM (He et al. 2019, "Filter Pruning via Geometric Median"): a filter close to the
//! geometric median of its layer's filters does what the others can already do together, so it
//! is redundant. A filter's score is the sum of its Euclidean distances to every other filter
//! of the layer (the quantity the geometric median minimises): small means redundant.

use super::weights::{score_members, weight_members};
use super::{Importance, Reduction, ScoreContext};
use crate::{ChannelGroup, PruneError};

/// Sum of distances from each filter to the layer's other filters.
#[derive(Clone, Debug)]
pub struct Fpgm {
    reduction: Reduction,
}

impl Fpgm {
    pub fn new(reduction: Reduction) -> Self {
        Self { reduction }
    }
}

impl Importance for Fpgm {
    fn name(&self) -> String {
        "fpgm".into()
    }

    fn score_group(
        &mut self,
        ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        score_members(
            ctx.graph,
            group,
            weight_members(group),
            self.reduction,
            distance_sums,
        )
    }
}

/// For each vector, the sum of its Euclidean distances to all the others.
pub(crate) fn distance_sums(vectors: &[Vec<f32>]) -> Vec<f32> {
    let n = vectors.len();
    let mut sums = vec![0f64; n];
    for i in 0..n {
        for j in i + 1..n {
            let d = squared_distance(&vectors[i], &vectors[j]).sqrt();
            sums[i] += d;
            sums[j] += d;
        }
    }
    sums.into_iter().map(|s| s as f32).collect()
}

pub(crate) fn squared_distance(a: &[f32], b: &[f32]) -> f64 {
    // Eight f32 lanes summed separately vectorise; each lane's partial sum stays short.
    let mut lanes = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            lanes[i] += d * d;
        }
    }
    lanes.iter().map(|&l| l as f64).sum::<f64>() + tail as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_at_the_median_scores_lowest() {
        // Four corners of a square and its centre: the centre is the geometric median.
        let v = vec![
            vec![0.0, 0.0],
            vec![2.0, 0.0],
            vec![1.0, 1.0],
            vec![0.0, 2.0],
            vec![2.0, 2.0],
        ];
        let s = distance_sums(&v);
        let min = (0..5).min_by(|&a, &b| s[a].total_cmp(&s[b])).unwrap();
        assert_eq!(min, 2);
        assert!((s[2] - 4.0 * 2f32.sqrt()).abs() < 1e-5);
        assert!((s[0] - (2.0 + 2.0 + 2.0 * 2f32.sqrt() + 2f32.sqrt())).abs() < 1e-5);
    }
}
