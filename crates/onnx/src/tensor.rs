//! Tensors: IR arrays to `TensorProto` and back.
//!
//! shears writes float32 tensors as little-endian `raw_data`. It reads float tensors from
//! `raw_data`, `float_data` or `double_data` (FLOAT and DOUBLE), and integer tensors (shapes,
//! axes) from `raw_data`, `int64_data` or `int32_data`. Errors are plain details; callers add
//! the tensor's name.

use crate::proto::TensorProto;
use crate::proto::tensor_proto::{DataLocation, DataType};
use shears_ir::Array;

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

/// The tensor's shape and element count, refusing negative or overflowing dims and external
/// data.
fn shape_of(t: &TensorProto) -> Result<(Vec<usize>, usize), String> {
    if t.data_location == DataLocation::External as i32 || !t.external_data.is_empty() {
        let location = t.external_data.iter().find(|e| e.key == "location");
        let location =
            location.map_or("an external file".to_string(), |e| format!("'{}'", e.value));
        return Err(format!(
            "its data is stored in {location}, which shears does not read: re-export the model \
             with the weights inside the .onnx file"
        ));
    }
    let mut shape = Vec::with_capacity(t.dims.len());
    let mut len: usize = 1;
    for &d in &t.dims {
        let d =
            usize::try_from(d).map_err(|_| format!("negative dimension {d} in {:?}", t.dims))?;
        len = len
            .checked_mul(d)
            .ok_or_else(|| format!("dimensions {:?} overflow", t.dims))?;
        shape.push(d);
    }
    Ok((shape, len))
}

/// Checks that a typed field or `raw_data` holds `len` elements of `width` bytes; returns the
/// raw bytes to decode, or `None` to use the typed field.
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
    let (shape, len) = shape_of(t)?;
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
    let (_, len) = shape_of(t)?;
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
