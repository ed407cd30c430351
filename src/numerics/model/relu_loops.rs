//! Hot loops of the ReLU loss and gradient. For d ≤ 4 (the paper's d = 2) the particle
//! dimension is a const generic: neurons are processed in blocks of LANES held in registers,
//! each pre-activation is recomputed in the gradient pass instead of stored, and every sum has
//! a fixed association order — lane l of a block always accumulates the same terms in the same
//! order — so the compiler may vectorise but results are bit-identical with or without SIMD.
//! Larger d uses a simple neuron-major fallback.

/// Neurons per block (partial sums over neurons use LANES interleaved accumulators).
pub(super) const LANES: usize = 4;

/// `value` if z > 0, else +0.0 (so relu(z) = keep_if_active(z, z) and σ'(z)·e =
/// keep_if_active(z, e), with σ'(0) = 0). Bit masking instead of a branch: activations are
/// unpredictable and this vectorises (compare + and). NaN counts as inactive; the solvers catch
/// NaN positions through the residual, whose proximal term sees V directly.
#[inline(always)]
pub(super) fn keep_if_active(z: f64, value: f64) -> f64 {
    if z > 0.0 {
        value
    } else {
        0.0
    }
}

/// Block b of W in structure-of-arrays form ([k][lane]), zero-padded past m, with its α.
#[inline(always)]
fn load_block<const D: usize>(w: &[f64], alpha: &[f64], b: usize) -> ([[f64; LANES]; D], [f64; LANES]) {
    let mut wb = [[0.0; LANES]; D];
    let mut ab = [0.0; LANES];
    let start = b * LANES;
    // Full block: one bounds check, then a fixed-shape transpose.
    if let (Some(wc), Some(ac)) = (w.get(start * D..(start + LANES) * D), alpha.get(start..start + LANES)) {
        for (l, wi) in wc.chunks_exact(D).enumerate() {
            for k in 0..D {
                wb[k][l] = wi[k];
            }
        }
        ab.copy_from_slice(ac);
        return (wb, ab);
    }
    for l in 0..LANES {
        let i = b * LANES + l;
        if let (Some(wi), Some(a)) = (w.get(i * D..(i + 1) * D), alpha.get(i)) {
            for k in 0..D {
                wb[k][l] = wi[k];
            }
            ab[l] = *a;
        }
    }
    (wb, ab)
}

/// z_l = Σ_k w[k][l] x_k, summed in k order (shared by both passes: identical bits). With
/// BIAS (every X_j ends in exactly 1.0) the last product is skipped: w·1.0 = w exactly, so the
/// bits are the same, with one multiplication less.
#[inline(always)]
fn pre_activation<const D: usize, const BIAS: bool>(wb: &[[f64; LANES]; D], xj: &[f64; D]) -> [f64; LANES] {
    // k outer, lanes inner: each statement is one LANES-wide vector operation.
    let mut z = [0.0; LANES];
    for l in 0..LANES {
        z[l] = wb[0][l] * xj[0];
    }
    for k in 1..D {
        for l in 0..LANES {
            z[l] += if BIAS && k == D - 1 { wb[k][l] } else { wb[k][l] * xj[k] };
        }
    }
    z
}

/// Row j of X as a fixed-size array.
#[inline(always)]
fn row<const D: usize>(x: &[f64], j: usize) -> [f64; D] {
    let mut r = [0.0; D];
    r.copy_from_slice(&x[j * D..(j + 1) * D]);
    r
}

/// Σ_i α_i relu(⟨w_i, X_j⟩) for every j into `out` (n), using `partial` (n blocks of LANES).
/// If `patterns` is non-empty (m entries, n ≤ 64), also records each neuron's activation
/// pattern: bit j set iff ⟨w_i, X_j⟩ > 0.
pub(super) fn outputs_blocked<const D: usize, const BIAS: bool>(
    w: &[f64],
    alpha: &[f64],
    x: &[f64],
    partial: &mut [[f64; LANES]],
    out: &mut [f64],
    patterns: &mut [u64],
) {
    let n = out.len();
    let record = !patterns.is_empty();
    partial.iter_mut().for_each(|p| *p = [0.0; LANES]);
    for b in 0..alpha.len().div_ceil(LANES) {
        let (wb, ab) = load_block::<D>(w, alpha, b);
        let mut bits = [0_u64; LANES];
        for (j, acc) in partial.iter_mut().enumerate().take(n) {
            let z = pre_activation::<D, BIAS>(&wb, &row::<D>(x, j));
            let mut relu = [0.0; LANES];
            for l in 0..LANES {
                relu[l] = keep_if_active(z[l], z[l]);
            }
            for l in 0..LANES {
                acc[l] += ab[l] * relu[l];
            }
            if record {
                for l in 0..LANES {
                    bits[l] |= u64::from(z[l] > 0.0) << j;
                }
            }
        }
        if record {
            for (l, bl) in bits.iter().enumerate() {
                if let Some(p) = patterns.get_mut(b * LANES + l) {
                    *p = *bl;
                }
            }
        }
    }
    for (o, p) in out.iter_mut().zip(partial.iter()) {
        *o = (p[0] + p[1]) + (p[2] + p[3]);
    }
}

/// grad_i = scale α_i Σ_j 1[⟨w_i, X_j⟩ > 0] e_j X_j for every i (row-major m × D).
pub(super) fn gradient_blocked<const D: usize, const BIAS: bool>(
    w: &[f64],
    alpha: &[f64],
    x: &[f64],
    residual: &[f64],
    scale: f64,
    grad: &mut [f64],
) {
    for b in 0..alpha.len().div_ceil(LANES) {
        let (wb, ab) = load_block::<D>(w, alpha, b);
        let mut acc = [[0.0; LANES]; D];
        for (j, e) in residual.iter().enumerate() {
            let xj = row::<D>(x, j);
            let z = pre_activation::<D, BIAS>(&wb, &xj);
            let mut q = [0.0; LANES];
            for l in 0..LANES {
                q[l] = keep_if_active(z[l], *e);
            }
            for k in 0..D {
                for l in 0..LANES {
                    acc[k][l] += if BIAS && k == D - 1 { q[l] } else { q[l] * xj[k] };
                }
            }
        }
        for l in 0..LANES {
            let i = b * LANES + l;
            if let Some(gi) = grad.get_mut(i * D..(i + 1) * D) {
                for k in 0..D {
                    gi[k] = scale * ab[l] * acc[k][l];
                }
            }
        }
    }
}

/// Per-evaluation cache of Σ_{j ∈ P} e_j X_j by activation pattern P (bit j ⇔ X_j active).
#[derive(Debug, Clone, Default)]
pub(super) struct PatternCache {
    epoch: u32,
    stamp: Vec<u32>,
    sums: Vec<f64>,
}

/// Largest n for which gradients go through the pattern table (2^n entries).
pub(super) const MAX_PATTERN_BITS: usize = 12;

impl PatternCache {
    pub(super) fn new(n: usize, d: usize) -> PatternCache {
        let size = if n <= MAX_PATTERN_BITS { 1 << n } else { 0 };
        PatternCache { epoch: 0, stamp: vec![0; size], sums: vec![0.0; size * d] }
    }

    pub(super) fn enabled(&self) -> bool {
        !self.stamp.is_empty()
    }
}

/// Same gradient as [`gradient_blocked`], but neurons sharing an activation pattern share
/// Σ_j s_ij e_j X_j, computed once per pattern and evaluation (in ascending j, as the blocked
/// sum; the skipped terms are exact zeros). With 1-D inputs at most 2n + 2 patterns exist, so
/// this replaces the O(m n d) pass by O(m d + n d · patterns).
pub(super) fn gradient_by_pattern<const D: usize, const BIAS: bool>(
    alpha: &[f64],
    x: &[f64],
    residual: &[f64],
    scale: f64,
    patterns: &[u64],
    cache: &mut PatternCache,
    grad: &mut [f64],
) {
    cache.epoch = cache.epoch.wrapping_add(1);
    if cache.epoch == 0 {
        cache.stamp.iter_mut().for_each(|s| *s = 0);
        cache.epoch = 1;
    }
    for ((gi, a), &pattern) in grad.chunks_exact_mut(D).zip(alpha).zip(patterns) {
        let p = pattern as usize;
        let sum = &mut cache.sums[p * D..(p + 1) * D];
        if cache.stamp[p] != cache.epoch {
            cache.stamp[p] = cache.epoch;
            sum.iter_mut().for_each(|s| *s = 0.0);
            for (j, e) in residual.iter().enumerate().filter(|(j, _)| (p >> j) & 1 == 1) {
                let xj = row::<D>(x, j);
                for k in 0..D {
                    sum[k] += if BIAS && k == D - 1 { *e } else { *e * xj[k] };
                }
            }
        }
        for k in 0..D {
            gi[k] = scale * a * sum[k];
        }
    }
}

/// Fallback for any d: same quantities, neuron-major with a transposed copy of W.
pub(super) fn outputs_generic(
    w: &[f64],
    alpha: &[f64],
    x: &[f64],
    d: usize,
    w_t: &mut [f64],
    z: &mut [f64],
    out: &mut [f64],
) {
    let m = alpha.len();
    for (i, wi) in w.chunks_exact(d).enumerate() {
        for (k, wik) in wi.iter().enumerate() {
            w_t[k * m + i] = *wik;
        }
    }
    for (o, xj) in out.iter_mut().zip(x.chunks_exact(d)) {
        z.iter_mut().for_each(|v| *v = 0.0);
        for (xjk, wk) in xj.iter().zip(w_t.chunks_exact(m)) {
            for (zi, wik) in z.iter_mut().zip(wk) {
                *zi += xjk * wik;
            }
        }
        *o = z.iter().zip(alpha).map(|(zi, a)| a * keep_if_active(*zi, *zi)).sum();
    }
}

/// Fallback gradient for any d (recomputes pre-activations from the transposed W).
#[allow(clippy::too_many_arguments)]
pub(super) fn gradient_generic(
    alpha: &[f64],
    x: &[f64],
    d: usize,
    residual: &[f64],
    scale: f64,
    w_t: &[f64],
    z: &mut [f64],
    grad: &mut [f64],
) {
    let m = alpha.len();
    grad.iter_mut().for_each(|g| *g = 0.0);
    for (xj, e) in x.chunks_exact(d).zip(residual) {
        z.iter_mut().for_each(|v| *v = 0.0);
        for (xjk, wk) in xj.iter().zip(w_t.chunks_exact(m)) {
            for (zi, wik) in z.iter_mut().zip(wk) {
                *zi += xjk * wik;
            }
        }
        for (gi, zi) in grad.chunks_exact_mut(d).zip(z.iter()) {
            let q = keep_if_active(*zi, *e);
            for (g, xjk) in gi.iter_mut().zip(xj) {
                *g += q * xjk;
            }
        }
    }
    for (gi, a) in grad.chunks_exact_mut(d).zip(alpha) {
        gi.iter_mut().for_each(|g| *g *= scale * a);
    }
}
