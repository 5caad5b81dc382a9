//! `Graph::verify`: the structural check every pass and test runs.

use crate::{Array, Graph, IrError, Op, Shape};
use std::collections::HashSet;

impl Graph {
    /// Checks that the graph is well formed: unique node names, inputs computed before they are
    /// read, outputs that exist, input nodes listed as inputs, weight arrays that are non-empty
    /// and fill their shapes, and shapes that fit every op.
    pub fn verify(&self) -> Result<(), IrError> {
        self.verified_shapes().map(|_| ())
    }

    /// [`Graph::verify`], returning the shapes it inferred (`shapes[node][slot]`) so that a
    /// caller that needs both does the work once.
    pub fn verified_shapes(&self) -> Result<Vec<Vec<Shape>>, IrError> {
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
                return Err(IrError::BadInputList(format!(
                    "entry #{i} is not an Input node"
                )));
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            if matches!(node.op, Op::Input { .. }) && !self.inputs.contains(&i) {
                return Err(IrError::BadInputList(format!(
                    "Input node '{}' is not listed as a graph input",
                    node.name
                )));
            }
            for (index, array) in node.op.arrays().into_iter().enumerate() {
                let bad = |why| IrError::BadArray {
                    node: node.name.clone(),
                    index,
                    shape: array.shape.clone(),
                    len: array.data.len(),
                    why,
                };
                if Array::elements(&array.shape) != Some(array.data.len()) {
                    return Err(bad("the values do not fill the shape"));
                }
                if array.is_empty() {
                    return Err(bad("a layer with zero channels or features cannot run"));
                }
                if let Some(mask) = &array.mask {
                    if mask.len() != array.data.len() {
                        return Err(bad("its pruning mask does not have one flag per value"));
                    }
                    if (0..mask.len()).any(|i| !mask[i] && array.data[i] != 0.0) {
                        return Err(bad("a value its pruning mask removed is not zero"));
                    }
                }
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
        Ok(shapes)
    }

    /// Checks that every weight is finite: a NaN or infinite weight makes every output NaN,
    /// so it is refused before any work starts.
    pub fn check_finite(&self) -> Result<(), IrError> {
        for node in &self.nodes {
            for (array, values) in node.op.arrays().into_iter().enumerate() {
                let mut bad = values
                    .data
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| !v.is_finite());
                if let Some((index, &value)) = bad.next() {
                    return Err(IrError::NonFinite {
                        node: node.name.clone(),
                        array,
                        index,
                        value,
                        count: 1 + bad.count(),
                    });
                }
            }
        }
        Ok(())
    }
}
