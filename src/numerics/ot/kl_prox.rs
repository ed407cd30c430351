//! Objectives f(p) on grid densities and their KL proximal maps
//! `prox^KL_{σf}(z) = argmin_p KL(p|z) + σ f(p)`, `KL(p|z) = Σ p log(p/z) − p + z`.
//!
//! Densities are `(copies, n_w, n_b)` arrays (see [`super::grid`]); the prox works on logs
//! (`log z ↦ log p`) so that it composes with the log-domain kernel without underflow.

use std::borrow::Cow;

use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView3, Axis, Zip};

use super::error::{invalid, OtError};
use super::grid::{Grid2d, ReluFeatures, SIGNS};

/// An objective f for the entropic JKO step, with its KL proximal map.
pub trait Objective {
    /// f(p).
    fn value(&self, p: ArrayView3<f64>) -> Result<f64, OtError>;

    /// `log prox^KL_{σf}(exp(log_z))`. `warm` carries solver state between calls (for the
    /// ReLU objective the dual vector λ, reused as the next Newton start); pass an empty
    /// vector the first time. The result must not depend on `warm` beyond solver tolerance.
    fn kl_prox_log(&self, log_z: ArrayView3<f64>, sigma: f64, warm: &mut Vec<f64>) -> Result<Array3<f64>, OtError>;
}

/// `Σ p log p` with 0 log 0 = 0.
fn neg_entropy(p: &ArrayView3<f64>) -> f64 {
    p.iter().filter(|&&v| v > 0.0).map(|&v| v * v.ln()).sum()
}

/// `f(p) = ⟨V, p⟩ + κ Σ p log p`: a potential plus entropy, whose JKO flow is the
/// Fokker–Planck equation `∂ρ = div(ρ∇V) + κΔρ` (used to validate the JKO step).
#[derive(Debug, Clone)]
pub struct LinearEntropy {
    potential: Array3<f64>,
    kappa: f64,
}

impl LinearEntropy {
    /// From a potential V of shape `(copies, n_w, n_b)` and κ ≥ 0.
    pub fn new(potential: Array3<f64>, kappa: f64) -> Result<Self, OtError> {
        if !(kappa.is_finite() && kappa >= 0.0) || potential.iter().any(|v| !v.is_finite()) {
            return invalid("LinearEntropy needs a finite potential and κ ≥ 0");
        }
        Ok(Self { potential, kappa })
    }

    /// The quadratic potential `V(θ) = (k/2) |θ − centre|²` on every copy.
    pub fn quadratic(grid: &Grid2d, copies: usize, k: f64, centre: (f64, f64), kappa: f64) -> Result<Self, OtError> {
        let (w, b) = (grid.w_coords(), grid.b_coords());
        let (n_w, n_b) = grid.shape();
        let v = Array3::from_shape_fn((copies, n_w, n_b), |(_, i, j)| {
            0.5 * k * ((w[i] - centre.0).powi(2) + (b[j] - centre.1).powi(2))
        });
        Self::new(v, kappa)
    }

    fn check(&self, p: &ArrayView3<f64>) -> Result<(), OtError> {
        if p.dim() != self.potential.dim() {
            return invalid(format!("density {:?} vs potential {:?}", p.dim(), self.potential.dim()));
        }
        Ok(())
    }
}

impl Objective for LinearEntropy {
    fn value(&self, p: ArrayView3<f64>) -> Result<f64, OtError> {
        self.check(&p)?;
        Ok((&self.potential * &p).sum() + self.kappa * neg_entropy(&p))
    }

    /// Closed form: stationarity `log(p/z) + σV + σκ(log p + 1) = 0` gives
    /// `log p = (log z − σV − σκ) / (1 + σκ)`.
    fn kl_prox_log(&self, log_z: ArrayView3<f64>, sigma: f64, _warm: &mut Vec<f64>) -> Result<Array3<f64>, OtError> {
        self.check(&log_z)?;
        let (sk, denom) = (sigma * self.kappa, 1.0 + sigma * self.kappa);
        Ok(Zip::from(&log_z).and(&self.potential).map_collect(|&lz, &v| {
            if lz == f64::NEG_INFINITY {
                lz
            } else {
                (lz - sigma * v - sk) / denom
            }
        }))
    }
}

/// `f(p) = (1/n) Σ_j ((Φp)_j − y_j)²`: the two-copy ReLU least-squares loss (METHODS.md E5).
///
/// Its KL prox is solved in the dual: stationarity gives `p = z ⊙ exp(−σ Φᵀλ)` with
/// `λ = (2/n)(Φp − y)`, and λ ∈ R^n is the minimiser of the strictly convex
/// `h(λ) = (n/4)‖λ‖² + ⟨y, λ⟩ + (1/σ) Σ_g z_g exp(−σ(Φᵀλ)_g)`
/// (∇h = (n/2)λ + y − Φp(λ), ∇²h = (n/2)I + σ Φ diag(p) Φᵀ ≻ 0), found by damped Newton
/// with Armijo backtracking on h: O(n² G) per Newton iteration, n×n Cholesky solves.
#[derive(Debug, Clone)]
pub struct ReluLeastSquares {
    features: ReluFeatures,
    y: Vec<f64>,
    /// Newton stops when ‖∇h‖ ≤ `newton_tol` · (‖y‖ + (n/2)‖λ‖ + ‖|Φ|p‖) (|Φ|: unsigned).
    pub newton_tol: f64,
    /// Newton iteration cap.
    pub newton_max_iter: usize,
}

/// The primal point `p(λ)` and what Newton needs from it.
struct DualPoint {
    lambda: Vec<f64>,
    log_p: Array3<f64>,
    p: Array3<f64>,
    /// h(λ)
    value: f64,
}

impl ReluLeastSquares {
    /// From features Φ (built on the data inputs x) and the labels y.
    pub fn new(features: ReluFeatures, y: Vec<f64>) -> Result<Self, OtError> {
        if y.len() != features.n_data() || y.iter().any(|v| !v.is_finite()) {
            return invalid("ReLU labels must be finite, one per data point");
        }
        Ok(Self { features, y, newton_tol: 1e-13, newton_max_iter: 100 })
    }

    /// The feature map Φ.
    pub fn features(&self) -> &ReluFeatures {
        &self.features
    }

    /// The residual `Φp − y`.
    pub fn residual(&self, p: ArrayView3<f64>) -> Result<Vec<f64>, OtError> {
        self.features.check_shape(&p)?;
        let out = self.features.forward(p);
        Ok(out.iter().zip(&self.y).map(|(o, y)| o - y).collect())
    }

    /// `log p(λ) = log z − σ Φᵀλ`, p and h(λ). Φᵀλ is computed unsigned once and signed
    /// per copy.
    fn dual_point(&self, log_z: &ArrayView3<f64>, sigma: f64, lambda: Vec<f64>) -> DualPoint {
        let psi = self.features.unsigned().dot(&ArrayView1::from(&lambda[..]));
        let mut log_p = Array3::<f64>::zeros(log_z.raw_dim());
        let mut p = Array3::<f64>::zeros(log_z.raw_dim());
        let mut mass = 0.0;
        for (c, lz_c) in log_z.outer_iter().enumerate() {
            let shift = sigma * SIGNS[c];
            let mut lp_c = log_p.index_axis_mut(Axis(0), c);
            let mut p_c = p.index_axis_mut(Axis(0), c);
            // all three iterate in row-major (logical) order, the order of Φ's rows
            let targets = lp_c.iter_mut().zip(p_c.iter_mut());
            for ((lp, pv), (&lz, &s)) in targets.zip(lz_c.iter().zip(psi.iter())) {
                *lp = if lz == f64::NEG_INFINITY { lz } else { lz - shift * s };
                *pv = lp.exp();
                mass += *pv;
            }
        }
        let value = self.dual_value(&lambda, sigma, mass);
        DualPoint { lambda, log_p, p, value }
    }

    /// `h(λ) = (n/4)‖λ‖² + ⟨y, λ⟩ + (1/σ) Σ p(λ)`.
    fn dual_value(&self, lambda: &[f64], sigma: f64, mass: f64) -> f64 {
        let n = lambda.len() as f64;
        let quad: f64 = lambda.iter().map(|l| l * l).sum::<f64>() * n / 4.0;
        let lin: f64 = lambda.iter().zip(&self.y).map(|(l, y)| l * y).sum();
        quad + lin + mass / sigma
    }

    /// The Newton start: `warm` if usable and finite there, else λ = 0.
    fn newton_start(&self, log_z: &ArrayView3<f64>, sigma: f64, warm: &[f64]) -> Result<DualPoint, OtError> {
        let n = self.features.n_data();
        if warm.len() == n && warm.iter().all(|v| v.is_finite()) {
            let point = self.dual_point(log_z, sigma, warm.to_vec());
            // A warm start from a very different z can make p(λ) overflow: then start cold.
            if point.value.is_finite() {
                return Ok(point);
            }
        }
        let point = self.dual_point(log_z, sigma, vec![0.0; n]);
        if !point.value.is_finite() {
            return Err(OtError::NonFinite("kl_prox: mass of z"));
        }
        Ok(point)
    }

    /// Armijo backtracking along `λ − t d` from `point`; None when t underflows (no
    /// decrease of h is left at rounding level).
    fn line_search(
        &self,
        log_z: &ArrayView3<f64>,
        sigma: f64,
        point: &DualPoint,
        step: &[f64],
        grad: &Array1<f64>,
    ) -> Option<DualPoint> {
        let slope: f64 = -grad.iter().zip(step).map(|(g, d)| g * d).sum::<f64>();
        // Near the optimum the decrease of h falls below its rounding, where Armijo tests
        // are noise; the Newton decrement is then tiny and a full step is safe.
        let full_step = -slope <= 1e-13 * (1.0 + point.value.abs());
        let mut t = 1.0;
        while t >= 1e-10 {
            let trial: Vec<f64> = point.lambda.iter().zip(step).map(|(l, d)| l - t * d).collect();
            let trial = self.dual_point(log_z, sigma, trial);
            if full_step || trial.value <= point.value + 1e-4 * t * slope {
                return Some(trial);
            }
            t *= 0.5;
        }
        None
    }

    /// `(Φp, |Φ|p, lower triangle of Φ diag(p) Φᵀ row-major n × n)`, |Φ| unsigned.
    fn feature_moments(&self, p: &Array3<f64>) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let phi = self.features.unsigned();
        let n = phi.ncols();
        // Row-major slice of Φ's rows (no copy: `ReluFeatures` builds it in standard layout);
        // slices let the compiler drop bounds checks in this O(n² G) hot loop.
        let phi_rows: Cow<[f64]> = match phi.as_slice() {
            Some(rows) => Cow::Borrowed(rows),
            None => Cow::Owned(phi.iter().copied().collect()),
        };
        let (mut phi_p, mut abs_phi_p, mut lower) = (vec![0.0; n], vec![0.0; n], vec![0.0; n * n]);
        for (c, p_c) in p.outer_iter().enumerate() {
            for (row, &pg) in phi_rows.chunks_exact(n).zip(p_c.iter()) {
                if pg == 0.0 {
                    continue;
                }
                for (j, &rj) in row.iter().enumerate() {
                    let fj = rj * pg;
                    phi_p[j] += SIGNS[c] * fj;
                    abs_phi_p[j] += fj;
                    let h_row = &mut lower[j * n..j * n + j + 1];
                    for (h, &rk) in h_row.iter_mut().zip(row) {
                        *h += fj * rk;
                    }
                }
            }
        }
        (phi_p, abs_phi_p, lower)
    }

    /// `(∇h, ∇²h, scale)` at a dual point, where `scale = ‖y‖ + (n/2)‖λ‖ + ‖|Φ| p‖` bounds
    /// the size of the terms summed into ∇h: its rounding floor is ≈ 1e-16 · scale (the two
    /// copies' contributions to Φp cancel, so ‖Φp‖ alone would understate it).
    fn dual_derivatives(&self, lambda: &[f64], sigma: f64, p: &Array3<f64>) -> (Array1<f64>, Array2<f64>, f64) {
        let n = lambda.len();
        let half_n = n as f64 / 2.0;
        let (phi_p, abs_phi_p, lower) = self.feature_moments(p);
        let grad = Array1::from_shape_fn(n, |j| half_n * lambda[j] + self.y[j] - phi_p[j]);
        let hess = Array2::from_shape_fn((n, n), |(j, k)| {
            let (hi, lo) = (j.max(k), j.min(k));
            let diag = if j == k { half_n } else { 0.0 };
            diag + sigma * lower[hi * n + lo]
        });
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let scale = norm(&self.y) + half_n * norm(lambda) + norm(&abs_phi_p);
        (grad, hess, scale)
    }
}

impl Objective for ReluLeastSquares {
    fn value(&self, p: ArrayView3<f64>) -> Result<f64, OtError> {
        let r = self.residual(p)?;
        Ok(r.iter().map(|e| e * e).sum::<f64>() / r.len() as f64)
    }

    fn kl_prox_log(&self, log_z: ArrayView3<f64>, sigma: f64, warm: &mut Vec<f64>) -> Result<Array3<f64>, OtError> {
        self.features.check_shape(&log_z)?;
        if !(sigma.is_finite() && sigma > 0.0) {
            return invalid(format!("prox step σ must be > 0, got {sigma}"));
        }
        let mut point = self.newton_start(&log_z, sigma, warm)?;
        let mut grad_norm = f64::INFINITY;
        for _ in 0..self.newton_max_iter {
            let (grad, hess, scale) = self.dual_derivatives(&point.lambda, sigma, &point.p);
            grad_norm = grad.dot(&grad).sqrt();
            if !grad_norm.is_finite() {
                return Err(OtError::NonFinite("kl_prox newton gradient"));
            }
            if grad_norm <= self.newton_tol * scale {
                *warm = point.lambda;
                return Ok(point.log_p);
            }
            let step = newton_direction(&hess, &grad).ok_or(OtError::NonFinite("kl_prox hessian"))?;
            match self.line_search(&log_z, sigma, &point, &step, &grad) {
                Some(next) => point = next,
                // Stuck at rounding level: accept λ if ∇h is already tiny.
                None if grad_norm <= 1e-9 * scale => {
                    *warm = point.lambda;
                    return Ok(point.log_p);
                }
                None => break,
            }
        }
        Err(OtError::NonConvergence { solver: "kl_prox newton", iterations: self.newton_max_iter, residual: grad_norm })
    }
}

/// Solves `H d = g` for the Newton direction. H ⪰ (n/2) I is SPD in exact arithmetic, but
/// when `σ Φ diag(p) Φᵀ` is huge and nearly singular (far from the optimum, p concentrated)
/// rounding can break Cholesky; then a relative jitter on the diagonal is added, which keeps
/// d a descent direction. None only for non-finite H.
fn newton_direction(hess: &Array2<f64>, grad: &Array1<f64>) -> Option<Vec<f64>> {
    if let Some(d) = cholesky_solve(hess, grad) {
        return Some(d);
    }
    let n = grad.len();
    let trace: f64 = (0..n).map(|j| hess[[j, j]]).sum();
    [1e-14, 1e-12, 1e-10, 1e-8].iter().find_map(|&jitter| {
        let mut h = hess.clone();
        (0..n).for_each(|j| h[[j, j]] += jitter * trace);
        cholesky_solve(&h, grad)
    })
}

/// Solves `A x = r` for a symmetric positive definite A (Cholesky); None if not SPD.
fn cholesky_solve(a: &Array2<f64>, r: &Array1<f64>) -> Option<Vec<f64>> {
    let n = r.len();
    let mut l = Array2::<f64>::zeros((n, n));
    for j in 0..n {
        let d = a[[j, j]] - (0..j).map(|k| l[[j, k]] * l[[j, k]]).sum::<f64>();
        if !(d > 0.0 && d.is_finite()) {
            return None;
        }
        l[[j, j]] = d.sqrt();
        for i in j + 1..n {
            let s = a[[i, j]] - (0..j).map(|k| l[[i, k]] * l[[j, k]]).sum::<f64>();
            l[[i, j]] = s / l[[j, j]];
        }
    }
    let mut x = vec![0.0; n];
    for i in 0..n {
        x[i] = (r[i] - (0..i).map(|k| l[[i, k]] * x[k]).sum::<f64>()) / l[[i, i]];
    }
    for i in (0..n).rev() {
        x[i] = (x[i] - (i + 1..n).map(|k| l[[k, i]] * x[k]).sum::<f64>()) / l[[i, i]];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::ot::grid::{gaussian_density, sine_data, stack_copies};

    fn small_relu() -> (Grid2d, ReluLeastSquares) {
        let grid = Grid2d::new(7, 6, 1.5).unwrap();
        let (x, y) = sine_data(5).unwrap();
        let f = ReluLeastSquares::new(ReluFeatures::new(&grid, &x).unwrap(), y).unwrap();
        (grid, f)
    }

    /// Gradient in p of `KL(p|z) + σ f(p)` for the ReLU loss, computed from its definition.
    fn prox_gradient(f: &ReluLeastSquares, log_z: &Array3<f64>, p: &Array3<f64>, sigma: f64) -> Array3<f64> {
        let r = f.residual(p.view()).unwrap();
        let n = r.len() as f64;
        let lambda: Vec<f64> = r.iter().map(|e| 2.0 * e / n).collect();
        let grad_f = f.features().adjoint(&lambda, p.dim().0);
        Zip::from(p).and(log_z).and(&grad_f).map_collect(|&p, &lz, &g| p.ln() - lz + sigma * g)
    }

    #[test]
    fn newton_prox_matches_mirror_descent() {
        let (grid, f) = small_relu();
        let a = gaussian_density(&grid, (0.5, 0.2), 0.6, 0.6).unwrap();
        let b = gaussian_density(&grid, (-0.4, 0.3), 0.5, 0.4).unwrap();
        let log_z = stack_copies(&[a.view(), b.view()]).unwrap().mapv(f64::ln);
        for sigma in [0.3, 5.0] {
            let mut warm = Vec::new();
            let log_p = f.kl_prox_log(log_z.view(), sigma, &mut warm).unwrap();
            // Independent solve: mirror descent p ← p ⊙ exp(−η ∇(KL + σf)) from p = z.
            let mut p = log_z.mapv(f64::exp);
            let eta = 0.5 / (1.0 + sigma);
            for _ in 0..20_000 {
                let g = prox_gradient(&f, &log_z, &p, sigma);
                p = Zip::from(&p).and(&g).map_collect(|&p, &g| p * (-eta * g).exp());
            }
            let newton = log_p.mapv(f64::exp);
            let diff = (&newton - &p).mapv(f64::abs).sum() / p.sum();
            assert!(diff < 1e-9, "σ = {sigma}: Newton vs mirror descent differ by {diff}");
            // and the stationarity condition holds at the Newton solution
            let kkt = prox_gradient(&f, &log_z, &newton, sigma);
            assert!(kkt.iter().all(|v| v.abs() < 1e-10), "KKT residual");
        }
    }

    #[test]
    fn warm_start_gives_the_same_prox() {
        let (grid, f) = small_relu();
        let a = gaussian_density(&grid, (0.0, 0.0), 0.5, 0.5).unwrap();
        let log_z = stack_copies(&[a.view(), a.view()]).unwrap().mapv(f64::ln);
        let mut warm = Vec::new();
        let cold = f.kl_prox_log(log_z.view(), 2.0, &mut warm).unwrap();
        warm.iter_mut().for_each(|l| *l *= 1.3);
        let hot = f.kl_prox_log(log_z.view(), 2.0, &mut warm).unwrap();
        assert!((&cold - &hot).iter().all(|d| d.abs() < 1e-11));
    }

    #[test]
    fn linear_entropy_prox_is_stationary() {
        let grid = Grid2d::new(6, 5, 1.0).unwrap();
        let f = LinearEntropy::quadratic(&grid, 1, 2.0, (0.1, 0.0), 0.3).unwrap();
        let z = gaussian_density(&grid, (0.3, 0.2), 0.4, 1.0).unwrap();
        let log_z = z.insert_axis(ndarray::Axis(0)).mapv(f64::ln);
        let sigma = 0.7;
        let log_p = f.kl_prox_log(log_z.view(), sigma, &mut Vec::new()).unwrap();
        // ∇ of KL(p|z) + σ(⟨V,p⟩ + κ Σ p log p) is log(p/z) + σV + σκ(log p + 1)
        Zip::from(&log_p).and(&log_z).and(&f.potential).for_each(|&lp, &lz, &v| {
            assert!((lp - lz + sigma * v + sigma * 0.3 * (lp + 1.0)).abs() < 1e-12);
        });
    }
}
