//! What an op importer sees of its node: attributes, constant inputs and input shapes.

use crate::OnnxError;
use crate::proto::attribute_proto::AttributeType;
use crate::proto::{AttributeProto, NodeProto, TensorProto};
use crate::tensor;
use shears_ir::{Array, Graph, OutletId};

/// The largest window, stride, padding, dilation, group count or input extent shears accepts:
/// far beyond any real model, small enough that shape arithmetic cannot overflow.
pub(crate) const MAX_EXTENT: usize = 1 << 24;

/// One resolved input of a node.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Input<'a> {
    /// An omitted optional input (empty name) or one past the end of the list.
    Absent,
    /// A value computed by an earlier node or a graph input.
    Value(OutletId),
    /// An initializer or the output of a `Constant` node.
    Const(&'a TensorProto),
}

impl Input<'_> {
    /// The number of elements of a constant input (0 for others).
    pub fn elements(&self) -> usize {
        match self {
            Input::Const(t) => tensor::elements_of(t),
            _ => 0,
        }
    }
}

/// A node being imported, with its inputs resolved.
pub(crate) struct Ctx<'a> {
    /// The node's (unique) IR name.
    pub name: &'a str,
    pub node: &'a NodeProto,
    /// Version of the default ONNX opset the model imports.
    pub opset: i64,
    pub inputs: Vec<Input<'a>>,
    /// The IR graph built so far, for input shapes.
    pub graph: &'a Graph,
}

impl<'a> Ctx<'a> {
    /// An error about this node.
    pub fn fail(&self, detail: impl Into<String>) -> OnnxError {
        OnnxError::Node {
            node: self.name.to_string(),
            op: self.node.op_type.clone(),
            detail: detail.into(),
        }
    }

    pub fn input(&self, index: usize) -> Input<'a> {
        self.inputs.get(index).copied().unwrap_or(Input::Absent)
    }

    fn input_name(&self, index: usize) -> &str {
        self.node.input.get(index).map_or("", String::as_str)
    }

    fn attr(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// Whether the node has attribute `name`.
    pub fn has_attr(&self, name: &str) -> bool {
        self.attr(name).is_some()
    }

    fn kind_of(a: &AttributeProto) -> Option<AttributeType> {
        AttributeType::try_from(a.r#type).ok()
    }

    /// An integer attribute, or `default` when absent.
    pub fn int(&self, name: &str, default: i64) -> Result<i64, OnnxError> {
        match self.attr(name) {
            None => Ok(default),
            Some(a) => match (a.i, Self::kind_of(a)) {
                (Some(v), _) => Ok(v),
                (None, Some(AttributeType::Int)) => Ok(0),
                _ => Err(self.fail(format!("attribute '{name}' must be an int"))),
            },
        }
    }

    /// A float attribute, or `default` when absent.
    pub fn float(&self, name: &str, default: f32) -> Result<f32, OnnxError> {
        match self.attr(name) {
            None => Ok(default),
            Some(a) => match (a.f, Self::kind_of(a)) {
                (Some(v), _) => Ok(v),
                (None, Some(AttributeType::Float)) => Ok(0.0),
                _ => Err(self.fail(format!("attribute '{name}' must be a float"))),
            },
        }
    }

    /// A list-of-ints attribute, or `None` when absent.
    pub fn ints(&self, name: &str) -> Result<Option<&'a [i64]>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) if !a.ints.is_empty() || Self::kind_of(a) == Some(AttributeType::Ints) => {
                Ok(Some(&a.ints))
            }
            Some(_) => Err(self.fail(format!("attribute '{name}' must be a list of ints"))),
        }
    }

    /// A list-of-floats attribute, or `None` when absent.
    pub fn floats(&self, name: &str) -> Result<Option<&'a [f32]>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) if !a.floats.is_empty() || Self::kind_of(a) == Some(AttributeType::Floats) => {
                Ok(Some(&a.floats))
            }
            Some(_) => Err(self.fail(format!("attribute '{name}' must be a list of floats"))),
        }
    }

    /// A string attribute, or `None` when absent.
    pub fn string(&self, name: &str) -> Result<Option<String>, OnnxError> {
        match self.attr(name) {
            None => Ok(None),
            Some(a) => match &a.s {
                Some(s) => Ok(Some(String::from_utf8_lossy(s).into_owned())),
                None if Self::kind_of(a) == Some(AttributeType::String) => Ok(Some(String::new())),
                None => Err(self.fail(format!("attribute '{name}' must be a string"))),
            },
        }
    }

    /// A list-of-ints attribute of `len` values, each in `min..=MAX_EXTENT`, or `default` when
    /// absent.
    pub fn usizes(
        &self,
        name: &str,
        len: usize,
        min: usize,
        default: usize,
    ) -> Result<Vec<usize>, OnnxError> {
        let Some(values) = self.ints(name)? else {
            return Ok(vec![default; len]);
        };
        if values.len() != len {
            return Err(self.fail(format!(
                "attribute '{name}' has {} values {values:?}; shears supports 2-D windows only (expected {len})",
                values.len()
            )));
        }
        values
            .iter()
            .map(|&v| {
                usize::try_from(v)
                    .ok()
                    .filter(|v| (min..=MAX_EXTENT).contains(v))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                self.fail(format!(
                    "attribute '{name}' = {values:?} must hold values from {min} to {MAX_EXTENT}"
                ))
            })
    }

    /// A `[h, w]` attribute of positive values (strides, dilations), or `[default; 2]`.
    pub fn pair(&self, name: &str, default: usize) -> Result<[usize; 2], OnnxError> {
        let v = self.usizes(name, 2, 1, default)?;
        Ok([v[0], v[1]])
    }

    /// The constant input at `index` (`what` names it in errors), `None` if omitted.
    pub fn const_input(
        &self,
        index: usize,
        what: &str,
    ) -> Result<Option<&'a TensorProto>, OnnxError> {
        match self.input(index) {
            Input::Absent => Ok(None),
            Input::Const(t) => Ok(Some(t)),
            Input::Value(_) => Err(self.fail(format!(
                "input {index} ('{}', the {what}) is computed by the graph; shears needs it to be an initializer or a Constant",
                self.input_name(index)
            ))),
        }
    }

    /// A float constant input as an array, `None` if omitted.
    fn float_input(&self, index: usize, what: &str) -> Result<Option<Array>, OnnxError> {
        self.const_input(index, what)?
            .map(|t| self.array(index, t))
            .transpose()
    }

    /// A float constant input that is a weight: NaN or an infinity in it is an error naming
    /// the tensor.
    pub fn weight(&self, index: usize, what: &str) -> Result<Option<Array>, OnnxError> {
        let Some(a) = self.float_input(index, what)? else {
            return Ok(None);
        };
        tensor::check_finite(self.input_name(index), self.name, &a.data)?;
        Ok(Some(a))
    }

    /// A required float constant input.
    pub fn required_weight(&self, index: usize, what: &str) -> Result<Array, OnnxError> {
        self.weight(index, what)?
            .ok_or_else(|| self.fail(format!("input {index} (the {what}) is missing")))
    }

    fn array(&self, index: usize, t: &TensorProto) -> Result<Array, OnnxError> {
        tensor::to_array(t).map_err(|detail| OnnxError::Tensor {
            tensor: self.input_name(index).to_string(),
            detail,
        })
    }

    /// A one-element float constant input; it may be infinite (a bound), not NaN.
    pub fn scalar(&self, index: usize, what: &str) -> Result<Option<f32>, OnnxError> {
        match self.float_input(index, what)? {
            None => Ok(None),
            Some(a) if a.len() == 1 && a.data[0].is_nan() => {
                Err(self.fail(format!("the {what} is NaN")))
            }
            Some(a) if a.len() == 1 => Ok(Some(a.data[0])),
            Some(a) => Err(self.fail(format!(
                "the {what} must be a single value, got shape {:?}",
                a.shape
            ))),
        }
    }

    /// An integer constant input, flattened.
    pub fn const_ints(&self, index: usize, what: &str) -> Result<Option<Vec<i64>>, OnnxError> {
        let Some(t) = self.const_input(index, what)? else {
            return Ok(None);
        };
        tensor::to_ints(t)
            .map(Some)
            .map_err(|detail| OnnxError::Tensor {
                tensor: self.input_name(index).to_string(),
                detail,
            })
    }

    /// The per-sample shape (no batch axis) of data input `index`, inferred on the graph so far.
    pub fn shape(&self, index: usize) -> Result<Vec<usize>, OnnxError> {
        let Input::Value(outlet) = self.input(index) else {
            return Err(self.fail(format!("input {index} must be a computed value")));
        };
        let shapes = self.graph.infer_shapes().map_err(OnnxError::Invalid)?;
        shapes
            .get(outlet.node)
            .and_then(|s| s.get(outlet.slot))
            .cloned()
            .ok_or_else(|| self.fail(format!("cannot infer the shape of input {index}")))
    }

    /// The rank of data input `index`, counting the batch axis as ONNX does.
    pub fn rank(&self, index: usize) -> Result<usize, OnnxError> {
        Ok(self.shape(index)?.len() + 1)
    }

    /// An ONNX axis of a rank-`rank` tensor (negative counts from the end), as a non-negative
    /// axis.
    pub fn axis_of_rank(&self, axis: i64, rank: usize) -> Result<usize, OnnxError> {
        let a = if axis < 0 { axis + rank as i64 } else { axis };
        usize::try_from(a)
            .ok()
            .filter(|&a| a < rank)
            .ok_or_else(|| self.fail(format!("axis {axis} is out of range for rank {rank}")))
    }

    /// An ONNX axis (negative counts from the end) of data input 0, as a non-negative axis.
    pub fn axis(&self, axis: i64) -> Result<usize, OnnxError> {
        if let Ok(axis) = usize::try_from(axis) {
            return Ok(axis);
        }
        let rank = self.rank(0)?;
        usize::try_from(rank as i64 + axis)
            .map_err(|_| self.fail(format!("axis {axis} is out of range for rank {rank}")))
    }
}
