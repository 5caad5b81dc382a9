//! Size limits, checked before a buffer is allocated from a size that a file or an argument
//! gives, so that a hostile or mistaken size is an error naming the input, never an abort.

use crate::{Array, IrError};

/// Most elements one tensor (weight, constant or activation of one sample) may hold: 2^30
/// `f32` values, 4 GiB.
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 30;

/// The element count of `shape`, or [`IrError::TooLarge`] naming `what` when the product
/// overflows or exceeds [`MAX_TENSOR_ELEMENTS`].
pub fn tensor_elements(what: &str, shape: &[usize]) -> Result<usize, IrError> {
    Array::elements(shape)
        .filter(|&n| n <= MAX_TENSOR_ELEMENTS)
        .ok_or_else(|| IrError::TooLarge {
            what: what.to_string(),
            shape: shape.to_vec(),
            limit: MAX_TENSOR_ELEMENTS,
        })
}
