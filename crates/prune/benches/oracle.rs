//! The oracle's fast path against the naive one on resnet20:
//! `cargo bench -p shears-prune --bench oracle`.
//!
//! Both remove every channel of every prunable group of resnet20 (Fashion-MNIST's 1x28x28
//! input, 448 channels) alone and measure the loss on the same 2 batches of 64 samples; the
//! naive path masks the weights and runs the whole network once per channel, the fast path
//! zeroes the channel at its readers, caches the prefix and batches the probes. The bench
//! checks that the scores agree and prints both times and their ratio, measured in one run.
//! The issue asks for a fast path at least 3x faster.

use rand::{Rng, SeedableRng, rngs::StdRng};
use shears_data::{Dataset, Normalize};
use shears_ir::Op;
use shears_ir::zoo::{self, ArchSpec};
use shears_prune::DependencyGraph;
use shears_prune::importance::{Importance, Oracle, ScoreContext, ScoreData};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let spec = ArchSpec {
        input_shape: [1, 28, 28],
        classes: 10,
        seed: 3,
    };
    let mut graph = zoo::build("resnet20", &spec).unwrap();
    let mut rng = StdRng::seed_from_u64(9);
    for node in &mut graph.nodes {
        if let Op::BatchNorm2d(bn) = &mut node.op {
            bn.gamma
                .data
                .iter_mut()
                .for_each(|v| *v = rng.random_range(0.5..1.5));
            bn.beta
                .data
                .iter_mut()
                .for_each(|v| *v = rng.random_range(-0.2..0.2));
        }
    }
    let n = 128;
    let images = (0..n * 28 * 28).map(|_| rng.random()).collect();
    let labels = (0..n).map(|_| rng.random_range(0..10)).collect();
    let names = (0..10).map(|c| c.to_string()).collect();
    let set = Dataset::new(images, labels, [1, 28, 28], names).unwrap();
    let data = ScoreData::new(Arc::new(set), Normalize::unit(1), 64, 2);
    let deps = DependencyGraph::build(&graph).unwrap();
    let groups: Vec<_> = deps.prunable().collect();
    let channels: usize = groups.iter().map(|g| g.channels).sum();
    let ctx = ScoreContext::new(&graph, 0.5);
    let time = |oracle: &mut Oracle| {
        let start = Instant::now();
        let scores = oracle.score(&ctx, &groups).unwrap();
        (start.elapsed().as_secs_f64(), scores)
    };
    let mut fast_oracle = Oracle::new(data.clone());
    if let Ok(r) = std::env::var("ORACLE_ROWS") {
        fast_oracle.rows_per_pass = r.parse().unwrap();
    }
    let (fast_s, fast) = time(&mut fast_oracle);
    if std::env::var("ORACLE_FAST_ONLY").is_ok() {
        println!("fast {fast_s:.1} s");
        return;
    }
    let (naive_s, naive) = time(&mut Oracle::naive(data));
    let worst = fast
        .iter()
        .zip(&naive)
        .flat_map(|(f, n)| f.iter().flatten().zip(n.iter().flatten()))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "fast and naive scores differ by {worst}");
    println!(
        "oracle on resnet20 (1x28x28), {} groups, {channels} channels, {n} samples: naive {naive_s:.1} s, fast {fast_s:.1} s, {:.2}x faster; largest score difference {worst:.1e}",
        groups.len(),
        naive_s / fast_s
    );
}
