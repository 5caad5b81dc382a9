//! Helpers shared by the prune tests: non-trivial BN parameters, running a graph on burn's CPU
//! backend, and the prune-versus-mask comparison.
#![allow(dead_code)]

use burn::tensor::Device;
use rand::{Rng, SeedableRng, rngs::StdRng};
use shears_data::{Dataset, Normalize};
use shears_ir::{Graph, Op};
use shears_prune::importance::{Criterion, CriterionOptions, Reduction, ScoreData};
use shears_prune::pruner::{PruneConfig, PruneRecord, Pruner, QuietPruner};
use shears_prune::{ChannelGroup, DependencyGraph, PruneError, mask_groups, prune_groups};
use shears_runtime::DeviceKind;
use shears_runtime::train::{LrSchedule, TrainConfig, TrainData};
use shears_runtime::{Mode, Network, host_values};
use std::sync::Arc;

/// Gives every BN layer random gamma, beta, running mean and variance, so that a zeroed channel
/// does not stay zero by accident (a fresh BN is the identity on zero).
pub fn randomise_bn(graph: &mut Graph, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    for node in &mut graph.nodes {
        if let Op::BatchNorm2d(bn) = &mut node.op {
            let mut fill = |a: &mut Vec<f32>, lo: f32, hi: f32| {
                a.iter_mut().for_each(|v| *v = rng.random_range(lo..hi));
            };
            fill(&mut bn.gamma.data, 0.5, 1.5);
            fill(&mut bn.beta.data, -0.5, 0.5);
            fill(&mut bn.mean.data, -0.5, 0.5);
            fill(&mut bn.var.data, 0.5, 2.0);
        }
    }
}

/// `n` samples of uniform noise in [-1, 1) shaped for the graph's input.
pub fn random_input(graph: &Graph, n: usize, seed: u64) -> Vec<f32> {
    let len: usize = graph.input_shape().unwrap().iter().product();
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n * len).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// Every output of the graph for a batch of `n` samples, in eval mode, one after the other.
pub fn run(graph: &Graph, input: &[f32], n: usize) -> Vec<f32> {
    let mut net = Network::new(graph, &Device::flex()).unwrap();
    let shape = graph.input_shape().unwrap().to_vec();
    let x = net.batch(input.to_vec(), n, &shape).unwrap();
    net.forward_outputs(x, Mode::Eval)
        .into_iter()
        .flat_map(host_values)
        .collect()
}

/// Fails unless every value agrees within 1e-4, relative to the largest output (at least 1).
pub fn compare(got: &[f32], want: &[f32]) -> Result<(), String> {
    if got.len() != want.len() {
        return Err(format!("{} outputs against {}", got.len(), want.len()));
    }
    let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        // Written so that a NaN fails.
        let close = (g - w).abs() <= 1e-4 * scale;
        if !close {
            return Err(format!(
                "output {i}: pruned {g} vs masked {w} (scale {scale})"
            ));
        }
    }
    Ok(())
}

/// A random non-empty proper subset of `0..channels` (which must be at least 2).
pub fn random_subset(rng: &mut StdRng, channels: usize) -> Vec<usize> {
    let k = rng.random_range(1..channels);
    rand::seq::index::sample(rng, channels, k).into_vec()
}

/// Prunes `cuts` in one copy of `graph` and masks them in another, and compares the outputs
/// on `input` (`n` samples). The error names the groups and indices.
pub fn prune_equals_mask(
    graph: &Graph,
    cuts: &[(&ChannelGroup, Vec<usize>)],
    input: &[f32],
    n: usize,
) -> Result<(), String> {
    let what = cuts
        .iter()
        .map(|(g, i)| format!("'{}' {i:?}", g.name))
        .collect::<Vec<_>>()
        .join(", ");
    let refs: Vec<(&ChannelGroup, &[usize])> = cuts.iter().map(|(g, i)| (*g, &i[..])).collect();
    let mut pruned = graph.clone();
    prune_groups(&mut pruned, &refs).map_err(|e| format!("pruning {what}: {e}"))?;
    let mut masked = graph.clone();
    mask_groups(&mut masked, &refs).map_err(|e| format!("masking {what}: {e}"))?;
    if pruned.param_count() >= graph.param_count() {
        return Err(format!("pruning {what} removed no parameter"));
    }
    compare(&run(&pruned, input, n), &run(&masked, input, n))
        .map_err(|e| format!("{} after pruning {what}: {e}", graph.name))
}

/// The prunable groups that have a channel to spare.
pub fn cuttable(deps: &DependencyGraph) -> Vec<&ChannelGroup> {
    deps.prunable().filter(|g| g.channels > 1).collect()
}

/// Every cuttable group at once, each losing a random subset of its channels.
pub fn all_groups_at_once(deps: &DependencyGraph, graph: &Graph, seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let cuts: Vec<_> = cuttable(deps)
        .into_iter()
        .map(|g| (g, random_subset(&mut rng, g.channels)))
        .collect();
    let input = random_input(graph, 2, seed);
    prune_equals_mask(graph, &cuts, &input, 2)
}

/// Each cuttable group alone, `rounds` random subsets each, then all of them at once.
pub fn check_every_group(graph: &Graph, rounds: u64) {
    let deps = DependencyGraph::build(graph).unwrap();
    let input = random_input(graph, 2, 1);
    for g in cuttable(&deps) {
        for seed in 0..rounds {
            let mut rng = StdRng::seed_from_u64(seed);
            let cut = vec![(g, random_subset(&mut rng, g.channels))];
            prune_equals_mask(graph, &cut, &input, 2).unwrap();
        }
    }
    all_groups_at_once(&deps, graph, 9).unwrap();
}

/// A data set of `n` random images shaped for `graph`'s input, with random labels of
/// `classes` classes.
pub fn random_dataset(graph: &Graph, n: usize, classes: usize, seed: u64) -> Dataset {
    let shape: [usize; 3] = graph.input_shape().unwrap().try_into().unwrap();
    let mut rng = StdRng::seed_from_u64(seed);
    let len: usize = shape.iter().product();
    let images = (0..n * len).map(|_| rng.random()).collect();
    let labels = (0..n)
        .map(|_| rng.random_range(0..classes as u16))
        .collect();
    let names = (0..classes).map(|c| c.to_string()).collect();
    Dataset::new(images, labels, shape, names).unwrap()
}

/// Scoring data for `graph`: 2 batches of 2 random images.
pub fn score_data(graph: &Graph, seed: u64) -> ScoreData {
    let classes = shears_runtime::Network::new(graph, &Device::flex())
        .unwrap()
        .output_features();
    let data = random_dataset(graph, 4, classes, seed);
    let channels = data.shape[0];
    ScoreData::new(Arc::new(data), Normalize::unit(channels), 2, 2)
}

/// Criterion options with scoring data for `graph`, so every criterion can be built.
pub fn options(graph: &Graph, seed: u64) -> CriterionOptions {
    CriterionOptions::new(Reduction::Mean, seed).with_data(score_data(graph, seed))
}

/// A fine-tuning recipe for tests: `epochs` epochs in batches of `batch_size` at a constant
/// `lr`, no augmentation.
pub fn quick_recipe(epochs: usize, batch_size: usize, lr: f64) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size,
        lr,
        schedule: LrSchedule::Constant,
        crop_padding: 0,
        horizontal_flip: false,
        ..TrainConfig::default()
    }
}

/// Runs `config` on `graph` with `criterion` (mean reduction, seed 0) on the flex device.
pub fn prune_with(
    graph: &mut Graph,
    config: PruneConfig,
    criterion: Criterion,
    data: &TrainData,
) -> Result<PruneRecord, PruneError> {
    let mut importance = criterion
        .build(&CriterionOptions::new(Reduction::Mean, 0))
        .unwrap();
    let mut pruner = Pruner {
        config,
        criterion: importance.as_mut(),
        data: Some(data),
        device: DeviceKind::Flex,
        checkpoint: None,
        model: graph.name.clone(),
    };
    pruner.run(graph, None, &mut QuietPruner)
}
