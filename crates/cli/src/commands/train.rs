//! `shears train --model M --data D -o OUT.onnx`: train, checkpoint every epoch, save.

use crate::args::{FreezeArg, ModelArgs, OptimizerArg, RecipeArgs, ScheduleArg, TrainArgs};
use crate::data::{Data, check_fit, shape_of};
use crate::model;
use crate::output::{self, Outputs};
use crate::progress::TrainProgress;
use anyhow::{Context, Result, bail};
use shears_data::Split;
use shears_ir::Graph;
use shears_runtime::RuntimeError;
use shears_runtime::train::{
    self, BatchProgress, Checkpoint, EpochReport, FilterSkeleton, LrSchedule, OptimizerKind,
    TrainConfig, TrainData, TrainObserver,
};
use std::path::PathBuf;

pub fn run(args: &TrainArgs) -> Result<()> {
    let data =
        Data::from_args(&args.data)?.context("train needs --data (e.g. --data fashion-mnist)")?;
    let checkpoint =
        output::checkpoint_path(args.checkpoint.as_deref(), &args.output, args.resume)?;
    let resume = match args.resume {
        true => Some(Checkpoint::load(&checkpoint)?),
        false => None,
    };
    let mut outputs = Outputs::new(args.force);
    outputs.model_input(&args.model).resumable(
        &args.output,
        &checkpoint,
        resume.as_ref().map(|c| &c.graph),
    )?;
    if let Some(path) = &args.history {
        outputs.file(path, "--history");
    }
    let keep = keep_epoch(args, resume.as_ref())?;
    if let Some((_, path)) = &keep {
        outputs.file(path, "--keep-output");
    }
    outputs.claim()?;
    let device = args.recipe.device.kind()?;
    let model_args = ModelArgs {
        model: args.model.clone(),
        build: args.build.clone(),
    };
    let train_set = data.load(Split::Train)?;
    let test_set = data.load(Split::Test)?;
    let mut graph = model::load(&model_args, Some(shape_of(&train_set)))?;
    check_fit(&graph, &train_set, &args.model, true)?;
    let mut config = recipe_config(&args.recipe, train_set.shape)?;
    config.checkpoint = Some(checkpoint.clone());
    println!(
        "training {} on {} ({} train / {} test samples) for {} epochs, batch {}, lr {}",
        args.model,
        data.source,
        train_set.len(),
        test_set.len(),
        config.epochs,
        config.batch_size,
        config.lr
    );
    let train_data = TrainData {
        train: train_set,
        test: Some(test_set),
        normalize: data.normalize.clone(),
        teacher: None,
    };
    let mut progress = TrainProgress::default();
    let mut observer = KeepEpoch {
        inner: &mut progress,
        keep,
        outputs: &outputs,
        error: None,
    };
    let history = train::train(
        &mut graph,
        &train_data,
        &config,
        device,
        resume,
        &mut observer,
    );
    let history = match (history, observer.error) {
        (Err(_), Some(e)) => return Err(e),
        (history, _) => history?,
    };
    model::save(&outputs, &graph, &args.output)?;
    if let Some(path) = &args.history {
        outputs.write_json(path, &history)?;
    }
    let total: f64 = history.iter().map(|h| h.seconds).sum();
    if let Some(test) = history.last().and_then(|h| h.test.as_ref()) {
        println!(
            "done in {total:.0}s: test top-1 {:.2}%, top-5 {:.2}%; model written to {}",
            100.0 * test.top1,
            100.0 * test.top5,
            args.output.display()
        );
    }
    Ok(())
}

/// The epoch (from 0) whose model --keep-epoch writes, and where; `None` when it is not asked
/// for or a resumed run is past it (written then already).
fn keep_epoch(args: &TrainArgs, resume: Option<&Checkpoint>) -> Result<Option<(usize, PathBuf)>> {
    let Some(epoch) = args.keep_epoch else {
        return Ok(None);
    };
    if epoch > args.recipe.epochs {
        bail!(
            "--keep-epoch {epoch} is after the last epoch (--epochs {})",
            args.recipe.epochs
        );
    }
    let path = args.keep_output.clone().unwrap_or_else(|| {
        let stem = args
            .output
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy();
        args.output
            .with_file_name(format!("{stem}.epoch{epoch}.onnx"))
    });
    match resume {
        Some(c) if c.epochs_done >= epoch && !path.exists() => bail!(
            "the checkpoint is past epoch {epoch} and '{}' is missing: --keep-epoch cannot be written on resume; train again without --resume",
            path.display()
        ),
        Some(c) if c.epochs_done >= epoch => Ok(None),
        _ => Ok(Some((epoch - 1, path))),
    }
}

/// Passes progress on, and writes the model after the epoch --keep-epoch names.
struct KeepEpoch<'a> {
    inner: &'a mut dyn TrainObserver,
    keep: Option<(usize, PathBuf)>,
    outputs: &'a Outputs,
    /// Why writing the kept model failed (training stops).
    error: Option<anyhow::Error>,
}

impl TrainObserver for KeepEpoch<'_> {
    fn epoch_start(&mut self, epoch: usize, epochs: usize, batches: usize) {
        self.inner.epoch_start(epoch, epochs, batches);
    }
    fn batch(&mut self, progress: &BatchProgress) {
        self.inner.batch(progress);
    }
    fn epoch_end(&mut self, report: &EpochReport) {
        self.inner.epoch_end(report);
    }
    fn after_epoch(&mut self, epoch: usize, graph: &mut Graph) -> Result<bool, RuntimeError> {
        if let Some((keep, path)) = &self.keep
            && *keep == epoch
        {
            if let Err(e) = model::save(self.outputs, graph, path) {
                let why = format!("{e:#}");
                self.error = Some(e);
                return Err(RuntimeError::Stopped(why));
            }
            println!(
                "model after epoch {} written to {}",
                epoch + 1,
                path.display()
            );
        }
        self.inner.after_epoch(epoch, graph)
    }
}

/// The random-crop padding for inputs of `shape`: `given` (at most the image's smaller side),
/// else 4 for 32x32, 2 for 28x28, none below.
pub fn crop_padding(given: Option<usize>, shape: [usize; 3]) -> Result<usize> {
    let side = shape[1].min(shape[2]);
    match given {
        Some(p) if p > side => bail!(
            "--crop-padding {p} is more than the images' side ({}x{}): use at most {side}",
            shape[1],
            shape[2]
        ),
        Some(p) => Ok(p),
        None if side >= 32 => Ok(4),
        None if side >= 28 => Ok(2),
        None => Ok(0),
    }
}

/// The training configuration for a recipe on inputs of `shape`.
pub fn recipe_config(r: &RecipeArgs, shape: [usize; 3]) -> Result<TrainConfig> {
    let optimizer = match r.optimizer {
        OptimizerArg::Sgd => OptimizerKind::Sgd {
            momentum: r.momentum,
            nesterov: false,
        },
        OptimizerArg::Nesterov => OptimizerKind::Sgd {
            momentum: r.momentum,
            nesterov: true,
        },
        OptimizerArg::Adamw => OptimizerKind::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
    };
    let default_lr = if matches!(r.optimizer, OptimizerArg::Adamw) {
        1e-3
    } else {
        0.1
    };
    let schedule = match r.schedule {
        ScheduleArg::Constant => LrSchedule::Constant,
        ScheduleArg::Step => LrSchedule::Step {
            every: r.step_every,
            gamma: r.step_gamma,
        },
        ScheduleArg::Cosine => LrSchedule::Cosine,
        ScheduleArg::Onecycle => LrSchedule::OneCycle,
    };
    if r.epochs == 0 {
        bail!("--epochs must be at least 1");
    }
    Ok(TrainConfig {
        epochs: r.epochs,
        batch_size: r.batch,
        lr: r.lr.unwrap_or(default_lr),
        optimizer,
        weight_decay: r.weight_decay,
        schedule,
        seed: r.seed,
        crop_padding: crop_padding(r.crop_padding, shape)?,
        horizontal_flip: !r.no_flip,
        train_limit: r.train_limit,
        test_limit: r.test_limit,
        checkpoint: None::<PathBuf>,
        max_batches: None,
        bn_sparsity: r.bn_sparsity,
        distill: None,
        l1_decay: r.retrain.l1_decay,
        freeze: r.retrain.freeze.map(FreezeArg::layers),
        filter_skeleton: r.filter_skeleton.then_some(FilterSkeleton {
            sparsity: r.skeleton_sparsity,
            threshold: r.skeleton_threshold,
        }),
        schedule_window: None,
    })
}
