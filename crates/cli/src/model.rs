//! Resolving MODEL: a built-in architecture name or an ONNX file; writing models out.

use crate::args::ModelArgs;
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
/// set, else 3x32x32 and 10 classes; an ONNX file keeps its own.
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
        let graph = zoo::build(name, &spec).expect("listed in NAMES");
        graph.verify().with_context(|| {
            format!(
                "{name} cannot be built for input {:?}: choose a larger --input-shape",
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
    if args.build.input_shape.is_some() || args.build.classes.is_some() {
        bail!(
            "--input-shape and --classes apply to built-in architectures, not to '{}'",
            args.model
        );
    }
    Ok(shears_onnx::load_file(path)?)
}

/// Refuses to overwrite an existing file unless `force`.
pub fn check_output(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "'{}' already exists: choose another -o path or pass --force to overwrite it",
            path.display()
        );
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create directory '{}'", dir.display()))?;
    }
    Ok(())
}

/// Writes `graph` as ONNX to `path`.
pub fn save(graph: &Graph, path: &Path) -> Result<()> {
    shears_onnx::save_file(graph, path)
        .with_context(|| format!("cannot write model '{}'", path.display()))
}
