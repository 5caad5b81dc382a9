//! Data-driven criteria on built-ins with random data: the fast oracle gives the naive oracle's
//! scores, a channel that never fires scores lowest under every criterion that watches data,
//! and seeded sampling repeats.

mod common;

use shears_ir::Graph;
use shears_ir::Op;
use shears_ir::zoo::{self, ArchSpec};
use shears_prune::importance::{Criterion, GroupScores, Importance, Oracle, ScoreContext};
use shears_prune::{ChannelGroup, DependencyGraph};

fn build(name: &str, input_shape: [usize; 3]) -> Graph {
    let spec = ArchSpec {
        input_shape,
        classes: 10,
        seed: 11,
    };
    let mut graph = zoo::build(name, &spec).unwrap();
    common::randomise_bn(&mut graph, 17);
    graph
}

fn score(importance: &mut dyn Importance, graph: &Graph, groups: &[&ChannelGroup]) -> GroupScores {
    importance
        .score(&ScoreContext::new(graph, 0.5), groups)
        .unwrap()
}

#[test]
fn the_fast_oracle_gives_the_naive_scores() {
    let mut cases: Vec<(&str, Graph, usize)> = vec![
        ("lenet5", build("lenet5", [1, 28, 28]), 1),
        ("resnet20", build("resnet20", [3, 16, 16]), 1),
        ("mobilenetv2", build("mobilenetv2", [3, 16, 16]), 9),
    ];
    // Grouped convs: a removed channel is masked in every group of the conv reading it.
    let regnet = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../onnx/tests/zoo/regnet/model.onnx"
    );
    cases.push(("regnet", shears_onnx::load_file(regnet).unwrap(), 2));
    for (name, graph, every) in cases {
        let deps = DependencyGraph::build(&graph).unwrap();
        let groups: Vec<&ChannelGroup> = deps.prunable().step_by(every).collect();
        let data = common::score_data(&graph, 3);
        let naive = score(&mut Oracle::naive(data.clone()), &graph, &groups);
        // A few rows per pass, so probes of one group span several passes.
        for rows in [3, 512] {
            let mut fast = Oracle::new(data.clone());
            fast.rows_per_pass = rows;
            let fast = score(&mut fast, &graph, &groups);
            for ((group, f), n) in groups.iter().zip(&fast).zip(&naive) {
                let (f, n) = (f.as_ref().unwrap(), n.as_ref().unwrap());
                assert_eq!(f.len(), group.channels);
                for (c, (a, b)) in f.iter().zip(n).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-5 + 1e-4 * b.abs(),
                        "{name} '{}' channel {c}: fast {a} vs naive {b}",
                        group.name
                    );
                }
            }
            let total: f32 = fast.iter().flatten().flatten().sum();
            assert!(total > 0.0, "{name}: removing channels changes the loss");
        }
    }
}

#[test]
fn a_channel_that_never_fires_scores_lowest_on_data() {
    let mut graph = build("resnet20", [3, 16, 16]);
    // BN gamma 0 and beta -1: the channel is -1 before its ReLU and 0 after it, always.
    let bn = graph.node_by_name("layer1.0.bn1").unwrap();
    let Op::BatchNorm2d(b) = &mut graph.nodes[bn].op else {
        unreachable!()
    };
    b.gamma.data[3] = 0.0;
    b.beta.data[3] = -1.0;
    let deps = DependencyGraph::build(&graph).unwrap();
    let group = deps.group("layer1.0.conv1").unwrap();
    let options = common::options(&graph, 2);
    for criterion in Criterion::ALL.into_iter().filter(|c| c.needs_data()) {
        let mut importance = criterion.build(&options).unwrap();
        let scores = score(importance.as_mut(), &graph, &[group]);
        let s = scores[0].as_ref().unwrap();
        // Random weights leave other channels dead too, but not all of them.
        assert_eq!(s[3], 0.0, "{criterion}: {s:?}");
        assert!(s.iter().all(|&v| v >= 0.0), "{criterion}: {s:?}");
        assert!(s.iter().any(|&v| v > 0.0), "{criterion}: {s:?}");
    }
}

#[test]
fn sensitivity_sampling_repeats_with_its_seed() {
    let graph = build("resnet20", [3, 16, 16]);
    let deps = DependencyGraph::build(&graph).unwrap();
    let groups: Vec<&ChannelGroup> = deps.prunable().collect();
    let run = |seed| {
        let mut s = Criterion::SensitivitySampling
            .build(&common::options(&graph, seed))
            .unwrap();
        score(s.as_mut(), &graph, &groups)
    };
    assert_eq!(run(4), run(4));
}

#[test]
fn data_criteria_need_data() {
    let options = shears_prune::importance::CriterionOptions::new(Default::default(), 0);
    for criterion in Criterion::ALL {
        let built = criterion.build(&options);
        assert_eq!(built.is_err(), criterion.needs_data(), "{criterion}");
        if let Err(e) = built {
            assert!(e.to_string().contains("`CriterionOptions::data`"), "{e}");
        }
    }
}

#[test]
fn functional_pruning_removes_a_duplicated_filter_and_keeps_the_outputs() {
    use shears_prune::schedule::{Cut, apply};
    // Two setups: a conv reading the duplicate (lenet5's conv2, through ReLU and pooling)
    // and a linear layer reading flattened maps (lenet5-caffe's fc1, no ReLU in between).
    for (name, layer, copy, of) in [("lenet5", "conv1", 4, 1), ("lenet5-caffe", "conv2", 7, 2)] {
        let mut graph = build(name, [1, 28, 28]);
        let node = graph.node_by_name(layer).unwrap();
        let Op::Conv2d(c) = &mut graph.nodes[node].op else {
            unreachable!()
        };
        let per = c.weight.len() / c.weight.shape[0];
        let filter = c.weight.data[of * per..(of + 1) * per].to_vec();
        c.weight.data[copy * per..(copy + 1) * per].copy_from_slice(&filter);
        let bias = c.bias.as_mut().unwrap();
        bias.data[copy] = bias.data[of];
        let deps = DependencyGraph::build(&graph).unwrap();
        let group = deps.group(layer).unwrap();
        let mut functional = Criterion::Functional
            .build(&common::options(&graph, 2))
            .unwrap();
        let scores = score(functional.as_mut(), &graph, &[group]);
        let s = scores[0].as_ref().unwrap();
        // The pair is the most correlated: one of it goes first after any dead channel.
        let first = if s[copy] < s[of] { copy } else { of };
        assert_eq!(s[first], 1.0, "{name}: {s:?}");
        let cuts = [Cut {
            group: group.id,
            indices: vec![first],
        }];
        let folded = functional
            .compensate(&graph, deps.groups(), &cuts)
            .unwrap()
            .unwrap();
        let pruned = apply(&folded, deps.groups(), &cuts).unwrap();
        let x = common::random_input(&graph, 3, 5);
        let want = common::run(&graph, &x, 3);
        common::compare(&common::run(&pruned, &x, 3), &want).unwrap();
        // Without the fold, the removed copy's share is missing.
        let plain = apply(&graph, deps.groups(), &cuts).unwrap();
        assert!(
            common::compare(&common::run(&plain, &x, 3), &want).is_err(),
            "{name}"
        );
    }
}
