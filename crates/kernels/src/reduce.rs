//! Sums over one plane or row of `f32` values, vectorised and added up in `f64`: batch
//! norm's statistics and gradients, the pipeline's global pooling and linear layers.

/// Independent f32 partial sums per slice, so that the compiler can vectorise a reduction.
const LANES: usize = 16;

/// `sum(f(a[i], b[i]))` over one plane or row: `LANES` f32 partial sums, added up in f64 in a
/// tree (in order, the 16 dependent adds took longer than a 9x9 plane's sums: a 75%-pruned
/// ResNet-20's global pooling, 51 such planes, took 1% of its time). Compiled for AVX-512
/// where the CPU has it, the partial sums are one vector register (the same sums, in the same
/// order); the portable build's SSE code took 3.6 µs of that pooling per image.
pub(crate) fn sum_pairs(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if crate::direct::available() {
        // SAFETY: the CPU has AVX-512.
        return unsafe { sum_pairs_avx512(a, b, f) };
    }
    sum_pairs_portable(a, b, f)
}

/// [`sum_pairs`] with AVX-512: the 16 partial sums in one register and the tree of f64 adds
/// on its halves, the same sums in the same order. (The portable code compiled for AVX-512
/// kept two lanes per register, the pairs its tree adds.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn sum_pairs_avx512(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    use std::arch::x86_64::*;
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = tail_sum(a_chunks.remainder(), b_chunks.remainder(), &f);
    let mut acc = _mm512_setzero_ps();
    for (a, b) in a_chunks.zip(b_chunks) {
        // A loop, not `array::from_fn`: that one, compiled without AVX-512, would call this
        // function's closure (compiled with it) once per value.
        let mut values = [0.0; LANES];
        for i in 0..LANES {
            values[i] = f(a[i], b[i]);
        }
        // SAFETY: `values` holds 16 values.
        acc = _mm512_add_ps(acc, unsafe { _mm512_loadu_ps(values.as_ptr()) });
    }
    let high = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(acc)));
    let eights = _mm512_add_pd(
        _mm512_cvtps_pd(_mm512_castps512_ps256(acc)),
        _mm512_cvtps_pd(high),
    );
    let fours = _mm256_add_pd(
        _mm512_castpd512_pd256(eights),
        _mm512_extractf64x4_pd::<1>(eights),
    );
    let twos = _mm_add_pd(
        _mm256_castpd256_pd128(fours),
        _mm256_extractf128_pd::<1>(fours),
    );
    _mm_cvtsd_f64(twos) + _mm_cvtsd_f64(_mm_unpackhi_pd(twos, twos)) + tail as f64
}

/// The values past the last whole chunk of [`LANES`], added in order.
fn tail_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    a.iter().zip(b).map(|(a, b)| f(*a, *b)).sum()
}

/// [`sum_pairs`] on any CPU.
fn sum_pairs_portable(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = tail_sum(a_chunks.remainder(), b_chunks.remainder(), &f);
    let mut acc = [0.0f32; LANES];
    for (a, b) in a_chunks.zip(b_chunks) {
        for i in 0..LANES {
            acc[i] += f(a[i], b[i]);
        }
    }
    let mut sums = acc.map(f64::from);
    for width in [8, 4, 2, 1] {
        for i in 0..width {
            sums[i] += sums[i + width];
        }
    }
    sums[0] + tail as f64
}

/// `sum(f(v))` over one plane or row.
pub(crate) fn sum(values: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    sum_pairs(values, values, |v, _| f(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn the_sums_match_an_f64_loop_and_the_vector_build_the_portable_one(
            values in prop::collection::vec(-100.0f32..100.0, 0..200),
            shift in -10.0f32..10.0,
        ) {
            let b = &values[values.len() / 3..];
            let a = &values[..b.len()];
            let f = |a: f32, b: f32| (a - shift) * b.max(0.0);
            let exact: f64 = a.iter().zip(b).map(|(a, b)| f(*a, *b) as f64).sum();
            let scale: f64 = a.iter().zip(b).map(|(a, b)| f(*a, *b).abs() as f64).sum();
            let got = sum_pairs(a, b, f);
            prop_assert!((got - exact).abs() <= 1e-5 * scale.max(1.0), "{got} vs {exact}");
            prop_assert_eq!(sum_pairs_portable(a, b, f), got);
            let exact: f64 = values.iter().map(|v| *v as f64).sum();
            let scale: f64 = values.iter().map(|v| v.abs() as f64).sum();
            let got = sum(&values, |v| v);
            prop_assert!((got - exact).abs() <= 1e-5 * scale.max(1.0), "{got} vs {exact}");
        }
    }
}
