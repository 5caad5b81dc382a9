//! Random scores: the baseline every criterion must beat (and, per the literature, often
//! barely does). Seeded, so a run can be repeated.

use super::{Importance, ScoreContext};
use crate::{ChannelGroup, PruneError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

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

    fn score_group(
        &mut self,
        ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        let stream = (ctx.step as u64) << 32 | group.id as u64;
        let mut rng = StdRng::seed_from_u64(self.seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Ok(Some((0..group.channels).map(|_| rng.random()).collect()))
    }
}
