//! Importance criteria: how much each channel of a group matters, higher meaning keep.
//!
//! Every criterion implements [`Importance`]. Weight-based ones look at one member at a time
//! (a conv's filters, a BN's gammas) and combine the members of a group with a [`Reduction`];
//! [`Normalization`] then puts groups on one scale so a global ranking can compare them. A
//! criterion that cannot rate a group (BN scale on a group without batch norm) returns `None`
//! for it and the planner leaves that group alone.
//!
//! Data-driven criteria (Taylor, APoZ, mean activation, HRank, sensitivity sampling, the
//! oracle) run the model on [`ScoreData`] and score every group in one pass by overriding
//! [`Importance::score`]; [`probe`] holds what they share.
//!
//! Adding a criterion is implementing the trait; `examples/custom_criterion.rs` shows one.

mod activation;
mod bn_scale;
mod fpgm;
mod functional;
mod hrank;
mod kmeans;
mod magnitude;
mod oracle;
pub mod probe;
mod random;
mod sensitivity_sampling;
mod taylor;
mod weights;

pub use activation::ActivationImportance;
pub use bn_scale::BnScale;
pub use fpgm::Fpgm;
pub use functional::Functional;
pub use hrank::{HRank, matrix_rank};
pub use kmeans::KMeans;
pub use magnitude::Magnitude;
pub use oracle::Oracle;
pub use probe::ScoreData;
pub use random::RandomImportance;
pub use sensitivity_sampling::SensitivitySampling;
pub use taylor::{Taylor, TaylorWeight};
pub use weights::{channel_vectors, weight_members};

use crate::{ChannelGroup, PruneError};
use serde::{Deserialize, Serialize};
use shears_ir::Graph;
use std::fmt;
use std::str::FromStr;

/// What a criterion sees when it scores a graph.
pub struct ScoreContext<'a> {
    pub graph: &'a Graph,
    /// The fraction of each group's channels the step is about to remove, as far as known
    /// before scoring (criteria such as k-means decide how many channels are redundant, not
    /// only which).
    pub remove_fraction: f64,
    /// Channels the planner will remove from each group, by group id, once a first plan
    /// exists (see [`Importance::depends_on_plan`]).
    pub planned: Option<&'a [usize]>,
    /// The pruning step (1, 2, ...), so seeded criteria draw afresh each step yet repeat
    /// when a run is resumed.
    pub step: usize,
}

impl<'a> ScoreContext<'a> {
    pub fn new(graph: &'a Graph, remove_fraction: f64) -> Self {
        Self {
            graph,
            remove_fraction,
            planned: None,
            step: 1,
        }
    }

    /// The number of `group`'s channels the planner will remove, once known.
    pub fn planned_count(&self, group: &ChannelGroup) -> Option<usize> {
        self.planned.and_then(|p| p.get(group.id)).copied()
    }
}

/// Scores for every channel of each group, or `None` where the criterion cannot rate it.
pub type GroupScores = Vec<Option<Vec<f32>>>;

/// Per node of a graph, one score per element of its filter weight
/// ([`shears_ir::filter_weight`]), `None` for nodes without one.
pub type WeightScores = Vec<Option<Vec<f32>>>;

/// [`WeightScores`] of `graph` from a function of each filter weight and its node index.
pub fn per_weight(
    graph: &Graph,
    mut score: impl FnMut(usize, &shears_ir::Array) -> Vec<f32>,
) -> WeightScores {
    graph
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| shears_ir::filter_weight(&n.op).map(|w| score(i, w)))
        .collect()
}

/// A criterion ranking the channels of a group. Higher scores are kept.
pub trait Importance {
    /// A short name for reports (`l1`, `fpgm`, ...).
    fn name(&self) -> String;

    /// One score per channel of `group` (`group.channels` of them), or `None` when this
    /// criterion cannot rate the group. A criterion implements this or [`Importance::score`]
    /// (or both); the default scores the group alone through `score`.
    fn score_group(
        &mut self,
        ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        Ok(self.score(ctx, &[group])?.pop().flatten())
    }

    /// Whether the scores depend on how many channels the planner removes (k-means does). The
    /// loop then scores twice: once to plan, once more with the planned counts.
    fn depends_on_plan(&self) -> bool {
        false
    }

    /// Scores of single weights, for the finer granularities ([`crate::sparsity`]); `None`
    /// (the default) when the criterion rates channels only. `step` is the pruning step.
    fn score_weights(
        &mut self,
        _graph: &Graph,
        _step: usize,
    ) -> Result<Option<WeightScores>, PruneError> {
        Ok(None)
    }

    /// The model with the readers of the channels `cuts` will remove adjusted so that the
    /// channels kept carry what those did (functionality-oriented pruning's least squares);
    /// `None` (the default) when the criterion leaves the model as it is. `groups` are the
    /// analysis of `graph` the cuts index.
    fn compensate(
        &mut self,
        _graph: &Graph,
        _groups: &[ChannelGroup],
        _cuts: &[crate::schedule::Cut],
    ) -> Result<Option<Graph>, PruneError> {
        Ok(None)
    }

    /// Scores of many groups. Criteria that need a pass over data score every group at once
    /// by overriding this; the default scores one group at a time.
    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        groups.iter().map(|g| self.score_group(ctx, g)).collect()
    }
}

/// How the per-member scores of a group become one score per channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Reduction {
    /// The mean over members (Torch-Pruning's default).
    #[default]
    Mean,
    Sum,
    Max,
    /// The first member only: the layer that produces the channels (Li et al. score a
    /// layer's own filters).
    First,
}

impl Reduction {
    /// Combines member score vectors of equal length; `None` for no members.
    pub fn reduce(self, members: Vec<Vec<f32>>) -> Option<Vec<f32>> {
        let mut it = members.into_iter();
        let first = it.next()?;
        let count = 1 + it.len();
        let combined = match self {
            Reduction::First => first,
            Reduction::Max => it.fold(first, |acc, v| zip_with(acc, &v, f32::max)),
            Reduction::Sum | Reduction::Mean => {
                it.fold(first, |acc, v| zip_with(acc, &v, |a, b| a + b))
            }
        };
        Some(match self {
            Reduction::Mean => combined.into_iter().map(|s| s / count as f32).collect(),
            _ => combined,
        })
    }
}

fn zip_with(mut acc: Vec<f32>, other: &[f32], f: impl Fn(f32, f32) -> f32) -> Vec<f32> {
    for (a, &b) in acc.iter_mut().zip(other) {
        *a = f(*a, b);
    }
    acc
}

/// How a group's scores are scaled before groups are ranked against each other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    None,
    /// Divide by the group's largest score.
    Max,
    /// Divide by the group's mean score (Torch-Pruning's default): every group's scores
    /// average 1, whatever its layers' scale and its number of channels.
    #[default]
    Mean,
    /// Divide by the L2 norm of the group's scores (Molchanov et al. 2017). The scores of a
    /// wide group come out smaller, so a global ranking cuts wide groups first.
    L2,
}

impl Normalization {
    /// Scales `scores` in place; an all-zero vector is left as it is.
    pub fn apply(self, scores: &mut [f32]) {
        let scale = match self {
            Normalization::None => return,
            Normalization::Max => scores.iter().fold(0f32, |m, s| m.max(s.abs())),
            Normalization::Mean => scores.iter().sum::<f32>() / scores.len().max(1) as f32,
            Normalization::L2 => scores.iter().map(|s| s * s).sum::<f32>().sqrt(),
        };
        if scale > 0.0 && scale.is_finite() {
            scores.iter_mut().for_each(|s| *s /= scale);
        }
    }
}

/// The built-in criteria by name, for configuration files and the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Criterion {
    Random,
    L1,
    L2,
    BnScale,
    Fpgm,
    Kmeans,
    Taylor,
    TaylorWeight,
    Apoz,
    MeanActivation,
    Hrank,
    SensitivitySampling,
    Oracle,
    /// Redundancy of responses, with the removed channels folded into the kept ones.
    Functional,
}

/// What building a criterion may take besides its name.
#[derive(Clone)]
pub struct CriterionOptions {
    /// How members of a group combine (weight criteria) or observed layers (data criteria).
    pub reduction: Reduction,
    /// Drives random, k-means and sensitivity sampling.
    pub seed: u64,
    /// The data of data-driven criteria.
    pub data: Option<ScoreData>,
    /// k-means: the share of channels kept as centres when the planner has not said.
    pub clustering_factor: Option<f64>,
    /// Taylor: L2-normalise each observed layer's scores (default on).
    pub taylor_layer_normalization: bool,
}

impl CriterionOptions {
    pub fn new(reduction: Reduction, seed: u64) -> Self {
        Self {
            reduction,
            seed,
            data: None,
            clustering_factor: None,
            taylor_layer_normalization: true,
        }
    }

    pub fn with_data(mut self, data: ScoreData) -> Self {
        self.data = Some(data);
        self
    }
}

impl Criterion {
    pub const ALL: [Criterion; 14] = [
        Criterion::Random,
        Criterion::L1,
        Criterion::L2,
        Criterion::BnScale,
        Criterion::Fpgm,
        Criterion::Kmeans,
        Criterion::Taylor,
        Criterion::TaylorWeight,
        Criterion::Apoz,
        Criterion::MeanActivation,
        Criterion::Hrank,
        Criterion::SensitivitySampling,
        Criterion::Oracle,
        Criterion::Functional,
    ];

    /// Whether the criterion runs the model on data.
    pub fn needs_data(self) -> bool {
        matches!(
            self,
            Criterion::Taylor
                | Criterion::TaylorWeight
                | Criterion::Apoz
                | Criterion::MeanActivation
                | Criterion::Hrank
                | Criterion::SensitivitySampling
                | Criterion::Oracle
                | Criterion::Functional
        )
    }

    /// The criterion with `options`; an error if it needs data and `options` has none, or an
    /// option does not apply to it.
    pub fn build(self, options: &CriterionOptions) -> Result<Box<dyn Importance>, PruneError> {
        let reduction = options.reduction;
        let seed = options.seed;
        if options.clustering_factor.is_some() && self != Criterion::Kmeans {
            return Err(PruneError::Config(
                "`CriterionOptions::clustering_factor` applies to the kmeans criterion only".into(),
            ));
        }
        let data = || {
            options.data.clone().ok_or_else(|| {
                PruneError::Config(format!(
                    "criterion '{self}' scores channels on data: give it `CriterionOptions::data` (it uses the training split)"
                ))
            })
        };
        Ok(match self {
            Criterion::Random => Box::new(RandomImportance::new(seed)),
            Criterion::L1 => Box::new(Magnitude::l1(reduction)),
            Criterion::L2 => Box::new(Magnitude::l2(reduction)),
            Criterion::BnScale => Box::new(BnScale::new(reduction)),
            Criterion::Fpgm => Box::new(Fpgm::new(reduction)),
            Criterion::Kmeans => match options.clustering_factor {
                Some(f) if !(f > 0.0 && f <= 1.0) => {
                    return Err(PruneError::Config(format!(
                        "`CriterionOptions::clustering_factor` {f} must be in (0, 1]"
                    )));
                }
                Some(f) => Box::new(KMeans::new(seed).with_clustering_factor(f)),
                None => Box::new(KMeans::new(seed)),
            },
            Criterion::Taylor => Box::new(
                Taylor::new(data()?, reduction)
                    .with_layer_normalization(options.taylor_layer_normalization),
            ),
            Criterion::TaylorWeight => Box::new(TaylorWeight::new(data()?, reduction)),
            Criterion::Apoz => Box::new(ActivationImportance::apoz(data()?, reduction)),
            Criterion::MeanActivation => {
                Box::new(ActivationImportance::mean_activation(data()?, reduction))
            }
            Criterion::Hrank => Box::new(HRank::new(data()?, reduction)),
            Criterion::SensitivitySampling => Box::new(SensitivitySampling::new(data()?, seed)),
            Criterion::Oracle => Box::new(Oracle::new(data()?)),
            Criterion::Functional => Box::new(Functional::new(data()?)),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Criterion::Random => "random",
            Criterion::L1 => "l1",
            Criterion::L2 => "l2",
            Criterion::BnScale => "bn-scale",
            Criterion::Fpgm => "fpgm",
            Criterion::Kmeans => "kmeans",
            Criterion::Taylor => "taylor",
            Criterion::TaylorWeight => "taylor-weight",
            Criterion::Apoz => "apoz",
            Criterion::MeanActivation => "mean-activation",
            Criterion::Hrank => "hrank",
            Criterion::SensitivitySampling => "sensitivity-sampling",
            Criterion::Oracle => "oracle",
            Criterion::Functional => "functional",
        }
    }
}

impl fmt::Display for Criterion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Criterion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Criterion::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Criterion::ALL.iter().map(|c| c.name()).collect();
                format!(
                    "unknown criterion '{s}'; choose one of {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_combine_members() {
        let m = || vec![vec![1.0, 4.0], vec![3.0, 2.0]];
        assert_eq!(Reduction::Mean.reduce(m()), Some(vec![2.0, 3.0]));
        assert_eq!(Reduction::Sum.reduce(m()), Some(vec![4.0, 6.0]));
        assert_eq!(Reduction::Max.reduce(m()), Some(vec![3.0, 4.0]));
        assert_eq!(Reduction::First.reduce(m()), Some(vec![1.0, 4.0]));
        assert_eq!(Reduction::Mean.reduce(vec![]), None);
    }

    #[test]
    fn normalizations_scale_per_group() {
        let mut s = vec![3.0, 4.0];
        Normalization::L2.apply(&mut s);
        assert_eq!(s, vec![0.6, 0.8]);
        let mut s = vec![1.0, 4.0];
        Normalization::Max.apply(&mut s);
        assert_eq!(s, vec![0.25, 1.0]);
        let mut z = vec![0.0, 0.0];
        Normalization::L2.apply(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn criteria_parse_by_name() {
        for c in Criterion::ALL {
            assert_eq!(c.name().parse::<Criterion>(), Ok(c));
        }
        let err = "taylorr".parse::<Criterion>().unwrap_err();
        assert!(
            err.contains("unknown criterion 'taylorr'") && err.contains("fpgm"),
            "{err}"
        );
    }
}
