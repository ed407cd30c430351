//! The Gibbs kernel ξ = exp(−c/ε) of the squared Euclidean cost on a [`Grid2d`], applied
//! separably and in the log domain.
//!
//! On the grid, c((w,b),(w',b')) = (w−w')² + (b−b')², so ξ = ξ_w ⊗ ξ_b and
//! `(ξu)_{ij} = Σ_k ξ_w[i,k] Σ_l ξ_b[j,l] u_{kl}`: two 1-D passes, O(N^1.5) for N grid points,
//! never an N × N matrix. Inputs and outputs are log-vectors (`log u ↦ log ξu`), so scalings
//! whose logs span thousands (small ε) neither underflow nor lose mass.
//!
//! # How one 1-D pass is computed (and why)
//! Exact log-sum-exp costs one `exp` per (output, input) pair: on a 200 × 200 grid that is
//! 8 M `exp` per pass, 16 M per kernel application: measured 132 ms per application, too
//! slow for the 50 ms budget of one Dykstra iteration (4 applications + a prox). Instead
//! each line `u` (a row of the 2-D array) is *stabilised*: with `m = max_l u_l`,
//! `s_j = Σ_l K[j,l] exp(u_l − m)` is a dense matrix product over all lines at once (one
//! `matrixmultiply` dgemm, no `exp` inside), and `out_j = m + ln s_j`. All terms are ≥ 0,
//! so there is no cancellation: the only loss is from terms that underflow (each
//! < 2.3e-308 in absolute value). Where `s_j ≥ 1e-280` those losses are
//! < N · 2.3e-308 / 1e-280 ≈ 1e-25 relative, so the stabilised value is exact to rounding.
//!
//! Where `s_j < 1e-280` (outputs far from a line's mass when ε is a few cells² and the
//! line's log-range is in the hundreds) the output is recomputed exactly by a pruned
//! log-sum-exp: inputs are grouped in blocks of 16, a block whose upper bound
//! `max_B u + max_B log K[j,·]` is more than 50 below the largest term found so far is
//! skipped (its terms are < e^-50 relative), and the remaining terms are summed by a
//! streaming log-sum-exp. Only the blocks near the maximising input survive, so a
//! fallback output costs ≈ 0.08 µs instead of ≈ 0.55 µs for a full two-pass scan of the
//! line (and ≈ 1.6 µs for a naive one).
//!
//! A banded exact log-sum-exp (only inputs where the 1-D kernel is above e^-745 relative
//! to its max) was not chosen: it is not exact when u itself spans more than 745 (the
//! dropped far terms can dominate), and its band is 2 · √(745 ε/h²) cells wide, the whole
//! line for ε above ≈ 13 h² on 200 points.
//!
//! Measured (release, one core of a shared 2-core machine, 200 × 200,
//! `examples/bench_dykstra.rs`): one application ≈ 1.2 ms without fallback (two 200³
//! dgemm ≈ 2 × 0.29 ms, `exp` and `ln` of 2 × 40 000 entries ≈ 0.4 ms, the rest copies);
//! on the log of a Gaussian one cell wide at ε = 2h² (27 745 of 80 000 outputs fall back)
//! ≈ 3.4 ms.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Zip};

use super::error::{invalid, OtError};
use super::grid::Grid2d;

/// Stabilised sums below this are recomputed by the exact log-sum-exp (see module doc).
const STABLE_FLOOR: f64 = 1e-280;

/// The exact log-sum-exp ignores terms more than this below the largest (e^-50 ≈ 2e-22 each).
const LSE_CUTOFF: f64 = 50.0;

/// Inputs are grouped in blocks of this many for the pruned exact log-sum-exp.
const BLOCK: usize = 16;

/// A 1-D kernel matrix K ≥ 0 known by its logarithm, applied along the rows of 2-D arrays.
#[derive(Debug, Clone)]
struct LogKernel1d {
    n: usize,
    /// `log K`, row-major, row j = output j.
    log_k: Vec<f64>,
    /// `max_{l ∈ block B} log K[j, l]`, row-major `(n, n_blocks)`, for pruning.
    log_k_block_max: Vec<f64>,
    /// `K = exp(log K)` for the stabilised matrix product.
    k: Array2<f64>,
}

impl LogKernel1d {
    /// From `log K`; `exp` of it and its block maxima are precomputed.
    fn from_log(log_k: Array2<f64>) -> Self {
        let n = log_k.nrows();
        let k = log_k.mapv(f64::exp);
        let log_k_block_max = log_k
            .outer_iter()
            .flat_map(|row| {
                let row = row.to_vec();
                let maxima: Vec<f64> =
                    row.chunks(BLOCK).map(|c| c.iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
                maxima
            })
            .collect();
        Self { n, log_k: log_k.iter().copied().collect(), log_k_block_max, k }
    }

    /// The 1-D Gibbs kernel `exp(−(x_j − x_l)²/ε)`.
    fn gibbs(x: &Array1<f64>, eps: f64) -> Self {
        Self::from_log(Array2::from_shape_fn((x.len(), x.len()), |(j, l)| -(x[j] - x[l]).powi(2) / eps))
    }

    /// The cost-weighted kernel `(x_j − x_l)² exp(−(x_j − x_l)²/ε)`, for ⟨c, π⟩.
    fn cost_weighted(x: &Array1<f64>, eps: f64) -> Self {
        Self::from_log(Array2::from_shape_fn((x.len(), x.len()), |(j, l)| {
            let d2 = (x[j] - x[l]).powi(2);
            d2.ln() - d2 / eps
        }))
    }

    /// `out[r, j] = log Σ_l K[j,l] exp(log_u[r, l])` for every row r, plus the number of
    /// outputs that needed the exact fallback.
    fn apply_rows(&self, log_u: ArrayView2<f64>) -> (Array2<f64>, usize) {
        let row_max: Vec<f64> = log_u.outer_iter().map(|row| row.fold(f64::NEG_INFINITY, |m, &v| m.max(v))).collect();
        let mut scaled = Array2::<f64>::zeros(log_u.raw_dim());
        for ((mut e, u), &m) in scaled.outer_iter_mut().zip(log_u.outer_iter()).zip(&row_max) {
            if m > f64::NEG_INFINITY {
                Zip::from(&mut e).and(&u).for_each(|e, &u| *e = (u - m).exp());
            }
        }
        let sums = scaled.dot(&self.k.t());
        let mut fallbacks = 0;
        let mut out = Array2::<f64>::zeros(sums.raw_dim());
        for (r, (mut out_row, sum_row)) in out.outer_iter_mut().zip(sums.outer_iter()).enumerate() {
            let m = row_max[r];
            // The line's values and block maxima, built at its first fallback only.
            let mut line: Option<ExactLine> = None;
            for (j, (o, &s)) in out_row.iter_mut().zip(sum_row.iter()).enumerate() {
                *o = if m == f64::NEG_INFINITY {
                    f64::NEG_INFINITY
                } else if s >= STABLE_FLOOR || s.is_nan() {
                    m + s.ln()
                } else {
                    fallbacks += 1;
                    let line = line.get_or_insert_with(|| ExactLine::new(log_u.row(r)));
                    self.pruned_lse(j, line)
                };
            }
        }
        (out, fallbacks)
    }

    /// Exact `log Σ_l exp(log K[j,l] + u_l)` by branch and bound over blocks of inputs: a
    /// block whose bound `max_B u + max_B log K[j,·]` is more than [`LSE_CUTOFF`] below
    /// the largest term found so far cannot matter and is skipped, so only the blocks near
    /// the maximising input are summed (few `exp`, few adds).
    fn pruned_lse(&self, j: usize, line: &mut ExactLine) -> f64 {
        let n_blocks = line.block_max.len();
        let k_max = &self.log_k_block_max[j * n_blocks..(j + 1) * n_blocks];
        line.bound.clear();
        line.bound.extend(line.block_max.iter().zip(k_max).map(|(u, k)| u + k));
        let mut best = 0;
        for (b, &v) in line.bound.iter().enumerate() {
            if v > line.bound[best] {
                best = b;
            }
        }
        if line.bound[best] == f64::NEG_INFINITY {
            return f64::NEG_INFINITY;
        }
        let log_k = &self.log_k[j * self.n..(j + 1) * self.n];
        let mut acc = StreamingLse::default();
        let add_block = |acc: &mut StreamingLse, b: usize| {
            let range = b * BLOCK..((b + 1) * BLOCK).min(self.n);
            for (k, u) in log_k[range.clone()].iter().zip(&line.values[range]) {
                acc.add(k + u);
            }
        };
        add_block(&mut acc, best);
        for b in (0..n_blocks).filter(|&b| b != best) {
            if line.bound[b] > acc.max - LSE_CUTOFF {
                add_block(&mut acc, b);
            }
        }
        acc.value()
    }
}

/// One input line prepared for [`LogKernel1d::pruned_lse`].
struct ExactLine {
    values: Vec<f64>,
    block_max: Vec<f64>,
    bound: Vec<f64>,
}

impl ExactLine {
    fn new(u: ArrayView1<f64>) -> Self {
        let values: Vec<f64> = u.iter().copied().collect();
        let block_max = values.chunks(BLOCK).map(|c| c.iter().copied().fold(f64::NEG_INFINITY, f64::max)).collect();
        Self { values, block_max, bound: Vec::new() }
    }
}

/// Running `log Σ exp(t)` that skips terms more than [`LSE_CUTOFF`] below the running max
/// (they stay below the final max too, so each is < e^-50 relative).
#[derive(Debug, Clone, Copy)]
struct StreamingLse {
    max: f64,
    sum: f64,
}

impl Default for StreamingLse {
    fn default() -> Self {
        Self { max: f64::NEG_INFINITY, sum: 0.0 }
    }
}

impl StreamingLse {
    fn add(&mut self, t: f64) {
        if t > self.max {
            self.sum = self.sum * (self.max - t).exp() + 1.0;
            self.max = t;
        } else if t > self.max - LSE_CUTOFF {
            self.sum += (t - self.max).exp();
        }
    }

    fn value(&self) -> f64 {
        self.max + self.sum.ln()
    }
}

/// `log(exp x + exp y)` without overflow, with −∞ as the identity.
pub fn log_add_exp(x: f64, y: f64) -> f64 {
    let (hi, lo) = if x >= y { (x, y) } else { (y, x) };
    if lo == f64::NEG_INFINITY {
        hi
    } else {
        hi + (lo - hi).exp().ln_1p()
    }
}

/// The Gibbs kernel ξ = exp(−c/ε), c = squared Euclidean distance between grid points,
/// as two 1-D kernels (plus the cost-weighted ones c∘ξ used to evaluate ⟨c, π⟩).
#[derive(Debug, Clone)]
pub struct GibbsKernel {
    eps: f64,
    shape: (usize, usize),
    xi_w: LogKernel1d,
    xi_b: LogKernel1d,
    c_xi_w: LogKernel1d,
    c_xi_b: LogKernel1d,
}

impl GibbsKernel {
    /// The kernel of `grid` for regularisation ε > 0.
    pub fn new(grid: &Grid2d, eps: f64) -> Result<Self, OtError> {
        if !(eps.is_finite() && eps > 0.0) {
            return invalid(format!("ε must be > 0, got {eps}"));
        }
        let (w, b) = (grid.w_coords(), grid.b_coords());
        Ok(Self {
            eps,
            shape: grid.shape(),
            xi_w: LogKernel1d::gibbs(&w, eps),
            xi_b: LogKernel1d::gibbs(&b, eps),
            c_xi_w: LogKernel1d::cost_weighted(&w, eps),
            c_xi_b: LogKernel1d::cost_weighted(&b, eps),
        })
    }

    /// The regularisation ε.
    pub fn eps(&self) -> f64 {
        self.eps
    }

    /// The `(n_w, n_b)` shape of the vectors it applies to.
    pub fn shape(&self) -> (usize, usize) {
        self.shape
    }

    fn check(&self, log_u: &ArrayView2<f64>) -> Result<(), OtError> {
        if log_u.dim() != self.shape {
            return invalid(format!("log-vector of shape {:?} for a kernel on a {:?} grid", log_u.dim(), self.shape));
        }
        Ok(())
    }

    /// `log(ξ exp(log_u))`. ξ is symmetric, so this is also `log(ξᵀ exp(log_u))`.
    pub fn apply_log(&self, log_u: ArrayView2<f64>) -> Result<Array2<f64>, OtError> {
        Ok(self.apply_log_counted(log_u)?.0)
    }

    /// [`Self::apply_log`] and how many 1-D outputs needed the exact fallback (diagnostics).
    pub fn apply_log_counted(&self, log_u: ArrayView2<f64>) -> Result<(Array2<f64>, usize), OtError> {
        self.check(&log_u)?;
        let (along_b, n1) = self.xi_b.apply_rows(log_u);
        let (out, n2) = along_w(&self.xi_w, along_b.view());
        Ok((out, n1 + n2))
    }

    /// `log((c∘ξ) exp(log_u))`, i.e. `log Σ_j c_ij ξ_ij u_j`; with c = c_w + c_b this is
    /// `(c_w ξ_w) ⊗ ξ_b + ξ_w ⊗ (c_b ξ_b)`, four 1-D passes.
    pub fn apply_log_cost(&self, log_u: ArrayView2<f64>) -> Result<Array2<f64>, OtError> {
        self.check(&log_u)?;
        let (xi_b_u, _) = self.xi_b.apply_rows(log_u);
        let (c_xi_b_u, _) = self.c_xi_b.apply_rows(log_u);
        let (first, _) = along_w(&self.c_xi_w, xi_b_u.view());
        let (second, _) = along_w(&self.xi_w, c_xi_b_u.view());
        Ok(Zip::from(&first).and(&second).map_collect(|&x, &y| log_add_exp(x, y)))
    }
}

/// Applies a 1-D kernel along axis 0 (w) by working on the transposed view.
fn along_w(kernel: &LogKernel1d, log_u: ArrayView2<f64>) -> (Array2<f64>, usize) {
    let (t, n) = kernel.apply_rows(log_u.t());
    (t.t().as_standard_layout().into_owned(), n)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The dense N × N log-kernel, the reference the separable one must equal.
    fn dense_apply_log(grid: &Grid2d, eps: f64, log_u: &Array2<f64>, cost: bool) -> Array2<f64> {
        let (w, b) = (grid.w_coords(), grid.b_coords());
        Array2::from_shape_fn(grid.shape(), |(i, j)| {
            let terms: Vec<f64> = log_u
                .indexed_iter()
                .map(|((k, l), &u)| {
                    let c = (w[i] - w[k]).powi(2) + (b[j] - b[l]).powi(2);
                    let log_c = if cost { c.ln() } else { 0.0 };
                    log_c - c / eps + u
                })
                .collect();
            let m = terms.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            if m == f64::NEG_INFINITY {
                return m;
            }
            m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln()
        })
    }

    /// A log-vector with a large dynamic range: a narrow bump, a far plateau, some zeros.
    fn rough_log_vector(shape: (usize, usize)) -> Array2<f64> {
        Array2::from_shape_fn(shape, |(i, j)| {
            let (x, y) = (i as f64, j as f64);
            if (i + 2 * j) % 7 == 3 {
                f64::NEG_INFINITY
            } else {
                -((x - 2.0).powi(2) + (y - 3.0).powi(2)) * 3.0 + (0.7 * x * y).sin() * 40.0
            }
        })
    }

    /// |log a − log b| ≤ tol, i.e. a/b within ≈ tol relative; both −∞ counts as equal.
    fn assert_log_close(a: &Array2<f64>, b: &Array2<f64>, tol: f64) {
        for (x, y) in a.iter().zip(b.iter()) {
            if *x == f64::NEG_INFINITY || *y == f64::NEG_INFINITY {
                assert_eq!(x, y);
            } else {
                assert!((x - y).abs() <= tol, "{x} vs {y}");
            }
        }
    }

    #[test]
    fn separable_equals_dense_kernel() {
        let grid = Grid2d::new(9, 7, 1.0).unwrap();
        let h = grid.spacing_w();
        for eps in [10.0, 0.3, 2.0 * h * h, 0.5 * h * h] {
            let kernel = GibbsKernel::new(&grid, eps).unwrap();
            for log_u in [
                Array2::zeros(grid.shape()),
                rough_log_vector(grid.shape()),
                rough_log_vector(grid.shape()).mapv(|v| 30.0 * v),
            ] {
                let dense = dense_apply_log(&grid, eps, &log_u, false);
                let sep = kernel.apply_log(log_u.view()).unwrap();
                assert_log_close(&sep, &dense, 1e-12);
                let dense_c = dense_apply_log(&grid, eps, &log_u, true);
                let sep_c = kernel.apply_log_cost(log_u.view()).unwrap();
                assert_log_close(&sep_c, &dense_c, 1e-12);
            }
        }
    }

    #[test]
    fn small_eps_uses_fallback_and_stays_exact() {
        // 60 × 60 at ε = 2h²: the 1-D kernel underflows beyond ~38 cells, so outputs far
        // from a narrow bump fall below the stabilised floor and need the fallback.
        let grid = Grid2d::new(60, 60, 1.0).unwrap();
        let h = grid.spacing_w();
        let kernel = GibbsKernel::new(&grid, 2.0 * h * h).unwrap();
        let log_u =
            Array2::from_shape_fn(grid.shape(), |(i, j)| -((i as f64 - 5.0).powi(2) + (j as f64 - 50.0).powi(2)) * 5.0);
        let (sep, fallbacks) = kernel.apply_log_counted(log_u.view()).unwrap();
        assert!(fallbacks > 100, "fallback not exercised ({fallbacks})");
        let dense = dense_apply_log(&grid, 2.0 * h * h, &log_u, false);
        assert_log_close(&sep, &dense, 1e-12);
        assert!(sep.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn all_minus_infinity_maps_to_minus_infinity() {
        let grid = Grid2d::new(4, 5, 1.0).unwrap();
        let kernel = GibbsKernel::new(&grid, 0.1).unwrap();
        let log_u = Array2::from_elem(grid.shape(), f64::NEG_INFINITY);
        let out = kernel.apply_log(log_u.view()).unwrap();
        assert!(out.iter().all(|&v| v == f64::NEG_INFINITY));
        assert!(kernel.apply_log(Array2::zeros((5, 4)).view()).is_err());
    }

    #[test]
    fn log_add_exp_is_stable() {
        assert_eq!(log_add_exp(f64::NEG_INFINITY, 3.0), 3.0);
        assert!((log_add_exp(1000.0, 1000.0) - (1000.0 + 2f64.ln())).abs() < 1e-12);
    }
}
