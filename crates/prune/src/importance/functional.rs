//! Functionality-oriented pruning (Qin et al. 2019, "Functionality-Oriented Convolutional
//! Filter Pruning"): channels whose responses repeat one another's carry the same function,
//! so one per cluster is kept, and what the others carried is folded into the readers of the
//! kept ones, so that accuracy right after pruning stays as high as possible.
//!
//! **Scores.** Each group's channels are observed where its readers take them in (see
//! [`super::probe`]) on the scoring data, and their responses correlated. Clustering is
//! greedy and agglomerative: the most correlated pair of the channels left loses its weaker
//! member (the smaller standard deviation), again and again; a channel's score is when it
//! went, so the planner removes the most redundant first and one channel of a cluster always
//! stays. Constant channels (dead ones) go before all others: the fit's constant carries them.
//!
//! **Compensation.** Before the cut, every removed channel's response is fitted, by least
//! squares over the same observations, as an affine function of the kept channels of its
//! group, `x_r ≈ Σ_k a_rk x_k + b_r`. Each reader (a conv or linear layer) then adds `a_rk`
//! times its weights on `r` to its weights on `k`, and `b_r` times their sum to its bias. A
//! reader of zero-padded maps sees the constant only inside the border, so there the fold is
//! approximate; everywhere else it is exact for a channel that is exactly a combination of
//! others.

use super::probe::{ScoreData, TapPoint, observe, reader_tap};
use super::{GroupScores, Importance, ScoreContext};
use crate::schedule::Cut;
use crate::{ChannelGroup, Member, MemberKind, PruneError};
use shears_ir::{Array, Graph, Op};

/// Response rows kept per observed value (sample-position pairs).
const ROWS: usize = 4096;

/// The functionality-oriented criterion.
pub struct Functional {
    data: ScoreData,
}

impl Functional {
    pub fn new(data: ScoreData) -> Self {
        Self { data }
    }
}

/// One observed value of a group: `rows x channels` responses, row-major.
struct Responses {
    point: TapPoint,
    channels: usize,
    rows: Vec<f32>,
}

impl Responses {
    fn count(&self) -> usize {
        self.rows.len() / self.channels
    }

    fn column(&self, c: usize) -> impl Iterator<Item = f64> + '_ {
        self.rows
            .iter()
            .skip(c)
            .step_by(self.channels)
            .map(|&v| v as f64)
    }
}

/// Each group's responses at each of its tap points.
fn responses(
    graph: &Graph,
    data: &ScoreData,
    groups: &[&ChannelGroup],
) -> Result<Vec<Vec<Responses>>, PruneError> {
    let mut out: Vec<Vec<Responses>> = groups.iter().map(|_| Vec::new()).collect();
    let quota = ROWS.div_ceil(data.batches.max(1));
    let points = observe(graph, data, groups, false, |g, t, _, obs| {
        let channels = groups[g].channels;
        while out[g].len() <= t {
            out[g].push(Responses {
                point: obs.point,
                channels,
                rows: Vec::new(),
            });
        }
        let len = obs.point.per_channel * obs.spatial;
        let stride = (obs.n * len).div_ceil(quota).max(1);
        for j in (0..obs.n * len).step_by(stride) {
            let (s, p) = (j / len, j % len);
            for c in 0..channels {
                out[g][t].rows.push(obs.values[obs.range(s, c)][p]);
            }
        }
    })?;
    for (group, points) in out.iter_mut().zip(points) {
        for (r, point) in group.iter_mut().zip(points) {
            r.point = point;
        }
    }
    Ok(out)
}

/// Pearson correlations of every pair of columns, and each column's standard deviation.
fn correlations(r: &Responses) -> (Vec<Vec<f64>>, Vec<f64>) {
    let n = r.count().max(1) as f64;
    let centred: Vec<Vec<f64>> = (0..r.channels)
        .map(|c| {
            let mean = r.column(c).sum::<f64>() / n;
            r.column(c).map(|v| v - mean).collect()
        })
        .collect();
    let std: Vec<f64> = centred
        .iter()
        .map(|x| (x.iter().map(|v| v * v).sum::<f64>() / n).sqrt())
        .collect();
    let corr = (0..r.channels)
        .map(|a| {
            (0..r.channels)
                .map(|b| {
                    let dot: f64 = centred[a].iter().zip(&centred[b]).map(|(x, y)| x * y).sum();
                    match std[a] * std[b] {
                        d if d > 0.0 => dot / (n * d),
                        _ => 0.0,
                    }
                })
                .collect()
        })
        .collect();
    (corr, std)
}

/// The greedy clustering: the order in which channels go, as scores (the first to go lowest).
/// A constant channel is an offset the fit's constant carries, so all of them go first, at 0.
fn elimination_scores(r: &Responses) -> Vec<f32> {
    let (corr, std) = correlations(r);
    let mut left: Vec<usize> = (0..r.channels).filter(|&c| std[c] > 0.0).collect();
    let mut scores = vec![0.0f32; r.channels];
    let mut order = 1.0;
    while left.len() > 1 {
        let mut best = (f64::NEG_INFINITY, 0, 0);
        for (i, &a) in left.iter().enumerate() {
            for &b in &left[i + 1..] {
                if corr[a][b].abs() > best.0 {
                    best = (corr[a][b].abs(), a, b);
                }
            }
        }
        let (_, a, b) = best;
        let weaker = if std[a] < std[b] { a } else { b };
        scores[weaker] = order;
        order += 1.0;
        left.retain(|&c| c != weaker);
    }
    if let [last] = left[..] {
        scores[last] = order;
    }
    scores
}

impl Importance for Functional {
    fn name(&self) -> String {
        "functional".into()
    }

    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        let observed = responses(ctx.graph, &self.data, groups)?;
        Ok(observed
            .iter()
            .map(|taps| taps.first().map(elimination_scores))
            .collect())
    }

    fn compensate(
        &mut self,
        graph: &Graph,
        groups: &[ChannelGroup],
        cuts: &[Cut],
    ) -> Result<Option<Graph>, PruneError> {
        let cut_groups: Vec<&ChannelGroup> = cuts.iter().map(|c| &groups[c.group]).collect();
        let observed = responses(graph, &self.data, &cut_groups)?;
        let mut folded = graph.clone();
        for ((cut, group), taps) in cuts.iter().zip(&cut_groups).zip(&observed) {
            for member in group
                .members
                .iter()
                .filter(|m| matches!(m.kind, MemberKind::Reads { .. }))
            {
                let Some(point) = reader_tap(graph, group, member) else {
                    continue;
                };
                if let Some(r) = taps.iter().find(|r| r.point == point) {
                    let fit = fit(r, &cut.indices);
                    fold(&mut folded.nodes[member.node].op, member, &fit);
                }
            }
        }
        Ok(Some(folded))
    }
}

/// The least-squares fit of the `removed` channels on the kept ones: for each removed channel,
/// its coefficient on every kept channel and its constant.
struct Fit {
    kept: Vec<usize>,
    removed: Vec<usize>,
    /// `coefficients[r][k]` for removed `r` (position in `removed`) and kept `k` (position in
    /// `kept`), then the constant at `k = kept.len()`.
    coefficients: Vec<Vec<f64>>,
}

fn fit(r: &Responses, removed: &[usize]) -> Fit {
    let kept: Vec<usize> = (0..r.channels).filter(|c| !removed.contains(c)).collect();
    let columns: Vec<Vec<f64>> = kept
        .iter()
        .map(|&k| r.column(k).collect())
        .chain(std::iter::once(vec![1.0; r.count()]))
        .collect();
    let m = columns.len();
    let mut gram: Vec<Vec<f64>> = (0..m)
        .map(|a| (0..m).map(|b| dot(&columns[a], &columns[b])).collect())
        .collect();
    // A ridge far below the data's scale keeps a singular system (a duplicate) solvable.
    let ridge = 1e-9 * (0..m).map(|i| gram[i][i]).sum::<f64>() / m as f64;
    (0..m).for_each(|i| gram[i][i] += ridge.max(1e-12));
    let coefficients = removed
        .iter()
        .map(|&c| {
            let target: Vec<f64> = r.column(c).collect();
            let rhs: Vec<f64> = columns.iter().map(|x| dot(x, &target)).collect();
            solve(gram.clone(), rhs)
        })
        .collect();
    Fit {
        kept,
        removed: removed.to_vec(),
        coefficients,
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting (`a` symmetric positive
/// definite here, so it never meets a zero pivot).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("a non-empty column");
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let f = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= f * a[col][k];
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    x
}

/// Adds what reader `member` took from the removed channels to its weights on the kept ones
/// and its bias; readers that are not a linear layer or an ungrouped conv are left alone.
fn fold(op: &mut Op, member: &Member, fit: &Fit) {
    let Some((_, w)) = MemberKind::of(op, member.kind.side(), member.kind.width()) else {
        return;
    };
    let (weight, bias) = match op {
        Op::Linear(l) => (&mut l.weight, &mut l.bias),
        Op::Conv2d(c) if c.groups == 1 => (&mut c.weight, &mut c.bias),
        _ => return,
    };
    let out = weight.shape[0];
    let bias = bias.get_or_insert_with(|| Array::full(vec![out], 0.0));
    for (&r, coefficients) in fit.removed.iter().zip(&fit.coefficients) {
        let from = member.indices(r);
        let constant = coefficients[fit.kept.len()] as f32;
        for j in 0..from.len() {
            let sums = weight.slice_sums(w.axis, from.start + j);
            for (b, s) in bias.data.iter_mut().zip(sums) {
                *b += constant * s;
            }
        }
        for (&k, &a) in fit.kept.iter().zip(coefficients) {
            let to = member.indices(k);
            for j in 0..from.len() {
                weight.add_scaled_along(w.axis, from.start + j, to.start + j, a as f32);
            }
        }
    }
}
