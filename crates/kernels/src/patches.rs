//! im2col and col2im for one image and one group: the input as the patch matrix `[K, P]` that
//! a convolution multiplies (K = channels x kernel positions, P = output positions), and back.

/// One spatial axis of a convolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Axis {
    pub input: usize,
    pub output: usize,
    pub kernel: usize,
    pub stride: usize,
    pub pad: usize,
    pub dilation: usize,
}

impl Axis {
    /// Input index read by output `o` at kernel tap `k`, when `o` is in [`Axis::valid`].
    fn source(&self, o: usize, k: usize) -> usize {
        o * self.stride + k * self.dilation - self.pad
    }

    /// The outputs `lo..hi` whose tap `k` reads inside the input (the rest read padding).
    fn valid(&self, k: usize) -> (usize, usize) {
        let offset = (k * self.dilation) as isize - self.pad as isize;
        let lo = if offset >= 0 {
            0
        } else {
            offset.unsigned_abs().div_ceil(self.stride)
        };
        let limit = self.input as isize - offset;
        let hi = if limit <= 0 {
            0
        } else {
            (limit as usize).div_ceil(self.stride)
        };
        let lo = lo.min(self.output);
        (lo, hi.clamp(lo, self.output))
    }
}

/// Writes the patch matrix of `x` (`[channels, H, W]`) into `col` (`[channels * kh * kw, oh * ow]`),
/// its rows `row_stride` apart (so that several images' matrices can sit side by side).
///
/// Only the entries that read the input are written: the ones that read padding must already
/// be zero, as a zeroed buffer or an earlier call with the same geometry leaves them.
pub(crate) fn im2col(
    x: &[f32],
    channels: usize,
    [h, w]: [Axis; 2],
    col: &mut [f32],
    row_stride: usize,
) {
    let plane = h.input * w.input;
    let outputs = h.output * w.output;
    let mut rows = col.chunks_mut(row_stride).map(|row| &mut row[..outputs]);
    for c in 0..channels {
        let x = &x[c * plane..(c + 1) * plane];
        for ki in 0..h.kernel {
            let (ylo, yhi) = h.valid(ki);
            for kj in 0..w.kernel {
                let (xlo, xhi) = w.valid(kj);
                let row = rows.next().expect("col holds K rows");
                if xlo >= xhi {
                    continue;
                }
                for oy in ylo..yhi {
                    let out = &mut row[oy * w.output..][xlo..xhi];
                    let src = &x[h.source(oy, ki) * w.input..][..w.input];
                    if w.stride == 1 {
                        let start = w.source(xlo, kj);
                        copy(&src[start..start + out.len()], out);
                    } else {
                        for (ox, out) in (xlo..xhi).zip(out) {
                            *out = src[w.source(ox, kj)];
                        }
                    }
                }
            }
        }
    }
}

/// A short copy, inlined in blocks of 16 (a row of a small feature map is too short for a
/// `memcpy` call to pay).
fn copy(src: &[f32], dst: &mut [f32]) {
    let (mut d, mut s) = (dst.chunks_exact_mut(16), src.chunks_exact(16));
    for (d, s) in (&mut d).zip(&mut s) {
        let s: &[f32; 16] = s.try_into().expect("16 values");
        d.copy_from_slice(s);
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// Adds the patch matrix `col` back onto `x` (`[channels, H, W]`): the transpose of [`im2col`].
pub(crate) fn col2im(col: &[f32], channels: usize, [h, w]: [Axis; 2], x: &mut [f32]) {
    let plane = h.input * w.input;
    let outputs = h.output * w.output;
    let mut rows = col.chunks_exact(outputs);
    for c in 0..channels {
        let x = &mut x[c * plane..(c + 1) * plane];
        for ki in 0..h.kernel {
            let (ylo, yhi) = h.valid(ki);
            for kj in 0..w.kernel {
                let (xlo, xhi) = w.valid(kj);
                let row = rows.next().expect("col holds K rows");
                for oy in ylo..yhi {
                    let out = &row[oy * w.output..][..w.output];
                    let dst = &mut x[h.source(oy, ki) * w.input..][..w.input];
                    if w.stride == 1 && xlo < xhi {
                        let start = w.source(xlo, kj);
                        let dst = &mut dst[start..start + xhi - xlo];
                        dst.iter_mut()
                            .zip(&out[xlo..xhi])
                            .for_each(|(d, o)| *d += o);
                    } else {
                        for ox in xlo..xhi {
                            dst[w.source(ox, kj)] += out[ox];
                        }
                    }
                }
            }
        }
    }
}
