//! Certified reuse of an optimal assignment while the moving set V changes and the target W is
//! fixed (one prox step), with incremental repair when the certificate fails.
//!
//! Duals. Keep column potentials v and, for each row, u_i(V) = c_iσ(i)(V) − v_σ(i), so that the
//! reduced costs r_ij(V) = c_ij(V) − u_i(V) − v_j vanish on σ. If r_ij(V) ≥ 0 for all in-block
//! pairs, (u, v) is dual feasible and σ optimal (LP duality).
//!
//! Radius. Let row i be checked at V⁰_i. With V_i = V⁰_i + δ_i, c_ij(V) − c_ij(V⁰) =
//! (‖V_i‖² − ‖V⁰_i‖²) − 2⟨δ_i, W_j⟩; the first term cancels in r_ij through u_i, leaving
//! r_ij(V) = r_ij(V⁰) − 2⟨δ_i, W_j − W_σ(i)⟩ ≥ r_ij(V⁰) − 2‖δ_i‖ ‖W_j − W_σ(i)‖. So row i stays
//! feasible while ‖δ_i‖ ≤ ρ_i = min_{j ≠ σ(i), W_j ≠ W_σ(i)} r_ij(V⁰) / (2‖W_j − W_σ(i)‖) (pairs
//! with W_j = W_σ(i) keep r_ij(V) = r_ij(V⁰) ≥ 0: ties cost nothing). Each row's test uses only
//! V_i, u_i and v, so rows are certified, re-checked and re-based independently.
//!
//! Per inner iteration: O(md) radius test; rows outside their radius get their exact reduced
//! costs (O(md) each) and are re-based if feasible; rows with a negative reduced cost are
//! unassigned and re-inserted, directly into their cheapest column if it is free, otherwise by
//! a shortest augmenting path (Jonker–Volgenant / Hungarian step, Dijkstra on reduced costs)
//! from the current duals: an exact incremental LAP re-solve. A direct insertion leaves v
//! unchanged; an augmentation only lowers v on scanned columns; so rows not re-inserted or
//! scanned keep valid radii.

use super::{squared_distance, AssignmentGroups, NumResult, NumericsError};

/// Reduced costs down to −TIE_TOLERANCE · (1 + c_ij + c_iσ(i)) count as ties (≥ 0): rounding in
/// costs and potentials is of that order, and a tie leaves σ optimal within rounding.
const TIE_TOLERANCE: f64 = 1e-12;

const UNASSIGNED: usize = usize::MAX;

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
    /// Rows whose exact reduced costs were computed after the radius test failed.
    pub exact_checks: u64,
    /// Rows those checks found violated (re-inserted directly or by an augmenting path).
    pub violated_rows: u64,
}

/// The part of a `CertifiedAssignment` that decides its future: σ, the column potentials, and
/// each row's base point and radius (everything else is scratch rewritten before it is read, or
/// fixed for the prox step). Two certificates on the same target with bitwise-equal states
/// return the same σ sequence for the same V sequence (used by the exact cycle jump of the
/// prox inner loop).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CertificateState {
    sigma: Vec<usize>,
    potential: Vec<f64>,
    base: Vec<f64>,
    radius_sq: Vec<f64>,
}

/// Bitwise equality of two f64 slices (distinguishes −0.0 from +0.0, equal NaN payloads match).
pub(crate) fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count() == 0
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
    /// 1/(2‖W_j − W_s‖) for admissible j ≠ s with W_j ≠ W_s, else 0 (pair excluded from ρ).
    /// W is fixed during a prox step, so this m × m table is computed once.
    inv_gap2: Vec<f64>,
    /// Per block g and column j: 0 if j ∈ g, else a huge cost (never a violation).
    block_penalty: Vec<f64>,
    sigma: Vec<usize>,
    row_of_col: Vec<usize>,
    /// Column potentials v.
    potential: Vec<f64>,
    /// Per row: V⁰_i where its reduced costs were last checked, and ρ_i².
    base: Vec<f64>,
    radius_sq: Vec<f64>,
    stats: CertificateStats,
    violated: Vec<usize>,
    /// Rows to re-base after a repair (scratch).
    repaired_rows: Vec<usize>,
    /// Per violated row: argmin_j (c_ij − v_j), its cheapest column under the current v.
    best_column: Vec<usize>,
    scratch: AugmentScratch,
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
        let mut inv_gap2 = vec![0.0; m * m];
        for (s, ws) in target.chunks_exact(d).enumerate() {
            for (j, wj) in target.chunks_exact(d).enumerate() {
                let gap = squared_distance(ws, wj).sqrt();
                if j != s && gap > 0.0 && groups.group_of(s) == groups.group_of(j) {
                    inv_gap2[s * m + j] = 0.5 / gap;
                }
            }
        }
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
            inv_gap2,
            block_penalty,
            sigma: (0..m).collect(),
            row_of_col: (0..m).collect(),
            potential: vec![0.0; m],
            base: target.to_vec(),
            radius_sq: vec![0.0; m],
            stats: CertificateStats::default(),
            violated: Vec::with_capacity(m),
            repaired_rows: Vec::with_capacity(m),
            best_column: vec![0; m],
            scratch: AugmentScratch::default(),
        };
        for i in 0..m {
            cert.check_row(target, i);
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
    }

    /// Whether the deciding state is bitwise equal to `state`.
    pub fn state_equals(&self, state: &CertificateState) -> bool {
        self.sigma == state.sigma
            && same_bits(&self.potential, &state.potential)
            && same_bits(&self.base, &state.base)
            && same_bits(&self.radius_sq, &state.radius_sq)
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
        let d = self.d;
        // A new V for the cost-row memo.
        self.scratch.epoch = self.scratch.epoch.wrapping_add(1);
        if self.scratch.epoch == u64::MAX {
            self.scratch.epoch = 0;
            self.scratch.cost_stamp.iter_mut().for_each(|s| *s = u64::MAX);
        }
        self.violated.clear();
        for i in 0..self.sigma.len() {
            let (vi, bi) = (&v[i * d..(i + 1) * d], &self.base[i * d..(i + 1) * d]);
            if squared_distance(vi, bi) > self.radius_sq[i] {
                self.stats.exact_checks += 1;
                if !self.check_row(v, i) {
                    self.violated.push(i);
                }
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
        let (d, m) = (self.d, self.sigma.len());
        let sc = &mut self.scratch;
        if sc.cost_rows.len() != m * m {
            sc.cost_rows.resize(m * m, 0.0);
            sc.cost_stamp.clear();
            sc.cost_stamp.resize(m, u64::MAX);
        }
        let row = &mut sc.cost_rows[i * m..(i + 1) * m];
        if sc.cost_stamp[i] != sc.epoch {
            Self::row_costs(&self.target_t, &v[i * d..(i + 1) * d], row);
            sc.cost_stamp[i] = sc.epoch;
        }
        out.copy_from_slice(row);
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

    /// Exact reduced costs of row i at V: re-bases the row (V⁰_i = V_i, new ρ_i) and returns
    /// true if all are ≥ 0 up to ties; otherwise returns false and leaves the row unchecked
    /// (radius −1 forces a re-check). O(md), vectorised over columns.
    fn check_row(&mut self, v: &[f64], i: usize) -> bool {
        let (d, m) = (self.d, self.sigma.len());
        let vi = &v[i * d..(i + 1) * d];
        let mut costs = std::mem::take(&mut self.scratch.row_costs);
        costs.resize(m, 0.0);
        self.cost_row(v, i, &mut costs);
        let s = self.sigma[i];
        let c_is = costs[s];
        let shift = c_is - self.potential[s];
        let g = self.groups.group_of(i);
        let penalty = &self.block_penalty[g * m..(g + 1) * m];
        // Three simple passes (each vectorises): costs[j] ← r_ij + shift, their minimum, the
        // radius. The first column attaining the minimum is the row's cheapest column.
        for ((c, p), pen) in costs.iter_mut().zip(&self.potential).zip(penalty) {
            *c = *c - p + pen;
        }
        let lowest = min_in_lanes(&costs);
        // Per-pair tie tolerance TIE·(1 + c_ij + c_is) ≥ TIE·(1 + c_is): test the cheap bound
        // first, locate the cheapest column only for a possible violation.
        if lowest - shift < -TIE_TOLERANCE * (1.0 + c_is) {
            let best = costs.iter().position(|&c| c == lowest).unwrap_or(s);
            let c_best = costs[best] + self.potential[best];
            if lowest - shift < -TIE_TOLERANCE * (1.0 + c_best + c_is) {
                self.scratch.row_costs = costs;
                self.radius_sq[i] = -1.0;
                self.best_column[i] = best;
                return false;
            }
        }
        let inv_gap2 = &self.inv_gap2[s * m..(s + 1) * m];
        for (c, inv) in costs.iter_mut().zip(inv_gap2) {
            *c = if *inv > 0.0 { (*c - shift).max(0.0) * inv } else { f64::INFINITY };
        }
        let radius = min_in_lanes(&costs);
        self.scratch.row_costs = costs;
        self.radius_sq[i] = radius * radius;
        self.base[i * d..(i + 1) * d].copy_from_slice(vi);
        true
    }

    /// Unassigns the violated rows and re-inserts them: directly into their cheapest column
    /// under the current v when it is free (then row i is feasible with v unchanged, so no other
    /// row is affected: this settles the common pairwise swaps in O(1)), otherwise by a
    /// shortest augmenting path. Then re-bases every row whose u or σ changed — or, if σ came
    /// back unchanged (only the duals moved), re-centres all duals (see `recentre`).
    fn repair(&mut self, v: &[f64]) -> NumResult<()> {
        let violated = std::mem::take(&mut self.violated);
        let mut previous = std::mem::take(&mut self.scratch.previous_sigma);
        previous.clone_from(&self.sigma);
        for &i in &violated {
            self.row_of_col[self.sigma[i]] = UNASSIGNED;
            self.sigma[i] = UNASSIGNED;
        }
        let mut rows = std::mem::take(&mut self.repaired_rows);
        rows.clone_from(&violated);
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
                rows.extend_from_slice(&self.scratch.scanned_rows);
            }
        }
        let unchanged = previous == self.sigma;
        self.scratch.previous_sigma = previous;
        self.violated = violated;
        if unchanged {
            self.repaired_rows = rows;
            self.recentre(v);
            return Ok(());
        }
        rows.sort_unstable();
        rows.dedup();
        for &r in &rows {
            if !self.check_row(v, r) {
                // Exact duals after a re-insertion: only rounding can land here.
                self.radius_sq[r] = 0.0;
                let d = self.d;
                self.base[r * d..(r + 1) * d].copy_from_slice(&v[r * d..(r + 1) * d]);
            }
        }
        self.repaired_rows = rows;
        Ok(())
    }
}

/// Minimum of a sequence, kept in four interleaved lanes so the loop vectorises (min is exact,
/// so the lane split does not change the result).
#[inline]
fn min_in_lanes(values: &[f64]) -> f64 {
    let mut lanes = [f64::INFINITY; 4];
    let chunks = values.chunks_exact(4);
    let tail = chunks.remainder().iter().fold(f64::INFINITY, |a, &b| a.min(b));
    for c in chunks {
        for l in 0..4 {
            lanes[l] = if c[l] < lanes[l] { c[l] } else { lanes[l] };
        }
    }
    lanes.iter().fold(tail, |a, &b| a.min(b))
}

mod augment;
mod recentre;

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
