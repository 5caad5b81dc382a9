//! Training-time batch norms for the bare convolutions of a BN-folded model.
//!
//! Before fine-tuning, every convolution no BN reads gets one ([`Graph::with_norms_after`])
//! whose running statistics are the convolution's output statistics on the first training
//! batches. Its scale and shift are those of the same channel in the model the step started
//! from (`gamma = sqrt(var + eps)`, `beta = mean` of the original channel's output), found
//! through the cut ([`channel_origins`]): each channel starts with the distribution it had
//! before pruning, as the BNs of a model that kept them restore it. Without origins the BN
//! starts as the identity. After fine-tuning the BNs are folded back
//! ([`AddedNorms::fold_back`]), so the pruned model keeps the structure it came with.

use super::PruneConfig;
use super::run::finetune_with;
use crate::PruneError;
use crate::importance::ScoreData;
use shears_ir::{AddedNorms, Array, Graph, Op};
use shears_runtime::train::{EpochReport, TrainData, TrainObserver};
use shears_runtime::{DeviceKind, Mode, Network, TapSpec, host_values};
use std::collections::BTreeMap;

/// Batches of the training split the added norms' statistics are measured on.
const STAT_BATCHES: usize = 8;
const STAT_BATCH_SIZE: usize = 128;

/// For each bare convolution (by node), the channel of the uncut model each of its channels
/// was.
pub(super) type Origins = BTreeMap<usize, Vec<usize>>;

/// The model a step started from, and where the channels of the cut model were in it.
#[derive(Clone, Copy)]
pub(super) struct Teacher<'a> {
    pub graph: &'a Graph,
    pub origins: Option<&'a Origins>,
}

/// Where the channels of `graph`'s bare convolutions go through `cut`: each bias is set to
/// its channel indices and read back after the cut.
pub(super) fn channel_origins(
    graph: &Graph,
    cut: impl Fn(&Graph) -> Result<Graph, PruneError>,
) -> Result<Origins, PruneError> {
    let convs = graph.convs_without_norm();
    if convs.is_empty() {
        return Ok(Origins::new());
    }
    let mut marked = graph.clone();
    for &node in &convs {
        let Op::Conv2d(conv) = &mut marked.nodes[node].op else {
            unreachable!("a bare convolution is a convolution");
        };
        let out = conv.out_channels();
        conv.bias = Some(Array::new(vec![out], (0..out).map(|c| c as f32).collect()));
    }
    let cut = cut(&marked)?;
    Ok((convs.into_iter())
        .filter_map(|node| match &cut.nodes[node].op {
            Op::Conv2d(c) => Some((
                node,
                c.bias.as_ref()?.data.iter().map(|&i| i as usize).collect(),
            )),
            _ => None,
        })
        .collect())
}

/// Fine-tunes `graph` as [`finetune_with`] does, through added batch norms when
/// `config.train_bn` holds and `graph` has bare convolutions.
pub(super) fn finetune_normalised(
    config: &PruneConfig,
    data: Option<&TrainData>,
    device: DeviceKind,
    graph: &mut Graph,
    teacher: Teacher,
    step: usize,
    observer: &mut dyn TrainObserver,
) -> Result<Vec<EpochReport>, PruneError> {
    let added = match data {
        Some(data) if config.train_bn && config.finetune_epochs() > 0 => {
            add_norms(graph, data, device, Some(teacher))?
        }
        _ => None,
    };
    let Some((mut normalised, added)) = added else {
        return finetune_with(config, data, device, graph, teacher.graph, step, observer);
    };
    let history = finetune_with(
        config,
        data,
        device,
        &mut normalised,
        teacher.graph,
        step,
        observer,
    )?;
    *graph = added.fold_back(graph, &normalised);
    Ok(history)
}

/// `graph` with a BN after each bare convolution, each the identity on `data`'s training
/// split; `None` when every convolution has a BN.
pub fn add_training_norms(
    graph: &Graph,
    data: &TrainData,
    device: DeviceKind,
) -> Result<Option<(Graph, AddedNorms)>, PruneError> {
    add_norms(graph, data, device, None)
}

/// `graph` with a BN after each bare convolution that normalises its output on `data`'s
/// training split, then scales and shifts each channel to the statistics of its origin in
/// `teacher` (where known), else back to its own (the identity).
fn add_norms(
    graph: &Graph,
    data: &TrainData,
    device: DeviceKind,
    teacher: Option<Teacher>,
) -> Result<Option<(Graph, AddedNorms)>, PruneError> {
    let convs = graph.convs_without_norm();
    if convs.is_empty() {
        return Ok(None);
    }
    let targets = match teacher {
        Some(Teacher {
            graph: original,
            origins: Some(origins),
        }) => origin_statistics(original, &convs, origins, data, device)?,
        _ => vec![None; convs.len()],
    };
    // A matched norm's running statistics are measured after all norms are in (below); only
    // the others need their convolution's own statistics, which also make them the identity.
    let unmatched: Vec<usize> = (convs.iter().zip(&targets))
        .filter(|(_, target)| target.is_none())
        .map(|(&conv, _)| conv)
        .collect();
    let mut own = output_statistics(graph, &unmatched, data, device)?.into_iter();
    let matched = unmatched.len() < convs.len();
    let (mut normalised, added) = graph.with_norms_after(&convs);
    for (&(_, node), target) in added.added().iter().zip(targets) {
        let Op::BatchNorm2d(bn) = &mut normalised.nodes[node].op else {
            unreachable!("an added norm is a batch norm");
        };
        let (mean, var) = match target {
            Some(target) => target,
            None => own
                .next()
                .expect("statistics of every unmatched convolution"),
        };
        bn.gamma.data = var.iter().map(|v| (v + bn.eps).sqrt()).collect();
        bn.beta.data.clone_from(&mean);
        bn.mean.data = mean;
        bn.var.data = var;
    }
    if matched {
        recalibrate(&mut normalised, &added, data, device)?;
    }
    Ok(Some((normalised, added)))
}

/// Re-measures the running statistics of the added norms in one pass in train mode: a norm
/// that moves its channels to their origins' statistics changes what the layers after it see.
fn recalibrate(
    graph: &mut Graph,
    added: &AddedNorms,
    data: &TrainData,
    device: DeviceKind,
) -> Result<(), PruneError> {
    let mut probe = graph.clone();
    for &(_, node) in added.added() {
        if let Op::BatchNorm2d(bn) = &mut probe.nodes[node].op {
            bn.momentum = 1.0;
        }
    }
    let score = ScoreData {
        device,
        ..ScoreData::new(
            data.train.clone(),
            data.normalize.clone(),
            STAT_BATCHES * STAT_BATCH_SIZE / 2,
            1,
        )
    };
    let mut net = Network::new(&probe, &device.device()?)?;
    for batch in score.load()? {
        let x = net.batch(batch.images, batch.n, &batch.shape)?;
        net.forward(x, Mode::Train);
    }
    net.write_back(&mut probe);
    for &(_, node) in added.added() {
        let (Op::BatchNorm2d(to), Op::BatchNorm2d(from)) =
            (&mut graph.nodes[node].op, &probe.nodes[node].op)
        else {
            unreachable!("an added norm is a batch norm");
        };
        to.mean = from.mean.clone();
        to.var = from.var.clone();
    }
    Ok(())
}

/// For each of `convs`, the output statistics of its channels' origins in `original`; `None`
/// for a convolution whose origins are unknown.
fn origin_statistics(
    original: &Graph,
    convs: &[usize],
    origins: &Origins,
    data: &TrainData,
    device: DeviceKind,
) -> Result<Vec<Option<(Vec<f32>, Vec<f32>)>>, PruneError> {
    let known: Vec<usize> = (convs.iter().copied())
        .filter(|c| origins.contains_key(c))
        .collect();
    let mut stats = output_statistics(original, &known, data, device)?.into_iter();
    Ok((convs.iter())
        .map(|c| {
            let from = origins.get(c)?;
            let (mean, var) = stats.next()?;
            Some((
                from.iter().map(|&o| mean[o]).collect(),
                from.iter().map(|&o| var[o]).collect(),
            ))
        })
        .collect())
}

/// The mean and unbiased variance of every channel of each of `nodes`' outputs (eval mode)
/// on the first training batches, as a BN's running statistics would hold them.
fn output_statistics(
    graph: &Graph,
    nodes: &[usize],
    data: &TrainData,
    device: DeviceKind,
) -> Result<Vec<(Vec<f32>, Vec<f32>)>, PruneError> {
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
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
