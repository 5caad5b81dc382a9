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
pub(crate) fn im2col(x: &[f32], channels: usize, [h, w]: [Axis; 2], col: &mut [f32], row_stride: usize) {
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
                for (oy, out) in row.chunks_exact_mut(w.output).enumerate() {
                    if oy < ylo || oy >= yhi {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &x[h.source(oy, ki) * w.input..][..w.input];
                    out[..xlo].fill(0.0);
                    out[xhi..].fill(0.0);
                    if w.stride == 1 && xlo < xhi {
                        let start = w.source(xlo, kj);
                        out[xlo..xhi].copy_from_slice(&src[start..start + xhi - xlo]);
                    } else {
                        for ox in xlo..xhi {
                            out[ox] = src[w.source(ox, kj)];
                        }
                    }
                }
            }
        }
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
                        dst.iter_mut().zip(&out[xlo..xhi]).for_each(|(d, o)| *d += o);
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
