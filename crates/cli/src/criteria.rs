//! Building criteria from the command line: names, reductions, and the scoring data that
//! data-driven criteria read (the first batches of the training split).

use crate::args::{ReductionArg, ScoreArgs};
use anyhow::Result;
use shears_data::{Dataset, Normalize};
use shears_prune::importance::{Criterion, CriterionOptions, Importance, Reduction, ScoreData};
use shears_runtime::DeviceKind;
use std::sync::Arc;

/// The training data data-driven criteria score on, if the command has any.
pub struct ScoreSource<'a> {
    pub train: &'a Arc<Dataset>,
    pub normalize: &'a Normalize,
    pub device: DeviceKind,
}

/// Criterion options for the command's settings.
pub fn options(
    reduction: ReductionArg,
    seed: u64,
    score: &ScoreArgs,
    source: Option<ScoreSource>,
) -> CriterionOptions {
    let mut options = CriterionOptions::new(reduction_of(reduction), seed);
    options.taylor_layer_normalization = !score.no_layer_normalization;
    if let Some(s) = source {
        options = options.with_data(ScoreData {
            device: s.device,
            ..ScoreData::new(
                s.train.clone(),
                s.normalize.clone(),
                score.score_batch_size,
                score.score_batches,
            )
        });
    }
    options
}

/// Parses `name` and builds it with `options`.
pub fn build(name: &str, options: &CriterionOptions) -> Result<(Criterion, Box<dyn Importance>)> {
    let criterion: Criterion = name.trim().parse().map_err(anyhow::Error::msg)?;
    Ok((criterion, criterion.build(options)?))
}

pub fn reduction_of(r: ReductionArg) -> Reduction {
    match r {
        ReductionArg::Mean => Reduction::Mean,
        ReductionArg::Sum => Reduction::Sum,
        ReductionArg::Max => Reduction::Max,
        ReductionArg::First => Reduction::First,
    }
}
