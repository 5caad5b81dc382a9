//! `shears info MODEL`: parameters, MACs and the per-layer table.

use super::millions;
use crate::args::InfoArgs;
use crate::data::{Data, shape_of};
use crate::model;
use anyhow::Result;
use shears_data::Split;

pub fn run(args: &InfoArgs) -> Result<()> {
    let data_shape = match Data::from_args(&args.data)? {
        Some(data) => Some(shape_of(&*data.load(Split::Test)?)),
        None => None,
    };
    let graph = model::load(&args.model, data_shape)?;
    let layers = graph.summary()?;
    let params = graph.param_count();
    let macs: u64 = layers.iter().map(|l| l.macs).sum();
    if args.json {
        let json = serde_json::json!({
            "model": args.model.model,
            "input_shape": graph.input_shape(),
            "params": params,
            "macs": macs,
            "layers": layers,
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    println!(
        "{:<32} {:<20} {:>16} {:>10} {:>12}",
        "layer", "op", "output", "params", "MACs"
    );
    for l in layers.iter().filter(|l| l.op != "Input") {
        let shape = format!("{:?}", l.output_shape);
        println!(
            "{:<32} {:<20} {:>16} {:>10} {:>12}",
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
    Ok(())
}
