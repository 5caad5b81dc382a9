//! `shears export MODEL -o OUT.onnx`: any model, built-in or imported, written as ONNX by the
//! exporter every command uses.

use crate::args::ExportArgs;
use crate::model;
use crate::output::Outputs;
use anyhow::Result;

pub fn run(args: &ExportArgs) -> Result<()> {
    let mut outputs = Outputs::new(args.force);
    outputs
        .model_input(&args.model.model)
        .model_output(&args.output, false)
        .claim()?;
    let graph = model::load(&args.model, None)?;
    model::save(&outputs, &graph, &args.output)?;
    println!(
        "wrote {} ({} nodes, {} parameters)",
        args.output.display(),
        graph.nodes.len(),
        graph.param_count()
    );
    Ok(())
}
