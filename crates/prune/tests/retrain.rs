//! The retraining question: weight rewinding starts from the early model's weights at the
//! surviving positions, training from scratch from fresh ones with the masks kept, and a
//! replayed schedule runs the original rates from the rewind epoch on.

mod common;

use shears_data::Normalize;
use shears_ir::zoo::{self, ArchSpec};
use shears_ir::{Graph, Op};
use shears_prune::importance::Criterion;
use shears_prune::pruner::{PruneConfig, RetrainFrom};
use shears_prune::schedule::Target;
use shears_runtime::DeviceKind;
use shears_runtime::train::{LrSchedule, Quiet, ScheduleWindow, TrainConfig, TrainData, train};
use std::sync::Arc;

fn build() -> Graph {
    let spec = ArchSpec {
        input_shape: [3, 16, 16],
        classes: 4,
        seed: 2,
    };
    let mut graph = zoo::build("resnet20", &spec).unwrap();
    common::randomise_bn(&mut graph, 3);
    graph
}

fn data(graph: &Graph) -> TrainData {
    TrainData {
        train: Arc::new(common::random_dataset(graph, 16, 4, 1)),
        test: None,
        normalize: Normalize::unit(3),
        teacher: None,
    }
}

/// Half the channels by l1, one batch of retraining at a rate too small to move a weight.
fn prune(graph: &Graph, from: RetrainFrom) -> Graph {
    let config = PruneConfig {
        target: Target::Channels(0.5),
        retrain_from: from,
        finetune: Some(TrainConfig {
            max_batches: Some(1),
            weight_decay: 0.0,
            ..common::quick_recipe(1, 8, 1e-12)
        }),
        ..PruneConfig::default()
    };
    let (mut pruned, data) = (graph.clone(), data(graph));
    common::prune_with(&mut pruned, config, Criterion::L1, &data).unwrap();
    pruned
}

/// Every convolution and linear weight of `graph`, in graph order.
fn weights(graph: &Graph) -> Vec<f32> {
    (graph.nodes.iter())
        .flat_map(|n| match &n.op {
            Op::Conv2d(c) => c.weight.data.clone(),
            Op::Linear(l) => l.weight.data.clone(),
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn weight_rewinding_cuts_the_early_weights_where_the_trained_ones_are_cut() {
    let graph = build();
    // The "early" model: the same architecture, every weight doubled.
    let mut early = graph.clone();
    for node in &mut early.nodes {
        if let Op::Conv2d(shears_ir::Conv2d { weight, .. })
        | Op::Linear(shears_ir::Linear { weight, .. }) = &mut node.op
        {
            weight.data.iter_mut().for_each(|w| *w *= 2.0);
        }
    }
    let survivors = prune(&graph, RetrainFrom::Survivors);
    let rewound = prune(&graph, RetrainFrom::Rewound(Box::new(early)));
    let (s, r) = (weights(&survivors), weights(&rewound));
    assert_eq!(s.len(), r.len(), "the same channels are cut");
    for (i, (s, r)) in s.iter().zip(&r).enumerate() {
        assert!(
            (r - 2.0 * s).abs() <= 1e-5 * s.abs().max(1.0),
            "weight {i}: {r} against 2 x {s}"
        );
    }
}

#[test]
fn rewinding_to_another_architecture_is_refused() {
    let graph = build();
    let other = zoo::build(
        "resnet20",
        &ArchSpec {
            input_shape: [3, 16, 16],
            classes: 5,
            seed: 2,
        },
    )
    .unwrap();
    let config = PruneConfig {
        retrain_from: RetrainFrom::Rewound(Box::new(other)),
        finetune: Some(TrainConfig::default()),
        ..PruneConfig::default()
    };
    let err =
        common::prune_with(&mut graph.clone(), config, Criterion::L1, &data(&graph)).unwrap_err();
    assert!(err.to_string().contains("same training"), "{err}");
}

#[test]
fn training_from_scratch_draws_fresh_weights_and_keeps_the_masks() {
    let mut graph = build();
    let Op::Conv2d(conv) = &mut graph.nodes[1].op else {
        panic!("the first node after the input is a convolution");
    };
    let mask: Vec<bool> = (0..conv.weight.data.len()).map(|i| i % 3 != 0).collect();
    conv.weight
        .data
        .iter_mut()
        .zip(&mask)
        .for_each(|(w, &m)| *w *= m as u8 as f32);
    conv.weight.mask = Some(mask.clone());
    let fresh = graph.reinitialised(9);
    assert_eq!(fresh.nodes.len(), graph.nodes.len());
    let Op::Conv2d(c) = &fresh.nodes[1].op else {
        unreachable!()
    };
    assert_eq!(c.weight.mask.as_ref(), Some(&mask));
    for (w, m) in c.weight.data.iter().zip(&mask) {
        assert!(*m || *w == 0.0, "a masked weight was drawn");
    }
    let kept: Vec<f32> = (c.weight.data.iter().zip(&mask))
        .filter(|(_, m)| **m)
        .map(|(w, _)| *w)
        .collect();
    assert!(kept.iter().all(|w| *w != 0.0));
    assert_ne!(weights(&fresh), weights(&graph));
    for node in &fresh.nodes {
        if let Op::BatchNorm2d(bn) = &node.op {
            assert!(
                bn.gamma.data.iter().all(|g| *g == 1.0) && bn.mean.data.iter().all(|m| *m == 0.0)
            );
        }
    }
    assert_eq!(graph.reinitialised(9), fresh, "seeded");
}

#[test]
fn a_replayed_schedule_runs_the_original_rates_from_the_rewind_epoch() {
    let mut graph = build();
    let data = data(&graph);
    let (batches, base) = (2, 0.1);
    let config = TrainConfig {
        epochs: 2,
        batch_size: 8,
        lr: base,
        schedule: LrSchedule::Cosine,
        schedule_window: Some(ScheduleWindow {
            first_epoch: 3,
            total_epochs: 5,
        }),
        crop_padding: 0,
        horizontal_flip: false,
        ..TrainConfig::default()
    };
    let history = train(
        &mut graph,
        &data,
        &config,
        DeviceKind::Flex,
        None,
        &mut Quiet,
    )
    .unwrap();
    for (e, report) in history.iter().enumerate() {
        // The last batch of epoch 3 + e of a 5-epoch cosine schedule.
        let iter = (3 + e) * batches + batches - 1;
        let want = LrSchedule::Cosine.lr(base, iter, 5 * batches, batches);
        assert!(
            (report.lr - want).abs() < 1e-12,
            "epoch {e}: lr {} against {want}",
            report.lr
        );
    }
}
