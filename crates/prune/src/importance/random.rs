//! Random scores: the baseline every criterion must beat (and, per the literature, often
//! barely does). Seeded, so a run can be repeated.

use super::{Importance, ScoreContext, WeightScores, per_weight};
use crate::{ChannelGroup, PruneError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use shears_ir::Graph;

/// Uniform random scores in `[0, 1)`, drawn from the seed, the step and the group, so a
/// resumed run draws what an uninterrupted one would.
#[derive(Clone, Debug)]
pub struct RandomImportance {
    seed: u64,
}

impl RandomImportance {
    pub fn new(seed: u64) -> Self {
        Self { seed }
    }
}

impl Importance for RandomImportance {
    fn name(&self) -> String {
        "random".into()
    }

    fn score_weights(
        &mut self,
        graph: &Graph,
        step: usize,
    ) -> Result<Option<WeightScores>, PruneError> {
        Ok(Some(per_weight(graph, |node, w| {
            let mut rng = self.stream(step, node);
            (0..w.len()).map(|_| rng.random()).collect()
        })))
    }

    fn score_group(
        &mut self,
        ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        let mut rng = self.stream(ctx.step, group.id);
        Ok(Some((0..group.channels).map(|_| rng.random()).collect()))
    }
}

impl RandomImportance {
    /// The generator of one step and group (or node), independent of the others.
    fn stream(&self, step: usize, item: usize) -> StdRng {
        let stream = (step as u64) << 32 | item as u64;
        StdRng::seed_from_u64(self.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }
}
