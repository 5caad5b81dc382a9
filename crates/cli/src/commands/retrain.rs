//! `shears prune --retrain ...`: what retraining after the cut starts from (surviving, rewound
//! or fresh weights) and on which schedule (the fine-tuning rate, or the original training's
//! schedule replayed from an epoch).

use crate::args::{ModelArgs, RetrainArg, RewindArgs};
use crate::model;
use anyhow::{Result, bail};
use clap::ValueEnum;
use shears_prune::pruner::RetrainFrom;
use shears_runtime::train::ScheduleWindow;

/// Refuses flag combinations that do not make a retraining, before anything is loaded.
pub fn check(args: &RewindArgs, steps: usize) -> Result<()> {
    let rewinds = matches!(
        args.retrain,
        RetrainArg::LrRewind | RetrainArg::WeightRewind
    );
    let schedule = (args.rewind_epoch, args.original_epochs);
    match (rewinds, schedule) {
        (true, (None, _) | (_, None)) => bail!(
            "--retrain {} replays the original training's schedule: give --rewind-epoch K and --original-epochs E",
            name(args.retrain)
        ),
        (true, (Some(k), Some(e))) if k >= e => {
            bail!(
                "--rewind-epoch {k} must come before the end of the original training (--original-epochs {e})"
            )
        }
        (false, (Some(_), _) | (_, Some(_))) => {
            bail!(
                "--rewind-epoch and --original-epochs belong to --retrain lr-rewind or weight-rewind"
            )
        }
        _ => {}
    }
    match (args.retrain, &args.rewind_to) {
        (RetrainArg::WeightRewind, None) => bail!(
            "--retrain weight-rewind needs --rewind-to EARLY.onnx, the original training at --rewind-epoch (`shears train --keep-epoch K` writes it)"
        ),
        (RetrainArg::WeightRewind, Some(_)) => {}
        (_, Some(_)) => bail!("--rewind-to belongs to --retrain weight-rewind"),
        _ => {}
    }
    let once = matches!(args.retrain, RetrainArg::WeightRewind | RetrainArg::Scratch);
    if once && steps != 1 {
        bail!(
            "--retrain {} retrains once after a one-shot cut: drop --steps {steps}",
            name(args.retrain)
        );
    }
    Ok(())
}

/// The retraining epochs when --finetune-epochs is not given: those left of the original
/// training after the rewind epoch.
pub fn epochs_left(args: &RewindArgs) -> Option<usize> {
    window(args).map(|w| w.total_epochs - w.first_epoch)
}

/// The part of the original schedule a rewound run replays.
pub fn window(args: &RewindArgs) -> Option<ScheduleWindow> {
    match (args.retrain, args.rewind_epoch, args.original_epochs) {
        (RetrainArg::LrRewind | RetrainArg::WeightRewind, Some(first), Some(total)) => {
            Some(ScheduleWindow {
                first_epoch: first,
                total_epochs: total,
            })
        }
        _ => None,
    }
}

/// The weights retraining starts from; `model` says how the pruned model was built.
pub fn from(args: &RewindArgs, model: &ModelArgs, seed: u64) -> Result<RetrainFrom> {
    Ok(match (args.retrain, &args.rewind_to) {
        (RetrainArg::WeightRewind, Some(path)) => {
            let early = ModelArgs {
                model: path.display().to_string(),
                build: model.build.clone(),
            };
            RetrainFrom::Rewound(Box::new(model::load(&early, None)?))
        }
        (RetrainArg::Scratch, _) => RetrainFrom::Scratch { seed },
        _ => RetrainFrom::Survivors,
    })
}

/// The flag value clap parses into `retrain`.
fn name(retrain: RetrainArg) -> String {
    retrain
        .to_possible_value()
        .map_or_else(String::new, |v| v.get_name().to_string())
}
