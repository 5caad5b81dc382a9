//! The record of a pruning run: what every step removed, what the model cost and how accurate
//! it was. It is what `report.json` holds and what the Markdown report and plots are drawn from.

use serde::{Deserialize, Serialize};

/// The width of one layer: output channels of a conv, output features of a linear layer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerWidth {
    /// The node name (ONNX / PyTorch module path, e.g. `layer1.0.conv1`).
    pub name: String,
    pub channels: usize,
}

/// The model after one step (step 0: the model as given, before any pruning).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    /// 0 for the starting model, then 1, 2, ...
    pub step: usize,
    /// Fraction of the original MACs (or parameters, or channels: whichever the target counts)
    /// this step aimed to have removed in total.
    pub target: f64,
    /// Channels removed by this step (summed over groups).
    pub channels_removed: usize,
    /// Weights masked by this step, at a granularity finer than channels.
    #[serde(default)]
    pub weights_removed: usize,
    /// Parameters left (masked weights not counted).
    pub params: usize,
    /// Multiply-accumulates per sample left (those of masked weights not counted).
    pub macs: u64,
    /// Top-1 accuracy in `[0, 1]` on the evaluation set right after pruning, before fine-tuning.
    pub accuracy_pruned: Option<f64>,
    /// Top-1 accuracy in `[0, 1]` after fine-tuning (for step 0: of the starting model).
    pub accuracy: Option<f64>,
    /// Mean cross-entropy on the evaluation set after fine-tuning.
    pub loss: Option<f64>,
    /// Fine-tuning epochs run in this step.
    pub finetune_epochs: usize,
    /// Top-1 accuracy in `[0, 1]` after each fine-tuning epoch, when the run evaluates every
    /// epoch (`PruneConfig::eval_epochs`); empty otherwise.
    #[serde(default)]
    pub epoch_accuracy: Vec<f64>,
    /// Wall-clock seconds of the step: scoring, surgery, fine-tuning and evaluation.
    pub seconds: f64,
    /// Every conv and linear layer with its width after the step, in graph order.
    pub layers: Vec<LayerWidth>,
    /// A soft run's selections, before the first epoch and after each (empty otherwise).
    #[serde(default)]
    pub soft: Vec<super::SoftEpoch>,
}

/// Why the loop ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// Every step of the schedule ran and the target is met.
    TargetReached,
    /// The next step fell under the accuracy floor; the model kept is the last one above it.
    AccuracyFloor {
        step: usize,
        accuracy: f64,
        floor: f64,
    },
    /// `--max-steps` steps ran before the target.
    MaxSteps,
    /// No group had channels left to remove within the limits (floor, cap, ignored layers).
    NothingToPrune,
}

/// A whole run: the settings, the starting point and every step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PruneRecord {
    /// The model file or built-in architecture name.
    pub model: String,
    /// The criterion's name (`l1`, `fpgm`, ...).
    pub criterion: String,
    /// `local` or `global`.
    pub scope: String,
    /// What the target counts and how much of it to remove, e.g. `macs 0.5`.
    pub target: String,
    /// Step 0 (the model as given) followed by every step that ran, in order. A step that fell
    /// under the accuracy floor is recorded too, but its model is not the one kept.
    pub steps: Vec<StepRecord>,
    /// The step whose model was written out.
    pub kept_step: usize,
    pub stopped: Option<StopReason>,
}

impl PruneRecord {
    /// Checks what [`PruneRecord::baseline`] and [`PruneRecord::kept`] rely on: a step 0, a kept
    /// step that exists, and steps numbered in order.
    pub fn check(&self) -> Result<(), String> {
        if self.steps.is_empty() {
            return Err("has no steps".into());
        }
        if self.kept_step >= self.steps.len() {
            return Err(format!(
                "keeps step {} of {} steps",
                self.kept_step,
                self.steps.len()
            ));
        }
        if let Some((i, s)) = self.steps.iter().enumerate().find(|(i, s)| s.step != *i) {
            return Err(format!("numbers its step #{i} as {}", s.step));
        }
        Ok(())
    }

    /// The starting model (step 0).
    pub fn baseline(&self) -> &StepRecord {
        &self.steps[0]
    }

    /// The step whose model was written out.
    pub fn kept(&self) -> &StepRecord {
        &self.steps[self.kept_step]
    }
}
