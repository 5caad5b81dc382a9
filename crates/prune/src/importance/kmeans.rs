//! K-means clustering of filters, as in Ridurre (Sevilla et al.): the filters of a layer fall
//! into `k = ceil(n * clustering_factor)` clusters of similar filters; the filter nearest each
//! centroid stands for its cluster and is kept, the others are redundant.
//!
//! A channel's vector is its filters in every layer that computes it, concatenated (the
//! filters of all branches of a residual sum, say). Representatives score above 1 (more for
//! bigger clusters); the others score below 0.5, higher the farther they lie from their
//! centroid (a far member is less of a copy). Unless a clustering factor is fixed, `k` follows
//! the planner: removing a fraction `r` of a group's channels clusters it into
//! `ceil(n * (1 - r))`, so the channels removed are exactly the non-representatives.

use super::fpgm::squared_distance;
use super::weights::{member_vectors, weight_members};
use super::{Importance, ScoreContext};
use crate::{ChannelGroup, PruneError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MAX_ITERATIONS: usize = 50;

/// Ridurre's filter clustering.
#[derive(Clone, Debug)]
pub struct KMeans {
    seed: u64,
    /// Clusters per filter; `None` follows the planner's removal fraction.
    clustering_factor: Option<f64>,
}

impl KMeans {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            clustering_factor: None,
        }
    }

    /// Fixes `k = ceil(n * factor)` whatever the planner removes.
    pub fn with_clustering_factor(mut self, factor: f64) -> Self {
        self.clustering_factor = Some(factor);
        self
    }
}

impl Importance for KMeans {
    fn name(&self) -> String {
        "kmeans".into()
    }

    fn depends_on_plan(&self) -> bool {
        self.clustering_factor.is_none()
    }

    fn score_group(
        &mut self,
        ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        let mut vectors = vec![Vec::new(); group.channels];
        let mut any = false;
        for member in weight_members(group) {
            let v = member_vectors(ctx.graph, group, member)?;
            vectors
                .iter_mut()
                .zip(v)
                .for_each(|(acc, part)| acc.extend(part));
            any = true;
        }
        if !any {
            return Ok(None);
        }
        let n = group.channels;
        let k = match (self.clustering_factor, ctx.planned_count(group)) {
            (None, Some(removed)) => n.saturating_sub(removed),
            (factor, _) => {
                let factor = factor.unwrap_or(1.0 - ctx.remove_fraction).clamp(0.0, 1.0);
                // Less a hair, so that n * (1 - p / n) rounds to n - p and not one more.
                (n as f64 * factor - 1e-9).ceil() as usize
            }
        }
        .clamp(1, n);
        let seed = self.seed.wrapping_add(group.id as u64);
        Ok(Some(cluster_scores(&vectors, k, seed)))
    }
}

/// Clusters `vectors` into `k` clusters and scores them as the module header says.
pub(crate) fn cluster_scores(vectors: &[Vec<f32>], k: usize, seed: u64) -> Vec<f32> {
    let n = vectors.len();
    let assignment = kmeans(vectors, k, &mut StdRng::seed_from_u64(seed));
    let centroids = centroids(vectors, &assignment, k);
    let distance: Vec<f64> = (0..n)
        .map(|i| squared_distance(&vectors[i], &centroids[assignment[i]]).sqrt())
        .collect();
    let far = distance
        .iter()
        .cloned()
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let mut scores: Vec<f32> = distance
        .iter()
        .map(|d| (0.5 * d / far) as f32 * 0.999)
        .collect();
    for cluster in 0..k {
        let members = (0..n).filter(|&i| assignment[i] == cluster);
        let size = members.clone().count();
        if let Some(rep) = members.min_by(|&a, &b| distance[a].total_cmp(&distance[b])) {
            scores[rep] = 1.0 + size as f32 / n as f32;
        }
    }
    scores
}

/// Lloyd's algorithm from a k-means++ start; returns each vector's cluster.
fn kmeans(vectors: &[Vec<f32>], k: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut centres = plus_plus_start(vectors, k, rng);
    let mut assignment = vec![usize::MAX; vectors.len()];
    for _ in 0..MAX_ITERATIONS {
        let next: Vec<usize> = vectors.iter().map(|v| nearest(v, &centres)).collect();
        if next == assignment {
            break;
        }
        assignment = next;
        centres = centroids(vectors, &assignment, k)
            .into_iter()
            .zip(centres)
            .map(|(c, old)| if c.is_empty() { old } else { c })
            .collect();
    }
    assignment
}

/// k-means++: each next centre is drawn with probability proportional to the squared
/// distance to the nearest centre so far (kept up to date one centre at a time).
fn plus_plus_start(vectors: &[Vec<f32>], k: usize, rng: &mut StdRng) -> Vec<Vec<f32>> {
    let mut centres = vec![vectors[rng.random_range(0..vectors.len())].clone()];
    let mut d: Vec<f64> = vectors
        .iter()
        .map(|v| squared_distance(v, &centres[0]))
        .collect();
    while centres.len() < k {
        let total: f64 = d.iter().sum();
        let pick = if total > 0.0 {
            let mut target = rng.random::<f64>() * total;
            d.iter()
                .position(|&di| {
                    target -= di;
                    target < 0.0
                })
                .unwrap_or(vectors.len() - 1)
        } else {
            // Every vector already coincides with a centre: duplicates are as good as any.
            centres.len() % vectors.len()
        };
        let centre = vectors[pick].clone();
        for (di, v) in d.iter_mut().zip(vectors) {
            *di = di.min(squared_distance(v, &centre));
        }
        centres.push(centre);
    }
    centres
}

fn nearest(v: &[f32], centres: &[Vec<f32>]) -> usize {
    // One distance per centre (`min_by` over indices would compute each twice per comparison).
    centres
        .iter()
        .map(|c| squared_distance(v, c))
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(i, _)| i)
}

/// The mean of each cluster's vectors (empty for an empty cluster).
fn centroids(vectors: &[Vec<f32>], assignment: &[usize], k: usize) -> Vec<Vec<f32>> {
    let dim = vectors.first().map_or(0, Vec::len);
    let mut sums = vec![vec![0f64; dim]; k];
    let mut counts = vec![0usize; k];
    for (v, &c) in vectors.iter().zip(assignment) {
        counts[c] += 1;
        sums[c].iter_mut().zip(v).for_each(|(s, &x)| *s += x as f64);
    }
    sums.into_iter()
        .zip(counts)
        .map(|(s, n)| match n {
            0 => Vec::new(),
            n => s.into_iter().map(|x| (x / n as f64) as f32).collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_one_filter_per_cluster() {
        // Three tight clusters of 3, 2 and 1 filters.
        let v = vec![
            vec![0.0, 0.0],
            vec![0.1, 0.0],
            vec![0.0, 0.1],
            vec![5.0, 5.0],
            vec![5.1, 5.0],
            vec![-5.0, 5.0],
        ];
        let s = cluster_scores(&v, 3, 7);
        let kept: Vec<usize> = (0..6).filter(|&i| s[i] >= 1.0).collect();
        assert_eq!(kept.len(), 3);
        assert!(kept.iter().filter(|&&i| i < 3).count() == 1);
        assert!(kept.iter().filter(|&&i| (3..5).contains(&i)).count() == 1);
        assert!(kept.contains(&5));
        assert!(s.iter().all(|x| !(0.5..1.0).contains(x)));
    }

    #[test]
    fn k_equal_to_n_keeps_everything() {
        let v: Vec<Vec<f32>> = (0..5).map(|i| vec![i as f32, 1.0]).collect();
        assert!(cluster_scores(&v, 5, 1).iter().all(|&s| s >= 1.0));
    }
}
