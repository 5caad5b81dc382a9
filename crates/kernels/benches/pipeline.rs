//! Times the pipeline's convolutions (one image at a time on frames, `pipeline/`) on the
//! shapes of ResNet-20's stages at 1x28x28: unpruned, pruned to multiples of 8 (the global
//! 75% plan's widths), to the odd widths the local 75% plan keeps, and to the same in
//! multiples of 4. Each line is a chain of eight 3x3 convolutions alternating `a -> b` and
//! `b -> a` on one map size with a ReLU after each (a residual stage's body), run on 128
//! images over every thread, the median of 9 rounds in which every chain runs once (the
//! machine's speed drifts between rounds, not within one), in GFLOP/s of useful
//! multiply-adds. A shape the kernel runs poorly shows as a low rate beside its neighbours.
//!
//! Run: cargo bench -p shears-kernels --bench pipeline

use shears_kernels::{Conv2d, Node, Pipeline, Rows};
use std::time::Instant;

const IMAGES: usize = 128;
const CONVS: usize = 8;
const ROUNDS: usize = 9;

fn conv3x3([from, to]: [usize; 2], size: usize) -> Conv2d {
    Conv2d {
        batch: 1,
        in_channels: from,
        in_size: [size, size],
        out_channels: to,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [(1, 1); 2],
        dilation: [1, 1],
        groups: 1,
    }
}

/// A chain of `CONVS` convolutions on `[a, size, size]` images: its pipeline, parameters and
/// multiply-adds per image (no pipeline without AVX-512).
fn chain([a, b]: [usize; 2], size: usize) -> Option<(Pipeline, Vec<Vec<f32>>, usize)> {
    let mut nodes = vec![(
        Node::Input {
            shape: vec![a, size, size],
        },
        vec![],
    )];
    let (mut params, mut macs) = (Vec::new(), 0);
    for i in 0..CONVS {
        let c = if i % 2 == 0 { [a, b] } else { [b, a] };
        macs += c[0] * c[1] * 9 * size * size;
        params.push(vec![0.01f32; c[0] * c[1] * 9]);
        params.push(vec![0.0f32; c[1]]);
        let (last, weight) = (nodes.len() - 1, params.len() - 2);
        let conv = Node::Conv {
            conv: conv3x3(c, size),
            weight,
            bias: Some(weight + 1),
        };
        nodes.push((conv, vec![last]));
        nodes.push((Node::Relu, vec![last + 1]));
    }
    let pipeline = Pipeline::new(&nodes, nodes.len() - 1)?;
    Some((pipeline, params, macs))
}

/// Milliseconds of one run of `IMAGES` images through `pipeline`.
fn time(pipeline: &Pipeline, params: &[Vec<f32>], x: &[f32]) -> f64 {
    let params: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
    let prepared = pipeline.prepare(&params);
    let rows = Rows {
        inputs: &[x],
        samples: IMAGES,
        factors: &[],
        rows: IMAGES,
    };
    let start = Instant::now();
    drop(pipeline.run_rows((&params, &prepared), &rows));
    start.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let shapes = [
        (28, [[16, 16], [8, 8], [13, 5], [12, 4]]),
        (14, [[32, 32], [16, 16], [26, 9], [24, 8]]),
        (7, [[64, 64], [24, 32], [51, 18], [48, 16]]),
    ];
    let chains: Option<Vec<_>> = shapes
        .iter()
        .flat_map(|(size, widths)| widths.map(|w| (w, *size)))
        .map(|(w, size)| {
            let (pipeline, params, macs) = chain(w, size)?;
            let x = vec![0.5f32; IMAGES * w[0] * size * size];
            let name = format!("{}<->{} @{size}", w[0], w[1]);
            Some((name, pipeline, params, x, macs))
        })
        .collect();
    let Some(chains) = chains else {
        eprintln!("the pipeline needs a CPU with AVX-512");
        return;
    };
    // Every chain once per round, so that a machine that speeds up and slows down between
    // rounds moves them all alike.
    let mut times = vec![Vec::new(); chains.len()];
    for _ in 0..=ROUNDS {
        for ((_, pipeline, params, x, _), times) in chains.iter().zip(&mut times) {
            times.push(time(pipeline, params, x));
        }
    }
    println!("{:<14} {:>9} {:>9}", "chain", "ms", "GFLOP/s");
    for ((name, .., macs), mut times) in chains.iter().zip(times) {
        // The first round warms up.
        times.remove(0);
        times.sort_by(f64::total_cmp);
        let ms = times[ROUNDS / 2];
        let rate = 2.0 * (macs * IMAGES) as f64 / ms / 1e6;
        println!("{name:<14} {ms:>9.2} {rate:>9.1}");
    }
}
