//! AVX loads and stores of 4 f64 lanes, for every SIMD kernel (the certificate's row scans and
//! augmenting paths, the fused prox step). Safe functions: the length is asserted, which the
//! compiler drops after `chunks_exact(4)` or on a `[f64; 4]`, so the kernels hold no unsafe
//! pointer arithmetic of their own. Inlined into their `#[target_feature(enable = "avx")]`
//! callers (they only run once `SimdLevel::detect` or the certificate has found AVX).

use std::arch::x86_64::{__m256d, _mm256_loadu_pd, _mm256_storeu_pd};

/// The 4 values of a chunk of exactly 4.
#[inline(always)]
pub(crate) fn load4(chunk: &[f64]) -> __m256d {
    assert_eq!(chunk.len(), 4);
    // SAFETY: the chunk holds 4 elements (asserted).
    unsafe { _mm256_loadu_pd(chunk.as_ptr()) }
}

/// Writes 4 lanes into a chunk of exactly 4.
#[inline(always)]
pub(crate) fn store4(chunk: &mut [f64], x: __m256d) {
    assert_eq!(chunk.len(), 4);
    // SAFETY: the chunk holds 4 elements (asserted).
    unsafe { _mm256_storeu_pd(chunk.as_mut_ptr(), x) }
}

/// The 4 lanes as an array.
#[inline(always)]
pub(crate) fn lanes_of(x: __m256d) -> [f64; 4] {
    let mut out = [0.0; 4];
    store4(&mut out, x);
    out
}
