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
