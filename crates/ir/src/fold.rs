//! Folding batch norm into the convolution before it, for inference.
//!
//! In eval mode `BN(conv(x)) = conv'(x)` with `W'[o] = W[o] * s[o]` and
//! `b'[o] = (b[o] - mean[o]) * s[o] + beta[o]`, where `s = gamma / sqrt(var + eps)`. A folded
//! BN becomes an `Identity`, so node indices, names and taps on other nodes stay valid.

use crate::{Array, BatchNorm2d, Conv2d, Graph, Op};

impl Graph {
    /// A copy of the graph in which every BN that directly follows a conv (whose output nothing
    /// else reads, and which is not a graph output) is folded into that conv. Only for
    /// inference: the BN's batch statistics are gone.
    pub fn fold_batch_norms(&self) -> Graph {
        let mut folded = self.clone();
        let consumers = self.consumers();
        for (bn_index, node) in self.nodes.iter().enumerate() {
            let Op::BatchNorm2d(bn) = &node.op else {
                continue;
            };
            let source = node.inputs[0];
            let foldable = matches!(self.nodes[source.node].op, Op::Conv2d(_))
                && consumers[source.node] == [bn_index]
                && !self.outputs.iter().any(|o| o.node == source.node);
            if !foldable {
                continue;
            }
            let Op::Conv2d(conv) = &mut folded.nodes[source.node].op else {
                unreachable!()
            };
            fold_into(conv, bn);
            folded.nodes[bn_index].op = Op::Identity;
        }
        folded
    }
}

/// Folds `bn` (eval mode) into `conv`, the convolution it reads.
pub(crate) fn fold_into(conv: &mut Conv2d, bn: &BatchNorm2d) {
    let out = conv.out_channels();
    let per_filter = conv.weight.row_len();
    let bias = conv.bias.get_or_insert_with(|| Array::zeros(vec![out]));
    for o in 0..out {
        let scale = bn.gamma.data[o] / (bn.var.data[o] + bn.eps).sqrt();
        conv.weight.data[o * per_filter..(o + 1) * per_filter]
            .iter_mut()
            .for_each(|w| *w *= scale);
        bias.data[o] = (bias.data[o] - bn.mean.data[o]) * scale + bn.beta.data[o];
    }
}
