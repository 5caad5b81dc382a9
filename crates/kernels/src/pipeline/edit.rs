//! The two steps whose effect each image chooses with factors given at run time: a mask that
//! scales each channel of a value, and the withdrawal of some input channels' share from a
//! convolution's output. A pipeline that starts from values cached part-way through a
//! network runs many variants of the rest of it this way in one pass (the oracle's probes:
//! one channel removed per variant).

use super::Value;
use crate::conv::Conv2d;
use crate::frame::Frame;

/// Multiplies each channel of the framed `value` in `buffer` (each value of a flat one) by
/// its factor.
pub(super) fn mask(value: Value, factors: &[f32], buffer: &mut [f32]) {
    match value {
        Value::Framed(frame) => {
            for (plane, f) in frame.planes_mut(buffer).zip(factors) {
                if *f != 1.0 {
                    plane.iter_mut().for_each(|v| *v *= f);
                }
            }
        }
        Value::Flat(n) => buffer[..n]
            .iter_mut()
            .zip(factors)
            .for_each(|(v, f)| *v *= f),
    }
}

/// Subtracts from `y`, the output frame of `conv` (ungrouped, padding at most 1) on the input
/// frame `x`, `1 - f` times each input channel's share of it, `f` its factor: the channel
/// convolved alone with its slice of `weight` (`[C_out, C_in, kh, kw]`), without the bias.
/// Channels whose factor is 1 cost nothing.
pub(super) fn unshare(
    conv: &Conv2d,
    weight: &[f32],
    [from, to]: [Frame; 2],
    factors: &[f32],
    (x, y): (&[f32], &mut [f32]),
) {
    let area = conv.kernel[0] * conv.kernel[1];
    // With stride 1 and rows of one width, output pixel `q` (counted from the frame's
    // origin, rows of `row` values) reads input value `q + offset` for each tap: all taps in
    // one pass over the output, the border columns it crosses cleared after.
    let wide = conv.stride == [1, 1] && from.row() == to.row();
    let tap = |t: usize| [t / conv.kernel[1], t % conv.kernel[1]];
    let offsets: Vec<usize> = (0..area)
        .map(|t| tap_offset(conv, from.row(), tap(t)))
        .collect();
    // Each tap that subtracts something: its offset (wide) or its index, and its scale.
    let mut taps = Vec::with_capacity(area);
    let removed = factors.iter().enumerate().filter(|(_, f)| **f != 1.0);
    for (c, f) in removed {
        let x = &x[c * from.stride()..][..from.plane()];
        for (o, y) in to.planes_mut(y).enumerate() {
            let w = &weight[(o * conv.in_channels + c) * area..][..area];
            let scaled = w.iter().map(|w| (1.0 - f) * w).enumerate();
            let at = |t: usize| if wide { offsets[t] } else { t };
            taps.clear();
            taps.extend(scaled.filter(|(_, s)| *s != 0.0).map(|(t, s)| (at(t), s)));
            if wide {
                subtract_wide(to, &taps, (x, y));
                clear_sides(to, y);
            } else {
                for &(t, s) in &taps {
                    subtract_rows(conv, [from, to], tap(t), s, (x, y));
                }
            }
        }
    }
}

/// Where input pixel `(i + ky * dh - top, j + kx * dw - left)`, which kernel tap `[ky, kx]`
/// of output pixel `(i, j)` reads at stride 1, lies in the input frame's plane, less
/// `i * row + j`.
fn tap_offset(conv: &Conv2d, row: usize, [ky, kx]: [usize; 2]) -> usize {
    let [(top, _), (left, _)] = conv.padding;
    (ky * conv.dilation[0] + 1 - top) * row + kx * conv.dilation[1] + 1 - left
}

/// `y -= scale * x` for each tap's [`tap_offset`] and scale in `taps`, at stride 1 with
/// input and output rows of one width, over the output from its first pixel to its last,
/// border columns included.
fn subtract_wide(to: Frame, taps: &[(usize, f32)], (x, y): (&[f32], &mut [f32])) {
    let span = (to.height - 1) * to.row() + to.width;
    let y = &mut y[to.origin()..][..span];
    #[cfg(target_arch = "x86_64")]
    if crate::direct::available() {
        // SAFETY: the CPU has AVX-512.
        return unsafe { subtract_spans_avx512(taps, x, y) };
    }
    subtract_spans(taps, x, y);
}

/// `y -= scale * x[offset..]` for each tap, with 16-lane vectors.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn subtract_spans_avx512(taps: &[(usize, f32)], x: &[f32], y: &mut [f32]) {
    subtract_spans(taps, x, y);
}

#[inline(always)]
fn subtract_spans(taps: &[(usize, f32)], x: &[f32], y: &mut [f32]) {
    for &(offset, scale) in taps {
        let x = &x[offset..][..y.len()];
        y.iter_mut().zip(x).for_each(|(y, x)| *y -= scale * x);
    }
}

/// Zeroes the left and right border column of each image row of plane `y`.
fn clear_sides(to: Frame, y: &mut [f32]) {
    for row in y.chunks_exact_mut(to.row()).skip(1).take(to.height) {
        row[0] = 0.0;
        row[to.width + 1] = 0.0;
    }
}

/// `y -= scale * x` read at kernel tap `[ky, kx]`, row by row: output pixel `(i, j)` of plane
/// `y` takes input pixel `(i * sh + ky * dh - top, j * sw + kx * dw - left)` of plane `x`,
/// both framed (a padding of at most 1 reads the frame's zero border).
fn subtract_rows(
    conv: &Conv2d,
    [from, to]: [Frame; 2],
    [ky, kx]: [usize; 2],
    scale: f32,
    (x, y): (&[f32], &mut [f32]),
) {
    let ([sh, sw], [dh, dw]) = (conv.stride, conv.dilation);
    let [(top, _), (left, _)] = conv.padding;
    let (column, width) = (kx * dw + 1 - left, to.width);
    for i in 0..to.height {
        let y = &mut y[(i + 1) * to.row() + 1..][..width];
        let x = &x[(i * sh + ky * dh + 1 - top) * from.row() + column..];
        let x = x.iter().step_by(sw);
        y.iter_mut().zip(x).for_each(|(y, x)| *y -= scale * x);
    }
}
