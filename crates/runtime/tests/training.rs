//! Training behaviour on tiny synthetic data: the loss falls, resume reproduces an
//! uninterrupted run, divergence is reported, and gradient taps are exact.

use burn::tensor::{Device, Tensor, TensorData};
use shears_data::{Dataset, Normalize};
use shears_ir::zoo::Init;
use shears_ir::{Graph, GraphBuilder, Op};
use shears_runtime::train::{self, Checkpoint, Distill, LrSchedule, Quiet, TrainConfig, TrainData};
use shears_runtime::{DeviceKind, Mode, Network, RuntimeError, TapSpec, host_values};
use std::sync::Arc;

/// Two classes of 1x8x8 images, horizontal or vertical stripes, with noise: a conv followed
/// by global pooling can tell them apart.
fn stripes(n: usize) -> Dataset {
    let mut images = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let label = (i % 2) as u16;
        for p in 0..64 {
            let (row, col) = (p / 8, p % 8);
            let bright = if label == 0 {
                row % 2 == 0
            } else {
                col % 2 == 0
            };
            let noise = ((i * 31 + p * 17) % 23) as u8;
            images.push(if bright { 180 + noise } else { 40 + noise });
        }
        labels.push(label);
    }
    Dataset::new(
        images,
        labels,
        [1, 8, 8],
        vec!["horizontal".into(), "vertical".into()],
    )
    .unwrap()
}

fn small_net(seed: u64) -> Graph {
    let mut init = Init::new(seed);
    let (mut b, x) = GraphBuilder::new("small", vec![1, 8, 8]);
    let x = b.conv("conv", x, init.conv(1, 4, 3, 1, 1));
    let x = b.bn("bn", x, 4);
    let x = b.op("relu", Op::Relu, &[x]);
    let x = b.op("pool", Op::GlobalAvgPool, &[x]);
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let x = b.linear("fc", x, init.linear(4, 2));
    b.finish(x)
}

fn data() -> TrainData {
    TrainData {
        train: Arc::new(stripes(64)),
        test: Some(Arc::new(stripes(32))),
        normalize: Normalize {
            mean: vec![0.5],
            std: vec![0.25],
        },
        teacher: None,
    }
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 16,
        lr: 0.05,
        schedule: LrSchedule::Constant,
        crop_padding: 0,
        horizontal_flip: false,
        ..TrainConfig::default()
    }
}

#[test]
fn loss_falls_and_accuracy_rises() {
    let mut graph = small_net(1);
    let history = train::train(
        &mut graph,
        &data(),
        &config(6),
        DeviceKind::Flex,
        None,
        &mut Quiet,
    )
    .unwrap();
    let first = history.first().unwrap().train_loss;
    let last = history.last().unwrap().train_loss;
    assert!(last < 0.6 * first, "loss {first} -> {last}");
    assert!(history.last().unwrap().test.as_ref().unwrap().top1 > 0.9);
}

/// Mean |gamma| of the small net's batch norm.
fn mean_abs_gamma(graph: &Graph) -> f32 {
    let bn = graph.node_by_name("bn").unwrap();
    let Op::BatchNorm2d(bn) = &graph.nodes[bn].op else {
        panic!("bn is a batch norm")
    };
    bn.gamma.data.iter().map(|g| g.abs()).sum::<f32>() / bn.gamma.len() as f32
}

/// Top-1 predictions of `graph` on the test stripes.
fn predictions(graph: &Graph) -> Vec<usize> {
    let data = data();
    let test = data.test.unwrap();
    let mut net = Network::new(graph, &Device::flex()).unwrap();
    let images: Vec<f32> = test
        .images
        .iter()
        .map(|&p| (p as f32 / 255.0 - 0.5) / 0.25)
        .collect();
    let x = net.batch(images, test.len(), &test.shape).unwrap();
    let logits = host_values(net.forward(x, Mode::Eval));
    let k = net.output_features();
    logits
        .chunks(k)
        .map(|row| (0..k).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap())
        .collect()
}

#[test]
fn distillation_follows_the_teacher() {
    // An untrained teacher: its predictions have nothing to do with the labels, so only a
    // student that learns from it agrees with it.
    let teacher = small_net(11);
    let wanted = predictions(&teacher);
    let agreement = |distill: Option<Distill>| {
        let mut student = small_net(3);
        let data = TrainData {
            teacher: Some(Arc::new(teacher.clone())),
            ..data()
        };
        let config = TrainConfig {
            distill,
            ..config(6)
        };
        train::train(
            &mut student,
            &data,
            &config,
            DeviceKind::Flex,
            None,
            &mut Quiet,
        )
        .unwrap();
        let got = predictions(&student);
        got.iter().zip(&wanted).filter(|(a, b)| a == b).count() as f64 / got.len() as f64
    };
    let plain = agreement(None);
    let distilled = agreement(Some(Distill {
        alpha: 1.0,
        temperature: 2.0,
    }));
    assert!(
        distilled > plain + 0.2 && distilled > 0.6,
        "agreement with the teacher: {plain} trained on labels, {distilled} distilled"
    );
    // Distilling needs a teacher.
    let err = train::train(
        &mut small_net(3),
        &data(),
        &TrainConfig {
            distill: Some(Distill {
                alpha: 0.5,
                temperature: 4.0,
            }),
            ..config(1)
        },
        DeviceKind::Flex,
        None,
        &mut Quiet,
    )
    .unwrap_err();
    assert!(err.to_string().contains("teacher"), "{err}");
}

#[test]
fn bn_sparsity_shrinks_the_gammas() {
    let run = |bn_sparsity: f32| {
        let mut graph = small_net(3);
        let config = TrainConfig {
            bn_sparsity,
            ..config(4)
        };
        train::train(
            &mut graph,
            &data(),
            &config,
            DeviceKind::Flex,
            None,
            &mut Quiet,
        )
        .unwrap();
        mean_abs_gamma(&graph)
    };
    let (plain, sparse) = (run(0.0), run(0.05));
    // Each of the 16 steps moves every gamma by lr * λ = 0.0025 towards zero on top of the
    // data's gradient, about 0.04 in all.
    assert!(
        sparse < plain - 0.02,
        "mean |gamma| {plain} without the penalty, {sparse} with it"
    );
}

#[test]
fn max_batches_cuts_every_epoch_short() {
    struct Count(usize);
    impl train::TrainObserver for Count {
        fn batch(&mut self, _: &train::BatchProgress) {
            self.0 += 1;
        }
    }
    let mut graph = small_net(4);
    let config = TrainConfig {
        max_batches: Some(2),
        ..config(3)
    };
    let mut count = Count(0);
    train::train(
        &mut graph,
        &data(),
        &config,
        DeviceKind::Flex,
        None,
        &mut count,
    )
    .unwrap();
    // 64 samples in batches of 16 would be 4 per epoch.
    assert_eq!(count.0, 3 * 2);
}

#[test]
fn resume_continues_where_the_checkpoint_left_off() {
    let dir = std::env::temp_dir().join(format!("shears-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ckpt_path = dir.join("run.ckpt");

    let mut straight = small_net(2);
    train::train(
        &mut straight,
        &data(),
        &config(3),
        DeviceKind::Flex,
        None,
        &mut Quiet,
    )
    .unwrap();

    let mut interrupted = small_net(2);
    let first_two = TrainConfig {
        checkpoint: Some(ckpt_path.clone()),
        ..config(2)
    };
    train::train(
        &mut interrupted,
        &data(),
        &first_two,
        DeviceKind::Flex,
        None,
        &mut Quiet,
    )
    .unwrap();
    let ckpt = Checkpoint::load(&ckpt_path).unwrap();
    assert_eq!(ckpt.epochs_done, 2);
    // Another starting model is refused: a resume continues the same run.
    let err = train::train(
        &mut small_net(99),
        &data(),
        &config(3),
        DeviceKind::Flex,
        Some(ckpt.clone()),
        &mut Quiet,
    )
    .unwrap_err();
    assert!(err.to_string().contains("the model"), "{err}");
    let mut resumed = small_net(2);
    let history = train::train(
        &mut resumed,
        &data(),
        &config(3),
        DeviceKind::Flex,
        Some(ckpt),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(history.len(), 3);
    for (a, b) in straight.nodes.iter().zip(&resumed.nodes) {
        for (x, y) in a.op.arrays().iter().zip(b.op.arrays()) {
            for (u, v) in x.data.iter().zip(&y.data) {
                assert!((u - v).abs() < 1e-4, "{}: {u} vs {v}", a.name);
            }
        }
    }
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn divergence_is_a_clear_error() {
    let mut graph = small_net(3);
    let wild = TrainConfig {
        lr: 1e30,
        ..config(2)
    };
    let err = train::train(
        &mut graph,
        &data(),
        &wild,
        DeviceKind::Flex,
        None,
        &mut Quiet,
    )
    .unwrap_err();
    assert!(matches!(err, RuntimeError::Diverged { .. }), "{err}");
    assert!(err.to_string().contains("`TrainConfig::lr`"), "{err}");
}

#[test]
fn resume_refuses_a_different_recipe() {
    let dir = std::env::temp_dir().join(format!("shears-recipe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("run.ckpt");
    let mut graph = small_net(6);
    let first = TrainConfig {
        checkpoint: Some(path.clone()),
        ..config(1)
    };
    train::train(
        &mut graph,
        &data(),
        &first,
        DeviceKind::Flex,
        None,
        &mut Quiet,
    )
    .unwrap();
    let other_lr = TrainConfig {
        lr: 0.5,
        ..config(2)
    };
    let ckpt = Checkpoint::load(&path).unwrap();
    let err = train::train(
        &mut small_net(6),
        &data(),
        &other_lr,
        DeviceKind::Flex,
        Some(ckpt),
        &mut Quiet,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("another run: lr was 0.05, now 0.5;"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn a_corrupt_checkpoint_is_an_error() {
    let path = std::env::temp_dir().join(format!("shears-bad-{}.ckpt", std::process::id()));
    std::fs::write(&path, b"SHEARSC5garbage").unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
    std::fs::write(
        &path,
        [b"SHEARSC5".as_slice(), &[b'0'; 64], b"body"].concat(),
    )
    .unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    assert!(err.to_string().contains("checksum does not match"), "{err}");
    std::fs::write(&path, b"hello").unwrap();
    let err = Checkpoint::load(&path).unwrap_err();
    assert!(err.to_string().contains("not a checkpoint"), "{err}");
    std::fs::remove_file(path).ok();
}

#[test]
fn write_back_without_training_is_lossless() {
    let graph = small_net(4);
    let net = Network::new(&graph, &Device::flex()).unwrap();
    let mut copy = graph.clone();
    net.write_back(&mut copy);
    assert_eq!(graph, copy);
}

#[test]
fn gradient_tap_equals_the_analytic_gradient() {
    // loss = sum(fc(x)) so dloss/dx = column sums of the fc weight, for every sample.
    let graph = small_net(5);
    let device = Device::flex().autodiff();
    let mut net = Network::new(&graph, &device).unwrap();
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..128).map(|v| v as f32 / 64.0).collect::<Vec<_>>(),
            [2, 1, 8, 8],
        ),
        &device,
    );
    let flatten = graph.node_by_name("flatten").unwrap();
    let spec = TapSpec {
        nodes: vec![flatten],
        gradients: true,
    };
    let (out, taps) = net.forward_tapped(x, Mode::Eval, &spec);
    let grads = out.sum().backward();
    let got = taps
        .gradient(flatten, &grads)
        .unwrap()
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    let Op::Linear(fc) = &graph.nodes[graph.node_by_name("fc").unwrap()].op else {
        panic!()
    };
    let col_sums: Vec<f32> = (0..4)
        .map(|j| (0..2).map(|i| fc.weight.data[i * 4 + j]).sum())
        .collect();
    assert_eq!(got.len(), 8);
    for (i, g) in got.iter().enumerate() {
        assert!(
            (g - col_sums[i % 4]).abs() < 1e-5,
            "{i}: {g} vs {}",
            col_sums[i % 4]
        );
    }
    assert_eq!(taps.activation(flatten).unwrap().dims(), [2, 4, 1, 1]);
}

#[test]
fn frozen_layers_keep_their_weights() {
    use shears_runtime::train::Freeze;
    for (freeze, still) in [
        (Freeze::Conv, ["conv", "bn"]),
        (Freeze::Linear, ["fc", "fc"]),
    ] {
        let before = small_net(4);
        let mut after = before.clone();
        let config = TrainConfig {
            freeze: Some(freeze),
            ..config(1)
        };
        train::train(
            &mut after,
            &data(),
            &config,
            DeviceKind::Flex,
            None,
            &mut Quiet,
        )
        .unwrap();
        for (a, b) in before.nodes.iter().zip(&after.nodes) {
            let (wa, wb) = (a.op.arrays(), b.op.arrays());
            if wa.is_empty() || matches!(a.op, Op::BatchNorm2d(_)) && freeze == Freeze::Linear {
                continue;
            }
            // BN statistics move in training mode whatever is frozen: compare gamma and beta.
            let same = wa.iter().zip(&wb).take(2).all(|(x, y)| x.data == y.data);
            assert_eq!(
                same,
                still.contains(&a.name.as_str()),
                "{freeze:?}: {}",
                a.name
            );
        }
    }
}

#[test]
fn l1_decay_drives_weights_towards_zero() {
    let l1_norm = |g: &Graph| -> f32 {
        g.nodes
            .iter()
            .filter_map(|n| shears_ir::filter_weight(&n.op))
            .flat_map(|w| w.data.iter().map(|v| v.abs()))
            .sum()
    };
    let run = |l1_decay: f32| {
        let mut g = small_net(6);
        let config = TrainConfig {
            l1_decay,
            weight_decay: 0.0,
            ..config(2)
        };
        train::train(&mut g, &data(), &config, DeviceKind::Flex, None, &mut Quiet).unwrap();
        l1_norm(&g)
    };
    assert!(run(0.05) < 0.9 * run(0.0));
}

/// A conv reading 4 channels, so a stripe spans several weights.
fn striped_net(seed: u64) -> Graph {
    let mut init = Init::new(seed);
    let (mut b, x) = GraphBuilder::new("striped", vec![1, 8, 8]);
    let x = b.conv("conv1", x, init.conv(1, 4, 3, 1, 1));
    let x = b.op("relu1", Op::Relu, &[x]);
    let x = b.conv("conv2", x, init.conv(4, 4, 3, 1, 1));
    let x = b.op("relu2", Op::Relu, &[x]);
    let x = b.op("pool", Op::GlobalAvgPool, &[x]);
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let x = b.linear("fc", x, init.linear(4, 2));
    b.finish(x)
}

#[test]
fn the_filter_skeleton_folds_into_the_weights_it_scales() {
    let graph = striped_net(8);
    let device = Device::flex();
    let mut net = Network::new(&graph, &device).unwrap();
    net.add_filter_skeletons();
    // Skeletons are the last parameters: give them values, some zero.
    let mut params = net.params().to_vec();
    let first = params.len() - 2;
    for (k, p) in params[first..].iter_mut().enumerate() {
        let n = p.dims()[0];
        let v: Vec<f32> = (0..n)
            .map(|i| {
                if (i + k) % 4 == 0 {
                    0.0
                } else {
                    0.5 + (i % 3) as f32 * 0.3
                }
            })
            .collect();
        *p = Tensor::from_data(TensorData::new(v, [n]), &device);
    }
    net.set_params(params);
    let x = Tensor::<4>::from_data(
        TensorData::new(
            (0..128).map(|i| (i % 7) as f32 / 7.0).collect(),
            [2, 1, 8, 8],
        ),
        &device,
    );
    let with_skeleton = host_values(net.forward(x.clone(), Mode::Eval));
    let mut folded = graph.clone();
    net.write_back(&mut folded);
    let plain = host_values(
        Network::new(&folded, &device)
            .unwrap()
            .forward(x, Mode::Eval),
    );
    for (a, b) in with_skeleton.iter().zip(&plain) {
        assert!((a - b).abs() < 1e-5, "{a} vs {b}");
    }
    // Zero factors mask whole stripes: a kernel position across every input channel.
    let conv2 = &folded.nodes[folded.node_by_name("conv2").unwrap()].op;
    let w = shears_ir::filter_weight(conv2).unwrap();
    for f in 0..4 {
        for k in 0..9 {
            let kept: Vec<bool> = (0..4).map(|c| w.kept((f * 4 + c) * 9 + k)).collect();
            assert!(
                kept.iter().all(|&x| x == ((f * 9 + k + 1) % 4 != 0)),
                "filter {f} at {k}"
            );
        }
    }
}

#[test]
fn training_with_a_filter_skeleton_zeroes_stripes() {
    let mut graph = striped_net(9);
    let config = TrainConfig {
        filter_skeleton: Some(train::FilterSkeleton {
            sparsity: 0.5,
            threshold: 0.98,
        }),
        ..config(2)
    };
    train::train(
        &mut graph,
        &data(),
        &config,
        DeviceKind::Flex,
        None,
        &mut Quiet,
    )
    .unwrap();
    let conv2 = &graph.nodes[graph.node_by_name("conv2").unwrap()].op;
    let w = shears_ir::filter_weight(conv2).unwrap();
    assert!(w.masked_count() > 0, "no stripe went to zero");
    assert_eq!(w.masked_count() % 4, 0, "stripes are masked whole");
    assert!(graph.verify().is_ok());
}
