//! External data: tensors whose bytes live in a file beside the model (`location`, `offset`,
//! `length` in `external_data`), as `torch.onnx.export` writes them since PyTorch 2.9
//! (`m.onnx.data`). [`resolve`] reads them into `raw_data` before import, so the importer sees
//! one self-contained model. Every size is checked against the limits and the file's length
//! before anything is read. [`externalize`] does the reverse for export.

use crate::OnnxError;
use crate::proto::tensor_proto::{DataLocation, DataType};
use crate::proto::{GraphProto, ModelProto, StringStringEntryProto, TensorProto};
use crate::tensor::elements;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

/// Whether `t` keeps its data in an external file.
pub(crate) fn is_external(t: &TensorProto) -> bool {
    t.data_location == DataLocation::External as i32 || !t.external_data.is_empty()
}

/// Reads the external data of every tensor of `model` (initializers and constant attributes),
/// from files named relative to `dir`, the model file's directory. Returns whether there was
/// any.
pub(crate) fn resolve(model: &mut ModelProto, dir: &Path) -> Result<bool, OnnxError> {
    let Some(graph) = model.graph.as_mut() else {
        return Ok(false);
    };
    let mut any = false;
    for t in tensors_mut(graph).filter(|t| is_external(t)) {
        read_into(t, dir)?;
        any = true;
    }
    Ok(any)
}

/// The data files `model` names, relative to `dir` (those inside it only).
pub(crate) fn files(model: &mut ModelProto, dir: &Path) -> Vec<PathBuf> {
    let Some(graph) = model.graph.as_mut() else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = tensors_mut(graph)
        .flat_map(|t| t.external_data.iter().filter(|e| e.key == "location"))
        .filter_map(|e| checked_location(&e.value).ok().map(|p| dir.join(p)))
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Initializers smaller than this stay in the model file (ONNX's own threshold).
const INLINE_BYTES: usize = 1024;

/// Moves the data of every initializer of at least [`INLINE_BYTES`] out of `model` into the
/// returned bytes, each tensor's entries naming `location` (a file name beside the model) and
/// its offset and length there.
pub(crate) fn externalize(model: &mut ModelProto, location: &str) -> Vec<u8> {
    let mut data = Vec::new();
    let Some(graph) = model.graph.as_mut() else {
        return data;
    };
    for t in graph
        .initializer
        .iter_mut()
        .filter(|t| t.raw_data.len() >= INLINE_BYTES)
    {
        let entry = |key: &str, value: String| StringStringEntryProto {
            key: key.into(),
            value,
        };
        t.external_data = vec![
            entry("location", location.into()),
            entry("offset", data.len().to_string()),
            entry("length", t.raw_data.len().to_string()),
        ];
        t.data_location = DataLocation::External as i32;
        data.append(&mut t.raw_data);
    }
    data
}

fn tensors_mut(g: &mut GraphProto) -> impl Iterator<Item = &mut TensorProto> {
    let attributes = g.node.iter_mut().flat_map(|n| n.attribute.iter_mut());
    let constants = attributes.flat_map(|a| a.t.iter_mut().chain(a.tensors.iter_mut()));
    g.initializer.iter_mut().chain(constants)
}

/// Where a tensor's bytes are: the file, the offset and the length.
struct Extent {
    file: PathBuf,
    offset: u64,
    length: u64,
}

fn read_into(t: &mut TensorProto, dir: &Path) -> Result<(), OnnxError> {
    let fail = |detail: String| OnnxError::Tensor {
        tensor: t.name.clone(),
        detail,
    };
    let extent = extent(t, dir).map_err(fail)?;
    let bytes = read_extent(&extent).map_err(fail)?;
    t.raw_data = bytes;
    t.external_data.clear();
    t.data_location = DataLocation::Default as i32;
    Ok(())
}

/// The extent `t`'s entries name, checked against its shape and type and the file's length.
fn extent(t: &TensorProto, dir: &Path) -> Result<Extent, String> {
    let entry = |key: &str| {
        t.external_data
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    };
    let location = entry("location").ok_or("its external data names no 'location'")?;
    let file = dir.join(checked_location(location)?);
    let number = |key: &str| -> Result<Option<u64>, String> {
        entry(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("external data {key} '{v}' is not a byte count"))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let expected = expected_bytes(t)?;
    let length = match (number("length")?, expected) {
        (Some(l), Some(e)) if l != e => {
            return Err(format!(
                "its external data length is {l} bytes, but shape {:?} needs {e}",
                t.dims
            ));
        }
        (Some(l), _) | (None, Some(l)) => l,
        (None, None) => return Err("its external data gives no length for its type".into()),
    };
    let size = std::fs::metadata(&file)
        .map_err(|e| missing(&file, &e.to_string()))?
        .len();
    if offset.checked_add(length).is_none_or(|end| end > size) {
        return Err(format!(
            "its bytes {offset}..{} lie beyond the end of '{}' ({size} bytes): the data file is truncated or belongs to another model; export the model again",
            offset.saturating_add(length),
            file.display()
        ));
    }
    Ok(Extent {
        file,
        offset,
        length,
    })
}

/// A location must stay inside the model's directory (as ONNX Runtime requires).
fn checked_location(location: &str) -> Result<&Path, String> {
    let path = Path::new(location);
    let inside = path
        .components()
        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if location.is_empty() || !inside {
        return Err(format!(
            "its external data location '{location}' is not a path inside the model's directory"
        ));
    }
    Ok(path)
}

/// The bytes the tensor's shape and type need, for the fixed-width types; checked against
/// the tensor limit.
fn expected_bytes(t: &TensorProto) -> Result<Option<u64>, String> {
    let width = match DataType::try_from(t.data_type) {
        Ok(DataType::Float | DataType::Int32 | DataType::Uint32) => 4,
        Ok(DataType::Double | DataType::Int64 | DataType::Uint64) => 8,
        Ok(DataType::Float16 | DataType::Bfloat16 | DataType::Int16 | DataType::Uint16) => 2,
        Ok(DataType::Int8 | DataType::Uint8 | DataType::Bool) => 1,
        _ => return Ok(None),
    };
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d} in {:?}", t.dims)))
        .collect::<Result<Vec<_>, _>>()?;
    let n = elements("it", &shape).map_err(|e| e.to_string())?;
    Ok(Some(n as u64 * width))
}

fn read_extent(extent: &Extent) -> Result<Vec<u8>, String> {
    let mut file =
        std::fs::File::open(&extent.file).map_err(|e| missing(&extent.file, &e.to_string()))?;
    let mut bytes = vec![0u8; extent.length as usize];
    file.seek(SeekFrom::Start(extent.offset))
        .and_then(|_| file.read_exact(&mut bytes))
        .map_err(|e| missing(&extent.file, &e.to_string()))?;
    Ok(bytes)
}

fn missing(file: &Path, why: &str) -> String {
    format!(
        "its external data file '{}' cannot be read ({why}): keep the data file beside the model, under the name the model gives it",
        file.display()
    )
}
