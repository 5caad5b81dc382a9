//! Resolving `--data` into data sets and their normalisation.

use crate::args::DataArgs;
use crate::model::DataShape;
use anyhow::{Context, Result, bail};
use shears_data::{DataSource, Dataset, Normalize, Split};
use shears_ir::Graph;
use shears_runtime::RuntimeError;
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

    /// Resizes the images of an image folder (labelled or not) to `graph`'s input size.
    pub fn fit_images_to(&mut self, graph: &Graph) {
        if let (Some(options), Some(&[_, h, w])) =
            (self.source.folder_options_mut(), graph.input_shape())
        {
            options.size = Some([h, w]);
        }
    }

    /// Loads one split, checking that the normalisation fits its channels.
    pub fn load(&self, split: Split) -> Result<Arc<Dataset>> {
        let set = self.source.load(split)?;
        self.normalize.check(set.shape[0])?;
        Ok(Arc::new(set))
    }
}

/// Checks, before any work, that `graph` takes the data's samples and outputs one value per
/// class.
pub fn check_fit(graph: &Graph, set: &Dataset, model: &str, classes: bool) -> Result<()> {
    let input = graph.input_shape().unwrap_or_default();
    if input != set.shape {
        bail!(
            "'{model}' takes inputs of shape {input:?} but the data's images are {:?}: use data of the model's input size (a built-in takes --input-shape) or another model",
            set.shape
        );
    }
    if !classes {
        return Ok(());
    }
    let shapes = graph.infer_shapes()?;
    let out = graph.outputs.first().context("the model has no output")?;
    let outputs: usize = shapes[out.node][out.slot].iter().product();
    if outputs != set.classes {
        let classes = set.classes;
        return Err(RuntimeError::Classes { outputs, classes }).context(format!("'{model}'"));
    }
    Ok(())
}

/// The input shape and classes of a loaded data set.
pub fn shape_of(set: &Dataset) -> DataShape {
    DataShape {
        input_shape: set.shape,
        classes: set.classes,
    }
}
