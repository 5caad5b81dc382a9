//! Choosing the burn backend at run time: `--device flex|tch|cuda|wgpu`.

use crate::RuntimeError;
use burn::tensor::Device;
use std::str::FromStr;

/// A backend shears can run on. `Flex` (pure Rust CPU) is always compiled; the others need
/// their cargo feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeviceKind {
    #[default]
    Flex,
    Tch,
    Cuda,
    Wgpu,
}

impl FromStr for DeviceKind {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, RuntimeError> {
        match s.to_ascii_lowercase().as_str() {
            "flex" | "cpu" => Ok(Self::Flex),
            "tch" | "libtorch" => Ok(Self::Tch),
            "cuda" => Ok(Self::Cuda),
            "wgpu" => Ok(Self::Wgpu),
            _ => Err(RuntimeError::Device {
                name: s.into(),
                hint: "choose one of flex, tch, cuda, wgpu".into(),
            }),
        }
    }
}

impl DeviceKind {
    /// The burn device for this backend (without autodiff).
    pub fn device(self) -> Result<Device, RuntimeError> {
        let missing = |feature: &str| RuntimeError::Device {
            name: format!("{self:?}").to_lowercase(),
            hint: format!(
                "this shears was built without it; rebuild with `cargo build --release --features {feature}` (see README)"
            ),
        };
        match self {
            Self::Flex => Ok(Device::flex()),
            // burn 0.22 marks libtorch deprecated; it is still the fastest CPU backend here.
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::Tch => Ok(Device::libtorch()),
            #[cfg(not(feature = "tch"))]
            Self::Tch => Err(missing("tch")),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Device::cuda(0)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda => Err(missing("cuda")),
            Self::Wgpu => Err(missing("wgpu")),
        }
    }
}
