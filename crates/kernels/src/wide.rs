//! Convolution through a padded copy of the input (the "wide" layout): each row of the patch
//! matrix is then one contiguous run instead of one per output row, at the price of a few
//! extra output columns per row, computed and dropped. With stride `s` the padded input is
//! kept as `s x s` phase planes (rows `py, py + s, ...` by columns `px, px + s, ...`), on
//! which the convolution has stride 1: tap `(dy, dx)` reads phase `(dy % s, dx % s)` shifted
//! by `(dy / s, dx / s)`.

use crate::conv::Conv2d;
use crate::direct::{self, Direct, LANES, MAX_TILE, Padded, WeightGrad, tiling};
use crate::frame::Frame;
use crate::matmul::{Mat, matmul_rows, transpose_blocks};

/// The wide layout of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Wide {
    stride: [usize; 2],
    /// Rows of one phase plane (the padded height over the stride).
    height: usize,
    /// Columns of one phase plane (the padded width over the stride): the stride between
    /// output rows in the wide output.
    width: usize,
    /// Columns of the wide patch matrix and output (output rows x `width`).
    columns: usize,
    /// The padded input's channels lie this far apart: the phase planes, the tail the last
    /// kernel tap reads, and [`MAX_TILE`] more so that the direct kernel's last tile reads
    /// zeros.
    channel_stride: usize,
    /// Wide output rows lie this far apart: `columns` rounded up to the direct kernel's
    /// tile ([`tiling`]).
    out_stride: usize,
}

/// Buffers one task reuses across images: the padded input of one image or a few (its
/// borders stay zero), the wide patch matrix (without the direct kernel), the wide output (or
/// the few images' output gradients, whose dropped columns stay zero) and each tap's offset.
pub(crate) struct Scratch {
    input: Vec<f32>,
    col: Vec<f32>,
    out: Vec<f32>,
    offsets: Vec<usize>,
}

impl Wide {
    /// The wide layout of `conv`.
    pub fn of(conv: &Conv2d) -> Self {
        let [height, width] = Self::natural(conv);
        Self::with_width(conv, height, width)
    }

    /// The wide layout of `conv` with phase planes (and output rows) `width` columns wide,
    /// when that is at least the padded input's width over the stride: wider rows leave
    /// more extra columns per output row, all zero in the input.
    pub fn widened(conv: &Conv2d, width: usize) -> Option<Self> {
        let [height, natural] = Self::natural(conv);
        (width >= natural).then(|| Self::with_width(conv, height, width))
    }

    /// Rows and columns of a phase plane: the padded input's height and width over the stride.
    fn natural(conv: &Conv2d) -> [usize; 2] {
        std::array::from_fn(|i| {
            let (begin, end) = conv.padding[i];
            (conv.in_size[i] + begin + end).div_ceil(conv.stride[i])
        })
    }

    fn with_width(conv: &Conv2d, height: usize, width: usize) -> Self {
        let columns = conv.out_size()[0] * width;
        // A valid output's last tap stays inside its phase plane but for the columns right of
        // the shifted run (the rows below hold the next plane or this tail).
        let phases = conv.stride[0] * conv.stride[1];
        let tail = (conv.kernel[1] - 1) * conv.dilation[1] / conv.stride[1];
        Self {
            stride: conv.stride,
            height,
            width,
            columns,
            channel_stride: phases * height * width + tail + MAX_TILE,
            out_stride: columns.next_multiple_of(tiling(columns, conv.group_out()).0 * LANES),
        }
    }

    /// Where padded position `[row, column]` of a channel lies in its phase planes.
    fn at(&self, [row, column]: [usize; 2]) -> usize {
        let [sh, sw] = self.stride;
        let phase = (row % sh) * sw + column % sw;
        (phase * self.height + row / sh) * self.width + column / sw
    }

    /// [`Wide::at`] of column 0 of padded rows 0, 1, 2, ... in turn, with no division (`perf`
    /// put a third of a strided convolution's split on the division a row took).
    fn row_starts(&self) -> impl Iterator<Item = usize> {
        let ([sh, sw], (height, width)) = (self.stride, (self.height, self.width));
        (0..height).flat_map(move |y| (0..sh).map(move |py| (py * sw * height + y) * width))
    }

    /// Columns of one phase plane: the stride between rows of the wide output.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Values of one image's padded input, every group ([`Wide::pad_image`]).
    pub fn image_len(&self, conv: &Conv2d) -> usize {
        conv.groups * self.padded_len(conv)
    }

    /// One image `x`, every group, into its zeroed padded buffer `padded` (of
    /// [`Wide::image_len`] values).
    pub fn pad_image(&self, conv: &Conv2d, x: &[f32], padded: &mut [f32]) {
        for (g, padded) in padded.chunks_exact_mut(self.padded_len(conv)).enumerate() {
            self.pad(conv, x, g, padded);
        }
    }

    /// Where input channel `c` at padded position `[row, column]` lies in
    /// [`Wide::pad_image`]'s buffer.
    pub fn offset(&self, c: usize, position: [usize; 2]) -> usize {
        c * self.channel_stride + self.at(position)
    }

    /// Columns of the wide output: output rows times the phase plane's width.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// The weight as the direct kernel reads it (`[groups][K, m]`), when this CPU runs it.
    pub fn direct_weights(&self, conv: &Conv2d, w: &[f32]) -> Option<Vec<f32>> {
        direct::available()
            .then(|| transpose_blocks(w, conv.groups, conv.group_out(), conv.patch_len()))
    }

    /// Buffers for `images` images at a time (one for the forward pass).
    pub fn scratch(&self, conv: &Conv2d, direct: bool, images: usize) -> Scratch {
        let [kh, kw] = conv.kernel;
        let [dh, dw] = conv.dilation;
        Scratch {
            input: vec![0.0; images * self.padded_len(conv)],
            col: if direct {
                Vec::new()
            } else {
                vec![0.0; conv.patch_len() * self.columns]
            },
            out: vec![0.0; images * self.out_len(conv)],
            offsets: (0..kh * kw)
                .map(|t| self.at([(t / kw) * dh, (t % kw) * dw]))
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
        let (m, k) = (conv.group_out(), conv.patch_len());
        let [oh, ow] = conv.out_size();
        for (g, y) in y.chunks_exact_mut(m * oh * ow).enumerate() {
            self.pad(conv, x, g, &mut s.input);
            let bias = bias.map(|b| &b[g * m..(g + 1) * m]);
            match direct_weights {
                Some(weights) => Direct {
                    input: self.padded(conv, &s.input, &s.offsets),
                    weights: &weights[g * m * k..][..m * k],
                    m,
                    bias,
                    columns: self.columns,
                    residual: None,
                    relu: false,
                    keep: None,
                }
                .run(&mut s.out, self.out_stride),
                None => self.gemm(conv, conv.group_weight(w, g), bias, s),
            }
            // Back from the wide layout: drop each row's extra columns.
            for (y, out) in y
                .chunks_exact_mut(oh * ow)
                .zip(s.out.chunks_exact(self.out_stride))
            {
                spread(out, self.width, y, ow, [oh, ow]);
            }
        }
    }

    /// Splits frame `input` (whose border is the padding of 1 on every side this layout was
    /// made for) into the phase planes of `s`.
    pub fn split_frame(&self, from: Frame, input: &[f32], s: &mut Scratch) {
        #[cfg(target_arch = "x86_64")]
        if self.stride == [2, 2] && direct::available() {
            // SAFETY: the CPU has AVX-512.
            return unsafe { self.split_frame_avx512(from, input, s) };
        }
        self.split_frame_rows(from, input, s);
    }

    /// [`Wide::split_frame`] row by row, any stride.
    fn split_frame_rows(&self, from: Frame, input: &[f32], s: &mut Scratch) {
        let planes = s.input.chunks_exact_mut(self.channel_stride);
        for (plane, padded) in from.planes(input).zip(planes) {
            for (row, start) in plane.chunks_exact(from.row()).zip(self.row_starts()) {
                self.split_row(row, start, padded);
            }
        }
    }

    /// [`Wide::split_frame`] with stride 2, 32 values of a row at a time: two loads, two
    /// permutes (the even and the odd columns, zero past the row's end) and two stores. Each
    /// store writes 16 values, the few past a phase row's end landing on its extra columns
    /// (zeros) or on the rows below, written after it; only a store that would reach the next
    /// plane (from a plane's last row) stores through a mask. One call per image, not per
    /// row: the rows are short (30 values at 28x28) and a call or a slice check per row cost
    /// as much as the row.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn split_frame_avx512(&self, from: Frame, input: &[f32], s: &mut Scratch) {
        use std::arch::x86_64::*;
        let (rows, row) = (from.height + 2, from.row());
        // The loads read up to 31 values past a row, inside the frame's overrun; the stores
        // 16 values from a row's start (at most a plane), inside the tail's overrun.
        assert!(from.stride() >= rows * row + 31 && row.div_ceil(2) <= self.width);
        assert!(MAX_TILE >= 16 && input.len() >= from.len());
        assert!(s.input.len() >= from.channels * self.channel_stride);
        let evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        let odds = _mm512_add_epi32(evens, _mm512_set1_epi32(1));
        let lanes = |count: usize| ((1u32 << count.min(16)) - 1) as u16;
        // Every chunk of 32 values is whole but a row's last.
        let last = (row - 1) / 32 * 32;
        let tail = (lanes((row - last).div_ceil(2)), lanes((row - last) / 2));
        let (width, plane) = (self.width, self.height * self.width);
        let odd_plane = self.at([0, 1]);
        for c in 0..from.channels {
            let (from, to) = (c * from.stride(), c * self.channel_stride);
            for y in 0..rows {
                // Where the row's column 0 lies (`Wide::at` at stride 2, written out: the
                // `row_starts` iterator here made the split 1.5x slower) and how far its
                // plane goes on.
                let room = plane - y / 2 * width;
                let start = to + (y % 2 * 2 * self.height + y / 2) * width;
                for i in (0..row).step_by(32) {
                    let (even, odd) = if i == last {
                        tail
                    } else {
                        (u16::MAX, u16::MAX)
                    };
                    // A store that would run into the next plane writes only the row's values.
                    let whole = if i / 2 + 16 <= room { u16::MAX } else { 0 };
                    // SAFETY: inside `input` and `s.input` by the assertions above.
                    unsafe {
                        let x = input.as_ptr().add(from + y * row + i);
                        let (a, b) = (_mm512_loadu_ps(x), _mm512_loadu_ps(x.add(16)));
                        let e = _mm512_maskz_permutex2var_ps(even, a, evens, b);
                        let o = _mm512_maskz_permutex2var_ps(odd, a, odds, b);
                        let at = s.input.as_mut_ptr().add(start + i / 2);
                        _mm512_mask_storeu_ps(at, whole | even, e);
                        _mm512_mask_storeu_ps(at.add(odd_plane), whole | odd, o);
                    }
                }
            }
        }
    }

    /// The phase planes [`Wide::split_frame`] wrote, as the direct kernel reads them with
    /// `taps` (each kernel tap's offset there, [`Wide::offset`]; one group).
    pub fn split_input<'a>(&self, conv: &Conv2d, s: &'a Scratch, taps: &'a [usize]) -> Padded<'a> {
        self.padded(conv, &s.input, taps)
    }

    /// One padded row of one channel into its phase planes in `padded`, its column 0 at
    /// `start` ([`Wide::row_starts`]): one run with stride 1, the even and odd columns apart
    /// with stride 2, column by column otherwise.
    fn split_row(&self, row: &[f32], start: usize, padded: &mut [f32]) {
        let sw = self.stride[1];
        if sw == 1 {
            padded[start..][..row.len()].copy_from_slice(row);
            return;
        }
        if sw == 2 {
            // Phase planes of odd columns lie after those of even ones.
            let (low, high) = padded.split_at_mut(start + self.at([0, 1]));
            let even = low[start..].iter_mut();
            let pairs = even.zip(high.iter_mut()).zip(row.chunks_exact(2));
            pairs.for_each(|((e, o), pair)| (*e, *o) = (pair[0], pair[1]));
            if row.len() % 2 == 1 {
                low[start + self.at([0, row.len() - 1])] = row[row.len() - 1];
            }
            return;
        }
        for (c, v) in row.iter().enumerate() {
            padded[start + self.at([0, c])] = *v;
        }
    }

    /// The wide output as a GEMM of the weight and the wide patch matrix.
    fn gemm(&self, conv: &Conv2d, weight: Mat, bias: Option<&[f32]>, s: &mut Scratch) {
        self.patch_rows(s);
        if let Some(bias) = bias {
            for (row, b) in s.out.chunks_exact_mut(self.out_stride).zip(bias) {
                row.fill(*b);
            }
        }
        let patches = Mat::rows(&s.col, conv.patch_len(), self.columns);
        matmul_rows(&mut s.out, self.out_stride, weight, patches, bias.is_some());
    }

    /// Adds the weight gradient of a few images (`xs`, `dys`: at most as many as the scratch
    /// was made for) to `dw_t` (per group `[K, m]`) with the direct kernel: each input
    /// padded, each output gradient spread to the wide layout, and one reduction for all.
    pub fn weight_images(
        &self,
        conv: &Conv2d,
        [xs, dys]: [&[f32]; 2],
        dw_t: &mut [f32],
        s: &mut Scratch,
    ) {
        let (m, k) = (conv.group_out(), conv.patch_len());
        let [oh, ow] = conv.out_size();
        let image_in = conv.in_channels * conv.plane();
        let image_out = conv.out_channels * oh * ow;
        let (padded_len, out_len) = (self.padded_len(conv), self.out_len(conv));
        for (g, dw_t) in dw_t.chunks_exact_mut(m * k).enumerate() {
            let images = xs.chunks_exact(image_in).zip(dys.chunks_exact(image_out));
            let buffers = s.input.chunks_exact_mut(padded_len);
            for (image, buffers) in images.zip(buffers.zip(s.out.chunks_exact_mut(out_len))) {
                self.stage(conv, image, g, buffers);
            }
            let count = xs.len() / image_in.max(1);
            let images: Vec<_> = s
                .input
                .chunks_exact(padded_len)
                .zip(s.out.chunks_exact(out_len))
                .take(count)
                .map(|(input, dy)| (self.padded(conv, input, &s.offsets), dy))
                .collect();
            WeightGrad {
                images: &images,
                dy_stride: self.out_stride,
                m,
                columns: self.columns,
            }
            .add_to(dw_t);
        }
    }

    /// Group `g` of one image's input `x` into its padded buffer and of its output gradient
    /// `dy` into the wide layout (whose dropped columns stay zero).
    fn stage(
        &self,
        conv: &Conv2d,
        (x, dy): (&[f32], &[f32]),
        g: usize,
        (padded, wide): (&mut [f32], &mut [f32]),
    ) {
        let [oh, ow] = conv.out_size();
        let m = conv.group_out();
        self.pad(conv, x, g, padded);
        let dy = &dy[g * m * oh * ow..][..m * oh * ow];
        for (dy, wide) in dy
            .chunks_exact(oh * ow)
            .zip(wide.chunks_exact_mut(self.out_stride))
        {
            spread(dy, ow, wide, self.width, [oh, ow]);
        }
    }

    /// Values of one image's padded input (one group).
    fn padded_len(&self, conv: &Conv2d) -> usize {
        conv.group_in() * self.channel_stride
    }

    /// Values of one image's wide output (one group).
    fn out_len(&self, conv: &Conv2d) -> usize {
        conv.group_out() * self.out_stride
    }

    /// Copies group `g` of one image `x` into the interior of the padded buffer `padded`
    /// (whose borders stay zero): row by row with stride 1, each row split across the phase
    /// planes otherwise.
    fn pad(&self, conv: &Conv2d, x: &[f32], g: usize, padded: &mut [f32]) {
        let [h, w] = conv.in_size;
        let (channels, plane) = (conv.group_in(), conv.plane());
        let x = &x[g * channels * plane..][..channels * plane];
        let (top, left) = (conv.padding[0].0, conv.padding[1].0);
        // Where columns left, left + 1, ... (one per phase) start in a row's phase planes,
        // worked out once, not per row.
        let sw = self.stride[1];
        let phase_columns: Vec<usize> = (0..sw.min(w)).map(|c| self.at([0, left + c])).collect();
        for (x, padded) in x
            .chunks_exact(plane)
            .zip(padded.chunks_exact_mut(self.channel_stride))
        {
            if self.stride == [1, 1] {
                spread(
                    x,
                    w,
                    &mut padded[self.at([top, left])..],
                    self.width,
                    [h, w],
                );
                continue;
            }
            let starts = self.row_starts().skip(top);
            for (row, start) in x.chunks_exact(w).zip(starts) {
                // Columns c, c + sw, ... of the row land side by side in one phase plane.
                for (c, column) in phase_columns.iter().enumerate() {
                    let to = &mut padded[start + column..];
                    for (to, v) in to.iter_mut().zip(row[c..].iter().step_by(sw)) {
                        *to = *v;
                    }
                }
            }
        }
    }

    /// The padded buffer as the direct kernels read it.
    fn padded<'a>(&self, conv: &Conv2d, data: &'a [f32], offsets: &'a [usize]) -> Padded<'a> {
        Padded {
            data,
            channel_stride: self.channel_stride,
            channels: conv.group_in(),
            offsets,
        }
    }

    /// Row (c, t) of the wide patch matrix: channel c of the padded input from tap t's
    /// offset on.
    fn patch_rows(&self, s: &mut Scratch) {
        let mut rows = s.col.chunks_exact_mut(self.columns);
        for channel in s.input.chunks_exact(self.channel_stride) {
            for offset in &s.offsets {
                let row = rows.next().expect("col holds K rows");
                row.copy_from_slice(&channel[*offset..offset + self.columns]);
            }
        }
    }
}

/// Copies a `rows x cols` block whose rows lie `from_stride` apart in `from` to rows
/// `to_stride` apart in `to`: into the wide layout and back out of it.
fn spread(
    from: &[f32],
    from_stride: usize,
    to: &mut [f32],
    to_stride: usize,
    [rows, cols]: [usize; 2],
) {
    for r in 0..rows {
        to[r * to_stride..][..cols].copy_from_slice(&from[r * from_stride..][..cols]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The AVX-512 split writes what the row-by-row split writes, on any frame size and
        /// phase width, and reads nothing past a row (the values there are NaN).
        #[test]
        fn the_vector_split_matches_the_rows(
            (channels, height, width) in (1..4usize, 1..40usize, 1..72usize),
            extra in 0..4usize,
            seed in any::<u32>(),
        ) {
            prop_assume!(direct::available());
            let conv = Conv2d {
                batch: 1,
                in_channels: channels,
                in_size: [height, width],
                out_channels: 1,
                kernel: [3, 3],
                stride: [2, 2],
                padding: [(1, 1); 2],
                dilation: [1, 1],
                groups: 1,
            };
            let wide = Wide::widened(&conv, Wide::natural(&conv)[1] + extra).unwrap();
            let from = Frame { channels, height, width };
            let mut input = vec![f32::NAN; from.len()];
            let values = (0u32..).map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) as f32);
            for (plane, v) in from.planes_mut(&mut input).flatten().zip(values) {
                *plane = v;
            }
            let [mut vector, mut rows] = [0, 1].map(|_| wide.scratch(&conv, true, 1));
            wide.split_frame(from, &input, &mut vector);
            wide.split_frame_rows(from, &input, &mut rows);
            prop_assert!(vector.input.iter().zip(&rows.input).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
    }
}
