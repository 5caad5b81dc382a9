//! BatchNorm momentum between PyTorch's convention (the IR's) and ONNX's.
//!
//! PyTorch weighs the new batch statistic by `momentum` (default 0.1); ONNX weighs the running
//! statistic by it (default 0.9), so `onnx = 1 - pytorch`. In `f32` that subtraction loses bits
//! (0.9 is coarser than 0.1), so reading back picks the shortest decimal that maps to the same
//! ONNX value: 0.1 → 0.9 → 0.1 round trips exactly.

/// ONNX `momentum` attribute for an IR (PyTorch) momentum.
pub(crate) fn to_onnx(pytorch: f32) -> f32 {
    (1.0 - pytorch as f64) as f32
}

/// IR (PyTorch) momentum for an ONNX `momentum` attribute.
pub(crate) fn from_onnx(onnx: f32) -> f32 {
    let exact = 1.0 - onnx as f64;
    for digits in 1..=9 {
        let scale = 10f64.powi(digits);
        let candidate = ((exact * scale).round() / scale) as f32;
        if to_onnx(candidate) == onnx {
            return candidate;
        }
    }
    exact as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_momenta_round_trip_exactly() {
        for m in [0.1f32, 0.01, 0.03, 0.001, 0.05, 0.2, 0.5, 0.0, 1.0, 0.0997] {
            assert_eq!(from_onnx(to_onnx(m)), m, "momentum {m}");
        }
        assert_eq!(to_onnx(0.1), 0.9);
    }

    #[test]
    fn any_momentum_round_trips_to_the_same_onnx_value() {
        for i in 0..=1000 {
            let m = i as f32 / 1000.0 + 1e-5;
            assert_eq!(to_onnx(from_onnx(to_onnx(m))), to_onnx(m));
        }
    }
}
