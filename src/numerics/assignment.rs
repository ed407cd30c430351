//! Linear assignment between particle sets: squared-distance costs, LAP through `lapjv`, LAP
//! dual potentials, Frobenius and Wasserstein distances, and the certificate that lets the
//! Wasserstein inner loop skip almost every LAP (METHODS.md §1 "Fast Wasserstein inner loop").
//!
//! Convention: σ maps a moving particle i (row, set V) to a target particle σ(i) (column, set W).

use ndarray::{Array2, ArrayView2};

use super::error::{NumResult, NumericsError};
use super::model::flat;

mod certificate;
#[cfg(test)]
mod tests;

pub(crate) use certificate::same_bits;
pub use certificate::{CertificateState, CertificateStats, CertifiedAssignment};

/// Normalisation of a squared particle distance: (1/m) Σ (METHODS.md, Mean) or Σ (METHODS.md E1, Sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistanceNorm {
    Mean,
    Sum,
}

impl DistanceNorm {
    /// The factor in front of Σ_i ‖·‖² for m particles.
    pub fn factor(self, m: usize) -> f64 {
        match self {
            DistanceNorm::Mean => 1.0 / m.max(1) as f64,
            DistanceNorm::Sum => 1.0,
        }
    }
}

/// Partition of particle indices into blocks; assignments never leave a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentGroups {
    group_of: Vec<usize>,
    members: Vec<Vec<usize>>,
}

impl AssignmentGroups {
    /// One block: any particle may be assigned to any other.
    pub fn all(m: usize) -> AssignmentGroups {
        AssignmentGroups { group_of: vec![0; m], members: vec![(0..m).collect()] }
    }

    /// Two blocks, α > 0 and α ≤ 0: only same-sign pairs.
    pub fn by_sign(signs: &[f64]) -> AssignmentGroups {
        let group_of: Vec<usize> = signs.iter().map(|&a| usize::from(a <= 0.0)).collect();
        let members = (0..2).map(|g| (0..signs.len()).filter(|&i| group_of[i] == g).collect()).collect();
        AssignmentGroups { group_of, members }
    }

    /// METHODS.md's `assign_across_signs`: `true` (default) or no signs → one block; else by sign.
    pub fn from_signs(m: usize, signs: Option<&[f64]>, assign_across_signs: bool) -> AssignmentGroups {
        match signs {
            Some(s) if !assign_across_signs && s.len() == m => AssignmentGroups::by_sign(s),
            _ => AssignmentGroups::all(m),
        }
    }

    pub fn len(&self) -> usize {
        self.group_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.group_of.is_empty()
    }

    /// The block of particle i.
    pub fn group_of(&self, i: usize) -> usize {
        self.group_of[i]
    }

    /// The particles of block g (ascending).
    pub fn members(&self, g: usize) -> &[usize] {
        &self.members[g]
    }

    /// All blocks.
    pub fn blocks(&self) -> &[Vec<usize>] {
        &self.members
    }

    /// Whether σ is a permutation that keeps every particle inside its block.
    pub fn admits(&self, sigma: &[usize]) -> bool {
        let mut seen = vec![false; self.len()];
        sigma.len() == self.len()
            && sigma.iter().enumerate().all(|(i, &s)| {
                s < self.len() && !std::mem::replace(&mut seen[s], true) && self.group_of[s] == self.group_of[i]
            })
    }
}

/// c_ij = ‖V_i − W_j‖² for row-major m × d slices, into `cost` (m × m).
pub fn squared_distance_cost_into(v: &[f64], w: &[f64], d: usize, cost: &mut Array2<f64>) {
    if d == 0 {
        cost.fill(0.0);
        return;
    }
    for (vi, mut row) in v.chunks_exact(d).zip(cost.rows_mut()) {
        for (wj, c) in w.chunks_exact(d).zip(row.iter_mut()) {
            *c = squared_distance(vi, wj);
        }
    }
}

/// ‖a − b‖².
#[inline]
pub fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// The m × m squared-distance cost matrix between particle sets V and W (same shape). If
/// `signs` is given, cross-sign pairs get `forbidden_cost` instead (a large finite value, for
/// solvers that take one matrix; [`solve_assignment`] uses blocks instead and never needs it).
pub fn squared_distance_cost(
    v: ArrayView2<f64>,
    w: ArrayView2<f64>,
    signs: Option<(&[f64], f64)>,
) -> NumResult<Array2<f64>> {
    check_same_shape(v, w)?;
    let (m, d) = v.dim();
    let mut cost = Array2::zeros((m, m));
    squared_distance_cost_into(&flat(v), &flat(w), d.max(1), &mut cost);
    if let Some((s, forbidden)) = signs {
        if s.len() != m {
            return Err(NumericsError::Shape(format!("{} signs for {m} particles", s.len())));
        }
        for ((i, j), c) in cost.indexed_iter_mut() {
            if (s[i] > 0.0) != (s[j] > 0.0) {
                *c = forbidden;
            }
        }
    }
    Ok(cost)
}

fn check_same_shape(v: ArrayView2<f64>, w: ArrayView2<f64>) -> NumResult<()> {
    if v.dim() != w.dim() {
        return Err(NumericsError::Shape(format!("particle sets {:?} and {:?}", v.dim(), w.dim())));
    }
    Ok(())
}

/// Minimum-cost permutation (row → column) of a square cost matrix, by `lapjv`. Rejects
/// non-finite costs (lapjv can loop or panic on NaN) and converts a solver panic into an error.
pub fn solve_lap(cost: &Array2<f64>) -> NumResult<Vec<usize>> {
    let (r, c) = cost.dim();
    if r != c {
        return Err(NumericsError::Shape(format!("cost matrix {r} × {c}")));
    }
    if cost.iter().any(|x| !x.is_finite()) {
        return Err(NumericsError::Assignment("non-finite cost".into()));
    }
    if r <= 1 {
        return Ok((0..r).collect());
    }
    let solved = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lapjv::lapjv(cost)));
    match solved {
        Ok(Ok((row_to_col, _))) => Ok(row_to_col),
        Ok(Err(e)) => Err(NumericsError::Assignment(e.to_string())),
        Err(_) => Err(NumericsError::Assignment("lapjv panicked".into())),
    }
}

/// Minimum-cost permutation that keeps every index inside its block (one LAP per block).
pub fn solve_assignment(cost: &Array2<f64>, groups: &AssignmentGroups) -> NumResult<Vec<usize>> {
    let m = groups.len();
    if cost.dim() != (m, m) {
        return Err(NumericsError::Shape(format!("cost matrix {:?} for {m} particles", cost.dim())));
    }
    if groups.blocks().len() == 1 {
        return solve_lap(cost);
    }
    let mut sigma = vec![0; m];
    for block in groups.blocks() {
        let sub = Array2::from_shape_fn((block.len(), block.len()), |(a, b)| cost[(block[a], block[b])]);
        for (a, b) in solve_lap(&sub)?.into_iter().enumerate() {
            sigma[block[a]] = block[b];
        }
    }
    Ok(sigma)
}

/// Σ_i c_{iσ(i)}.
pub fn assignment_cost(cost: &Array2<f64>, sigma: &[usize]) -> f64 {
    sigma.iter().enumerate().map(|(i, &s)| cost[(i, s)]).sum()
}

/// Column potentials p of an optimal σ: with u_i = c_{iσ(i)} − p_{σ(i)}, the reduced costs
/// r_ij = c_ij − u_i − p_j are ≥ 0 on every in-block pair and 0 on σ.
///
/// Feasible p are exactly the solutions of p_j − p_s ≤ w_sj := c_ij − c_is (s = σ(i)), i.e.
/// potentials of the graph with an arc s → j of length w_sj ("hand column j to row i"), which
/// has no negative cycle exactly when σ is optimal. Plain shortest-path potentials make every
/// tree arc tight (r = 0 off σ), which would give the certificate zero radii; instead, with D
/// the all-pairs shortest distances (Floyd–Warshall, O(m³) per block), each root r gives the
/// feasible p^r_j = ½(D(r, j) − D(j, r)), and their average over r is feasible (convexity)
/// and tight only on arcs that are on shortest paths to and from every root. Rounding may leave
/// reduced costs a few ulps below 0; callers treat those as ties.
pub fn lap_potentials(cost: &Array2<f64>, sigma: &[usize], groups: &AssignmentGroups) -> NumResult<Vec<f64>> {
    let m = groups.len();
    if cost.dim() != (m, m) || !groups.admits(sigma) {
        return Err(NumericsError::Shape("potentials: σ or cost do not fit the blocks".into()));
    }
    let mut p = vec![0.0; m];
    for block in groups.blocks() {
        let b = block.len();
        // row_of[s] = σ^{-1}(s), in block-local indices.
        let mut local_row = vec![0; b];
        for (a, &i) in block.iter().enumerate() {
            let s = block.iter().position(|&k| k == sigma[i]).unwrap_or(a);
            local_row[s] = a;
        }
        let mut dist = vec![0.0; b * b];
        for s in 0..b {
            let i = block[local_row[s]];
            let c_is = cost[(i, block[s])];
            for j in 0..b {
                dist[s * b + j] = if j == s { 0.0 } else { cost[(i, block[j])] - c_is };
            }
        }
        floyd_warshall(&mut dist, b);
        for (j, &col) in block.iter().enumerate() {
            let sum: f64 = (0..b).map(|r| dist[r * b + j] - dist[j * b + r]).sum();
            p[col] = 0.5 * sum / b as f64;
        }
    }
    Ok(p)
}

/// All-pairs shortest distances in place (n × n, row-major); diagonal starts at 0.
fn floyd_warshall(dist: &mut [f64], n: usize) {
    for k in 0..n {
        let row_k: Vec<f64> = dist[k * n..(k + 1) * n].to_vec();
        for row in dist.chunks_exact_mut(n) {
            let via = row[k];
            for (d, dk) in row.iter_mut().zip(&row_k) {
                *d = d.min(via + dk);
            }
        }
    }
}

/// Frobenius distance d_F(V, W) = c Σ_i ‖V_i − W_i‖², c = 1/m (Mean) or 1 (Sum).
pub fn frobenius_distance(v: ArrayView2<f64>, w: ArrayView2<f64>, norm: DistanceNorm) -> f64 {
    if v.dim() != w.dim() {
        return f64::NAN;
    }
    let s: f64 = v.iter().zip(w.iter()).map(|(a, b)| (a - b) * (a - b)).sum();
    norm.factor(v.nrows()) * s
}

/// Wasserstein distance d_W(V, W) = min_σ c Σ_i ‖V_i − W_σ(i)‖² and its optimal σ (restricted
/// to `groups`).
pub fn wasserstein_distance(
    v: ArrayView2<f64>,
    w: ArrayView2<f64>,
    groups: &AssignmentGroups,
    norm: DistanceNorm,
) -> NumResult<(f64, Vec<usize>)> {
    check_same_shape(v, w)?;
    let cost = squared_distance_cost(v, w, None)?;
    let sigma = solve_assignment(&cost, groups)?;
    Ok((norm.factor(v.nrows()) * assignment_cost(&cost, &sigma), sigma))
}

/// Fraction of particles with σ(i) ≠ i.
pub fn fraction_permuted(sigma: &[usize]) -> f64 {
    if sigma.is_empty() {
        return 0.0;
    }
    let moved = sigma.iter().enumerate().filter(|(i, s)| *i != **s).count();
    moved as f64 / sigma.len() as f64
}
