//! Finer granularities: masked weights stay zero through fine-tuning, checkpoints and ONNX
//! export on every built-in; N:M masks hold exactly N of every M; ranked masks reach their
//! targets; Han's threshold masks what it says.

mod common;

use proptest::prelude::*;
use prost::Message;
use shears_data::Normalize;
use shears_ir::zoo::{self, ArchSpec};
use shears_ir::{Graph, filter_weight};
use shears_prune::importance::{Criterion, CriterionOptions, Reduction};
use shears_prune::pruner::{PruneCheckpoint, PruneConfig, Pruner, QuietPruner};
use shears_prune::schedule::{PlanConfig, Scope, Target};
use shears_prune::sparsity::{
    Granularity, apply_masks, plan_masks, remove_dead, remove_unread, sparse_layers, trim_kernels,
};
use shears_runtime::DeviceKind;
use shears_runtime::train::{LrSchedule, TrainConfig, TrainData};
use std::sync::Arc;

fn build(name: &str, input: [usize; 3]) -> Graph {
    let spec = ArchSpec {
        input_shape: input,
        classes: 4,
        seed: 5,
    };
    zoo::build(name, &spec).unwrap()
}

/// Each filter weight's masked-out positions, by node.
fn masked_positions(graph: &Graph) -> Vec<Vec<usize>> {
    graph
        .nodes
        .iter()
        .map(|n| match filter_weight(&n.op) {
            Some(w) => (0..w.len()).filter(|&i| !w.kept(i)).collect(),
            None => Vec::new(),
        })
        .collect()
}

fn assert_zero_at(graph: &Graph, masked: &[Vec<usize>], what: &str) {
    for (node, positions) in graph.nodes.iter().zip(masked) {
        if let Some(w) = filter_weight(&node.op) {
            for &i in positions {
                assert_eq!(w.data[i], 0.0, "{what}: {} [{i}] is not zero", node.name);
            }
        }
    }
}

/// Masks half the weights of `name` (l1, one step) and fine-tunes for 3 iterations of SGD
/// with momentum and weight decay, checkpointing the run.
fn prune_and_finetune(name: &str, input: [usize; 3], granularity: Granularity) -> (Graph, Graph) {
    let original = build(name, input);
    let mut graph = original.clone();
    let train = Arc::new(common::random_dataset(&graph, 16, 4, 1));
    let data = TrainData {
        train,
        test: None,
        normalize: Normalize::unit(input[0]),
        teacher: None,
    };
    let dir = std::env::temp_dir().join(format!("shears-sparse-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let checkpoint = dir.join("run.ckpt");
    let mut l1 = Criterion::L1
        .build(&CriterionOptions::new(Reduction::Mean, 0))
        .unwrap();
    let mut pruner = Pruner {
        config: PruneConfig {
            target: Target::Channels(0.5),
            plan: PlanConfig {
                granularity,
                ..PlanConfig::default()
            },
            finetune: Some(TrainConfig {
                epochs: 1,
                batch_size: 4,
                max_batches: Some(3),
                lr: 0.05,
                schedule: LrSchedule::Constant,
                crop_padding: 0,
                horizontal_flip: false,
                ..TrainConfig::default()
            }),
            ..PruneConfig::default()
        },
        criterion: l1.as_mut(),
        data: Some(&data),
        device: DeviceKind::Flex,
        checkpoint: Some(checkpoint.clone()),
        model: name.into(),
    };
    pruner.run(&mut graph, None, &mut QuietPruner).unwrap();
    let saved = PruneCheckpoint::load(&checkpoint).unwrap();
    std::fs::remove_dir_all(dir).ok();
    assert_eq!(
        saved.graph, graph,
        "{name}: the checkpoint keeps the model, masks included"
    );
    (original, graph)
}

#[test]
fn masked_weights_stay_zero_through_fine_tuning_checkpoints_and_export() {
    for &name in zoo::NAMES {
        let input = if name == "lenet5" {
            [1, 28, 28]
        } else {
            [3, 32, 32]
        };
        let (original, graph) = prune_and_finetune(name, input, Granularity::Weight);
        let masked = masked_positions(&graph);
        let count: usize = masked.iter().map(Vec::len).sum();
        let weights = |g: &Graph| -> usize {
            g.nodes
                .iter()
                .filter_map(|n| filter_weight(&n.op))
                .map(|w| w.len())
                .sum()
        };
        // Half the weights are masked; channels no layer reads any more are gone, with the
        // weights that computed them.
        let (before, kept) = (weights(&original) as f64, (weights(&graph) - count) as f64);
        assert!(
            kept <= 0.5 * before + graph.nodes.len() as f64 && kept >= 0.3 * before,
            "{name}: {kept} of {before} weights kept"
        );
        assert_zero_at(&graph, &masked, name);
        // Fine-tuning did move the weights it kept.
        let moved = original
            .nodes
            .iter()
            .zip(&graph.nodes)
            .filter_map(|(a, b)| Some((filter_weight(&a.op)?, filter_weight(&b.op)?)))
            .filter(|(a, b)| a.shape == b.shape)
            .any(|(a, b)| {
                (0..a.len()).any(|i| b.kept(i) && b.data[i] != 0.0 && a.data[i] != b.data[i])
            });
        assert!(moved, "{name}: fine-tuning changed no kept weight");
        assert_eq!(graph.kept_param_count(), graph.param_count() - count);
        let onnx = shears_onnx::to_model(&graph).unwrap().encode_to_vec();
        let back = shears_onnx::load(&onnx).unwrap();
        assert_zero_at(&back, &masked, &format!("{name} from ONNX"));
    }
}

#[test]
fn n_of_m_survives_fine_tuning() {
    let (_, graph) = prune_and_finetune("resnet20", [3, 16, 16], "2:4".parse().unwrap());
    let layers = sparse_layers(&graph, &PlanConfig::default()).unwrap();
    let mut checked = 0;
    for l in &layers {
        let w = filter_weight(&graph.nodes[l.node].op).unwrap();
        let Some((inner, channels)) = l.input_channels.filter(|(_, c)| c % 4 == 0) else {
            assert_eq!(w.masked_count(), 0, "{} does not fit 2:4", l.name);
            continue;
        };
        for row in 0..l.rows {
            for start in (0..channels).step_by(4) {
                for k in 0..inner {
                    let kept = (start..start + 4)
                        .filter(|c| w.kept(row * l.cols + c * inner + k))
                        .count();
                    assert_eq!(kept, 2, "{}", l.name);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000);
}

/// A conv (or, with `kernel` 0, a linear layer) with random non-zero weights.
fn layer_graph(out: usize, inp: usize, kernel: usize, seed: u64) -> Graph {
    let mut init = shears_ir::zoo::Init::new(seed);
    let (mut b, x) = shears_ir::GraphBuilder::new("one", vec![inp, 6, 6]);
    let y = if kernel == 0 {
        let x = b.op("flatten", shears_ir::Op::Flatten { axis: 1 }, &[x]);
        b.linear("layer", x, init.linear(inp * 36, out))
    } else {
        b.conv("layer", x, init.conv(inp, out, kernel, 1, 1))
    };
    b.finish(y)
}

fn masks_for(graph: &Graph, config: &PlanConfig, goal: Target) -> Graph {
    let layers = sparse_layers(graph, config).unwrap();
    let mut l1 = Criterion::L1
        .build(&CriterionOptions::new(Reduction::Mean, 0))
        .unwrap();
    let scores = l1.score_weights(graph, 1).unwrap().unwrap();
    let baseline = goal.measure(graph).unwrap();
    let plan = plan_masks(graph, &layers, &scores, config, goal, baseline, 1.0).unwrap();
    assert!(plan.reached);
    apply_masks(graph, &plan)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    #[test]
    fn an_n_of_m_mask_keeps_exactly_n_of_every_m(
        n in 1usize..4,
        extra in 1usize..4,
        groups in 1usize..4,
        out in 1usize..6,
        kernel in prop_oneof![Just(0usize), Just(1), Just(3)],
        seed in 0u64..1000,
    ) {
        let m = n + extra;
        let graph = layer_graph(out, m * groups, kernel, seed);
        let config = PlanConfig {
            granularity: Granularity::NofM { n, m },
            ..PlanConfig::default()
        };
        let masked = masks_for(&graph, &config, Target::Channels(0.0));
        let w = filter_weight(&masked.nodes.last().unwrap().op).unwrap();
        let layer = &sparse_layers(&masked, &config).unwrap()[0];
        let (inner, channels) = layer.input_channels.unwrap();
        let original = filter_weight(&graph.nodes.last().unwrap().op).unwrap();
        for row in 0..layer.rows {
            for start in (0..channels).step_by(m) {
                for k in 0..inner {
                    let run: Vec<usize> =
                        (start..start + m).map(|c| row * layer.cols + c * inner + k).collect();
                    let nonzero = run.iter().filter(|&&i| w.data[i] != 0.0).count();
                    prop_assert_eq!(nonzero, n);
                    // The kept ones are the largest.
                    let kept_min = run.iter().filter(|&&i| w.kept(i))
                        .map(|&i| original.data[i].abs()).fold(f32::MAX, f32::min);
                    let dropped_max = run.iter().filter(|&&i| !w.kept(i))
                        .map(|&i| original.data[i].abs()).fold(0.0, f32::max);
                    prop_assert!(kept_min >= dropped_max);
                }
            }
        }
    }

    #[test]
    fn ranked_masks_reach_their_targets(
        fraction in 0.05f64..0.95,
        global in any::<bool>(),
        block in prop_oneof![Just((1usize, 1usize)), Just((1, 4)), Just((2, 2))],
        seed in 0u64..1000,
    ) {
        // Two layers of different sizes, so local and global differ.
        let mut init = shears_ir::zoo::Init::new(seed);
        let (mut b, x) = shears_ir::GraphBuilder::new("two", vec![3, 8, 8]);
        let x = b.conv("a", x, init.conv(3, 8, 3, 1, 1));
        let x = b.conv("b", x, init.conv(8, 16, 3, 1, 1));
        let graph = b.finish(x);
        let granularity = match block {
            (1, 1) => Granularity::Weight,
            (rows, cols) => Granularity::Block { rows, cols },
        };
        let config = PlanConfig {
            granularity,
            scope: if global { Scope::Global } else { Scope::Local },
            ..PlanConfig::default()
        };
        for goal in [Target::Params(fraction), Target::Macs(fraction)] {
            let masked = masks_for(&graph, &config, goal);
            let before = goal.measure(&graph).unwrap().unwrap();
            let after = goal.measure(&masked).unwrap().unwrap();
            let removed = 1.0 - after / before;
            // Within half a tile per layer of the asked fraction (1,368 weights in all).
            let tile = (block.0 * block.1) as f64 / 1368.0;
            prop_assert!((removed - fraction).abs() <= tile + 1e-9,
                "{goal}: removed {removed}");
            prop_assert!(masked.verify().is_ok());
        }
    }
}

#[test]
fn hans_threshold_masks_weights_under_q_standard_deviations() {
    let graph = layer_graph(8, 8, 3, 4);
    let config = PlanConfig {
        granularity: Granularity::Weight,
        std_threshold: Some(1.0),
        ..PlanConfig::default()
    };
    let masked = masks_for(&graph, &config, Target::Params(0.0));
    let w = filter_weight(&graph.nodes.last().unwrap().op).unwrap();
    let n = w.len() as f64;
    let mean = w.data.iter().map(|&v| v as f64).sum::<f64>() / n;
    let std = (w
        .data
        .iter()
        .map(|&v| (v as f64 - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt();
    let m = filter_weight(&masked.nodes.last().unwrap().op).unwrap();
    for i in 0..w.len() {
        assert_eq!(m.kept(i), (w.data[i] as f64).abs() >= std, "weight {i}");
    }
    // About 68% of a normal sample lies within one standard deviation.
    let share = m.masked_count() as f64 / n;
    assert!((0.5..0.8).contains(&share), "{share}");
}

#[test]
fn channels_no_layer_reads_are_removed_without_changing_the_outputs() {
    for (name, reader, input) in [
        ("lenet300", "fc2", [1, 28, 28]),
        ("resnet20", "layer2.1.conv2", [3, 16, 16]),
    ] {
        let mut graph = build(name, input);
        common::randomise_bn(&mut graph, 2);
        let node = graph.node_by_name(reader).unwrap();
        let w = shears_ir::filter_weight_mut(&mut graph.nodes[node].op).unwrap();
        let (rows, inputs) = (w.shape[0], w.shape[1]);
        let inner = w.len() / (rows * inputs);
        // The reader drops every third of its input channels.
        let keep: Vec<bool> = (0..w.len())
            .map(|i| (i / inner) % inputs % 3 != 0)
            .collect();
        w.restrict(&keep);
        let (lean, removed) = remove_unread(&graph).unwrap();
        assert_eq!(removed, inputs.div_ceil(3), "{name}");
        assert!(lean.param_count() < graph.param_count());
        let x = common::random_input(&graph, 2, 7);
        common::compare(&common::run(&lean, &x, 2), &common::run(&graph, &x, 2)).unwrap();
        assert_eq!(remove_unread(&lean).unwrap().1, 0);
    }
}

#[test]
fn stripes_are_masked_whole() {
    let graph = build("resnet20", [3, 16, 16]);
    let config = PlanConfig {
        granularity: Granularity::Stripe,
        scope: Scope::Global,
        ..PlanConfig::default()
    };
    let masked = masks_for(&graph, &config, Target::Channels(0.4));
    let (mut stripes, mut gone) = (0, 0);
    for node in &masked.nodes {
        let Some(w) = filter_weight(&node.op) else {
            continue;
        };
        let [o, i, kh, kw] = w.shape[..] else {
            assert_eq!(w.masked_count(), 0, "{}: not a conv", node.name);
            continue;
        };
        if kh * kw == 1 {
            assert_eq!(
                w.masked_count(),
                0,
                "{}: a 1x1 conv has no stripes",
                node.name
            );
            continue;
        }
        for f in 0..o {
            for k in 0..kh * kw {
                let kept: Vec<bool> = (0..i).map(|c| w.kept((f * i + c) * kh * kw + k)).collect();
                assert!(
                    kept.iter().all(|&x| x == kept[0]),
                    "{}: a split stripe",
                    node.name
                );
                // A ratio counts weights: a stripe weighs its input channels.
                stripes += i;
                gone += i * usize::from(!kept[0]);
            }
        }
    }
    let share = gone as f64 / stripes as f64;
    assert!((share - 0.4).abs() < 0.02, "{share}");
}

#[test]
fn trimmed_kernels_compute_what_the_masked_ones_did() {
    for (stride, dilation) in [(1, 1), (2, 1), (1, 2)] {
        let mut init = shears_ir::zoo::Init::new(3);
        let (mut b, x) = shears_ir::GraphBuilder::new("t", vec![3, 9, 9]);
        let mut conv = init.conv(3, 4, 3, stride, 1);
        conv.dilation = [dilation, dilation];
        conv.padding = [dilation; 4];
        // Every filter leaves the bottom kernel row and the left column.
        let keep: Vec<bool> = (0..conv.weight.len())
            .map(|i| i % 9 / 3 != 2 && i % 3 != 0)
            .collect();
        conv.weight.restrict(&keep);
        let y = b.conv("conv", x, conv);
        let graph = b.finish(y);
        let (trimmed, cut) = trim_kernels(&graph);
        assert_eq!(cut, 2);
        let x = common::random_input(&graph, 2, 5);
        common::compare(&common::run(&trimmed, &x, 2), &common::run(&graph, &x, 2)).unwrap();
    }
}

/// Masks every weight of the first `filters` filters of layer `name`: they keep their bias
/// alone (Han's neurons with no inputs, SWP's filters with no stripe left).
fn kill_filters(graph: &mut Graph, name: &str, filters: usize) {
    let node = graph.node_by_name(name).unwrap();
    let w = shears_ir::filter_weight_mut(&mut graph.nodes[node].op).unwrap();
    let per_filter = w.len() / w.shape[0];
    let keep: Vec<bool> = (0..w.len()).map(|i| i / per_filter >= filters).collect();
    w.restrict(&keep);
}

/// Runs `remove_dead` and checks it changes no output; returns the channels removed.
fn removes_dead_exactly(graph: &Graph) -> usize {
    let (lean, removed) = remove_dead(graph, DeviceKind::default()).unwrap();
    let x = common::random_input(graph, 3, 11);
    common::compare(&common::run(&lean, &x, 3), &common::run(graph, &x, 3)).unwrap();
    assert_eq!(graph.param_count() > lean.param_count(), removed > 0);
    removed
}

#[test]
fn filters_with_no_weight_left_are_removed_where_that_is_exact() {
    // Linear readers take a dead unit's constant into their bias.
    let mut mlp = build("lenet300", [1, 28, 28]);
    kill_filters(&mut mlp, "fc1", 7);
    assert_eq!(removes_dead_exactly(&mlp), 7);
    // So does an unpadded conv reading a dead filter's bias through a max pool.
    let mut caffe = build("lenet5-caffe", [1, 28, 28]);
    kill_filters(&mut caffe, "conv1", 5);
    assert_eq!(removes_dead_exactly(&caffe), 5);
    // Through BN and ReLU, a negative shift leaves zeros, which go; a positive one leaves a
    // constant that a padded conv sees differently at the borders, which stays.
    let mut resnet = build("resnet20", [3, 16, 16]);
    common::randomise_bn(&mut resnet, 3);
    kill_filters(&mut resnet, "layer1.0.conv1", 4);
    let bn = resnet.node_by_name("layer1.0.bn1").unwrap();
    let shears_ir::Op::BatchNorm2d(b) = &mut resnet.nodes[bn].op else {
        unreachable!()
    };
    b.beta.data[..4].copy_from_slice(&[-1.0, 1.0, -2.0, 2.0]);
    assert_eq!(removes_dead_exactly(&resnet), 2);
    // A residual stage's channel lives on while the shortcut feeds it.
    let mut stage = build("resnet20", [3, 16, 16]);
    kill_filters(&mut stage, "layer1.0.conv2", 4);
    assert_eq!(removes_dead_exactly(&stage), 0);
}
