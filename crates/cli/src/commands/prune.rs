//! `shears prune MODEL --criterion C --target-macs F -o OUT.onnx`: score, cut, fine-tune and
//! repeat to a target, then write the smaller model and (with `--report`) a report.

use super::millions;
use crate::args::{
    FreezeArg, HardeningArg, ModeArg, NormalizationArg, PruneArgs, RampArg, ScopeArg, TargetArgs,
};
use crate::commands::retrain;
use crate::commands::train::crop_padding;
use crate::criteria::{self, ScoreSource};
use crate::data::{Data, check_fit, shape_of};
use crate::model;
use crate::output::{self, Outputs};
use crate::progress::PruneProgress;
use crate::report;
use anyhow::{Context, Result, bail};
use shears_data::Split;
use shears_ir::Graph;
use shears_prune::compare::{SensitivityReport, layer_ratios};
use shears_prune::importance::{Criterion, Normalization};
use shears_prune::pruner::{
    Hardening, PruneCheckpoint, PruneConfig, PruneMode, PruneRecord, Pruner, StopReason,
};
use shears_prune::schedule::{self, PlanConfig, Ramp, Scope, Target};
use shears_runtime::train::{Distill, TrainConfig, TrainData};
use std::path::Path;

pub fn run(args: &PruneArgs) -> Result<()> {
    let criterion: Criterion = args.criterion.parse().map_err(anyhow::Error::msg)?;
    check_needs_data(args)?;
    retrain::check(&args.rewind, args.steps)?;
    let mut data = Data::from_args(&args.data)?;
    let labelled = data.as_ref().is_none_or(|d| d.source.labelled());
    if !labelled {
        check_label_free(args, criterion)?;
    }
    let checkpoint =
        output::checkpoint_path(args.checkpoint.as_deref(), &args.output, args.resume)?;
    let resume = match args.resume {
        true => Some(PruneCheckpoint::load(&checkpoint)?),
        false => None,
    };
    let mut outputs = Outputs::new(args.force);
    outputs.model_input(&args.model.model).resumable(
        &args.output,
        &checkpoint,
        resume.as_ref().map(|c| &c.graph),
    )?;
    if let Some(path) = &args.ratios_from {
        outputs.input(path, "--ratios-from file");
    }
    if let Some(path) = &args.rewind.rewind_to {
        outputs.input(path, "--rewind-to model");
    }
    if let Some(dir) = &args.report {
        outputs.in_dir(dir, report::FILES, "--report");
    }
    outputs.claim()?;
    // A model file is read first, so that unlabelled images are resized to its input.
    let file_graph = match model::file_of(&args.model.model) {
        Some(_) => Some(model::load(&args.model, None)?),
        None => None,
    };
    if let (Some(d), Some(g)) = (data.as_mut(), &file_graph) {
        d.fit_images_to(g);
    }
    let train_data = match &data {
        Some(d) => Some(TrainData {
            train: d.load(Split::Train)?,
            test: labelled.then(|| d.load(Split::Test)).transpose()?,
            normalize: d.normalize.clone(),
            teacher: None,
        }),
        None => None,
    };
    let shape = train_data.as_ref().map(|d| shape_of(&d.train));
    let mut graph = match file_graph {
        Some(g) => g,
        None => model::load(&args.model, shape)?,
    };
    let label_free = !labelled || args.distill.is_some_and(|a| a >= 1.0);
    if let Some(d) = &train_data {
        check_fit(&graph, &d.train, &args.model.model, !label_free)?;
    }
    let latency_before = latency_wanted(&args.target)
        .then(|| schedule::latency(&graph, args.latency_batch))
        .transpose()?;
    // The pruned model's latency is measured against the original's in alternating runs.
    let starting = latency_before.map(|_| graph.clone());
    let config = prune_config(args, &graph, train_data.is_some(), labelled, latency_before)?;
    let device = args.device.kind()?;
    let source = train_data.as_ref().map(|d| ScoreSource {
        train: &d.train,
        normalize: &d.normalize,
        device,
    });
    let mut options = criteria::options(args.reduction, args.seed, &args.score, source);
    options.clustering_factor = args.clustering_factor;
    let (_, mut importance) = criteria::build(&args.criterion, &options)?;
    let batches = match &config.finetune {
        Some(t) => format!(" in batches of {}", t.batch_size),
        None => String::new(),
    };
    println!(
        "pruning {} ({} params, {} MACs) with {} ({}), target {}, {} step(s), {} fine-tuning epoch(s) per step{batches}",
        args.model.model,
        millions(graph.param_count() as f64),
        millions(graph.mac_count()? as f64),
        criterion,
        config.plan.scope,
        config.target,
        config.steps,
        config.finetune_epochs()
    );
    let mut pruner = Pruner {
        config,
        criterion: importance.as_mut(),
        data: train_data.as_ref(),
        device,
        checkpoint: Some(checkpoint),
        model: args.model.model.clone(),
    };
    let record = pruner.run(&mut graph, resume, &mut PruneProgress::default())?;
    model::save(&outputs, &graph, &args.output)?;
    print_summary(&record, &graph);
    if let (Some(before), Some(starting)) = (latency_before, &starting) {
        let ratio = schedule::relative_latency(&graph, starting, args.latency_batch)?;
        let reached = matches!(record.stopped, Some(StopReason::TargetReached) | None);
        print_latency(args, before, before * ratio, reached);
    }
    println!("model written to {}", args.output.display());
    if let Some(dir) = &args.report {
        let files = report::write_report(&outputs, dir, &record)?;
        println!(
            "report: {}",
            files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

/// Fine-tuning and accuracy limits need data: refused before anything is loaded.
fn check_needs_data(args: &PruneArgs) -> Result<()> {
    let finetunes = args.finetune_iters.is_some() || args.finetune_epochs.is_some_and(|e| e > 0);
    let limits = args.min_accuracy.is_some() || args.max_accuracy_drop.is_some();
    if args.data.data.is_none() && (finetunes || limits) {
        bail!(
            "fine-tuning and accuracy limits need a data set: pass --data, or use --finetune-epochs 0 without accuracy limits"
        );
    }
    Ok(())
}

/// Unlabelled images (`images:PATH`) fine-tune by distillation alone and have no accuracy to
/// measure: refused with anything that needs labels, before anything is loaded.
fn check_label_free(args: &PruneArgs, criterion: Criterion) -> Result<()> {
    if args.distill.is_some_and(|a| a < 1.0) {
        bail!("--data images:PATH has no labels: fine-tune with --distill 1 (the default for it)");
    }
    if args.min_accuracy.is_some() || args.max_accuracy_drop.is_some() {
        bail!(
            "--data images:PATH has no labels, so no accuracy to keep: drop --min-accuracy / --max-accuracy-drop"
        );
    }
    if matches!(
        criterion,
        Criterion::Taylor | Criterion::TaylorWeight | Criterion::Oracle
    ) {
        bail!(
            "--criterion {} scores with the loss on labels, which images:PATH lacks: use a criterion without labels (l1, fpgm, apoz, hrank, ...)",
            args.criterion
        );
    }
    Ok(())
}

/// The weight of distillation from the unpruned model in fine-tuning with labels, unless
/// `--distill` says otherwise: it recovered more than cross-entropy alone in every
/// measurement (README, "A default recipe").
const DEFAULT_DISTILL: f32 = 0.7;

/// The fine-tuning rate when `--lr` is not given: 0.01 when the network trains normalised (it
/// has batch or layer norms, or its convolutions get training norms, `train_bn`), else 0.002
/// (a folded ResNet-20 fine-tuned without norms diverged at 0.01 within 50 iterations; 0.002
/// and 0.005 did not in 300).
fn default_lr(graph: &Graph, train_bn: bool) -> f64 {
    let normalised = graph.nodes.iter().any(|n| match n.op {
        shears_ir::Op::BatchNorm2d(_) | shears_ir::Op::LayerNorm(_) => true,
        shears_ir::Op::Conv2d(_) => train_bn,
        _ => false,
    });
    if normalised { 0.01 } else { 0.002 }
}

/// Fine-tunes of at most this many epochs per step run without augmentation and in batches of
/// [`SHORT_BATCH`] by default: random crops and flips slow a short recovery, and twice the
/// steps recover more (README, "A default recipe").
const SHORT_FINETUNE: usize = 3;

/// The fine-tuning batch of a short fine-tune, and of a longer one (`--batch` overrides both).
const SHORT_BATCH: usize = 64;
const LONG_BATCH: usize = 128;

/// The library configuration for the command's options.
/// `latency_before`: the original's measured latency (seconds) when the target is one.
fn prune_config(
    args: &PruneArgs,
    graph: &Graph,
    has_data: bool,
    labelled: bool,
    latency_before: Option<f64>,
) -> Result<PruneConfig> {
    let t = &args.target;
    let target = match (t.target_params, t.target_macs, t.ratio, latency_before) {
        (Some(f), _, _, _) => Target::Params(f),
        (_, Some(f), _, _) => Target::Macs(f),
        (_, _, Some(f), _) => Target::Channels(f),
        // Han's rule decides the amount itself.
        _ if t.std_threshold.is_some() => Target::Params(0.0),
        (_, _, _, Some(before)) => Target::Latency {
            fraction: latency_fraction(args, before)?,
            batch: args.latency_batch,
        },
        _ => bail!(
            "give one of --target-params, --target-macs, --ratio, --target-latency, --target-speedup or --std-threshold"
        ),
    };
    let epochs = match args.finetune_iters {
        Some(_) => 1,
        None => (args.finetune_epochs)
            .or(retrain::epochs_left(&args.rewind))
            .unwrap_or(if has_data { 1 } else { 0 }),
    };

    let train_bn = !args.no_train_bn && matches!(args.mode, ModeArg::Hard);
    let finetune = if epochs > 0 {
        let shape = graph
            .input_shape()
            .and_then(|s| <[usize; 3]>::try_from(s).ok())
            .unwrap_or([3, 32, 32]);
        // Unlabelled images train on the teacher's outputs alone.
        let alpha = args
            .distill
            .unwrap_or(if labelled { DEFAULT_DISTILL } else { 1.0 });
        // Nesterov SGD (momentum 0.9) with cosine decay within each step: TrainConfig's defaults.
        let config = TrainConfig {
            epochs,
            batch_size: args.batch.unwrap_or(if epochs <= SHORT_FINETUNE {
                SHORT_BATCH
            } else {
                LONG_BATCH
            }),
            lr: args.lr.unwrap_or_else(|| default_lr(graph, train_bn)),
            weight_decay: args.weight_decay,
            seed: args.seed,
            crop_padding: match (args.crop_padding, epochs <= SHORT_FINETUNE) {
                (None, true) => 0,
                (given, _) => crop_padding(given, shape)?,
            },
            horizontal_flip: args.flip || !(args.no_flip || epochs <= SHORT_FINETUNE),
            train_limit: args.train_limit,
            max_batches: args.finetune_iters,
            l1_decay: args.retrain.l1_decay,
            freeze: args.retrain.freeze.map(FreezeArg::layers),
            distill: (alpha > 0.0).then_some(Distill {
                alpha,
                temperature: args.distill_temperature,
            }),
            schedule_window: retrain::window(&args.rewind),
            ..TrainConfig::default()
        };
        Some(config)
    } else {
        None
    };
    Ok(PruneConfig {
        target,
        steps: args.steps,
        ramp: match args.schedule {
            RampArg::Linear => Ramp::Linear,
            RampArg::Agp => Ramp::Agp,
        },
        plan: PlanConfig {
            scope: match args.scope {
                ScopeArg::Local => Scope::Local,
                ScopeArg::Global => Scope::Global,
            },
            normalization: match args.normalization {
                NormalizationArg::None => Normalization::None,
                NormalizationArg::Max => Normalization::Max,
                NormalizationArg::Mean => Normalization::Mean,
                NormalizationArg::L2 => Normalization::L2,
            },
            max_layer_ratio: args.max_layer_ratio,
            min_channels: args.min_channels,
            round_to: args.round_to.unwrap_or(if latency_wanted(t) {
                LATENCY_ROUND_TO
            } else {
                1
            }),
            ignore: args.ignore.clone(),
            skip_first: args.skip_first,
            skip_last: args.skip_last,
            granularity: args.granularity,
            std_threshold: t.std_threshold,
            shared_factor: args.residual_factor,
            layer_ratios: match &args.ratios_from {
                Some(path) => ratios_from(path, args.sensitivity_drop, graph)?,
                None => args.layer_ratio.clone(),
            },
        },
        finetune,
        min_accuracy: args.min_accuracy.map(|a| a / 100.0),
        max_accuracy_drop: args.max_accuracy_drop.map(|a| a / 100.0),
        max_steps: args.max_steps,
        eval_limit: args.eval_limit,
        eval_batch: 256,
        scale_dropout: !args.keep_dropout,
        train_bn,
        eval_epochs: args.eval_epochs,
        retrain_from: retrain::from(&args.rewind, &args.model, args.seed)?,
        mode: match (args.mode, args.hardening) {
            (ModeArg::Hard, None) => PruneMode::Hard,
            (ModeArg::Hard, Some(_)) => {
                bail!("--hardening makes soft pruning gradually hard: add --mode soft")
            }
            (ModeArg::Soft, h) => PruneMode::Soft {
                hardening: h.map(|h| match h {
                    HardeningArg::Linear => Hardening::Linear,
                    HardeningArg::Cosine => Hardening::Cosine,
                }),
            },
        },
    })
}

/// Per-layer factors from a `shears sensitivity --json` file.
fn ratios_from(path: &Path, drop_points: f64, graph: &Graph) -> Result<Vec<(String, f64)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--ratios-from: cannot read '{}'", path.display()))?;
    let report: SensitivityReport = serde_json::from_str(&text).with_context(|| {
        format!(
            "--ratios-from: '{}' is not the JSON of `shears sensitivity --json` (or its report's sensitivity.json)",
            path.display()
        )
    })?;
    if !(drop_points.is_finite() && drop_points >= 0.0) {
        bail!("--sensitivity-drop {drop_points} must be zero or more points");
    }
    layer_ratios(&report, drop_points / 100.0, graph)
        .with_context(|| format!("--ratios-from '{}'", path.display()))
}

/// Channel counts a latency target keeps to multiples of by default: ONNX Runtime's blocked
/// (NCHWc) convolutions take them; with odd counts a ResNet-20 pruned to a quarter of its
/// MACs ran no faster than the original there (1.0x against 2.0x at batch 128).
const LATENCY_ROUND_TO: usize = 8;

/// Whether the target is a measured latency.
fn latency_wanted(t: &TargetArgs) -> bool {
    t.target_latency.is_some() || t.target_speedup.is_some()
}

/// The fraction of the original's measured latency (`before`, seconds) to remove.
fn latency_fraction(args: &PruneArgs, before: f64) -> Result<f64> {
    let ms = 1e3 * before;
    match (args.target.target_latency, args.target.target_speedup) {
        (Some(asked), _) if asked >= ms => bail!(
            "--target-latency {asked} ms: the model already runs in {ms:.3} ms at --latency-batch {}; ask for less",
            args.latency_batch
        ),
        (Some(asked), _) => Ok(1.0 - asked / ms),
        (_, Some(x)) if x <= 1.0 => {
            bail!("--target-speedup {x} must be above 1 (2 halves the latency)")
        }
        (_, Some(x)) => Ok(1.0 - 1.0 / x),
        (None, None) => unreachable!("called for a latency target"),
    }
}

/// The share of the asked latency the final measurement of a reached target may miss by
/// before the command says why it can.
const LATENCY_MISS: f64 = 0.05;

fn print_latency(args: &PruneArgs, before: f64, after: f64, reached: bool) {
    let (asked_s, asked) = match (args.target.target_latency, args.target.target_speedup) {
        (Some(ms), _) => (ms / 1e3, format!("{ms} ms")),
        (_, Some(x)) => (before / x, format!("{:.3} ms ({x}x)", 1e3 * before / x)),
        (None, None) => unreachable!("called for a latency target"),
    };
    println!(
        "latency at batch {} (measured): {:.3} ms -> {:.3} ms ({:.2}x faster in runs alternating with the original), asked {asked}",
        args.latency_batch,
        1e3 * before,
        1e3 * after,
        before / after
    );
    let off = after / asked_s - 1.0;
    if reached && off.abs() > LATENCY_MISS {
        eprintln!(
            "note: {:+.1}% off the asked latency. Each plan was timed against the original on this machine; other load that comes and goes changes the two models' ratio (by up to 10% from one minute to the next on a shared 2-core machine), so a rerun on a quieter machine, or a larger --latency-batch, lands closer",
            100.0 * off
        );
    }
}

fn print_summary(record: &PruneRecord, graph: &Graph) {
    let (base, kept) = (record.baseline(), record.kept());
    let pct = |a: f64, b: f64| 100.0 * (1.0 - b / a);
    let acc = |a: Option<f64>| a.map_or("–".into(), |a| format!("{:.2}%", 100.0 * a));
    let why = match &record.stopped {
        Some(StopReason::TargetReached) | None => "target reached".to_string(),
        Some(StopReason::AccuracyFloor {
            step,
            accuracy,
            floor,
        }) => format!(
            "step {step} fell to {:.2}% under the floor {:.2}%; kept step {}",
            100.0 * accuracy,
            100.0 * floor,
            record.kept_step
        ),
        Some(StopReason::MaxSteps) => "--max-steps reached".into(),
        Some(StopReason::NothingToPrune) => "nothing left to prune within the limits".into(),
    };
    println!(
        "{why}: params {} -> {} (-{:.1}%), MACs {} -> {} (-{:.1}%), top-1 {} -> {}",
        millions(base.params as f64),
        millions(graph.kept_param_count() as f64),
        pct(base.params as f64, kept.params as f64),
        millions(base.macs as f64),
        millions(kept.macs as f64),
        pct(base.macs as f64, kept.macs as f64),
        acc(base.accuracy),
        acc(kept.accuracy)
    );
    let dense = 32 * graph.param_count() as u64;
    let stored = graph.compressed_bits();
    if stored < dense {
        println!(
            "stored sparse (Deep Compression's CSR with relative indices): {:.1} KB against {:.1} KB dense ({:.1}x smaller)",
            stored as f64 / 8e3,
            dense as f64 / 8e3,
            dense as f64 / stored as f64
        );
    }
}
