//! Times the kernels on ResNet-20's convolution and batch-norm shapes at batch 128 (3x32x32
//! input): forward, input gradient and weight gradient, median of 9 runs, in GFLOP/s.
//! `scripts/bench_conv_pytorch.py` times PyTorch's on the same shapes.
//!
//! Run: cargo bench -p shears-kernels --bench conv

use shears_kernels::{BatchNorm, Conv2d};
use std::time::Instant;

fn median_ms(mut f: impl FnMut()) -> f64 {
    f();
    let mut times: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[4]
}

fn conv(channels: [usize; 2], size: usize, kernel: usize, stride: usize) -> Conv2d {
    let pad = kernel / 2;
    Conv2d {
        batch: 128,
        in_channels: channels[0],
        in_size: [size, size],
        out_channels: channels[1],
        kernel: [kernel, kernel],
        stride: [stride, stride],
        padding: [(pad, pad); 2],
        dilation: [1, 1],
        groups: 1,
    }
}

fn main() {
    let shapes = [
        ("16->16 3x3 @32", conv([16, 16], 32, 3, 1)),
        ("16->32 3x3/2 @32", conv([16, 32], 32, 3, 2)),
        ("32->32 3x3 @16", conv([32, 32], 16, 3, 1)),
        ("64->64 3x3 @8", conv([64, 64], 8, 3, 1)),
        ("32->64 1x1/2 @16", conv([32, 64], 16, 1, 2)),
    ];
    println!(
        "{:<18} {:>10} {:>10} {:>10}   (ms; GFLOP/s)",
        "conv", "forward", "d input", "d weight"
    );
    for (name, c) in shapes {
        let [xl, wl, yl] = c.lens();
        let (x, w, dy) = (vec![0.5f32; xl], vec![0.1f32; wl], vec![0.2f32; yl]);
        let (mut y, mut dx, mut dw) = (vec![0.0; yl], vec![0.0; xl], vec![0.0; wl]);
        let gflop = 2.0 * (yl * wl / c.out_channels) as f64 / 1e9;
        let f = median_ms(|| c.forward(&x, &w, None, &mut y));
        let i = median_ms(|| c.backward_input(&w, &dy, &mut dx));
        let g = median_ms(|| c.backward_weight(&x, &dy, &mut dw));
        let rate = |ms: f64| gflop / ms * 1e3;
        println!(
            "{name:<18} {f:>6.2} {:>3.0} {i:>6.2} {:>3.0} {g:>6.2} {:>3.0}",
            rate(f),
            rate(i),
            rate(g)
        );
    }
    let bn = BatchNorm {
        batch: 128,
        channels: 16,
        plane: 32 * 32,
    };
    let x = vec![0.5f32; 128 * 16 * 1024];
    let (gamma, beta) = (vec![1.0; 16], vec![0.0; 16]);
    let forward = median_ms(|| drop(bn.forward(&x, &gamma, &beta, 1e-5)));
    let (_, mean, var) = bn.forward(&x, &gamma, &beta, 1e-5);
    let backward = median_ms(|| drop(bn.backward(&x, &gamma, [&mean, &var], 1e-5, &x)));
    println!("batch norm 16 @32: forward {forward:.2} ms, backward {backward:.2} ms");
}
