//! `shears bench MODEL`: inference latency and throughput per batch size, and training
//! throughput with `--train`.

use crate::args::BenchArgs;
use crate::model;
use anyhow::{Result, bail};
use shears_runtime::bench;

pub fn run(args: &BenchArgs) -> Result<()> {
    let device = args.device.kind()?;
    let graph = model::load(&args.model, None)?;
    if args.batch.contains(&0) {
        bail!("--batch sizes must be at least 1");
    }
    let mut timings = Vec::new();
    for &batch in &args.batch {
        timings.push(bench::inference(&graph, device, batch, args.runs)?);
    }
    if args.train {
        timings.push(bench::training(&graph, device, 128, args.runs)?);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&timings)?);
        return Ok(());
    }
    println!(
        "{} on {} (median of {} runs)",
        args.model.model, args.device.device, args.runs
    );
    println!(
        "{:<10} {:>6} {:>12} {:>10}",
        "mode", "batch", "latency ms", "img/s"
    );
    for t in &timings {
        println!(
            "{:<10} {:>6} {:>12.2} {:>10.1}",
            t.what,
            t.batch,
            1e3 * t.median_s,
            t.images_per_sec
        );
    }
    Ok(())
}
