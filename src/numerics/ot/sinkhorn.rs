//! Entropic optimal transport between two densities on one grid (Sinkhorn, log domain).
//!
//! Solves `W_ε(p, q) = min_{π ∈ Π(p,q)} ⟨c, π⟩ + ε E(π)`, `E(π) = Σ π (log π − 1)`, with
//! `π = diag(a) ξ diag(b)`, by alternating `a ← p / ξb`, `b ← q / ξᵀa` on log-scalings.
//!
//! # How W_ε is evaluated
//! For a coupling of the Gibbs form, `log π_ij = log a_i − c_ij/ε + log b_j`, so
//! `c_ij = ε (log a_i + log b_j − log π_ij)` and
//! `⟨c, π⟩ + ε E(π) = ε (⟨log a, π1⟩ + ⟨log b, πᵀ1⟩ − Σπ)`.
//! This is evaluated with the coupling's *actual* marginals `π1 = a ⊙ ξb` and
//! `πᵀ1 = b ⊙ ξᵀa` (the latter equals q to rounding right after the b update), so the
//! number is exactly the entropic cost of the returned coupling, and exactly `W_ε(π1, πᵀ1)`
//! because a Gibbs-form coupling is optimal between its own marginals. The transport part
//! `⟨c, π⟩ = ⟨a, (c∘ξ) b⟩` is computed separately with the cost-weighted kernel.

use ndarray::{Array2, ArrayView2, Zip};

use super::error::{invalid, OtError};
use super::gibbs::GibbsKernel;

/// Stopping rule of [`sinkhorn`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SinkhornOptions {
    /// Stop when both relative marginal errors are below this.
    pub tol: f64,
    /// Give up (with [`OtError::NonConvergence`]) after this many iterations.
    pub max_iter: usize,
}

impl Default for SinkhornOptions {
    fn default() -> Self {
        Self { tol: 1e-9, max_iter: 20_000 }
    }
}

/// Result of [`sinkhorn`]: the coupling `π = diag(a) ξ diag(b)` and its costs.
#[derive(Debug, Clone)]
pub struct Sinkhorn {
    /// log a (the first scaling; `ε log a` is the first dual potential).
    pub log_a: Array2<f64>,
    /// log b (the second scaling).
    pub log_b: Array2<f64>,
    /// ⟨c, π⟩.
    pub transport_cost: f64,
    /// ⟨c, π⟩ + ε E(π), evaluated as in the module doc.
    pub entropic_value: f64,
    /// `[‖b ⊙ ξᵀa − q‖ / ‖q‖ (before the last b update), ‖a ⊙ ξb − p‖ / ‖p‖ (after it)]`,
    /// Euclidean norms, in the order of Algorithm 1 and of [`super::jko::JkoStep`].
    pub marginal_errors: [f64; 2],
    /// Iterations done (one = an a update and a b update).
    pub iterations: usize,
}

/// Entropic OT between densities `p` and `q` (same shape as the kernel, ≥ 0, equal masses).
pub fn sinkhorn(
    kernel: &GibbsKernel,
    p: ArrayView2<f64>,
    q: ArrayView2<f64>,
    opts: &SinkhornOptions,
) -> Result<Sinkhorn, OtError> {
    check_density(kernel, &p, "p")?;
    check_density(kernel, &q, "q")?;
    let (mass_p, mass_q) = (p.sum(), q.sum());
    if (mass_p - mass_q).abs() > 1e-10 * mass_q.max(mass_p) || mass_q <= 0.0 {
        return invalid(format!("sinkhorn needs equal positive masses, got {mass_p} and {mass_q}"));
    }
    let (log_p, log_q) = (p.mapv(f64::ln), q.mapv(f64::ln));
    let mut log_b = Array2::<f64>::zeros(kernel.shape());
    let mut xi_b = kernel.apply_log(log_b.view())?;
    let mut errors = [f64::INFINITY; 2];
    for iteration in 1..=opts.max_iter {
        let log_a = log_div(log_p.view(), &xi_b);
        let xi_a = kernel.apply_log(log_a.view())?;
        errors[0] = marginal_error(&log_b, &xi_a, &q);
        log_b = log_div(log_q.view(), &xi_a);
        xi_b = kernel.apply_log(log_b.view())?;
        errors[1] = marginal_error(&log_a, &xi_b, &p);
        if errors.iter().any(|e| e.is_nan()) {
            return Err(OtError::NonFinite("sinkhorn marginal error"));
        }
        if errors[0] < opts.tol && errors[1] < opts.tol {
            let xi_a_final = kernel.apply_log(log_a.view())?;
            let entropic_value = entropic_value(kernel.eps(), &log_a, &xi_b, &log_b, &xi_a_final);
            let transport_cost = transport_cost(kernel, &log_a, &log_b)?;
            return Ok(Sinkhorn {
                log_a,
                log_b,
                transport_cost,
                entropic_value,
                marginal_errors: errors,
                iterations: iteration,
            });
        }
    }
    Err(OtError::NonConvergence { solver: "sinkhorn", iterations: opts.max_iter, residual: errors[0].max(errors[1]) })
}

/// Checks shape, finiteness and sign of a density.
fn check_density(kernel: &GibbsKernel, p: &ArrayView2<f64>, name: &str) -> Result<(), OtError> {
    if p.dim() != kernel.shape() {
        return invalid(format!("{name} has shape {:?}, kernel {:?}", p.dim(), kernel.shape()));
    }
    if p.iter().any(|v| !(v.is_finite() && *v >= 0.0)) {
        return invalid(format!("{name} must be finite and ≥ 0"));
    }
    Ok(())
}

/// `log(x / y)` elementwise on logs, with `log 0 − anything = log 0` (a zero target mass
/// gives a zero scaling even where the divisor also vanished).
pub(crate) fn log_div(log_x: ArrayView2<f64>, log_y: &Array2<f64>) -> Array2<f64> {
    Zip::from(&log_x).and(log_y).map_collect(|&x, &y| if x == f64::NEG_INFINITY { x } else { x - y })
}

/// `‖exp(log_s + log_k) − target‖ / ‖target‖`: the relative error of a marginal `s ⊙ (ξ t)`.
pub(crate) fn marginal_error(log_s: &Array2<f64>, log_k: &Array2<f64>, target: &ArrayView2<f64>) -> f64 {
    let mut num = 0.0;
    let mut den = 0.0;
    Zip::from(log_s).and(log_k).and(target).for_each(|&s, &k, &t| {
        num += ((s + k).exp() - t).powi(2);
        den += t * t;
    });
    (num / den).sqrt()
}

/// `Σ exp(log_s + log_k) · log_s`, with the convention 0 · log 0 = 0.
fn weighted_log_sum(log_s: &Array2<f64>, log_k: &Array2<f64>) -> (f64, f64) {
    Zip::from(log_s).and(log_k).fold((0.0, 0.0), |(acc, mass), &s, &k| {
        let m = (s + k).exp();
        if m > 0.0 {
            (acc + m * s, mass + m)
        } else {
            (acc, mass)
        }
    })
}

/// `ε (⟨log a, a ⊙ ξb⟩ + ⟨log b, b ⊙ ξᵀa⟩ − Σπ)`: the entropic cost of `diag(a) ξ diag(b)`
/// (module doc), given `log ξb` and `log ξᵀa` for the same a and b.
pub(crate) fn entropic_value(
    eps: f64,
    log_a: &Array2<f64>,
    log_xi_b: &Array2<f64>,
    log_b: &Array2<f64>,
    log_xi_a: &Array2<f64>,
) -> f64 {
    let (first, mass) = weighted_log_sum(log_a, log_xi_b);
    let (second, _) = weighted_log_sum(log_b, log_xi_a);
    eps * (first + second - mass)
}

/// `⟨c, π⟩ = Σ a ⊙ ((c∘ξ) b)` for `π = diag(a) ξ diag(b)`.
pub(crate) fn transport_cost(kernel: &GibbsKernel, log_a: &Array2<f64>, log_b: &Array2<f64>) -> Result<f64, OtError> {
    let log_cb = kernel.apply_log_cost(log_b.view())?;
    Ok(Zip::from(log_a).and(&log_cb).fold(0.0, |s, &a, &k| s + (a + k).exp()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::ot::grid::{gaussian_density, Grid2d};

    #[test]
    fn marginals_and_value_match_the_dense_coupling() {
        let grid = Grid2d::new(7, 6, 1.0).unwrap();
        let eps = 0.2;
        let kernel = GibbsKernel::new(&grid, eps).unwrap();
        let p = gaussian_density(&grid, (-0.3, 0.2), 0.4, 1.0).unwrap();
        let q = gaussian_density(&grid, (0.4, -0.1), 0.3, 1.0).unwrap();
        let opts = SinkhornOptions { tol: 1e-11, max_iter: 10_000 };
        let s = sinkhorn(&kernel, p.view(), q.view(), &opts).unwrap();
        assert!(s.marginal_errors.iter().all(|&e| e < 1e-11));
        // Build π densely and check marginals, ⟨c, π⟩ and ⟨c, π⟩ + ε E(π) directly.
        let (w, b) = (grid.w_coords(), grid.b_coords());
        let n_b = grid.n_b();
        let (mut row, mut col) = (Array2::zeros(grid.shape()), Array2::zeros(grid.shape()));
        let (mut cost, mut value) = (0.0, 0.0);
        for g in 0..grid.len() {
            for h in 0..grid.len() {
                let (i, j, k, l) = (g / n_b, g % n_b, h / n_b, h % n_b);
                let c = (w[i] - w[k]).powi(2) + (b[j] - b[l]).powi(2);
                let pi = (s.log_a[[i, j]] - c / eps + s.log_b[[k, l]]).exp();
                row[[i, j]] += pi;
                col[[k, l]] += pi;
                cost += c * pi;
                value += c * pi + eps * pi * (pi.ln() - 1.0);
            }
        }
        assert!((&row - &p).iter().all(|d: &f64| d.abs() < 1e-10));
        assert!((&col - &q).iter().all(|d: &f64| d.abs() < 1e-10));
        assert!((s.transport_cost - cost).abs() < 1e-12, "{} {cost}", s.transport_cost);
        assert!((s.entropic_value - value).abs() < 1e-10, "{} {value}", s.entropic_value);
    }

    #[test]
    fn entropic_cost_decreases_to_squared_shift() {
        // q is p translated by 12 cells along w: the unregularised optimum is the
        // translation, W2² = shift² exactly (E|X−Y|² = |Δmean|² + E|X̃−Ỹ|²).
        let grid = Grid2d::new(41, 41, 1.0).unwrap();
        let h = grid.spacing_w();
        let shift = 12.0 * h;
        let p = gaussian_density(&grid, (-shift / 2.0, 0.0), 0.15, 1.0).unwrap();
        let q = gaussian_density(&grid, (shift / 2.0, 0.0), 0.15, 1.0).unwrap();
        let opts = SinkhornOptions { tol: 1e-9, max_iter: 50_000 };
        let mut previous = f64::INFINITY;
        for eps in [0.1, 0.03, 0.01, 2.0 * h * h] {
            let kernel = GibbsKernel::new(&grid, eps).unwrap();
            let s = sinkhorn(&kernel, p.view(), q.view(), &opts).unwrap();
            let gap = s.transport_cost - shift * shift;
            // Continuous Gaussians of std σ: the excess over shift² is 2 (2σ² − 2ρ) (two
            // axes) with ρ = (√(ε² + 16σ⁴) − ε)/4 the optimal entropic covariance, ≈ ε.
            let var = 0.15f64 * 0.15;
            let rho = ((eps * eps + 16.0 * var * var).sqrt() - eps) / 4.0;
            let excess = 2.0 * (2.0 * var - 2.0 * rho);
            assert!(gap > 0.0 && gap < previous, "gap {gap} after {previous}");
            assert!((gap - excess).abs() < 0.02 * excess, "gap {gap} vs closed form {excess}");
            previous = gap;
        }
        assert!(previous < 0.02 * shift * shift);
    }

    #[test]
    fn unequal_masses_are_refused() {
        let grid = Grid2d::new(5, 5, 1.0).unwrap();
        let kernel = GibbsKernel::new(&grid, 0.1).unwrap();
        let p = gaussian_density(&grid, (0.0, 0.0), 0.3, 1.0).unwrap();
        let q = gaussian_density(&grid, (0.0, 0.0), 0.3, 2.0).unwrap();
        let opts = SinkhornOptions::default();
        assert!(matches!(sinkhorn(&kernel, p.view(), q.view(), &opts), Err(OtError::InvalidInput(_))));
    }
}
