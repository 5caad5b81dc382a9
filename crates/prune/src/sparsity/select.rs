//! Choosing the weights to mask for one step: ranked weights or blocks (local or global,
//! towards a target), N:M patterns, and Han's per-layer threshold.

use super::{Granularity, SparseLayer};
use crate::PruneError;
use crate::schedule::{PlanConfig, Scope, Target};
use shears_ir::{Array, Graph, filter_weight};

/// The masks of one step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparsePlan {
    /// Per layer node, one keep flag per weight element (only layers that mask something).
    pub masks: Vec<(usize, Vec<bool>)>,
    /// Weight elements this plan masks that were not masked before.
    pub removed: usize,
    /// Whether the goal is met (a target can ask for more than the eligible weights hold).
    pub reached: bool,
}

/// The masks that take `graph` to `goal` at `config`'s granularity. `scores` holds each
/// eligible layer's per-weight scores by node (higher keeps); `baseline` is what the target
/// counts on the starting model; `share` is the part of the schedule reached (Han's threshold
/// grows with it).
pub fn plan_masks(
    graph: &Graph,
    layers: &[SparseLayer],
    scores: &[Option<Vec<f32>>],
    config: &PlanConfig,
    goal: Target,
    baseline: Option<f64>,
    share: f64,
) -> Result<SparsePlan, PruneError> {
    let weight = |l: &SparseLayer| filter_weight(&graph.nodes[l.node].op).expect("a sparse layer");
    let layer_scores = |l: &SparseLayer| -> Result<Vec<f32>, PruneError> {
        let w = weight(l);
        let s = scores
            .get(l.node)
            .cloned()
            .flatten()
            .filter(|s| s.len() == w.len())
            .ok_or_else(|| {
                PruneError::Config(format!(
                    "the criterion gave no scores, or not one per weight, for the {} weights of '{}'",
                    w.len(),
                    l.name
                ))
            })?;
        // A masked weight is gone: it ranks below every weight still there.
        Ok((0..w.len())
            .map(|i| if w.kept(i) { s[i].max(0.0) } else { -1.0 })
            .collect())
    };
    let mut masks = Vec::new();
    match (config.granularity, config.std_threshold) {
        (Granularity::NofM { n, m }, _) => {
            for l in layers {
                if let Some(keep) = n_of_m(l, &layer_scores(l)?, n, m) {
                    masks.push((l.node, keep));
                }
            }
        }
        (Granularity::Weight, Some(q)) => {
            for l in layers {
                masks.push((l.node, under_threshold(weight(l), q * share)));
            }
        }
        (g, _) => {
            let unit = g.unit().ok_or_else(|| {
                PruneError::Config("channel pruning plans cuts, not masks".into())
            })?;
            let tiled: Vec<Tiles> = layers
                .iter()
                .map(|l| Ok(Tiles::new(l, &layer_scores(l)?, unit, goal)))
                .collect::<Result<_, PruneError>>()?;
            let need = needed_cost(graph, &tiled, goal, baseline)?;
            let reached = need <= tiled.iter().map(|t| t.total).sum::<f64>() + 0.5;
            let chosen = match config.scope {
                Scope::Local => local(&tiled, need),
                Scope::Global => global(&tiled, need),
            };
            for (l, (t, take)) in layers.iter().zip(tiled.iter().zip(chosen)) {
                masks.push((l.node, t.keep_flags(l, &take)));
            }
            return Ok(finish(graph, masks, reached));
        }
    }
    Ok(finish(graph, masks, true))
}

/// Drops masks that change nothing and counts the newly masked weights.
fn finish(graph: &Graph, masks: Vec<(usize, Vec<bool>)>, reached: bool) -> SparsePlan {
    let mut removed = 0;
    let masks = masks
        .into_iter()
        .filter(|(node, keep)| {
            let w = filter_weight(&graph.nodes[*node].op).expect("a sparse layer");
            let new = (0..keep.len()).filter(|&i| !keep[i] && w.kept(i)).count();
            removed += new;
            new > 0
        })
        .collect();
    SparsePlan {
        masks,
        removed,
        reached,
    }
}

/// One layer cut into units (tiles or stripes), each with a score and a cost in the target's
/// unit.
struct Tiles {
    unit: Unit,
    score: Vec<f32>,
    cost: Vec<f64>,
    /// The cost of the units already fully masked.
    masked: f64,
    total: f64,
}

impl Tiles {
    fn new(layer: &SparseLayer, scores: &[f32], unit: Unit, goal: Target) -> Self {
        let per_weight = match goal {
            Target::Macs(_) => layer.macs_per_weight as f64,
            _ => 1.0,
        };
        let units = unit.count(layer);
        let mut score = Vec::with_capacity(units);
        let mut cost = Vec::with_capacity(units);
        let mut masked = 0.0;
        for t in 0..units {
            // One pass: the scores' sum, the element count, and whether all are masked (-1).
            let (sum, count, all_masked) = unit
                .elements(layer, t)
                .fold((0.0f64, 0usize, true), |(sum, count, all), i| {
                    (sum + scores[i] as f64, count + 1, all && scores[i] < 0.0)
                });
            score.push(if all_masked {
                -1.0
            } else {
                (sum / count as f64) as f32
            });
            cost.push(count as f64 * per_weight);
            if all_masked {
                masked += count as f64 * per_weight;
            }
        }
        let total = cost.iter().sum();
        Self {
            unit,
            score,
            cost,
            masked,
            total,
        }
    }

    /// Keep flags per weight element with the units `take` (indices) masked.
    fn keep_flags(&self, layer: &SparseLayer, take: &[usize]) -> Vec<bool> {
        let mut keep = vec![true; layer.rows * layer.cols];
        for &t in take {
            for i in self.unit.elements(layer, t) {
                keep[i] = false;
            }
        }
        keep
    }

    /// Tile indices from lowest score to highest (ties in index order).
    fn ascending(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.score.len()).collect();
        order.sort_by(|&a, &b| self.score[a].total_cmp(&self.score[b]));
        order
    }
}

/// What one ranked decision masks.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Unit {
    /// A tile of `rows` filters by `cols` consecutive weights (smaller at the edges).
    Tile { rows: usize, cols: usize },
    /// One kernel position of one filter across all its input channels (SWP's stripe).
    Stripe,
}

impl Unit {
    /// How many units `layer` holds.
    fn count(self, layer: &SparseLayer) -> usize {
        match self {
            Unit::Tile { rows, cols } => layer.rows.div_ceil(rows) * layer.cols.div_ceil(cols),
            Unit::Stripe => layer.rows * layer.input_channels.map_or(1, |(inner, _)| inner),
        }
    }

    /// The element indices of unit `t` of `layer`: a range of filters by `count` columns
    /// `step` apart from `start`.
    fn elements(self, layer: &SparseLayer, t: usize) -> impl Iterator<Item = usize> + Clone {
        let width = layer.cols;
        let (filters, start, step, count) = match self {
            Unit::Tile { rows, cols } => {
                let across = layer.cols.div_ceil(cols);
                let (r0, c0) = ((t / across) * rows, (t % across) * cols);
                let r1 = (r0 + rows).min(layer.rows);
                (r0..r1, c0, 1, cols.min(layer.cols - c0))
            }
            Unit::Stripe => {
                let (inner, channels) = layer.input_channels.unwrap_or((1, layer.cols));
                (t / inner..t / inner + 1, t % inner, inner, channels)
            }
        };
        filters.flat_map(move |r| (0..count).map(move |j| r * width + start + j * step))
    }
}

/// The cost (in the target's unit) the masks of the eligible layers must add up to.
fn needed_cost(
    graph: &Graph,
    tiled: &[Tiles],
    goal: Target,
    baseline: Option<f64>,
) -> Result<f64, PruneError> {
    let masked: f64 = tiled.iter().map(|t| t.masked).sum();
    match goal {
        // A channel ratio is the share of the eligible weights.
        Target::Channels(f) => Ok(f * tiled.iter().map(|t| t.total).sum::<f64>()),
        Target::Params(f) | Target::Macs(f) => {
            let now = goal.measure(graph)?.unwrap_or(0.0);
            let want = (1.0 - f) * baseline.unwrap_or(now);
            Ok(masked + (now - want).max(0.0))
        }
        Target::Latency { .. } => Err(PruneError::Config(
            "a latency target needs channel pruning: masked weights do not make dense kernels faster"
                .into(),
        )),
    }
}

/// Every layer loses the same share of its cost: `need` over the total.
fn local(tiled: &[Tiles], need: f64) -> Vec<Vec<usize>> {
    let total: f64 = tiled.iter().map(|t| t.total).sum();
    let share = if total > 0.0 {
        (need / total).min(1.0)
    } else {
        0.0
    };
    tiled
        .iter()
        .map(|t| {
            take_until(
                t.ascending().into_iter().map(|i| (i, t.cost[i])),
                share * t.total,
            )
        })
        .collect()
}

/// The lowest-scoring tiles of all layers until their cost reaches `need`.
fn global(tiled: &[Tiles], need: f64) -> Vec<Vec<usize>> {
    let mut all: Vec<(f32, usize, usize)> = tiled
        .iter()
        .enumerate()
        .flat_map(|(l, t)| t.score.iter().enumerate().map(move |(i, &s)| (s, l, i)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut chosen = vec![Vec::new(); tiled.len()];
    let order = all.into_iter().map(|(_, l, i)| ((l, i), tiled[l].cost[i]));
    for (l, i) in take_until(order, need) {
        chosen[l].push(i);
    }
    chosen
}

/// Items in order until their summed cost reaches `need`: an item is taken while the sum
/// without it is under `need` less half its cost (so the total lands nearest `need`).
fn take_until<T>(items: impl Iterator<Item = (T, f64)>, need: f64) -> Vec<T> {
    let mut sum = 0.0;
    let mut out = Vec::new();
    for (item, cost) in items {
        if sum + cost / 2.0 > need {
            break;
        }
        sum += cost;
        out.push(item);
    }
    out
}

/// Keep flags leaving the `n` best of every `m` consecutive input channels at each filter and
/// kernel position; `None` for a layer the pattern does not fit (no input-channel axis, or
/// input channels per group not a multiple of `m`).
fn n_of_m(layer: &SparseLayer, scores: &[f32], n: usize, m: usize) -> Option<Vec<bool>> {
    let (inner, channels) = layer.input_channels?;
    if channels % m != 0 {
        return None;
    }
    let mut keep = vec![true; scores.len()];
    let mut run: Vec<usize> = Vec::with_capacity(m);
    for row in 0..layer.rows {
        for start in (0..channels).step_by(m) {
            for k in 0..inner {
                run.clear();
                run.extend((start..start + m).map(|c| row * layer.cols + c * inner + k));
                // Best first; ties keep the lower index.
                run.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
                run[n..].iter().for_each(|&i| keep[i] = false);
            }
        }
    }
    Some(keep)
}

/// Han et al.'s rule: keep the weights with `|w| >= q * std(w)`, the standard deviation of
/// the layer's weights.
fn under_threshold(w: &Array, q: f64) -> Vec<bool> {
    let n = w.len() as f64;
    let mean = w.data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = w
        .data
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n;
    let bound = q * var.sqrt();
    w.data.iter().map(|&v| (v as f64).abs() >= bound).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(rows: usize, cols: usize, inner: usize) -> SparseLayer {
        SparseLayer {
            node: 0,
            name: "l".into(),
            rows,
            cols,
            macs_per_weight: 1,
            input_channels: Some((inner, cols / inner)),
        }
    }

    #[test]
    fn n_of_m_keeps_the_best_n_of_each_run() {
        // 1 filter, 8 input channels, kernel 1x2: runs of 4 channels at each position.
        let l = layer(1, 16, 2);
        let scores: Vec<f32> = (0..16).map(|i| ((i * 7) % 16) as f32).collect();
        let keep = n_of_m(&l, &scores, 2, 4).unwrap();
        for start in [0, 4] {
            for k in 0..2 {
                let run: Vec<usize> = (start..start + 4).map(|c| c * 2 + k).collect();
                let kept: Vec<usize> = run.iter().copied().filter(|&i| keep[i]).collect();
                assert_eq!(kept.len(), 2);
                let worst_kept = kept.iter().map(|&i| scores[i]).fold(f32::MAX, f32::min);
                let best_dropped = run
                    .iter()
                    .filter(|&&i| !keep[i])
                    .map(|&i| scores[i])
                    .fold(f32::MIN, f32::max);
                assert!(worst_kept >= best_dropped);
            }
        }
        assert_eq!(n_of_m(&layer(1, 6, 1), &[0.0; 6], 2, 4), None);
    }

    #[test]
    fn take_until_lands_nearest_the_need() {
        let items = [(0, 1.0), (1, 1.0), (2, 1.0), (3, 1.0)];
        assert_eq!(take_until(items.into_iter(), 2.0), vec![0, 1]);
        assert_eq!(take_until(items.into_iter(), 2.4), vec![0, 1]);
        assert_eq!(take_until(items.into_iter(), 2.6), vec![0, 1, 2]);
        assert_eq!(take_until(items.into_iter(), 0.0), Vec::<usize>::new());
    }

    #[test]
    fn tiles_and_stripes_cover_the_matrix_once() {
        // 5 filters of 3 input channels by a 3x3 kernel... as 27 columns, and 7 columns.
        for (l, unit) in [
            (layer(5, 7, 1), Unit::Tile { rows: 2, cols: 3 }),
            (layer(5, 27, 9), Unit::Stripe),
        ] {
            let mut seen = vec![0; l.rows * l.cols];
            for t in 0..unit.count(&l) {
                unit.elements(&l, t).for_each(|i| seen[i] += 1);
            }
            assert!(seen.iter().all(|&c| c == 1), "{unit:?}");
        }
        // A stripe is one kernel position across the input channels.
        let stripe: Vec<usize> = Unit::Stripe.elements(&layer(5, 27, 9), 9 + 4).collect();
        assert_eq!(stripe, vec![27 + 4, 27 + 13, 27 + 22]);
    }
}
