//! Targets: what a run removes (channels, parameters, MACs or measured latency) and how much,
//! and the search that turns a parameter, MAC or latency goal into a channel amount for the
//! planner.

use super::planner::{Cut, OriginalChannels, PlanConfig};
use crate::importance::GroupScores;
use crate::{ChannelGroup, PruneError, prune_groups};
use serde::{Deserialize, Serialize};
use shears_ir::Graph;
use shears_runtime::{DeviceKind, bench};
use std::fmt;

/// How much of the original model to remove: each value is a fraction in `[0, 1)`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// A fraction of the channels of each group (local) or of all eligible channels (global).
    Channels(f64),
    /// A fraction of the parameters.
    Params(f64),
    /// A fraction of the multiply-accumulates of one forward pass.
    Macs(f64),
    /// A fraction of the measured latency of one forward pass of `batch` images on shears' CPU
    /// runtime (see [`latency`]).
    Latency { fraction: f64, batch: usize },
}

/// The fewest timed runs behind one latency measurement (after two warm-up runs).
const LATENCY_RUNS: usize = 15;

/// The fewest pairs of runs (candidate, starting model) behind one relative latency
/// measurement.
const LATENCY_PAIRS: usize = 60;

/// Seconds of timed runs a latency measurement takes at least, when its minimum count of
/// runs is quicker: a pruned ResNet-20's ratio to the original at batch 1 moved by ±6%
/// between measurements of 60 pairs (a few milliseconds each) on a shared 2-core machine.
const LATENCY_SECONDS: f64 = 2.0;

/// Seconds one forward pass of `batch` images of `graph` takes on shears' CPU runtime (flex,
/// BN folded): the fastest of at least [`LATENCY_RUNS`] runs and [`LATENCY_SECONDS`], which
/// other load on a shared machine disturbs least (a median moves by tens of percent between
/// calls there).
pub fn latency(graph: &Graph, batch: usize) -> Result<f64, PruneError> {
    let budget = (LATENCY_RUNS, LATENCY_SECONDS);
    Ok(bench::inference(graph, DeviceKind::Flex, batch, budget)?.best_s)
}

/// The latency of `candidate` over that of `reference` (one forward pass of `batch` images on
/// shears' CPU runtime, BN folded), from pairs of runs of the two back to back
/// ([`bench::relative_inference`], the median of their ratios): unlike two separate
/// measurements, it holds still while a shared machine speeds up and slows down (for a pruned
/// ResNet-20 against the original at batch 128, ±1.5% between five measurements of 60 pairs,
/// against ±8% for the ratio of their fastest runs measured one after the other).
pub fn relative_latency(
    candidate: &Graph,
    reference: &Graph,
    batch: usize,
) -> Result<f64, PruneError> {
    let budget = (LATENCY_PAIRS, LATENCY_SECONDS);
    let r = bench::relative_inference(candidate, reference, DeviceKind::Flex, batch, budget)?;
    Ok(r.ratio)
}

impl Target {
    pub fn fraction(self) -> f64 {
        match self {
            Target::Channels(f) | Target::Params(f) | Target::Macs(f) => f,
            Target::Latency { fraction, .. } => fraction,
        }
    }

    /// The same kind of target with another fraction.
    pub fn with_fraction(self, f: f64) -> Target {
        match self {
            Target::Channels(_) => Target::Channels(f),
            Target::Params(_) => Target::Params(f),
            Target::Macs(_) => Target::Macs(f),
            Target::Latency { batch, .. } => Target::Latency { fraction: f, batch },
        }
    }

    pub fn check(self) -> Result<(), PruneError> {
        let f = self.fraction();
        if f.is_finite() && (0.0..1.0).contains(&f) {
            Ok(())
        } else {
            Err(PruneError::Config(format!(
                "the target {self} must be a fraction to remove, at least 0 and below 1 (0.5 removes half)"
            )))
        }
    }

    /// The quantity this target counts on `graph` (`None` for channels, which the planner
    /// counts itself).
    pub fn measure(self, graph: &Graph) -> Result<Option<f64>, PruneError> {
        Ok(match self {
            Target::Channels(_) => None,
            Target::Params(_) => Some(graph.kept_param_count() as f64),
            Target::Macs(_) => Some(graph.kept_mac_count()? as f64),
            Target::Latency { batch, .. } => Some(latency(graph, batch)?),
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let percent = |v: f64| (1000.0 * v).round() / 10.0;
        match self {
            Target::Channels(v) => write!(f, "{}% of channels", percent(*v)),
            Target::Params(v) => write!(f, "{}% of parameters", percent(*v)),
            Target::Macs(v) => write!(f, "{}% of MACs", percent(*v)),
            Target::Latency { fraction, batch } => {
                write!(f, "{}% of the latency at batch {batch}", percent(*fraction))
            }
        }
    }
}

/// The groups and scores of one step, and what the plan is measured against.
pub struct PlanInput<'a> {
    pub graph: &'a Graph,
    pub groups: &'a [ChannelGroup],
    pub scores: &'a GroupScores,
    pub original: &'a OriginalChannels,
    /// The target's quantity on the original model (parameters, MACs or seconds).
    pub baseline: Option<f64>,
    /// The starting model, which a latency goal times each candidate against in alternating
    /// runs ([`relative_latency`]); without it a candidate is timed alone.
    pub reference: Option<&'a Graph>,
}

impl PlanInput<'_> {
    /// `goal`'s quantity on `candidate` (`None` for channels): a latency is the baseline
    /// times the candidate's latency relative to the reference, when there is one.
    pub fn measure(&self, goal: Target, candidate: &Graph) -> Result<Option<f64>, PruneError> {
        match (goal, self.reference, self.baseline) {
            (Target::Latency { batch, .. }, Some(reference), Some(baseline)) => Ok(Some(
                baseline * relative_latency(candidate, reference, batch)?,
            )),
            _ => goal.measure(candidate),
        }
    }
}

/// The plan for one step reaching `goal` (a target whose fraction is what must be removed in
/// total after this step), and the channel amount it used. For parameter and MAC goals this
/// bisects over the amounts where the plan changes ([`PlanConfig::breakpoints`]) for the
/// smallest plan that reaches the goal; if even the largest plan the limits allow falls short
/// it returns that one, and `reached` says so.
pub fn plan_for(
    input: &PlanInput,
    config: &PlanConfig,
    goal: Target,
) -> Result<StepPlan, PruneError> {
    let Some(baseline) = input
        .baseline
        .filter(|_| !matches!(goal, Target::Channels(_)))
    else {
        let amount = goal.fraction();
        let cuts = config.plan(input.groups, input.scores, input.original, amount);
        return Ok(StepPlan {
            cuts,
            amount,
            reached: true,
        });
    };
    let limit = baseline * (1.0 - goal.fraction());
    let value_of = |cuts: &[Cut]| -> Result<f64, PruneError> {
        let value = input.measure(goal, &apply(input.graph, input.groups, cuts)?)?;
        Ok(value.unwrap_or(0.0))
    };
    let remaining = |amount: f64| -> Result<(Vec<Cut>, f64), PruneError> {
        let cuts = config.plan(input.groups, input.scores, input.original, amount);
        let value = value_of(&cuts)?;
        Ok((cuts, value))
    };
    // The smallest breakpoint whose plan reaches the goal (plans only grow with the amount).
    let points = config.breakpoints(input.groups, input.scores, input.original);
    let (mut lo, mut hi) = (0, points.len() - 1);
    let (max_cuts, max_value) = remaining(points[hi])?;
    if max_value > limit {
        return Ok(StepPlan {
            cuts: max_cuts,
            amount: points[hi],
            reached: false,
        });
    }
    let mut best = (max_cuts, max_value);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (cuts, value) = remaining(points[mid])?;
        if value <= limit {
            hi = mid;
            best = (cuts, value);
        } else {
            lo = mid + 1;
        }
    }
    if matches!(goal, Target::Latency { .. }) {
        let later = give_back(
            input.scores,
            config.round_to,
            best.clone(),
            limit,
            &value_of,
        )?;
        best = confirm(best, later, limit, &value_of)?;
    }
    Ok(StepPlan {
        cuts: best.0,
        amount: points[hi],
        reached: true,
    })
}

/// A latency plan stops giving channels back once its measured latency is within this share
/// of the goal.
const LATENCY_TOLERANCE: f64 = 0.025;

/// Channels given back to a latency plan `(cuts, value)` whose measured latency lies more than
/// [`LATENCY_TOLERANCE`] under `limit`: the planner's next smaller plan can be far slower (a
/// 16-channel group at 28x28 going from 8 to 16 channels in one step), so one group at a time
/// gets back its `round_to` best-scored removed channels, groups with the best such channels
/// first, for as long as the measured latency (`value_of`) stays within the limit. Returns
/// the plans it accepted in turn, the last one accepted at the end.
fn give_back(
    scores: &GroupScores,
    round_to: usize,
    (mut cuts, mut value): (Vec<Cut>, f64),
    limit: f64,
    value_of: impl Fn(&[Cut]) -> Result<f64, PruneError>,
) -> Result<Vec<(Vec<Cut>, f64)>, PruneError> {
    let best_removed = |cut: &Cut| {
        let score = channel_score(scores, cut.group);
        cut.indices
            .iter()
            .map(|&i| score(i))
            .fold(f32::MIN, f32::max)
    };
    let mut order: Vec<usize> = (0..cuts.len()).collect();
    order.sort_by(|&a, &b| best_removed(&cuts[b]).total_cmp(&best_removed(&cuts[a])));
    let mut accepted = Vec::new();
    for i in order {
        while value < (1.0 - LATENCY_TOLERANCE) * limit && !cuts[i].indices.is_empty() {
            let mut trial = cuts.clone();
            restore_best(&mut trial[i], scores, round_to.max(1));
            let trial_value = value_of(&trial)?;
            if trial_value > limit {
                break;
            }
            (cuts, value) = (trial, trial_value);
            let mut kept = cuts.clone();
            kept.retain(|c| !c.indices.is_empty());
            accepted.push((kept, value));
        }
    }
    Ok(accepted)
}

/// The last of the plans [`give_back`] accepted (`later`) that a second measurement also
/// finds within [`LATENCY_TOLERANCE`] over `limit`, or else the plan it was `given`. Among
/// many trials of a noisy measurement, the one accepted last is likelier than the others to
/// have been timed low (one plan measured within the goal during the search ran 11% slower at
/// the end), so it is timed again, and on failure the plan accepted before it, which was
/// measured faster.
fn confirm(
    given: (Vec<Cut>, f64),
    mut later: Vec<(Vec<Cut>, f64)>,
    limit: f64,
    value_of: impl Fn(&[Cut]) -> Result<f64, PruneError>,
) -> Result<(Vec<Cut>, f64), PruneError> {
    while let Some((cuts, _)) = later.pop() {
        let value = value_of(&cuts)?;
        if value <= (1.0 + LATENCY_TOLERANCE) * limit {
            return Ok((cuts, value));
        }
    }
    Ok(given)
}

/// The score of each channel of `group` (the lowest for a group or channel without one).
fn channel_score(scores: &GroupScores, group: usize) -> impl Fn(usize) -> f32 + '_ {
    let scores = scores[group].as_deref().unwrap_or(&[]);
    move |i| scores.get(i).copied().unwrap_or(f32::MIN)
}

/// Takes the `count` best-scored channels out of `cut` (all, if it holds fewer).
fn restore_best(cut: &mut Cut, scores: &GroupScores, count: usize) {
    let score = channel_score(scores, cut.group);
    cut.indices.sort_by(|&a, &b| score(b).total_cmp(&score(a)));
    cut.indices.drain(..count.min(cut.indices.len()));
    cut.indices.sort_unstable();
}

/// A plan and how it was found.
#[derive(Clone, Debug)]
pub struct StepPlan {
    pub cuts: Vec<Cut>,
    /// The channel amount given to the planner.
    pub amount: f64,
    /// Whether the plan reaches the goal.
    pub reached: bool,
}

/// `graph` with `cuts` applied, as a new graph.
pub fn apply(graph: &Graph, groups: &[ChannelGroup], cuts: &[Cut]) -> Result<Graph, PruneError> {
    let mut pruned = graph.clone();
    let list: Vec<(&ChannelGroup, &[usize])> = cuts
        .iter()
        .map(|c| (&groups[c.group], c.indices.as_slice()))
        .collect();
    prune_groups(&mut pruned, &list)?;
    Ok(pruned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(group: usize, indices: &[usize]) -> Cut {
        Cut {
            group,
            indices: indices.to_vec(),
        }
    }

    /// Channels come back in `round_to` steps, best-scored first, from the group that lost the
    /// best channel first, while the value stays within the limit; the rest stay cut.
    #[test]
    fn give_back_restores_best_channels_within_the_limit() {
        let scores: GroupScores = vec![
            Some(vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]),
            Some(vec![0.9, 0.05, 0.95, 0.01]),
        ];
        let cuts = vec![cut(0, &[0, 1, 2, 3]), cut(1, &[0, 1, 2, 3])];
        // A latency that grows by 1 per channel kept: 8 cut of 12 leaves 4.
        let kept =
            |cuts: &[Cut]| Ok(12.0 - cuts.iter().map(|c| c.indices.len()).sum::<usize>() as f64);
        let later = give_back(&scores, 2, (cuts.clone(), 4.0), 6.5, kept).unwrap();
        // Group 1 lost the best channel (0.95): its two best (2 and 0) come back first, then
        // group 0 cannot take 2 more without passing 6.5.
        let last = vec![cut(0, &[0, 1, 2, 3]), cut(1, &[1, 3])];
        assert_eq!(later, vec![(last, 6.0)]);
        // Already within the tolerance: nothing changes.
        let later = give_back(&scores, 2, (cuts.clone(), 4.0), 4.05, kept).unwrap();
        assert!(later.is_empty());
        // A group given back all its channels leaves the plan.
        let later = give_back(&scores, 4, (cuts, 4.0), 100.0, kept).unwrap();
        assert_eq!(later.last(), Some(&(vec![], 12.0)));
    }

    /// The last accepted plan whose second measurement stays within the tolerance wins; plans
    /// timed slower the second time are passed over, down to the given one, kept untimed.
    #[test]
    fn confirm_times_the_accepted_plans_again() {
        let plan = |channels: usize| (vec![cut(0, &(0..channels).collect::<Vec<_>>())], 0.0);
        let given = plan(6);
        let later = vec![plan(4), plan(3), plan(2)];
        let timed = std::cell::RefCell::new(Vec::new());
        // The second measurement: 2 cut channels run at 10.5, 3 at 10.2, 4 at 9.
        let again = |cuts: &[Cut]| {
            let channels = cuts[0].indices.len();
            timed.borrow_mut().push(channels);
            Ok([10.5, 10.2, 9.0][channels - 2])
        };
        // Limit 10: 10.5 is over the 2.5% tolerance, 10.2 within it.
        let (cuts, value) = confirm(given.clone(), later.clone(), 10.0, again).unwrap();
        assert_eq!((cuts, value), (plan(3).0, 10.2));
        assert_eq!(*timed.borrow(), vec![2, 3]);
        // Every later plan over: the given one comes back as it was.
        let (cuts, value) = confirm(given.clone(), later, 8.0, again).unwrap();
        assert_eq!((cuts, value), given);
        assert_eq!(timed.borrow().len(), 5);
    }
}
