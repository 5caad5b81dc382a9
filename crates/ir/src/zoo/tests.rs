//! Parameter counts against the PyTorch definitions, and structural checks of every built-in.
//!
//! Expected counts: `sum(p.numel() for p in model.parameters())` of the reference PyTorch
//! models (see `scripts/reference_counts.py`), at 3x32x32 with 10 classes.

use super::*;

fn params(name: &str) -> usize {
    build(name, &ArchSpec::default()).unwrap().param_count()
}

#[test]
fn resnet_param_counts_match_pytorch() {
    assert_eq!(params("resnet20"), 272_474);
    assert_eq!(params("resnet32"), 466_906);
    assert_eq!(params("resnet56"), 855_770);
    assert_eq!(params("resnet110"), 1_730_714);
}

#[test]
fn vgg_and_lenet_param_counts_match_pytorch() {
    assert_eq!(params("vgg11"), 9_228_362);
    assert_eq!(params("vgg16"), 14_724_042);
    assert_eq!(params("lenet5"), 83_126);
    let fashion = ArchSpec {
        input_shape: [1, 28, 28],
        ..ArchSpec::default()
    };
    assert_eq!(build("lenet5", &fashion).unwrap().param_count(), 61_706);
    // Han et al.'s "431K" LeNet-5 (Caffe's, on MNIST).
    let caffe = build("lenet5-caffe", &fashion).unwrap();
    assert_eq!(caffe.param_count(), 431_080);
}

#[test]
fn resnet20_macs_match_a_hand_count() {
    // out_channels * out_h * out_w * in_channels * k * k, layer by layer at 3x32x32.
    let stem = 16 * 32 * 32 * 3 * 9;
    let stage1 = 6 * (16 * 32 * 32 * 16 * 9);
    let stage2 = 32 * 16 * 16 * 16 * 9 + 5 * (32 * 16 * 16 * 32 * 9) + 32 * 16 * 16 * 16;
    let stage3 = 64 * 8 * 8 * 32 * 9 + 5 * (64 * 8 * 8 * 64 * 9) + 64 * 8 * 8 * 32;
    let fc = 64 * 10;
    let g = build("resnet20", &ArchSpec::default()).unwrap();
    assert_eq!(
        g.mac_count().unwrap(),
        (stem + stage1 + stage2 + stage3 + fc) as u64
    );
    assert_eq!(g.mac_count().unwrap(), 40_813_184);
}

#[test]
fn mobilenetv2_param_count_matches_torchvision() {
    // torchvision.models.mobilenet_v2(num_classes=10)
    assert_eq!(params("mobilenetv2"), 2_236_682);
}

#[test]
fn every_builtin_verifies_on_cifar_and_fashion_mnist_shapes() {
    for name in NAMES {
        for (shape, classes) in [([3, 32, 32], 10), ([1, 28, 28], 10), ([3, 64, 64], 100)] {
            let g = build(
                name,
                &ArchSpec {
                    input_shape: shape,
                    classes,
                    seed: 1,
                },
            )
            .unwrap();
            g.verify()
                .unwrap_or_else(|e| panic!("{name} at {shape:?}: {e}"));
            let out = &g.infer_shapes().unwrap()[g.outputs[0].node][0];
            assert_eq!(out, &vec![classes], "{name}");
        }
    }
}

#[test]
fn init_is_seeded() {
    let spec = ArchSpec::default();
    assert_eq!(build("resnet20", &spec), build("resnet20", &spec));
    let other = ArchSpec {
        seed: 7,
        ..spec.clone()
    };
    assert_ne!(build("resnet20", &spec), build("resnet20", &other));
}

#[test]
fn unknown_name_is_none() {
    assert!(build("resnet21", &ArchSpec::default()).is_none());
}

#[test]
fn zero_strides_and_kernels_are_errors_not_panics() {
    let mut g = build("resnet20", &ArchSpec::default()).unwrap();
    let conv = g.node_by_name("conv1").unwrap();
    if let crate::Op::Conv2d(c) = &mut g.nodes[conv].op {
        c.stride = [0, 1];
    }
    assert!(g.verify().unwrap_err().to_string().contains("conv1"));
    let mut g = build("lenet5", &ArchSpec::default()).unwrap();
    let pool = g.node_by_name("pool1").unwrap();
    if let crate::Op::MaxPool2d(p) = &mut g.nodes[pool].op {
        p.kernel = [0, 2];
    }
    assert!(g.verify().unwrap_err().to_string().contains("pool1"));
}

#[test]
fn verify_rejects_empty_or_misfilled_arrays_and_bad_dropout() {
    let mut g = build("lenet5", &ArchSpec::default()).unwrap();
    let fc = g.node_by_name("fc1").unwrap();
    if let crate::Op::Linear(l) = &mut g.nodes[fc].op {
        l.weight.data.pop();
    }
    assert!(g.verify().unwrap_err().to_string().contains("fc1"));
    let mut g = build("mobilenetv2", &ArchSpec::default()).unwrap();
    let dropout = g.node_by_name("classifier.0").unwrap();
    g.nodes[dropout].op = crate::Op::Dropout { ratio: 1.0 };
    assert!(g.verify().unwrap_err().to_string().contains("[0, 1)"));
}

#[test]
fn depthwise_init_follows_pytorch_fan_out() {
    // kaiming_normal_(mode="fan_out") uses weight.size(0) * kh * kw even for depthwise convs.
    let g = build("mobilenetv2", &ArchSpec::default()).unwrap();
    let dw = g.node_by_name("features.17.conv.1.0").unwrap();
    let crate::Op::Conv2d(c) = &g.nodes[dw].op else {
        panic!()
    };
    assert_eq!(c.groups, 960);
    let var = c.weight.data.iter().map(|v| v * v).sum::<f32>() / c.weight.len() as f32;
    let expected = 2.0 / (960.0 * 9.0);
    assert!(
        (var / expected - 1.0).abs() < 0.1,
        "variance {var} vs {expected}"
    );
}
