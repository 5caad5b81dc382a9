//! How steady a latency ratio is: times a candidate ONNX model against a reference in pairs
//! of alternating runs (what latency targets use) and, for comparison, as the ratio of each
//! one's fastest run measured one after the other, five times; each measurement takes at
//! least RUNS runs (pairs) and 2 s, as latency targets do.
//!
//! `cargo run --release -p shears-prune --example relative -- CANDIDATE.onnx REFERENCE.onnx BATCH RUNS`

use shears_runtime::{DeviceKind, bench};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, candidate, reference, batch, runs] = &args[..] else {
        return Err("usage: relative CANDIDATE.onnx REFERENCE.onnx BATCH RUNS".into());
    };
    let (candidate, reference) = (
        shears_onnx::load_file(candidate)?,
        shears_onnx::load_file(reference)?,
    );
    let (batch, budget) = (batch.parse()?, (runs.parse()?, 2.0));
    let best = |g| bench::inference(g, DeviceKind::Flex, batch, budget).map(|t| t.best_s);
    for _ in 0..5 {
        let paired =
            bench::relative_inference(&candidate, &reference, DeviceKind::Flex, batch, budget)?;
        let separate = best(&candidate)? / best(&reference)?;
        println!(
            "paired {:.3} (spread {:.3}), fastest runs {separate:.3}",
            paired.ratio, paired.spread
        );
    }
    Ok(())
}
