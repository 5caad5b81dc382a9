//! MobileNetV2 (Sandler et al. 2018) as torchvision defines it, CIFAR-style: the stem and the
//! second stage keep stride 1, so a 32x32 input ends at 4x4 instead of 1x1.

use super::{ArchSpec, Init};
use crate::{Graph, GraphBuilder, Op, OutletId};

/// (expansion t, output channels c, repeats n, first stride s), CIFAR strides.
const STAGES: [(usize, usize, usize, usize); 7] = [
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
];

pub fn mobilenetv2(spec: &ArchSpec, init: &mut Init) -> Graph {
    let (mut b, x) = GraphBuilder::new("mobilenetv2", spec.input_shape.to_vec());
    let mut x = conv_bn_relu6(
        &mut b,
        init,
        "features.0",
        x,
        spec.input_shape[0],
        32,
        3,
        1,
        1,
    );
    let mut channels = 32;
    let mut index = 1;
    for (t, c, n, s) in STAGES {
        for i in 0..n {
            let stride = if i == 0 { s } else { 1 };
            x = inverted_residual(
                &mut b,
                init,
                &format!("features.{index}"),
                x,
                channels,
                c,
                stride,
                t,
            );
            channels = c;
            index += 1;
        }
    }
    x = conv_bn_relu6(
        &mut b,
        init,
        &format!("features.{index}"),
        x,
        channels,
        1280,
        1,
        1,
        1,
    );
    x = b.op("avgpool", Op::GlobalAvgPool, &[x]);
    x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    x = b.op("classifier.0", Op::Dropout { ratio: 0.2 }, &[x]);
    x = b.linear("classifier.1", x, init.linear(1280, spec.classes));
    b.finish(x)
}

#[allow(clippy::too_many_arguments)]
fn conv_bn_relu6(
    b: &mut GraphBuilder,
    init: &mut Init,
    prefix: &str,
    x: OutletId,
    in_ch: usize,
    out_ch: usize,
    k: usize,
    stride: usize,
    groups: usize,
) -> OutletId {
    let x = b.conv(
        &format!("{prefix}.0"),
        x,
        init.conv(in_ch, out_ch, k, stride, groups),
    );
    let x = b.bn(&format!("{prefix}.1"), x, out_ch);
    b.op(
        &format!("{prefix}.2"),
        Op::Clip { min: 0.0, max: 6.0 },
        &[x],
    )
}

#[allow(clippy::too_many_arguments)]
fn inverted_residual(
    b: &mut GraphBuilder,
    init: &mut Init,
    prefix: &str,
    input: OutletId,
    in_ch: usize,
    out_ch: usize,
    stride: usize,
    expansion: usize,
) -> OutletId {
    let hidden = in_ch * expansion;
    let mut x = input;
    let mut layer = 0;
    if expansion != 1 {
        x = conv_bn_relu6(
            b,
            init,
            &format!("{prefix}.conv.{layer}"),
            x,
            in_ch,
            hidden,
            1,
            1,
            1,
        );
        layer += 1;
    }
    x = conv_bn_relu6(
        b,
        init,
        &format!("{prefix}.conv.{layer}"),
        x,
        hidden,
        hidden,
        3,
        stride,
        hidden,
    );
    x = b.conv(
        &format!("{prefix}.conv.{}", layer + 1),
        x,
        init.conv(hidden, out_ch, 1, 1, 1),
    );
    x = b.bn(&format!("{prefix}.conv.{}", layer + 2), x, out_ch);
    if stride == 1 && in_ch == out_ch {
        x = b.op(&format!("{prefix}.add"), Op::Add, &[input, x]);
    }
    x
}
