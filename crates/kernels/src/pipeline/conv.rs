//! The pipeline's convolutions, from an input frame to an output frame. Where it can, the
//! direct kernel writes the output frame from its origin (its lane mask zeroing the border
//! columns, the residual added and the ReLU applied as it stores), reading the input frame
//! itself (stride 1, 3x3 with padding 1 or 1x1 without) or the input frame split into phase
//! planes as wide as the output frame's rows (padding 1 on every side, any stride: the frame
//! is the padded input; or a strided 1x1 without padding, through a 3x3 layout's centre tap).
//! Anything else runs through dense copies of its input and output.

use crate::conv::Conv2d;
use crate::direct::{Direct, Padded};
use crate::frame::Frame;
use crate::matmul::transpose_blocks;
use crate::wide::{Scratch as WideScratch, Wide};

/// How one convolution runs.
enum Path {
    /// The direct kernel into the output frame: each kernel tap's offset in the input frame's
    /// planes, or in its phase planes (`phases`).
    Direct {
        taps: Vec<usize>,
        phases: Option<Wide>,
    },
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
    /// The lanes of the direct kernel's output that hold the image ([`Frame::keep`]).
    keep: Vec<u16>,
}

/// The buffers one task's copy of a convolution reuses.
pub(super) enum Scratch {
    Framed,
    Wide(WideScratch),
    Patches(Vec<f32>),
}

/// Whether `conv` from frame `from` to frame `to` runs on the direct kernel into the output
/// frame, which adds a residual as it stores ([`Conv::run`]).
pub(super) fn stores_to_frame(conv: &Conv2d, frames: [Frame; 2]) -> bool {
    direct_path(conv, frames).is_some()
}

/// The direct path of `conv`, if it has one (see the module's header).
fn direct_path(conv: &Conv2d, [from, to]: [Frame; 2]) -> Option<Path> {
    if conv.groups != 1 {
        return None;
    }
    let (row, plain) = (from.row(), conv.stride == [1, 1] && conv.dilation == [1, 1]);
    let taps = match (conv.kernel, conv.padding) {
        ([3, 3], [(1, 1), (1, 1)]) if plain => (0..9).map(|t| t / 3 * row + t % 3).collect(),
        ([1, 1], [(0, 0), (0, 0)]) if plain => vec![row + 1],
        _ => return phased(conv, to.row()),
    };
    Some(Path::Direct { taps, phases: None })
}

/// The direct path through phase planes `width` columns wide: for padding 1 on every side,
/// or a 1x1 kernel without padding, which reads what the centre tap of a 3x3 kernel with
/// padding 1 and the same stride reads (the shortcut of a downsampling residual block).
fn phased(conv: &Conv2d, width: usize) -> Option<Path> {
    let [kh, kw] = conv.kernel;
    let [dh, dw] = conv.dilation;
    if conv.padding == [(1, 1); 2] && conv.kernel != [1, 1] {
        let wide = Wide::widened(conv, width)?;
        let taps = (0..kh * kw).map(|t| wide.offset(0, [t / kw * dh, t % kw * dw]));
        let taps = taps.collect();
        return Some(Path::Direct {
            taps,
            phases: Some(wide),
        });
    }
    let pointwise = conv.kernel == [1, 1] && conv.padding == [(0, 0); 2] && conv.dilation == [1, 1];
    let as_3x3 = Conv2d {
        kernel: [3, 3],
        padding: [(1, 1); 2],
        ..*conv
    };
    let wide = Wide::widened(&as_3x3, width).filter(|_| pointwise)?;
    Some(Path::Direct {
        taps: vec![wide.offset(0, [1, 1])],
        phases: Some(wide),
    })
}

impl Conv {
    /// `conv` (batch 1) from frame `from` to frame `to`, its weight and bias the parameters
    /// of these indices.
    pub fn new(conv: Conv2d, (weight, bias): (usize, Option<usize>), frames: [Frame; 2]) -> Self {
        Self {
            path: direct_path(&conv, frames).unwrap_or(Path::Dense),
            keep: frames[1].keep(),
            conv,
            weight,
            bias,
            frames,
        }
    }

    /// The weight as the direct kernel reads it, once per run (none for a GEMM).
    pub fn prepare(&self, params: &[&[f32]]) -> Option<Vec<f32>> {
        let (conv, w) = (&self.conv, params[self.weight]);
        match &self.path {
            Path::Direct { .. } => {
                Some(transpose_blocks(w, 1, conv.out_channels, conv.patch_len()))
            }
            Path::Dense if conv.kernel != [1, 1] => Wide::of(conv).direct_weights(conv, w),
            Path::Dense => None,
        }
    }

    pub fn scratch(&self) -> Scratch {
        let conv = &self.conv;
        match &self.path {
            Path::Direct { phases: None, .. } => Scratch::Framed,
            Path::Direct {
                phases: Some(wide), ..
            } => Scratch::Wide(wide.scratch(conv, true, 1)),
            Path::Dense if conv.kernel != [1, 1] => {
                Scratch::Wide(Wide::of(conv).scratch(conv, true, 1))
            }
            Path::Dense => Scratch::Patches(conv.scratch()),
        }
    }

    /// The phase planes it reads its input frame split into, if it does.
    pub fn phases(&self) -> Option<Wide> {
        match &self.path {
            Path::Direct { phases, .. } => *phases,
            Path::Dense => None,
        }
    }

    /// Values of the dense copies a dense convolution needs.
    pub fn dense_len(&self) -> usize {
        match self.path {
            Path::Dense => self.frames.iter().map(Frame::dense_len).max().unwrap_or(0),
            Path::Direct { .. } => 0,
        }
    }

    /// The output frame `out` from the input frame `input`, plus `residual` (a frame of the
    /// output's shape; only on the direct path, [`stores_to_frame`]), rectified if `relu`,
    /// but for its edges unless [`Conv::writes_edges`];
    /// `weights` from [`Conv::prepare`], `dense` two buffers of [`Conv::dense_len`] values.
    /// `split` is the scratch of an earlier convolution that split the same input into the
    /// same [`Conv::phases`] in this image (the two strided convolutions of a downsampling
    /// block): this one reads its phase planes instead of splitting the input again.
    pub fn run(
        &self,
        (params, weights): (&[&[f32]], Option<&[f32]>),
        relu: bool,
        (input, residual, out): (&[f32], Option<&[f32]>, &mut [f32]),
        (s, split): (&mut Scratch, Option<&Scratch>),
        dense: &mut [Vec<f32>; 2],
    ) {
        let [from, to] = self.frames;
        let (conv, bias) = (&self.conv, self.bias.map(|b| params[b]));
        let Path::Direct { taps, phases } = &self.path else {
            assert!(
                residual.is_none(),
                "pipeline: a residual for a dense convolution"
            );
            return self.dense(params, (weights, relu), (input, out), s, dense);
        };
        let input = match (phases, split, s) {
            (Some(wide), Some(Scratch::Wide(split)), _) => wide.split_input(conv, split, taps),
            (Some(wide), _, Scratch::Wide(s)) => {
                wide.split_frame(from, input, s);
                wide.split_input(conv, s, taps)
            }
            _ => Padded {
                data: input,
                channel_stride: from.stride(),
                channels: from.channels,
                offsets: taps,
            },
        };
        Direct {
            input,
            weights: weights.expect("prepared"),
            m: conv.out_channels,
            bias,
            columns: to.height * to.row(),
            residual: residual.map(|r| &r[to.origin()..]),
            relu,
            keep: Some(&self.keep),
        }
        .run(&mut out[to.origin()..], to.stride());
    }

    /// Whether [`Conv::run`] writes the output frame's edges ([`Frame::clear_edges`]): the
    /// dense path packs the whole frame, the direct kernel writes from the frame's origin and
    /// leaves the edges as they were.
    pub fn writes_edges(&self) -> bool {
        matches!(self.path, Path::Dense)
    }

    /// A convolution through dense copies of its input and output.
    fn dense(
        &self,
        params: &[&[f32]],
        (weights, relu): (Option<&[f32]>, bool),
        (input, out): (&[f32], &mut [f32]),
        s: &mut Scratch,
        [x, y]: &mut [Vec<f32>; 2],
    ) {
        let [from, to] = self.frames;
        let (conv, w, bias) = (
            &self.conv,
            params[self.weight],
            self.bias.map(|b| params[b]),
        );
        let (x, y) = (&mut x[..from.dense_len()], &mut y[..to.dense_len()]);
        from.unpack(input, x);
        match s {
            Scratch::Wide(s) => Wide::of(conv).forward_image(conv, [x, w], weights, bias, y, s),
            Scratch::Patches(col) => conv.forward_image(x, w, bias, y, col),
            Scratch::Framed => unreachable!("a dense convolution's scratch"),
        }
        to.pack(y, out);
        if relu {
            to.relu(out);
        }
    }
}
