//! Which ReLUs run inside the kernel of the layer they read: a convolution, a training-mode
//! batch norm or a residual add followed by a ReLU writes the rectified output in the same
//! pass ([`shears_kernels::Activation`]), and the ReLU node itself is skipped.

use shears_ir::{Graph, Op};

/// Per node, the ReLU that is its only reader, if any: the candidates for fusion.
pub(crate) fn relu_readers(graph: &Graph, uses: &[usize]) -> Vec<Option<usize>> {
    let mut readers = vec![None; graph.nodes.len()];
    for (relu, node) in graph.nodes.iter().enumerate() {
        if let (Op::Relu, [input]) = (&node.op, &node.inputs[..])
            && uses[input.node] == 1
        {
            readers[input.node] = Some(relu);
        }
    }
    readers
}
