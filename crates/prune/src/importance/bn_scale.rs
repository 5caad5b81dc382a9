//! BN scale (Liu et al. 2017, "Network Slimming"): a channel whose batch-norm gamma is near
//! zero is scaled away, so it can go. Training with an L1 penalty on gamma
//! (`shears train --bn-sparsity λ`) pushes unimportant gammas to zero first. Groups without a
//! batch norm are not rated.

use super::weights::score_members;
use super::{Importance, Reduction, ScoreContext};
use crate::{ChannelGroup, MemberKind, PruneError};

/// |gamma| of each channel's batch norms.
#[derive(Clone, Debug)]
pub struct BnScale {
    reduction: Reduction,
}

impl BnScale {
    pub fn new(reduction: Reduction) -> Self {
        Self { reduction }
    }
}

impl Importance for BnScale {
    fn name(&self) -> String {
        "bn-scale".into()
    }

    fn score_group(
        &mut self,
        ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        let bns = group.members_of(MemberKind::Norm);
        score_members(ctx.graph, group, bns, self.reduction, |vs| {
            vs.iter().map(|g| g[0].abs()).collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DependencyGraph;
    use shears_ir::Op;
    use shears_ir::zoo::{self, ArchSpec};

    #[test]
    fn scores_are_absolute_gammas_and_groups_without_bn_are_unrated() {
        let mut graph = zoo::build("resnet20", &ArchSpec::default()).unwrap();
        let bn = graph.node_by_name("layer1.0.bn1").unwrap();
        let Op::BatchNorm2d(b) = &mut graph.nodes[bn].op else {
            panic!()
        };
        b.gamma.data[2] = -0.25;
        let deps = DependencyGraph::build(&graph).unwrap();
        let ctx = ScoreContext::new(&graph, 0.5);
        let group = deps.group("layer1.0.conv1").unwrap();
        let s = BnScale::new(Reduction::Mean)
            .score_group(&ctx, group)
            .unwrap()
            .unwrap();
        assert_eq!(s[2], 0.25);
        let lenet = zoo::build("lenet5", &ArchSpec::default()).unwrap();
        let deps = DependencyGraph::build(&lenet).unwrap();
        let ctx = ScoreContext::new(&lenet, 0.5);
        let group = deps.group("conv1").unwrap();
        assert_eq!(
            BnScale::new(Reduction::Mean)
                .score_group(&ctx, group)
                .unwrap(),
            None
        );
    }
}
