//! Training-time batch norms for the bare convolutions of a BN-folded model.
//!
//! Before fine-tuning, every convolution no BN reads gets one ([`Graph::with_norms_after`])
//! whose running statistics are the convolution's output statistics on the first training
//! batches, with `gamma = sqrt(var + eps)` and `beta = mean`: in eval mode it is exactly the
//! identity, in train mode nearly so. After fine-tuning the BNs are folded back
//! ([`AddedNorms::fold_back`]), so the pruned model keeps the structure it came with.

use super::PruneConfig;
use super::run::finetune_with;
use crate::PruneError;
use crate::importance::ScoreData;
use shears_ir::{AddedNorms, Graph, Op};
use shears_runtime::train::{TrainData, TrainObserver};
use shears_runtime::{DeviceKind, Mode, Network, TapSpec, host_values};

/// Batches of the training split the added norms' statistics are measured on.
const STAT_BATCHES: usize = 8;
const STAT_BATCH_SIZE: usize = 128;

/// Fine-tunes `graph` as [`finetune_with`] does, through added batch norms when
/// `config.train_bn` holds and `graph` has bare convolutions.
pub(super) fn finetune_normalised(
    config: &PruneConfig,
    data: Option<&TrainData>,
    device: DeviceKind,
    graph: &mut Graph,
    teacher: &Graph,
    step: usize,
    observer: &mut dyn TrainObserver,
) -> Result<usize, PruneError> {
    let added = match data {
        Some(data) if config.train_bn && config.finetune_epochs() > 0 => {
            add_training_norms(graph, data, device)?
        }
        _ => None,
    };
    let Some((mut normalised, added)) = added else {
        return finetune_with(config, data, device, graph, teacher, step, observer);
    };
    let epochs = finetune_with(
        config,
        data,
        device,
        &mut normalised,
        teacher,
        step,
        observer,
    )?;
    *graph = added.fold_back(graph, &normalised);
    Ok(epochs)
}

/// `graph` with a BN after each bare convolution, each the identity on `data`'s training
/// split; `None` when every convolution has a BN.
pub fn add_training_norms(
    graph: &Graph,
    data: &TrainData,
    device: DeviceKind,
) -> Result<Option<(Graph, AddedNorms)>, PruneError> {
    let convs = graph.convs_without_norm();
    if convs.is_empty() {
        return Ok(None);
    }
    let stats = output_statistics(graph, &convs, data, device)?;
    let (mut normalised, added) = graph.with_norms_after(&convs);
    for (&(_, node), (mean, var)) in added.added().iter().zip(stats) {
        let Op::BatchNorm2d(bn) = &mut normalised.nodes[node].op else {
            unreachable!("an added norm is a batch norm");
        };
        bn.gamma.data = var.iter().map(|v| (v + bn.eps).sqrt()).collect();
        bn.beta.data.clone_from(&mean);
        bn.mean.data = mean;
        bn.var.data = var;
    }
    Ok(Some((normalised, added)))
}

/// The mean and unbiased variance of every channel of each of `nodes`' outputs (eval mode)
/// on the first training batches, as a BN's running statistics would hold them.
fn output_statistics(
    graph: &Graph,
    nodes: &[usize],
    data: &TrainData,
    device: DeviceKind,
) -> Result<Vec<(Vec<f32>, Vec<f32>)>, PruneError> {
    let score = ScoreData {
        device,
        ..ScoreData::new(
            data.train.clone(),
            data.normalize.clone(),
            STAT_BATCH_SIZE,
            STAT_BATCHES,
        )
    };
    let mut net = Network::new(&graph.fold_batch_norms(), &device.device()?)?;
    let spec = TapSpec {
        nodes: nodes.to_vec(),
        gradients: false,
    };
    let mut sums: Vec<Moments> = (nodes.iter())
        .map(|&n| Moments::new(net.output_shape(n)[0]))
        .collect();
    for batch in score.load()? {
        let x = net.batch(batch.images, batch.n, &batch.shape)?;
        let (_, taps) = net.forward_tapped(x, Mode::Eval, &spec);
        for (&node, moments) in nodes.iter().zip(&mut sums) {
            let values = host_values(taps.activation(node).expect("tapped").clone());
            moments.add(&values, batch.n);
        }
    }
    Ok(sums.into_iter().map(Moments::finish).collect())
}

/// Per-channel sums of a `[n, C, ...]` value over samples and positions.
struct Moments {
    sum: Vec<f64>,
    squares: Vec<f64>,
    count: usize,
}

impl Moments {
    fn new(channels: usize) -> Self {
        Self {
            sum: vec![0.0; channels],
            squares: vec![0.0; channels],
            count: 0,
        }
    }

    fn add(&mut self, values: &[f32], n: usize) {
        let channels = self.sum.len();
        let spatial = values.len() / (n * channels).max(1);
        for (i, map) in values.chunks(spatial.max(1)).enumerate() {
            let c = i % channels;
            self.sum[c] += map.iter().map(|&v| v as f64).sum::<f64>();
            self.squares[c] += map.iter().map(|&v| (v as f64).powi(2)).sum::<f64>();
        }
        self.count += n * spatial;
    }

    /// Mean and unbiased variance per channel.
    fn finish(self) -> (Vec<f32>, Vec<f32>) {
        let count = self.count as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / count).collect();
        let var = (self.squares.iter().zip(&mean))
            .map(|(q, m)| ((q - count * m * m) / (count - 1.0).max(1.0)).max(0.0) as f32)
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), var)
    }
}
