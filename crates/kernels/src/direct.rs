//! A direct convolution kernel for AVX-512 on the wide layout (`wide.rs`): the output
//! `[m, columns]` is a sum, over input channels and kernel taps, of a weight times the padded
//! input shifted by the tap's offset. Tiles of 8 output channels by 48 columns accumulate in
//! registers (24 of the 32 vector registers); no patch matrix is written.

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// AVX-512 vectors of columns one tile computes.
const VECTORS: usize = 3;

/// Columns one tile computes.
pub(crate) const TILE: usize = 16 * VECTORS;

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
    /// Readable [`TILE`] values past the last column any tap reads.
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
    /// Columns wanted; the kernel writes them rounded up to [`TILE`].
    pub columns: usize,
}

impl Direct<'_> {
    /// Computes the output into `out`, rows `out_stride` apart (at least `columns` rounded up
    /// to [`TILE`]). Panics if a buffer is too short for that.
    pub fn run(&self, out: &mut [f32], out_stride: usize) {
        let columns = self.columns.div_ceil(TILE) * TILE;
        self.input.check(columns);
        assert!(out_stride >= columns && out.len() >= (self.m.max(1) - 1) * out_stride + columns);
        assert!(self.weights.len() >= self.input.channels * self.input.taps() * self.m);
        assert!(self.bias.is_none_or(|b| b.len() >= self.m));
        // SAFETY: the CPU has AVX-512 and every access below lies within the checked bounds.
        #[cfg(target_arch = "x86_64")]
        unsafe {
            self.run_avx512(out.as_mut_ptr(), out_stride, columns)
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_avx512(&self, out: *mut f32, out_stride: usize, columns: usize) {
        for q0 in (0..columns).step_by(TILE) {
            let mut o0 = 0;
            while o0 + 8 <= self.m {
                unsafe { self.tile::<8>(o0, q0, out, out_stride) };
                o0 += 8;
            }
            if o0 + 4 <= self.m {
                unsafe { self.tile::<4>(o0, q0, out, out_stride) };
                o0 += 4;
            }
            if o0 + 2 <= self.m {
                unsafe { self.tile::<2>(o0, q0, out, out_stride) };
                o0 += 2;
            }
            if o0 < self.m {
                unsafe { self.tile::<1>(o0, q0, out, out_stride) };
            }
        }
    }

    /// Output channels `o0..o0 + OB`, columns `q0..q0 + TILE`.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const OB: usize>(&self, o0: usize, q0: usize, out: *mut f32, out_stride: usize) {
        let mut acc = [[_mm512_setzero_ps(); VECTORS]; OB];
        if let Some(bias) = self.bias {
            for (o, acc) in acc.iter_mut().enumerate() {
                *acc = [_mm512_set1_ps(bias[o0 + o]); VECTORS];
            }
        }
        let weights = unsafe { self.weights.as_ptr().add(o0) };
        let input = &self.input;
        let mut k = 0;
        for c in 0..input.channels {
            let x = unsafe { input.data.as_ptr().add(c * input.channel_stride + q0) };
            for offset in input.offsets {
                let xv: [__m512; VECTORS] =
                    std::array::from_fn(|v| unsafe { _mm512_loadu_ps(x.add(offset + 16 * v)) });
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
        for (o, acc) in acc.iter().enumerate() {
            for (v, acc) in acc.iter().enumerate() {
                unsafe { _mm512_storeu_ps(out.add((o0 + o) * out_stride + q0 + 16 * v), *acc) };
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
