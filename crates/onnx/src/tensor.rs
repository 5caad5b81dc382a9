//! Tensors: IR arrays to `TensorProto` and back.
//!
//! shears writes float32 tensors as little-endian `raw_data`. It reads float tensors from
//! `raw_data`, `float_data` or `double_data` (FLOAT and DOUBLE), and integer tensors (shapes,
//! axes) from `raw_data`, `int64_data` or `int32_data`. Every shape is checked against the
//! limits ([`elements`]) before anything is made from it. Errors are plain details, or
//! [`Fault`]s that tell a size over the limits apart; callers add the tensor's name.

use crate::OnnxError;
use crate::proto::TensorProto;
use crate::proto::tensor_proto::{DataLocation, DataType};
use shears_ir::{Array, IrError, limits};

/// Why a tensor cannot be read or made: a plain detail, or a size over shears' limits.
#[derive(Debug)]
pub(crate) enum Fault {
    Detail(String),
    TooLarge(IrError),
}

impl Fault {
    /// The error about tensor `name`.
    pub(crate) fn about_tensor(self, name: &str) -> OnnxError {
        match self {
            Fault::Detail(detail) => OnnxError::Tensor {
                tensor: name.to_string(),
                detail,
            },
            Fault::TooLarge(source) => OnnxError::TooLarge {
                kind: "tensor",
                name: name.to_string(),
                source,
            },
        }
    }
}

impl From<String> for Fault {
    fn from(detail: String) -> Self {
        Fault::Detail(detail)
    }
}

impl From<&str> for Fault {
    fn from(detail: &str) -> Self {
        Fault::Detail(detail.to_string())
    }
}

impl From<IrError> for Fault {
    fn from(e: IrError) -> Self {
        Fault::TooLarge(e)
    }
}

impl From<Fault> for String {
    fn from(f: Fault) -> Self {
        match f {
            Fault::Detail(d) => d,
            Fault::TooLarge(e) => e.to_string(),
        }
    }
}

/// The element count of a shape read from a file, within [`limits::tensor_elements`]; an axis
/// of 0 counts as 1 here, so that an empty tensor cannot carry an absurd axis either.
pub(crate) fn elements(what: &str, shape: &[usize]) -> Result<usize, IrError> {
    let at_least_one: Vec<usize> = shape.iter().map(|&d| d.max(1)).collect();
    limits::tensor_elements(what, &at_least_one).map_err(|_| IrError::TooLarge {
        what: what.to_string(),
        shape: shape.to_vec(),
        limit: limits::MAX_TENSOR_ELEMENTS,
    })?;
    Ok(shape.iter().product())
}

/// A float32 tensor named `name` holding `data` of `shape` (empty shape: a scalar).
pub(crate) fn float_tensor(name: &str, shape: &[usize], data: &[f32]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

/// An int64 tensor named `name` holding `data` of `shape`.
pub(crate) fn int_tensor(name: &str, shape: &[usize], data: &[i64]) -> TensorProto {
    TensorProto {
        name: name.to_string(),
        dims: shape.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Int64 as i32,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..TensorProto::default()
    }
}

/// A float32 scalar (rank 0) tensor.
pub(crate) fn scalar(name: &str, value: f32) -> TensorProto {
    float_tensor(name, &[], &[value])
}

/// The name of a data type code, for messages.
pub(crate) fn type_name(code: i32) -> String {
    match DataType::try_from(code) {
        Ok(t) => format!("{t:?}").to_uppercase(),
        Err(_) => format!("#{code}"),
    }
}

/// Fails with [`OnnxError::NonFinite`] when `data`, the values of tensor `tensor` read by node
/// `node`, holds NaN or an infinity.
pub(crate) fn check_finite(tensor: &str, node: &str, data: &[f32]) -> Result<(), OnnxError> {
    let mut bad = data.iter().enumerate().filter(|(_, v)| !v.is_finite());
    match bad.next() {
        None => Ok(()),
        Some((index, &value)) => Err(OnnxError::NonFinite {
            tensor: tensor.to_string(),
            node: node.to_string(),
            index,
            value,
            count: 1 + bad.count(),
        }),
    }
}

/// The element count its dims give a tensor (negative dims count as 0, an overflow saturates):
/// for budgets, of tensors already checked by [`validate`] or made by shears.
pub(crate) fn elements_of(t: &TensorProto) -> usize {
    t.dims
        .iter()
        .map(|&d| usize::try_from(d).unwrap_or(0))
        .fold(1, usize::saturating_mul)
}

/// The tensor's shape and element count, refusing negative dims, sizes over the limits
/// ([`elements`]) and external data.
fn shape_of(t: &TensorProto) -> Result<(Vec<usize>, usize), Fault> {
    if t.data_location == DataLocation::External as i32 || !t.external_data.is_empty() {
        let location = t.external_data.iter().find(|e| e.key == "location");
        let location =
            location.map_or("an external file".to_string(), |e| format!("'{}'", e.value));
        return Err(format!(
            "its data is stored in {location} beside the model file: read the model from its \
             file (`load_file`), which reads external data"
        )
        .into());
    }
    let shape = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("negative dimension {d} in {:?}", t.dims)))
        .collect::<Result<Vec<_>, _>>()?;
    let len = elements("it", &shape)?;
    Ok((shape, len))
}

/// Checks a tensor read from the file before anything is made from it: its shape (as
/// [`shape_of`]) and, for the types shears reads, that its data holds that many elements.
pub(crate) fn validate(t: &TensorProto) -> Result<(), Fault> {
    let (_, len) = shape_of(t)?;
    let typed = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) => Some((t.float_data.len(), 4)),
        Ok(DataType::Double) => Some((t.double_data.len(), 8)),
        Ok(DataType::Int64) => Some((t.int64_data.len(), 8)),
        Ok(DataType::Int32) => Some((t.int32_data.len(), 4)),
        _ => None,
    };
    if let Some((typed_len, width)) = typed {
        pick_raw(t, len, typed_len, width)?;
    }
    Ok(())
}

/// Checks that a typed field or `raw_data` holds `len` elements of `width` bytes (`len` is
/// within the limits, so `len * width` cannot overflow); returns the raw bytes to decode, or
/// `None` to use the typed field.
fn pick_raw(
    t: &TensorProto,
    len: usize,
    typed_len: usize,
    width: usize,
) -> Result<Option<&[u8]>, String> {
    if !t.raw_data.is_empty() {
        if t.raw_data.len() != len * width {
            return Err(format!(
                "raw_data holds {} bytes, but shape {:?} of {} needs {}",
                t.raw_data.len(),
                t.dims,
                type_name(t.data_type),
                len * width
            ));
        }
        return Ok(Some(&t.raw_data));
    }
    if typed_len != len {
        return Err(format!(
            "holds {typed_len} values, but its shape {:?} needs {len}",
            t.dims
        ));
    }
    Ok(None)
}

/// A float tensor (FLOAT or DOUBLE) as an IR array.
pub(crate) fn to_array(t: &TensorProto) -> Result<Array, String> {
    let (shape, len) = shape_of(t).map_err(String::from)?;
    let data: Vec<f32> = match DataType::try_from(t.data_type) {
        Ok(DataType::Float) => match pick_raw(t, len, t.float_data.len(), 4)? {
            Some(raw) => raw
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
            None => t.float_data.clone(),
        },
        Ok(DataType::Double) => match pick_raw(t, len, t.double_data.len(), 8)? {
            Some(raw) => raw
                .chunks_exact(8)
                .map(|b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })
                .collect(),
            None => t.double_data.iter().map(|&v| v as f32).collect(),
        },
        _ => {
            return Err(format!(
                "has data type {}; shears reads FLOAT or DOUBLE weights",
                type_name(t.data_type)
            ));
        }
    };
    Array::try_new(shape, data).ok_or_else(|| "data length does not match its shape".to_string())
}

/// An integer tensor (INT64 or INT32), flattened.
pub(crate) fn to_ints(t: &TensorProto) -> Result<Vec<i64>, String> {
    let (_, len) = shape_of(t).map_err(String::from)?;
    match DataType::try_from(t.data_type) {
        Ok(DataType::Int64) => Ok(match pick_raw(t, len, t.int64_data.len(), 8)? {
            Some(raw) => raw
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                .collect(),
            None => t.int64_data.clone(),
        }),
        Ok(DataType::Int32) => Ok(match pick_raw(t, len, t.int32_data.len(), 4)? {
            Some(raw) => raw
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
                .collect(),
            None => t.int32_data.iter().map(|&v| v as i64).collect(),
        }),
        _ => Err(format!(
            "has data type {}; expected INT64 or INT32",
            type_name(t.data_type)
        )),
    }
}
