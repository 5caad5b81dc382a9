//! Activations a kernel applies to its output in the same pass (conv + ReLU, batch norm +
//! ReLU, add + ReLU), so that the network skips a separate pass over the activations, and
//! the ReLU's backward pass for the layers that keep their output.

use rayon::prelude::*;

/// The fewest values one parallel task of an elementwise kernel takes.
pub(crate) const MIN_TASK: usize = 1 << 14;

/// What a kernel applies to its output before writing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Activation {
    #[default]
    None,
    /// `max(y, 0)` (a NaN stays NaN).
    Relu,
}

impl Activation {
    /// Applies the activation to `values` in place.
    pub fn apply(self, values: &mut [f32]) {
        match self {
            Self::None => {}
            Self::Relu => values.iter_mut().for_each(|v| *v = relu(*v)),
        }
    }
}

/// `max(y, 0)`, keeping a NaN.
pub(crate) fn relu(y: f32) -> f32 {
    if y < 0.0 { 0.0 } else { y }
}

/// The gradient through a ReLU whose output was `y`: `dy` where `y` is positive (or NaN, as
/// burn's ReLU keeps it), zero elsewhere.
pub(crate) fn relu_gate(y: f32, dy: f32) -> f32 {
    if y <= 0.0 { 0.0 } else { dy }
}

/// [`relu_gate`] element by element, in parallel. Panics if the lengths differ.
pub fn relu_gradient(y: &[f32], dy: &[f32]) -> Vec<f32> {
    assert_eq!(y.len(), dy.len(), "relu gradient: lengths");
    y.par_iter()
        .zip(dy)
        .with_min_len(MIN_TASK)
        .map(|(y, dy)| relu_gate(*y, *dy))
        .collect()
}
