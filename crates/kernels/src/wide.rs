//! Stride-1 convolution through a padded copy of the input (the "wide" layout): each row of
//! the patch matrix is then one contiguous copy instead of one per output row, at the price
//! of `(kw - 1) * dilation` extra output columns per row, computed and dropped.

use crate::conv::Conv2d;
use crate::matmul::{Mat, matmul};

/// The wide layout of one convolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wide {
    /// Padded input width: the stride between output rows in the wide output.
    width: usize,
    /// Columns of the wide patch matrix and output (output rows x padded width).
    columns: usize,
    /// Values per channel of the padded input, with the tail the last kernel tap reads.
    channel_len: usize,
}

/// Buffers one task reuses across images: the padded input (its borders stay zero), the wide
/// patch matrix and the wide output.
pub(crate) struct Scratch {
    input: Vec<f32>,
    col: Vec<f32>,
    out: Vec<f32>,
}

impl Wide {
    /// The wide layout of `conv`, for a stride-1 convolution.
    pub fn of(conv: &Conv2d) -> Option<Self> {
        if conv.stride != [1, 1] {
            return None;
        }
        let [h, w] = conv.in_size;
        let [(top, bottom), (left, right)] = conv.padding;
        let width = w + left + right;
        let columns = conv.out_size()[0] * width;
        let channel_len = (h + top + bottom) * width + (conv.kernel[1] - 1) * conv.dilation[1];
        Some(Self { width, columns, channel_len })
    }

    pub fn scratch(&self, conv: &Conv2d) -> Scratch {
        Scratch {
            input: vec![0.0; conv.in_channels / conv.groups * self.channel_len],
            col: vec![0.0; conv.patch_len() * self.columns],
            out: vec![0.0; conv.out_channels / conv.groups * self.columns],
        }
    }

    /// One image's forward pass: `y = conv(x, w) + bias`.
    pub fn forward_image(
        &self,
        conv: &Conv2d,
        [x, w]: [&[f32]; 2],
        bias: Option<&[f32]>,
        y: &mut [f32],
        s: &mut Scratch,
    ) {
        let (channels, plane) = (conv.in_channels / conv.groups, conv.in_size[0] * conv.in_size[1]);
        let m = conv.out_channels / conv.groups;
        let [oh, ow] = conv.out_size();
        for (g, y) in y.chunks_exact_mut(m * oh * ow).enumerate() {
            self.pad(conv, &x[g * channels * plane..][..channels * plane], &mut s.input);
            self.patch_rows(conv, &s.input, &mut s.col);
            if let Some(bias) = bias {
                for (row, b) in s.out.chunks_exact_mut(self.columns).zip(&bias[g * m..(g + 1) * m]) {
                    row.fill(*b);
                }
            }
            let patches = Mat::rows(&s.col, conv.patch_len(), self.columns);
            matmul(&mut s.out, conv.group_weight(w, g), patches, bias.is_some());
            for (y, out) in y.chunks_exact_mut(oh * ow).zip(s.out.chunks_exact(self.columns)) {
                for (y, out) in y.chunks_exact_mut(ow).zip(out.chunks_exact(self.width)) {
                    y.copy_from_slice(&out[..ow]);
                }
            }
        }
    }

    /// Copies one group's input into the interior of the padded buffer.
    fn pad(&self, conv: &Conv2d, x: &[f32], padded: &mut [f32]) {
        let [h, w] = conv.in_size;
        let origin = conv.padding[0].0 * self.width + conv.padding[1].0;
        for (x, padded) in x.chunks_exact(h * w).zip(padded.chunks_exact_mut(self.channel_len)) {
            for (row, x) in x.chunks_exact(w).enumerate() {
                padded[origin + row * self.width..][..w].copy_from_slice(x);
            }
        }
    }

    /// Row (c, ki, kj) of the wide patch matrix: channel c of the padded input from the tap's
    /// offset on.
    fn patch_rows(&self, conv: &Conv2d, padded: &[f32], col: &mut [f32]) {
        let [kh, kw] = conv.kernel;
        let [dh, dw] = conv.dilation;
        let mut rows = col.chunks_exact_mut(self.columns);
        for channel in padded.chunks_exact(self.channel_len) {
            for ki in 0..kh {
                for kj in 0..kw {
                    let offset = ki * dh * self.width + kj * dw;
                    let row = rows.next().expect("col holds K rows");
                    row.copy_from_slice(&channel[offset..offset + self.columns]);
                }
            }
        }
    }
}
