//! The contract of the engine on every built-in architecture: pruning random channels of random
//! groups gives the outputs of the network in which those channels were zeroed
//! (`forward(prune(g)) == forward(mask(g))`, within 1e-4), and the groups found are the ones
//! Torch-Pruning finds.

mod common;

use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use rand::{SeedableRng, rngs::StdRng};
use shears_ir::zoo::{self, ArchSpec};
use shears_ir::{Graph, Op};
use shears_prune::{ChannelGroup, DependencyGraph, MemberKind};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};

fn build(name: &str, input_shape: [usize; 3]) -> Graph {
    let spec = ArchSpec {
        input_shape,
        classes: 10,
        seed: 3,
    };
    zoo::build(name, &spec).unwrap()
}

/// `cases` random picks of one to three groups, each losing a random proper subset of its
/// channels, plus every group at once.
fn prune_equals_mask(name: &str, input_shape: [usize; 3], cases: u32) {
    let mut graph = build(name, input_shape);
    common::randomise_bn(&mut graph, 11);
    let deps = DependencyGraph::build(&graph).unwrap();
    let groups = common::cuttable(&deps);
    assert!(!groups.is_empty(), "{name} has nothing to prune");
    let input = common::random_input(&graph, 2, 5);
    common::all_groups_at_once(&deps, &graph, 17).unwrap();
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let picks = proptest::collection::vec(proptest::arbitrary::any::<(Index, u64)>(), 1..=3);
    let ran = AtomicU32::new(0);
    TestRunner::new(config)
        .run(&picks, |picks| {
            ran.fetch_add(1, Ordering::Relaxed);
            let mut seen = HashSet::new();
            let mut cuts = Vec::new();
            for (index, seed) in picks {
                let group = groups[index.index(groups.len())];
                if seen.insert(group.id) {
                    let mut rng = StdRng::seed_from_u64(seed);
                    cuts.push((group, common::random_subset(&mut rng, group.channels)));
                }
            }
            common::prune_equals_mask(&graph, &cuts, &input, 2).map_err(TestCaseError::fail)
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(ran.into_inner() >= cases);
}

#[test]
fn lenet5_prunes_like_it_masks() {
    // 28x28 leaves 5x5 maps before the flatten: each conv2 channel is 25 fc1 columns.
    prune_equals_mask("lenet5", [1, 28, 28], 64);
}

#[test]
fn lenet5_caffe_prunes_like_it_masks() {
    // Caffe's LeNet-5 has no ReLU between its convs and pools: 50 channels of 4x4 into fc1.
    prune_equals_mask("lenet5-caffe", [1, 28, 28], 64);
}

#[test]
fn lenet300_prunes_like_it_masks() {
    // Its hidden units are the channels: fc1 and fc2 each lead a group.
    prune_equals_mask("lenet300", [1, 28, 28], 64);
    assert_eq!(deps("lenet300").1.prunable().count(), 2);
}

#[test]
fn vgg11_prunes_like_it_masks() {
    prune_equals_mask("vgg11", [3, 16, 16], 24);
}

#[test]
fn vgg16_prunes_like_it_masks() {
    prune_equals_mask("vgg16", [3, 16, 16], 12);
}

#[test]
fn resnet20_prunes_like_it_masks() {
    prune_equals_mask("resnet20", [3, 32, 32], 48);
}

#[test]
fn resnet32_prunes_like_it_masks() {
    prune_equals_mask("resnet32", [3, 16, 16], 32);
}

#[test]
fn resnet56_prunes_like_it_masks() {
    prune_equals_mask("resnet56", [3, 16, 16], 24);
}

#[test]
fn resnet110_prunes_like_it_masks() {
    prune_equals_mask("resnet110", [3, 8, 8], 12);
}

#[test]
fn mobilenetv2_prunes_like_it_masks() {
    prune_equals_mask("mobilenetv2", [3, 16, 16], 32);
}

#[test]
fn every_builtin_is_covered() {
    let covered = [
        "lenet5",
        "lenet5-caffe",
        "lenet300",
        "vgg11",
        "vgg16",
        "resnet20",
        "resnet32",
        "resnet56",
        "resnet110",
        "mobilenetv2",
    ];
    assert_eq!(
        zoo::NAMES,
        covered,
        "add a property test for the new architecture"
    );
}

fn deps(name: &str) -> (Graph, DependencyGraph) {
    let graph = build(name, [3, 32, 32]);
    let deps = DependencyGraph::build(&graph).unwrap();
    (graph, deps)
}

fn names(g: &ChannelGroup, kind: MemberKind) -> Vec<&str> {
    g.members_of(kind).map(|m| m.name.as_str()).collect()
}

#[test]
fn resnet20_has_the_groups_torch_pruning_finds() {
    // Three residual spaces (stem + stage 1, stage 2 with its projection, stage 3 with its
    // projection) and one group per block's conv1: 3 + 9 = 12. The input and the fc output are
    // groups too, but blocked.
    let (graph, deps) = deps("resnet20");
    let prunable: Vec<&str> = deps.prunable().map(|g| g.name.as_str()).collect();
    assert_eq!(prunable.len(), 12, "{prunable:?}");
    assert_eq!(deps.groups().len(), 14);
    for stage in 1..=3 {
        for block in 0..3 {
            let name = format!("layer{stage}.{block}.conv1");
            let g = deps.group(&name).unwrap();
            assert!(g.is_prunable());
            assert_eq!(names(g, MemberKind::Filters), [name.as_str()]);
            assert_eq!(
                names(g, MemberKind::Norm),
                [format!("layer{stage}.{block}.bn1")]
            );
            assert_eq!(
                names(
                    g,
                    MemberKind::Reads {
                        features_per_channel: 1
                    }
                ),
                [format!("layer{stage}.{block}.conv2")]
            );
        }
    }
    let stem = deps.group("conv1").unwrap();
    assert_eq!(stem.channels, 16);
    assert_eq!(
        names(stem, MemberKind::Filters),
        [
            "conv1",
            "layer1.0.conv2",
            "layer1.1.conv2",
            "layer1.2.conv2"
        ]
    );
    assert_eq!(
        names(stem, MemberKind::Norm),
        ["bn1", "layer1.0.bn2", "layer1.1.bn2", "layer1.2.bn2"]
    );
    assert_eq!(
        names(
            stem,
            MemberKind::Reads {
                features_per_channel: 1
            }
        ),
        [
            "layer1.0.conv1",
            "layer1.1.conv1",
            "layer1.2.conv1",
            "layer2.0.conv1",
            "layer2.0.shortcut.0"
        ]
    );
    let stage3 = deps.group("layer3.0.conv2").unwrap();
    assert_eq!(stage3.channels, 64);
    assert!(names(stage3, MemberKind::Filters).contains(&"layer3.0.shortcut.0"));
    assert_eq!(stage3.members_of(MemberKind::Filters).count(), 4);
    let fc: Vec<_> = stage3
        .members
        .iter()
        .filter(|m| matches!(graph.nodes[m.node].op, shears_ir::Op::Linear(_)))
        .collect();
    assert_eq!(fc.len(), 1);
    assert_eq!(
        fc[0].kind,
        MemberKind::Reads {
            features_per_channel: 1
        },
        "the linear layer reads each channel's global average"
    );
    assert_eq!((fc[0].name.as_str(), fc[0].offset), ("fc", 0));
    let output = deps.group("fc").unwrap();
    assert!(
        output
            .blocked
            .as_ref()
            .unwrap()
            .contains("graph output 'fc'")
    );
    assert!(!deps.group("input").unwrap().is_prunable());
}

#[test]
fn resnets_have_three_residual_groups_and_one_per_block() {
    for (name, n) in [("resnet32", 5), ("resnet56", 9), ("resnet110", 18)] {
        let (_, deps) = deps(name);
        assert_eq!(deps.prunable().count(), 3 + 3 * n, "{name}");
    }
}

#[test]
fn vgg_and_lenet_have_one_group_per_hidden_layer() {
    assert_eq!(deps("vgg11").1.prunable().count(), 8);
    assert_eq!(deps("vgg16").1.prunable().count(), 13);
    let graph = build("lenet5", [1, 28, 28]);
    let deps = DependencyGraph::build(&graph).unwrap();
    let prunable: Vec<&str> = deps.prunable().map(|g| g.name.as_str()).collect();
    assert_eq!(prunable, ["conv1", "conv2", "fc1", "fc2"]);
    let conv2 = deps.group("conv2").unwrap();
    let fc1 = conv2.members_of(MemberKind::Reads {
        features_per_channel: 25,
    });
    assert_eq!(fc1.map(|m| m.name.as_str()).collect::<Vec<_>>(), ["fc1"]);
    let hidden = deps.group("fc1").unwrap();
    assert_eq!(names(hidden, MemberKind::Filters), ["fc1"]);
    assert!(!deps.group("fc3").unwrap().is_prunable());
}

#[test]
fn mobilenetv2_ties_stages_and_carries_depthwise_convs() {
    // Stem (with block 1's depthwise conv), one residual space per stage (7), one expansion
    // group per block with t = 6 (16) and the last 1x1 conv feeding the classifier.
    let (graph, deps) = deps("mobilenetv2");
    assert_eq!(deps.prunable().count(), 1 + 7 + 16 + 1);
    let hidden = deps.group("features.2.conv.0.0").unwrap();
    assert_eq!(
        names(hidden, MemberKind::Depthwise),
        ["features.2.conv.1.0"]
    );
    assert_eq!(
        names(
            hidden,
            MemberKind::Reads {
                features_per_channel: 1
            }
        ),
        ["features.2.conv.2"]
    );
    assert_eq!(hidden.members_of(MemberKind::Norm).count(), 2);
    // Stage 3 (32 channels, 3 blocks): its first block's projection and the two adds.
    let stage = deps.group("features.4.conv.2").unwrap();
    assert_eq!(
        names(stage, MemberKind::Filters),
        [
            "features.4.conv.2",
            "features.5.conv.2",
            "features.6.conv.2"
        ]
    );
    let classifier = graph.node_by_name("classifier.1").unwrap();
    // The classifier's output group is the one blocked group it belongs to.
    assert!(deps.groups_of(classifier).all(|g| {
        let is_output = g
            .members
            .iter()
            .any(|m| m.node == classifier && m.kind == MemberKind::Filters);
        is_output != g.is_prunable()
    }));
}

#[test]
fn inputs_and_outputs_are_never_prunable() {
    for name in zoo::NAMES {
        let (graph, deps) = deps(name);
        for g in deps.groups() {
            let touches = |n: usize| g.values.iter().any(|v| v.node == n);
            if graph.inputs.iter().any(|&i| touches(i))
                || graph.outputs.iter().any(|o| touches(o.node))
            {
                assert!(!g.is_prunable(), "{name}: {g}");
            }
        }
        // Every conv's output channels belong to exactly one group per channel.
        for (i, node) in graph.nodes.iter().enumerate() {
            if let Op::Conv2d(c) = &node.op {
                let covered: usize = deps
                    .groups()
                    .iter()
                    .flat_map(|g| g.members.iter().map(move |m| (g, m)))
                    .filter(|(_, m)| m.node == i && m.kind.is_producer())
                    .map(|(g, _)| g.channels)
                    .sum();
                assert_eq!(covered, c.out_channels(), "{name}: {}", node.name);
            }
        }
    }
}
