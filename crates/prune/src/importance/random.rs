//! Random scores: the baseline every criterion must beat (and, per the literature, often
//! barely does). Seeded, so a run can be repeated.

use super::{Importance, ScoreContext};
use crate::{ChannelGroup, PruneError};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Uniform random scores in `[0, 1)`.
#[derive(Clone, Debug)]
pub struct RandomImportance {
    rng: StdRng,
}

impl RandomImportance {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
        }
    }
}

impl Importance for RandomImportance {
    fn name(&self) -> String {
        "random".into()
    }

    fn score_group(
        &mut self,
        _ctx: &ScoreContext,
        group: &ChannelGroup,
    ) -> Result<Option<Vec<f32>>, PruneError> {
        Ok(Some(
            (0..group.channels).map(|_| self.rng.random()).collect(),
        ))
    }
}
