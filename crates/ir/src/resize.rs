//! Resizing of the spatial axes (ONNX `Resize` and `Upsample`): nearest and linear
//! interpolation under the coordinate transformations of the ONNX spec.
//!
//! Both modes are separable: along each axis, output pixel `o` is a weighted sum of at most two
//! input pixels. [`Resize::matrix`] gives those weights as an `[out, in]` matrix, so a runtime
//! computes `A_h · x · A_wᵀ` per channel and follows the spec exactly (the formulas are those
//! of `onnx/reference/ops/op_resize.py`).

use serde::{Deserialize, Serialize};

/// How the output size is given.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum ResizeTarget {
    /// `out = floor(in * scale)` per spatial axis `[h, w]`.
    Scales([f32; 2]),
    /// The output size `[h, w]`.
    Sizes([usize; 2]),
}

/// How an output pixel's position maps to a position in the input (ONNX
/// `coordinate_transformation_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Coordinates {
    /// `(o + 0.5) / scale - 0.5` (PyTorch's `align_corners=False`).
    HalfPixel,
    /// Half pixel, but 0 when the output has length 1.
    PytorchHalfPixel,
    /// `o * (in - 1) / (out - 1)` (PyTorch's `align_corners=True`).
    AlignCorners,
    /// `o / scale` (PyTorch's `nearest`, PaddlePaddle's `align_mode=1`).
    Asymmetric,
    /// `(o + 0.5) / scale` (TensorFlow's half-pixel nearest neighbour).
    TfHalfPixelForNn,
}

/// How nearest interpolation rounds a position (ONNX `nearest_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rounding {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// The interpolation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Interpolation {
    Nearest(Rounding),
    /// Bilinear on feature maps.
    Linear,
}

/// A resize of the two spatial axes of a `[C, H, W]` map.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resize {
    pub target: ResizeTarget,
    pub interpolation: Interpolation,
    pub coordinates: Coordinates,
}

impl Resize {
    /// The output length of spatial axis `axis` (0: height, 1: width) for an input of `len`,
    /// or `None` if it would be 0 or overflow.
    pub fn out_len(&self, axis: usize, len: usize) -> Option<usize> {
        let out = match self.target {
            ResizeTarget::Sizes(s) => s[axis],
            ResizeTarget::Scales(s) => {
                let out = (len as f64 * s[axis] as f64).floor();
                (out.is_finite() && out < (1u64 << 40) as f64).then_some(out as usize)?
            }
        };
        (out > 0).then_some(out)
    }

    /// The scale of axis `axis` as the spec uses it in coordinate transforms: the given scale,
    /// or `out / in` for a given size.
    fn scale(&self, axis: usize, len: usize, out: usize) -> f64 {
        match self.target {
            ResizeTarget::Scales(s) => s[axis] as f64,
            ResizeTarget::Sizes(_) => out as f64 / len as f64,
        }
    }

    /// The `[out, len]` row-major interpolation matrix of axis `axis`: row `o` holds the
    /// weights of the input pixels output pixel `o` is made of.
    pub fn matrix(&self, axis: usize, len: usize, out: usize) -> Vec<f32> {
        let scale = self.scale(axis, len, out);
        let mut m = vec![0.0f32; out * len];
        let last = (len - 1) as f64;
        for o in 0..out {
            let x = self.source(o, scale, len, out);
            let row = &mut m[o * len..(o + 1) * len];
            match self.interpolation {
                Interpolation::Nearest(rounding) => {
                    let i = round(x, rounding).clamp(0.0, last);
                    row[i as usize] = 1.0;
                }
                Interpolation::Linear => {
                    let x = x.clamp(0.0, last);
                    let i0 = x.floor();
                    let i1 = (i0 + 1.0).min(last);
                    let frac = (x - i0) as f32;
                    row[i0 as usize] += 1.0 - frac;
                    row[i1 as usize] += frac;
                }
            }
        }
        m
    }

    /// The input position output pixel `o` samples.
    fn source(&self, o: usize, scale: f64, len: usize, out: usize) -> f64 {
        let o = o as f64;
        match self.coordinates {
            Coordinates::HalfPixel => (o + 0.5) / scale - 0.5,
            Coordinates::PytorchHalfPixel if out > 1 => (o + 0.5) / scale - 0.5,
            Coordinates::PytorchHalfPixel => 0.0,
            Coordinates::AlignCorners if out > 1 => o * (len as f64 - 1.0) / (out as f64 - 1.0),
            Coordinates::AlignCorners => 0.0,
            Coordinates::Asymmetric => o / scale,
            Coordinates::TfHalfPixelForNn => (o + 0.5) / scale,
        }
    }
}

fn round(x: f64, rounding: Rounding) -> f64 {
    match rounding {
        Rounding::Floor => x.floor(),
        Rounding::Ceil => x.ceil(),
        Rounding::RoundPreferFloor if x.fract() == 0.5 => x.floor(),
        Rounding::RoundPreferCeil if x.fract() == 0.5 => x.ceil(),
        Rounding::RoundPreferFloor | Rounding::RoundPreferCeil => x.round(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resize(target: ResizeTarget, interpolation: Interpolation, c: Coordinates) -> Resize {
        Resize {
            target,
            interpolation,
            coordinates: c,
        }
    }

    #[test]
    fn nearest_doubling_repeats_each_pixel() {
        let r = resize(
            ResizeTarget::Scales([2.0, 2.0]),
            Interpolation::Nearest(Rounding::Floor),
            Coordinates::Asymmetric,
        );
        assert_eq!(r.out_len(0, 3), Some(6));
        let m = r.matrix(0, 3, 6);
        let picks: Vec<usize> = m
            .chunks(3)
            .map(|row| row.iter().position(|&w| w == 1.0).unwrap())
            .collect();
        assert_eq!(picks, [0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn half_pixel_bilinear_matches_pytorch() {
        // torch.nn.functional.interpolate(x, scale_factor=2, mode="bilinear",
        // align_corners=False) on [0, 1, 2, 3] along one axis gives
        // [0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3].
        let r = resize(
            ResizeTarget::Scales([2.0, 2.0]),
            Interpolation::Linear,
            Coordinates::HalfPixel,
        );
        let m = r.matrix(1, 4, 8);
        let x = [0.0f32, 1.0, 2.0, 3.0];
        let y: Vec<f32> = m
            .chunks(4)
            .map(|row| row.iter().zip(&x).map(|(a, b)| a * b).sum())
            .collect();
        assert_eq!(y, [0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]);
    }

    #[test]
    fn align_corners_keeps_the_ends() {
        let r = resize(
            ResizeTarget::Sizes([5, 5]),
            Interpolation::Linear,
            Coordinates::AlignCorners,
        );
        let m = r.matrix(0, 3, 5);
        let x = [0.0f32, 2.0, 4.0];
        let y: Vec<f32> = m
            .chunks(3)
            .map(|row| row.iter().zip(&x).map(|(a, b)| a * b).sum())
            .collect();
        assert_eq!(y, [0.0, 1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn rows_sum_to_one() {
        for c in [
            Coordinates::HalfPixel,
            Coordinates::PytorchHalfPixel,
            Coordinates::AlignCorners,
            Coordinates::Asymmetric,
            Coordinates::TfHalfPixelForNn,
        ] {
            for i in [
                Interpolation::Linear,
                Interpolation::Nearest(Rounding::RoundPreferCeil),
            ] {
                let r = resize(ResizeTarget::Sizes([7, 3]), i, c);
                for (len, out) in [(3, 7), (7, 3), (1, 4), (4, 1)] {
                    for row in r.matrix(0, len, out).chunks(len) {
                        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{c:?} {i:?}");
                    }
                }
            }
        }
    }
}
