//! Resolving MODEL: a built-in architecture name or an ONNX file; writing models out.

use crate::args::ModelArgs;
use crate::output::Outputs;
use anyhow::{Context, Result, bail};
use shears_ir::Graph;
use shears_ir::zoo::{self, ArchSpec};
use std::path::Path;

/// What the data set says a built-in should be built for.
#[derive(Clone, Copy, Debug)]
pub struct DataShape {
    pub input_shape: [usize; 3],
    pub classes: usize,
}

/// Loads MODEL. A built-in takes its input shape and classes from the flags, else from the data
/// set, else 3x32x32 and 10 classes; an ONNX file keeps its own, and takes `--input-shape` for
/// the sizes it leaves symbolic.
pub fn load(args: &ModelArgs, data: Option<DataShape>) -> Result<Graph> {
    if let Some(name) = zoo::NAMES
        .iter()
        .find(|n| **n == args.model.to_ascii_lowercase())
    {
        let spec = ArchSpec {
            input_shape: args
                .build
                .input_shape
                .or(data.map(|d| d.input_shape))
                .unwrap_or([3, 32, 32]),
            classes: args.build.classes.or(data.map(|d| d.classes)).unwrap_or(10),
            seed: args.build.init_seed,
        };
        if spec.classes == 0 {
            bail!("--classes must be at least 1");
        }
        let graph = zoo::try_build(name, &spec)
            .expect("listed in NAMES")
            .and_then(|g| g.verify().map(|()| g))
            .with_context(|| {
                format!(
                    "{name} cannot be built for input {:?}: choose another --input-shape",
                    spec.input_shape
                )
            })?;
        return Ok(graph);
    }
    let path = Path::new(&args.model);
    if !path.exists() {
        bail!(
            "model '{}' is neither a built-in architecture ({}) nor an existing file: check the name or path",
            args.model,
            zoo::NAMES.join(", ")
        );
    }
    if args.build.classes.is_some() {
        bail!(
            "--classes applies to built-in architectures, not to '{}'",
            args.model
        );
    }
    let options = shears_onnx::ImportOptions {
        input_shape: args.build.input_shape.map(Vec::from),
    };
    // The import refuses non-finite weights itself.
    Ok(shears_onnx::load_file_with(path, &options)?)
}

/// Writes `graph` as ONNX to the planned output `path`, its external data file first.
pub fn save(outputs: &Outputs, graph: &Graph, path: &Path) -> Result<()> {
    let files = shears_onnx::to_files(graph, path)
        .with_context(|| format!("cannot write model '{}'", path.display()))?;
    if let Some((data, bytes)) = &files.data {
        outputs.write(data, bytes)?;
    }
    outputs.write(path, &files.model)
}

/// The model file MODEL names, if it is a file rather than a built-in (an input of the run).
pub fn file_of(model: &str) -> Option<&Path> {
    let is_builtin = zoo::NAMES.iter().any(|n| *n == model.to_ascii_lowercase());
    (!is_builtin).then(|| Path::new(model))
}
