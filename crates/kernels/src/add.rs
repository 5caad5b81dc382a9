//! Elementwise addition of two tensors of one shape (a residual connection), with an
//! activation in the same pass; the output is written once, never zero-filled first.

use crate::activation::{Activation, MIN_TASK, relu};
use rayon::prelude::*;

/// `activation(a + b)`, element by element. Panics if the lengths differ.
pub fn add(a: &[f32], b: &[f32], activation: Activation) -> Vec<f32> {
    assert_eq!(a.len(), b.len(), "add: lengths");
    let pairs = a.par_iter().zip(b).with_min_len(MIN_TASK);
    match activation {
        Activation::None => pairs.map(|(a, b)| a + b).collect(),
        Activation::Relu => pairs.map(|(a, b)| relu(a + b)).collect(),
    }
}
