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

/// Timed runs behind one latency measurement (after two warm-up runs).
const LATENCY_RUNS: usize = 15;

/// Seconds one forward pass of `batch` images of `graph` takes on shears' CPU runtime (flex,
/// BN folded): the fastest of [`LATENCY_RUNS`] runs, which other load on a shared machine
/// disturbs least (a median moves by tens of percent between calls there).
pub fn latency(graph: &Graph, batch: usize) -> Result<f64, PruneError> {
    Ok(bench::inference(graph, DeviceKind::Flex, batch, LATENCY_RUNS)?.best_s)
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
    /// The target's quantity on the original model (parameters or MACs).
    pub baseline: Option<f64>,
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
    let remaining = |amount: f64| -> Result<(Vec<Cut>, f64), PruneError> {
        let cuts = config.plan(input.groups, input.scores, input.original, amount);
        let value = goal
            .measure(&apply(input.graph, input.groups, &cuts)?)?
            .unwrap_or(0.0);
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
    let mut best = max_cuts;
    while lo < hi {
        let mid = (lo + hi) / 2;
        let (cuts, value) = remaining(points[mid])?;
        if value <= limit {
            hi = mid;
            best = cuts;
        } else {
            lo = mid + 1;
        }
    }
    Ok(StepPlan {
        cuts: best,
        amount: points[hi],
        reached: true,
    })
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
