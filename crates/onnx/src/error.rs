//! Errors of ONNX import and export: each names the file, node or tensor at fault.

use shears_ir::IrError;
use std::path::PathBuf;
use thiserror::Error;

/// What can go wrong reading or writing an ONNX model.
#[derive(Debug, Error)]
pub enum OnnxError {
    /// Reading or writing a file failed.
    #[error("cannot {action} '{}': {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Writing a model file failed or was refused.
    #[error(transparent)]
    Write(#[from] shears_files::FileError),
    /// The bytes are not a protobuf `ModelProto` (wrong file, or truncated).
    #[error(
        "{what} is not an ONNX model (protobuf decode failed: {detail}): pass a .onnx file \
         exported by shears, PyTorch (torch.onnx.export) or tf2onnx"
    )]
    NotOnnx { what: String, detail: String },
    /// An error inside a named file.
    #[error("'{}': {source}", path.display())]
    InFile {
        path: PathBuf,
        source: Box<OnnxError>,
    },
    /// The model has no graph, or a graph without nodes.
    #[error("the model's graph is empty: {0}")]
    EmptyGraph(&'static str),
    /// Ops shears cannot import, all listed at once.
    #[error("unsupported ONNX ops: {0}")]
    Unsupported(String),
    /// A node reads a tensor that nothing defines.
    #[error(
        "node '{node}' reads '{tensor}' which is neither an initializer, a Constant, nor an \
         earlier output"
    )]
    MissingTensor { node: String, tensor: String },
    /// A node's attributes or inputs do not fit what shears supports.
    #[error("node '{node}' ({op}): {detail}")]
    Node {
        node: String,
        op: String,
        detail: String,
    },
    /// A tensor (initializer or Constant) cannot be read.
    #[error("tensor '{tensor}': {detail}")]
    Tensor { tensor: String, detail: String },
    /// A graph input or output cannot be used.
    #[error("graph {kind} '{name}': {detail}")]
    GraphValue {
        kind: &'static str,
        name: String,
        detail: String,
    },
    /// `opset_import` names no version of the default domain (required; its absence often means
    /// a truncated file, as writers put it after the graph).
    #[error(
        "the model declares no version of the default ONNX opset (opset_import is missing): the \
         file may be truncated"
    )]
    NoOpset,
    /// The graph has no input that is not an initializer.
    #[error("the model has no graph input (every listed input is an initializer)")]
    NoInput,
    /// The imported graph does not pass `Graph::verify`.
    #[error("the imported graph is invalid: {0}")]
    Invalid(IrError),
    /// The graph to export does not pass `Graph::verify`, or cannot be written as ONNX.
    #[error("cannot export graph '{graph}': {detail}")]
    Export { graph: String, detail: String },
    /// A size read from the file is beyond [`shears_ir::limits`]; refused before anything of
    /// that size is allocated. `kind` is what `name` names: a tensor, a node or a graph input.
    #[error("{kind} '{name}': {source}")]
    TooLarge {
        kind: &'static str,
        name: String,
        source: IrError,
    },
    /// Two definitions of one value name (nodes, initializers, graph inputs): ONNX defines each
    /// value once, and ONNX Runtime refuses such a model.
    #[error(
        "value '{name}' is defined twice, by {first} and by {second}: each value must have one \
         definition; rename one of them or re-export the model"
    )]
    DuplicateValue {
        name: String,
        first: String,
        second: String,
    },
    /// An attribute that the op does not define in the model's opset.
    #[error(
        "node '{node}' ({op}) has attribute '{attribute}', which {op} does not define in opset \
         {opset} ({}); ONNX Runtime refuses it too: remove the attribute or re-export the model",
        defined_attributes(.known)
    )]
    UnknownAttribute {
        node: String,
        op: String,
        attribute: String,
        opset: i64,
        known: Vec<&'static str>,
    },
    /// More or fewer inputs or outputs than the op takes in the model's opset (`what`: "input"
    /// or "output").
    #[error(
        "node '{node}' ({op}) has {count} {what}{}, but {op} takes {} in opset {opset}: the \
         file is malformed; re-export the model",
        if *.count == 1 { "" } else { "s" },
        count_range(*.min, *.max)
    )]
    Arity {
        node: String,
        op: String,
        what: &'static str,
        count: usize,
        min: usize,
        max: usize,
        opset: i64,
    },
    /// A weight holds NaN or an infinity.
    #[error(
        "tensor '{tensor}' (read by node '{node}') holds {value} at index {index} ({count} \
         non-finite values in all): the model is corrupt or diverged in training; use a finite \
         checkpoint"
    )]
    NonFinite {
        tensor: String,
        node: String,
        index: usize,
        value: f32,
        count: usize,
    },
    /// The imported graph cannot be written back as ONNX (a weight shears names `node.weight`
    /// would take the name of a value of the file): refused at import, not after pruning.
    #[error(
        "the model imports, but shears could not write it back as ONNX: {detail}; rename that \
         value in the model"
    )]
    Unwritable { detail: String },
}

/// "it defines a, b and c" for [`OnnxError::UnknownAttribute`].
fn defined_attributes(known: &[&str]) -> String {
    match known {
        [] => "it has no attributes".into(),
        [one] => format!("it defines '{one}' only"),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(|a| format!("'{a}'")).collect();
            format!("it defines {} and '{last}'", rest.join(", "))
        }
    }
}

/// "2", "2 or 3", "2 to 5", "at least 1" for [`OnnxError::Arity`].
fn count_range(min: usize, max: usize) -> String {
    match max - min {
        _ if max == usize::MAX => format!("at least {min}"),
        0 => min.to_string(),
        1 => format!("{min} or {max}"),
        _ => format!("{min} to {max}"),
    }
}

impl OnnxError {
    /// Adds the file the error happened in, unless it already names one.
    pub(crate) fn in_file(self, path: &std::path::Path) -> Self {
        match self {
            OnnxError::NotOnnx { detail, .. } => OnnxError::NotOnnx {
                what: format!("'{}'", path.display()),
                detail,
            },
            e @ (OnnxError::Io { .. } | OnnxError::InFile { .. }) => e,
            e => OnnxError::InFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            },
        }
    }
}
