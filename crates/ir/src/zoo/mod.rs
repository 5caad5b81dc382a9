//! Built-in architectures: functions that build an IR graph for an input shape and class count.
//!
//! Layer names follow the PyTorch module paths of the reference definitions (`layer1.0.conv1`),
//! so `--ignore` patterns and reports read the same as in PyTorch tooling.

mod init;
mod lenet;
mod mobilenet;
mod resnet;
mod vgg;

use crate::Graph;
pub use init::Init;

/// The names `build` knows, in the order `shears` lists them.
pub const NAMES: &[&str] = &[
    "lenet5",
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
pub fn build(name: &str, spec: &ArchSpec) -> Option<Graph> {
    let mut init = Init::new(spec.seed);
    let graph = match name {
        "lenet5" => lenet::lenet5(spec, &mut init),
        "vgg11" => vgg::vgg(name, vgg::VGG11, spec, &mut init),
        "vgg16" => vgg::vgg(name, vgg::VGG16, spec, &mut init),
        "resnet20" => resnet::cifar_resnet(name, 3, spec, &mut init),
        "resnet32" => resnet::cifar_resnet(name, 5, spec, &mut init),
        "resnet56" => resnet::cifar_resnet(name, 9, spec, &mut init),
        "resnet110" => resnet::cifar_resnet(name, 18, spec, &mut init),
        "mobilenetv2" => mobilenet::mobilenetv2(spec, &mut init),
        _ => return None,
    };
    Some(graph)
}

#[cfg(test)]
mod tests;
