//! `shears export MODEL -o OUT.onnx`: any model, built-in or imported, written as ONNX by the
//! exporter every command uses.

use crate::args::ExportArgs;
use crate::model;
use anyhow::{Result, bail};

pub fn run(args: &ExportArgs) -> Result<()> {
    let source = std::path::Path::new(&args.model.model);
    if source.exists() && same_file(source, &args.output) {
        bail!(
            "'{}' is the model being read: write the export to another path",
            args.output.display()
        );
    }
    model::check_output(&args.output, args.force)?;
    let graph = model::load(&args.model, None)?;
    model::save(&graph, &args.output)?;
    println!(
        "wrote {} ({} nodes, {} parameters)",
        args.output.display(),
        graph.nodes.len(),
        graph.param_count()
    );
    Ok(())
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
