//! Per-sample transforms: normalisation to `f32` and training augmentation
//! (random crop with zero padding, random horizontal flip).
//!
//! As in torchvision, augmentation works on the raw `u8` image — padding adds
//! black (0) pixels — and normalisation comes last.

use rand::Rng;

use crate::DataError;

/// Per-channel normalisation: `(pixel / 255 - mean[c]) / std[c]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    /// Per-channel mean, on the [0, 1] scale.
    pub mean: Vec<f32>,
    /// Per-channel standard deviation, on the [0, 1] scale.
    pub std: Vec<f32>,
}

impl Normalize {
    /// Checked constructor: equal, non-zero lengths and positive, finite stds.
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Result<Self, DataError> {
        let n = Normalize { mean, std };
        n.validate()?;
        Ok(n)
    }

    /// Only scales to [0, 1] (mean 0, std 1) for `channels` channels.
    pub fn unit(channels: usize) -> Self {
        Normalize {
            mean: vec![0.0; channels],
            std: vec![1.0; channels],
        }
    }

    /// Checks the values and that there is one mean and one std per channel.
    pub fn check(&self, channels: usize) -> Result<(), DataError> {
        self.validate()?;
        if self.mean.len() != channels {
            return Err(DataError::Config(format!(
                "normalisation has {} mean/std values but the images have {channels} channel(s)",
                self.mean.len()
            )));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), DataError> {
        if self.mean.is_empty() || self.mean.len() != self.std.len() {
            return Err(DataError::Config(format!(
                "normalisation needs as many means as stds (and at least one), got {} and {}",
                self.mean.len(),
                self.std.len()
            )));
        }
        if let Some(s) = self.std.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(DataError::Config(format!(
                "normalisation std {s} is not positive"
            )));
        }
        Ok(())
    }

    /// Per-channel lookup tables mapping every `u8` value to its normalised value.
    pub fn tables(&self) -> Vec<[f32; 256]> {
        let table = |(m, s): (&f32, &f32)| std::array::from_fn(|v| (v as f32 / 255.0 - m) / s);
        self.mean.iter().zip(&self.std).map(table).collect()
    }

    /// Normalises one CHW image into `out` (same length).
    pub fn apply(&self, image: &[u8], out: &mut [f32]) {
        apply_tables(&self.tables(), image, out);
    }
}

/// Normalises one CHW image with precomputed [`Normalize::tables`].
pub fn apply_tables(tables: &[[f32; 256]], image: &[u8], out: &mut [f32]) {
    let plane = image.len() / tables.len();
    for ((src, dst), table) in image.chunks(plane).zip(out.chunks_mut(plane)).zip(tables) {
        for (d, &s) in dst.iter_mut().zip(src) {
            *d = table[usize::from(s)];
        }
    }
}

/// Training augmentation settings. The default does nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Augment {
    /// Pad each side with this many black pixels, then crop back to the
    /// original size at a random offset (0 = no cropping).
    pub random_crop_padding: usize,
    /// Mirror left-right with probability 1/2.
    pub horizontal_flip: bool,
}

impl Augment {
    /// Whether any augmentation is enabled.
    pub fn is_active(&self) -> bool {
        self.random_crop_padding > 0 || self.horizontal_flip
    }

    /// Augments `image` (CHW, `shape`) into `out`, drawing offsets from `rng`.
    pub fn apply(&self, image: &[u8], shape: [usize; 3], rng: &mut impl Rng, out: &mut [u8]) {
        let p = self.random_crop_padding;
        let (top, left) = if p > 0 {
            (rng.random_range(0..=2 * p), rng.random_range(0..=2 * p))
        } else {
            (p, p)
        };
        crop_with_padding(image, shape, p, top, left, out);
        if self.horizontal_flip && rng.random_bool(0.5) {
            flip_horizontal(out, shape);
        }
    }
}

/// Pads `image` with `pad` zero pixels on every side and copies the
/// `H x W` window whose top-left corner is at (`top`, `left`) of the padded
/// image into `out`: `out[c][y][x] = image[c][y + top - pad][x + left - pad]`,
/// or 0 outside the image. `top`, `left` range over `0..=2 * pad`.
pub fn crop_with_padding(
    image: &[u8],
    [c, h, w]: [usize; 3],
    pad: usize,
    top: usize,
    left: usize,
    out: &mut [u8],
) {
    out.fill(0);
    // Output columns that land inside the source image, and where they come from.
    let x0 = pad.saturating_sub(left);
    let x1 = (w + pad).saturating_sub(left).min(w);
    let y0 = pad.saturating_sub(top);
    let y1 = (h + pad).saturating_sub(top).min(h);
    if x0 >= x1 {
        return;
    }
    let src_x0 = x0 + left - pad;
    for ch in 0..c {
        for y in y0..y1 {
            let src = (ch * h + y + top - pad) * w + src_x0;
            let dst = (ch * h + y) * w + x0;
            out[dst..dst + (x1 - x0)].copy_from_slice(&image[src..src + (x1 - x0)]);
        }
    }
}

/// Mirrors a CHW image left-right in place.
pub fn flip_horizontal(image: &mut [u8], [_, _, w]: [usize; 3]) {
    for row in image.chunks_mut(w) {
        row.reverse();
    }
}
