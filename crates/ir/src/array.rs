//! A dense row-major `f32` array with a shape: how the IR stores every weight.

use serde::{Deserialize, Serialize};

/// A dense, row-major `f32` array.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Array {
    /// Extent of each axis, outermost first.
    pub shape: Vec<usize>,
    /// `shape.iter().product()` values in row-major order.
    pub data: Vec<f32>,
}

impl Array {
    /// An array from its shape and data. Panics if they disagree: callers that take user input
    /// check with [`Array::try_new`] instead.
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self::try_new(shape, data).expect("array data length must match its shape")
    }

    /// An array from its shape and data, or `None` when `data.len()` is not the shape's product.
    pub fn try_new(shape: Vec<usize>, data: Vec<f32>) -> Option<Self> {
        (Self::elements(&shape) == Some(data.len())).then_some(Self { shape, data })
    }

    /// The number of elements of `shape`, or `None` if the product overflows.
    pub fn elements(shape: &[usize]) -> Option<usize> {
        shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
    }

    /// An array of zeros.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let len = shape.iter().product();
        Self {
            shape,
            data: vec![0.0; len],
        }
    }

    /// An array filled with one value.
    pub fn full(shape: Vec<usize>, value: f32) -> Self {
        let len = shape.iter().product();
        Self {
            shape,
            data: vec![value; len],
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the array holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of elements in one slice along axis 0 (a filter of a conv weight, a row of a matrix).
    pub fn row_len(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// The `i`-th slice along axis 0.
    pub fn row(&self, i: usize) -> &[f32] {
        let n = self.row_len();
        &self.data[i * n..(i + 1) * n]
    }
}
