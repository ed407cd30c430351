//! Row kernels of the certificate: the cost-row memo and the reduced costs of a whole row with
//! their minimum, portable and with AVX intrinsics (same per-element operations; minima are
//! exact, so their lane split does not matter).

use super::CertifiedAssignment;

/// Whether `update` may run its AVX build on this CPU.
pub(super) fn avx_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        return true;
    }
    false
}

impl CertifiedAssignment {
    /// Selects the baseline or the AVX build of `update` (tests compare them bitwise); AVX is
    /// only taken if the CPU has it. Returns whether AVX is now used.
    pub fn set_avx(&mut self, on: bool) -> bool {
        self.avx = on && avx_available();
        self.avx
    }

    /// Checks every row by a full scan from now on (tests: the reference for the candidates).
    pub fn use_full_scans_only(&mut self) {
        self.full_scans_only = true;
    }

    /// Rows whose candidates are WIDE now (tests: the wide path is exercised).
    #[cfg(test)]
    pub(crate) fn wide_rows(&self) -> usize {
        self.width.iter().filter(|&&k| k == super::WIDE).count()
    }

    /// Makes memo row i hold c_i·(V) (computed once per `update`).
    #[inline(always)]
    pub(super) fn ensure_cost_row(&mut self, v: &[f64], i: usize) {
        let (d, m) = (self.d, self.sigma.len());
        let sc = &mut self.scratch;
        if sc.cost_rows.len() != m * m {
            sc.cost_rows.resize(m * m, 0.0);
            sc.cost_stamp.clear();
            sc.cost_stamp.resize(m, u64::MAX);
        }
        if sc.cost_stamp[i] == sc.epoch {
            return;
        }
        sc.cost_stamp[i] = sc.epoch;
        let row = &mut sc.cost_rows[i * m..(i + 1) * m];
        if d == 2 {
            let (t0, t1) = self.target_t.split_at(m);
            let point = [v[2 * i], v[2 * i + 1]];
            #[cfg(target_arch = "x86_64")]
            if self.avx {
                // SAFETY: `avx` is true only if the CPU has AVX.
                unsafe { avx::costs_2d(point, t0, t1, row) };
                return;
            }
            costs_2d(point, t0, t1, row);
        } else {
            Self::row_costs(&self.target_t, &v[i * d..(i + 1) * d], row);
        }
    }
}

/// c_j = (x_0 − t0_j)² + (x_1 − t1_j)², as `row_costs` computes it for d = 2.
#[inline(always)]
fn costs_2d(point: [f64; 2], t0: &[f64], t1: &[f64], out: &mut [f64]) {
    for ((c, a), b) in out.iter_mut().zip(t0).zip(t1) {
        let (d0, d1) = (point[0] - a, point[1] - b);
        *c = d0 * d0 + d1 * d1;
    }
}

/// reduced_j = c_j − v_j + penalty_j; returns their minimum and the first column attaining
/// it (len if none: all NaN). Lane l keeps its first minimum (strict <); the lanes' tie goes to
/// the lowest column, so this is `position(== min)` of the whole row.
#[inline(always)]
pub(super) fn reduce_and_argmin(
    costs: &[f64],
    potential: &[f64],
    penalty: &[f64],
    reduced: &mut [f64],
) -> (f64, usize) {
    let (mut lowest, mut at) = (f64::INFINITY, reduced.len());
    for (j, (((c, p), pen), r)) in costs.iter().zip(potential).zip(penalty).zip(reduced.iter_mut()).enumerate() {
        *r = c - p + pen;
        if *r < lowest {
            (lowest, at) = (*r, j);
        }
    }
    (lowest, at)
}

/// min_j of (reduced_j − shift)⁺ · inv_j over pairs with inv_j > 0 (else +∞).
#[inline(always)]
pub(super) fn radius_over(reduced: &[f64], inv_gap2: &[f64], shift: f64) -> f64 {
    let term = |r: f64, inv: f64| if inv > 0.0 { max(r - shift, 0.0) * inv } else { f64::INFINITY };
    let mut lanes = [f64::INFINITY; 4];
    for (r, inv) in reduced.chunks_exact(4).zip(inv_gap2.chunks_exact(4)) {
        for l in 0..4 {
            lanes[l] = min(term(r[l], inv[l]), lanes[l]);
        }
    }
    let done = reduced.len() / 4 * 4;
    let tail = reduced[done..].iter().zip(&inv_gap2[done..]).map(|(&r, &inv)| term(r, inv));
    tail.fold(fold_min(lanes), min)
}

/// min_j of (reduced_j − e_ref) − twice_radius · gap_j.
#[inline(always)]
pub(super) fn lead_over(reduced: &[f64], gaps: &[f64], e_ref: f64, twice_radius: f64) -> f64 {
    let term = |r: f64, g: f64| (r - e_ref) - twice_radius * g;
    let mut lanes = [f64::INFINITY; 4];
    for (r, g) in reduced.chunks_exact(4).zip(gaps.chunks_exact(4)) {
        for l in 0..4 {
            lanes[l] = min(term(r[l], g[l]), lanes[l]);
        }
    }
    let done = reduced.len() / 4 * 4;
    let tail = reduced[done..].iter().zip(&gaps[done..]).map(|(&r, &g)| term(r, g));
    tail.fold(fold_min(lanes), min)
}

/// max_j of c_j + |v_j| (the magnitude of a row's reduced costs, for rounding margins).
#[inline(always)]
pub(super) fn magnitude(costs: &[f64], potential: &[f64]) -> f64 {
    let mut lanes = [0.0; 4];
    for (c, p) in costs.chunks_exact(4).zip(potential.chunks_exact(4)) {
        for l in 0..4 {
            lanes[l] = max(c[l] + p[l].abs(), lanes[l]);
        }
    }
    let done = costs.len() / 4 * 4;
    let tail = costs[done..].iter().zip(&potential[done..]).map(|(&c, &p)| c + p.abs());
    tail.fold(lanes.iter().fold(0.0, |a, &b| max(b, a)), |a, b| max(b, a))
}

/// a < b ? a : b (the AVX `min_pd` rule).
#[inline(always)]
fn min(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

/// a > b ? a : b (the AVX `max_pd` rule).
#[inline(always)]
fn max(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn fold_min(lanes: [f64; 4]) -> f64 {
    min(min(lanes[0], lanes[1]), min(lanes[2], lanes[3]))
}

/// The same kernels with AVX intrinsics: identical per-element operations
/// (`_mm256_min_pd(a, b)` is `a < b ? a : b`, the portable lane update), 4 columns at a time.
#[cfg(target_arch = "x86_64")]
pub(super) mod avx {
    use std::arch::x86_64::*;

    use crate::numerics::avx::{lanes_of, load4, store4};

    #[target_feature(enable = "avx")]
    #[inline]
    pub(super) fn costs_2d(point: [f64; 2], t0: &[f64], t1: &[f64], out: &mut [f64]) {
        let (x0, x1) = (_mm256_set1_pd(point[0]), _mm256_set1_pd(point[1]));
        let mut chunks = out.chunks_exact_mut(4);
        for ((o, a), b) in (&mut chunks).zip(t0.chunks_exact(4)).zip(t1.chunks_exact(4)) {
            let (d0, d1) = (_mm256_sub_pd(x0, load4(a)), _mm256_sub_pd(x1, load4(b)));
            store4(o, _mm256_add_pd(_mm256_mul_pd(d0, d0), _mm256_mul_pd(d1, d1)));
        }
        let done = out.len() / 4 * 4;
        super::costs_2d(point, &t0[done..], &t1[done..], &mut out[done..]);
    }

    /// `super::reduce_and_argmin`, 4 columns at a time (column numbers as exact f64 lanes).
    #[target_feature(enable = "avx")]
    #[inline]
    pub(in crate::numerics::assignment::certificate) fn reduce_and_argmin(
        costs: &[f64],
        potential: &[f64],
        penalty: &[f64],
        reduced: &mut [f64],
    ) -> (f64, usize) {
        let mut lanes = _mm256_set1_pd(f64::INFINITY);
        let (mut columns, mut at) = (_mm256_set_pd(3.0, 2.0, 1.0, 0.0), _mm256_set1_pd(f64::INFINITY));
        let four = _mm256_set1_pd(4.0);
        let inputs = costs.chunks_exact(4).zip(potential.chunks_exact(4)).zip(penalty.chunks_exact(4));
        for (((c, p), pen), r) in inputs.zip(reduced.chunks_exact_mut(4)) {
            let value = _mm256_add_pd(_mm256_sub_pd(load4(c), load4(p)), load4(pen));
            store4(r, value);
            let lower = _mm256_cmp_pd::<_CMP_LT_OQ>(value, lanes);
            lanes = _mm256_blendv_pd(lanes, value, lower);
            at = _mm256_blendv_pd(at, columns, lower);
            columns = _mm256_add_pd(columns, four);
        }
        let (values, indices) = (lanes_of(lanes), lanes_of(at));
        let (mut lowest, mut best) = (f64::INFINITY, reduced.len());
        for (&value, &index) in values.iter().zip(&indices) {
            // Lanes with equal minima: the lowest column wins (indices are exact integers).
            if value < lowest || (value == lowest && index.is_finite() && (index as usize) < best) {
                (lowest, best) = (value, index as usize);
            }
        }
        let done = reduced.len() / 4 * 4;
        let (tail, tail_at) =
            super::reduce_and_argmin(&costs[done..], &potential[done..], &penalty[done..], &mut reduced[done..]);
        if tail < lowest {
            (lowest, best) = (tail, done + tail_at);
        }
        (lowest, best)
    }

    /// `super::radius_over`, 4 columns at a time.
    #[target_feature(enable = "avx")]
    #[inline]
    pub(in crate::numerics::assignment::certificate) fn radius_over(
        reduced: &[f64],
        inv_gap2: &[f64],
        shift: f64,
    ) -> f64 {
        let (zero, infinity, shift_v) = (_mm256_setzero_pd(), _mm256_set1_pd(f64::INFINITY), _mm256_set1_pd(shift));
        let mut lanes = infinity;
        for (r, inv) in reduced.chunks_exact(4).zip(inv_gap2.chunks_exact(4)) {
            let inv = load4(inv);
            let slack = _mm256_max_pd(_mm256_sub_pd(load4(r), shift_v), zero);
            let term = _mm256_blendv_pd(infinity, _mm256_mul_pd(slack, inv), _mm256_cmp_pd::<_CMP_GT_OQ>(inv, zero));
            lanes = _mm256_min_pd(term, lanes);
        }
        let (n, j) = (reduced.len().min(inv_gap2.len()), reduced.len().min(inv_gap2.len()) / 4 * 4);
        let tail = super::radius_over(&reduced[j..n], &inv_gap2[j..n], shift);
        super::min(tail, super::fold_min(lanes_of(lanes)))
    }

    /// `super::lead_over`, 4 columns at a time.
    #[target_feature(enable = "avx")]
    #[inline]
    pub(in crate::numerics::assignment::certificate) fn lead_over(
        reduced: &[f64],
        gaps: &[f64],
        e_ref: f64,
        twice_radius: f64,
    ) -> f64 {
        let (e_ref_v, twice_v) = (_mm256_set1_pd(e_ref), _mm256_set1_pd(twice_radius));
        let mut lanes = _mm256_set1_pd(f64::INFINITY);
        for (r, g) in reduced.chunks_exact(4).zip(gaps.chunks_exact(4)) {
            let term = _mm256_sub_pd(_mm256_sub_pd(load4(r), e_ref_v), _mm256_mul_pd(twice_v, load4(g)));
            lanes = _mm256_min_pd(term, lanes);
        }
        let (n, j) = (reduced.len().min(gaps.len()), reduced.len().min(gaps.len()) / 4 * 4);
        let tail = super::lead_over(&reduced[j..n], &gaps[j..n], e_ref, twice_radius);
        super::min(tail, super::fold_min(lanes_of(lanes)))
    }
}
