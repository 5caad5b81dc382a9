//! Command-line arguments (clap derive).

use crate::values;
use clap::{Args, Parser, Subcommand, ValueEnum};
use shears_prune::sparsity::Granularity;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "shears",
    version,
    about = "Prune trained CNNs: smaller and faster, nearly as accurate."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parameters, MACs and a per-layer table of a model.
    #[command(allow_negative_numbers = true)]
    Info(InfoArgs),
    /// The channel groups that must be pruned together, with their members.
    #[command(allow_negative_numbers = true)]
    Groups(GroupsArgs),
    /// Train a built-in architecture or an ONNX model on a data set.
    #[command(allow_negative_numbers = true)]
    Train(TrainArgs),
    /// Top-1 / top-5 accuracy and loss of a model on a data set's test split.
    #[command(allow_negative_numbers = true)]
    Eval(EvalArgs),
    /// Remove channels to a target, fine-tune, and write the smaller model and a report.
    #[command(allow_negative_numbers = true)]
    Prune(Box<PruneArgs>),
    /// Score every group with several criteria; with --oracle, how well each ranks channels.
    #[command(allow_negative_numbers = true)]
    Rank(RankArgs),
    /// Prune each layer alone at several ratios, without fine-tuning, and record accuracy.
    #[command(allow_negative_numbers = true)]
    Sensitivity(SensitivityArgs),
    /// Inference (and training) throughput and latency.
    #[command(allow_negative_numbers = true)]
    Bench(BenchArgs),
    /// Write a model (built-in or imported) as ONNX, through the exporter every command uses.
    #[command(allow_negative_numbers = true)]
    Export(ExportArgs),
    /// Run a model on one input tensor (an ONNX TensorProto .pb file) and write its output.
    #[command(allow_negative_numbers = true)]
    Run(RunArgs),
    /// The main job on real data: train a small model on Fashion-MNIST and report.
    #[command(allow_negative_numbers = true)]
    Demo(DemoArgs),
}

/// Which model, and the shape it is built for when it is a built-in.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A built-in architecture (lenet5, lenet5-caffe, lenet300, vgg11, vgg16, resnet20,
    /// resnet32, resnet56, resnet110, mobilenetv2) or a path to an .onnx file.
    pub model: String,
    #[command(flatten)]
    pub build: BuildArgs,
}

/// How a built-in architecture is built.
#[derive(Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// Input shape `C,H,W` of a built-in (default: from --data, else 3,32,32), or of an ONNX
    /// model whose file leaves H and W (or C) symbolic.
    #[arg(long, value_parser = parse_shape)]
    pub input_shape: Option<[usize; 3]>,
    /// Output classes of a built-in (default: from --data, else 10).
    #[arg(long, value_parser = values::count)]
    pub classes: Option<usize>,
    /// Seed of a built-in's initial weights.
    #[arg(long, default_value_t = 0)]
    pub init_seed: u64,
}

/// Which backend runs the model.
#[derive(Args, Debug, Clone)]
pub struct DeviceArgs {
    /// Backend: flex (default, pure Rust CPU), tch and tch-cuda (libtorch on the CPU or the
    /// first CUDA GPU; need --features tch), cuda (burn's CUDA; --features cuda), wgpu.
    #[arg(long, default_value = "flex")]
    pub device: String,
}

impl DeviceArgs {
    /// The backend, checked to be compiled into this binary.
    pub fn kind(&self) -> anyhow::Result<shears_runtime::DeviceKind> {
        let kind: shears_runtime::DeviceKind = self.device.parse()?;
        kind.device()?;
        Ok(kind)
    }
}

/// Which data set, where it lives, and how it is normalised.
#[derive(Args, Debug, Clone)]
pub struct DataArgs {
    /// fashion-mnist, mnist, cifar10 or folder:PATH.
    #[arg(long)]
    pub data: Option<String>,
    /// Where the data set's files are (overrides the default locations).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Per-channel mean of the normalisation, e.g. 0.5 or 0.49,0.48,0.45.
    #[arg(long, value_delimiter = ',', value_parser = values::finite_f32)]
    pub mean: Option<Vec<f32>>,
    /// Per-channel standard deviation of the normalisation.
    #[arg(long, value_delimiter = ',', value_parser = values::positive_f32)]
    pub std: Option<Vec<f32>>,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Print JSON (params, macs, layers) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Where to write the ONNX file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// The input batch `[N, C, H, W]`, a serialised ONNX TensorProto (as ONNX's test data
    /// `input_0.pb`).
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write the output as a TensorProto (default: print a summary only).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct GroupsArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Print the groups as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OptimizerArg {
    Sgd,
    Nesterov,
    Adamw,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScheduleArg {
    Constant,
    Step,
    Cosine,
    Onecycle,
}

/// Training recipe options shared by `train` and `demo`.
#[derive(Args, Debug, Clone)]
pub struct RecipeArgs {
    #[arg(long, default_value_t = 10, value_parser = values::count)]
    pub epochs: usize,
    #[arg(long, default_value_t = 128, value_parser = values::count)]
    pub batch: usize,
    /// Base learning rate (default 0.1 for SGD, 0.001 for AdamW).
    #[arg(long, value_parser = values::positive_f64)]
    pub lr: Option<f64>,
    #[arg(long, value_enum, default_value_t = OptimizerArg::Nesterov)]
    pub optimizer: OptimizerArg,
    #[arg(long, default_value_t = 0.9, value_parser = values::momentum)]
    pub momentum: f32,
    #[arg(long, default_value_t = 5e-4, value_parser = values::non_negative_f32)]
    pub weight_decay: f32,
    #[arg(long, value_enum, default_value_t = ScheduleArg::Cosine)]
    pub schedule: ScheduleArg,
    /// Step schedule: decay every N epochs.
    #[arg(long, default_value_t = 30, value_parser = values::count)]
    pub step_every: usize,
    /// Step schedule: multiply the rate by this.
    #[arg(long, default_value_t = 0.1, value_parser = values::positive_f64)]
    pub step_gamma: f64,
    /// Seed of shuffling, augmentation and dropout.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Zero padding of the random crop (default: 4 for 32x32 inputs, 2 for 28x28, 0 to disable).
    #[arg(long)]
    pub crop_padding: Option<usize>,
    /// Disable the random horizontal flip.
    #[arg(long)]
    pub no_flip: bool,
    /// L1 penalty λ on every BN gamma (Network Slimming), for `prune --criterion bn-scale`.
    #[arg(long, default_value_t = 0.0, value_parser = values::non_negative_f32)]
    pub bn_sparsity: f32,
    #[command(flatten)]
    pub retrain: RetrainArgs,
    /// Stripe-wise pruning (SWP): train with a Filter Skeleton on every conv (a factor per
    /// kernel position of each filter, L1-penalised, zeroed under --skeleton-threshold); the
    /// model written has it folded in and its zero stripes masked, for
    /// `prune --granularity stripe`.
    #[arg(long)]
    pub filter_skeleton: bool,
    /// The Filter Skeleton's L1 penalty λ (the authors' 1e-5).
    #[arg(long, default_value_t = 1e-5, requires = "filter_skeleton", value_parser = values::non_negative_f32)]
    pub skeleton_sparsity: f32,
    /// Skeleton entries at or under this magnitude become zero after every step (the
    /// authors' 0.01).
    #[arg(long, default_value_t = 0.01, requires = "filter_skeleton", value_parser = values::non_negative_f32)]
    pub skeleton_threshold: f32,
    /// Train on the first N samples only.
    #[arg(long, value_parser = values::count)]
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test samples only.
    #[arg(long, value_parser = values::count)]
    pub test_limit: Option<usize>,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// A built-in architecture or an .onnx file to continue training.
    #[arg(long = "model")]
    pub model: String,
    #[command(flatten)]
    pub build: BuildArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Where to write the trained model (.onnx).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Checkpoint file written after every epoch (default: OUTPUT with .ckpt).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Continue from the checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Write the per-epoch history as JSON here.
    #[arg(long)]
    pub history: Option<PathBuf>,
    /// Also write the model as it is after this epoch (counted from 1), for weight rewinding
    /// (`shears prune --retrain weight-rewind --rewind-to`).
    #[arg(long, value_parser = values::count)]
    pub keep_epoch: Option<usize>,
    /// Where --keep-epoch writes (default: OUTPUT with .epochK.onnx).
    #[arg(long, requires = "keep_epoch")]
    pub keep_output: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 256, value_parser = values::count)]
    pub batch: usize,
    /// Evaluate on the first N test samples only.
    #[arg(long, value_parser = values::count)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Batch sizes to measure inference at.
    #[arg(long, value_delimiter = ',', default_value = "1,128", value_parser = values::count)]
    pub batch: Vec<usize>,
    /// Also measure training throughput (forward, backward, SGD step) at batch 128.
    #[arg(long)]
    pub train: bool,
    /// Also measure inference with the convs and linear layers that are at most
    /// --sparse-density non-zero on kernels that skip zero weights.
    #[arg(long, conflicts_with = "against_pytorch")]
    pub sparse: bool,
    /// With --sparse: the largest share of non-zero weights a layer may have to run sparse.
    #[arg(long, default_value_t = 0.75, requires = "sparse", value_parser = values::fraction_up_to_one)]
    pub sparse_density: f64,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 7, value_parser = values::count)]
    pub runs: usize,
    #[command(flatten)]
    pub device: DeviceArgs,
    #[arg(long)]
    pub json: bool,
    /// Also measure the same built-in in PyTorch (eager, same threads), in interleaved rounds,
    /// and print both side by side (needs python3 with torch).
    #[arg(long)]
    pub against_pytorch: bool,
    /// The PyTorch benchmark script `--against-pytorch` runs.
    #[arg(long, default_value = "scripts/bench_pytorch.py")]
    pub pytorch_script: std::path::PathBuf,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Built-in architecture to train.
    #[arg(long, default_value = "lenet5")]
    pub model: String,
    #[arg(long, default_value_t = 3, value_parser = values::count)]
    pub epochs: usize,
    /// Where Fashion-MNIST is, if not in /usr/share/datasets/fashion-mnist.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Fraction of the trained model's MACs to prune away.
    #[arg(long, default_value_t = 0.5, value_parser = values::fraction)]
    pub target_macs: f64,
    /// Fine-tuning epochs after pruning.
    #[arg(long, default_value_t = 1)]
    pub finetune_epochs: usize,
    /// Directory for the trained and pruned models, the history and the report.
    #[arg(long, default_value = "runs/demo")]
    pub out_dir: PathBuf,
    /// Replace the files of an earlier demo in OUT_DIR.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ScopeArg {
    /// The same fraction of every group.
    Local,
    /// Rank channels across all groups by normalised score.
    Global,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ModeArg {
    /// Cut channels, then fine-tune, step by step.
    Hard,
    /// Soft filter pruning: zero the lowest channels to the target before and after every
    /// fine-tuning epoch while all weights keep training; remove them at the end.
    Soft,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum HardeningArg {
    Linear,
    Cosine,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RampArg {
    Linear,
    /// Automated gradual pruning: a cubic ramp (Zhu & Gupta).
    Agp,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ReductionArg {
    Mean,
    Sum,
    Max,
    First,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NormalizationArg {
    None,
    Max,
    Mean,
    L2,
}

/// How much to remove: exactly one of these.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// Remove this fraction of the parameters (0.5 halves them).
    #[arg(long, value_parser = values::fraction)]
    pub target_params: Option<f64>,
    /// Remove this fraction of the MACs (0.5 halves them).
    #[arg(long, value_parser = values::fraction)]
    pub target_macs: Option<f64>,
    /// Remove this fraction of the channels: of every group (--scope local), or of all groups'
    /// channels ranked together (--scope global, scores scaled by --normalization); at a
    /// finer --granularity, this fraction of the weights that may be masked. A group is
    /// a set of channels pruned together (a conv's filters with the BN and the layers reading
    /// them; a residual stream). A grouped conv keeps its groups equal, so channel j of every
    /// group is one channel of its group here, and removing it takes one from each (as
    /// Torch-Pruning counts). Parameters fall faster than channels: a conv between two pruned
    /// groups loses about 1 - (1 - R)^2.
    #[arg(long, value_parser = values::fraction)]
    pub ratio: Option<f64>,
    /// Prune until one forward pass of --latency-batch images takes at most MS milliseconds on
    /// shears' CPU runtime: each candidate plan is timed against the original in alternating
    /// runs (at least 60 pairs and 2 s), channels go back to a plan more than 2.5% faster, and
    /// the last plan given back is timed again before it is trusted.
    #[arg(long, value_parser = values::positive_f64)]
    pub target_latency: Option<f64>,
    /// Prune until that measured forward pass runs X times faster than the original's (X > 1).
    #[arg(long, value_parser = values::positive_f64)]
    pub target_speedup: Option<f64>,
    /// With --granularity weight: Han et al.'s rule instead of a target, masking in each layer
    /// the weights with |w| < Q times the standard deviation of its weights (Q grows to this
    /// value over --steps).
    #[arg(long, value_name = "Q", value_parser = values::positive_f64)]
    pub std_threshold: Option<f64>,
}

/// Han et al.'s retraining options.
#[derive(Args, Debug, Clone)]
pub struct RetrainArgs {
    /// L1 penalty λ on every parameter (λ sign(w) added to its gradient), beside or instead of
    /// --weight-decay's L2.
    #[arg(long, default_value_t = 0.0, value_parser = values::non_negative_f32)]
    pub l1_decay: f32,
    /// Leave these layers as they are while training: conv (convolutions and their
    /// normalisations) or linear (fully connected layers).
    #[arg(long, value_enum)]
    pub freeze: Option<FreezeArg>,
}

/// What retraining after the cut starts from (the retraining question).
#[derive(Args, Debug)]
pub struct RewindArgs {
    /// fine-tune: the surviving weights at --lr; lr-rewind: the surviving weights on the
    /// original training's schedule replayed from --rewind-epoch (Renda et al.);
    /// weight-rewind: the same weights of --rewind-to, the original training at
    /// --rewind-epoch, on that schedule (Frankle et al.); scratch: fresh weights (Liu et al.).
    #[arg(long, value_enum, default_value_t = RetrainArg::FineTune)]
    pub retrain: RetrainArg,
    /// The model to rewind to with --retrain weight-rewind (written by
    /// `shears train --keep-epoch K`).
    #[arg(long)]
    pub rewind_to: Option<PathBuf>,
    /// The epoch of the original training to rewind to (--retrain lr-rewind / weight-rewind).
    #[arg(long)]
    pub rewind_epoch: Option<usize>,
    /// Epochs of the original training, whose schedule (--lr, cosine) the rewound runs replay
    /// from --rewind-epoch; --finetune-epochs defaults to the epochs left.
    #[arg(long, value_parser = values::count)]
    pub original_epochs: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RetrainArg {
    FineTune,
    LrRewind,
    WeightRewind,
    Scratch,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FreezeArg {
    Conv,
    Linear,
}

impl FreezeArg {
    pub fn layers(self) -> shears_runtime::train::Freeze {
        match self {
            FreezeArg::Conv => shears_runtime::train::Freeze::Conv,
            FreezeArg::Linear => shears_runtime::train::Freeze::Linear,
        }
    }
}

#[derive(Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Importance criterion: random, l1, l2, bn-scale, fpgm, kmeans, or on data: taylor,
    /// taylor-weight, apoz, mean-activation, hrank, sensitivity-sampling, oracle, functional
    /// (redundant responses, folded into the channels kept).
    #[arg(long)]
    pub criterion: String,
    #[command(flatten)]
    pub score: ScoreArgs,
    /// What one decision removes: channel (whole channels, removed physically), weight (single
    /// weights, Han et al.), N:M such as 2:4 (the N largest of every M consecutive
    /// input-channel weights stay, as NVIDIA's ASP) or block:RxC such as block:1x4 (tiles of R
    /// filters by C weights). Finer granularities mask weights: they stay zero through
    /// fine-tuning, checkpoints and export, and the model keeps its shape. They take l1, l2,
    /// taylor-weight or random.
    #[arg(long, default_value = "channel", value_parser = parse_granularity)]
    pub granularity: Granularity,
    #[arg(long, value_enum, default_value_t = ScopeArg::Local)]
    pub scope: ScopeArg,
    #[command(flatten)]
    pub target: TargetArgs,
    /// The batch size --target-latency and --target-speedup measure at.
    #[arg(long, default_value_t = 1, value_parser = values::count)]
    pub latency_batch: usize,
    /// Steps to reach the target (1: one-shot).
    #[arg(long, default_value_t = 1, value_parser = values::steps)]
    pub steps: usize,
    /// How the target is spread over the steps.
    #[arg(long, value_enum, default_value_t = RampArg::Linear)]
    pub schedule: RampArg,
    /// hard: cut, then fine-tune; soft: prune while fine-tuning (SFP), over --finetune-epochs.
    #[arg(long, value_enum, default_value_t = ModeArg::Hard)]
    pub mode: ModeArg,
    /// With --mode soft: freeze a growing share of the zeroed channels at zero (GHFP), from
    /// none to all over the epochs, on this ramp.
    #[arg(long, value_enum)]
    pub hardening: Option<HardeningArg>,
    /// How a group's members are combined into one score per channel.
    #[arg(long, value_enum, default_value_t = ReductionArg::Mean)]
    pub reduction: ReductionArg,
    /// How group scores are scaled before a global ranking: divided by the group's mean
    /// (default, as Torch-Pruning does: no group is favoured for its width or its layers'
    /// scale), its largest score, its L2 norm (which makes wide groups rank lowest), or not.
    #[arg(long, value_enum, default_value_t = NormalizationArg::Mean)]
    pub normalization: NormalizationArg,
    /// Fine-tuning epochs after each step (default: 1 with --data, 0 without).
    #[arg(long)]
    pub finetune_epochs: Option<usize>,
    /// Fine-tune for this many iterations (batches) after each step instead of whole epochs.
    #[arg(long, conflicts_with = "finetune_epochs", value_parser = values::count)]
    pub finetune_iters: Option<usize>,
    /// Fine-tuning learning rate (SGD with Nesterov momentum, cosine decay within a step);
    /// default 0.01, or 0.002 for a model that trains without any norm (no batch or layer
    /// norms, no convolutions to add training norms to, or --no-train-bn).
    #[arg(long, value_parser = values::positive_f64)]
    pub lr: Option<f64>,
    /// Fine-tuning batch size (default: 64 for fine-tunes of up to 3 epochs per step, which
    /// recover more in twice the steps; else 128).
    #[arg(long, value_parser = values::count)]
    pub batch: Option<usize>,
    #[arg(long, default_value_t = 5e-4, value_parser = values::non_negative_f32)]
    pub weight_decay: f32,
    #[command(flatten)]
    pub retrain: RetrainArgs,
    /// Zero padding of the random crop while fine-tuning (default: none for fine-tunes of up
    /// to 3 epochs per step, which recover faster without augmentation; else 4 for 32x32,
    /// 2 for 28x28).
    #[arg(long)]
    pub crop_padding: Option<usize>,
    /// Disable the random horizontal flip while fine-tuning (off by default for fine-tunes
    /// of up to 3 epochs per step).
    #[arg(long, conflicts_with = "flip")]
    pub no_flip: bool,
    /// Flip at random while fine-tuning, however short the fine-tune.
    #[arg(long)]
    pub flip: bool,
    /// Fine-tune with knowledge distillation from the model each step starts from: the weight
    /// ALPHA in [0, 1] of the teacher's softened outputs in the loss (default 0.7 with labels,
    /// 1 without; 0 turns it off).
    #[arg(long, value_name = "ALPHA", value_parser = values::unit_f32)]
    pub distill: Option<f32>,
    /// Softmax temperature of the distillation.
    #[arg(long, default_value_t = 4.0, value_parser = values::positive_f32)]
    pub distill_temperature: f32,
    /// Local scope: groups that several layers produce (residual streams) lose this times the
    /// amount the others lose (1 treats them alike).
    #[arg(long, default_value_t = 0.3, value_parser = values::non_negative_f64)]
    pub residual_factor: f64,
    /// Keep only models with at least this top-1 accuracy, in percent.
    #[arg(long, conflicts_with = "max_accuracy_drop", value_parser = values::percent)]
    pub min_accuracy: Option<f64>,
    /// Keep only models within this many points of the starting top-1 accuracy.
    #[arg(long, value_parser = values::percent)]
    pub max_accuracy_drop: Option<f64>,
    /// Stop after this many steps.
    #[arg(long, value_parser = values::count)]
    pub max_steps: Option<usize>,
    /// Leave the output channels of these layers alone (name or glob, repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
    /// Leave the groups (or weights) of the first K conv/linear layers alone.
    #[arg(long, default_value_t = 0)]
    pub skip_first: usize,
    /// Leave the groups (or weights) of the last K conv/linear layers alone.
    #[arg(long, default_value_t = 0)]
    pub skip_last: usize,
    /// Local scope: prune layers matching PATTERN by FACTOR times the amount the others lose
    /// (`layer1.*=0.5` halves their share, `layer3.*=1.5` takes half as much again); repeatable,
    /// first match wins.
    #[arg(long, value_name = "PATTERN=FACTOR", value_parser = parse_layer_ratio)]
    pub layer_ratio: Vec<(String, f64)>,
    /// Local scope: per-layer ratios from `shears sensitivity --json` output; each layer's
    /// share of the amount follows the largest ratio it survived within --sensitivity-drop.
    #[arg(long, value_name = "SENSITIVITY.json", conflicts_with = "layer_ratio")]
    pub ratios_from: Option<PathBuf>,
    /// With --ratios-from: the accuracy loss, in points, a layer may suffer alone.
    #[arg(long, default_value_t = 1.0, requires = "ratios_from", value_parser = values::non_negative_f64)]
    pub sensitivity_drop: f64,
    /// Keep channel counts multiples of N (default: 8 with --target-latency or
    /// --target-speedup, since ONNX Runtime's blocked convolutions run channel counts in
    /// multiples of 8 about twice as fast as odd ones; else 1).
    #[arg(long, value_parser = values::count)]
    pub round_to: Option<usize>,
    /// Keep Dropout ratios as they are (by default each is lowered to
    /// ratio * sqrt(kept / original weights) of the layer it feeds, as Han et al. advise).
    #[arg(long)]
    pub keep_dropout: bool,
    /// Fine-tune convolutions that have no batch norm (PyTorch's default export folds them
    /// away) without adding one. By default each gets a BN while fine-tuning, started as the
    /// identity from the data's statistics and folded back after, which lets them train at
    /// the usual rate.
    #[arg(long)]
    pub no_train_bn: bool,
    /// Evaluate on the test split after every fine-tuning epoch too (printed, and in
    /// report.json as each step's epoch_accuracy).
    #[arg(long)]
    pub eval_epochs: bool,
    #[command(flatten)]
    pub rewind: RewindArgs,
    /// Remove at most this fraction of any group's channels.
    #[arg(long, default_value_t = 1.0, value_parser = values::fraction_up_to_one)]
    pub max_layer_ratio: f64,
    /// Keep at least this many channels in every group.
    #[arg(long, default_value_t = 1, value_parser = values::count)]
    pub min_channels: usize,
    /// k-means: clusters per filter (default: follows the amount removed).
    #[arg(long, value_parser = values::fraction_up_to_one)]
    pub clustering_factor: Option<f64>,
    /// Seed of random scores, clustering and fine-tuning.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Fine-tune on the first N training samples only.
    #[arg(long, value_parser = values::count)]
    pub train_limit: Option<usize>,
    /// Evaluate on the first N test samples only.
    #[arg(long, value_parser = values::count)]
    pub eval_limit: Option<usize>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Where to write the pruned model (.onnx).
    #[arg(short = 'o', long)]
    pub output: PathBuf,
    /// Overwrite OUTPUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Write report.json, report.md and plots into this directory.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Checkpoint written after every step (default: OUTPUT with .ckpt).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Continue an interrupted run from its checkpoint.
    #[arg(long)]
    pub resume: bool,
}

/// How data-driven criteria see the data: the first N batches of the training split.
#[derive(Args, Debug, Clone)]
pub struct ScoreArgs {
    /// Batches of training data data-driven criteria score on.
    #[arg(long, alias = "batches", default_value_t = 8, value_parser = values::count)]
    pub score_batches: usize,
    /// Samples per scoring batch.
    #[arg(long, default_value_t = 64, value_parser = values::count)]
    pub score_batch_size: usize,
    /// Taylor: do not L2-normalise each layer's scores before combining a group's layers.
    #[arg(long)]
    pub no_layer_normalization: bool,
}

#[derive(Args, Debug)]
pub struct RankArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Criteria to score with, comma-separated (see `shears prune --help`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "random,l1,l2,bn-scale,fpgm,apoz,mean-activation,taylor,hrank"
    )]
    pub criteria: Vec<String>,
    /// Also run the oracle and give each criterion's Spearman correlation with it.
    #[arg(long)]
    pub oracle: bool,
    #[command(flatten)]
    pub score: ScoreArgs,
    #[arg(long, value_enum, default_value_t = ReductionArg::Mean)]
    pub reduction: ReductionArg,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write rank.json and (with --oracle) spearman.png into this directory.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Overwrite existing files of the report.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

#[derive(Args, Debug)]
pub struct SensitivityArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub data: DataArgs,
    /// Fractions of each layer's channels to remove, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9"
    , value_parser = values::fraction)]
    pub ratios: Vec<f64>,
    /// Which channels go at each ratio.
    #[arg(long, default_value = "l1")]
    pub criterion: String,
    #[command(flatten)]
    pub score: ScoreArgs,
    #[arg(long, value_enum, default_value_t = ReductionArg::Mean)]
    pub reduction: ReductionArg,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Evaluate on the first N test samples (every layer and ratio is one evaluation).
    #[arg(long, default_value_t = 2000, value_parser = values::count)]
    pub eval_limit: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write sensitivity.json and sensitivity.png into this directory.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Overwrite existing files of the report.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub device: DeviceArgs,
}

fn parse_granularity(s: &str) -> Result<Granularity, String> {
    s.parse()
}

fn parse_layer_ratio(s: &str) -> Result<(String, f64), String> {
    let bad =
        || format!("'{s}' is not PATTERN=FACTOR with a factor of 0 or more (e.g. 'layer1.*=0.5')");
    let (pattern, factor) = s.rsplit_once('=').ok_or_else(bad)?;
    let factor: f64 = factor.trim().parse().map_err(|_| bad())?;
    if pattern.is_empty() || !(factor.is_finite() && factor >= 0.0) {
        return Err(bad());
    }
    Ok((pattern.to_string(), factor))
}

fn parse_shape(s: &str) -> Result<[usize; 3], String> {
    let dims: Result<Vec<usize>, _> = s.split(',').map(|d| d.trim().parse::<usize>()).collect();
    match dims {
        Ok(d) if d.len() == 3 && d.iter().all(|&x| x > 0) => {
            shears_ir::limits::tensor_elements("the input shape", &d).map_err(|e| e.to_string())?;
            Ok([d[0], d[1], d[2]])
        }
        _ => Err(format!(
            "'{s}' is not a shape C,H,W of three positive integers (e.g. 3,32,32)"
        )),
    }
}
