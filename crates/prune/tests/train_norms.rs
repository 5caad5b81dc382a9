//! Training-time batch norms for BN-folded models: added after every bare convolution, they
//! start as the identity on the data and fold back into the convolutions exactly; fine-tuning
//! through them returns a model of the structure that came in.

mod common;

use shears_data::Normalize;
use shears_ir::zoo::{self, ArchSpec};
use shears_ir::{Graph, Op};
use shears_prune::importance::Criterion;
use shears_prune::pruner::{PruneConfig, add_training_norms};
use shears_prune::schedule::Target;
use shears_runtime::DeviceKind;
use shears_runtime::train::TrainData;
use std::sync::Arc;

/// ResNet-20 with random BNs folded into its convolutions, as PyTorch's exporter writes it.
fn folded_resnet() -> Graph {
    let spec = ArchSpec {
        input_shape: [3, 16, 16],
        classes: 4,
        seed: 3,
    };
    let mut graph = zoo::build("resnet20", &spec).unwrap();
    common::randomise_bn(&mut graph, 4);
    graph.fold_batch_norms()
}

fn data(graph: &Graph) -> TrainData {
    TrainData {
        train: Arc::new(common::random_dataset(graph, 48, 4, 1)),
        test: Some(Arc::new(common::random_dataset(graph, 8, 4, 2))),
        normalize: Normalize::unit(3),
        teacher: None,
    }
}

fn count_norms(graph: &Graph) -> usize {
    (graph.nodes.iter())
        .filter(|n| matches!(n.op, Op::BatchNorm2d(_)))
        .count()
}

#[test]
fn added_norms_start_as_the_identity_and_fold_back_exactly() {
    let graph = folded_resnet();
    let convs = graph.convs_without_norm();
    let all_convs = (graph.nodes.iter())
        .filter(|n| matches!(n.op, Op::Conv2d(_)))
        .count();
    assert_eq!(convs.len(), all_convs, "every folded convolution is bare");
    let (mut normalised, added) = add_training_norms(&graph, &data(&graph), DeviceKind::Flex)
        .unwrap()
        .expect("norms to add");
    assert_eq!(count_norms(&normalised), all_convs);
    let input = common::random_input(&graph, 5, 7);
    let want = common::run(&graph, &input, 5);
    common::compare(&common::run(&normalised, &input, 5), &want).unwrap();

    // As training leaves them: arbitrary scales, shifts and statistics.
    common::randomise_bn(&mut normalised, 8);
    let back = added.fold_back(&graph, &normalised);
    assert_eq!(back.nodes.len(), graph.nodes.len());
    assert_eq!(count_norms(&back), 0);
    for (b, g) in back.nodes.iter().zip(&graph.nodes) {
        assert_eq!((&b.name, &b.inputs), (&g.name, &g.inputs));
    }
    let trained = common::run(&normalised, &input, 5);
    common::compare(&common::run(&back, &input, 5), &trained).unwrap();
    assert!(common::compare(&trained, &want).is_err(), "the BNs changed");
}

/// Prunes half of every group of `graph` and fine-tunes two epochs, with or without
/// training norms.
fn prune(graph: &mut Graph, train_bn: bool) {
    let config = PruneConfig {
        target: Target::Channels(0.5),
        train_bn,
        finetune: Some(common::quick_recipe(2, 8, 0.05)),
        ..PruneConfig::default()
    };
    common::prune_with(graph, config, Criterion::L1, &data(graph)).unwrap();
}

#[test]
fn fine_tuning_through_training_norms_keeps_the_structure() {
    let (mut with, mut without) = (folded_resnet(), folded_resnet());
    prune(&mut with, true);
    prune(&mut without, false);
    assert_eq!(count_norms(&with), 0);
    let names = |g: &Graph| g.nodes.iter().map(|n| n.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&with), names(&without));
    assert_eq!(with.kept_param_count(), without.kept_param_count());
    assert_ne!(with, without, "the norms changed how it trained");
}
