//! `Graph::verify`: the structural check every pass and test runs.

use crate::{Graph, IrError, Op};
use std::collections::HashSet;

impl Graph {
    /// Checks that the graph is well formed: unique node names, inputs computed before they are
    /// read, outputs that exist, input nodes listed as inputs, and shapes that fit every op.
    pub fn verify(&self) -> Result<(), IrError> {
        if self.inputs.is_empty() {
            return Err(IrError::NoInput);
        }
        let mut names = HashSet::new();
        for node in &self.nodes {
            if !names.insert(node.name.as_str()) {
                return Err(IrError::DuplicateName(node.name.clone()));
            }
        }
        for &i in &self.inputs {
            if !matches!(self.nodes.get(i).map(|n| &n.op), Some(Op::Input { .. })) {
                return Err(IrError::BadOutput(format!(
                    "input #{i} is not an Input node"
                )));
            }
        }
        let shapes = self.infer_shapes()?;
        if self.outputs.is_empty() {
            return Err(IrError::BadOutput("(none)".into()));
        }
        for out in &self.outputs {
            if shapes.get(out.node).and_then(|s| s.get(out.slot)).is_none() {
                return Err(IrError::BadOutput(format!("#{}:{}", out.node, out.slot)));
            }
        }
        Ok(())
    }
}
