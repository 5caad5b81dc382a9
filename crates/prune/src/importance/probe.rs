//! What data-driven criteria share: the scoring data, where a group's channels are observed,
//! and a pass over the data that hands each criterion the observed values (and gradients).
//!
//! A group's channels are observed where the layers outside the group read them: the inputs
//! of its reader members (the convs and linear layers that take the channels in). Those values
//! are what pruning takes away (the surgery argument in [`crate::surgery`]): after a ReLU in a
//! conv-BN-ReLU chain, the sums after the ReLUs of a residual stage. A flattened value is
//! observed on the map it flattens, so channels keep their `H x W` layout.

use crate::{ChannelGroup, Member, PruneError};
use shears_data::{Batch, BatchLoader, Dataset, LoaderConfig, Normalize};
use shears_ir::{Graph, Op};
use shears_runtime::train::cross_entropy;
use shears_runtime::{DeviceKind, Mode, Network, TapSpec, host_values};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The data a criterion scores on: the first `batches * batch_size` samples of a data set, in
/// order, without augmentation.
#[derive(Clone)]
pub struct ScoreData {
    pub dataset: Arc<Dataset>,
    pub normalize: Normalize,
    pub batch_size: usize,
    pub batches: usize,
    pub device: DeviceKind,
}

impl ScoreData {
    /// `batches` batches of `batch_size` from `dataset`, on the default device.
    pub fn new(
        dataset: Arc<Dataset>,
        normalize: Normalize,
        batch_size: usize,
        batches: usize,
    ) -> Self {
        Self {
            dataset,
            normalize,
            batch_size,
            batches,
            device: DeviceKind::default(),
        }
    }

    /// The scoring batches, loaded once.
    pub fn load(&self) -> Result<Vec<Batch>, PruneError> {
        if self.batches == 0 || self.batch_size == 0 {
            return Err(PruneError::Config(
                "scoring needs at least one batch of at least one sample: raise `ScoreData::batches` or `ScoreData::batch_size`".into(),
            ));
        }
        let config = LoaderConfig {
            limit: Some(self.batches * self.batch_size),
            ..LoaderConfig::eval(self.batch_size, self.normalize.clone())
        };
        let loader = BatchLoader::new(self.dataset.clone(), config)
            .map_err(|e| PruneError::Runtime(e.into()))?;
        Ok(loader.epoch(0).collect())
    }
}

/// Where a group's channels are observed: channel `c` is elements
/// `(offset + c) * per_channel .. (offset + c + 1) * per_channel` of axis 1 of node `node`'s
/// output, each with the value's whole spatial extent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapPoint {
    pub node: usize,
    pub offset: usize,
    pub per_channel: usize,
}

/// The values the reader members of `group` take in, once each, in graph order; empty for a
/// group nothing reads (it could not be pruned).
pub fn tap_points(graph: &Graph, group: &ChannelGroup) -> Vec<TapPoint> {
    let mut points: Vec<TapPoint> = Vec::new();
    for member in &group.members {
        if let Some(point) = reader_tap(graph, group, member)
            && !points.contains(&point)
        {
            points.push(point);
        }
    }
    points.sort_by_key(|p| p.node);
    points
}

/// Where the input of `member`, a reader of `group`, is observed; `None` for a member that
/// does not read the group.
pub fn reader_tap(graph: &Graph, group: &ChannelGroup, member: &Member) -> Option<TapPoint> {
    if member.kind.is_producer() {
        return None;
    }
    // The value slice the member reads: the one at its offset when the group sits in the
    // value more than once (a concat of a value with itself, a grouped conv's ties).
    let at = member.offset / member.kind.width();
    let slice = |node: usize| {
        let mut slices = group.values.iter().filter(|v| v.node == node);
        let first = slices.clone().next();
        slices.find(|v| v.offset == at).or(first)
    };
    let read = graph.nodes[member.node].inputs.first()?.node;
    // Observe a flattened map before the flatten, where its channels are still maps.
    let unflattened = match &graph.nodes[read].op {
        Op::Flatten { .. } => graph.nodes[read]
            .inputs
            .first()
            .and_then(|o| slice(o.node))
            .filter(|v| v.per_channel == 1),
        _ => None,
    };
    let value = unflattened.or_else(|| slice(read))?;
    Some(TapPoint {
        node: value.node,
        offset: value.offset,
        per_channel: value.per_channel,
    })
}

/// One observed value of one batch on the host, `[n, axis1, spatial]` flattened.
pub struct Observed<'a> {
    pub n: usize,
    pub axis1: usize,
    pub spatial: usize,
    pub values: &'a [f32],
    /// dLoss/dvalue, when the pass asked for gradients.
    pub gradients: Option<&'a [f32]>,
    pub point: TapPoint,
}

impl Observed<'_> {
    /// The elements of channel `c` for sample `s`: `per_channel * spatial` values, contiguous.
    pub fn range(&self, s: usize, c: usize) -> std::ops::Range<usize> {
        let width = self.point.per_channel * self.spatial;
        let start =
            (s * self.axis1 + (self.point.offset + c) * self.point.per_channel) * self.spatial;
        start..start + width
    }

    /// The map of channel `c` of sample `s` as `(rows, cols)` for rank computations: the
    /// value's `H x W` when it is a feature map, else one row.
    pub fn map_dims(&self, dims: &[usize]) -> (usize, usize) {
        match dims {
            [_, h, w] if self.point.per_channel == 1 => (*h, *w),
            _ => (1, self.point.per_channel * self.spatial),
        }
    }
}

/// Runs the scoring batches through `graph` (eval mode) and calls `visit(group index, tap
/// index, per-sample shape of the value, observed)` for every tap point of every group, batch
/// by batch. With `gradients`, the cross-entropy loss is back-propagated and each observed
/// value carries its gradient. Returns the tap points of each group.
pub fn observe(
    graph: &Graph,
    data: &ScoreData,
    groups: &[&ChannelGroup],
    gradients: bool,
    mut visit: impl FnMut(usize, usize, &[usize], &Observed),
) -> Result<Vec<Vec<TapPoint>>, PruneError> {
    let points: Vec<Vec<TapPoint>> = groups.iter().map(|g| tap_points(graph, g)).collect();
    let nodes: Vec<usize> = points
        .iter()
        .flatten()
        .map(|p| p.node)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let device = data.device.device()?;
    let device = if gradients { device.autodiff() } else { device };
    // Folding BN keeps node indices, the observed values and their gradients.
    let mut net = Network::new(&graph.fold_batch_norms(), &device)?;
    let spec = TapSpec {
        nodes: nodes.clone(),
        gradients,
    };
    for batch in data.load()? {
        let x = net.batch(batch.images, batch.n, &batch.shape)?;
        let (logits, taps) = net.forward_tapped(x, Mode::Eval, &spec);
        let grads = gradients.then(|| cross_entropy(logits, &batch.labels).backward());
        let mut host: BTreeMap<usize, (Vec<f32>, Option<Vec<f32>>)> = BTreeMap::new();
        for &node in &nodes {
            let values = host_values(taps.activation(node).expect("tapped").clone());
            let grad = grads
                .as_ref()
                .and_then(|g| taps.gradient(node, g))
                .map(host_values);
            host.insert(node, (values, grad));
        }
        for (gi, group_points) in points.iter().enumerate() {
            for (ti, point) in group_points.iter().enumerate() {
                let dims = net.output_shape(point.node).to_vec();
                let (values, grad) = &host[&point.node];
                let axis1 = dims.first().copied().unwrap_or(1);
                let observed = Observed {
                    n: batch.n,
                    axis1,
                    spatial: dims.iter().skip(1).product::<usize>().max(1),
                    values,
                    gradients: grad.as_deref(),
                    point: *point,
                };
                visit(gi, ti, &dims, &observed);
            }
        }
    }
    Ok(points)
}

/// Per-group, per-tap, per-channel sums that a criterion adds to batch by batch, and how
/// many batches each tap has seen.
pub struct Accumulator {
    sums: Vec<Vec<(Vec<f64>, usize)>>,
}

impl Accumulator {
    pub fn new(groups: &[&ChannelGroup]) -> Self {
        Self {
            sums: groups.iter().map(|_| Vec::new()).collect(),
        }
    }

    /// The sums of tap `tap` of group `group` (of `channels` channels), for one more batch.
    pub fn batch(&mut self, group: usize, tap: usize, channels: usize) -> &mut [f64] {
        let taps = &mut self.sums[group];
        while taps.len() <= tap {
            taps.push((vec![0.0; channels], 0));
        }
        taps[tap].1 += 1;
        &mut taps[tap].0
    }

    /// Each tap's mean over its batches, optionally L2-normalised per tap, combined over a
    /// group's taps with `reduction`; `None` for a group with no tap.
    pub fn finish(self, normalize_taps: bool, reduction: super::Reduction) -> super::GroupScores {
        self.sums
            .into_iter()
            .map(|taps| {
                let per_tap = taps
                    .into_iter()
                    .map(|(sums, batches)| {
                        let n = batches.max(1) as f64;
                        let mut s: Vec<f32> = sums.iter().map(|v| (v / n) as f32).collect();
                        if normalize_taps {
                            super::Normalization::L2.apply(&mut s);
                        }
                        s
                    })
                    .collect();
                reduction.reduce(per_tap)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DependencyGraph;
    use shears_ir::zoo::{self, ArchSpec};

    #[test]
    fn channels_are_observed_where_readers_take_them_in() {
        let graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
        let deps = DependencyGraph::build(&graph).unwrap();
        let name = |p: &TapPoint| graph.nodes[p.node].name.clone();
        let inner = deps.group("layer1.0.conv1").unwrap();
        let points = tap_points(&graph, inner);
        assert_eq!(points.len(), 1);
        assert!(
            matches!(graph.nodes[points[0].node].op, Op::Relu),
            "{}",
            name(&points[0])
        );
        let lenet = zoo::build("lenet5", &ArchSpec::default()).unwrap();
        let deps = DependencyGraph::build(&lenet).unwrap();
        let last_conv = deps
            .prunable()
            .find(|g| g.members.iter().any(|m| m.kind.width() > 1))
            .unwrap();
        let points = tap_points(&lenet, last_conv);
        assert_eq!(points.len(), 1);
        assert_eq!(points[0].per_channel, 1, "observed before the flatten");
    }
}
