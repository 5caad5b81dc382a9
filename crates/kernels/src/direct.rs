//! A direct convolution kernel for AVX-512 on the wide layout (`wide.rs`): the output
//! `[m, columns]` is a sum, over input channels and kernel taps, of a weight times the padded
//! input shifted by the tap's offset. Tiles of up to 9 output channels by 3, 4 or 5 vectors of
//! columns (whichever fits the row length best), or 4 channels by 6 vectors, accumulate in
//! registers (at most 27 of the 32 vector registers); no patch matrix is written.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Columns one AVX-512 vector holds.
pub(crate) const LANES: usize = 16;

/// The most columns one tile computes.
pub(crate) const MAX_TILE: usize = 6 * LANES;

/// The columns each tile computes for an output of `columns` columns: 3, 4 or 5 vectors,
/// whichever adds the fewest columns when `columns` is rounded up to it (3 on a tie, which
/// takes the most output channels per tile). A 7x7 map's 63 wide columns take one tile of
/// 64, not two of 48.
pub(crate) fn tile_columns(columns: usize) -> usize {
    [3, 4, 5]
        .map(|vectors| vectors * LANES)
        .into_iter()
        .min_by_key(|tile| columns.div_ceil(*tile) * tile)
        .expect("three widths")
}

/// How the kernel tiles an output of `columns` columns and `m` channels: tiles of `V`
/// vectors of columns by at most `most` channels, `(V, most)`, with `most * V` sums, `V`
/// input vectors and a weight in registers. Each input vector loaded serves the tile's
/// channels and each weight its columns, so narrow outputs take wider tiles: 9 channels by 3
/// vectors rather than 5 and 4 (a chain of 26- and 9-channel convolutions at 14x14 ran 11%
/// faster), and 4 or 5 channels by 6 or 5 vectors where that computes at most 1/16 more
/// columns than [`tile_columns`] (a chain of 12- and 4-channel ones at 28x28 6-14% faster;
/// the 75%-pruned ResNet-20, whose first stage has 5-channel convolutions, 3%). 13 channels
/// by 2 vectors ran 1.5 times slower than 7 and 6 by 3, so few columns are not traded for
/// more channels.
pub(crate) fn tiling(columns: usize, m: usize) -> (usize, usize) {
    let tile = tile_columns(columns);
    let (wide, channels) = if m <= 4 { (6, 4) } else { (5, 5) };
    let limit = columns.next_multiple_of(tile) * 17 / 16;
    if m <= 5 && columns.next_multiple_of(wide * LANES) <= limit {
        return (wide, channels);
    }
    match tile / LANES {
        3 => (3, 9),
        4 => (4, 6),
        _ => (5, 5),
    }
}

/// The output channels of each tile, `(first, count)`: `m` split into as few tiles of at most
/// `most` channels as possible, as evenly as possible, since a tile of one or two channels
/// keeps too few sums in flight to hide the latency of a fused multiply-add.
fn channel_blocks(m: usize, most: usize) -> impl Iterator<Item = (usize, usize)> {
    let tiles = m.div_ceil(most);
    let (base, extra) = (m / tiles.max(1), m % tiles.max(1));
    (0..tiles).map(move |t| (t * base + t.min(extra), base + usize::from(t < extra)))
}

/// Whether this CPU runs the kernel (else the caller multiplies a patch matrix).
pub(crate) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    return false;
}

/// One group's padded input in the wide layout, as both kernels read it: channel `c`, tap `t`
/// starts at `data[c * channel_stride + offsets[t]]`.
#[derive(Clone, Copy)]
pub(crate) struct Padded<'a> {
    /// Readable [`MAX_TILE`] values past the last column any tap reads.
    pub data: &'a [f32],
    pub channel_stride: usize,
    pub channels: usize,
    /// Each kernel tap's offset into a channel.
    pub offsets: &'a [usize],
}

impl Padded<'_> {
    fn taps(&self) -> usize {
        self.offsets.len()
    }

    /// Panics unless every tap of every channel can be read for `columns` values.
    fn check(&self, columns: usize) {
        let reach = self.offsets.iter().max().copied().unwrap_or(0) + columns;
        assert!(available(), "direct convolution needs AVX-512");
        assert!(
            self.channels == 0
                || self.data.len() >= (self.channels - 1) * self.channel_stride + reach
        );
    }

    /// Where (channel, tap) pair `k = c * taps + t` starts, for `k` below channels x taps.
    fn row(&self, k: usize) -> *const f32 {
        let (c, t) = (k / self.taps(), k % self.taps());
        self.data[c * self.channel_stride + self.offsets[t]..].as_ptr()
    }
}

/// One group of one image: `out[o][q] = bias[o] + sum over c, t of
/// weights[(c * taps + t) * m + o] * input row (c, t) at q`.
pub(crate) struct Direct<'a> {
    pub input: Padded<'a>,
    /// `[channels * taps, m]`: the weight with output channels innermost.
    pub weights: &'a [f32],
    pub m: usize,
    pub bias: Option<&'a [f32]>,
    /// Columns wanted; the kernel writes them rounded up to its tile ([`tiling`]).
    pub columns: usize,
    /// Added to each output before the ReLU, read where the output is written (rows
    /// `out_stride` apart): a residual connection.
    pub residual: Option<&'a [f32]>,
    /// Whether each output is rectified (`max(y, 0)`, a NaN kept) as it is stored.
    pub relu: bool,
    /// Per vector of 16 output columns, the lanes stored as computed; the others are stored
    /// as zero (the extra columns of the wide layout, when they are another layout's border).
    pub keep: Option<&'a [u16]>,
}

impl Direct<'_> {
    /// Computes the output into `out`, rows `out_stride` apart (at least `columns` rounded up
    /// to the tile [`tiling`] picks). Panics if a buffer is too short for that.
    pub fn run(&self, out: &mut [f32], out_stride: usize) {
        let (vectors, most) = tiling(self.columns, self.m);
        let columns = self.columns.next_multiple_of(vectors * LANES);
        self.input.check(columns);
        assert!(out_stride >= columns && out.len() >= (self.m.max(1) - 1) * out_stride + columns);
        assert!(self.weights.len() >= self.input.channels * self.input.taps() * self.m);
        assert!(self.bias.is_none_or(|b| b.len() >= self.m));
        assert!(self.keep.is_none_or(|k| k.len() >= columns / LANES));
        let rows = (self.m.max(1) - 1) * out_stride + columns;
        assert!(self.residual.is_none_or(|r| r.len() >= rows));
        // SAFETY: the CPU has AVX-512 and every access below lies within the checked bounds.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            let out = out.as_mut_ptr();
            match vectors {
                3 => self.run_avx512::<3>(out, out_stride, columns, most),
                4 => self.run_avx512::<4>(out, out_stride, columns, most),
                5 => self.run_avx512::<5>(out, out_stride, columns, most),
                _ => self.run_avx512::<6>(out, out_stride, columns, most),
            }
        }
    }

    /// Tiles of `V` vectors of columns by at most `most` output channels (`most * V` sums
    /// and `V` input vectors fit the registers).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512<const V: usize>(
        &self,
        out: *mut f32,
        out_stride: usize,
        columns: usize,
        most: usize,
    ) {
        for q0 in (0..columns).step_by(V * LANES) {
            for (o0, count) in channel_blocks(self.m, most) {
                let at = (o0, q0, out, out_stride);
                unsafe {
                    match count {
                        9 => self.tile::<9, V>(at),
                        8 => self.tile::<8, V>(at),
                        7 => self.tile::<7, V>(at),
                        6 => self.tile::<6, V>(at),
                        5 => self.tile::<5, V>(at),
                        4 => self.tile::<4, V>(at),
                        3 => self.tile::<3, V>(at),
                        2 => self.tile::<2, V>(at),
                        _ => self.tile::<1, V>(at),
                    }
                }
            }
        }
    }

    /// Output channels `o0..o0 + OB`, columns `q0..q0 + V * LANES`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const OB: usize, const V: usize>(
        &self,
        (o0, q0, out, out_stride): (usize, usize, *mut f32, usize),
    ) {
        let mut acc = [[_mm512_setzero_ps(); V]; OB];
        if let Some(bias) = self.bias {
            for (o, acc) in acc.iter_mut().enumerate() {
                *acc = [_mm512_set1_ps(bias[o0 + o]); V];
            }
        }
        let weights = unsafe { self.weights.as_ptr().add(o0) };
        let input = &self.input;
        let mut k = 0;
        for c in 0..input.channels {
            let x = unsafe { input.data.as_ptr().add(c * input.channel_stride + q0) };
            for offset in input.offsets {
                let xv: [__m512; V] =
                    std::array::from_fn(|v| unsafe { _mm512_loadu_ps(x.add(offset + LANES * v)) });
                let w = unsafe { weights.add(k * self.m) };
                for (o, acc) in acc.iter_mut().enumerate() {
                    let w = _mm512_set1_ps(unsafe { *w.add(o) });
                    for (acc, x) in acc.iter_mut().zip(&xv) {
                        *acc = _mm512_fmadd_ps(w, *x, *acc);
                    }
                }
                k += 1;
            }
        }
        let zero = _mm512_setzero_ps();
        for (o, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                let at = (o0 + o) * out_stride + q0 + LANES * v;
                let mut y = *acc;
                if let Some(residual) = self.residual {
                    y = _mm512_add_ps(y, unsafe { _mm512_loadu_ps(residual.as_ptr().add(at)) });
                }
                if self.relu {
                    // With a NaN operand, `max` returns its second: the NaN.
                    y = _mm512_max_ps(zero, y);
                }
                if let Some(keep) = self.keep {
                    y = _mm512_maskz_mov_ps(keep[q0 / LANES + v], y);
                }
                unsafe { _mm512_storeu_ps(out.add(at), y) };
            }
        }
    }
}

/// One group's weight gradient on the wide layout, summed over a few images and added to
/// `dw_t[k * m + o]` (`k = c * taps + t`): the sum over images and columns q of
/// `dy[o * dy_stride + q]` times input row (c, t) at q. Tiles of 4 output channels by 4
/// (channel, tap) pairs accumulate 16 vectors in registers across all the images, reduced once.
pub(crate) struct WeightGrad<'a> {
    /// Each image's padded input and output gradient in the wide layout (zero in its dropped
    /// columns), the inputs all of one geometry.
    pub images: &'a [(Padded<'a>, &'a [f32])],
    pub dy_stride: usize,
    pub m: usize,
    /// Columns summed; the kernel reads them rounded up to 16 (`dy` must be zero there).
    pub columns: usize,
}

impl WeightGrad<'_> {
    pub fn add_to(&self, dw_t: &mut [f32]) {
        let Some((first, _)) = self.images.first() else {
            return;
        };
        let columns = self.columns.div_ceil(16) * 16;
        let patch = first.channels * first.taps();
        for (input, dy) in self.images {
            input.check(columns);
            assert!(input.channels == first.channels && input.offsets == first.offsets);
            assert!(self.m == 0 || dy.len() >= (self.m - 1) * self.dy_stride + columns);
        }
        assert!(dw_t.len() >= patch * self.m);
        // SAFETY: the CPU has AVX-512 and every access below lies within the checked bounds.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            self.run_avx512(dw_t.as_mut_ptr(), columns, patch)
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, dw_t: *mut f32, columns: usize, patch: usize) {
        let mut o0 = 0;
        for ob in [4, 2, 1] {
            while o0 + ob <= self.m {
                let mut k0 = 0;
                for kb in [4, 1] {
                    while k0 + kb <= patch {
                        unsafe {
                            match (ob, kb) {
                                (4, 4) => self.tile::<4, 4>(o0, k0, dw_t, columns),
                                (4, _) => self.tile::<4, 1>(o0, k0, dw_t, columns),
                                (2, 4) => self.tile::<2, 4>(o0, k0, dw_t, columns),
                                (2, _) => self.tile::<2, 1>(o0, k0, dw_t, columns),
                                (_, 4) => self.tile::<1, 4>(o0, k0, dw_t, columns),
                                _ => self.tile::<1, 1>(o0, k0, dw_t, columns),
                            }
                        }
                        k0 += kb;
                    }
                }
                o0 += ob;
            }
        }
    }

    /// Output channels `o0..o0 + OB` by (channel, tap) pairs `k0..k0 + KB`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const OB: usize, const KB: usize>(
        &self,
        o0: usize,
        k0: usize,
        dw_t: *mut f32,
        columns: usize,
    ) {
        let mut acc = [[_mm512_setzero_ps(); KB]; OB];
        for (input, dy) in self.images {
            let x: [*const f32; KB] = std::array::from_fn(|j| input.row(k0 + j));
            let dy: [*const f32; OB] =
                std::array::from_fn(|i| unsafe { dy.as_ptr().add((o0 + i) * self.dy_stride) });
            for q in (0..columns).step_by(16) {
                let xv: [__m512; KB] =
                    std::array::from_fn(|j| unsafe { _mm512_loadu_ps(x[j].add(q)) });
                for (acc, dy) in acc.iter_mut().zip(&dy) {
                    let d = unsafe { _mm512_loadu_ps(dy.add(q)) };
                    for (acc, x) in acc.iter_mut().zip(&xv) {
                        *acc = _mm512_fmadd_ps(d, *x, *acc);
                    }
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            for (j, acc) in acc.iter().enumerate() {
                unsafe { *dw_t.add((k0 + j) * self.m + o0 + i) += _mm512_reduce_add_ps(*acc) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_fit_the_rows_and_split_channels_evenly() {
        // ResNet maps: 32x32 (32 rows of 34 wide columns), 16x16, 8x8, 7x7, 14x14 (a tie).
        let widths: Vec<usize> = [1088, 288, 80, 63, 224].map(tile_columns).to_vec();
        assert_eq!(widths, [64, 48, 80, 64, 48]);
        let blocks = |m| channel_blocks(m, 8).collect::<Vec<_>>();
        assert_eq!(blocks(16), [(0, 8), (8, 8)]);
        assert_eq!(blocks(13), [(0, 7), (7, 6)]);
        assert_eq!(blocks(9), [(0, 5), (5, 4)]);
        assert_eq!(blocks(3), [(0, 3)]);
        assert_eq!(blocks(0), []);
        assert_eq!(
            channel_blocks(26, 9).collect::<Vec<_>>(),
            [(0, 9), (9, 9), (18, 8)]
        );
        // 28x28 (28 rows of 30): 4 channels take 6 vectors (9 tiles of 96 columns, as many
        // columns as 18 of 48), 5 channels 5 (880 columns), 6 channels 3; 14x14: 5 channels
        // take 5 vectors (240 columns either way), 4 channels not 6 (288); 7x7 and 4x4 maps
        // keep their single tile.
        let tilings = [
            (840, 4),
            (840, 5),
            (840, 6),
            (224, 5),
            (224, 4),
            (224, 9),
            (63, 4),
        ]
        .map(|(q, m)| tiling(q, m));
        assert_eq!(
            tilings,
            [(6, 4), (5, 5), (3, 9), (5, 5), (3, 9), (3, 9), (4, 6)]
        );
        assert_eq!(tiling(80, 3), (5, 5));
        for m in 1..100 {
            let blocks = blocks(m);
            assert_eq!(blocks.iter().map(|b| b.1).sum::<usize>(), m);
            assert!(blocks.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            assert!(blocks.iter().all(|b| b.1 <= 8 && b.1 + 1 >= blocks[0].1));
        }
    }
}
