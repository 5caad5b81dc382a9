//! Choosing the burn backend at run time: `--device flex|tch|tch-cuda|cuda|wgpu`.

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
    /// libtorch on the first CUDA GPU (the `tch` feature, linked to a CUDA build of libtorch
    /// such as PyPI's `torch` wheels).
    TchCuda,
    Cuda,
    Wgpu,
}

impl FromStr for DeviceKind {
    type Err = RuntimeError;
    fn from_str(s: &str) -> Result<Self, RuntimeError> {
        let wanted = match s.to_ascii_lowercase().as_str() {
            "cpu" => "flex".to_string(),
            other => other.replacen("libtorch", "tch", 1),
        };
        Self::ALL
            .into_iter()
            .find(|kind| kind.name() == wanted)
            .ok_or_else(|| RuntimeError::Device {
                name: s.into(),
                hint: format!("choose one of {}", Self::ALL.map(Self::name).join(", ")),
            })
    }
}

impl DeviceKind {
    /// Every backend, in the order the help lists them.
    pub const ALL: [Self; 5] = [Self::Flex, Self::Tch, Self::TchCuda, Self::Cuda, Self::Wgpu];

    /// The name `--device` takes (`cpu` and `libtorch` are accepted as aliases too).
    pub fn name(self) -> &'static str {
        match self {
            Self::Flex => "flex",
            Self::Tch => "tch",
            Self::TchCuda => "tch-cuda",
            Self::Cuda => "cuda",
            Self::Wgpu => "wgpu",
        }
    }

    /// The burn device for this backend (without autodiff).
    pub fn device(self) -> Result<Device, RuntimeError> {
        let missing = |feature: &str| RuntimeError::Device {
            name: self.name().into(),
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
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            Self::TchCuda if tch::Cuda::is_available() => Ok(Device::libtorch_cuda(0)),
            #[cfg(feature = "tch")]
            Self::TchCuda => Err(RuntimeError::Device {
                name: self.name().into(),
                hint: "libtorch sees no CUDA GPU (no NVIDIA driver, or a CPU-only libtorch); choose tch (its CPU) or flex".into(),
            }),
            #[cfg(not(feature = "tch"))]
            Self::TchCuda => Err(missing("tch")),
            #[cfg(feature = "cuda")]
            Self::Cuda => Ok(Device::cuda(0)),
            #[cfg(not(feature = "cuda"))]
            Self::Cuda => Err(missing("cuda")),
            Self::Wgpu => Err(missing("wgpu")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_backend_parses_from_its_name() {
        for kind in DeviceKind::ALL {
            assert_eq!(kind.name().parse::<DeviceKind>().unwrap(), kind);
        }
        assert_eq!("CPU".parse::<DeviceKind>().unwrap(), DeviceKind::Flex);
        assert_eq!("libtorch".parse::<DeviceKind>().unwrap(), DeviceKind::Tch);
        assert_eq!(
            "libtorch-cuda".parse::<DeviceKind>().unwrap(),
            DeviceKind::TchCuda
        );
        assert!("tpu".parse::<DeviceKind>().is_err());
    }
}
