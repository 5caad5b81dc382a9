//! Eval-mode inference one image at a time (the pipeline) gives what the layer-by-layer path
//! gives, on every built-in architecture it runs, on grayscale and colour inputs, and after
//! the parameters change; a tapped pass keeps the layer path, which is the reference.

use burn::tensor::{Device, Distribution, Tensor};
use shears_ir::zoo::{self, ArchSpec};
use shears_runtime::{Mode, Network, TapSpec, host_values};

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
            "{what}: {g} vs {w}"
        );
    }
}

/// The logits of `x` through the pipeline and through the layers (a tap on the input).
fn both(net: &mut Network, x: &Tensor<4>) -> (Vec<f32>, Vec<f32>) {
    let piped = host_values(net.forward(x.clone(), Mode::Eval));
    let spec = TapSpec {
        nodes: vec![0],
        gradients: false,
    };
    let layers = host_values(net.forward_tapped(x.clone(), Mode::Eval, &spec).0);
    (piped, layers)
}

#[test]
fn pipeline_matches_the_layers_on_the_built_ins() {
    let device = Device::flex();
    let mut pipelined = Vec::new();
    for name in zoo::NAMES {
        for input_shape in [[1, 28, 28], [3, 16, 16]] {
            let spec = ArchSpec {
                input_shape,
                classes: 10,
                seed: 2,
            };
            let graph = zoo::build(name, &spec).unwrap().fold_batch_norms();
            let mut net = Network::new(&graph, &device).unwrap();
            if net.pipelined() {
                pipelined.push(*name);
            }
            let x = Tensor::<4>::random(net.input_dims(3), Distribution::Normal(0.0, 1.0), &device);
            let (piped, layers) = both(&mut net, &x);
            close(&piped, &layers, name);
        }
    }
    // The residual networks are what the pipeline is for.
    for name in ["resnet20", "resnet32", "resnet56", "resnet110"] {
        assert!(pipelined.contains(&name), "{name} runs layer by layer");
    }
}

#[test]
fn pipeline_reads_parameters_set_after_its_first_run() {
    let device = Device::flex();
    let spec = ArchSpec {
        input_shape: [1, 12, 12],
        classes: 4,
        seed: 5,
    };
    let graph = zoo::build("resnet20", &spec).unwrap().fold_batch_norms();
    let mut net = Network::new(&graph, &device).unwrap();
    assert!(net.pipelined());
    let x = Tensor::<4>::random(net.input_dims(2), Distribution::Normal(0.0, 1.0), &device);
    let before = host_values(net.forward(x.clone(), Mode::Eval));
    let doubled = net.params().iter().map(|p| p.clone() * 2.0).collect();
    net.set_params(doubled);
    let (piped, layers) = both(&mut net, &x);
    close(&piped, &layers, "after set_params");
    assert!(piped.iter().zip(&before).any(|(a, b)| (a - b).abs() > 1e-3));
}

/// The suffix of resnet20 from after `layer1.0.conv2`, with that convolution's share of some
/// input channels withdrawn and the inputs of two later convolutions masked, per row, against
/// the whole network with those input channels' weights scaled by the same factors.
#[test]
fn a_suffix_with_masks_matches_the_network_with_scaled_weights() {
    let device = Device::flex();
    let spec = ArchSpec {
        input_shape: [3, 16, 16],
        classes: 10,
        seed: 4,
    };
    let graph = zoo::build("resnet20", &spec).unwrap().fold_batch_norms();
    let node = |name: &str| graph.node_by_name(name).unwrap();
    let unshared = node("layer1.0.conv2");
    let masked = [node("layer1.1.conv1"), node("layer2.0.conv1")];
    let mut net = Network::new(&graph, &device).unwrap();
    let suffix = net
        .suffix(unshared + 1, &masked, Some(unshared))
        .expect("resnet20's suffix runs on the pipeline");
    assert_eq!(suffix.factor_nodes(), [unshared, masked[0], masked[1]]);
    let (samples, variants) = (3, 4);
    let x = Tensor::<4>::random(
        net.input_dims(samples),
        Distribution::Normal(0.0, 1.0),
        &device,
    );
    let keep = [graph.nodes[unshared].inputs[0].node];
    let prefix = net.forward_prefix(x.clone(), unshared + 1, &keep);
    // Per variant and node, a factor per input channel: variant v removes channels v and
    // 2v + 1 and halves channel 5.
    let factor = |v: usize, c: usize| match c {
        c if c == v || c == 2 * v + 1 => 0.0,
        5 => 0.5,
        _ => 1.0,
    };
    let widths = suffix.factor_widths().to_vec();
    let arrays: Vec<Vec<f32>> = widths
        .iter()
        .map(|w| {
            let rows = (0..variants).flat_map(|v| (0..samples).map(move |_| v));
            rows.flat_map(|v| (0..*w).map(move |c| factor(v, c)))
                .collect()
        })
        .collect();
    let factors: Vec<&[f32]> = arrays.iter().map(Vec::as_slice).collect();
    let got = net.run_suffix(&suffix, &prefix, &factors, variants * samples);
    for v in 0..variants {
        let mut scaled = graph.clone();
        for (&n, &width) in suffix.factor_nodes().iter().zip(&widths) {
            let shears_ir::Op::Conv2d(conv) = &mut scaled.nodes[n].op else {
                unreachable!("convolutions")
            };
            let area = conv.weight.data.len() / conv.weight.shape[0] / width;
            for (i, w) in conv.weight.data.iter_mut().enumerate() {
                *w *= factor(v, i / area % width);
            }
        }
        let mut reference = Network::new(&scaled, &device).unwrap();
        let want = host_values(reference.forward(x.clone(), Mode::Eval));
        let rows = &got[v * samples * 10..][..samples * 10];
        close(rows, &want, &format!("variant {v}"));
    }
}
