//! The GEMM convolution against a direct loop-nest reference, on random geometries: forward,
//! input gradient, weight gradient and bias gradient.

use proptest::prelude::*;
use shears_kernels::{Activation, Conv2d};

/// Calls `f(x_index, w_index, y_index)` for every multiply-add of the convolution.
fn each_tap(conv: &Conv2d, mut f: impl FnMut(usize, usize, usize)) {
    let [h, w] = conv.in_size;
    let [oh, ow] = conv.out_size();
    let (cin_g, cout_g) = (
        conv.in_channels / conv.groups,
        conv.out_channels / conv.groups,
    );
    let [kh, kw] = conv.kernel;
    for n in 0..conv.batch {
        for o in 0..conv.out_channels {
            let g = o / cout_g;
            for c in 0..cin_g {
                let ci = g * cin_g + c;
                for ki in 0..kh {
                    for kj in 0..kw {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                let iy = (oy * conv.stride[0] + ki * conv.dilation[0]) as isize
                                    - conv.padding[0].0 as isize;
                                let ix = (ox * conv.stride[1] + kj * conv.dilation[1]) as isize
                                    - conv.padding[1].0 as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let xi = ((n * conv.in_channels + ci) * h + iy as usize) * w
                                    + ix as usize;
                                let wi = ((o * cin_g + c) * kh + ki) * kw + kj;
                                let yi = ((n * conv.out_channels + o) * oh + oy) * ow + ox;
                                f(xi, wi, yi);
                            }
                        }
                    }
                }
            }
        }
    }
}

fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what}[{i}]: {g} vs {w}"
        );
    }
}

fn geometry() -> impl Strategy<Value = Conv2d> {
    (
        (1usize..4, 1usize..4, 1usize..4, 1usize..4),
        (1usize..8, 1usize..8, 1usize..4, 1usize..4),
        (
            1usize..4,
            1usize..4,
            0usize..3,
            0usize..3,
            0usize..3,
            0usize..3,
        ),
        (1usize..3, 1usize..3),
    )
        .prop_map(
            |(
                (batch, groups, cin_g, cout_g),
                (h, w, kh, kw),
                (sh, sw, pt, pb, pl, pr),
                (dh, dw),
            )| Conv2d {
                batch,
                in_channels: groups * cin_g,
                in_size: [h, w],
                out_channels: groups * cout_g,
                kernel: [kh, kw],
                stride: [sh, sw],
                padding: [(pt, pb), (pl, pr)],
                dilation: [dh, dw],
                groups,
            },
        )
        .prop_filter("the kernel fits the padded input", |c| {
            (0..2).all(|i| {
                c.in_size[i] + c.padding[i].0 + c.padding[i].1 > c.dilation[i] * (c.kernel[i] - 1)
            })
        })
}

fn check(conv: Conv2d, bias: bool) {
    let [xl, wl, yl] = conv.lens();
    let (x, w, dy) = (values(xl, 1), values(wl, 2), values(yl, 3));
    let b = values(conv.out_channels, 4);
    let bias = bias.then_some(b.as_slice());

    let (mut y_ref, mut dx_ref, mut dw_ref) = (vec![0.0; yl], vec![0.0; xl], vec![0.0; wl]);
    if let Some(b) = bias {
        let p = yl / conv.batch / conv.out_channels;
        for (i, y) in y_ref.iter_mut().enumerate() {
            *y = b[(i / p) % conv.out_channels];
        }
    }
    each_tap(&conv, |xi, wi, yi| {
        y_ref[yi] += x[xi] * w[wi];
        dx_ref[xi] += dy[yi] * w[wi];
        dw_ref[wi] += dy[yi] * x[xi];
    });

    // Into buffers of NaN, so that a value the kernels leave unwritten shows.
    let mut y = vec![f32::NAN; yl];
    conv.forward(&x, &w, bias, &mut y);
    assert_close(&y, &y_ref, "y");
    // With a ReLU in the same pass: exactly the ReLU of the plain output.
    let y_relu = conv.forward_output(&x, &w, bias, Activation::Relu);
    let want: Vec<f32> = y.iter().map(|v| v.max(0.0)).collect();
    assert_eq!(y_relu, want, "relu(y)");
    let mut dx = vec![f32::NAN; xl];
    conv.backward_input(&w, &dy, &mut dx);
    assert_close(&dx, &dx_ref, "dx");
    assert_eq!(conv.input_gradient(&w, &dy), dx, "dx in a new vector");
    let mut dw = vec![f32::NAN; wl];
    conv.backward_weight(&x, &dy, &mut dw);
    assert_close(&dw, &dw_ref, "dw");
    assert_eq!(conv.weight_gradient(&x, &dy), dw, "dw in a new vector");
    let p = yl / conv.batch / conv.out_channels;
    let db_ref: Vec<f32> = (0..conv.out_channels)
        .map(|o| {
            (0..conv.batch)
                .flat_map(|n| &dy[(n * conv.out_channels + o) * p..][..p])
                .sum()
        })
        .collect();
    assert_close(&conv.backward_bias(&dy), &db_ref, "db");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn gemm_convolution_matches_the_direct_loops(conv in geometry(), bias in any::<bool>()) {
        check(conv, bias);
    }
}

#[test]
fn resnet_shapes_match_the_direct_loops() {
    let base = Conv2d {
        batch: 3,
        in_channels: 16,
        in_size: [12, 12],
        out_channels: 32,
        kernel: [3, 3],
        stride: [2, 2],
        padding: [(1, 1), (1, 1)],
        dilation: [1, 1],
        groups: 1,
    };
    check(base, false);
    check(
        Conv2d {
            kernel: [1, 1],
            stride: [1, 1],
            padding: [(0, 0); 2],
            ..base
        },
        true,
    );
    check(
        Conv2d {
            in_channels: 32,
            groups: 32,
            stride: [1, 1],
            ..base
        },
        false,
    );
    // Stride 1 with output channels in blocks of 8, 4 and 1, columns over several tiles and
    // maps large enough for the direct weight gradient.
    let wide = Conv2d {
        in_channels: 5,
        in_size: [18, 19],
        out_channels: 13,
        stride: [1, 1],
        ..base
    };
    check(wide, true);
    check(
        Conv2d {
            padding: [(2, 0), (0, 3)],
            dilation: [2, 1],
            ..wide
        },
        false,
    );
    check(
        Conv2d {
            in_channels: 6,
            out_channels: 26,
            groups: 2,
            ..wide
        },
        true,
    );
    // Narrow outputs in wide tiles: 9 channels by 3 vectors of columns, 5 by 5, 4 by 6 (28
    // rows of 30 wide columns come to 864 in tiles of 48 or of 96, 880 in tiles of 80).
    for out_channels in [9, 5, 4] {
        let narrow = Conv2d {
            in_size: [28, 28],
            out_channels,
            ..wide
        };
        check(narrow, true);
    }
}
