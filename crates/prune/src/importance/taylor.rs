//! First-order Taylor criteria: the loss change a channel's removal causes, to first order.
//!
//! [`Taylor`] (Molchanov et al. 2017) scores channel `c` of an observed value `a` by
//! `|mean over the batch and the map of a * dL/da|`, averaged over the scoring batches: zeroing
//! the channel changes the loss by about `-a * dL/da`. Each observed layer's scores are then
//! L2-normalised (the paper finds this matters; it can be switched off) and the layers of a
//! group combined with the [`Reduction`].
//!
//! [`TaylorWeight`] (Molchanov et al. 2019, Torch-Pruning's `TaylorImportance`) looks at the
//! weights instead: `sum |w * dL/dw|` over the weights of each member that belong to the channel,
//! with the gradient accumulated over the scoring batches.

use super::probe::{Accumulator, ScoreData, observe};
use super::weights::member_vectors;
use super::{GroupScores, Importance, Reduction, ScoreContext};
use crate::{ChannelGroup, PruneError};
use shears_runtime::train::cross_entropy;
use shears_runtime::{Mode, Network};

/// Activation × gradient, per observed value (Molchanov et al. 2017).
pub struct Taylor {
    data: ScoreData,
    reduction: Reduction,
    normalize_layers: bool,
}

impl Taylor {
    pub fn new(data: ScoreData, reduction: Reduction) -> Self {
        Self {
            data,
            reduction,
            normalize_layers: true,
        }
    }

    /// Whether each observed layer's scores are L2-normalised before the group's layers are
    /// combined (default on).
    pub fn with_layer_normalization(mut self, on: bool) -> Self {
        self.normalize_layers = on;
        self
    }
}

impl Importance for Taylor {
    fn name(&self) -> String {
        "taylor".into()
    }

    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        let mut sums = Accumulator::new(groups);
        observe(ctx.graph, &self.data, groups, true, |g, t, _, obs| {
            let grads = obs.gradients.expect("gradients were asked for");
            let channels = groups[g].channels;
            let per_sample = (obs.point.per_channel * obs.spatial) as f64;
            let acc = sums.batch(g, t, channels);
            for (c, slot) in acc.iter_mut().enumerate() {
                let mut total = 0.0f64;
                for s in 0..obs.n {
                    let r = obs.range(s, c);
                    total += obs.values[r.clone()]
                        .iter()
                        .zip(&grads[r])
                        .map(|(a, g)| (a * g) as f64)
                        .sum::<f64>();
                }
                *slot += (total / (obs.n as f64 * per_sample)).abs();
            }
        })?;
        Ok(sums.finish(self.normalize_layers, self.reduction))
    }
}

/// Weight × weight gradient, per member (Molchanov et al. 2019).
pub struct TaylorWeight {
    data: ScoreData,
    reduction: Reduction,
}

impl TaylorWeight {
    pub fn new(data: ScoreData, reduction: Reduction) -> Self {
        Self { data, reduction }
    }
}

impl Importance for TaylorWeight {
    fn name(&self) -> String {
        "taylor-weight".into()
    }

    /// `|w * dL/dw|` per weight, the gradient averaged over the scoring batches.
    fn score_weights(
        &mut self,
        graph: &shears_ir::Graph,
        _step: usize,
    ) -> Result<Option<super::WeightScores>, PruneError> {
        let gradients = mean_weight_gradients(graph, &self.data)?;
        Ok(Some(super::per_weight(graph, |node, w| {
            let g = shears_ir::filter_weight(&gradients.nodes[node].op).expect("same graph");
            w.data
                .iter()
                .zip(&g.data)
                .map(|(w, g)| (w * g).abs())
                .collect()
        })))
    }

    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        let gradients = mean_weight_gradients(ctx.graph, &self.data)?;
        groups
            .iter()
            .map(|group| {
                let per_member = group
                    .members
                    .iter()
                    .map(|m| {
                        let w = member_vectors(ctx.graph, group, m)?;
                        let g = member_vectors(&gradients, group, m)?;
                        Ok(w.iter()
                            .zip(&g)
                            .map(|(w, g)| w.iter().zip(g).map(|(w, g)| (w * g).abs()).sum())
                            .collect())
                    })
                    .collect::<Result<Vec<Vec<f32>>, PruneError>>()?;
                Ok(self.reduction.reduce(per_member))
            })
            .collect()
    }
}

/// A copy of `graph` whose weights are the gradients of the mean cross-entropy over the
/// scoring batches (eval mode, so BN uses its running statistics).
fn mean_weight_gradients(
    graph: &shears_ir::Graph,
    data: &ScoreData,
) -> Result<shears_ir::Graph, PruneError> {
    let device = data.device.device()?.autodiff();
    let mut net = Network::new(graph, &device)?;
    let batches = data.load()?;
    let count = batches.len() as f32;
    let mut total: Vec<Vec<f32>> = Vec::new();
    for batch in batches {
        let x = net.batch(batch.images, batch.n, &batch.shape)?;
        let logits = net.forward(x, Mode::Eval);
        let grads = net.gradients(&cross_entropy(logits, &batch.labels).backward());
        if total.is_empty() {
            total = grads;
        } else {
            for (t, g) in total.iter_mut().zip(grads) {
                t.iter_mut().zip(g).for_each(|(t, g)| *t += g);
            }
        }
    }
    total.iter_mut().flatten().for_each(|v| *v /= count);
    let mut gradients = graph.clone();
    net.write_param_values(&mut gradients, &total);
    Ok(gradients)
}
