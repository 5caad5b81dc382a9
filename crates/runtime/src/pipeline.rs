//! Eval-mode inference on shears' kernels one image at a time ([`shears_kernels::Pipeline`]),
//! for networks made only of the layers it runs (convolutions, ReLU, residual adds, global
//! average pooling, flatten and small linear layers; the identities a folded BN leaves are
//! skipped): every activation of an image stays in its core's cache, with no copies between
//! layers. Any other network, and any pass that taps, masks or trains, keeps the
//! layer-by-layer path.

use crate::kernels;
use crate::network::{Network, Step, host_values};
use burn::tensor::{Tensor, TensorData};
use shears_ir::{Graph, Op};
use shears_kernels::{Node, Pipeline};

/// The pipeline of `net` (compiled from `graph`), when it runs on shears' kernels without
/// autodiff and every node is one the pipeline runs.
pub(crate) fn compile(net: &Network, graph: &Graph) -> Option<Pipeline> {
    if !kernels::runs_on(net.device()) || net.device().is_autodiff() || graph.outputs.len() != 1 {
        return None;
    }
    let input: [usize; 3] = net.input_shape().try_into().ok()?;
    // Graph node -> pipeline node; an identity (a folded BN, a dropout) is its input's.
    let mut index = vec![usize::MAX; graph.nodes.len()];
    let mut nodes = Vec::new();
    for (n, node) in graph.nodes.iter().enumerate() {
        let inputs = node
            .inputs
            .iter()
            .map(|o| (o.slot == 0).then_some(index[o.node]));
        let inputs: Vec<usize> = inputs.collect::<Option<_>>()?;
        if let (Op::Identity | Op::Dropout { .. }, [input]) = (&node.op, &inputs[..]) {
            index[n] = *input;
            continue;
        }
        nodes.push((pipeline_node(net, n, &node.op)?, inputs));
        index[n] = nodes.len() - 1;
    }
    let output = graph.outputs[0];
    (output.slot == 0).then_some(())?;
    Pipeline::new(input, &nodes, index[output.node])
}

/// Node `n` as the pipeline runs it, if it can.
fn pipeline_node(net: &Network, n: usize, op: &Op) -> Option<Node> {
    Some(match (&net.steps[n], op) {
        (Step::Input, _) => Node::Input,
        (
            Step::Conv {
                weight,
                bias,
                shape,
                options,
            },
            _,
        ) => {
            let x = net.input_shape_of(n);
            (x.len() == 3).then_some(())?;
            Node::Conv {
                conv: kernels::geometry(&[1, x[0], x[1], x[2]], shape, options),
                weight: *weight,
                bias: *bias,
            }
        }
        (
            Step::Linear {
                weight,
                bias,
                shape,
            },
            _,
        ) => Node::Linear {
            weight: *weight,
            bias: *bias,
            out_features: shape[0],
        },
        (Step::Plain(_), Op::Relu) => Node::Relu,
        (Step::Plain(_), Op::Add) => Node::Add,
        (Step::Plain(_), Op::GlobalAvgPool) => Node::GlobalAvgPool,
        (Step::Plain(_), Op::Flatten { axis: 1 }) => Node::Flatten,
        _ => return None,
    })
}

/// The logits of batch `x` through `pipeline`, with `params` the network's parameters on
/// the host.
pub(crate) fn run(
    pipeline: &Pipeline,
    params: &[Vec<f32>],
    x: Tensor<4>,
    features: usize,
) -> Tensor<2> {
    let [batch, ..] = x.dims();
    let device = x.device();
    let params: Vec<&[f32]> = params.iter().map(Vec::as_slice).collect();
    let y = pipeline.run(&params, &host_values(x), batch);
    Tensor::from_data(TensorData::new(y, [batch, features]), &device)
}
