//! One shortest augmenting path (the Hungarian / Jonker–Volgenant step, in the form of
//! Crouse 2016, as in scipy's `linear_sum_assignment`) from a free row, on reduced costs
//! computed from the current positions and column potentials.

use super::{CertifiedAssignment, UNASSIGNED};
use crate::numerics::error::{NumResult, NumericsError};

impl CertifiedAssignment {
    /// Inserts free row `i0` by a shortest augmenting path. Assigned rows must be dual
    /// feasible; on return all rows on the path are reassigned, v is lowered on scanned columns
    /// so that (implicit u, v) stay feasible with complementary slackness, and
    /// `scratch.scanned_rows` lists the rows whose u or σ changed.
    pub(super) fn augment(&mut self, v: &[f64], i0: usize) -> NumResult<()> {
        let mut sc = std::mem::take(&mut self.scratch);
        sc.remaining.clear();
        sc.remaining.extend_from_slice(self.groups.members(self.groups.group_of(i0)));
        sc.scanned_rows.clear();
        sc.scanned_cols.clear();
        sc.shortest.clear();
        sc.shortest.resize(self.sigma.len(), f64::INFINITY);
        sc.path.clear();
        sc.path.resize(self.sigma.len(), UNASSIGNED);
        self.scratch = sc;
        let mut min_val = 0.0;
        let mut i = i0;
        let sink = loop {
            self.scratch.scanned_rows.push(i);
            let remaining = std::mem::take(&mut self.scratch.remaining);
            let mut costs = std::mem::take(&mut self.scratch.row_costs);
            costs.resize(self.sigma.len(), 0.0);
            self.cost_row(v, i, &mut costs);
            // u_i: the row minimum for the free row, else complementary slackness on σ(i).
            let u_i = if i == i0 {
                remaining.iter().map(|&j| costs[j] - self.potential[j]).fold(f64::INFINITY, f64::min)
            } else {
                costs[self.sigma[i]] - self.potential[self.sigma[i]]
            };
            let (mut lowest, mut index) = (f64::INFINITY, usize::MAX);
            for (pos, &j) in remaining.iter().enumerate() {
                let r = min_val + costs[j] - u_i - self.potential[j];
                if r < self.scratch.shortest[j] {
                    self.scratch.path[j] = i;
                    self.scratch.shortest[j] = r;
                }
                let sj = self.scratch.shortest[j];
                if sj < lowest || (sj == lowest && self.row_of_col[j] == UNASSIGNED) {
                    lowest = sj;
                    index = pos;
                }
            }
            self.scratch.remaining = remaining;
            self.scratch.row_costs = costs;
            if !lowest.is_finite() || index == usize::MAX {
                return Err(NumericsError::Assignment("no augmenting path (non-finite costs?)".into()));
            }
            min_val = lowest;
            let j = self.scratch.remaining.swap_remove(index);
            self.scratch.scanned_cols.push(j);
            if self.row_of_col[j] == UNASSIGNED {
                break j;
            }
            i = self.row_of_col[j];
        };
        for &j in &self.scratch.scanned_cols {
            self.potential[j] -= min_val - self.scratch.shortest[j];
        }
        let mut j = sink;
        loop {
            let i = self.scratch.path[j];
            self.row_of_col[j] = i;
            let previous = std::mem::replace(&mut self.sigma[i], j);
            if i == i0 {
                break;
            }
            j = previous;
        }
        Ok(())
    }
}
