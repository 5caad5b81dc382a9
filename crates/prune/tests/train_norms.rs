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
use shears_runtime::train::{TrainConfig, TrainData};
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

/// Mean and variance of every channel of every bare convolution's output on `images` (eval
/// mode), by node.
fn conv_statistics(graph: &Graph, images: &[f32], n: usize) -> Vec<Vec<(f32, f32)>> {
    use shears_runtime::{Mode, Network, TapSpec, host_values};
    let convs = graph.convs_without_norm();
    let mut net = Network::new(graph, &burn::tensor::Device::flex()).unwrap();
    let x = net.batch(images.to_vec(), n, &[3, 16, 16]).unwrap();
    let spec = TapSpec {
        nodes: convs.clone(),
        gradients: false,
    };
    let (_, taps) = net.forward_tapped(x, Mode::Eval, &spec);
    (convs.iter())
        .map(|&node| {
            let values = host_values(taps.activation(node).unwrap().clone());
            let channels = net.output_shape(node)[0];
            let spatial = values.len() / n / channels;
            (0..channels)
                .map(|c| {
                    let v: Vec<f32> = (0..n)
                        .flat_map(|s| {
                            let start = (s * channels + c) * spatial;
                            values[start..start + spatial].to_vec()
                        })
                        .collect();
                    let mean = v.iter().sum::<f32>() / v.len() as f32;
                    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / v.len() as f32;
                    (mean, var)
                })
                .collect()
        })
        .collect()
}

#[test]
fn a_cut_channel_starts_fine_tuning_with_the_statistics_of_its_origin() {
    let graph = folded_resnet();
    let data = data(&graph);
    let n = data.train.len();
    let images: Vec<f32> = data
        .train
        .images
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect();
    let before = conv_statistics(&graph, &images, n);
    let mut pruned = graph.clone();
    // One full batch at a rate too small to move a weight: the model fine-tuning starts from.
    let config = PruneConfig {
        target: Target::Channels(0.5),
        finetune: Some(TrainConfig {
            max_batches: Some(1),
            weight_decay: 0.0,
            ..common::quick_recipe(1, n, 1e-12)
        }),
        ..PruneConfig::default()
    };
    common::prune_with(&mut pruned, config, Criterion::L1, &data).unwrap();
    let after = conv_statistics(&pruned, &images, n);
    let mut moved = 0;
    for (node, (channels, origins)) in after.iter().zip(&before).enumerate() {
        for (c, (mean, var)) in channels.iter().enumerate() {
            let close = |(m, v): &(f32, f32)| {
                (m - mean).abs() <= 1e-2 * v.sqrt().max(1e-3)
                    && (v - var).abs() <= 2e-2 * v.max(1e-3)
            };
            assert!(
                origins.iter().any(close),
                "conv {node} channel {c}: mean {mean}, var {var} match no channel of the uncut model"
            );
        }
        moved += usize::from(channels.len() < origins.len());
    }
    assert!(moved > 0, "the cut left every convolution whole");
}
