//! LeNet-5 in its common modern form (ReLU and max pooling, first conv padded by 2), Caffe's
//! LeNet-5 (20 and 50 filters, a 500-unit hidden layer: the 431K-weight model Han et al. 2015
//! prune to 1/12), and LeNet-300-100, the fully connected network of LeCun et al. 1998 that
//! Han et al. prune to 1/12 of its weights too.

use super::{ArchSpec, Init};
use crate::{Graph, GraphBuilder, Op, Pool2d};

pub fn lenet5(spec: &ArchSpec, init: &mut Init) -> Graph {
    let [c, h, w] = spec.input_shape;
    let (mut b, x) = GraphBuilder::new("lenet5", spec.input_shape.to_vec());
    let x = b.conv("conv1", x, init.conv_with_bias(c, 6, 5, 2));
    let x = b.op("relu1", Op::Relu, &[x]);
    let x = b.max_pool("pool1", x, Pool2d::square(2, 2, 0));
    let x = b.conv("conv2", x, init.conv_with_bias(6, 16, 5, 0));
    let x = b.op("relu2", Op::Relu, &[x]);
    let x = b.max_pool("pool2", x, Pool2d::square(2, 2, 0));
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let side = |n: usize| ((n / 2).saturating_sub(4)) / 2;
    let x = b.linear("fc1", x, init.linear(16 * side(h) * side(w), 120));
    let x = b.op("relu3", Op::Relu, &[x]);
    let x = b.linear("fc2", x, init.linear(120, 84));
    let x = b.op("relu4", Op::Relu, &[x]);
    let x = b.linear("fc3", x, init.linear(84, spec.classes));
    b.finish(x)
}

/// Caffe's `lenet_train_test.prototxt` with ReLU: two unpadded 5x5 convs of 20 and 50 filters,
/// each followed by 2x2 max pooling, then 500 hidden units (431,080 parameters at 28x28).
pub fn lenet5_caffe(spec: &ArchSpec, init: &mut Init) -> Graph {
    let [c, h, w] = spec.input_shape;
    let (mut b, x) = GraphBuilder::new("lenet5-caffe", spec.input_shape.to_vec());
    let x = b.conv("conv1", x, init.conv_with_bias(c, 20, 5, 0));
    let x = b.max_pool("pool1", x, Pool2d::square(2, 2, 0));
    let x = b.conv("conv2", x, init.conv_with_bias(20, 50, 5, 0));
    let x = b.max_pool("pool2", x, Pool2d::square(2, 2, 0));
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let side = |n: usize| (n.saturating_sub(4) / 2).saturating_sub(4) / 2;
    let x = b.linear("fc1", x, init.linear(50 * side(h) * side(w), 500));
    let x = b.op("relu1", Op::Relu, &[x]);
    let x = b.linear("fc2", x, init.linear(500, spec.classes));
    b.finish(x)
}

/// Two hidden layers of 300 and 100 units on the flattened input.
pub fn lenet300(spec: &ArchSpec, init: &mut Init) -> Graph {
    let inputs: usize = spec.input_shape.iter().product();
    let (mut b, x) = GraphBuilder::new("lenet300", spec.input_shape.to_vec());
    let x = b.op("flatten", Op::Flatten { axis: 1 }, &[x]);
    let x = b.linear("fc1", x, init.linear(inputs, 300));
    let x = b.op("relu1", Op::Relu, &[x]);
    let x = b.linear("fc2", x, init.linear(300, 100));
    let x = b.op("relu2", Op::Relu, &[x]);
    let x = b.linear("fc3", x, init.linear(100, spec.classes));
    b.finish(x)
}
