//! The engine's contract for planned cuts: for every built-in architecture (and an imported
//! RegNet, for grouped convs), every criterion and both scopes, pruning the channels a plan picks gives the outputs of the network in which they
//! were zeroed. Plus the loop end to end without data: targets, limits, checkpoints and errors.

mod common;

use proptest::test_runner::{Config, TestCaseError, TestRunner};
use shears_ir::Graph;
use shears_ir::zoo::{self, ArchSpec};
use shears_prune::importance::{Criterion, CriterionOptions, GroupScores, Reduction, ScoreContext};
use shears_prune::pruner::{PruneCheckpoint, PruneConfig, Pruner, QuietPruner, StopReason};
use shears_prune::schedule::{PlanConfig, Scope, Target};
use shears_prune::{ChannelGroup, DependencyGraph, PruneError};
use std::collections::BTreeMap;

const SHAPES: [(&str, [usize; 3]); 8] = [
    ("lenet5", [1, 28, 28]),
    ("vgg11", [3, 16, 16]),
    ("vgg16", [3, 16, 16]),
    ("resnet20", [3, 16, 16]),
    ("resnet32", [3, 16, 16]),
    ("resnet56", [3, 8, 8]),
    ("resnet110", [3, 8, 8]),
    ("mobilenetv2", [3, 16, 16]),
];

/// Every built-in, then the test zoo's RegNet (grouped convs with SE gates, from PyTorch).
fn graphs() -> Vec<(String, Graph)> {
    let mut graphs: Vec<(String, Graph)> = SHAPES
        .iter()
        .map(|&(name, shape)| (name.to_string(), build(name, shape)))
        .collect();
    let regnet = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../onnx/tests/zoo/regnet/model.onnx"
    );
    let mut graph = shears_onnx::load_file(regnet).unwrap();
    common::randomise_bn(&mut graph, 13);
    graphs.push(("regnet (onnx)".into(), graph));
    graphs
}

fn build(name: &str, input_shape: [usize; 3]) -> Graph {
    let spec = ArchSpec {
        input_shape,
        classes: 10,
        seed: 5,
    };
    let mut graph = zoo::build(name, &spec).unwrap();
    common::randomise_bn(&mut graph, 13);
    graph
}

/// Scores of `criterion` for every prunable group, indexed by group id.
fn scores(
    criterion: Criterion,
    graph: &Graph,
    groups: &[ChannelGroup],
    amount: f64,
) -> GroupScores {
    let mut importance = criterion.build(&common::options(graph, 3)).unwrap();
    let prunable: Vec<&ChannelGroup> = groups.iter().filter(|g| g.is_prunable()).collect();
    let ctx = ScoreContext::new(graph, amount);
    let mut all = vec![None; groups.len()];
    for (g, s) in prunable
        .iter()
        .zip(importance.score(&ctx, &prunable).unwrap())
    {
        if let Some(s) = &s {
            assert_eq!(s.len(), g.channels, "{criterion} on '{}'", g.name);
            assert!(
                s.iter().all(|v| v.is_finite()),
                "{criterion} on '{}'",
                g.name
            );
        }
        all[g.id] = s;
    }
    all
}

#[test]
fn planned_cuts_prune_like_they_mask_for_every_criterion_and_scope() {
    for (name, graph) in graphs() {
        let deps = DependencyGraph::build(&graph).unwrap();
        let groups = deps.groups();
        let input = common::random_input(&graph, 2, 7);
        let has_bn = graph
            .nodes
            .iter()
            .any(|n| matches!(n.op, shears_ir::Op::BatchNorm2d(_)));
        let runner_config = Config {
            cases: 2,
            failure_persistence: None,
            ..Config::default()
        };
        for criterion in Criterion::ALL {
            // Data-driven scores do not depend on the amount: score once (the oracle probes
            // thousands of channels of vgg16 one by one).
            let fixed = criterion
                .needs_data()
                .then(|| scores(criterion, &graph, groups, 0.5));
            for scope in [Scope::Local, Scope::Global] {
                let plan = PlanConfig {
                    scope,
                    ..PlanConfig::default()
                };
                TestRunner::new(runner_config.clone())
                    .run(&(0.05f64..0.8), |amount| {
                        let scores = match &fixed {
                            Some(s) => s.clone(),
                            None => scores(criterion, &graph, groups, amount),
                        };
                        let cuts = plan.plan(groups, &scores, &BTreeMap::new(), amount);
                        if cuts.is_empty() {
                            // Only bn-scale on a model without batch norm (lenet5, the
                            // RegNet exported with BN folded) rates nothing.
                            return if criterion == Criterion::BnScale && !has_bn {
                                Ok(())
                            } else {
                                Err(TestCaseError::fail(format!("no cut at {amount}")))
                            };
                        }
                        let cuts: Vec<_> = cuts
                            .iter()
                            .map(|c| (&groups[c.group], c.indices.clone()))
                            .collect();
                        common::prune_equals_mask(&graph, &cuts, &input, 2)
                            .map_err(TestCaseError::fail)
                    })
                    .unwrap_or_else(|e| panic!("{name}, {criterion}, {scope:?}: {e}"));
            }
        }
    }
}

fn pruner_config(target: Target, steps: usize, scope: Scope) -> PruneConfig {
    PruneConfig {
        target,
        steps,
        plan: PlanConfig {
            scope,
            ..PlanConfig::default()
        },
        ..PruneConfig::default()
    }
}

fn run(
    graph: &mut Graph,
    config: PruneConfig,
    criterion: Criterion,
    checkpoint: Option<std::path::PathBuf>,
    resume: Option<PruneCheckpoint>,
) -> Result<shears_prune::pruner::PruneRecord, PruneError> {
    let mut importance = criterion.build(&common::options(graph, 1))?;
    let mut pruner = Pruner {
        config,
        criterion: importance.as_mut(),
        data: None,
        device: Default::default(),
        checkpoint,
        model: "test".into(),
    };
    pruner.run(graph, resume, &mut QuietPruner)
}

#[test]
fn the_loop_reaches_mac_and_parameter_targets_without_data() {
    for (target, scope) in [
        (Target::Macs(0.5), Scope::Local),
        (Target::Macs(0.75), Scope::Global),
        (Target::Params(0.6), Scope::Local),
    ] {
        let mut graph = build("resnet20", [3, 16, 16]);
        let (params, macs) = (
            graph.param_count() as f64,
            graph.mac_count().unwrap() as f64,
        );
        let record = run(
            &mut graph,
            pruner_config(target, 3, scope),
            Criterion::L1,
            None,
            None,
        )
        .unwrap();
        assert_eq!(record.stopped, Some(StopReason::TargetReached));
        assert_eq!(record.steps.len(), 4);
        let left = match target {
            Target::Params(_) => graph.param_count() as f64 / params,
            _ => graph.mac_count().unwrap() as f64 / macs,
        };
        assert!(left <= 1.0 - target.fraction(), "{target}: {left} left");
        // The search takes the smallest plan that reaches each step's goal: not far beyond.
        assert!(
            left > 1.0 - target.fraction() - 0.1,
            "{target}: {left} left"
        );
        let removed: Vec<u64> = record.steps.iter().map(|s| s.macs).collect();
        assert!(removed.windows(2).all(|w| w[1] < w[0]), "{removed:?}");
        assert_eq!(record.kept().params, graph.param_count());
        graph.verify().unwrap();
    }
}

#[test]
fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
    let dir = std::env::temp_dir().join(format!("shears-prune-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ckpt = dir.join("run.ckpt");
    let config = pruner_config(Target::Macs(0.6), 3, Scope::Global);
    let mut straight = build("resnet20", [3, 16, 16]);
    let full = run(&mut straight, config.clone(), Criterion::Kmeans, None, None).unwrap();

    let mut interrupted = build("resnet20", [3, 16, 16]);
    let first = PruneConfig {
        max_steps: Some(1),
        ..config.clone()
    };
    let partial = run(
        &mut interrupted,
        first,
        Criterion::Kmeans,
        Some(ckpt.clone()),
        None,
    )
    .unwrap();
    assert_eq!(partial.stopped, Some(StopReason::MaxSteps));
    let state = PruneCheckpoint::load(&ckpt).unwrap();
    let mut resumed = build("resnet20", [3, 16, 16]);
    let record = run(
        &mut resumed,
        config.clone(),
        Criterion::Kmeans,
        None,
        Some(state.clone()),
    )
    .unwrap();
    assert_eq!(record.steps.len(), full.steps.len());
    assert_eq!(resumed, straight);

    let other = PruneConfig { steps: 4, ..config };
    let err = run(
        &mut build("resnet20", [3, 16, 16]),
        other,
        Criterion::Kmeans,
        None,
        Some(state),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("another run: steps was 3, now 4"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn user_errors_are_clear() {
    let mut graph = build("resnet20", [3, 16, 16]);
    let capped = PruneConfig {
        plan: PlanConfig {
            max_layer_ratio: 0.3,
            ..PlanConfig::default()
        },
        ..pruner_config(Target::Macs(0.8), 2, Scope::Local)
    };
    let err = run(&mut graph, capped, Criterion::L1, None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("impossible target: removing 80% of MACs is out of reach"),
        "{err}"
    );
    assert!(err.contains("`PlanConfig::max_layer_ratio`"), "{err}");

    let ignore = PruneConfig {
        plan: PlanConfig {
            ignore: vec!["layer4.*".into()],
            ..PlanConfig::default()
        },
        ..pruner_config(Target::Macs(0.5), 1, Scope::Local)
    };
    let err = run(&mut graph, ignore, Criterion::L1, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'layer4.*' matches no layer"), "{err}");

    let mut lenet = build("lenet5", [1, 28, 28]);
    let config = pruner_config(Target::Channels(0.5), 1, Scope::Local);
    let err = run(&mut lenet, config, Criterion::BnScale, None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bn-scale") && err.contains("rates none"),
        "{err}"
    );

    let finetune = PruneConfig {
        finetune: Some(Default::default()),
        ..pruner_config(Target::Macs(0.5), 1, Scope::Local)
    };
    let err = run(&mut graph, finetune, Criterion::L1, None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("`Pruner::data`"), "{err}");

    let err = run(
        &mut graph,
        pruner_config(Target::Macs(1.5), 1, Scope::Local),
        Criterion::L1,
        None,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("below 1"), "{err}");
}

#[test]
fn steps_with_nothing_to_cut_yet_do_not_end_the_run() {
    // round_to 16 leaves every group whole until the amount is large enough.
    let mut graph = build("resnet20", [3, 16, 16]);
    let config = PruneConfig {
        plan: PlanConfig {
            round_to: 16,
            ..PlanConfig::default()
        },
        ..pruner_config(Target::Channels(0.5), 4, Scope::Local)
    };
    let record = run(&mut graph, config, Criterion::L2, None, None).unwrap();
    assert_eq!(record.stopped, Some(StopReason::TargetReached));
    assert_eq!(record.steps[1].channels_removed, 0);
    assert!(record.steps[4].channels_removed > 0);
    let widths: Vec<usize> = record.kept().layers.iter().map(|l| l.channels).collect();
    assert!(
        widths[..widths.len() - 1]
            .iter()
            .all(|w| [16, 32].contains(w)),
        "{widths:?}"
    );
}

#[test]
fn kmeans_keeps_exactly_the_planned_number_of_representatives() {
    let graph = build("resnet20", [3, 16, 16]);
    let deps = DependencyGraph::build(&graph).unwrap();
    let group = deps
        .groups()
        .iter()
        .find(|g| g.is_prunable() && g.channels == 64)
        .unwrap();
    let mut planned = vec![0; deps.groups().len()];
    for removed in [1, 3, 21, 37, 63] {
        planned[group.id] = removed;
        let mut ctx = ScoreContext::new(&graph, 0.5);
        ctx.planned = Some(&planned);
        let mut kmeans = Criterion::Kmeans
            .build(&CriterionOptions::new(Reduction::Mean, 0))
            .unwrap();
        let scores = kmeans.score_group(&ctx, group).unwrap().unwrap();
        let representatives = scores.iter().filter(|&&s| s >= 1.0).count();
        assert_eq!(representatives, 64 - removed);
    }
}

#[test]
fn patterns_must_name_conv_or_linear_layers() {
    let mut graph = build("resnet20", [3, 16, 16]);
    let config = PruneConfig {
        plan: PlanConfig {
            ignore: vec!["layer1.0.bn1".into()],
            ..PlanConfig::default()
        },
        ..pruner_config(Target::Macs(0.5), 1, Scope::Local)
    };
    let err = run(&mut graph, config, Criterion::L1, None, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'layer1.0.bn1' matches no layer") && err.contains("conv and linear"),
        "{err}"
    );
}
