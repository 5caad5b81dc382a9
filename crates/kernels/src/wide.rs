//! Stride-1 convolution through a padded copy of the input (the "wide" layout): each row of
//! the patch matrix is then one contiguous copy instead of one per output row, at the price
//! of `(kw - 1) * dilation` extra output columns per row, computed and dropped.

use crate::conv::Conv2d;
use crate::direct::{self, Direct, TILE, WeightGrad};
use crate::matmul::{Mat, matmul};

/// The wide layout of one convolution.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wide {
    /// Padded input width: the stride between output rows in the wide output.
    width: usize,
    /// Columns of the wide patch matrix and output (output rows x padded width).
    columns: usize,
    /// The padded input's channels lie this far apart: the padded plane, the tail the last
    /// kernel tap reads, and [`TILE`] more so that the direct kernel's last tile reads zeros.
    channel_stride: usize,
    /// Wide output rows lie this far apart: `columns` rounded up to [`TILE`].
    out_stride: usize,
}

/// Buffers one task reuses across images: the padded input (its borders stay zero), the wide
/// patch matrix (without the direct kernel), the wide output (or output gradient, whose
/// dropped columns stay zero) and each tap's offset.
pub(crate) struct Scratch {
    input: Vec<f32>,
    col: Vec<f32>,
    out: Vec<f32>,
    offsets: Vec<usize>,
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
        Some(Self {
            width,
            columns,
            channel_stride: channel_len + TILE,
            out_stride: columns.div_ceil(TILE) * TILE,
        })
    }

    /// Columns of the wide output: output rows times the padded width.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The weight as the direct kernel reads it, when this CPU runs that kernel.
    pub fn direct_weights(&self, conv: &Conv2d, w: &[f32]) -> Option<Vec<f32>> {
        let m = conv.out_channels / conv.groups;
        direct::available().then(|| direct::transpose_weights(w, conv.groups, m, conv.patch_len()))
    }

    pub fn scratch(&self, conv: &Conv2d, direct: bool) -> Scratch {
        let [kh, kw] = conv.kernel;
        let [dh, dw] = conv.dilation;
        Scratch {
            input: vec![0.0; conv.in_channels / conv.groups * self.channel_stride],
            col: if direct {
                Vec::new()
            } else {
                vec![0.0; conv.patch_len() * self.columns]
            },
            out: vec![0.0; conv.out_channels / conv.groups * self.out_stride],
            offsets: (0..kh * kw)
                .map(|t| (t / kw) * dh * self.width + (t % kw) * dw)
                .collect(),
        }
    }

    /// One image's forward pass: `y = conv(x, w) + bias`; `direct_weights` (from
    /// [`Wide::direct_weights`]) selects the direct kernel.
    pub fn forward_image(
        &self,
        conv: &Conv2d,
        [x, w]: [&[f32]; 2],
        direct_weights: Option<&[f32]>,
        bias: Option<&[f32]>,
        y: &mut [f32],
        s: &mut Scratch,
    ) {
        let (channels, plane) = (
            conv.in_channels / conv.groups,
            conv.in_size[0] * conv.in_size[1],
        );
        let m = conv.out_channels / conv.groups;
        let [oh, ow] = conv.out_size();
        for (g, y) in y.chunks_exact_mut(m * oh * ow).enumerate() {
            self.pad(
                conv,
                &x[g * channels * plane..][..channels * plane],
                &mut s.input,
            );
            let bias = bias.map(|b| &b[g * m..(g + 1) * m]);
            match direct_weights {
                Some(weights) => Direct {
                    padded: &s.input,
                    channel_stride: self.channel_stride,
                    channels,
                    offsets: &s.offsets,
                    weights: &weights[g * m * conv.patch_len()..][..m * conv.patch_len()],
                    m,
                    bias,
                    columns: self.columns,
                }
                .run(&mut s.out, self.out_stride),
                None => self.gemm(conv, conv.group_weight(w, g), bias, s),
            }
            for (y, out) in y
                .chunks_exact_mut(oh * ow)
                .zip(s.out.chunks_exact(self.out_stride))
            {
                for (y, out) in y.chunks_exact_mut(ow).zip(out.chunks_exact(self.width)) {
                    y.copy_from_slice(&out[..ow]);
                }
            }
        }
    }

    /// The wide output as a GEMM of the weight and the wide patch matrix.
    fn gemm(&self, conv: &Conv2d, weight: Mat, bias: Option<&[f32]>, s: &mut Scratch) {
        self.patch_rows(conv, &s.input, &mut s.col);
        let rows = weight.rows;
        let out = &mut s.out[..rows * self.out_stride];
        if let Some(bias) = bias {
            for (row, b) in out.chunks_exact_mut(self.out_stride).zip(bias) {
                row.fill(*b);
            }
        }
        // The GEMM writes rows `columns` apart; spread them to `out_stride` afterwards.
        let patches = Mat::rows(&s.col, conv.patch_len(), self.columns);
        let mut packed = vec![0.0; rows * self.columns];
        matmul(&mut packed, weight, patches, false);
        for (row, packed) in out
            .chunks_exact_mut(self.out_stride)
            .zip(packed.chunks_exact(self.columns))
        {
            row[..self.columns]
                .iter_mut()
                .zip(packed)
                .for_each(|(o, p)| *o = if bias.is_some() { *o + p } else { *p });
        }
    }

    /// Adds one image's weight gradient to `dw_t` (per group `[K, m]`) with the direct
    /// kernel: the input padded, the output gradient spread to the wide layout.
    pub fn weight_image(
        &self,
        conv: &Conv2d,
        [x, dy]: [&[f32]; 2],
        dw_t: &mut [f32],
        s: &mut Scratch,
    ) {
        let (channels, plane) = (
            conv.in_channels / conv.groups,
            conv.in_size[0] * conv.in_size[1],
        );
        let (m, k) = (conv.out_channels / conv.groups, conv.patch_len());
        let [oh, ow] = conv.out_size();
        for (g, dw_t) in dw_t.chunks_exact_mut(m * k).enumerate() {
            self.pad(
                conv,
                &x[g * channels * plane..][..channels * plane],
                &mut s.input,
            );
            let dy = &dy[g * m * oh * ow..][..m * oh * ow];
            for (dy, wide) in dy
                .chunks_exact(oh * ow)
                .zip(s.out.chunks_exact_mut(self.out_stride))
            {
                for (dy, wide) in dy.chunks_exact(ow).zip(wide.chunks_exact_mut(self.width)) {
                    wide[..ow].copy_from_slice(dy);
                }
            }
            WeightGrad {
                padded: &s.input,
                channel_stride: self.channel_stride,
                channels,
                offsets: &s.offsets,
                dy: &s.out,
                dy_stride: self.out_stride,
                m,
                columns: self.columns,
            }
            .add_to(dw_t);
        }
    }

    /// Copies one group's input into the interior of the padded buffer.
    fn pad(&self, conv: &Conv2d, x: &[f32], padded: &mut [f32]) {
        let [h, w] = conv.in_size;
        let origin = conv.padding[0].0 * self.width + conv.padding[1].0;
        for (x, padded) in x
            .chunks_exact(h * w)
            .zip(padded.chunks_exact_mut(self.channel_stride))
        {
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
        for channel in padded.chunks_exact(self.channel_stride) {
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
