//! Fused inner step of the proximal GD for the paper's case d = 2 with the bias input 1
//! (X_j = (x_j, 1), so ⟨w_i, X_j⟩ = w_i0 x_j + w_i1) and an even number of neurons: one call
//! evaluates F(V), g = ∇F(V) + κ (V − T) and writes V − β g, without materialising ∇F.
//!
//! Bit-identical to the general path (`forward` + `gradient_by_pattern` / `gradient_blocked`,
//! `add_proximal_gradient`, `V −= β g`): every sum has the same terms in the same order.
//! - Forward: neurons in blocks of 4; lane class l (neuron ≡ l mod 4) accumulates over blocks
//!   in ascending order, then out_j = (p0 + p1) + (p2 + p3).
//! - Gradient: S_i = Σ_j s_ij e_j X_j in ascending j from +0.0; inactive terms are +0.0 here
//!   (masked) and skipped or ±0 there, which is the same since a sum started at +0.0 is
//!   never −0.0. Then g_i = (scale α_i) S_i + κ (V_i − T_i).
//! - Residual: ‖g‖² over the row-major g in four interleaved lanes (flat index mod 4),
//!   (r0 + r1) + (r2 + r3); an even m leaves no tail.
//!
//! Within a block the lanes hold neurons (0, 2, 1, 3): the order in which an AVX unpack of two
//! row-major pairs delivers them. The portable and AVX paths use this same layout and the same
//! scalar operations per lane (no FMA: Rust never contracts mul + add), so they agree bitwise.

type Lanes = [f64; 4];

/// Neuron (within its block) held by each lane.
const LANE_NEURON: [usize; 4] = [0, 2, 1, 3];

/// Which implementation of the fused step runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimdLevel {
    /// Plain Rust on 4-lane arrays (any target).
    Portable,
    /// 256-bit AVX intrinsics (x86-64 with AVX, detected at run time).
    Avx,
}

impl SimdLevel {
    /// The fastest level this CPU supports.
    pub fn detect() -> SimdLevel {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx") {
            return SimdLevel::Avx;
        }
        SimdLevel::Portable
    }
}

/// Per-problem constants of the fused step.
#[derive(Debug, Clone)]
pub(super) struct FusedTables {
    /// α per block, in lane order, zero-padded past m.
    alpha: Vec<Lanes>,
    /// scale · α (scale = 2kc/n), the gradient's per-neuron factor, same layout.
    grad_alpha: Vec<Lanes>,
    /// First input coordinate x_j of every point.
    x: Vec<f64>,
    y: Vec<f64>,
    output_scale: f64,
    loss_factor: f64,
    pub(super) simd: SimdLevel,
}

/// Scratch of the fused step.
#[derive(Debug, Clone, Default)]
pub(super) struct FusedScratch {
    /// Per point: the 4 lane partial sums of the network output.
    partial: Vec<Lanes>,
    /// Per block and point: activation masks (all-ones bits if ⟨w_i, X_j⟩ > 0, else 0).
    masks: Vec<Lanes>,
    /// e_j and e_j x_j.
    residual: Vec<f64>,
    weighted: Vec<f64>,
}

impl FusedTables {
    /// Tables for α, data (x_j, y_j) and the gradient scale; None unless m is even and > 0.
    pub(super) fn new(alpha: &[f64], x: Vec<f64>, y: Vec<f64>, output_scale: f64, loss_factor: f64) -> Option<Self> {
        let m = alpha.len();
        if m == 0 || !m.is_multiple_of(2) || x.len() != y.len() || x.is_empty() {
            return None;
        }
        let scale = 2.0 * loss_factor * output_scale / y.len() as f64;
        let by_lane = |f: &dyn Fn(f64) -> f64| -> Vec<Lanes> {
            (0..m.div_ceil(4)).map(|b| LANE_NEURON.map(|l| alpha.get(4 * b + l).map_or(0.0, |&a| f(a)))).collect()
        };
        Some(FusedTables {
            alpha: by_lane(&|a| a),
            grad_alpha: by_lane(&|a| scale * a),
            x,
            y,
            output_scale,
            loss_factor,
            simd: SimdLevel::detect(),
        })
    }

    pub(super) fn scratch(&self) -> FusedScratch {
        let n = self.x.len();
        FusedScratch {
            partial: vec![[0.0; 4]; n],
            masks: vec![[0.0; 4]; n * self.alpha.len()],
            residual: vec![0.0; n],
            weighted: vec![0.0; n],
        }
    }

    /// Returns (F(V), ‖g‖²) and writes V − β g into `next` (all slices 2m long).
    pub(super) fn step(&self, s: &mut FusedScratch, step: &ProxStepInput, next: &mut [f64]) -> (f64, f64) {
        match self.simd {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx` is only selected (by `detect`, or by tests after detecting) on a CPU
            // with AVX.
            SimdLevel::Avx => unsafe { avx::step(self, s, step, next) },
            _ => self.step_portable(s, step, next),
        }
    }

    /// Network outputs from the partial sums, then e_j, e_j x_j and the loss.
    fn residuals(&self, s: &mut FusedScratch) -> f64 {
        let mut sq = 0.0;
        for (j, p) in s.partial.iter().enumerate() {
            // Lanes (0, 2, 1, 3) hold neuron classes 0, 2, 1, 3: (p0 + p1) + (p2 + p3).
            let out = (p[0] + p[2]) + (p[1] + p[3]);
            let e = out * self.output_scale - self.y[j];
            s.residual[j] = e;
            s.weighted[j] = e * self.x[j];
            sq += e * e;
        }
        self.loss_factor * sq / self.y.len() as f64
    }

    fn step_portable(&self, s: &mut FusedScratch, step: &ProxStepInput, next: &mut [f64]) -> (f64, f64) {
        let n = self.x.len();
        s.partial.iter_mut().for_each(|p| *p = [0.0; 4]);
        for (b, alpha) in self.alpha.iter().enumerate() {
            let (w0, w1) = block_lanes(step.v, b);
            for (j, (partial, &xj)) in s.partial.iter_mut().zip(&self.x).enumerate() {
                let mask = &mut s.masks[b * n + j];
                for l in 0..4 {
                    let z = w0[l] * xj + w1[l];
                    mask[l] = f64::from_bits(if z > 0.0 { u64::MAX } else { 0 });
                    partial[l] += alpha[l] * and(z, mask[l]);
                }
            }
        }
        let loss = self.residuals(s);
        let mut lanes = [0.0; 4];
        for (b, grad_alpha) in self.grad_alpha.iter().enumerate() {
            let (mut s0, mut s1) = ([0.0; 4], [0.0; 4]);
            for (j, mask) in s.masks[b * n..(b + 1) * n].iter().enumerate() {
                for l in 0..4 {
                    s0[l] += and(s.weighted[j], mask[l]);
                    s1[l] += and(s.residual[j], mask[l]);
                }
            }
            for (l, &neuron) in LANE_NEURON.iter().enumerate() {
                let i = 4 * b + neuron;
                let Some(vi) = step.v.get(2 * i..2 * i + 2) else { continue };
                let gradient = [grad_alpha[l] * s0[l], grad_alpha[l] * s1[l]];
                for k in 0..2 {
                    let g = gradient[k] + step.kappa * (vi[k] - step.pulled_to[2 * i + k]);
                    lanes[(2 * i + k) % 4] += g * g;
                    next[2 * i + k] = vi[k] - step.beta * g;
                }
            }
        }
        (loss, (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]))
    }
}

/// The proximal part of one inner step: V, T = W_σ, κ and β.
pub(super) struct ProxStepInput<'a> {
    pub v: &'a [f64],
    pub pulled_to: &'a [f64],
    pub kappa: f64,
    pub beta: f64,
}

/// value with its bits ANDed with the mask (value or +0.0).
#[inline(always)]
fn and(value: f64, mask: f64) -> f64 {
    f64::from_bits(value.to_bits() & mask.to_bits())
}

/// (w_i0, w_i1) of block b in lane order, zero past m.
#[inline(always)]
fn block_lanes(v: &[f64], b: usize) -> (Lanes, Lanes) {
    let at = |l: usize, k: usize| v.get(2 * (4 * b + LANE_NEURON[l]) + k).copied().unwrap_or(0.0);
    ([at(0, 0), at(1, 0), at(2, 0), at(3, 0)], [at(0, 1), at(1, 1), at(2, 1), at(3, 1)])
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    use super::{FusedScratch, FusedTables, ProxStepInput};
    use crate::numerics::avx::{load4, store4};

    /// Block b (4 neurons × 2 coordinates) of `src` if it is complete.
    #[inline(always)]
    fn full_block(src: &[f64], b: usize) -> Option<&[f64; 8]> {
        src.get(8 * b..8 * b + 8)?.try_into().ok()
    }

    /// Block b of `src`, zero-padded past its end (only the last block of an m ≢ 0 mod 4).
    #[inline(never)]
    fn padded_block(src: &[f64], b: usize) -> [f64; 8] {
        let mut out = [0.0; 8];
        for (o, x) in out.iter_mut().zip(src.iter().skip(8 * b)) {
            *o = *x;
        }
        out
    }

    /// Rows 0–1 (h = 0) or 2–3 (h = 1) of a block.
    #[inline(always)]
    fn load_half(block: &[f64; 8], h: usize) -> __m256d {
        load4(&block[4 * h..4 * h + 4])
    }

    #[inline(always)]
    fn store_half(block: &mut [f64; 8], h: usize, x: __m256d) {
        store4(&mut block[4 * h..4 * h + 4], x)
    }

    /// Same arithmetic as `FusedTables::step_portable`, four lanes per instruction.
    #[target_feature(enable = "avx")]
    pub(super) fn step(t: &FusedTables, s: &mut FusedScratch, step: &ProxStepInput, next: &mut [f64]) -> (f64, f64) {
        // Up to 8 points: the partial sums stay in registers across blocks.
        match t.x.len() {
            1 => forward_in_registers::<1>(t, s, step.v),
            2 => forward_in_registers::<2>(t, s, step.v),
            3 => forward_in_registers::<3>(t, s, step.v),
            4 => forward_in_registers::<4>(t, s, step.v),
            5 => forward_in_registers::<5>(t, s, step.v),
            6 => forward_in_registers::<6>(t, s, step.v),
            7 => forward_in_registers::<7>(t, s, step.v),
            8 => forward_in_registers::<8>(t, s, step.v),
            _ => forward_in_memory(t, s, step.v),
        }
        let loss = t.residuals(s);
        let mut lanes = _mm256_setzero_pd();
        for b in 0..t.grad_alpha.len() {
            let (v, target) = (full_block(step.v, b), full_block(step.pulled_to, b));
            match (v, target, next.get_mut(8 * b..8 * b + 8).and_then(|c| c.try_into().ok())) {
                (Some(v), Some(target), Some(out)) => update_block(t, s, step, b, v, target, out, &mut lanes),
                _ => {
                    let (v, target, mut out) = (padded_block(step.v, b), padded_block(step.pulled_to, b), [0.0; 8]);
                    update_block(t, s, step, b, &v, &target, &mut out, &mut lanes);
                    for (dst, x) in next.iter_mut().skip(8 * b).zip(out) {
                        *dst = x;
                    }
                }
            }
        }
        let mut r = [0.0; 4];
        store4(&mut r, lanes);
        (loss, (r[0] + r[1]) + (r[2] + r[3]))
    }

    /// Forward pass for n = N points: per block, z = w0 x_j + w1, the masks, and
    /// partial_j += α relu(z); the partial sums end in `s.partial`.
    #[target_feature(enable = "avx")]
    #[inline]
    fn forward_in_registers<const N: usize>(t: &FusedTables, s: &mut FusedScratch, v: &[f64]) {
        let mut partial = [_mm256_setzero_pd(); N];
        let x: [f64; N] = t.x[..N].try_into().expect("n = N");
        for b in 0..t.alpha.len() {
            let (w0, w1) = match full_block(v, b) {
                Some(rows) => block_lanes(rows),
                None => block_lanes(&padded_block(v, b)),
            };
            let alpha = load4(&t.alpha[b]);
            let masks: &mut [[f64; 4]; N] = (&mut s.masks[b * N..(b + 1) * N]).try_into().expect("n = N");
            for j in 0..N {
                let relu = activate(w0, w1, x[j], &mut masks[j]);
                partial[j] = _mm256_add_pd(partial[j], _mm256_mul_pd(alpha, relu));
            }
        }
        for (out, p) in s.partial.iter_mut().zip(partial) {
            store4(out, p);
        }
    }

    /// The same for any n, with the partial sums in memory.
    #[target_feature(enable = "avx")]
    fn forward_in_memory(t: &FusedTables, s: &mut FusedScratch, v: &[f64]) {
        let n = t.x.len();
        for partial in s.partial.iter_mut() {
            store4(partial, _mm256_setzero_pd());
        }
        for b in 0..t.alpha.len() {
            let (w0, w1) = match full_block(v, b) {
                Some(rows) => block_lanes(rows),
                None => block_lanes(&padded_block(v, b)),
            };
            let alpha = load4(&t.alpha[b]);
            let masks = &mut s.masks[b * n..(b + 1) * n];
            for ((partial, mask), &xj) in s.partial.iter_mut().zip(masks).zip(&t.x) {
                let relu = activate(w0, w1, xj, mask);
                let sum = _mm256_add_pd(load4(partial), _mm256_mul_pd(alpha, relu));
                store4(partial, sum);
            }
        }
    }

    /// (w_i0) and (w_i1) of a block's 4 neurons in lane order (0, 2, 1, 3), as unpack gives them.
    #[target_feature(enable = "avx")]
    #[inline]
    fn block_lanes(rows: &[f64; 8]) -> (__m256d, __m256d) {
        let (lo, hi) = (load_half(rows, 0), load_half(rows, 1));
        (_mm256_unpacklo_pd(lo, hi), _mm256_unpackhi_pd(lo, hi))
    }

    /// relu(z) for z = w0 x + w1 (+0.0 where z ≤ 0 or NaN), storing the mask z > 0.
    #[target_feature(enable = "avx")]
    #[inline]
    fn activate(w0: __m256d, w1: __m256d, x: f64, mask_out: &mut [f64; 4]) -> __m256d {
        let z = _mm256_add_pd(_mm256_mul_pd(w0, _mm256_set1_pd(x)), w1);
        let mask = _mm256_cmp_pd::<_CMP_GT_OQ>(z, _mm256_setzero_pd());
        store4(mask_out, mask);
        _mm256_and_pd(z, mask)
    }

    /// Block b's gradient from the masks, g = ∇F + κ (V − T), the residual lanes and V − βg.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx")]
    #[inline]
    fn update_block(
        t: &FusedTables,
        s: &FusedScratch,
        step: &ProxStepInput,
        b: usize,
        v: &[f64; 8],
        target: &[f64; 8],
        out: &mut [f64; 8],
        lanes: &mut __m256d,
    ) {
        let n = t.x.len();
        let (mut s0, mut s1) = (_mm256_setzero_pd(), _mm256_setzero_pd());
        let masks = &s.masks[b * n..(b + 1) * n];
        for ((mask, &weighted), &residual) in masks.iter().zip(&s.weighted).zip(&s.residual) {
            let mask = load4(mask);
            s0 = _mm256_add_pd(s0, _mm256_and_pd(_mm256_set1_pd(weighted), mask));
            s1 = _mm256_add_pd(s1, _mm256_and_pd(_mm256_set1_pd(residual), mask));
        }
        let grad_alpha = load4(&t.grad_alpha[b]);
        let (g0, g1) = (_mm256_mul_pd(grad_alpha, s0), _mm256_mul_pd(grad_alpha, s1));
        // Back to row-major: unpack again gives rows (0, 1) and (2, 3).
        let grads = [_mm256_unpacklo_pd(g0, g1), _mm256_unpackhi_pd(g0, g1)];
        let (kappa, beta) = (_mm256_set1_pd(step.kappa), _mm256_set1_pd(step.beta));
        for (h, grad) in grads.into_iter().enumerate() {
            let (vh, th) = (load_half(v, h), load_half(target, h));
            let g = _mm256_add_pd(grad, _mm256_mul_pd(kappa, _mm256_sub_pd(vh, th)));
            // Padding rows give g = +0.0, which leaves the lane sums unchanged.
            *lanes = _mm256_add_pd(*lanes, _mm256_mul_pd(g, g));
            store_half(out, h, _mm256_sub_pd(vh, _mm256_mul_pd(beta, g)));
        }
    }
}
