//! The step loop of [`Pruner::run`].

use super::norms::{Origins, Teacher, channel_origins, finetune_normalised};
use super::{
    LayerWidth, PruneCheckpoint, PruneObserver, PruneRecord, Pruner, StepRecord, StopReason,
};
use super::{PruneConfig, RetrainFrom};
use crate::importance::Importance;
use crate::importance::{GroupScores, ScoreContext};
use crate::schedule::{
    Cut, OriginalChannels, PlanInput, StepPlan, Target, apply, cuts_with_counts, plan_for,
};
use crate::sparsity::{
    SparsePlan, apply_masks, check_config, plan_masks, remove_dead, sparse_layers, trim_kernels,
};
use crate::{ChannelGroup, DependencyGraph, PruneError, has_filters};
use shears_ir::Graph;
use shears_runtime::DeviceKind;
use shears_runtime::train::{
    EpochReport, EvalReport, Quiet, RunIdentity, TrainConfig, TrainData, TrainObserver, evaluate,
    train,
};
use std::time::Instant;

impl Pruner<'_> {
    /// Prunes `graph` to the target and leaves in it the model kept (the last one above the
    /// accuracy floor). With `resume`, continues the run the checkpoint was written by.
    pub fn run(
        &mut self,
        graph: &mut Graph,
        resume: Option<PruneCheckpoint>,
        observer: &mut dyn PruneObserver,
    ) -> Result<PruneRecord, PruneError> {
        self.validate(graph)?;
        if let super::PruneMode::Soft { hardening } = self.config.mode {
            if resume.is_some() {
                return Err(PruneError::Config(
                    "a soft pruning run cannot be resumed; start it afresh".into(),
                ));
            }
            return self.run_soft(graph, hardening, observer);
        }
        // Hashing the data costs a pass over it: only a checkpoint needs the identity.
        let identity = match self.checkpoint.is_some() || resume.is_some() {
            true => self.identity(graph),
            false => RunIdentity::default(),
        };
        let latency = matches!(self.config.target, Target::Latency { .. });
        let reference = latency.then(|| graph.clone());
        let mut state = match resume {
            Some(mut ckpt) => {
                ckpt.check_resumable(&self.config, &self.criterion.name(), &identity)?;
                // A run capped by --max-steps goes on when resumed.
                if ckpt.record.stopped == Some(StopReason::MaxSteps) {
                    ckpt.record.stopped = None;
                }
                *graph = ckpt.graph.clone();
                ckpt
            }
            None => self.start(graph, identity)?,
        };
        state.reference = reference;
        let floor = self.floor(state.record.baseline().accuracy);
        let steps = self.config.steps;
        while state.record.stopped.is_none() {
            let step = state.record.steps.len();
            if step > steps {
                let removed: usize = state
                    .record
                    .steps
                    .iter()
                    .map(|s| s.channels_removed + s.weights_removed)
                    .sum();
                state.record.stopped = Some(match removed {
                    0 => StopReason::NothingToPrune,
                    _ => StopReason::TargetReached,
                });
            } else if self.config.max_steps.is_some_and(|m| step > m) {
                state.record.stopped = Some(StopReason::MaxSteps);
            } else {
                self.step(graph, &mut state, step, floor, observer)?;
            }
            if let Some(path) = &self.checkpoint {
                state.save(path)?;
            }
        }
        Ok(state.record)
    }

    fn validate(&self, graph: &Graph) -> Result<(), PruneError> {
        let config = &self.config;
        config.target.check()?;
        config.plan.validate(graph)?;
        check_config(config.plan.granularity, config.steps, config.target)?;
        if let super::PruneMode::Soft { .. } = config.mode {
            check_soft(config)?;
        }
        config.retrain_from.check(graph, config)?;
        if config.steps == 0 {
            return Err(PruneError::Config(
                "`PruneConfig::steps` must be at least 1".into(),
            ));
        }
        if config.needs_data() && self.data.is_none() {
            return Err(PruneError::Config(
                "fine-tuning and accuracy limits need a data set (`Pruner::data`); without one, prune with no fine-tuning and no accuracy limits".into(),
            ));
        }
        let limits = config.min_accuracy.is_some() || config.max_accuracy_drop.is_some();
        if limits && self.data.and_then(|d| d.test.as_ref()).is_none() {
            return Err(PruneError::Config(
                "accuracy limits need a test split (`TrainData::test`) to measure accuracy on"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The starting model and data by content, for checkpoints.
    pub(super) fn identity(&self, graph: &Graph) -> RunIdentity {
        RunIdentity::of(
            graph,
            self.data.map(|d| &*d.train),
            self.data.and_then(|d| d.test.as_deref()),
            self.data.map(|d| &d.normalize),
        )
    }

    /// Step 0: measures the model as given.
    pub(super) fn start(
        &mut self,
        graph: &Graph,
        identity: RunIdentity,
    ) -> Result<PruneCheckpoint, PruneError> {
        let start = Instant::now();
        let deps = DependencyGraph::build(graph)?;
        let original: OriginalChannels = deps
            .groups()
            .iter()
            .map(|g| (g.key.clone(), g.channels))
            .collect();
        let eval = self.evaluate(graph)?;
        if let (Some(floor), Some(e)) = (self.config.min_accuracy, &eval)
            && e.top1 < floor
        {
            return Err(PruneError::Config(format!(
                "the model starts at {:.2}% top-1, already under `PruneConfig::min_accuracy` {:.2}%; lower the floor",
                100.0 * e.top1,
                100.0 * floor
            )));
        }
        let baseline = StepRecord {
            step: 0,
            target: 0.0,
            channels_removed: 0,
            weights_removed: 0,
            params: graph.kept_param_count(),
            macs: graph.kept_mac_count()?,
            accuracy_pruned: None,
            accuracy: eval.as_ref().map(|e| e.top1),
            loss: eval.as_ref().map(|e| e.loss),
            finetune_epochs: 0,
            epoch_accuracy: Vec::new(),
            seconds: start.elapsed().as_secs_f64(),
            layers: layer_widths(graph),
            soft: Vec::new(),
        };
        Ok(PruneCheckpoint {
            graph: graph.clone(),
            record: PruneRecord {
                model: self.model.clone(),
                criterion: self.criterion.name(),
                scope: self.config.plan.scope.to_string(),
                target: self.config.target.to_string(),
                steps: vec![baseline],
                kept_step: 0,
                stopped: None,
            },
            original,
            baseline: self.config.target.measure(graph)?,
            reference: None,
            config: self.config.clone(),
            identity,
        })
    }

    /// The accuracy a kept model must reach, if any.
    fn floor(&self, baseline: Option<f64>) -> Option<f64> {
        let drop = self
            .config
            .max_accuracy_drop
            .and_then(|d| baseline.map(|b| b - d));
        match (self.config.min_accuracy, drop) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }

    fn step(
        &mut self,
        graph: &mut Graph,
        state: &mut PruneCheckpoint,
        step: usize,
        floor: Option<f64>,
        observer: &mut dyn PruneObserver,
    ) -> Result<(), PruneError> {
        let start = Instant::now();
        let config = &self.config;
        let target = config.target;
        let goal =
            target.with_fraction(target.fraction() * config.ramp.fraction(step, config.steps));
        observer.step_start(step, config.steps, goal);
        let Some((mut candidate, mut removed)) = self.propose(graph, state, goal, step)? else {
            // The goal of this step is met already (or rounding leaves nothing to cut yet).
            let previous = state.record.kept().clone();
            let record = StepRecord {
                step,
                target: goal.fraction(),
                channels_removed: 0,
                weights_removed: 0,
                accuracy_pruned: previous.accuracy,
                finetune_epochs: 0,
                seconds: start.elapsed().as_secs_f64(),
                ..previous
            };
            observer.step_end(&record);
            state.record.steps.push(record);
            state.record.kept_step = step;
            return Ok(());
        };
        observer.pruned(
            step,
            candidate.kept_param_count(),
            candidate.kept_mac_count()?,
        );
        candidate = self.config.retrain_from.start(candidate);
        if self.config.scale_dropout {
            super::scale_dropout(graph, &mut candidate);
        }
        let pruned_eval = self.evaluate(&candidate)?;
        let history = self.finetune(
            &mut candidate,
            graph,
            removed.origins.as_ref(),
            step,
            observer,
        )?;
        let epochs = history.len();
        if self.config.plan.granularity.is_sparse() {
            let (lean, channels) = remove_dead(&candidate, self.device)?;
            candidate = trim_kernels(&lean).0;
            removed.channels += channels;
        }
        let eval = if epochs > 0 {
            self.evaluate(&candidate)?
        } else {
            pruned_eval.clone()
        };
        let record = StepRecord {
            step,
            target: goal.fraction(),
            channels_removed: removed.channels,
            weights_removed: removed.weights,
            params: candidate.kept_param_count(),
            macs: candidate.kept_mac_count()?,
            accuracy_pruned: pruned_eval.as_ref().map(|e| e.top1),
            accuracy: eval.as_ref().map(|e| e.top1),
            loss: eval.as_ref().map(|e| e.loss),
            finetune_epochs: epochs,
            epoch_accuracy: epoch_accuracy(&history),
            seconds: start.elapsed().as_secs_f64(),
            layers: layer_widths(&candidate),
            soft: Vec::new(),
        };
        observer.step_end(&record);
        let accuracy = record.accuracy;
        state.record.steps.push(record);
        if let (Some(floor), Some(accuracy)) = (floor, accuracy)
            && accuracy < floor
        {
            state.record.stopped = Some(StopReason::AccuracyFloor {
                step,
                accuracy,
                floor,
            });
            return Ok(());
        }
        *graph = candidate;
        state.graph = graph.clone();
        state.record.kept_step = step;
        Ok(())
    }

    /// The model this step proposes (channels cut, or weights masked) and what it removed;
    /// `None` when the goal is met already (or rounding leaves nothing to remove yet).
    fn propose(
        &mut self,
        graph: &Graph,
        state: &PruneCheckpoint,
        goal: Target,
        step: usize,
    ) -> Result<Option<(Graph, Removed)>, PruneError> {
        if self.config.plan.granularity.is_sparse() {
            let plan = self.plan_masks(graph, state, goal, step)?;
            let removed = Removed {
                channels: 0,
                weights: plan.removed,
                origins: None,
            };
            let source = self.config.retrain_from.source(graph);
            return Ok((plan.removed > 0).then(|| (apply_masks(source, &plan), removed)));
        }
        let deps = DependencyGraph::build(graph)?;
        let groups = deps.groups();
        let cuts = self.plan(graph, groups, state, goal, step)?;
        if cuts.is_empty() {
            return Ok(None);
        }
        let compensated = match &self.config.retrain_from {
            RetrainFrom::Survivors => self.criterion.compensate(graph, groups, &cuts)?,
            _ => None,
        };
        let base = (compensated.as_ref()).unwrap_or(self.config.retrain_from.source(graph));
        let cut = |g: &Graph| apply(g, groups, &cuts);
        let removed = Removed {
            channels: cuts.iter().map(|c| c.indices.len()).sum(),
            weights: 0,
            origins: self
                .config
                .train_bn
                .then(|| channel_origins(base, cut))
                .transpose()?,
        };
        Ok(Some((cut(base)?, removed)))
    }

    /// Scores single weights and plans the masks reaching `goal` at a sparse granularity.
    fn plan_masks(
        &mut self,
        graph: &Graph,
        state: &PruneCheckpoint,
        goal: Target,
        step: usize,
    ) -> Result<SparsePlan, PruneError> {
        let config = &self.config.plan;
        let layers = sparse_layers(graph, config)?;
        if layers.is_empty() {
            return Err(PruneError::Config(
                "no layer's weights may be masked with these settings (all are ignored or skipped); see `shears info MODEL`".into(),
            ));
        }
        let scores = self.criterion.score_weights(graph, step)?.ok_or_else(|| {
            PruneError::Config(format!(
                "criterion '{}' rates channels, not single weights; at the {} granularity use l1, l2, taylor-weight or random",
                self.criterion.name(),
                config.granularity
            ))
        })?;
        let share = self.config.ramp.fraction(step, self.config.steps);
        let plan = plan_masks(graph, &layers, &scores, config, goal, state.baseline, share)?;
        if !plan.reached {
            return Err(PruneError::Target(format!(
                "removing {goal} is out of reach by masking the eligible weights alone; lower the target or mask more layers (`PlanConfig::ignore`, `PlanConfig::skip_first`, `PlanConfig::skip_last`)"
            )));
        }
        Ok(plan)
    }

    /// Scores the eligible groups and plans the cuts reaching `goal`. On the first step, also
    /// checks that the final target can be reached within the limits at all.
    fn plan(
        &mut self,
        graph: &Graph,
        groups: &[ChannelGroup],
        state: &PruneCheckpoint,
        goal: Target,
        step: usize,
    ) -> Result<Vec<Cut>, PruneError> {
        let config = self.config.plan.clone();
        let config = &config;
        let eligible = config.eligible(graph, groups);
        let chosen: Vec<&ChannelGroup> = groups.iter().filter(|g| eligible[g.id]).collect();
        let mut ctx = ScoreContext::new(graph, goal.fraction());
        ctx.step = step;
        let mut scores = self.score(&ctx, groups, &chosen)?;
        let input = |scores| PlanInput {
            graph,
            groups,
            scores,
            original: &state.original,
            baseline: state.baseline,
            reference: state.reference.as_ref(),
        };
        let check = |plan: &StepPlan, goal: Target| check_reached(plan, goal, &input(&scores));
        if step == 1 && goal != self.config.target {
            let whole = plan_for(&input(&scores), config, self.config.target)?;
            check(&whole, self.config.target)?;
            check_step_count(&whole, self.config.steps)?;
        }
        let plan = plan_for(&input(&scores), config, goal)?;
        check(&plan, goal)?;
        if !self.criterion.depends_on_plan() {
            return Ok(plan.cuts);
        }
        let mut planned = vec![0; groups.len()];
        for cut in &plan.cuts {
            planned[cut.group] = cut.indices.len();
        }
        ctx.planned = Some(&planned);
        scores = self.score(&ctx, groups, &chosen)?;
        // Same counts (so the same MACs), channels picked by the new scores.
        Ok(cuts_with_counts(&scores, &planned))
    }

    /// The criterion's scores, indexed by group id; an error if it rates no group at all.
    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[ChannelGroup],
        chosen: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        score_groups(&mut *self.criterion, ctx, groups, chosen)
    }

    /// Fine-tunes `graph` in place for the configured epochs, distilling from `teacher` (the
    /// model the step started from) if the recipe says so; returns the epochs run.
    fn finetune(
        &self,
        graph: &mut Graph,
        teacher: &Graph,
        origins: Option<&Origins>,
        step: usize,
        observer: &mut dyn PruneObserver,
    ) -> Result<Vec<EpochReport>, PruneError> {
        let mut quiet = Quiet;
        let train_observer = match observer.train_observer() {
            Some(o) => o,
            None => &mut quiet,
        };
        let (config, data, device) = (&self.config, self.data, self.device);
        let teacher = Teacher {
            graph: teacher,
            origins,
        };
        finetune_normalised(config, data, device, graph, teacher, step, train_observer)
    }

    pub(super) fn evaluate(&self, graph: &Graph) -> Result<Option<EvalReport>, PruneError> {
        evaluate_with(&self.config, self.data, self.device, graph)
    }
}

/// [`Pruner`]'s fine-tuning with `config`'s recipe on `data`, reporting to `observer`; the
/// report of every epoch run (evaluated with [`PruneConfig::eval_epochs`]).
pub(super) fn finetune_with(
    config: &PruneConfig,
    data: Option<&TrainData>,
    device: DeviceKind,
    graph: &mut Graph,
    teacher: &Graph,
    step: usize,
    observer: &mut dyn TrainObserver,
) -> Result<Vec<EpochReport>, PruneError> {
    let (Some(recipe), Some(data)) = (&config.finetune, data) else {
        return Ok(Vec::new());
    };
    if recipe.epochs == 0 {
        return Ok(Vec::new());
    }
    let eval_epochs = config.eval_epochs;
    let config = TrainConfig {
        seed: recipe.seed.wrapping_add(step as u64),
        checkpoint: None,
        test_limit: config.eval_limit,
        ..recipe.clone()
    };
    let data = TrainData {
        train: data.train.clone(),
        test: data.test.clone().filter(|_| eval_epochs),
        normalize: data.normalize.clone(),
        teacher: config
            .distill
            .is_some()
            .then(|| std::sync::Arc::new(teacher.clone())),
    };
    Ok(train(graph, &data, &config, device, None, observer)?)
}

/// The top-1 accuracy after each epoch of `history`, where it was evaluated.
pub(super) fn epoch_accuracy(history: &[EpochReport]) -> Vec<f64> {
    history
        .iter()
        .filter_map(|e| Some(e.test.as_ref()?.top1))
        .collect()
}

/// Top-1 and loss of `graph` on `data`'s test split with `config`'s limits; `None` without one.
pub(super) fn evaluate_with(
    config: &PruneConfig,
    data: Option<&TrainData>,
    device: DeviceKind,
    graph: &Graph,
) -> Result<Option<EvalReport>, PruneError> {
    let Some((test, data)) = data.and_then(|d| d.test.as_ref().map(|t| (t, d))) else {
        return Ok(None);
    };
    let report = evaluate(
        graph,
        test,
        &data.normalize,
        config.eval_batch,
        config.eval_limit,
        device,
    )?;
    Ok(Some(report))
}

/// The criterion's scores, indexed by group id; an error if it rates no group at all.
pub(super) fn score_groups(
    criterion: &mut dyn Importance,
    ctx: &ScoreContext,
    groups: &[ChannelGroup],
    chosen: &[&ChannelGroup],
) -> Result<GroupScores, PruneError> {
    let mut scores: GroupScores = vec![None; groups.len()];
    for (g, s) in chosen.iter().zip(criterion.score(ctx, chosen)?) {
        if let Some(s) = &s
            && s.len() != g.channels
        {
            return Err(PruneError::Config(format!(
                "criterion '{}' gave {} scores for group '{}' of {} channels",
                criterion.name(),
                s.len(),
                g.name,
                g.channels
            )));
        }
        scores[g.id] = s;
    }
    if chosen.is_empty() {
        return Err(PruneError::Config(
            "no group of the model may be pruned with these settings (all are blocked, ignored or skipped); see `shears groups MODEL`".into(),
        ));
    }
    if scores.iter().all(Option::is_none) {
        return Err(PruneError::Config(format!(
            "criterion '{}' rates none of the prunable groups of this model (bn-scale needs batch norms); choose another criterion",
            criterion.name()
        )));
    }
    Ok(scores)
}

/// What a soft run needs: channels, one step, fine-tuning epochs, a data set's worth of
/// training.
fn check_soft(config: &PruneConfig) -> Result<(), PruneError> {
    if config.plan.granularity.is_sparse() {
        return Err(PruneError::Config(
            "soft pruning zeroes whole channels: use `PlanConfig::granularity` channel".into(),
        ));
    }
    if config.steps != 1 {
        return Err(PruneError::Config(
            "a soft run re-chooses its channels every epoch in one step: set `PruneConfig::steps` to 1".into(),
        ));
    }
    if config.finetune_epochs() == 0 {
        return Err(PruneError::Config(
            "soft pruning prunes while training: give it epochs of fine-tuning (`PruneConfig::finetune`)".into(),
        ));
    }
    if config.min_accuracy.is_some() || config.max_accuracy_drop.is_some() {
        return Err(PruneError::Config(
            "a soft run has one step, so accuracy floors (`PruneConfig::min_accuracy`, `PruneConfig::max_accuracy_drop`) cannot pick among steps; drop them".into(),
        ));
    }
    Ok(())
}

/// Every step must be able to remove something: more steps than the whole target removes
/// channels would score and plan in vain, step after step.
fn check_step_count(whole: &StepPlan, steps: usize) -> Result<(), PruneError> {
    let channels: usize = whole.cuts.iter().map(|c| c.indices.len()).sum();
    if channels < steps {
        return Err(PruneError::Config(format!(
            "`PruneConfig::steps` {steps} is more steps than the {channels} channels the target removes: each step must remove at least one; use at most {channels} steps"
        )));
    }
    Ok(())
}

/// An impossible-target error unless `plan` reaches its goal, saying how far the limits allow
/// (measured against the input's baseline, the starting model's quantity).
pub(super) fn check_reached(
    plan: &StepPlan,
    goal: Target,
    input: &PlanInput,
) -> Result<(), PruneError> {
    if plan.reached {
        return Ok(());
    }
    let pruned = apply(input.graph, input.groups, &plan.cuts)?;
    let at_most = match (input.baseline, input.measure(goal, &pruned)?) {
        (Some(a), Some(b)) if a > 0.0 => format!("{:.1}%", 100.0 * (1.0 - b / a)),
        _ => "less".into(),
    };
    Err(PruneError::Target(format!(
        "removing {goal} is out of reach: with these limits at most {at_most} can go; lower the target or loosen `PlanConfig::max_layer_ratio`, `PlanConfig::min_channels`, `PlanConfig::round_to`, `PlanConfig::ignore` or `PlanConfig::skip_first`"
    )))
}

/// Every layer with filters (conv, transposed conv, linear) with its output width, in graph
/// order.
pub(crate) fn layer_widths(graph: &Graph) -> Vec<LayerWidth> {
    let Ok(shapes) = graph.infer_shapes() else {
        return Vec::new();
    };
    graph
        .nodes
        .iter()
        .zip(shapes)
        .filter(|(n, _)| has_filters(&n.op))
        .map(|(n, shape)| LayerWidth {
            name: n.name.clone(),
            channels: shape[0].first().copied().unwrap_or(0),
        })
        .collect()
}

/// What one step removed.
struct Removed {
    channels: usize,
    /// Weight elements newly masked.
    weights: usize,
    /// The original channel of each channel of every bare convolution, after a channel cut.
    origins: Option<Origins>,
}
