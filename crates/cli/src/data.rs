//! Resolving `--data` into data sets and their normalisation.

use crate::args::DataArgs;
use crate::model::DataShape;
use anyhow::{Result, bail};
use shears_data::{DataSource, Dataset, Normalize, Split};
use std::sync::Arc;

/// A data set's source and normalisation, ready to load splits.
pub struct Data {
    pub source: DataSource,
    pub normalize: Normalize,
}

impl Data {
    /// Parses `--data` (and `--data-dir`, `--mean`, `--std`); `None` when no `--data` was given.
    pub fn from_args(args: &DataArgs) -> Result<Option<Data>> {
        let Some(spec) = &args.data else {
            if args.mean.is_some() || args.std.is_some() {
                bail!("--mean and --std need --data");
            }
            return Ok(None);
        };
        let source = DataSource::parse(spec, args.data_dir.clone())?;
        let default = source.default_normalize();
        let normalize = Normalize::new(
            args.mean.clone().unwrap_or(default.mean),
            args.std.clone().unwrap_or(default.std),
        )?;
        Ok(Some(Data { source, normalize }))
    }

    /// Loads one split, checking the normalisation fits its channels.
    pub fn load(&self, split: Split) -> Result<Arc<Dataset>> {
        let set = self.source.load(split)?;
        self.normalize.check(set.shape[0])?;
        Ok(Arc::new(set))
    }
}

/// The input shape and classes of a loaded data set.
pub fn shape_of(set: &Dataset) -> DataShape {
    DataShape {
        input_shape: set.shape,
        classes: set.classes,
    }
}
