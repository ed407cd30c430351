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
    #[inline(always)]
    pub(super) fn augment(&mut self, v: &[f64], i0: usize) -> NumResult<()> {
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            return self.augment_dense(v, i0);
        }
        let m = self.sigma.len();
        let sc = &mut self.scratch;
        sc.remaining.clear();
        sc.remaining.extend_from_slice(self.groups.members(self.groups.group_of(i0)));
        sc.scanned_rows.clear();
        sc.scanned_cols.clear();
        sc.shortest.clear();
        sc.shortest.resize(m, f64::INFINITY);
        sc.path.clear();
        sc.path.resize(m, UNASSIGNED);
        let mut min_val = 0.0;
        let mut i = i0;
        let sink = loop {
            self.scratch.scanned_rows.push(i);
            self.ensure_cost_row(v, i);
            let (lowest, index) = self.scan_row(i, i == i0, min_val);
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

    /// One Dijkstra step from row i (costs memoised): relaxes every remaining column and
    /// returns (lowest distance, its position in `remaining`); ties prefer a free column,
    /// otherwise the first in `remaining` order.
    #[inline(always)]
    fn scan_row(&mut self, i: usize, free_row: bool, min_val: f64) -> (f64, usize) {
        let m = self.sigma.len();
        let sc = &mut self.scratch;
        let costs = &sc.cost_rows[i * m..(i + 1) * m];
        let (potential, row_of_col) = (&self.potential[..m], &self.row_of_col[..m]);
        // u_i: the row minimum for the free row, else complementary slackness on σ(i).
        let u_i = if free_row {
            sc.remaining.iter().map(|&j| costs[j] - potential[j]).fold(f64::INFINITY, f64::min)
        } else {
            costs[self.sigma[i]] - potential[self.sigma[i]]
        };
        let (shortest, path) = (&mut sc.shortest[..m], &mut sc.path[..m]);
        let (mut lowest, mut index) = (f64::INFINITY, usize::MAX);
        for (pos, &j) in sc.remaining.iter().enumerate() {
            let r = min_val + costs[j] - u_i - potential[j];
            if r < shortest[j] {
                path[j] = i;
                shortest[j] = r;
            }
            let sj = shortest[j];
            if sj < lowest || (sj == lowest && row_of_col[j] == UNASSIGNED) {
                lowest = sj;
                index = pos;
            }
        }
        (lowest, index)
    }

    /// `augment` with dense AVX relaxations: all columns of the block at once, removed columns
    /// masked out. The column taken is the one the list scan of `scan_row` takes (same
    /// distances, same rule on ties: the last free column in `remaining` order, else the
    /// first), found from the positions in `remaining`.
    #[cfg(target_arch = "x86_64")]
    fn augment_dense(&mut self, v: &[f64], i0: usize) -> NumResult<()> {
        let m = self.sigma.len();
        let sc = &mut self.scratch;
        sc.remaining.clear();
        sc.remaining.extend_from_slice(self.groups.members(self.groups.group_of(i0)));
        sc.live.clear();
        sc.live.resize(m, 0.0);
        sc.position.resize(m, usize::MAX);
        for (pos, &j) in sc.remaining.iter().enumerate() {
            (sc.live[j], sc.position[j]) = (f64::from_bits(u64::MAX), pos);
        }
        sc.scanned_rows.clear();
        sc.scanned_cols.clear();
        sc.shortest.clear();
        sc.shortest.resize(m, f64::INFINITY);
        sc.path_rows.clear();
        sc.path_rows.resize(m, f64::NAN);
        let mut min_val = 0.0;
        let mut i = i0;
        let sink = loop {
            self.scratch.scanned_rows.push(i);
            self.ensure_cost_row(v, i);
            let sc = &mut self.scratch;
            let costs = &sc.cost_rows[i * m..(i + 1) * m];
            // SAFETY: `avx` (checked by `augment`) is true only if the CPU has AVX.
            let u_i = match i == i0 {
                true => unsafe { dense::masked_min_reduced(costs, &self.potential, &sc.live) },
                false => costs[self.sigma[i]] - self.potential[self.sigma[i]],
            };
            let relax = dense::Relax { costs, potential: &self.potential, live: &sc.live, min_val, u_i, row: i as f64 };
            // SAFETY: as above.
            let lowest = unsafe { relax.run(&mut sc.shortest, &mut sc.path_rows) };
            if !lowest.is_finite() {
                return Err(NumericsError::Assignment("no augmenting path (non-finite costs?)".into()));
            }
            min_val = lowest;
            // SAFETY: as above.
            let j = unsafe { dense::pick(lowest, &sc.shortest, &sc.live, &sc.position, &self.row_of_col) };
            let index = sc.position[j];
            sc.remaining.swap_remove(index);
            if let Some(&moved) = sc.remaining.get(index) {
                sc.position[moved] = index;
            }
            sc.live[j] = 0.0;
            sc.scanned_cols.push(j);
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
            let i = self.scratch.path_rows[j] as usize;
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

/// AVX kernels of `augment_dense`.
#[cfg(target_arch = "x86_64")]
mod dense {
    use std::arch::x86_64::*;

    use super::UNASSIGNED;
    use crate::numerics::avx::{lanes_of, load4, store4};

    #[target_feature(enable = "avx")]
    fn lanes_min(x: __m256d) -> f64 {
        lanes_of(x).iter().fold(f64::INFINITY, |a, &b| a.min(b))
    }

    /// min over live columns of c_j − v_j (the free row's u).
    #[target_feature(enable = "avx")]
    pub(super) fn masked_min_reduced(costs: &[f64], potential: &[f64], live: &[f64]) -> f64 {
        let infinity = _mm256_set1_pd(f64::INFINITY);
        let mut lanes = infinity;
        for ((c, p), l) in costs.chunks_exact(4).zip(potential.chunks_exact(4)).zip(live.chunks_exact(4)) {
            let value = _mm256_blendv_pd(infinity, _mm256_sub_pd(load4(c), load4(p)), load4(l));
            lanes = _mm256_min_pd(value, lanes);
        }
        let done = costs.len() / 4 * 4;
        let tail = (done..costs.len()).filter(|&j| live[j] != 0.0).map(|j| costs[j] - potential[j]);
        tail.fold(lanes_min(lanes), f64::min)
    }

    /// One relaxation from a row: r_j = ((min_val + c_j) − u_i) − v_j for live columns.
    pub(super) struct Relax<'a> {
        pub costs: &'a [f64],
        pub potential: &'a [f64],
        pub live: &'a [f64],
        pub min_val: f64,
        pub u_i: f64,
        pub row: f64,
    }

    impl Relax<'_> {
        /// Lowers `shortest` (recording the row in `path_rows`) where r_j is smaller; returns
        /// the smallest live distance.
        #[target_feature(enable = "avx")]
        pub(super) fn run(&self, shortest: &mut [f64], path_rows: &mut [f64]) -> f64 {
            let (infinity, min_val, u_i, row) = (
                _mm256_set1_pd(f64::INFINITY),
                _mm256_set1_pd(self.min_val),
                _mm256_set1_pd(self.u_i),
                _mm256_set1_pd(self.row),
            );
            let mut lanes = infinity;
            let inputs = self.costs.chunks_exact(4).zip(self.potential.chunks_exact(4)).zip(self.live.chunks_exact(4));
            let state = shortest.chunks_exact_mut(4).zip(path_rows.chunks_exact_mut(4));
            for (((c, p), l), (sh, pr)) in inputs.zip(state) {
                let live = load4(l);
                let r = _mm256_sub_pd(_mm256_sub_pd(_mm256_add_pd(min_val, load4(c)), u_i), load4(p));
                let old = load4(sh);
                let lower = _mm256_and_pd(_mm256_cmp_pd::<_CMP_LT_OQ>(r, old), live);
                let new = _mm256_blendv_pd(old, r, lower);
                store4(sh, new);
                store4(pr, _mm256_blendv_pd(load4(pr), row, lower));
                lanes = _mm256_min_pd(_mm256_blendv_pd(infinity, new, live), lanes);
            }
            let mut lowest = lanes_min(lanes);
            for j in self.costs.len() / 4 * 4..self.costs.len() {
                if self.live[j] == 0.0 {
                    continue;
                }
                let r = self.min_val + self.costs[j] - self.u_i - self.potential[j];
                if r < shortest[j] {
                    (shortest[j], path_rows[j]) = (r, self.row);
                }
                lowest = lowest.min(shortest[j]);
            }
            lowest
        }
    }

    /// The live column at distance `lowest` that the list scan picks: among ties the free
    /// column latest in `remaining`, else the earliest.
    #[target_feature(enable = "avx")]
    pub(super) fn pick(lowest: f64, shortest: &[f64], live: &[f64], position: &[usize], row_of_col: &[usize]) -> usize {
        let target = _mm256_set1_pd(lowest);
        let (mut free, mut any) = (None::<(usize, usize)>, None::<(usize, usize)>);
        let mut consider = |j: usize| {
            let pos = position[j];
            if row_of_col[j] == UNASSIGNED && free.is_none_or(|(p, _)| pos > p) {
                free = Some((pos, j));
            }
            if any.is_none_or(|(p, _)| pos < p) {
                any = Some((pos, j));
            }
        };
        for (chunk, (sh, l)) in shortest.chunks_exact(4).zip(live.chunks_exact(4)).enumerate() {
            let equal = _mm256_and_pd(_mm256_cmp_pd::<_CMP_EQ_OQ>(load4(sh), target), load4(l));
            let mut bits = _mm256_movemask_pd(equal);
            while bits != 0 {
                consider(4 * chunk + bits.trailing_zeros() as usize);
                bits &= bits - 1;
            }
        }
        for j in shortest.len() / 4 * 4..shortest.len() {
            if live[j] != 0.0 && shortest[j] == lowest {
                consider(j);
            }
        }
        free.or(any).map_or(usize::MAX, |(_, j)| j)
    }
}
