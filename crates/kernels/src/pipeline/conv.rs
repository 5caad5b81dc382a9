//! The pipeline's convolutions, from an input frame to an output frame: with the direct
//! kernel on the frames themselves (stride 1, 3x3 with padding 1 or 1x1 without), from the
//! input frame split into phase planes (padding 1 on every side, any stride: the frame is
//! the padded input; or a strided 1x1 without padding), or through dense copies of the input
//! and output (anything else).

use crate::conv::Conv2d;
use crate::direct::{Direct, Padded};
use crate::frame::Frame;
use crate::matmul::transpose_blocks;
use crate::wide::{Scratch as WideScratch, Wide};

/// How one convolution runs.
enum Path {
    /// On the frames: each kernel tap's offset in the input's planes, and the lanes of the
    /// wide output that hold the image ([`Frame::keep`]).
    Framed(Vec<usize>, Vec<u16>),
    /// From the input frame split into phase planes (the wide layout of the convolution with
    /// padding 1), each kernel tap's offset there.
    Phased(Wide, Vec<usize>),
    /// Through dense copies.
    Dense,
}

/// One convolution of the pipeline.
pub(super) struct Conv {
    conv: Conv2d,
    weight: usize,
    bias: Option<usize>,
    /// The input's and the output's frames.
    frames: [Frame; 2],
    path: Path,
}

/// Whether `conv` runs on the frames themselves ([`Conv::run`] then takes a residual).
pub(super) fn framed(conv: &Conv2d) -> bool {
    framed_taps(conv, 0).is_some()
}

/// Each kernel tap's offset in input planes of rows `row` values long, for a convolution
/// that runs on the frames: stride 1 and one group, 3x3 with padding 1 or 1x1 without.
fn framed_taps(conv: &Conv2d, row: usize) -> Option<Vec<usize>> {
    let plain = conv.stride == [1, 1] && conv.dilation == [1, 1] && conv.groups == 1;
    match (conv.kernel, conv.padding) {
        ([3, 3], [(1, 1), (1, 1)]) if plain => Some((0..9).map(|t| t / 3 * row + t % 3).collect()),
        ([1, 1], [(0, 0), (0, 0)]) if plain => Some(vec![row + 1]),
        _ => None,
    }
}

/// The phase planes a convolution reads the input frame from, and each kernel tap's offset
/// there, for one group and either padding 1 on every side (the frame is the padded input)
/// or a 1x1 kernel without padding, which reads what the centre tap of a 3x3 kernel with
/// padding 1 and the same stride reads (the shortcut of a downsampling residual block).
fn phased(conv: &Conv2d) -> Option<(Wide, Vec<usize>)> {
    if conv.groups != 1 {
        return None;
    }
    let [kh, kw] = conv.kernel;
    let [dh, dw] = conv.dilation;
    if conv.padding == [(1, 1); 2] && conv.kernel != [1, 1] {
        let wide = Wide::of(conv);
        let taps = (0..kh * kw).map(|t| wide.offset(0, [t / kw * dh, t % kw * dw]));
        return Some((wide, taps.collect()));
    }
    let pointwise = conv.kernel == [1, 1] && conv.padding == [(0, 0); 2];
    let as_3x3 = Conv2d {
        kernel: [3, 3],
        padding: [(1, 1); 2],
        ..*conv
    };
    (pointwise && conv.dilation == [1, 1]).then(|| {
        let wide = Wide::of(&as_3x3);
        let centre = wide.offset(0, [1, 1]);
        (wide, vec![centre])
    })
}

/// The buffers one task's copy of a convolution reuses.
pub(super) enum Scratch {
    Framed,
    Wide(WideScratch),
    Patches(Vec<f32>),
}

impl Conv {
    /// `conv` (batch 1) from frame `from` to frame `to`, its weight and bias the parameters
    /// of these indices.
    pub fn new(conv: Conv2d, (weight, bias): (usize, Option<usize>), frames: [Frame; 2]) -> Self {
        let path = match framed_taps(&conv, frames[0].row()) {
            Some(taps) => Path::Framed(taps, frames[1].keep()),
            None => phased(&conv).map_or(Path::Dense, |(wide, taps)| Path::Phased(wide, taps)),
        };
        Self {
            conv,
            weight,
            bias,
            frames,
            path,
        }
    }

    /// The weight as the direct kernel reads it, once per run (none for a GEMM).
    pub fn prepare(&self, params: &[&[f32]]) -> Option<Vec<f32>> {
        let (conv, w) = (&self.conv, params[self.weight]);
        match &self.path {
            Path::Framed(..) => Some(transpose_blocks(w, 1, conv.out_channels, conv.patch_len())),
            Path::Phased(wide, _) => wide.direct_weights(conv, w),
            Path::Dense if conv.kernel != [1, 1] => Wide::of(conv).direct_weights(conv, w),
            Path::Dense => None,
        }
    }

    pub fn scratch(&self) -> Scratch {
        let conv = &self.conv;
        match &self.path {
            Path::Framed(..) => Scratch::Framed,
            Path::Phased(wide, _) => Scratch::Wide(wide.scratch(conv, true, 1)),
            Path::Dense if conv.kernel != [1, 1] => {
                Scratch::Wide(Wide::of(conv).scratch(conv, true, 1))
            }
            Path::Dense => Scratch::Patches(conv.scratch()),
        }
    }

    /// Values of the dense copies a dense convolution needs.
    pub fn dense_len(&self) -> usize {
        match self.path {
            Path::Dense => self.frames.iter().map(Frame::dense_len).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// The output frame `out` from the input frame `input`, plus `residual` (a frame of the
    /// output's shape; only on the frames themselves, [`framed`]), rectified if `relu`;
    /// `weights` from [`Conv::prepare`], `dense` two buffers of [`Conv::dense_len`] values.
    pub fn run(
        &self,
        (params, weights): (&[&[f32]], Option<&[f32]>),
        relu: bool,
        (input, residual, out): (&[f32], Option<&[f32]>, &mut [f32]),
        s: &mut Scratch,
        dense: &mut [Vec<f32>; 2],
    ) {
        let [from, to] = self.frames;
        let (conv, bias) = (&self.conv, self.bias.map(|b| params[b]));
        assert!(
            residual.is_none() || matches!(self.path, Path::Framed(..)),
            "pipeline: a residual added to a convolution that is not on frames"
        );
        match (&self.path, s) {
            (Path::Framed(offsets, keep), _) => {
                Direct {
                    input: Padded {
                        data: input,
                        channel_stride: from.stride(),
                        channels: from.channels,
                        offsets,
                    },
                    weights: weights.expect("prepared"),
                    m: conv.out_channels,
                    bias,
                    columns: to.height * from.row(),
                    residual: residual.map(|r| &r[to.origin()..]),
                    relu,
                    keep: Some(keep),
                }
                .run(&mut out[to.origin()..], to.stride());
                to.clear_edges(out);
            }
            (Path::Phased(wide, taps), Scratch::Wide(s)) => {
                let weights = weights.expect("prepared");
                let frames = self.frames;
                wide.forward_framed(conv, (weights, taps, bias, relu), frames, input, out, s);
            }
            (_, s) => {
                let [x, y] = dense;
                let (x, y) = (&mut x[..from.dense_len()], &mut y[..to.dense_len()]);
                from.unpack(input, x);
                let w = params[self.weight];
                match s {
                    Scratch::Wide(s) => {
                        Wide::of(conv).forward_image(conv, [x, w], weights, bias, y, s)
                    }
                    Scratch::Patches(col) => conv.forward_image(x, w, bias, y, col),
                    Scratch::Framed => unreachable!("a dense convolution's scratch"),
                }
                to.pack(y, out);
                if relu {
                    to.relu(out);
                }
            }
        }
    }
}
