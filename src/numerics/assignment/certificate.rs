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
        Self::row_costs(&self.target_t, vi, &mut costs);
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
        let mut rows = violated.clone();
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
