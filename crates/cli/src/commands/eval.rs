//! `shears eval MODEL --data D`: accuracy and loss on the test split.

use crate::args::EvalArgs;
use crate::data::{Data, check_fit, shape_of};
use crate::model;
use anyhow::{Context, Result};
use shears_data::Split;
use shears_runtime::train::evaluate;

pub fn run(args: &EvalArgs) -> Result<()> {
    let data =
        Data::from_args(&args.data)?.context("eval needs --data (e.g. --data fashion-mnist)")?;
    let device = args.device.kind()?;
    let test = data.load(Split::Test)?;
    let graph = model::load(&args.model, Some(shape_of(&test)))?;
    check_fit(&graph, &test, &args.model.model, true)?;
    let report = evaluate(
        &graph,
        &test,
        &data.normalize,
        args.batch,
        args.limit,
        device,
    )?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "{} on {} ({} samples): top-1 {:.2}%  top-5 {:.2}%  loss {:.4}",
            args.model.model,
            data.source,
            report.samples,
            100.0 * report.top1,
            100.0 * report.top5,
            report.loss
        );
    }
    Ok(())
}
