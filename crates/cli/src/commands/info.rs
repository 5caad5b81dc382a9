//! `shears info MODEL`: parameters, MACs and the per-layer table; for a model with zero
//! weights (pruned at a finer granularity than channels), what a sparse format keeps.

use super::millions;
use crate::args::InfoArgs;
use crate::data::{Data, shape_of};
use crate::model;
use anyhow::Result;
use shears_data::Split;
use shears_ir::filter_weight;

pub fn run(args: &InfoArgs) -> Result<()> {
    let data_shape = match Data::from_args(&args.data)? {
        Some(data) => Some(shape_of(&*data.load(Split::Test)?)),
        None => None,
    };
    let graph = model::load(&args.model, data_shape)?;
    let layers = graph.summary()?;
    let params = graph.param_count();
    let macs: u64 = layers.iter().map(|l| l.macs).sum();
    let sparse = graph
        .nodes
        .iter()
        .filter_map(|n| filter_weight(&n.op))
        .any(|w| w.nonzero_count() < w.len());
    let nonzero_params = graph.nonzero_param_count();
    let nonzero_macs = graph.nonzero_mac_count()?;
    let compressed_bytes = graph.compressed_bits().div_ceil(8);
    if args.json {
        let json = serde_json::json!({
            "model": args.model.model,
            "input_shape": graph.input_shape(),
            "params": params,
            "macs": macs,
            "nonzero_params": nonzero_params,
            "nonzero_macs": nonzero_macs,
            "compressed_bytes": compressed_bytes,
            "layers": layers,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!(
        "{:<32} {:<20} {:>16} {:>10} {:>12}",
        "layer", "op", "output", "params", "MACs"
    );
    for (l, node) in layers.iter().zip(&graph.nodes) {
        if l.op == "Input" {
            continue;
        }
        let shape = format!("{:?}", l.output_shape);
        let density = match filter_weight(&node.op) {
            Some(w) if sparse => format!(
                "  {:>5.1}% non-zero",
                100.0 * w.nonzero_count() as f64 / w.len() as f64
            ),
            _ => String::new(),
        };
        println!(
            "{:<32} {:<20} {:>16} {:>10} {:>12}{density}",
            l.name, l.op, shape, l.params, l.macs
        );
    }
    println!(
        "\n{}: input {:?}, {} parameters ({}), {} MACs ({}) per sample",
        args.model.model,
        graph.input_shape().unwrap_or_default(),
        params,
        millions(params as f64),
        macs,
        millions(macs as f64)
    );
    if sparse {
        let share = |part: f64, whole: f64| 100.0 * part / whole.max(1.0);
        println!(
            "non-zero: {nonzero_params} parameters ({:.1}%), {nonzero_macs} MACs with zero weights skipped ({:.1}%); stored as Deep Compression's CSR: {:.1} KB against {:.1} KB dense ({:.1}x)",
            share(nonzero_params as f64, params as f64),
            share(nonzero_macs as f64, macs as f64),
            compressed_bytes as f64 / 1e3,
            4.0 * params as f64 / 1e3,
            4.0 * params as f64 / compressed_bytes.max(1) as f64
        );
    }
    Ok(())
}
