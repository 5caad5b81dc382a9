//! Sensitivity sampling, after Liebenwein et al. (2020), "Provable filter pruning for efficient
//! neural networks".
//!
//! A channel's *sensitivity* is the largest share it has in any output of the layers reading
//! it, over a small set of inputs: for a reading conv, output channel `o` at position `p` sums
//! `|W[o, j]| * |a_j(patch p)|` over its input channels `j`, and channel `j`'s share is its term
//! over that sum (a linear reader likewise, per output feature). Shares are taken over every
//! reader, sample and output, and the largest is kept.
//!
//! The sensitivities `s_j` of a group, divided by their sum `S`, are an importance-sampling
//! distribution `p_j`. The error bound of the paper (Theorem 1, with its constant `K` set to 1)
//! asks for `m = ceil((6 + 2 eps) S ln(4 eta / delta) / eps^2)` draws with replacement for a
//! relative error `eps` with probability `1 - delta` (`eta`: the channels of all scored groups).
//! The criterion draws those `m` samples, seeded by the seed, the step and the group, and scores
//! channel `j` by `(count_j + p_j) / (m + 1)`: channels never drawn are removed first, ties
//! broken by sensitivity. The paper keeps exactly the drawn channels and rescales their weights;
//! here the planner decides how many go, so the draws rank and the weights stay as trained.

use super::probe::{Observed, ScoreData, TapPoint, observe, reader_tap, tap_points};
use super::{GroupScores, Importance, ScoreContext};
use crate::{ChannelGroup, Member, MemberKind, PruneError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shears_ir::{Graph, Op};

/// Seeded importance sampling by filter sensitivity.
pub struct SensitivitySampling {
    data: ScoreData,
    seed: u64,
    /// Relative error `eps` of the bound.
    pub epsilon: f64,
    /// Failure probability `delta` of the bound.
    pub delta: f64,
}

impl SensitivitySampling {
    pub fn new(data: ScoreData, seed: u64) -> Self {
        Self {
            data,
            seed,
            epsilon: 0.5,
            delta: 0.1,
        }
    }

    /// Draws the error bound asks for, for a group whose sensitivities sum to `total`, among
    /// `eta` channels in all.
    pub fn budget(&self, total: f64, eta: usize) -> usize {
        let eps = self.epsilon;
        let draws =
            (6.0 + 2.0 * eps) * total * (4.0 * eta.max(1) as f64 / self.delta).ln() / (eps * eps);
        draws.ceil().max(1.0) as usize
    }
}

impl Importance for SensitivitySampling {
    fn name(&self) -> String {
        "sensitivity-sampling".into()
    }

    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        let graph = ctx.graph;
        let readers: Vec<Vec<(usize, &Member)>> =
            groups.iter().map(|g| readers_by_tap(graph, g)).collect();
        let mut sensitivity: Vec<Vec<f64>> = groups.iter().map(|g| vec![0.0; g.channels]).collect();
        observe(graph, &self.data, groups, false, |g, t, dims, obs| {
            for &(_, member) in readers[g].iter().filter(|(tap, _)| *tap == t) {
                let shares = max_shares(graph, member, groups[g].channels, dims, obs);
                for (s, share) in sensitivity[g].iter_mut().zip(shares) {
                    *s = s.max(share);
                }
            }
        })?;
        let eta: usize = groups.iter().map(|g| g.channels).sum();
        Ok(groups
            .iter()
            .zip(&sensitivity)
            .zip(&readers)
            .map(|((group, s), readers)| {
                let total: f64 = s.iter().sum();
                if readers.is_empty() || total <= 0.0 {
                    return None;
                }
                let p: Vec<f64> = s.iter().map(|v| v / total).collect();
                let draws = self.budget(total, eta);
                let stream = (ctx.step as u64) << 32 | group.id as u64;
                let mut rng =
                    StdRng::seed_from_u64(self.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let counts = sample_counts(&p, draws, &mut rng);
                Some(
                    counts
                        .iter()
                        .zip(&p)
                        .map(|(&c, &p)| ((c as f64 + p) / (draws as f64 + 1.0)) as f32)
                        .collect(),
                )
            })
            .collect())
    }
}

/// The reader members of `group` (ungrouped convs and linear layers) with the index of the
/// tap point ([`tap_points`]) that observes their input.
fn readers_by_tap<'g>(graph: &Graph, group: &'g ChannelGroup) -> Vec<(usize, &'g Member)> {
    let points: Vec<TapPoint> = tap_points(graph, group);
    group
        .members
        .iter()
        .filter(|m| match (&m.kind, &graph.nodes[m.node].op) {
            (MemberKind::Reads { .. }, Op::Conv2d(c)) => c.groups == 1,
            (MemberKind::Reads { .. }, Op::Linear(_)) => true,
            _ => false,
        })
        .filter_map(|m| {
            let point = reader_tap(graph, group, m)?;
            Some((points.iter().position(|p| *p == point)?, m))
        })
        .collect()
}

/// For each of the group's `channels` channels, its largest share in any output of `member`
/// over the samples of the reader's input, observed as `obs` with per-sample shape `dims`.
fn max_shares(
    graph: &Graph,
    member: &Member,
    channels: usize,
    dims: &[usize],
    obs: &Observed,
) -> Vec<f64> {
    let mut best = vec![0.0f64; channels];
    let (input, n) = (obs.values, obs.n);
    let per_sample = input.len() / n.max(1);
    match &graph.nodes[member.node].op {
        Op::Conv2d(conv) => {
            let [out, inp, kh, kw] = conv.weight.shape[..] else {
                return best;
            };
            let &[c, h, w] = dims else {
                return best;
            };
            if c != inp {
                return best;
            }
            let abs_w: Vec<f64> = conv.weight.data.iter().map(|v| v.abs() as f64).collect();
            let [sh, sw] = conv.stride;
            let [dh, dw] = conv.dilation;
            let [pt, pl, pb, pr] = conv.padding;
            let oh = (h + pt + pb).saturating_sub(dh * (kh - 1) + 1) / sh + 1;
            let ow = (w + pl + pr).saturating_sub(dw * (kw - 1) + 1) / sw + 1;
            let k = kh * kw;
            let mut patch = vec![0.0f64; inp * k];
            let mut terms = vec![0.0f64; inp];
            for s in 0..n {
                let x = &input[s * per_sample..][..per_sample];
                for y in 0..oh {
                    for xo in 0..ow {
                        for j in 0..inp {
                            for ky in 0..kh {
                                for kx in 0..kw {
                                    let iy = (y * sh + ky * dh) as isize - pt as isize;
                                    let ix = (xo * sw + kx * dw) as isize - pl as isize;
                                    let inside = iy >= 0
                                        && ix >= 0
                                        && (iy as usize) < h
                                        && (ix as usize) < w;
                                    patch[j * k + ky * kw + kx] = if inside {
                                        x[(j * h + iy as usize) * w + ix as usize].abs() as f64
                                    } else {
                                        0.0
                                    };
                                }
                            }
                        }
                        for o in 0..out {
                            let wo = &abs_w[o * inp * k..][..inp * k];
                            let mut total = 0.0;
                            for j in 0..inp {
                                let t: f64 = wo[j * k..][..k]
                                    .iter()
                                    .zip(&patch[j * k..][..k])
                                    .map(|(a, b)| a * b)
                                    .sum();
                                terms[j] = t;
                                total += t;
                            }
                            if total > 0.0 {
                                for (c, b) in best.iter_mut().enumerate() {
                                    let j = member.indices(c).start;
                                    *b = b.max(terms[j] / total);
                                }
                            }
                        }
                    }
                }
            }
        }
        Op::Linear(linear) => {
            let features = linear.in_features();
            for s in 0..n {
                let x = &input[s * per_sample..][..per_sample.min(features)];
                for o in 0..linear.out_features() {
                    let row = linear.weight.row(o);
                    let terms: Vec<f64> = row
                        .iter()
                        .zip(x)
                        .map(|(w, a)| (w * a).abs() as f64)
                        .collect();
                    let total: f64 = terms.iter().sum();
                    if total > 0.0 {
                        for (c, b) in best.iter_mut().enumerate() {
                            let share: f64 = terms[member.indices(c)].iter().sum();
                            *b = b.max(share / total);
                        }
                    }
                }
            }
        }
        _ => {}
    }
    best
}

/// How often each outcome comes up in `draws` draws from the distribution `p`.
fn sample_counts(p: &[f64], draws: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut cumulative = Vec::with_capacity(p.len());
    let mut acc = 0.0;
    for v in p {
        acc += v;
        cumulative.push(acc);
    }
    let mut counts = vec![0; p.len()];
    for _ in 0..draws {
        let u: f64 = rng.random::<f64>() * acc;
        let i = cumulative.partition_point(|&c| c <= u).min(p.len() - 1);
        counts[i] += 1;
    }
    counts
}
