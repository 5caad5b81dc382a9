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
