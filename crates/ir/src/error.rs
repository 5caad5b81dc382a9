//! Errors of the IR crate: each names the node or value at fault.

use thiserror::Error;

/// What can go wrong when building, checking or measuring a graph.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum IrError {
    /// A node reads an outlet that does not exist or is not computed before it.
    #[error("node '{node}' reads input {input} from node #{from}, which {why}")]
    BadInput {
        node: String,
        input: usize,
        from: usize,
        why: &'static str,
    },
    /// A node has the wrong number of inputs for its op.
    #[error("node '{node}' ({op}) has {got} inputs, expected {expected}")]
    Arity {
        node: String,
        op: &'static str,
        got: usize,
        expected: String,
    },
    /// Shapes of a node's inputs or weights do not fit its op.
    #[error("node '{node}' ({op}): {detail}")]
    Shape {
        node: String,
        op: &'static str,
        detail: String,
    },
    /// Two nodes share a name.
    #[error("two nodes are named '{0}': node names must be unique")]
    DuplicateName(String),
    /// The graph has no output, or an output names a missing node.
    #[error("graph output {0} refers to a missing node")]
    BadOutput(String),
    /// `graph.inputs` lists a node that is not an `Input`, or an `Input` node is not listed.
    #[error("graph input list is inconsistent: {0}")]
    BadInputList(String),
    /// A weight array is empty or its data does not fill its shape.
    #[error("node '{node}': array {index} has shape {shape:?} and {len} values: {why}")]
    BadArray {
        node: String,
        index: usize,
        shape: Vec<usize>,
        len: usize,
        why: &'static str,
    },
    /// The graph has no input node.
    #[error("the graph has no input")]
    NoInput,
    /// A tensor would hold more elements than [`crate::limits::MAX_TENSOR_ELEMENTS`].
    #[error(
        "{what} has shape {shape:?}, more than the limit of {limit} elements per tensor: check the sizes in the file or arguments"
    )]
    TooLarge {
        what: String,
        shape: Vec<usize>,
        limit: usize,
    },
    /// A weight holds NaN or an infinity.
    #[error(
        "node '{node}': weight array {array} holds {value} at index {index} (and {count} non-finite values in all): the model is corrupt or diverged in training; use a finite checkpoint"
    )]
    NonFinite {
        node: String,
        array: usize,
        index: usize,
        value: f32,
        count: usize,
    },
}
