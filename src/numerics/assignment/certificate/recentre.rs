//! Dual re-centring. Augmenting paths leave the duals tight on the path arcs (reduced cost 0
//! off σ): those rows get zero certified radius, and when V keeps moving the same way the next
//! iteration "violates" again and the re-solve returns the same σ with duals nudged by the
//! minimum amount — a re-solve per iteration for nothing. After such a dual-only re-solve,
//! every column potential is moved to the middle of its feasible interval (Gauss–Seidel over
//! columns): raising v_j by t lowers r_ij for rows i ≠ k = σ^{-1}(j) and, through
//! u_k = c_kj − v_j, raises r_kl for l ≠ j, so t ∈ [−min_{l≠j} r_kl, min_{i≠k} r_ij] keeps every
//! reduced cost ≥ 0, and the midpoint equalises the two slacks. O(m² d); every row's candidates
//! are rebuilt at its next check.

use super::CertifiedAssignment;

/// Gauss–Seidel sweeps over the columns.
const SWEEPS: usize = 2;

impl CertifiedAssignment {
    /// Re-centres every potential at V (invalidating the rows' floors).
    pub(super) fn recentre(&mut self, v: &[f64]) {
        let m = self.sigma.len();
        let mut r = std::mem::take(&mut self.scratch.reduced);
        let mut costs = std::mem::take(&mut self.scratch.row_costs);
        r.resize(m * m, 0.0);
        costs.resize(m, 0.0);
        for i in 0..m {
            self.cost_row(v, i, &mut costs);
            let s = self.sigma[i];
            let shift = costs[s] - self.potential[s];
            let penalty = &self.block_penalty[self.groups.group_of(i) * m..];
            for j in 0..m {
                r[i * m + j] = costs[j] - self.potential[j] - shift + penalty[j];
            }
            r[i * m + s] = 0.0;
        }
        for _ in 0..SWEEPS {
            for j in 0..m {
                self.centre_column(&mut r, j);
            }
        }
        // v_j may have risen: every row's floor is void until its next full scan.
        self.radius_sq.iter_mut().for_each(|r| *r = -1.0);
        self.scratch.reduced = r;
        self.scratch.row_costs = costs;
    }

    /// Moves v_j to the middle of its feasible interval, updating the reduced costs `r`.
    fn centre_column(&mut self, r: &mut [f64], j: usize) {
        let m = self.sigma.len();
        let k = self.row_of_col[j];
        let min_except = |it: &mut dyn Iterator<Item = f64>| it.fold(f64::INFINITY, f64::min);
        let column_slack = min_except(&mut (0..m).filter(|&i| i != k).map(|i| r[i * m + j]));
        let row_slack = min_except(&mut (0..m).filter(|&l| l != j).map(|l| r[k * m + l]));
        let t = 0.5 * (column_slack - row_slack);
        // Blocks of one (or all-forbidden rows) give infinite slacks: nothing to centre.
        if !t.is_finite() || column_slack >= super::FORBIDDEN || row_slack >= super::FORBIDDEN {
            return;
        }
        self.potential[j] += t;
        for i in (0..m).filter(|&i| i != k) {
            r[i * m + j] -= t;
        }
        for l in (0..m).filter(|&l| l != j) {
            r[k * m + l] += t;
        }
    }
}
