//! Throughput and latency measurements: inference at a batch size, and training steps.
//!
//! Each measurement warms up, then times `runs` repetitions and reports the median.

use crate::train::{Optimizer, OptimizerKind, TrainConfig, train_step};
use crate::{DeviceKind, Mode, Network, RuntimeError};
use burn::tensor::{Device, Distribution, Tensor};
use serde::Serialize;
use shears_ir::Graph;
use std::time::Instant;

/// One measurement.
#[derive(Clone, Debug, Serialize)]
pub struct Timing {
    pub what: &'static str,
    pub batch: usize,
    /// Median seconds per batch.
    pub median_s: f64,
    /// The fastest run's seconds: what the code can do when nothing else disturbs the machine.
    pub best_s: f64,
    pub images_per_sec: f64,
}

const WARMUP: usize = 2;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Samples of at least `runs` timed calls of `step` after `WARMUP` untimed ones: more when
/// they take less than `seconds` together (as the last untimed call's time predicts), up to a
/// hundred times `runs`. `step` returns its sample and the seconds it took.
fn samples(runs: usize, seconds: f64, mut step: impl FnMut() -> (f64, f64)) -> Vec<f64> {
    let mut took = 0.0;
    for _ in 0..WARMUP {
        took = step().1;
    }
    let runs = ((seconds / took.max(1e-9)) as usize).clamp(runs, 100 * runs);
    (0..runs).map(|_| step().0).collect()
}

/// Times `step` ([`samples`] of its seconds) and reports the median and the fastest run.
fn measure(
    what: &'static str,
    batch: usize,
    (runs, seconds): (usize, f64),
    mut step: impl FnMut(),
) -> Timing {
    let samples = samples(runs, seconds, || {
        let start = Instant::now();
        step();
        let took = start.elapsed().as_secs_f64();
        (took, took)
    });
    let best_s = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let median_s = median(samples);
    Timing {
        what,
        batch,
        median_s,
        best_s,
        images_per_sec: batch as f64 / median_s,
    }
}

fn random_input(net: &Network, batch: usize) -> Result<Tensor<4>, RuntimeError> {
    net.check_batch(batch)?;
    Ok(Tensor::random(
        net.input_dims(batch),
        Distribution::Normal(0.0, 1.0),
        net.device(),
    ))
}

/// The network a benchmark times, once its arguments are checked.
fn compile(graph: &Graph, device: &Device, runs: usize) -> Result<Network, RuntimeError> {
    if runs == 0 {
        return Err(RuntimeError::Config("`runs` must be at least 1".into()));
    }
    let net = Network::new(graph, device)?;
    net.check_single_input()?;
    Ok(net)
}

/// Inference latency at `batch`: forward in eval mode (BN folded into convs), results read
/// back to the host, over at least `runs` runs and `seconds` of them.
pub fn inference(
    graph: &Graph,
    device: DeviceKind,
    batch: usize,
    (runs, seconds): (usize, f64),
) -> Result<Timing, RuntimeError> {
    let net = compile(&graph.fold_batch_norms(), &device.device()?, runs)?;
    infer("inference", net, batch, (runs, seconds))
}

/// [`inference`] with the convs and linear layers whose weights are at most `max_density`
/// non-zero on kernels that skip zeros ([`Network::use_sparse_kernels`]).
pub fn sparse_inference(
    graph: &Graph,
    device: DeviceKind,
    batch: usize,
    runs: usize,
    max_density: f64,
) -> Result<Timing, RuntimeError> {
    let mut net = compile(&graph.fold_batch_norms(), &device.device()?, runs)?;
    net.use_sparse_kernels(max_density);
    infer("sparse", net, batch, (runs, 0.0))
}

/// One model's inference time against another's, from alternating runs.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Relative {
    /// The candidate's time over the reference's: the median of the ratios of the paired
    /// runs, which a machine slowing down or speeding up between pairs disturbs little.
    pub ratio: f64,
    /// The median of the per-pair ratios' spread: half the distance between their quartiles,
    /// relative to `ratio`.
    pub spread: f64,
}

/// [`inference`] of `candidate` against `reference` at `batch`: at least `runs` pairs of one
/// run of each back to back, and `seconds` of them (after warming both up), so that both see
/// the machine in the same state.
pub fn relative_inference(
    candidate: &Graph,
    reference: &Graph,
    device: DeviceKind,
    batch: usize,
    (runs, seconds): (usize, f64),
) -> Result<Relative, RuntimeError> {
    let device = device.device()?;
    let mut a = compile(&candidate.fold_batch_norms(), &device, runs)?;
    let mut b = compile(&reference.fold_batch_norms(), &device, runs)?;
    let inputs = [random_input(&a, batch)?, random_input(&b, batch)?];
    let time = |net: &mut Network, x: &Tensor<4>| {
        let start = Instant::now();
        let _ = net.forward(x.clone(), Mode::Eval).into_data();
        start.elapsed().as_secs_f64()
    };
    let mut ratios = samples(runs, seconds, || {
        let (ta, tb) = (time(&mut a, &inputs[0]), time(&mut b, &inputs[1]));
        (ta / tb, ta + tb)
    });
    ratios.sort_by(f64::total_cmp);
    let ratio = ratios[ratios.len() / 2];
    let quartiles = ratios[3 * ratios.len() / 4] - ratios[ratios.len() / 4];
    Ok(Relative {
        ratio,
        spread: quartiles / 2.0 / ratio,
    })
}

fn infer(
    what: &'static str,
    mut net: Network,
    batch: usize,
    budget: (usize, f64),
) -> Result<Timing, RuntimeError> {
    let x = random_input(&net, batch)?;
    Ok(measure(what, batch, budget, || {
        let _ = net.forward(x.clone(), Mode::Eval).into_data();
    }))
}

/// Training throughput at `batch`: forward, cross-entropy, backward and an SGD step.
pub fn training(
    graph: &Graph,
    device: DeviceKind,
    batch: usize,
    runs: usize,
) -> Result<Timing, RuntimeError> {
    let mut net = compile(graph, &device.device()?.autodiff(), runs)?;
    let classes = net.output_features();
    let labels: Vec<i64> = (0..batch).map(|i| (i % classes) as i64).collect();
    let mut optimizer = Optimizer::new(OptimizerKind::default(), 5e-4, net.params().len());
    let x = random_input(&net, batch)?;
    let config = TrainConfig::default();
    Ok(measure("training", batch, (runs, 0.0), || {
        let (_, logits) = train_step(
            &mut net,
            &mut optimizer,
            x.clone(),
            &labels,
            0.01,
            &config,
            None,
        );
        let _ = logits.into_data();
    }))
}
