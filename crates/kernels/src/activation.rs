//! Activations a kernel applies to its output in the same pass (conv + ReLU, batch norm +
//! ReLU), so that the network skips a separate pass over the activations.

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
