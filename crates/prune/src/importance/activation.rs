//! Activation statistics: how often and how strongly a channel fires on data.
//!
//! - **APoZ** (Hu et al. 2016): the average percentage of zeros of a channel after its
//!   activation. A channel that is mostly zero carries little, so the score is `1 - APoZ`
//!   (higher keeps). Values `<= 0` count as zeros, so the criterion also reads values that are
//!   not behind a ReLU sensibly.
//! - **Mean activation** (Molchanov et al. 2017, appendix): the mean absolute value of the
//!   channel, which behind a ReLU is its mean activation.
//!
//! Both are observed where the group's readers take the channels in (see [`super::probe`]) and
//! averaged over the scoring batches, then combined over a group's observed layers with the
//! [`Reduction`].

use super::probe::{Accumulator, ScoreData, observe};
use super::{GroupScores, Importance, Reduction, ScoreContext};
use crate::{ChannelGroup, PruneError};

/// Which statistic of the observed values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Statistic {
    /// `1 - APoZ`: the fraction of non-zero values.
    NonZero,
    /// The mean absolute value.
    MeanAbs,
}

/// A per-channel statistic of the activations.
pub struct ActivationImportance {
    data: ScoreData,
    reduction: Reduction,
    statistic: Statistic,
}

impl ActivationImportance {
    pub fn apoz(data: ScoreData, reduction: Reduction) -> Self {
        Self {
            data,
            reduction,
            statistic: Statistic::NonZero,
        }
    }

    pub fn mean_activation(data: ScoreData, reduction: Reduction) -> Self {
        Self {
            data,
            reduction,
            statistic: Statistic::MeanAbs,
        }
    }
}

impl Importance for ActivationImportance {
    fn name(&self) -> String {
        match self.statistic {
            Statistic::NonZero => "apoz".into(),
            Statistic::MeanAbs => "mean-activation".into(),
        }
    }

    fn score(
        &mut self,
        ctx: &ScoreContext,
        groups: &[&ChannelGroup],
    ) -> Result<GroupScores, PruneError> {
        let statistic = self.statistic;
        let mut sums = Accumulator::new(groups);
        observe(ctx.graph, &self.data, groups, false, |g, t, _, obs| {
            let acc = sums.batch(g, t, groups[g].channels);
            let per_channel = (obs.n * obs.point.per_channel * obs.spatial) as f64;
            for (c, slot) in acc.iter_mut().enumerate() {
                let total: f64 = (0..obs.n)
                    .map(|s| {
                        let values = &obs.values[obs.range(s, c)];
                        match statistic {
                            Statistic::NonZero => {
                                values.iter().filter(|&&v| v > 0.0).count() as f64
                            }
                            Statistic::MeanAbs => values.iter().map(|v| v.abs() as f64).sum(),
                        }
                    })
                    .sum();
                *slot += total / per_channel;
            }
        })?;
        Ok(sums.finish(false, self.reduction))
    }
}
