//! The one-image-at-a-time pipeline against the same network run layer by layer on whole
//! batches (`Conv2d::forward`, itself checked against naive loops, and plain loops for the
//! rest), on random sizes: convolutions on frames (3x3 and 1x1), from phase planes (stride
//! 2, a 3x3 and a 1x1) and through dense copies (a 5x5), fused and separate ReLUs, residual
//! adds folded into a convolution (on frames and on phase planes), in place and copied,
//! flatten of frames and of pooled values, a linear head.

use proptest::prelude::*;
use shears_kernels::{Conv2d, Node, Pipeline};

fn conv_geometry(c: [usize; 2], size: [usize; 2], kernel: usize, stride: usize) -> Conv2d {
    let pad = kernel / 2;
    Conv2d {
        batch: 1,
        in_channels: c[0],
        in_size: size,
        out_channels: c[1],
        kernel: [kernel; 2],
        stride: [stride; 2],
        padding: [(pad, pad); 2],
        dilation: [1, 1],
        groups: 1,
    }
}

/// A residual network on `[c0, h, w]` images (node 7 a ReLU that copies, since node 9 reads
/// its input too); `pool` picks global pooling and a ReLU in place before the head (else the
/// head reads the flattened frames).
fn network([c0, c1, c2, h, w]: [usize; 5], pool: bool) -> (Vec<(Node, Vec<usize>)>, usize) {
    let half = [h.div_ceil(2), w.div_ceil(2)];
    let conv = |c, size, kernel, stride, weight, bias| Node::Conv {
        conv: conv_geometry(c, size, kernel, stride),
        weight,
        bias,
    };
    let mut nodes = vec![
        (Node::Input, vec![]),
        (conv([c0, c1], [h, w], 3, 1, 0, Some(1)), vec![0]),
        (Node::Relu, vec![1]),
        (conv([c1, c1], [h, w], 3, 1, 2, None), vec![2]),
        (Node::Add, vec![3, 2]),
        (Node::Relu, vec![4]),
        (conv([c1, c2], [h, w], 1, 1, 3, Some(4)), vec![5]),
        (Node::Relu, vec![6]),
        (conv([c2, c2], [h, w], 3, 2, 5, Some(6)), vec![7]),
        (conv([c2, c2], [h, w], 1, 2, 7, None), vec![6]),
        (Node::Add, vec![8, 9]),
        (Node::Relu, vec![10]),
        (Node::Add, vec![11, 11]),
        // A 5x5 convolution runs through dense copies; the add after it works in place.
        (
            Node::Conv {
                conv: Conv2d {
                    kernel: [5, 5],
                    padding: [(2, 2); 2],
                    ..conv_geometry([c2, c2], half, 1, 1)
                },
                weight: 10,
                bias: None,
            },
            vec![12],
        ),
        (Node::Add, vec![13, 12]),
    ];
    let features = if pool {
        nodes.push((Node::GlobalAvgPool, vec![14]));
        nodes.push((Node::Relu, vec![15]));
        nodes.push((Node::Flatten, vec![16]));
        c2
    } else {
        nodes.push((Node::Flatten, vec![14]));
        c2 * half[0] * half[1]
    };
    let head = Node::Linear {
        weight: 8,
        bias: Some(9),
        out_features: 3,
    };
    nodes.push((head, vec![nodes.len() - 1]));
    (nodes, features)
}

/// The network run node by node on the whole batch.
fn reference(
    nodes: &[(Node, Vec<usize>)],
    params: &[Vec<f32>],
    (x, batch): (&[f32], usize),
    pooled: usize,
) -> Vec<f32> {
    let mut values: Vec<Vec<f32>> = Vec::new();
    for (node, ins) in nodes {
        let arg = |k: usize| &values[ins[k]];
        let value = match node {
            Node::Input => x.to_vec(),
            Node::Conv { conv, weight, bias } => {
                let conv = Conv2d { batch, ..*conv };
                let mut y = vec![0.0; conv.lens()[2]];
                let bias = bias.map(|b| params[b].as_slice());
                conv.forward(arg(0), &params[*weight], bias, &mut y);
                y
            }
            Node::Relu => arg(0).iter().map(|v| v.max(0.0)).collect(),
            Node::Add => arg(0).iter().zip(arg(1)).map(|(a, b)| a + b).collect(),
            Node::GlobalAvgPool => {
                let plane = arg(0).len() / batch / pooled;
                arg(0)
                    .chunks(plane)
                    .map(|p| p.iter().sum::<f32>() / plane as f32)
                    .collect()
            }
            Node::Flatten => arg(0).clone(),
            Node::Linear {
                weight,
                bias,
                out_features,
            } => {
                let n = arg(0).len() / batch;
                let w = &params[*weight];
                arg(0)
                    .chunks(n)
                    .flat_map(|x| {
                        (0..*out_features).map(move |o| {
                            let dot: f32 = w[o * n..][..n].iter().zip(x).map(|(w, x)| w * x).sum();
                            dot + bias.map_or(0.0, |b| params[b][o])
                        })
                    })
                    .collect()
            }
        };
        values.push(value);
    }
    values.pop().expect("an output")
}

fn values(seed: u64, len: usize) -> Vec<f32> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2001) as f32 / 1000.0 - 1.0
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pipeline_matches_the_layers(
        c0 in 1usize..5, c1 in 1usize..20, c2 in 1usize..12,
        h in 1usize..11, w in 1usize..11, batch in 1usize..5,
        pool: bool, seed: u64,
    ) {
        let (nodes, features) = network([c0, c1, c2, h, w], pool);
        let lens = [
            c1 * c0 * 9, c1, c1 * c1 * 9, c2 * c1, c2, c2 * c2 * 9, c2, c2 * c2,
            3 * features, 3, c2 * c2 * 25,
        ];
        let params: Vec<Vec<f32>> =
            lens.iter().enumerate().map(|(i, n)| values(seed + i as u64, *n)).collect();
        let x = values(seed ^ 0x5eed, batch * c0 * h * w);
        let pipeline = Pipeline::new([c0, h, w], &nodes, nodes.len() - 1).expect("runs");
        let slices: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
        let got = pipeline.run(&slices, &x, batch);
        let want = reference(&nodes, &params, (&x, batch), c2);
        prop_assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            prop_assert!((g - w).abs() <= 1e-4 * (1.0 + w.abs()), "{} vs {}", g, w);
        }
    }
}

#[test]
fn refuses_what_it_cannot_run() {
    let (mut nodes, _) = network([1, 2, 3, 4, 4], true);
    // A convolution of a flat value.
    let conv = conv_geometry([3, 3], [1, 1], 1, 1);
    nodes.push((
        Node::Conv {
            conv,
            weight: 0,
            bias: None,
        },
        vec![nodes.len() - 1],
    ));
    assert!(Pipeline::new([1, 4, 4], &nodes, nodes.len() - 1).is_none());
    // Two inputs, and an add of two shapes.
    let two = [
        (Node::Input, vec![]),
        (Node::Input, vec![]),
        (Node::Add, vec![0, 1]),
    ];
    assert!(Pipeline::new([1, 4, 4], &two, 2).is_none());
    let (nodes, _) = network([1, 2, 3, 4, 4], true);
    let mut mixed = nodes[..9].to_vec();
    mixed.push((Node::Add, vec![5, 8]));
    assert!(Pipeline::new([1, 4, 4], &mixed, 9).is_none());
}
