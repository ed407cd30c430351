//! Row checks by candidate columns (see the module docs): a row is decided from its
//! NARROW or WIDE cheapest columns when a floor proves that no other column can be cheaper, else by
//! a full row scan, which also rebuilds the row's candidates, radius and floor.

use super::{rows, CertifiedAssignment, NARROW, QUICK_EXIT, SETTLED, TIE_TOLERANCE, WIDE};

/// What a row's candidate check reads besides the potentials (fixed until the row's rebuild).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct CandidateSlots {
    /// Position of the reference column among the candidates.
    reference: usize,
    /// Block penalties of the candidates.
    penalty: [f64; WIDE],
    /// For d = 2: the candidates' target coordinates W_j0, W_j1.
    target0: [f64; WIDE],
    target1: [f64; WIDE],
}

/// Safety margin of the floor, relative to the magnitudes involved: rounding in costs and
/// potentials is ~1e-16 of them, so a decision by the candidates is exactly the full scan's.
const FLOOR_MARGIN: f64 = 1e-9;

/// Share of the candidate gap kept as the floor's lead (the rest is the radius's budget).
const FLOOR_SHARE: f64 = 0.1;

impl CertifiedAssignment {
    /// Whether row i is feasible at V (all e_ij = c_ij − v_j ≥ e_iσ(i) up to ties); a violated
    /// row's cheapest column (the first attaining the row minimum) goes to `best_column[i]`.
    /// Identical to a full scan of the row; counts the full scans it needs.
    #[inline(always)]
    pub(super) fn check_row(&mut self, v: &[f64], i: usize) -> bool {
        let by_candidates = if self.full_scans_only { None } else { self.check_by_candidates(v, i) };
        match by_candidates {
            Some(feasible) => feasible,
            None => {
                self.stats.exact_checks += 1;
                self.check_full_row(v, i)
            }
        }
    }

    /// The row's verdict from its candidates, or None if they do not settle it (V_i outside
    /// the radius, or no proof that every other column is dearer).
    #[inline(always)]
    fn check_by_candidates(&mut self, v: &[f64], i: usize) -> Option<bool> {
        if self.width[i] == NARROW {
            self.check_by::<NARROW>(v, i)
        } else {
            self.check_by::<WIDE>(v, i)
        }
    }

    /// `check_by_candidates` for a row with K candidates.
    #[inline(always)]
    fn check_by<const K: usize>(&mut self, v: &[f64], i: usize) -> Option<bool> {
        let d = self.d;
        let vi = &v[i * d..(i + 1) * d];
        let slots = &self.candidate_slots[i];
        let first = |a: &[usize; WIDE]| -> [usize; K] { std::array::from_fn(|l| a[l]) };
        let firstf = |a: &[f64; WIDE]| -> [f64; K] { std::array::from_fn(|l| a[l]) };
        let cols = first(&self.candidates[i]);
        let (target0, target1, penalty) = (firstf(&slots.target0), firstf(&slots.target1), firstf(&slots.penalty));
        // Costs of the candidates (ascending column order), as `row_costs` computes them.
        let mut costs = [0.0; K];
        if d == 2 {
            let (x0, x1) = (vi[0], vi[1]);
            let (b0, b1) = (self.base[2 * i], self.base[2 * i + 1]);
            let moved_sq = (x0 - b0) * (x0 - b0) + (x1 - b1) * (x1 - b1);
            let inside = moved_sq <= self.radius_sq[i]; // false for NaN
            if !inside {
                return None;
            }
            for ((c, t0), t1) in costs.iter_mut().zip(&target0).zip(&target1) {
                let (d0, d1) = (x0 - t0, x1 - t1);
                *c = d0 * d0 + d1 * d1;
            }
        } else {
            let moved_sq = vi.iter().zip(&self.base[i * d..(i + 1) * d]).fold(0.0, |a, (x, y)| a + (x - y) * (x - y));
            let inside = moved_sq <= self.radius_sq[i]; // false for NaN
            if !inside {
                return None;
            }
            for (c, &j) in costs.iter_mut().zip(&cols) {
                *c = self.pair_cost(vi, j);
            }
        }
        let potentials = cols.map(|j| self.potential[j]);
        let values: [f64; K] = std::array::from_fn(|l| costs[l] - potentials[l] + penalty[l]);
        // Strict < keeps the first column attaining the minimum, as the full scan does.
        let (mut lowest, mut best) = (values[0], 0);
        for (l, &value) in values.iter().enumerate().skip(1) {
            if value < lowest {
                (lowest, best) = (value, l);
            }
        }
        // Non-candidates: e_ij ≥ e_ir + lead, the lead shrinking by any decrease of v_r since.
        let r = self.candidate_slots[i].reference;
        let e_ref = values[r];
        let lead = self.floor[i] - (self.reference_potential[i] - potentials[r]);
        let margin = FLOOR_MARGIN * (1.0 + lowest.abs() + e_ref.abs() + self.cost_scale[i]);
        let proven = lowest < e_ref + lead - margin; // false for NaN
        if !proven {
            return None;
        }
        let s = self.sigma[i];
        let c_is = match cols.iter().position(|&j| j == s) {
            Some(l) => costs[l],
            None => self.pair_cost(vi, s),
        };
        Some(self.settle_row(i, lowest, cols[best], lowest, c_is))
    }

    /// c_ij(V) with the arithmetic of `row_costs` (so equal to the memoised value).
    #[inline(always)]
    fn pair_cost(&self, vi: &[f64], j: usize) -> f64 {
        let m = self.sigma.len();
        let mut c = 0.0;
        for (k, x) in vi.iter().enumerate() {
            let diff = x - self.target_t[k * m + j];
            c = if k == 0 { diff * diff } else { c + diff * diff };
        }
        c
    }

    /// The tie-tolerant violation test on the row minimum `lowest` (attained first at column
    /// `best`, whose reduced value is `best_value`): true if σ(i) is cheapest up to ties.
    #[inline(always)]
    fn settle_row(&mut self, i: usize, lowest: f64, best: usize, best_value: f64, c_is: f64) -> bool {
        let s = self.sigma[i];
        let shift = c_is - self.potential[s];
        // Per-pair tolerance TIE·(1 + c_ij + c_is) ≥ TIE·(1 + c_is): the cheap bound first.
        if lowest - shift < -TIE_TOLERANCE * (1.0 + c_is) {
            let c_best = best_value + self.potential[best];
            if lowest - shift < -TIE_TOLERANCE * (1.0 + c_best + c_is) {
                self.best_column[i] = best;
                return false;
            }
        }
        true
    }

    /// Exact reduced costs of the whole row at V (memoised costs, vectorised): the verdict, and
    /// the row's candidates rebuilt at V⁰_i = V_i.
    pub(super) fn check_full_row(&mut self, v: &[f64], i: usize) -> bool {
        let m = self.sigma.len();
        self.ensure_cost_row(v, i);
        let penalty = &self.block_penalty[self.groups.group_of(i) * m..][..m];
        let sc = &mut self.scratch;
        sc.row_costs.resize(m, 0.0);
        let costs = &sc.cost_rows[i * m..(i + 1) * m];
        let reduced = &mut sc.row_costs[..];
        let (lowest, at) = match self.avx {
            // SAFETY: `avx` is true only if the CPU has AVX.
            #[cfg(target_arch = "x86_64")]
            true => unsafe { rows::avx::reduce_and_argmin(costs, &self.potential, penalty, reduced) },
            _ => rows::reduce_and_argmin(costs, &self.potential, penalty, reduced),
        };
        let s = self.sigma[i];
        let c_is = costs[s];
        let best = if at < m { at } else { s };
        let best_value = reduced[best];
        let feasible = self.settle_row(i, lowest, best, best_value, c_is);
        self.rebuild_row(v, i);
        feasible
    }

    /// New base V⁰_i = V_i, candidates C_i (the K_i smallest e_ij, in column order; K_i by the width rule), the
    /// reference r (the cheapest), the lead L_i = min_{j ∉ C_i} (e_ij − e_ir − 2ρ_i ‖W_j − W_r‖)
    /// and the radius ρ_i, chosen so that L_i keeps FLOOR_SHARE of the gap e_(K+1) − e_ir.
    /// Since e_ij − e_ir changes by −2⟨V_i − V⁰_i, W_j − W_r⟩, every non-candidate keeps
    /// e_ij ≥ e_ir + L_i while ‖V_i − V⁰_i‖ ≤ ρ_i and no v_j rises (v_r falling is accounted for).
    fn rebuild_row(&mut self, v: &[f64], i: usize) {
        let (d, m) = (self.d, self.sigma.len());
        self.base[i * d..(i + 1) * d].copy_from_slice(&v[i * d..(i + 1) * d]);
        if !v[i * d..(i + 1) * d].iter().all(|x| x.is_finite()) {
            // No certificate at a non-finite point: full scans until the solver stops.
            self.radius_sq[i] = -1.0;
            return;
        }
        let age = self.age(i);
        let width = match self.width[i] {
            NARROW if age <= QUICK_EXIT => WIDE,
            WIDE if age < SETTLED => WIDE,
            _ => NARROW,
        };
        self.width[i] = width;
        self.rebuilt_at[i] = self.updates;
        let costs = &self.scratch.cost_rows[i * m..(i + 1) * m];
        let reduced = &self.scratch.row_costs[..m];
        let smallest =
            if width == NARROW { smallest_columns::<NARROW>(reduced) } else { smallest_columns::<WIDE>(reduced) };
        let reference = smallest[0].1.min(m.saturating_sub(1));
        let mut chosen = [reference; WIDE];
        for (slot, &(_, j)) in chosen.iter_mut().zip(&smallest[..width]) {
            if j != usize::MAX {
                *slot = j;
            }
        }
        // Ascending column order (insertion sort of the first `width` entries).
        for a in 1..width {
            let mut b = a;
            while b > 0 && chosen[b] < chosen[b - 1] {
                chosen.swap(b, b - 1);
                b -= 1;
            }
        }
        let e_ref = reduced[reference];
        let gap = smallest[width].0 - e_ref;
        let scale = rows::magnitude(costs, &self.potential[..m]);
        // Candidates out of the bounds below: their values become +∞ (the row's reduced costs
        // are not needed any more).
        let reduced = &mut self.scratch.row_costs[..m];
        chosen[..width].iter().for_each(|&j| reduced[j] = f64::INFINITY);
        let (inv_gaps, gaps) = (&self.inv_target_gap2[reference * m..][..m], &self.target_gap[reference * m..][..m]);
        let shift = e_ref + FLOOR_SHARE * gap;
        let (radius, lead) = match self.avx {
            // Every column is a candidate: nothing to bound.
            _ if gap == f64::INFINITY => (f64::INFINITY, f64::INFINITY),
            // SAFETY: `avx` is true only if the CPU has AVX.
            #[cfg(target_arch = "x86_64")]
            true => unsafe {
                let radius = rows::avx::radius_over(reduced, inv_gaps, shift);
                (radius, rows::avx::lead_over(reduced, gaps, e_ref, 2.0 * radius))
            },
            _ => {
                let radius = rows::radius_over(reduced, inv_gaps, shift);
                (radius, rows::lead_over(reduced, gaps, e_ref, 2.0 * radius))
            }
        };
        self.floor[i] = lead;
        self.reference[i] = reference;
        self.reference_potential[i] = self.potential[reference];
        self.cost_scale[i] = scale;
        self.candidates[i] = chosen;
        let penalty = &self.block_penalty[self.groups.group_of(i) * m..][..m];
        self.candidate_slots[i] = CandidateSlots {
            reference: chosen[..width].iter().position(|&j| j == reference).unwrap_or(0),
            penalty: chosen.map(|j| penalty[j]),
            target0: chosen.map(|j| self.target_t[j]),
            target1: if d == 2 { chosen.map(|j| self.target_t[m + j]) } else { [0.0; WIDE] },
        };
        self.radius_sq[i] = radius * radius;
    }
}

/// The K + 1 smallest (value, column) of `reduced`, ascending (ties keep the lower column
/// first), in the first K + 1 entries of a WIDE + 1 array (the rest (∞, usize::MAX)). Generic so
/// that the insertion unrolls with the bound in registers.
#[inline(always)]
fn smallest_columns<const K: usize>(reduced: &[f64]) -> [(f64, usize); WIDE + 1] {
    let mut smallest = [(f64::INFINITY, usize::MAX); WIDE + 1];
    let mut best = [(f64::INFINITY, usize::MAX); K];
    let mut last = (f64::INFINITY, usize::MAX);
    for (j, &e) in reduced.iter().enumerate() {
        if e < last.0 {
            // Insertion from the end; strict < keeps an equal value's lower column first.
            last = (e, j);
            let mut at = K;
            while at > 0 && last.0 < best[at - 1].0 {
                at -= 1;
            }
            if at < K {
                // `last` goes to slot `at`; the old K-th smallest becomes the (K + 1)-th.
                let displaced = best[K - 1];
                best.copy_within(at..K - 1, at + 1);
                best[at] = last;
                last = displaced;
            }
        }
    }
    smallest[..K].copy_from_slice(&best);
    smallest[K] = last;
    smallest
}
