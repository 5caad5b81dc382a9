//! Per-layer sensitivity: prune each group alone at several ratios, without fine-tuning, and
//! record the accuracy (Distiller's sensitivity analysis). Layers that keep their accuracy
//! can lose more; [`layer_ratios`] turns a scan into the planner's per-layer factors.

use crate::importance::{Importance, ScoreContext};
use crate::schedule::matches;
use crate::{ChannelGroup, PruneError, prune_group};
use serde::{Deserialize, Serialize};
use shears_ir::Graph;
use shears_runtime::train::EvalReport;

/// The accuracy after removing a fraction of one group's channels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensitivityPoint {
    /// The fraction asked for.
    pub ratio: f64,
    /// Channels removed (the ratio of the group's channels, rounded down, at most all but one).
    pub removed: usize,
    pub accuracy: f64,
    pub loss: f64,
}

/// One group's scan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LayerSensitivity {
    pub group: String,
    pub key: String,
    /// The layer that computes the group's channels, which `--layer-ratio` patterns name.
    pub layer: String,
    pub channels: usize,
    pub points: Vec<SensitivityPoint>,
}

/// What `shears sensitivity` reports.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SensitivityReport {
    pub model: String,
    pub criterion: String,
    pub baseline_accuracy: f64,
    pub baseline_loss: f64,
    pub evaluated_samples: usize,
    pub layers: Vec<LayerSensitivity>,
}

/// Scores `groups` once with `criterion`, then for each group and ratio removes that share of
/// its lowest-scored channels from a copy of `graph` and evaluates it with `evaluate`.
/// `progress(group, ratio, accuracy)` follows the scan.
pub fn scan_sensitivity(
    model: &str,
    graph: &Graph,
    groups: &[&ChannelGroup],
    criterion: &mut dyn Importance,
    ratios: &[f64],
    mut evaluate: impl FnMut(&Graph) -> Result<EvalReport, PruneError>,
    mut progress: impl FnMut(&str, f64, f64),
) -> Result<SensitivityReport, PruneError> {
    if let Some(r) = ratios.iter().find(|r| !(**r > 0.0 && **r < 1.0)) {
        return Err(PruneError::Config(format!(
            "the scan ratio {r} is not a fraction strictly between 0 and 1"
        )));
    }
    let baseline = evaluate(graph)?;
    let ctx = ScoreContext::new(graph, 0.5);
    let scores = criterion.score(&ctx, groups)?;
    let mut layers = Vec::new();
    for (group, scores) in groups.iter().zip(scores) {
        let Some(scores) = scores else { continue };
        let mut order: Vec<usize> = (0..group.channels).collect();
        order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]).then(a.cmp(&b)));
        let mut points = Vec::new();
        for &ratio in ratios {
            let removed =
                ((group.channels as f64 * ratio + 1e-9).floor() as usize).min(group.channels - 1);
            let report = if removed == 0 {
                baseline.clone()
            } else {
                let mut pruned = graph.clone();
                prune_group(&mut pruned, group, &order[..removed])?;
                evaluate(&pruned)?
            };
            progress(&group.name, ratio, report.top1);
            points.push(SensitivityPoint {
                ratio,
                removed,
                accuracy: report.top1,
                loss: report.loss,
            });
        }
        layers.push(LayerSensitivity {
            group: group.name.clone(),
            key: group.key.clone(),
            layer: group
                .root()
                .map_or_else(|| group.name.clone(), |m| m.name.clone()),
            channels: group.channels,
            points,
        });
    }
    Ok(SensitivityReport {
        model: model.to_string(),
        criterion: criterion.name(),
        baseline_accuracy: baseline.top1,
        baseline_loss: baseline.loss,
        evaluated_samples: baseline.samples,
        layers,
    })
}

/// Per-layer factors for the planner's local scope (`PlanConfig::layer_ratios`): each layer's
/// tolerated ratio (the largest scanned ratio whose accuracy stays within `max_drop`, in
/// `[0, 1]`, of the baseline; 0 if none) divided by the largest tolerated ratio of any layer.
/// The layer that tolerates most then loses the full amount and the others proportionally
/// less; the planner's target search scales the amount. Only layers of `graph` are kept.
pub fn layer_ratios(
    report: &SensitivityReport,
    max_drop: f64,
    graph: &Graph,
) -> Result<Vec<(String, f64)>, PruneError> {
    let floor = report.baseline_accuracy - max_drop;
    let tolerated: Vec<(String, f64)> = report
        .layers
        .iter()
        .filter(|l| graph.nodes.iter().any(|n| matches(&l.layer, &n.name)))
        .map(|l| {
            let r = l
                .points
                .iter()
                .filter(|p| p.accuracy >= floor)
                .map(|p| p.ratio)
                .fold(0.0, f64::max);
            (l.layer.clone(), r)
        })
        .collect();
    if tolerated.is_empty() {
        return Err(PruneError::Config(
            "the sensitivity scan names no layer of this model; scan this model with `shears sensitivity`".into(),
        ));
    }
    let most = tolerated.iter().map(|(_, r)| *r).fold(0.0, f64::max);
    if most <= 0.0 {
        return Err(PruneError::Config(format!(
            "no layer of the sensitivity scan keeps its accuracy within {:.2} points at any scanned ratio; raise `max_drop` or scan smaller ratios",
            100.0 * max_drop
        )));
    }
    Ok(tolerated
        .into_iter()
        .map(|(layer, r)| (layer, r / most))
        .collect())
}
