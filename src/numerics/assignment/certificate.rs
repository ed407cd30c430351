//! Certified reuse of an optimal assignment while the moving set V changes and the target W is
//! fixed (one prox step), with incremental repair when the certificate fails.
//!
//! Duals. Keep column potentials v. With e_ij(V) = c_ij(V) − v_j, σ is optimal if every row's
//! own column is its cheapest: e_iσ(i) = min_j e_ij (then u_i = e_iσ(i), v are dual feasible
//! with complementary slackness, LP duality); reduced costs down to −TIE_TOLERANCE·(…) count as
//! ties.
//!
//! Candidates. Each row keeps a base point V⁰_i, its K_i cheapest columns C_i at V⁰_i (K_i = NARROW
//! or WIDE, see there), a
//! radius ρ_i and a floor F_i = min_{j ∉ C_i} (e_ij(V⁰) − 2ρ_i √c_ij(V⁰)). For ‖V_i − V⁰_i‖ ≤ ρ_i,
//! c_ij(V) = c_ij(V⁰) + 2⟨V_i − V⁰_i, V⁰_i − W_j⟩ + ‖V_i − V⁰_i‖² ≥ c_ij(V⁰) − 2ρ_i √c_ij(V⁰), so
//! every non-candidate has e_ij(V) ≥ F_i. Each inner iteration computes the candidates' e_ij
//! exactly; if their minimum is below F_i (less a rounding margin), it is the row minimum over
//! all columns, attained first at the same column a full scan finds: the row's verdict (feasible,
//! or violated with that cheapest column) is exactly the full scan's at O(K_i · d).
//! Otherwise the row is scanned in full (O(md), vectorised) and its candidates rebuilt at V_i.
//! The floor involves neither σ nor u, and only grows when some v_j decreases, so it survives
//! re-assignments of the row and augmenting paths (which only lower v); re-centring (which may
//! raise v) invalidates every row.
//!
//! Repair. Violated rows are unassigned and re-inserted, directly into their cheapest column if
//! it is free (v unchanged), otherwise by a shortest augmenting path (Jonker–Volgenant /
//! Hungarian step, Dijkstra on reduced costs) from the current duals: an exact incremental LAP
//! re-solve. The sequence of σ and v is that of checking every row in full at every iteration,
//! so it does not depend on the candidates (they only decide how cheaply a row is checked).

use super::{squared_distance, AssignmentGroups, NumResult, NumericsError};

/// Reduced costs down to −TIE_TOLERANCE · (1 + c_ij + c_iσ(i)) count as ties (≥ 0): rounding in
/// costs and potentials is of that order, and a tie leaves σ optimal within rounding.
const TIE_TOLERANCE: f64 = 1e-12;

const UNASSIGNED: usize = usize::MAX;

/// Candidate columns per row (see the module docs): NARROW for most rows, WIDE for rows whose
/// narrow certificate did not outlast QUICK_EXIT updates (many columns of nearly equal cost, so a
/// narrow radius is smaller than one inner step: rows of the small clusters that swap targets
/// at every iteration); back to NARROW after a wide certificate lasted SETTLED updates. Only
/// the cost of a check depends on the width, never its verdict. Measured (E4, γ = 1 … 1e-3,
/// 2·10⁵ inner iterations): 4 / 12 is 18 % faster than 4 alone; 8 or 16 for all rows is slower.
const NARROW: usize = 4;
const WIDE: usize = 12;
const QUICK_EXIT: u64 = 1;
const SETTLED: u64 = 32;

/// Added to reduced costs across blocks: finite (so ×0 stays 0), never negative.
const FORBIDDEN: f64 = 1e300;

/// How often each level of the certificate was needed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CertificateStats {
    /// Inner iterations that needed a LAP re-solve (incremental, see module docs).
    pub lap_solves: u64,
    /// Augmenting paths run by those re-solves.
    pub augmentations: u64,
    /// Rows scanned by those augmenting paths (Dijkstra settles; O(md) each).
    pub scanned_rows: u64,
    /// Full row scans (all m reduced costs, O(md) each): rows whose candidates could not settle
    /// them (see the module docs). Rows settled by their candidates are not counted.
    pub exact_checks: u64,
    /// Rows those checks found violated (re-inserted directly or by an augmenting path).
    pub violated_rows: u64,
}

/// The part of a `CertifiedAssignment` that decides its future: σ, the column potentials, and
/// each row's base point, radius, floor, candidates, width and age (everything else is scratch
/// rewritten before it is read, or fixed for the prox step). Two certificates on the same target with bitwise-equal states
/// return the same σ sequence for the same V sequence (used by the exact cycle jump of the
/// prox inner loop).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CertificateState {
    sigma: Vec<usize>,
    potential: Vec<f64>,
    base: Vec<f64>,
    radius_sq: Vec<f64>,
    floor: Vec<f64>,
    reference: Vec<usize>,
    reference_potential: Vec<f64>,
    candidates: Vec<[usize; WIDE]>,
    width: Vec<usize>,
    /// Updates since each row's rebuild, capped at SETTLED.
    age: Vec<u64>,
}

/// Bitwise equality of two f64 slices (distinguishes −0.0 from +0.0, equal NaN payloads match).
pub(crate) fn same_bits(a: &[f64], b: &[f64]) -> bool {
    // OR of the XORed bits: branch-free, vectorises (the prox loop calls it every iteration).
    a.len() == b.len() && a.iter().zip(b).fold(0, |acc, (x, y)| acc | (x.to_bits() ^ y.to_bits())) == 0
}

impl CertificateStats {
    /// self + n · (self − earlier), saturating: the counters after n more repetitions of the
    /// iterations between `earlier` and now.
    pub fn repeated(&self, earlier: &CertificateStats, n: u64) -> CertificateStats {
        let add = |now: u64, then: u64| now.saturating_add(now.saturating_sub(then).saturating_mul(n));
        CertificateStats {
            lap_solves: add(self.lap_solves, earlier.lap_solves),
            augmentations: add(self.augmentations, earlier.augmentations),
            scanned_rows: add(self.scanned_rows, earlier.scanned_rows),
            exact_checks: add(self.exact_checks, earlier.exact_checks),
            violated_rows: add(self.violated_rows, earlier.violated_rows),
        }
    }
}

/// An assignment σ from moving particles V to fixed targets W, kept optimal as V moves.
#[derive(Debug, Clone)]
pub struct CertifiedAssignment {
    d: usize,
    target: Vec<f64>,
    groups: AssignmentGroups,
    /// W in structure-of-arrays form (d × m): row costs vectorise over columns.
    target_t: Vec<f64>,
    /// Per block g and column j: 0 if j ∈ g, else a huge cost (never a violation).
    block_penalty: Vec<f64>,
    sigma: Vec<usize>,
    row_of_col: Vec<usize>,
    /// Column potentials v.
    potential: Vec<f64>,
    /// Per row: V⁰_i where its candidates were built, ρ_i² (−1: rebuild), the floor F_i, the
    /// magnitude max_j (c_ij + |v_j|) at V⁰ (for the rounding margin) and C_i (ascending).
    base: Vec<f64>,
    radius_sq: Vec<f64>,
    floor: Vec<f64>,
    reference: Vec<usize>,
    reference_potential: Vec<f64>,
    cost_scale: Vec<f64>,
    /// C_i (ascending; its first `width[i]` entries), and the `updates` count at the rebuild.
    candidates: Vec<[usize; WIDE]>,
    width: Vec<usize>,
    rebuilt_at: Vec<u64>,
    /// `update` calls so far (row ages for the width rule).
    updates: u64,
    /// Per row: what its candidate check reads (see `CandidateSlots`).
    candidate_slots: Vec<candidates::CandidateSlots>,
    /// ‖W_j − W_r‖ and 1/(2‖W_j − W_r‖) (0 if W_j = W_r), m × m (W is fixed during a prox step).
    target_gap: Vec<f64>,
    inv_target_gap2: Vec<f64>,
    stats: CertificateStats,
    violated: Vec<usize>,
    /// Per violated row: argmin_j (c_ij − v_j), its cheapest column under the current v.
    best_column: Vec<usize>,
    scratch: AugmentScratch,
    /// Run `update` compiled for AVX (detected at construction; same results, see `rows`).
    avx: bool,
    /// Check every row by a full scan (no candidates): the reference the tests compare with.
    full_scans_only: bool,
}

/// Dijkstra state of one augmentation, kept to avoid allocation.
#[derive(Debug, Clone, Default)]
struct AugmentScratch {
    shortest: Vec<f64>,
    path: Vec<usize>,
    scanned_rows: Vec<usize>,
    scanned_cols: Vec<usize>,
    remaining: Vec<usize>,
    row_costs: Vec<f64>,
    /// Reduced-cost matrix (m × m) used by re-centring.
    reduced: Vec<f64>,
    /// Memo of the cost rows c_i·(V) computed during the current `update` (all its checks,
    /// augmentations and re-checks see the same V): row i is valid iff cost_stamp[i] == epoch.
    cost_rows: Vec<f64>,
    cost_stamp: Vec<u64>,
    epoch: u64,
    previous_sigma: Vec<usize>,
    /// Dense augmentations (AVX): live-column masks (all-ones bits), positions in `remaining`,
    /// and the path's rows as exact f64.
    live: Vec<f64>,
    position: Vec<usize>,
    path_rows: Vec<f64>,
}

impl CertifiedAssignment {
    /// Starts at V = W: σ = identity is optimal (cost 0), with potentials v = 0 (r_ij =
    /// ‖W_i − W_j‖² ≥ 0), so no LAP is needed.
    pub fn new(target: &[f64], d: usize, groups: AssignmentGroups) -> NumResult<Self> {
        let m = groups.len();
        if d == 0 || target.len() != m * d {
            return Err(NumericsError::Shape(format!(
                "{} target coordinates for {m} particles of dimension {d}",
                target.len()
            )));
        }
        let target_gap: Vec<f64> = target
            .chunks_exact(d)
            .flat_map(|wr| target.chunks_exact(d).map(|wj| squared_distance(wr, wj).sqrt()))
            .collect();
        let inv_target_gap2 = target_gap.iter().map(|&g| if g > 0.0 { 0.5 / g } else { 0.0 }).collect();
        let blocks = groups.blocks().len();
        let mut block_penalty = vec![FORBIDDEN; blocks * m];
        for (g, members) in groups.blocks().iter().enumerate() {
            members.iter().for_each(|&j| block_penalty[g * m + j] = 0.0);
        }
        let target_t = (0..d * m).map(|kj| target[(kj % m) * d + kj / m]).collect();
        let mut cert = CertifiedAssignment {
            d,
            target: target.to_vec(),
            groups,
            target_t,
            block_penalty,
            sigma: (0..m).collect(),
            row_of_col: (0..m).collect(),
            potential: vec![0.0; m],
            base: target.to_vec(),
            radius_sq: vec![-1.0; m],
            floor: vec![f64::NEG_INFINITY; m],
            reference: vec![0; m],
            reference_potential: vec![0.0; m],
            cost_scale: vec![0.0; m],
            target_gap,
            inv_target_gap2,
            candidates: vec![[0; WIDE]; m],
            width: vec![NARROW; m],
            rebuilt_at: vec![0; m],
            updates: SETTLED,
            candidate_slots: vec![candidates::CandidateSlots::default(); m],
            stats: CertificateStats::default(),
            violated: Vec::with_capacity(m),
            best_column: vec![0; m],
            scratch: AugmentScratch::default(),
            avx: rows::avx_available(),
            full_scans_only: false,
        };
        for i in 0..m {
            cert.check_full_row(target, i);
        }
        Ok(cert)
    }

    /// The current assignment σ (particle i → target σ(i)).
    pub fn sigma(&self) -> &[usize] {
        &self.sigma
    }

    pub fn stats(&self) -> CertificateStats {
        self.stats
    }

    /// Copies the state that decides future updates into `into` (no allocation once sized).
    pub fn save_state(&self, into: &mut CertificateState) {
        into.sigma.clone_from(&self.sigma);
        into.potential.clone_from(&self.potential);
        into.base.clone_from(&self.base);
        into.radius_sq.clone_from(&self.radius_sq);
        into.floor.clone_from(&self.floor);
        into.reference.clone_from(&self.reference);
        into.reference_potential.clone_from(&self.reference_potential);
        into.candidates.clone_from(&self.candidates);
        into.width.clone_from(&self.width);
        into.age.clear();
        into.age.extend((0..self.sigma.len()).map(|i| self.age(i)));
    }

    /// Updates since row i's rebuild, capped at SETTLED (the part of its history the width
    /// rule reads, so equal states stay equal).
    fn age(&self, i: usize) -> u64 {
        self.updates.saturating_sub(self.rebuilt_at[i]).min(SETTLED)
    }

    /// Whether σ and the column potentials are bitwise those of `state` (the row certificates
    /// aside: they decide how rows are checked, not the outcome).
    pub fn potentials_equal(&self, state: &CertificateState) -> bool {
        self.sigma == state.sigma && same_bits(&self.potential, &state.potential)
    }

    /// Whether the deciding state is bitwise equal to `state`.
    pub fn state_equals(&self, state: &CertificateState) -> bool {
        self.sigma == state.sigma
            && same_bits(&self.potential, &state.potential)
            && same_bits(&self.base, &state.base)
            && same_bits(&self.radius_sq, &state.radius_sq)
            && same_bits(&self.floor, &state.floor)
            && self.reference == state.reference
            && same_bits(&self.reference_potential, &state.reference_potential)
            && self.candidates == state.candidates
            && self.width == state.width
            && (0..self.sigma.len()).all(|i| state.age.get(i) == Some(&self.age(i)))
    }

    /// Replaces the counters (the cycle jump extrapolates them).
    pub(crate) fn set_stats(&mut self, stats: CertificateStats) {
        self.stats = stats;
    }

    pub fn target(&self) -> &[f64] {
        &self.target
    }

    pub fn groups(&self) -> &AssignmentGroups {
        &self.groups
    }

    /// Makes σ optimal for V. Returns whether σ changed.
    pub fn update(&mut self, v: &[f64]) -> NumResult<bool> {
        if v.len() != self.target.len() {
            return Err(NumericsError::Shape("moving and target sets differ".into()));
        }
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` is true only if the CPU has AVX (`rows::avx_available`).
            return unsafe { self.update_avx(v) };
        }
        self.update_body(v)
    }

    /// `update_body` compiled with AVX enabled: the row loops vectorise 4 columns wide. No
    /// FMA and no reassociation, so every value is the same as in the baseline build.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    fn update_avx(&mut self, v: &[f64]) -> NumResult<bool> {
        self.update_body(v)
    }

    #[inline(always)]
    fn update_body(&mut self, v: &[f64]) -> NumResult<bool> {
        // A new V for the cost-row memo.
        self.scratch.epoch = self.scratch.epoch.wrapping_add(1);
        self.updates += 1;
        if self.scratch.epoch == u64::MAX {
            self.scratch.epoch = 0;
            self.scratch.cost_stamp.iter_mut().for_each(|s| *s = u64::MAX);
        }
        self.violated.clear();
        for i in 0..self.sigma.len() {
            if !self.check_row(v, i) {
                self.violated.push(i);
            }
        }
        if self.violated.is_empty() {
            return Ok(false);
        }
        self.stats.lap_solves += 1;
        self.stats.violated_rows += self.violated.len() as u64;
        self.repair(v)?;
        Ok(true)
    }

    /// c_i·(V) into `out` (m): from the memo if row i was computed during this `update` (same
    /// V, same function: identical bits), else computed and memoised.
    fn cost_row(&mut self, v: &[f64], i: usize, out: &mut [f64]) {
        let m = self.sigma.len();
        self.ensure_cost_row(v, i);
        out.copy_from_slice(&self.scratch.cost_rows[i * m..(i + 1) * m]);
    }

    /// c_ij(V) = ‖V_i − W_j‖² for every column j into `out` (m), vectorised over j.
    fn row_costs(target_t: &[f64], vi: &[f64], out: &mut [f64]) {
        let m = out.len();
        for (k, (tk, vik)) in target_t.chunks_exact(m).zip(vi).enumerate() {
            for (c, t) in out.iter_mut().zip(tk) {
                let diff = vik - t;
                *c = if k == 0 { diff * diff } else { *c + diff * diff };
            }
        }
    }

    /// Unassigns the violated rows and re-inserts them: directly into their cheapest column
    /// under the current v when it is free (then row i is feasible with v unchanged, so no other
    /// row is affected: this settles the common pairwise swaps in O(1)), otherwise by a
    /// shortest augmenting path. If σ came back unchanged (only the duals moved), re-centres
    /// all duals (see `recentre`). Row candidates need no update (module docs).
    #[inline(always)]
    fn repair(&mut self, v: &[f64]) -> NumResult<()> {
        let violated = std::mem::take(&mut self.violated);
        let mut previous = std::mem::take(&mut self.scratch.previous_sigma);
        previous.clone_from(&self.sigma);
        for &i in &violated {
            self.row_of_col[self.sigma[i]] = UNASSIGNED;
            self.sigma[i] = UNASSIGNED;
        }
        for &i in &violated {
            let j = self.best_column[i];
            if self.row_of_col[j] == UNASSIGNED {
                self.row_of_col[j] = i;
                self.sigma[i] = j;
            }
        }
        for &i in &violated {
            if self.sigma[i] == UNASSIGNED {
                self.stats.augmentations += 1;
                self.augment(v, i)?;
                self.stats.scanned_rows += self.scratch.scanned_rows.len() as u64;
            }
        }
        let unchanged = previous == self.sigma;
        self.scratch.previous_sigma = previous;
        self.violated = violated;
        if unchanged {
            self.recentre(v);
        }
        Ok(())
    }
}

mod augment;
mod candidates;
mod recentre;
mod rows;

impl CertifiedAssignment {
    /// Whether σ is the unique optimal assignment at V by a margin that forces it: the
    /// smallest cost increase of any other permutation (the minimum-weight directed cycle of
    /// the column graph with arcs j → l of weight c_{k l} − c_{k j}, k = σ⁻¹(j): a permutation
    /// differs from σ by such cycles, whose weights do not depend on any duals; Floyd–Warshall,
    /// O(m³)) must exceed 4 m · TIE_TOLERANCE · (1 + 2 max c). Any σ' accepted by this
    /// certificate's tie tolerance costs at most m · TIE · (1 + 2 max c) (plus rounding, far
    /// smaller) above the optimum, so then every such σ' equals σ, whatever the duals: the
    /// certificate's output at V is σ regardless of its history.
    pub fn is_forced(&mut self, v: &[f64]) -> bool {
        let (d, m) = (self.d, self.sigma.len());
        if v.len() != m * d || self.sigma.contains(&UNASSIGNED) {
            return false;
        }
        let mut dist = std::mem::take(&mut self.scratch.reduced);
        let mut costs = std::mem::take(&mut self.scratch.row_costs);
        dist.resize(m * m, 0.0);
        costs.resize(m, 0.0);
        let mut max_cost: f64 = 0.0;
        for j in 0..m {
            let k = self.row_of_col[j];
            Self::row_costs(&self.target_t, &v[k * d..(k + 1) * d], &mut costs);
            let penalty = &self.block_penalty[self.groups.group_of(k) * m..];
            let base = costs[j];
            for l in 0..m {
                dist[j * m + l] = if l == j || penalty[l] > 0.0 {
                    f64::INFINITY
                } else {
                    max_cost = max_cost.max(costs[l]);
                    costs[l] - base
                };
            }
        }
        for mid in 0..m {
            for j in 0..m {
                let through = dist[j * m + mid];
                if through == f64::INFINITY {
                    continue;
                }
                for l in 0..m {
                    let candidate = through + dist[mid * m + l];
                    if candidate < dist[j * m + l] {
                        dist[j * m + l] = candidate;
                    }
                }
            }
        }
        let gap = (0..m).map(|j| dist[j * m + j]).fold(f64::INFINITY, f64::min);
        self.scratch.reduced = dist;
        self.scratch.row_costs = costs;
        let required = 4.0 * m as f64 * TIE_TOLERANCE * (1.0 + 2.0 * max_cost);
        // No cycle at all (blocks of one) gives +∞: σ is the only admissible assignment.
        gap > required
    }
}
