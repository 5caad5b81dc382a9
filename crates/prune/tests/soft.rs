//! Pruning while training: a soft-pruned channel keeps training while it is zeroed and goes at
//! the end; GHFP freezes the share of zeroed channels its schedule says, epoch by epoch.

mod common;

use shears_data::Normalize;
use shears_ir::Graph;
use shears_ir::zoo::{self, ArchSpec};
use shears_prune::importance::Criterion;
use shears_prune::pruner::{Hardening, PruneConfig, PruneMode, PruneRecord};
use shears_prune::schedule::Target;
use shears_runtime::train::TrainData;
use std::sync::Arc;

const EPOCHS: usize = 4;

fn build(name: &str, input_shape: [usize; 3]) -> Graph {
    let spec = ArchSpec {
        input_shape,
        classes: 4,
        seed: 2,
    };
    zoo::build(name, &spec).unwrap()
}

/// Prunes half of every group of `graph` in `mode` over [`EPOCHS`] epochs of a few batches.
fn soft_run(graph: &mut Graph, mode: PruneMode) -> PruneRecord {
    let data = TrainData {
        train: Arc::new(common::random_dataset(graph, 24, 4, 1)),
        test: Some(Arc::new(common::random_dataset(graph, 8, 4, 2))),
        normalize: Normalize::unit(graph.input_shape().unwrap()[0]),
        teacher: None,
    };
    let config = PruneConfig {
        target: Target::Channels(0.5),
        mode,
        finetune: Some(common::quick_recipe(EPOCHS, 8, 0.05)),
        ..PruneConfig::default()
    };
    common::prune_with(graph, config, Criterion::L2, &data).unwrap()
}

/// Channels each group loses, from the widths before and after.
fn cut_per_group(record: &PruneRecord) -> Vec<usize> {
    let (before, after) = (&record.steps[0].layers, &record.steps[1].layers);
    before
        .iter()
        .zip(after)
        .map(|(b, a)| b.channels - a.channels)
        .collect()
}

#[test]
fn soft_pruned_channels_keep_training_while_zeroed_and_go_at_the_end() {
    // Behind batch norm, a zeroed filter still gets gradients, as long as the norm's shift
    // lets them through the ReLU (a fresh model's shifts are all exactly 0; trained ones
    // rarely are).
    let mut graph = build("resnet20", [3, 16, 16]);
    for node in &mut graph.nodes {
        if let shears_ir::Op::BatchNorm2d(bn) = &mut node.op {
            bn.beta.data.fill(0.1);
        }
    }
    let channels = |g: &Graph| -> usize { g.infer_shapes().unwrap().iter().map(|s| s[0][0]).sum() };
    let before = channels(&graph);
    let record = soft_run(&mut graph, PruneMode::Soft { hardening: None });
    let soft = &record.steps[1].soft;
    assert_eq!(
        soft.len(),
        EPOCHS + 1,
        "once before training, then after every epoch"
    );
    let zeroed = soft[0].zeroed;
    assert!(zeroed > 0);
    for selection in soft {
        assert_eq!((selection.zeroed, selection.frozen), (zeroed, 0));
    }
    // Every zeroed filter trained on: all of them are non-zero an epoch later.
    for selection in &soft[1..] {
        assert_eq!(selection.revived, zeroed, "{selection:?}");
    }
    assert_eq!(record.steps[1].channels_removed, zeroed);
    assert!(channels(&graph) < before);
    assert_eq!(graph.kept_param_count(), record.steps[1].params);
}

#[test]
fn gradually_hard_pruning_freezes_the_scheduled_share() {
    for hardening in [Hardening::Linear, Hardening::Cosine] {
        let mut graph = build("lenet5", [1, 28, 28]);
        let record = soft_run(
            &mut graph,
            PruneMode::Soft {
                hardening: Some(hardening),
            },
        );
        let cuts = cut_per_group(&record);
        let soft = &record.steps[1].soft;
        assert_eq!(
            soft[0].frozen, 0,
            "nothing is frozen before the first epoch"
        );
        for (e, selection) in soft[1..].iter().enumerate() {
            let share = hardening.share(e, EPOCHS);
            let frozen: usize = cuts
                .iter()
                .map(|&n| (share * n as f64).round() as usize)
                .sum();
            assert_eq!(selection.frozen, frozen, "{hardening} after epoch {e}");
            // What was frozen stayed at zero; only the soft ones trained back.
            let was_soft = soft[e].zeroed - soft[e].frozen;
            assert!(selection.revived <= was_soft, "{selection:?}");
        }
        assert_eq!(soft[EPOCHS].frozen, soft[EPOCHS].zeroed, "hard at the end");
    }
}
