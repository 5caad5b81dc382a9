//! ONNX model files in and out of the shears IR: ONNX is shears' model file format.
//!
//! [`save`] writes a [`Graph`] as an ONNX model (IR version 8, the opset it was read in or 17,
//! float32 weights as initializers named as PyTorch names parameters); [`load`] reads models
//! written by shears,
//! PyTorch (`torch.onnx.export`) or tf2onnx, as long as they use the CNN ops the IR knows.
//! The protobuf messages are hand-written `prost` structs in [`proto`]. See the `export` and
//! `import` modules for the mapping of each op.

mod error;
mod export;
mod external;
mod import;
mod momentum;
pub mod proto;
mod tensor;

pub use error::OnnxError;
pub use export::{
    IR_VERSION, OPSET_VERSION, PRODUCER_NAME, WRITABLE_OPSETS, export_opset, to_model,
};
pub use import::{ImportOptions, from_model, from_model_with};
pub use shears_files::Existing;

use prost::Message;
use shears_ir::Graph;
use std::path::{Path, PathBuf};

/// Serialises `graph` as an ONNX model.
pub fn save(graph: &Graph) -> Result<Vec<u8>, OnnxError> {
    Ok(to_model(graph)?.encode_to_vec())
}

/// Weights above this many bytes go to an external data file: a protobuf message, and so a
/// self-contained ONNX model, cannot exceed 2 GB.
pub const EXTERNAL_DATA_BYTES: usize = 1_900_000_000;

/// An ONNX model as the files that hold it.
pub struct ModelFiles {
    pub model: Vec<u8>,
    /// The external data file (path and bytes), where the weights are stored outside.
    pub data: Option<(PathBuf, Vec<u8>)>,
}

/// The path of the external data file of a model written to `path`: `NAME.data` beside it,
/// as PyTorch names it (`m.onnx.data`).
pub fn data_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".data");
    path.with_file_name(name)
}

/// `graph` as the files to write at `path`. The weights go to [`data_path`] when the model
/// `graph` was imported from kept them outside ([`Graph::onnx_external_data`]) or when they
/// exceed [`EXTERNAL_DATA_BYTES`]; else the model is one file.
pub fn to_files(graph: &Graph, path: &Path) -> Result<ModelFiles, OnnxError> {
    let mut model = to_model(graph)?;
    let weights: usize = graph
        .nodes
        .iter()
        .flat_map(|n| n.op.arrays())
        .map(|a| a.len() * 4)
        .sum();
    if !graph.onnx_external_data && weights <= EXTERNAL_DATA_BYTES {
        return Ok(ModelFiles {
            model: model.encode_to_vec(),
            data: None,
        });
    }
    let data = data_path(path);
    let location = data
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    let bytes = external::externalize(&mut model, &location);
    Ok(ModelFiles {
        model: model.encode_to_vec(),
        data: Some((data, bytes)),
    })
}

/// Writes `graph` as an ONNX model to `path` (and its external data file, see [`to_files`]),
/// atomically ([`shears_files::write_atomic`]: a unique temporary file in the same directory,
/// fsynced, then renamed; the data file first). `existing` says whether a regular file already
/// at either path may be replaced; anything else there is never replaced.
pub fn save_file(
    graph: &Graph,
    path: impl AsRef<Path>,
    existing: Existing,
) -> Result<(), OnnxError> {
    let path = path.as_ref();
    let files = to_files(graph, path)?;
    if let Some((data, bytes)) = &files.data {
        shears_files::write_atomic(data, bytes, existing)?;
    }
    Ok(shears_files::write_atomic(path, &files.model, existing)?)
}

/// Reads an ONNX model from bytes. Weights in external data files need [`load_file`].
pub fn load(bytes: &[u8]) -> Result<Graph, OnnxError> {
    from_model(&decode(bytes)?)
}

fn decode(bytes: &[u8]) -> Result<proto::ModelProto, OnnxError> {
    proto::ModelProto::decode(bytes).map_err(|e| OnnxError::NotOnnx {
        what: "the data".into(),
        detail: e.to_string(),
    })
}

/// The bytes of `path`; the error names the file.
fn read_bytes(path: &Path) -> Result<Vec<u8>, OnnxError> {
    std::fs::read(path).map_err(|source| OnnxError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}

/// Reads an ONNX model file, with the external data files it names beside it (as PyTorch's
/// default exporter writes `m.onnx.data`); errors name the file.
pub fn load_file(path: impl AsRef<Path>) -> Result<Graph, OnnxError> {
    load_file_with(path, &ImportOptions::default())
}

/// [`load_file`] with import `options` (e.g. the input size of a model with symbolic sizes).
pub fn load_file_with(path: impl AsRef<Path>, options: &ImportOptions) -> Result<Graph, OnnxError> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let read = || -> Result<Graph, OnnxError> {
        let mut model = decode(&bytes)?;
        let external = external::resolve(&mut model, dir)?;
        let mut graph = from_model_with(&model, options)?;
        graph.onnx_external_data = external;
        Ok(graph)
    };
    read().map_err(|e| e.in_file(path))
}

/// The external data files the model at `path` names (empty if it cannot be read: loading it
/// reports why), so that a caller can treat them as inputs too.
pub fn external_data_files(path: impl AsRef<Path>) -> Vec<std::path::PathBuf> {
    let path = path.as_ref();
    let dir = path.parent().unwrap_or(Path::new("."));
    match read_bytes(path).and_then(|b| decode(&b)) {
        Ok(mut model) => external::files(&mut model, dir),
        Err(_) => Vec::new(),
    }
}

/// Reads a float tensor from a serialised `TensorProto` file (the `input_0.pb` / `output_0.pb`
/// files of ONNX's test data), with its full shape (batch axis included).
pub fn load_tensor_file(path: impl AsRef<Path>) -> Result<shears_ir::Array, OnnxError> {
    let path = path.as_ref();
    let bytes = read_bytes(path)?;
    let t = proto::TensorProto::decode(bytes.as_slice()).map_err(|e| OnnxError::NotOnnx {
        what: format!("'{}'", path.display()),
        detail: e.to_string(),
    })?;
    tensor::to_array(&t).map_err(|detail| OnnxError::Tensor {
        tensor: path.display().to_string(),
        detail,
    })
}

/// `array` as a serialised float32 `TensorProto` named `name`.
pub fn tensor_bytes(array: &shears_ir::Array, name: &str) -> Vec<u8> {
    tensor::float_tensor(name, &array.shape, &array.data).encode_to_vec()
}
