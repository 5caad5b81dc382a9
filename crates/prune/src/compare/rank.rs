//! Scores of several criteria for every group, and how well each ranks channels like the
//! oracle: Spearman's rho per layer (group) and over all channels at once.

use super::spearman;
use crate::importance::{GroupScores, Importance, Normalization, ScoreContext};
use crate::{ChannelGroup, PruneError};
use serde::{Deserialize, Serialize};
use shears_ir::Graph;
use std::time::Instant;

/// A scored group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub name: String,
    pub key: String,
    pub channels: usize,
}

/// How a criterion's ranking agrees with the oracle's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// Over every channel of every group, each group's scores L2-normalised first (the scale a
    /// global ranking compares them on).
    pub overall: Option<f64>,
    /// The mean of the per-layer values that exist.
    pub mean_per_layer: Option<f64>,
    /// Per group, in the order of [`RankReport::groups`].
    pub per_layer: Vec<Option<f64>>,
}

/// One criterion's scores, by group, and the time they took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriterionScores {
    pub criterion: String,
    pub seconds: f64,
    pub scores: GroupScores,
    /// Against the oracle, when it ran.
    pub spearman: Option<Correlation>,
}

/// What `shears rank` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankReport {
    pub model: String,
    pub groups: Vec<GroupInfo>,
    pub criteria: Vec<CriterionScores>,
    pub oracle: Option<CriterionScores>,
}

/// Scores `groups` of `graph` with every criterion (and the oracle, if given) and correlates
/// each with the oracle.
pub fn rank_criteria(
    model: &str,
    graph: &Graph,
    groups: &[&ChannelGroup],
    criteria: &mut [Box<dyn Importance>],
    oracle: Option<Box<dyn Importance>>,
    mut progress: impl FnMut(&str, f64),
) -> Result<RankReport, PruneError> {
    let ctx = ScoreContext::new(graph, 0.5);
    let mut run = |c: &mut dyn Importance| -> Result<CriterionScores, PruneError> {
        let start = Instant::now();
        let scores = c.score(&ctx, groups)?;
        let seconds = start.elapsed().as_secs_f64();
        progress(&c.name(), seconds);
        Ok(CriterionScores {
            criterion: c.name(),
            seconds,
            scores,
            spearman: None,
        })
    };
    let mut scored = criteria
        .iter_mut()
        .map(|c| run(c.as_mut()))
        .collect::<Result<Vec<_>, _>>()?;
    let oracle = oracle.map(|mut o| run(o.as_mut())).transpose()?;
    if let Some(oracle) = &oracle {
        for c in &mut scored {
            c.spearman = Some(correlate(&c.scores, &oracle.scores));
        }
    }
    Ok(RankReport {
        model: model.to_string(),
        groups: groups
            .iter()
            .map(|g| GroupInfo {
                name: g.name.clone(),
                key: g.key.clone(),
                channels: g.channels,
            })
            .collect(),
        criteria: scored,
        oracle,
    })
}

/// Spearman's rho of `scores` against `oracle`, per group and overall.
fn correlate(scores: &GroupScores, oracle: &GroupScores) -> Correlation {
    let per_layer: Vec<Option<f64>> = scores
        .iter()
        .zip(oracle)
        .map(|(s, o)| match (s, o) {
            (Some(s), Some(o)) => spearman(s, o),
            _ => None,
        })
        .collect();
    let normalised = |v: &Vec<f32>| {
        let mut v = v.clone();
        Normalization::L2.apply(&mut v);
        v
    };
    let (mut all_s, mut all_o) = (Vec::new(), Vec::new());
    for (s, o) in scores.iter().zip(oracle) {
        if let (Some(s), Some(o)) = (s, o) {
            all_s.extend(normalised(s));
            all_o.extend(normalised(o));
        }
    }
    let present: Vec<f64> = per_layer.iter().flatten().copied().collect();
    Correlation {
        overall: spearman(&all_s, &all_o),
        mean_per_layer: (!present.is_empty())
            .then(|| present.iter().sum::<f64>() / present.len() as f64),
        per_layer,
    }
}
