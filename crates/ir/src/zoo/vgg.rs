//! CIFAR-style VGG with batch norm: 3x3 conv–BN–ReLU stages, max pooling, global average pool
//! and one linear classifier (the Torch-Pruning / NNI CIFAR definition).
//!
//! On inputs smaller than 32x32 (Fashion-MNIST's 28x28) a pooling layer that would shrink the
//! map below 1x1 is left out.

use super::{ArchSpec, Init};
use crate::{Graph, GraphBuilder, Op, Pool2d};

/// A stage entry: output channels of a conv, or `0` for a 2x2 max pool.
pub const VGG11: &[usize] = &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0];
pub const VGG16: &[usize] = &[
    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
];

pub fn vgg(name: &str, cfg: &[usize], spec: &ArchSpec, init: &mut Init) -> Graph {
    let [mut channels, mut h, mut w] = spec.input_shape;
    let (mut b, mut x) = GraphBuilder::new(name, spec.input_shape.to_vec());
    for (i, &out) in cfg.iter().enumerate() {
        if out == 0 {
            if h >= 2 && w >= 2 {
                x = b.max_pool(&format!("features.{i}"), x, Pool2d::square(2, 2, 0));
                (h, w) = (h / 2, w / 2);
            }
            continue;
        }
        x = b.conv(
            &format!("features.{i}.conv"),
            x,
            init.conv(channels, out, 3, 1, 1),
        );
        x = b.bn(&format!("features.{i}.bn"), x, out);
        x = b.op(&format!("features.{i}.relu"), Op::Relu, &[x]);
        channels = out;
    }
    x = b.op("avgpool", Op::GlobalAvgPool, &[x]);
    x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    x = b.linear("classifier", x, init.linear(channels, spec.classes));
    b.finish(x)
}
