//! Parameter and MAC counting, and the per-layer summary `shears info` prints.
//!
//! MACs count the multiply-accumulates of convolutions and linear layers for one sample, as
//! thop and Torch-Pruning report them for CNNs; element-wise ops and BN are not counted.
//!
//! A model pruned at a finer granularity than channels keeps its shape and masks weights
//! ([`crate::Array::mask`]): the `kept_` counts leave masked weights out (a MAC whose weight
//! is masked is skipped), and [`Graph::compressed_bits`] sizes the model the way Deep
//! Compression stores it.

use crate::{Array, Graph, IrError, Op, Shape};
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

    /// Parameters not masked out by weight-level pruning.
    pub fn kept_param_count(&self) -> usize {
        self.count_params(|a| a.len() - a.masked_count())
    }

    /// Parameters that are not zero (what a sparse format has to store).
    pub fn nonzero_param_count(&self) -> usize {
        self.count_params(Array::nonzero_count)
    }

    /// `count` summed over every parameter array ([`Op::param_arrays`]).
    fn count_params(&self, count: impl Fn(&Array) -> usize) -> usize {
        self.nodes
            .iter()
            .flat_map(|n| n.op.param_arrays())
            .map(count)
            .sum()
    }

    /// Multiply-accumulates for one sample with every MAC of a masked weight skipped.
    pub fn kept_mac_count(&self) -> Result<u64, IrError> {
        self.sparse_macs(Array::masked_count)
    }

    /// Multiply-accumulates for one sample with every MAC of a zero weight skipped.
    pub fn nonzero_mac_count(&self) -> Result<u64, IrError> {
        self.sparse_macs(|a| a.len() - a.nonzero_count())
    }

    /// The dense MACs less, per layer, its share per weight times the weights `skipped`
    /// counts (a conv's MACs are its weights times its output pixels).
    fn sparse_macs(&self, skipped: impl Fn(&Array) -> usize) -> Result<u64, IrError> {
        Ok(self
            .nodes
            .iter()
            .zip(self.summary()?)
            .map(|(node, layer)| match filter_weight(&node.op) {
                Some(w) if layer.macs > 0 => {
                    layer.macs - layer.macs / w.len() as u64 * skipped(w) as u64
                }
                _ => layer.macs,
            })
            .sum())
    }

    /// Bits to store the parameters as Deep Compression counts them (Han et al. 2016,
    /// before quantisation): a conv or linear weight with zeros as CSR with relative indices
    /// (each non-zero a 32-bit value and an index gap of 8 bits for convs, 5 for linear
    /// layers, a filler zero where a gap does not fit, and one 32-bit row pointer per filter
    /// plus one), or dense where that is smaller; every other parameter dense at 32 bits.
    pub fn compressed_bits(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| {
                let dense = 32 * n.op.param_count() as u64;
                match (filter_weight(&n.op), &n.op) {
                    (Some(w), op) => {
                        let index_bits = if matches!(op, Op::Linear(_)) { 5 } else { 8 };
                        let w_dense = 32 * w.len() as u64;
                        dense - w_dense + csr_bits(w, index_bits).min(w_dense)
                    }
                    (None, _) => dense,
                }
            })
            .sum()
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

/// The weight whose elements multiply inputs (a conv's, transposed conv's or linear layer's
/// kernel), which weight-level pruning masks and sparse counts look at.
pub fn filter_weight(op: &Op) -> Option<&Array> {
    match op {
        Op::Conv2d(c) => Some(&c.weight),
        Op::ConvTranspose2d(c) => Some(&c.weight),
        Op::Linear(l) => Some(&l.weight),
        _ => None,
    }
}

/// [`filter_weight`], to change.
pub fn filter_weight_mut(op: &mut Op) -> Option<&mut Array> {
    match op {
        Op::Conv2d(c) => Some(&mut c.weight),
        Op::ConvTranspose2d(c) => Some(&mut c.weight),
        Op::Linear(l) => Some(&mut l.weight),
        _ => None,
    }
}

/// CSR bits of `w` seen as rows of filters: per non-zero, a 32-bit value and an
/// `index_bits` gap from the previous entry of its row, with a filler entry for each gap
/// that does not fit; 32 bits per row pointer.
fn csr_bits(w: &Array, index_bits: u32) -> u64 {
    let rows = w.shape.first().copied().unwrap_or(1).max(1);
    let span = 1usize << index_bits;
    let entries: u64 = w
        .data
        .chunks(w.len() / rows)
        .map(|row| {
            let mut last = 0usize;
            let mut entries = 0u64;
            for (i, _) in row.iter().enumerate().filter(|(_, v)| **v != 0.0) {
                // A gap of `span` or more needs fillers, each one step of at most span - 1.
                entries += ((i - last) / span) as u64 + 1;
                last = i;
            }
            entries
        })
        .sum();
    entries * (32 + index_bits as u64) + 32 * (rows as u64 + 1)
}
