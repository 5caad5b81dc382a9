//! The pruning loop: score, plan, cut, fine-tune, evaluate, repeat until the target.
//!
//! Each step aims for the schedule's share of the target ([`Ramp`]), scores the eligible
//! groups with the criterion, plans the cuts ([`plan_for`](crate::schedule::plan_for)),
//! removes the channels, fine-tunes for a few epochs and evaluates. A step that ends under the
//! accuracy floor is recorded but its model is dropped: the run keeps the last model above the
//! floor. After every step the run is checkpointed, so a kill loses at most the step under way
//! and [`Pruner::run`] continues from the checkpoint.

mod checkpoint;
mod dropout;
mod norms;
mod record;
mod retrain;
mod run;
mod soft;

pub use checkpoint::PruneCheckpoint;
pub use dropout::scale_dropout;
pub use norms::add_training_norms;
pub use record::{LayerWidth, PruneRecord, StepRecord, StopReason};
pub use retrain::RetrainFrom;
pub use soft::{Hardening, SoftEpoch};

use crate::schedule::{PlanConfig, Ramp, Target};
use serde::{Deserialize, Serialize};
use shears_runtime::train::{TrainConfig, TrainData, TrainObserver};

/// Everything that decides what a run does (the data, device and criterion aside).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneConfig {
    /// What to remove, and how much of it in total.
    pub target: Target,
    /// Steps to reach the target (1: one-shot).
    pub steps: usize,
    pub ramp: Ramp,
    pub plan: PlanConfig,
    /// Fine-tuning after each step (its `epochs` per step); `None` or 0 epochs: none.
    pub finetune: Option<TrainConfig>,
    /// Keep only models whose top-1 accuracy (in `[0, 1]`) is at least this.
    pub min_accuracy: Option<f64>,
    /// Keep only models within this many points (in `[0, 1]`) of the starting accuracy.
    pub max_accuracy_drop: Option<f64>,
    /// Stop after this many steps even if the target is not reached.
    pub max_steps: Option<usize>,
    /// Evaluate on the first N test samples only.
    pub eval_limit: Option<usize>,
    pub eval_batch: usize,
    /// Lower each Dropout before fine-tuning as Han et al. advise, to
    /// `ratio · sqrt(C_r / C_o)` of the layer it feeds ([`scale_dropout`]).
    pub scale_dropout: bool,
    /// Cut then fine-tune, or prune softly while training.
    pub mode: PruneMode,
    /// Fine-tune (hard mode) with a batch norm after every convolution that has none, folded
    /// back after (see `norms.rs`): BN-folded exports then train at the usual rates.
    pub train_bn: bool,
    /// What retraining starts from after the cut (see `retrain.rs`).
    pub retrain_from: RetrainFrom,
    /// Evaluate after every fine-tuning epoch too (`StepRecord::epoch_accuracy`).
    pub eval_epochs: bool,
}

/// How a run takes channels out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PruneMode {
    /// Each step cuts channels, then fine-tunes (the steps of [`PruneConfig::steps`]).
    #[default]
    Hard,
    /// Soft filter pruning over the fine-tuning epochs: zero the lowest channels to the target,
    /// train every weight an epoch, re-score and re-zero, and remove the channels zeroed last
    /// at the end; with a [`Hardening`], GHFP (see `soft.rs`). One step.
    Soft { hardening: Option<Hardening> },
}

impl Default for PruneConfig {
    fn default() -> Self {
        Self {
            target: Target::Channels(0.5),
            steps: 1,
            ramp: Ramp::Linear,
            plan: PlanConfig::default(),
            finetune: None,
            min_accuracy: None,
            max_accuracy_drop: None,
            max_steps: None,
            eval_limit: None,
            eval_batch: 256,
            scale_dropout: true,
            mode: PruneMode::Hard,
            train_bn: true,
            retrain_from: RetrainFrom::Survivors,
            eval_epochs: false,
        }
    }
}

impl PruneConfig {
    /// Epochs of fine-tuning per step.
    pub fn finetune_epochs(&self) -> usize {
        self.finetune.as_ref().map_or(0, |f| f.epochs)
    }

    /// Whether the run needs a data set: to fine-tune, or to keep an accuracy floor.
    pub fn needs_data(&self) -> bool {
        self.finetune_epochs() > 0
            || self.min_accuracy.is_some()
            || self.max_accuracy_drop.is_some()
    }
}

/// Receives progress as the loop goes; every method has a no-op default.
pub trait PruneObserver {
    /// Step `step` of `steps` starts, aiming to have removed `goal` in total.
    fn step_start(&mut self, _step: usize, _steps: usize, _goal: Target) {}
    /// Channels were cut; evaluation and fine-tuning follow.
    fn pruned(&mut self, _step: usize, _params: usize, _macs: u64) {}
    /// The observer of the fine-tuning run, if it wants one.
    fn train_observer(&mut self) -> Option<&mut dyn TrainObserver> {
        None
    }
    fn step_end(&mut self, _record: &StepRecord) {}
}

/// An observer that ignores everything.
pub struct QuietPruner;
impl PruneObserver for QuietPruner {}

/// A run: the settings, the criterion, where the data is and where to checkpoint.
pub struct Pruner<'a> {
    pub config: PruneConfig,
    pub criterion: &'a mut dyn crate::importance::Importance,
    /// Training and evaluation data; needed when [`PruneConfig::needs_data`].
    pub data: Option<&'a TrainData>,
    pub device: shears_runtime::DeviceKind,
    /// Where to write a checkpoint after every step.
    pub checkpoint: Option<std::path::PathBuf>,
    /// The model's name for the record (file or architecture).
    pub model: String,
}
