//! Pruning while training: soft filter pruning (SFP, He et al. 2018) and gradually hard
//! filter pruning (GHFP, Cai et al. 2020).
//!
//! SFP zeroes the filters of the lowest-scored channels to the target once before training and
//! again after every epoch, and keeps training every weight: a zeroed filter may grow back and
//! be chosen again, or another may take its place. Only the filters are zeroed, as in the
//! paper: the layers reading the channel keep their weights, so gradients reach the zeroed
//! filters (an exact mask of producers and readers would be a saddle no gradient leaves). The
//! channels zeroed last are removed at the end; what their norms' shifts added is lost then,
//! so the accuracy is measured after the removal.
//!
//! GHFP freezes a growing share of the zeroed channels at zero, with the exact mask of
//! [`crate::freeze_groups`] (producers, norms and readers, masked so training keeps them):
//! after epoch `e` (0-based) of `E`, [`Hardening::share`] of each group's zeroed channels, the
//! lowest-scored, are frozen, and a frozen channel stays frozen. The share reaches 1 after the
//! last epoch, so the run ends hard. Before the first epoch nothing is frozen.

use super::run::{evaluate_with, finetune_with, score_groups};
use super::{PruneConfig, PruneObserver, Pruner, StepRecord};
use crate::importance::Importance;
use crate::importance::ScoreContext;
use crate::schedule::{Cut, PlanInput, apply, plan_for};
use crate::sparsity::without_weights;
use crate::{ChannelGroup, DependencyGraph, MemberKind, PruneError, freeze_groups};
use serde::{Deserialize, Serialize};
use shears_ir::{Graph, Side, WeightRole};
use shears_runtime::RuntimeError;
use shears_runtime::train::{BatchProgress, EpochReport, TrainObserver};

/// How the share of frozen channels grows in GHFP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Hardening {
    /// `(e + 1) / E` after epoch `e` of `E`.
    Linear,
    /// `(1 - cos(pi (e + 1) / E)) / 2`: slow at first and last, fastest half-way.
    Cosine,
}

impl Hardening {
    /// The share of each group's zeroed channels frozen after epoch `epoch` (0-based) of
    /// `epochs`; 1 after the last.
    pub fn share(self, epoch: usize, epochs: usize) -> f64 {
        let t = ((epoch + 1) as f64 / epochs.max(1) as f64).min(1.0);
        match self {
            Hardening::Linear => t,
            Hardening::Cosine => (1.0 - (std::f64::consts::PI * t).cos()) / 2.0,
        }
    }
}

impl std::fmt::Display for Hardening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Hardening::Linear => "linear",
            Hardening::Cosine => "cosine",
        })
    }
}

/// What one selection of a soft run did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftEpoch {
    /// The epoch after which it ran; `None` before the first.
    pub epoch: Option<usize>,
    /// Channels zeroed in all (frozen ones included).
    pub zeroed: usize,
    /// Channels frozen at zero.
    pub frozen: usize,
    /// Channels zeroed by the previous selection whose weights training moved away from zero.
    pub revived: usize,
}

/// The state of a soft run between epochs: the training observer [`Pruner::run_soft`] hands to
/// the training loop.
pub(super) struct Soft<'r> {
    pub criterion: &'r mut dyn Importance,
    pub config: &'r PruneConfig,
    pub observer: &'r mut dyn PruneObserver,
    pub groups: Vec<ChannelGroup>,
    pub hardening: Option<Hardening>,
    pub epochs: usize,
    /// Per group, the channels frozen so far, sorted.
    pub frozen: Vec<Vec<usize>>,
    /// The last selection's cuts (what the run removes at the end).
    pub cuts: Vec<Cut>,
    pub history: Vec<SoftEpoch>,
    /// The original model's parameter or MAC count the target is measured against.
    pub baseline: Option<f64>,
    pub original: crate::schedule::OriginalChannels,
    /// The error that stopped training, in the pruner's terms.
    pub error: Option<PruneError>,
}

impl Soft<'_> {
    /// Scores `graph`, zeroes the lowest channels to the target and freezes the share the
    /// schedule asks for after `epoch`.
    pub fn select(&mut self, graph: &mut Graph, epoch: Option<usize>) -> Result<(), PruneError> {
        let revived = self.revived(graph);
        let (cuts, scores) = self.plan(graph)?;
        let share = match (self.hardening, epoch) {
            (Some(h), Some(e)) => h.share(e, self.epochs),
            _ => 0.0,
        };
        let mut soft = Vec::new();
        for cut in &cuts {
            let frozen = &mut self.frozen[cut.group];
            let wanted = (share * cut.indices.len() as f64).round() as usize;
            let mut order: Vec<usize> = cut.indices.clone();
            let score = |c: usize| scores[cut.group].as_ref().map_or(0.0, |s| s[c]);
            order.sort_by(|&a, &b| score(a).total_cmp(&score(b)));
            for c in order {
                if frozen.len() >= wanted {
                    break;
                }
                if let Err(at) = frozen.binary_search(&c) {
                    frozen.insert(at, c);
                }
            }
            let rest: Vec<usize> = cut
                .indices
                .iter()
                .copied()
                .filter(|c| frozen.binary_search(c).is_err())
                .collect();
            soft.push((cut.group, rest));
        }
        for (g, channels) in &soft {
            zero_filters(graph, &self.groups[*g], channels);
        }
        let group = |g: usize| &self.groups[g];
        let hard_cuts: Vec<(&ChannelGroup, &[usize])> = (0..self.groups.len())
            .filter(|&g| !self.frozen[g].is_empty())
            .map(|g| (group(g), self.frozen[g].as_slice()))
            .collect();
        freeze_groups(graph, &hard_cuts)?;
        // Frozen channels are removed at the end too, chosen again or not.
        self.cuts = (0..self.groups.len())
            .filter_map(|g| {
                let mut indices: Vec<usize> = cuts
                    .iter()
                    .filter(|c| c.group == g)
                    .flat_map(|c| c.indices.iter().copied())
                    .chain(self.frozen[g].iter().copied())
                    .collect();
                indices.sort_unstable();
                indices.dedup();
                (!indices.is_empty()).then_some(Cut { group: g, indices })
            })
            .collect();
        self.history.push(SoftEpoch {
            epoch,
            zeroed: self.cuts.iter().map(|c| c.indices.len()).sum(),
            frozen: self.frozen.iter().map(Vec::len).sum(),
            revived,
        });
        Ok(())
    }

    /// The cuts reaching the target on `graph` as it is now, and the scores they follow.
    fn plan(
        &mut self,
        graph: &Graph,
    ) -> Result<(Vec<Cut>, crate::importance::GroupScores), PruneError> {
        let config = &self.config.plan;
        let target = self.config.target;
        let eligible = config.eligible(graph, &self.groups);
        let chosen: Vec<&ChannelGroup> = self.groups.iter().filter(|g| eligible[g.id]).collect();
        let ctx = ScoreContext::new(graph, target.fraction());
        let scores = score_groups(&mut *self.criterion, &ctx, &self.groups, &chosen)?;
        let input = PlanInput {
            graph,
            groups: &self.groups,
            scores: &scores,
            original: &self.original,
            baseline: self.baseline,
            // Soft pruning keeps every channel: the model has the starting one's shapes.
            reference: Some(graph),
        };
        let plan = plan_for(&input, config, target)?;
        super::run::check_reached(&plan, target, &input)?;
        Ok((plan.cuts, scores))
    }

    /// How many channels of the last selection hold a non-zero weight in a producing filter.
    fn revived(&self, graph: &Graph) -> usize {
        self.cuts
            .iter()
            .map(|cut| {
                let zero = without_weights(graph, &self.groups[cut.group]).unwrap_or_default();
                cut.indices
                    .iter()
                    .filter(|c| zero.binary_search(c).is_err())
                    .count()
            })
            .sum()
    }
}

/// Zeroes the filter weights that produce `channels` of `group`, and nothing else: their
/// biases, the norms after them and the layers reading them keep their values, so gradients
/// still reach the zeroed filters, as in SFP's code.
fn zero_filters(graph: &mut Graph, group: &ChannelGroup, channels: &[usize]) {
    for member in group
        .members
        .iter()
        .filter(|m| m.kind == MemberKind::Filters)
    {
        let out: Vec<usize> = channels.iter().flat_map(|&c| member.indices(c)).collect();
        let op = &mut graph.nodes[member.node].op;
        let filters = op
            .channel_weights()
            .into_iter()
            .filter(|w| w.side == Side::Out && w.role == WeightRole::Filter);
        for w in filters.collect::<Vec<_>>() {
            op.arrays_mut()[w.array].zero_along(w.axis, &out);
        }
    }
}

impl TrainObserver for Soft<'_> {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        if let Some(o) = self.observer.train_observer() {
            o.epoch_start(epoch, epochs, batches);
        }
    }

    fn batch(&mut self, progress: &BatchProgress) {
        if let Some(o) = self.observer.train_observer() {
            o.batch(progress);
        }
    }

    fn epoch_end(&mut self, report: &EpochReport) {
        if let Some(o) = self.observer.train_observer() {
            o.epoch_end(report);
        }
    }

    fn after_epoch(&mut self, epoch: usize, graph: &mut Graph) -> Result<bool, RuntimeError> {
        match self.select(graph, Some(epoch)) {
            Ok(()) => Ok(true),
            Err(e) => {
                let message = e.to_string();
                self.error = Some(e);
                Err(RuntimeError::Stopped(message))
            }
        }
    }
}

impl Pruner<'_> {
    /// A soft run ([`super::PruneMode::Soft`]): zero, train an epoch, re-zero, ..., then
    /// remove the channels zeroed last. Leaves the pruned model in `graph`.
    pub(super) fn run_soft(
        &mut self,
        graph: &mut Graph,
        hardening: Option<Hardening>,
        observer: &mut dyn PruneObserver,
    ) -> Result<super::PruneRecord, PruneError> {
        let identity = match self.checkpoint.is_some() {
            true => self.identity(graph),
            false => Default::default(),
        };
        let mut state = self.start(graph, identity)?;
        let start = std::time::Instant::now();
        let target = self.config.target;
        observer.step_start(1, 1, target);
        let deps = DependencyGraph::build(graph)?;
        let epochs = self.config.finetune_epochs();
        let teacher = graph.clone();
        let config = self.config.clone();
        let (data, device) = (self.data, self.device);
        let mut soft = Soft {
            criterion: &mut *self.criterion,
            config: &config,
            observer: &mut *observer,
            groups: deps.groups().to_vec(),
            hardening,
            epochs,
            frozen: vec![Vec::new(); deps.groups().len()],
            cuts: Vec::new(),
            history: Vec::new(),
            baseline: state.baseline,
            original: state.original.clone(),
            error: None,
        };
        soft.select(graph, None)?;
        let zeroed = evaluate_with(&config, data, device, graph)?;
        let reports = match finetune_with(&config, data, device, graph, &teacher, 1, &mut soft) {
            Ok(reports) => reports,
            Err(e) => return Err(soft.error.take().unwrap_or(e)),
        };
        let (cuts, groups, history) = (soft.cuts, soft.groups, soft.history);
        *graph = apply(graph, &groups, &cuts)?;
        let eval = evaluate_with(&config, data, device, graph)?;
        let record = StepRecord {
            step: 1,
            target: target.fraction(),
            channels_removed: cuts.iter().map(|c| c.indices.len()).sum(),
            weights_removed: 0,
            params: graph.kept_param_count(),
            macs: graph.kept_mac_count()?,
            accuracy_pruned: zeroed.as_ref().map(|e| e.top1),
            accuracy: eval.as_ref().map(|e| e.top1),
            loss: eval.as_ref().map(|e| e.loss),
            finetune_epochs: epochs,
            epoch_accuracy: super::run::epoch_accuracy(&reports),
            seconds: start.elapsed().as_secs_f64(),
            layers: super::run::layer_widths(graph),
            soft: history,
        };
        observer.step_end(&record);
        state.record.steps.push(record);
        state.record.kept_step = 1;
        state.record.stopped = Some(super::StopReason::TargetReached);
        state.graph = graph.clone();
        if let Some(path) = &self.checkpoint {
            state.save(path)?;
        }
        Ok(state.record)
    }
}

#[cfg(test)]
mod tests {
    use super::Hardening;

    #[test]
    fn hardening_grows_from_nothing_to_everything_as_documented() {
        for e in 0..4 {
            assert!((Hardening::Linear.share(e, 4) - (e + 1) as f64 / 4.0).abs() < 1e-12);
        }
        let cosine = |e| Hardening::Cosine.share(e, 4);
        assert!((cosine(0) - (1.0 - (std::f64::consts::PI / 4.0).cos()) / 2.0).abs() < 1e-12);
        assert!((cosine(1) - 0.5).abs() < 1e-12);
        assert!((cosine(3) - 1.0).abs() < 1e-12);
        assert!(cosine(0) < Hardening::Linear.share(0, 4));
        assert_eq!(Hardening::Linear.share(9, 4), 1.0);
    }
}
