//! Filter norms (Li et al. 2017, "Pruning Filters for Efficient ConvNets"): a channel whose
//! filters have small weights contributes little. L1 sums absolute weights, L2 takes the
//! Euclidean norm; both look at the layers that compute the channel (conv filters, depthwise
//! filters, linear rows) and combine them with a [`Reduction`].

use super::weights::{score_members, weight_members};
use super::{Importance, Reduction, ScoreContext, WeightScores, per_weight};
use crate::{ChannelGroup, PruneError};
use shears_ir::Graph;

/// The Lp norm of each channel's filters, p = 1 or 2.
#[derive(Clone, Debug)]
pub struct Magnitude {
    p: u8,
    reduction: Reduction,
}

impl Magnitude {
    pub fn l1(reduction: Reduction) -> Self {
        Self { p: 1, reduction }
    }

    pub fn l2(reduction: Reduction) -> Self {
        Self { p: 2, reduction }
    }
}

impl Importance for Magnitude {
    fn name(&self) -> String {
        format!("l{}", self.p)
    }

    /// A single weight's magnitude `|w|` (its L1 and L2 norms agree).
    fn score_weights(
        &mut self,
        graph: &Graph,
        _step: usize,
    ) -> Result<Option<WeightScores>, PruneError> {
        Ok(Some(per_weight(graph, |_, w| {
            w.data.iter().map(|v| v.abs()).collect()
        })))
    }

    fn score_group(
        &mut self,
        ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        let norm = |v: &Vec<f32>| match self.p {
            1 => v.iter().map(|w| w.abs()).sum::<f32>(),
            _ => v.iter().map(|w| w * w).sum::<f32>().sqrt(),
        };
        score_members(
            ctx.graph,
            group,
            weight_members(group),
            self.reduction,
            |vs| vs.iter().map(norm).collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DependencyGraph;
    use shears_ir::Op;
    use shears_ir::zoo::{self, ArchSpec};

    #[test]
    fn l1_and_l2_are_filter_norms() {
        let mut graph = zoo::build("lenet5", &ArchSpec::default()).unwrap();
        let conv = graph.node_by_name("conv1").unwrap();
        let Op::Conv2d(c) = &mut graph.nodes[conv].op else {
            panic!()
        };
        let row = c.weight.row_len();
        c.weight.data[..row].fill(0.0);
        c.weight.data[..2].copy_from_slice(&[3.0, -4.0]);
        let deps = DependencyGraph::build(&graph).unwrap();
        let group = deps.group("conv1").unwrap();
        let ctx = ScoreContext::new(&graph, 0.5);
        let l1 = Magnitude::l1(Reduction::First)
            .score_group(&ctx, group)
            .unwrap()
            .unwrap();
        let l2 = Magnitude::l2(Reduction::First)
            .score_group(&ctx, group)
            .unwrap()
            .unwrap();
        assert_eq!((l1[0], l2[0]), (7.0, 5.0));
        let Op::Conv2d(c) = &graph.nodes[conv].op else {
            panic!()
        };
        let expected: f32 = c.weight.row(1).iter().map(|w| w.abs()).sum();
        assert!((l1[1] - expected).abs() < 1e-6);
    }
}
