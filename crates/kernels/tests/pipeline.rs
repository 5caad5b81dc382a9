//! The one-image-at-a-time pipeline against the same network run layer by layer on whole
//! batches (`Conv2d::forward`, itself checked against naive loops, and plain loops for the
//! rest), on random sizes: convolutions on frames (3x3 and 1x1), from phase planes (stride
//! 2, a 3x3 and a 1x1) and through dense copies (a 5x5), fused and separate ReLUs, residual
//! adds folded into a convolution (on frames and on phase planes), in place and copied,
//! flatten of frames and of pooled values, a linear head. And the same network's second half
//! run from the first half's values, with channels masked and a convolution's share of some
//! input channels withdrawn per row, against the whole network with those channels scaled
//! where they are read.

use proptest::prelude::*;
use shears_kernels::{Conv2d, Node, Pipeline, Rows};

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
        (
            Node::Input {
                shape: vec![c0, h, w],
            },
            vec![],
        ),
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
        // A strided 1x1 convolution of node 8's input, which reads node 8's phase planes.
        (conv([c2, c2], [h, w], 1, 2, 11, None), vec![7]),
        (Node::Add, vec![14, 15]),
    ];
    let features = if pool {
        nodes.push((Node::GlobalAvgPool, vec![16]));
        nodes.push((Node::Relu, vec![17]));
        nodes.push((Node::Flatten, vec![18]));
        c2
    } else {
        nodes.push((Node::Flatten, vec![16]));
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

/// Each node's value of one image (the input's shape given).
fn shapes(nodes: &[(Node, Vec<usize>)]) -> Vec<Vec<usize>> {
    let mut shapes: Vec<Vec<usize>> = Vec::new();
    for (node, ins) in nodes {
        let arg = |k: usize| shapes[ins[k]].clone();
        let shape = match node {
            Node::Input { shape } => shape.clone(),
            Node::Conv { conv, .. } | Node::Unshare { conv, .. } => {
                let [h, w] = conv.out_size();
                vec![conv.out_channels, h, w]
            }
            Node::GlobalAvgPool => vec![arg(0)[0]],
            Node::Flatten => vec![arg(0).iter().product()],
            Node::Linear { out_features, .. } => vec![*out_features],
            Node::Relu | Node::Add | Node::Mask => arg(0),
        };
        shapes.push(shape);
    }
    shapes
}

/// Every node's value, the network run node by node on the whole batch; `masks` scale the
/// first input of a node per row (`[batch, C]` factors of each channel of a map, or of each
/// value of a flat input).
fn reference(
    nodes: &[(Node, Vec<usize>)],
    params: &[Vec<f32>],
    (x, batch): (&[f32], usize),
    pooled: usize,
    masks: &[(usize, Vec<f32>)],
) -> Vec<Vec<f32>> {
    let mut values: Vec<Vec<f32>> = Vec::new();
    for (n, (node, ins)) in nodes.iter().enumerate() {
        let mut first = ins.first().map(|i| values[*i].clone());
        if let (Some(first), Some((_, factors))) = (&mut first, masks.iter().find(|m| m.0 == n)) {
            let per_factor = first.len() / factors.len();
            for (chunk, f) in first.chunks_mut(per_factor).zip(factors) {
                chunk.iter_mut().for_each(|v| *v *= f);
            }
        }
        let arg = |k: usize| match k {
            0 => first.as_ref().expect("an input"),
            _ => &values[ins[k]],
        };
        let value = match node {
            Node::Input { .. } => x.to_vec(),
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
            Node::Mask | Node::Unshare { .. } => unreachable!("not in the reference network"),
        };
        values.push(value);
    }
    values
}

/// The nodes of `nodes` from `start` on as a pipeline that takes the values of earlier nodes
/// as inputs (the nodes it returns), with a mask before the first input of each node of
/// `masked` and the share of some input channels withdrawn from convolution `unshare`'s
/// output (which it takes with the convolution's input).
fn second_half(
    nodes: &[(Node, Vec<usize>)],
    start: usize,
    masked: &[usize],
    unshare: usize,
) -> (Vec<(Node, Vec<usize>)>, Vec<usize>) {
    let shapes = shapes(nodes);
    let (mut half, mut fed) = (Vec::new(), Vec::new());
    let mut index = vec![usize::MAX; nodes.len()];
    let input = |half: &mut Vec<_>, fed: &mut Vec<_>, n: usize| {
        let shape = shapes[n].clone();
        half.push((Node::Input { shape }, vec![]));
        fed.push(n);
        half.len() - 1
    };
    for (n, (node, ins)) in nodes.iter().enumerate().skip(start) {
        let mut reads = Vec::new();
        for &i in ins {
            if index[i] == usize::MAX {
                index[i] = input(&mut half, &mut fed, i);
                if let (true, Node::Conv { conv, weight, .. }) = (i == unshare, &nodes[i].0) {
                    let x = input(&mut half, &mut fed, nodes[i].1[0]);
                    let (conv, weight) = (*conv, *weight);
                    half.push((Node::Unshare { conv, weight }, vec![index[i], x]));
                    index[i] = half.len() - 1;
                }
            }
            reads.push(index[i]);
        }
        if masked.contains(&n) {
            half.push((Node::Mask, vec![reads[0]]));
            reads[0] = half.len() - 1;
        }
        half.push((node.clone(), reads));
        index[n] = half.len() - 1;
    }
    (half, fed)
}

/// The parameters [`network`] indexes, for `features` inputs of its head.
fn parameters([c0, c1, c2]: [usize; 3], features: usize, seed: u64) -> Vec<Vec<f32>> {
    let lens = [
        c1 * c0 * 9,
        c1,
        c1 * c1 * 9,
        c2 * c1,
        c2,
        c2 * c2 * 9,
        c2,
        c2 * c2,
        3 * features,
        3,
        c2 * c2 * 25,
        c2 * c2,
    ];
    lens.iter()
        .enumerate()
        .map(|(i, n)| values(seed + i as u64, *n))
        .collect()
}

/// Per row, a factor per channel: mostly 1, some 0, a few 0.5.
fn factors(seed: u64, rows: usize, width: usize) -> Vec<f32> {
    values(seed, rows * width)
        .into_iter()
        .map(|v| match v {
            v if v < -0.5 => 0.0,
            v if v < -0.4 => 0.5,
            _ => 1.0,
        })
        .collect()
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
        let params = parameters([c0, c1, c2], features, seed);
        let x = values(seed ^ 0x5eed, batch * c0 * h * w);
        let pipeline = Pipeline::new(&nodes, nodes.len() - 1).expect("runs");
        let slices: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
        let got = pipeline.run(&slices, &x, batch);
        let want = reference(&nodes, &params, (&x, batch), c2, &[]).pop().expect("an output");
        close(&got, &want)?;
    }

    #[test]
    fn the_second_half_with_masks_matches_the_layers(
        c0 in 1usize..5, c1 in 1usize..20, c2 in 1usize..12,
        h in 1usize..11, w in 1usize..11, samples in 1usize..4, variants in 1usize..4,
        pool: bool, cut in 0usize..3, seed: u64,
    ) {
        let (nodes, features) = network([c0, c1, c2, h, w], pool);
        let params = parameters([c0, c1, c2], features, seed);
        let slices: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
        let x = values(seed ^ 0x5eed, samples * c0 * h * w);
        // From after a 3x3 convolution (read next by a 3x3 one, which sees the frame's
        // border, or by a residual add) or a strided one; 1x1, 3x3 and 5x5 convolutions
        // and the head masked.
        let head = nodes.len() - 1;
        let (start, unshare, masked) = match cut {
            0 => (2, 1, vec![3, 6, head]),
            1 => (4, 3, vec![6, 9, head]),
            _ => (9, 8, vec![9, 13, head]),
        };
        let (half, fed) = second_half(&nodes, start, &masked, unshare);
        let pipeline = Pipeline::new(&half, half.len() - 1).expect("runs");
        let rows = samples * variants;
        let arrays: Vec<Vec<f32>> = pipeline.factor_widths().iter().enumerate()
            .map(|(k, width)| factors(seed ^ k as u64, rows, *width))
            .collect();
        let whole = reference(&nodes, &params, (&x, samples), c2, &[]);
        let inputs: Vec<&[f32]> = fed.iter().map(|n| whole[*n].as_slice()).collect();
        let arrays_ref: Vec<&[f32]> = arrays.iter().map(Vec::as_slice).collect();
        let prepared = pipeline.prepare(&slices);
        let got = pipeline.run_rows((&slices, &prepared), &Rows { inputs: &inputs, samples, factors: &arrays_ref, rows });
        // The unshare's factors scale the convolution's input, the masks' their node's.
        let masks: Vec<(usize, Vec<f32>)> = std::iter::once(unshare).chain(masked).zip(arrays).collect();
        let replicated: Vec<f32> = (0..rows).flat_map(|r| {
            let len = x.len() / samples;
            x[r % samples * len..][..len].to_vec()
        }).collect();
        let want = reference(&nodes, &params, (&replicated, rows), c2, &masks).pop().expect("an output");
        close(&got, &want)?;
    }
}

/// Equal up to rounding: relative to the largest output, since an output near zero can be
/// the difference of large sums (a head over values in the hundreds).
fn close(got: &[f32], want: &[f32]) -> Result<(), TestCaseError> {
    prop_assert_eq!(got.len(), want.len());
    let scale = want.iter().fold(1.0f32, |m, w| m.max(w.abs()));
    for (g, w) in got.iter().zip(want) {
        prop_assert!(
            (g - w).abs() <= 1e-5 * scale,
            "{} vs {} (scale {})",
            g,
            w,
            scale
        );
    }
    Ok(())
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
    assert!(Pipeline::new(&nodes, nodes.len() - 1).is_none());
    // An add of two shapes, an input of rank 2.
    let input = |shape: &[usize]| Node::Input {
        shape: shape.to_vec(),
    };
    let two = [
        (input(&[1, 4, 4]), vec![]),
        (input(&[2, 4, 4]), vec![]),
        (Node::Add, vec![0, 1]),
    ];
    assert!(Pipeline::new(&two, 2).is_none());
    assert!(Pipeline::new(&[(input(&[4, 4]), vec![])], 0).is_none());
    let (nodes, _) = network([1, 2, 3, 4, 4], true);
    let mut mixed = nodes[..9].to_vec();
    mixed.push((Node::Add, vec![5, 8]));
    assert!(Pipeline::new(&mixed, 9).is_none());
    // An unshare of a convolution of another output shape, or with padding 2.
    let Node::Conv { conv, weight, .. } = nodes[3].0.clone() else {
        unreachable!("node 3 is a convolution")
    };
    let unshare = |conv| (Node::Unshare { conv, weight }, vec![0, 1]);
    let half = [(input(&[2, 4, 4]), vec![]), (input(&[2, 4, 4]), vec![])];
    let fits = [half[0].clone(), half[1].clone(), unshare(conv)];
    assert!(Pipeline::new(&fits, 2).is_some());
    let wide = Conv2d {
        kernel: [5, 5],
        padding: [(2, 2); 2],
        ..conv
    };
    assert!(Pipeline::new(&[half[0].clone(), half[1].clone(), unshare(wide)], 2).is_none());
    let narrow = [(input(&[3, 4, 4]), vec![]), half[1].clone(), unshare(conv)];
    assert!(Pipeline::new(&narrow, 2).is_none());
}
