//! CIFAR ResNets (He et al. 2016, section 4.2): a 3x3 stem of 16 channels, three stages of
//! `n` basic blocks with 16, 32 and 64 channels, and a 1x1 conv + BN projection shortcut where
//! a block changes shape (option B). resnet20/32/56/110 have n = 3/5/9/18.

use super::{ArchSpec, Init};
use crate::{Graph, GraphBuilder, Op, OutletId};

pub fn cifar_resnet(
    name: &str,
    blocks_per_stage: usize,
    spec: &ArchSpec,
    init: &mut Init,
) -> Graph {
    let (mut b, x) = GraphBuilder::new(name, spec.input_shape.to_vec());
    let x = b.conv("conv1", x, init.conv(spec.input_shape[0], 16, 3, 1, 1));
    let x = b.bn("bn1", x, 16);
    let mut x = b.op("relu", Op::Relu, &[x]);
    let mut channels = 16;
    for (stage, width) in [16, 32, 64].into_iter().enumerate() {
        for block in 0..blocks_per_stage {
            let stride = if stage > 0 && block == 0 { 2 } else { 1 };
            let prefix = format!("layer{}.{block}", stage + 1);
            x = basic_block(&mut b, init, &prefix, x, channels, width, stride);
            channels = width;
        }
    }
    let x = b.op("avgpool", Op::GlobalAvgPool, &[x]);
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let x = b.linear("fc", x, init.linear(channels, spec.classes));
    b.finish(x)
}

fn basic_block(
    b: &mut GraphBuilder,
    init: &mut Init,
    prefix: &str,
    input: OutletId,
    in_ch: usize,
    out_ch: usize,
    stride: usize,
) -> OutletId {
    let x = b.conv(
        &format!("{prefix}.conv1"),
        input,
        init.conv(in_ch, out_ch, 3, stride, 1),
    );
    let x = b.bn(&format!("{prefix}.bn1"), x, out_ch);
    let x = b.op(&format!("{prefix}.relu1"), Op::Relu, &[x]);
    let x = b.conv(
        &format!("{prefix}.conv2"),
        x,
        init.conv(out_ch, out_ch, 3, 1, 1),
    );
    let x = b.bn(&format!("{prefix}.bn2"), x, out_ch);
    let shortcut = if stride != 1 || in_ch != out_ch {
        let s = b.conv(
            &format!("{prefix}.shortcut.0"),
            input,
            init.conv(in_ch, out_ch, 1, stride, 1),
        );
        b.bn(&format!("{prefix}.shortcut.1"), s, out_ch)
    } else {
        input
    };
    let x = b.op(&format!("{prefix}.add"), Op::Add, &[x, shortcut]);
    b.op(&format!("{prefix}.relu2"), Op::Relu, &[x])
}
