//! Training and evaluation: the epoch loop, progress reporting, divergence checks and
//! per-epoch atomic checkpoints with resume.

mod checkpoint;
mod eval;
mod identity;
mod loss;
mod optim;
mod schedule;

pub use checkpoint::{Checkpoint, check_graph, read_checkpoint, write_checkpoint};
pub use eval::{EvalReport, evaluate, evaluate_network};
pub use identity::{RunIdentity, setting_differences};
pub use loss::{cross_entropy, mean_squared_error, soft_cross_entropy, top1_top5};
pub use optim::{Optimizer, OptimizerKind, OptimizerState};
pub use schedule::LrSchedule;

use crate::{DeviceKind, Mode, Network, RuntimeError, host_values};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};
use shears_data::{Augment, BatchLoader, Dataset, LoaderConfig, Normalize};
use shears_ir::Graph;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// A training recipe. Defaults are the CIFAR ResNet recipe: SGD with Nesterov momentum 0.9,
/// weight decay 5e-4, cosine schedule, batch 128, random crop and flip.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub weight_decay: f32,
    pub schedule: LrSchedule,
    pub seed: u64,
    /// Zero padding before a random crop back to the input size (0: no crop).
    pub crop_padding: usize,
    pub horizontal_flip: bool,
    /// Use only the first N training samples (quick runs).
    pub train_limit: Option<usize>,
    /// Use only the first N test samples for per-epoch evaluation.
    pub test_limit: Option<usize>,
    /// Where to write a checkpoint after every epoch.
    pub checkpoint: Option<PathBuf>,
    /// Stop each epoch after this many batches (fine-tuning by iterations rather than whole
    /// epochs).
    #[serde(default)]
    pub max_batches: Option<usize>,
    /// λ of an L1 penalty on every BN gamma added to the loss (Network Slimming), so that the
    /// `bn-scale` criterion finds channels to drop; 0 for none.
    #[serde(default)]
    pub bn_sparsity: f32,
    /// Knowledge distillation from [`TrainData::teacher`] (Hinton et al. 2015); `None`: none.
    #[serde(default)]
    pub distill: Option<Distill>,
    /// λ of an L1 penalty on every parameter (its subgradient `λ sign(w)` added to the
    /// gradient), Han et al.'s alternative to weight decay while retraining; 0 for none.
    #[serde(default)]
    pub l1_decay: f32,
    /// Layers whose parameters do not change (Han et al. retrain the fully connected layers
    /// with the convolutions frozen, and the reverse).
    #[serde(default)]
    pub freeze: Option<Freeze>,
    /// Train with a Filter Skeleton on every conv (stripe-wise pruning); the written model
    /// has the skeleton folded in and its zero stripes masked.
    #[serde(default)]
    pub filter_skeleton: Option<FilterSkeleton>,
    /// Where the run sits in a longer schedule (learning-rate rewinding replays the original
    /// training's schedule from an epoch); `None`: the run is the whole schedule.
    #[serde(default)]
    pub schedule_window: Option<ScheduleWindow>,
}

/// A run's epochs are epochs `first_epoch..` of a schedule of `total_epochs` at the run's rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduleWindow {
    pub first_epoch: usize,
    pub total_epochs: usize,
}

/// SWP's Filter Skeleton settings (Meng et al. 2020; the defaults are the authors').
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct FilterSkeleton {
    /// λ of the L1 penalty on the skeleton.
    pub sparsity: f32,
    /// Skeleton entries at or under this magnitude are set to zero after every step.
    pub threshold: f32,
}

impl Default for FilterSkeleton {
    fn default() -> Self {
        Self {
            sparsity: 1e-5,
            threshold: 0.01,
        }
    }
}

/// Which layers a run leaves as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Freeze {
    /// Convolutions (plain and transposed) and normalisations.
    Conv,
    /// Fully connected layers.
    Linear,
}

/// The loss is `(1 - alpha) * CE(labels) + alpha * D`, with `D` the distillation loss:
/// `T^2 * CE(softmax(teacher / T), student / T)` for a classifier (one output, one value per
/// class), and the mean squared difference from the teacher's outputs, summed over outputs,
/// for any other network (segmentation maps, detection heads). With `alpha = 1` the labels
/// are not read at all: label-free recovery, for any model and unlabelled images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distill {
    pub alpha: f32,
    pub temperature: f32,
}

impl Distill {
    /// Whether the labels play no part in the loss.
    pub fn label_free(&self) -> bool {
        self.alpha >= 1.0
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 10,
            batch_size: 128,
            lr: 0.1,
            optimizer: OptimizerKind::default(),
            weight_decay: 5e-4,
            schedule: LrSchedule::Cosine,
            seed: 0,
            crop_padding: 4,
            horizontal_flip: true,
            train_limit: None,
            test_limit: None,
            checkpoint: None,
            max_batches: None,
            bn_sparsity: 0.0,
            distill: None,
            l1_decay: 0.0,
            freeze: None,
            filter_skeleton: None,
            schedule_window: None,
        }
    }
}

/// What one epoch achieved.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub train_loss: f64,
    /// Top-1 on the training batches; `None` where the outputs are not scores of the data's
    /// classes (a segmentation or detection model distilled without labels).
    pub train_top1: Option<f64>,
    pub test: Option<EvalReport>,
    pub seconds: f64,
    pub images_per_sec: f64,
    pub lr: f64,
}

/// Progress within an epoch, for progress bars.
#[derive(Clone, Debug)]
pub struct BatchProgress {
    pub epoch: usize,
    pub batch: usize,
    pub batches: usize,
    pub loss: f64,
    /// `None` where the outputs are not class scores (see [`EpochReport::train_top1`]).
    pub top1: Option<f64>,
    pub images_per_sec: f64,
}

/// Receives progress as training goes; every method has a no-op default.
pub trait TrainObserver {
    fn epoch_start(&mut self, _epoch: usize, _epochs: usize, _batches: usize) {}
    fn batch(&mut self, _progress: &BatchProgress) {}
    fn epoch_end(&mut self, _report: &EpochReport) {}
    /// After epoch `epoch`'s weights are written back to `graph`, before it is evaluated and
    /// checkpointed: may change the values and masks of `graph`'s arrays (not their shapes,
    /// soft pruning does), and says whether it did, so that training goes on from the
    /// changed weights. An error stops training.
    fn after_epoch(&mut self, _epoch: usize, _graph: &mut Graph) -> Result<bool, RuntimeError> {
        Ok(false)
    }
}

/// An observer that ignores everything.
pub struct Quiet;
impl TrainObserver for Quiet {}

/// The data a run trains and evaluates on.
pub struct TrainData {
    pub train: Arc<Dataset>,
    pub test: Option<Arc<Dataset>>,
    pub normalize: Normalize,
    /// A model whose softened outputs are targets too, with [`TrainConfig::distill`].
    pub teacher: Option<Arc<Graph>>,
}

/// Trains `graph` in place for `config.epochs` epochs (continuing from `resume` if given) and
/// returns the report of every epoch, resumed ones included.
pub fn train(
    graph: &mut Graph,
    data: &TrainData,
    config: &TrainConfig,
    device: DeviceKind,
    resume: Option<Checkpoint>,
    observer: &mut dyn TrainObserver,
) -> Result<Vec<EpochReport>, RuntimeError> {
    validate(config)?;
    let base = device.device()?;
    let autodiff = base.clone().autodiff();
    let mut history = Vec::new();
    let mut first_epoch = 0;
    let mut resumed_state = None;
    let identity = (config.checkpoint.is_some() || resume.is_some()).then(|| {
        RunIdentity::of(
            graph,
            Some(&data.train),
            data.test.as_deref(),
            Some(&data.normalize),
        )
    });
    if let Some(ckpt) = resume {
        check_resumable(&ckpt, config, identity.as_ref())?;
        *graph = ckpt.graph;
        first_epoch = ckpt.epochs_done;
        history = ckpt.history;
        resumed_state = Some(ckpt.optimizer);
    }
    let mut net = compile(graph, &autodiff, config)?;
    let label_free = config.distill.is_some_and(|d| d.label_free());
    if !label_free {
        check_classes(&net, data.train.classes)?;
    }
    // Training accuracy where the outputs are class scores for the data's labels.
    let scores_classes = net.classifies() && net.output_features() == data.train.classes;
    let mut teacher = match (&config.distill, &data.teacher) {
        (None, _) => None,
        (Some(d), Some(t)) => Some((Network::new(&t.fold_batch_norms(), &base)?, *d)),
        (Some(_), None) => {
            return Err(RuntimeError::Config(
                "distillation needs a teacher model".into(),
            ));
        }
    };
    let mut optimizer = Optimizer::new(
        config.optimizer.clone(),
        config.weight_decay,
        net.params().len(),
    )
    .with_l1_decay(config.l1_decay);
    if let Some(state) = resumed_state {
        optimizer.load_state(state, &base);
    }
    let augment = Augment {
        random_crop_padding: config.crop_padding,
        horizontal_flip: config.horizontal_flip,
    };
    let loader_config = LoaderConfig {
        limit: config.train_limit,
        ..LoaderConfig::train(
            config.batch_size,
            config.seed,
            augment,
            data.normalize.clone(),
        )
    };
    let loader = BatchLoader::new(data.train.clone(), loader_config)?;
    let batches = config
        .max_batches
        .map_or(loader.num_batches(), |m| m.min(loader.num_batches()));
    let total_iters = batches * config.epochs;
    let classes = data.train.classes;
    for epoch in first_epoch..config.epochs {
        base.seed(config.seed.wrapping_add(epoch as u64));
        observer.epoch_start(epoch, config.epochs, batches);
        let start = Instant::now();
        let (mut loss_sum, mut correct, mut seen) = (0.0, 0usize, 0usize);
        let mut lr = config.lr;
        for (b, batch) in loader.epoch(epoch as u64).take(batches).enumerate() {
            lr = match config.schedule_window {
                Some(w) => config.schedule.lr(
                    config.lr,
                    (w.first_epoch + epoch) * batches + b,
                    w.total_epochs * batches,
                    batches,
                ),
                None => (config.schedule).lr(config.lr, epoch * batches + b, total_iters, batches),
            };
            let soft = match &mut teacher {
                Some((t, d)) => {
                    let x = t.batch(batch.images.clone(), batch.n, &batch.shape)?;
                    let outputs = t.forward_outputs(x, Mode::Eval);
                    Some((outputs.into_iter().map(host_values).collect::<Vec<_>>(), *d))
                }
                None => None,
            };
            let x = net.batch(batch.images, batch.n, &batch.shape)?;
            let (loss_value, logits) = train_step(
                &mut net,
                &mut optimizer,
                x,
                &batch.labels,
                lr,
                config,
                soft.as_ref().map(|(outputs, d)| (outputs.as_slice(), *d)),
            );
            if !loss_value.is_finite() {
                return Err(RuntimeError::Diverged {
                    loss: loss_value,
                    epoch,
                    batch: b,
                });
            }
            if scores_classes {
                correct += top1_top5(&host_values(logits), classes, &batch.labels).0;
            }
            loss_sum += loss_value as f64 * batch.n as f64;
            seen += batch.n;
            observer.batch(&BatchProgress {
                epoch,
                batch: b,
                batches,
                loss: loss_sum / seen as f64,
                top1: scores_classes.then(|| correct as f64 / seen as f64),
                images_per_sec: seen as f64 / start.elapsed().as_secs_f64(),
            });
        }
        let seconds = start.elapsed().as_secs_f64();
        net.write_back(graph);
        if observer.after_epoch(epoch, graph)? {
            net = compile(graph, &autodiff, config)?;
        }
        let test = match &data.test {
            Some(test) => Some(evaluate(
                graph,
                test,
                &data.normalize,
                config.batch_size,
                config.test_limit,
                device,
            )?),
            None => None,
        };
        let report = EpochReport {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            train_top1: scores_classes.then(|| correct as f64 / seen.max(1) as f64),
            test,
            seconds,
            images_per_sec: seen as f64 / seconds,
            lr,
        };
        observer.epoch_end(&report);
        history.push(report);
        if let Some(path) = &config.checkpoint {
            let ckpt = Checkpoint {
                graph: graph.clone(),
                epochs_done: epoch + 1,
                optimizer: optimizer.state(),
                history: history.clone(),
                config: config.clone(),
                identity: identity.clone().expect("computed when checkpointing"),
            };
            ckpt.save(path)?;
        }
    }
    Ok(history)
}

/// The network `config` trains: `graph` on `device`, with the frozen layers and Filter
/// Skeletons it asks for.
fn compile(graph: &Graph, device: &Device, config: &TrainConfig) -> Result<Network, RuntimeError> {
    let mut net = Network::new(graph, device)?;
    if let Some(layers) = config.freeze {
        net.freeze(layers);
    }
    if config.filter_skeleton.is_some() {
        net.add_filter_skeletons();
    }
    Ok(net)
}

/// One optimisation step on a batch: forward in train mode, cross-entropy (mixed with the
/// distillation loss against the `teacher`'s outputs, each `[N * features]`, if given; see
/// [`Distill`]), plus the recipe's penalties (`bn_sparsity` times the L1 norm of the BN
/// gammas, the Filter Skeleton's L1 term), backward, update (and the skeleton's threshold).
/// Returns the loss the labels give (the distillation loss when it alone is trained on) and
/// the first output. A non-finite loss is returned, not applied.
pub fn train_step(
    net: &mut Network,
    optimizer: &mut Optimizer,
    x: Tensor<4>,
    labels: &[i64],
    lr: f64,
    config: &TrainConfig,
    teacher: Option<(&[Vec<f32>], Distill)>,
) -> (f32, Tensor<2>) {
    let classifier = net.classifies();
    let outputs = net.forward_outputs(x, Mode::Train);
    let logits = outputs[0].clone();
    let (mut loss, loss_value) = match teacher {
        Some((teacher, d)) => {
            let soft = if classifier {
                soft_cross_entropy(logits.clone(), &teacher[0], d.temperature)
                    * (d.temperature * d.temperature)
            } else {
                mean_squared_error(outputs, teacher)
            };
            if d.label_free() {
                let value: f32 = soft.clone().into_scalar();
                (soft, value)
            } else {
                let ce = cross_entropy(logits.clone(), labels);
                let value: f32 = ce.clone().into_scalar();
                (ce * (1.0 - d.alpha) + soft * d.alpha, value)
            }
        }
        None => {
            let ce = cross_entropy(logits.clone(), labels);
            let value: f32 = ce.clone().into_scalar();
            (ce, value)
        }
    };
    if config.bn_sparsity > 0.0
        && let Some(l1) = net.bn_gamma_l1()
    {
        loss = loss + l1 * config.bn_sparsity;
    }
    if let (Some(skeleton), Some(l1)) = (config.filter_skeleton, net.skeleton_l1()) {
        loss = loss + l1 * skeleton.sparsity;
    }
    if loss_value.is_finite() {
        let grads = loss.backward();
        let params = optimizer.step(net, &grads, lr);
        net.set_params(params);
        if let Some(skeleton) = config.filter_skeleton {
            net.threshold_skeletons(skeleton.threshold);
        }
    }
    (loss_value, logits)
}

fn validate(config: &TrainConfig) -> Result<(), RuntimeError> {
    let bad = |m: String| Err(RuntimeError::Config(m));
    if config.epochs == 0 {
        return bad("`TrainConfig::epochs` must be at least 1".into());
    }
    if config.batch_size == 0 {
        return bad("`TrainConfig::batch_size` must be at least 1".into());
    }
    if config.max_batches == Some(0) {
        return bad("the number of iterations must be at least 1".into());
    }
    if let Some(w) = config.schedule_window
        && w.first_epoch >= w.total_epochs
    {
        return bad(format!(
            "a run replaying a schedule of {} epochs must start before its end, not at epoch {}",
            w.total_epochs, w.first_epoch
        ));
    }
    if !(config.lr.is_finite() && config.lr > 0.0) {
        return bad(format!(
            "`TrainConfig::lr` {} must be a positive number",
            config.lr
        ));
    }
    if !(config.weight_decay.is_finite() && config.weight_decay >= 0.0) {
        return bad(format!(
            "`TrainConfig::weight_decay` {} must be zero or positive",
            config.weight_decay
        ));
    }
    if !(config.l1_decay.is_finite() && config.l1_decay >= 0.0) {
        return bad(format!(
            "`TrainConfig::l1_decay` {} must be zero or positive",
            config.l1_decay
        ));
    }
    if let Some(k) = config.filter_skeleton
        && !(k.sparsity.is_finite()
            && k.sparsity >= 0.0
            && k.threshold.is_finite()
            && k.threshold >= 0.0)
    {
        return bad(format!(
            "the Filter Skeleton's sparsity {} and threshold {} must be zero or positive",
            k.sparsity, k.threshold
        ));
    }
    if let Some(d) = &config.distill
        && !((0.0..=1.0).contains(&d.alpha) && d.temperature.is_finite() && d.temperature > 0.0)
    {
        return bad(format!(
            "`TrainConfig::distill` {} must be in [0, 1] and `Distill::temperature` {} positive",
            d.alpha, d.temperature
        ));
    }
    if !(config.bn_sparsity.is_finite() && config.bn_sparsity >= 0.0) {
        return bad(format!(
            "`TrainConfig::bn_sparsity` {} must be zero or positive (1e-4 to 1e-5 is typical)",
            config.bn_sparsity
        ));
    }
    Ok(())
}

/// A resumed run must start from the same model and data by content and use the recipe it
/// was checkpointed with; only the epoch count (to extend a run), the checkpoint path and the
/// evaluation subset may change. The error names every field that differs.
fn check_resumable(
    ckpt: &Checkpoint,
    now: &TrainConfig,
    identity: Option<&RunIdentity>,
) -> Result<(), RuntimeError> {
    let comparable = |c: &TrainConfig| TrainConfig {
        epochs: 0,
        checkpoint: None,
        test_limit: None,
        ..c.clone()
    };
    let mut differ = identity.map_or(Vec::new(), |id| ckpt.identity.differences(id));
    differ.extend(setting_differences(
        &comparable(&ckpt.config),
        &comparable(now),
    ));
    if !differ.is_empty() {
        return Err(RuntimeError::Resume(differ.join("; ")));
    }
    if now.epochs < ckpt.config.epochs && now.schedule != LrSchedule::Constant {
        return Err(RuntimeError::Resume(format!(
            "epochs was {}, now {}: the learning-rate schedule was laid out for {} epochs",
            ckpt.config.epochs, now.epochs, ckpt.config.epochs
        )));
    }
    Ok(())
}

/// The model must output one value per class of the data.
pub(crate) fn check_classes(net: &Network, classes: usize) -> Result<(), RuntimeError> {
    let outputs = net.output_features();
    if outputs != classes {
        return Err(RuntimeError::Classes { outputs, classes });
    }
    Ok(())
}
