//! ReLUs fused into the kernel of the layer they read (conv + ReLU, training batch norm + ReLU,
//! residual add + ReLU) give exactly what the separate ops give: tapping a ReLU keeps it a separate op, so a tapped
//! and an untapped pass of one network compare the two.

use burn::tensor::{Device, Tensor, TensorData};
use shears_ir::zoo::Init;
use shears_ir::{Graph, GraphBuilder, Op};
use shears_runtime::{Mode, Network, TapSpec, host_values};

/// conv -> ReLU; conv -> BN -> ReLU; conv -> BN -> add -> ReLU (a residual);
/// pooling and a classifier.
fn net(seed: u64) -> Graph {
    let mut init = Init::new(seed);
    let (mut b, x) = GraphBuilder::new("fused", vec![3, 9, 8]);
    let x = b.conv("conv_a", x, init.conv(3, 8, 3, 1, 1));
    let a = b.op("relu_a", Op::Relu, &[x]);
    let x = b.conv("conv_b", a, init.conv(8, 8, 3, 1, 1));
    let x = b.bn("bn_b", x, 8);
    let x = b.op("relu_b", Op::Relu, &[x]);
    let x = b.conv("conv_c", x, init.conv(8, 8, 3, 1, 1));
    let x = b.bn("bn_c", x, 8);
    let x = b.op("add", Op::Add, &[x, a]);
    let x = b.op("relu_c", Op::Relu, &[x]);
    let x = b.op("pool", Op::GlobalAvgPool, &[x]);
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let x = b.linear("fc", x, init.linear(8, 5));
    b.finish(x)
}

fn input(device: &Device) -> Tensor<4> {
    let values = (0..4 * 3 * 9 * 8)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect::<Vec<_>>();
    Tensor::from_data(TensorData::new(values, [4, 3, 9, 8]), device)
}

/// Taps on every ReLU, which keeps each a separate op.
fn unfused(graph: &Graph) -> TapSpec {
    TapSpec {
        nodes: ["relu_a", "relu_b", "relu_c"]
            .iter()
            .map(|n| graph.node_by_name(n).unwrap())
            .collect(),
        gradients: false,
    }
}

/// Output, every parameter's gradient of a weighted sum of the outputs, and the BN
/// statistics after one training pass.
fn train_pass(graph: &Graph, spec: &TapSpec) -> (Vec<f32>, Vec<Vec<f32>>, Graph) {
    let device = Device::flex().autodiff();
    let mut net = Network::new(graph, &device).unwrap();
    let (out, _) = net.forward_tapped(input(&device), Mode::Train, spec);
    let weights = Tensor::<2>::from_data(
        TensorData::new((0..20).map(|i| i as f32 - 9.5).collect::<Vec<_>>(), [4, 5]),
        &device,
    );
    let grads = (out.clone() * weights).sum().backward();
    let mut after = graph.clone();
    net.write_back(&mut after);
    (host_values(out), net.gradients(&grads), after)
}

#[test]
fn fused_relus_train_exactly_like_separate_ones() {
    let graph = net(3);
    let (out, grads, stats) = train_pass(&graph, &TapSpec::default());
    let (want_out, want_grads, want_stats) = train_pass(&graph, &unfused(&graph));
    assert_eq!(out, want_out);
    assert_eq!(grads, want_grads);
    assert!(grads.iter().flatten().any(|g| *g != 0.0));
    assert_eq!(stats, want_stats, "running statistics");
}

#[test]
fn fused_relus_evaluate_exactly_like_separate_ones() {
    let graph = net(4);
    let device = Device::flex();
    let mut net = Network::new(&graph, &device).unwrap();
    let (out, _) = net.forward_tapped(input(&device), Mode::Eval, &TapSpec::default());
    let (want, _) = net.forward_tapped(input(&device), Mode::Eval, &unfused(&graph));
    assert_eq!(host_values(out), host_values(want));
}
