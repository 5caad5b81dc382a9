//! `shears bench MODEL`: inference latency and throughput per batch size (also on the sparse
//! kernels with `--sparse`), training throughput with `--train`, and the same measurements in
//! PyTorch with `--against-pytorch`.

mod pytorch;

use crate::args::BenchArgs;
use crate::model;
use anyhow::{Result, bail};
use shears_ir::zoo;
use shears_runtime::bench::{self, Timing};

/// Rounds of shears-then-PyTorch measurements with `--against-pytorch`; each side keeps its best.
const ROUNDS: usize = 2;

pub fn run(args: &BenchArgs) -> Result<()> {
    let device = args.device.kind()?;
    if args.batch.contains(&0) {
        bail!("--batch sizes must be at least 1");
    }
    if args.against_pytorch {
        return against_pytorch(args);
    }
    let graph = model::load(&args.model, None)?;
    let timings = measure(&graph, device, args)?;
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

fn measure(
    graph: &shears_ir::Graph,
    device: shears_runtime::DeviceKind,
    args: &BenchArgs,
) -> Result<Vec<Timing>> {
    let mut timings = Vec::new();
    for &batch in &args.batch {
        timings.push(bench::inference(graph, device, batch, (args.runs, 0.0))?);
        if args.sparse {
            let density = args.sparse_density;
            timings.push(bench::sparse_inference(
                graph, device, batch, args.runs, density,
            )?);
        }
    }
    if args.train {
        timings.push(bench::training(graph, device, 128, args.runs)?);
    }
    Ok(timings)
}

/// shears and PyTorch on the same built-in, in interleaved rounds, side by side.
fn against_pytorch(args: &BenchArgs) -> Result<()> {
    let arch = args.model.model.to_ascii_lowercase();
    if !zoo::NAMES.contains(&arch.as_str()) {
        bail!(
            "--against-pytorch compares built-in architectures ({}), not '{}'",
            zoo::NAMES.join(", "),
            args.model.model
        );
    }
    pytorch::check_script(&args.pytorch_script)?;
    let graph = model::load(&args.model, None)?;
    let request = pytorch::Request {
        arch: &arch,
        input_shape: args.model.build.input_shape.unwrap_or([3, 32, 32]),
        classes: args.model.build.classes.unwrap_or(10),
        batches: &args.batch,
        train: args.train,
        runs: args.runs,
    };
    let device = args.device.kind()?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut reference = None;
    for _ in 0..ROUNDS {
        ours.push(measure(&graph, device, args)?);
        let r = pytorch::measure(&args.pytorch_script, &request)?;
        theirs.push(r.timings.clone());
        reference = Some(r);
    }
    let reference = reference.expect("at least one round");
    println!(
        "{arch} {:?}: shears ({}) against PyTorch {} eager ({} threads); best of {ROUNDS} interleaved rounds, each the median of {} runs",
        request.input_shape, args.device.device, reference.version, reference.threads, args.runs
    );
    println!(
        "{:<10} {:>6} {:>14} {:>15} {:>7}",
        "mode", "batch", "shears img/s", "PyTorch img/s", "ratio"
    );
    for (i, t) in ours[0].iter().enumerate() {
        let best_ours = ours.iter().map(|r| r[i].images_per_sec).fold(0.0, f64::max);
        let best_theirs = theirs
            .iter()
            .filter_map(|r| r.iter().find(|p| p.what == t.what && p.batch == t.batch))
            .map(|p| p.images_per_sec)
            .fold(0.0, f64::max);
        println!(
            "{:<10} {:>6} {:>14.1} {:>15.1} {:>6.2}x",
            t.what,
            t.batch,
            best_ours,
            best_theirs,
            best_ours / best_theirs
        );
    }
    Ok(())
}
