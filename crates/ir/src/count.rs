//! Parameter and MAC counting, and the per-layer summary `shears info` prints.
//!
//! MACs count the multiply-accumulates of convolutions and linear layers for one sample, as
//! thop and Torch-Pruning report them for CNNs; element-wise ops and BN are not counted.

use crate::{Graph, IrError, Shape};
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
                let input = node.inputs.first().map(|i| &shapes[i.node][i.slot]);
                let macs = node.op.macs(input, out);
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
