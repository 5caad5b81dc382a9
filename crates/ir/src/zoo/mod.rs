//! Built-in architectures: functions that build an IR graph for an input shape and class count.
//!
//! Layer names follow the PyTorch module paths of the reference definitions (`layer1.0.conv1`),
//! so `--ignore` patterns and reports read the same as in PyTorch tooling.

mod init;
mod lenet;
mod mobilenet;
mod resnet;
mod vgg;

use crate::limits::tensor_elements;
use crate::{Graph, IrError};
pub use init::Init;

/// The names `build` knows, in the order `shears` lists them.
pub const NAMES: &[&str] = &[
    "lenet5",
    "lenet5-caffe",
    "lenet300",
    "vgg11",
    "vgg16",
    "resnet20",
    "resnet32",
    "resnet56",
    "resnet110",
    "mobilenetv2",
];

/// What a built-in architecture is built for.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchSpec {
    /// `[C, H, W]` of one input sample.
    pub input_shape: [usize; 3],
    pub classes: usize,
    /// Seed of the weight initialisation.
    pub seed: u64,
}

impl Default for ArchSpec {
    fn default() -> Self {
        Self {
            input_shape: [3, 32, 32],
            classes: 10,
            seed: 0,
        }
    }
}

/// Builds the architecture called `name`, or returns `None` if no built-in has that name.
/// Panics if a weight would exceed the tensor limit: for a shape a user gives, use
/// [`try_build`].
pub fn build(name: &str, spec: &ArchSpec) -> Option<Graph> {
    try_build(name, spec).map(|g| g.expect("built-in weights within the tensor limit"))
}

/// [`build`], with [`IrError::TooLarge`] when the input shape makes a weight (or one sample's
/// input) larger than [`crate::limits::MAX_TENSOR_ELEMENTS`]; nothing that large is allocated.
pub fn try_build(name: &str, spec: &ArchSpec) -> Option<Result<Graph, IrError>> {
    if let Err(e) = tensor_elements("the input shape", &spec.input_shape) {
        return NAMES.contains(&name).then_some(Err(e));
    }
    let mut init = Init::new(spec.seed);
    let graph = match name {
        "lenet5" => lenet::lenet5(spec, &mut init),
        "lenet5-caffe" => lenet::lenet5_caffe(spec, &mut init),
        "lenet300" => lenet::lenet300(spec, &mut init),
        "vgg11" => vgg::vgg(name, vgg::VGG11, spec, &mut init),
        "vgg16" => vgg::vgg(name, vgg::VGG16, spec, &mut init),
        "resnet20" => resnet::cifar_resnet(name, 3, spec, &mut init),
        "resnet32" => resnet::cifar_resnet(name, 5, spec, &mut init),
        "resnet56" => resnet::cifar_resnet(name, 9, spec, &mut init),
        "resnet110" => resnet::cifar_resnet(name, 18, spec, &mut init),
        "mobilenetv2" => mobilenet::mobilenetv2(spec, &mut init),
        _ => return None,
    };
    Some(init.finish(graph))
}

#[cfg(test)]
mod tests;
