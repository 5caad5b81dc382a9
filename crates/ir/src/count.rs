//! Parameter and MAC counting, and the per-layer summary `shears info` prints.
//!
//! MACs count the multiply-accumulates of convolutions and linear layers for one sample, as
//! thop and Torch-Pruning report them for CNNs; element-wise ops and BN are not counted.

use crate::{Graph, IrError, Op, Shape};
use serde::Serialize;

/// One row of the per-layer table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerSummary {
    pub name: String,
    pub op: &'static str,
    pub output_shape: Shape,
    pub params: usize,
    pub macs: u64,
}

impl Graph {
    /// Total number of parameters (PyTorch's count: BN running statistics excluded).
    pub fn param_count(&self) -> usize {
        self.nodes.iter().map(|n| n.op.param_count()).sum()
    }

    /// Multiply-accumulates for one sample.
    pub fn mac_count(&self) -> Result<u64, IrError> {
        Ok(self.summary()?.iter().map(|l| l.macs).sum())
    }

    /// One row per node with its output shape, parameters and MACs.
    pub fn summary(&self) -> Result<Vec<LayerSummary>, IrError> {
        let shapes = self.infer_shapes()?;
        Ok(self
            .nodes
            .iter()
            .zip(&shapes)
            .map(|(node, out)| {
                let out = &out[0];
                let macs = match &node.op {
                    Op::Conv2d(c) => {
                        let per_output =
                            (c.weight.shape[1] * c.weight.shape[2] * c.weight.shape[3]) as u64;
                        out.iter().product::<usize>() as u64 * per_output
                    }
                    Op::Linear(l) => (l.in_features() * l.out_features()) as u64,
                    _ => 0,
                };
                LayerSummary {
                    name: node.name.clone(),
                    op: node.op.type_name(),
                    output_shape: out.clone(),
                    params: node.op.param_count(),
                    macs,
                }
            })
            .collect())
    }
}
