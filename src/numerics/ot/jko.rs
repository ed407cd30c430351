//! The entropic JKO step (Peyré 2015; Algorithm 1 of seed 001) and a loop over steps.
//!
//! `p_{t+1} = argmin_p W_ε(p, p_t) + τ f(p)`, `W_ε(p, q) = min_{π ∈ Π(p,q)} ⟨c, π⟩ + ε E(π)`,
//! solved by iterated KL projections on the scalings of `π = diag(a) ξ diag(b)`:
//! `p ← prox^KL_{(τ/ε) f}(ξb); a ← p / ξb; b ← q / ξᵀa`, all in the log domain.
//! Each sign copy is its own transport problem (block-diagonal π: no mass moves between
//! copies, so each copy keeps its mass); the copies interact only through f's prox.
//!
//! # Conventions
//! - **Time.** The cost is c = |x − y|² with no ½, so `argmin W₂² + τ f` is the JKO step
//!   `argmin W₂²/(2h) + f` with h = τ/2: one step advances the gradient flow
//!   `∂_t ρ = div(ρ ∇ δf/δρ)` by **τ/2**. (For a particle comparison: a neuron following
//!   `θ̇ = −∇_θ δf/δρ` for time τ/2 per JKO step.)
//! - **Entropic blur.** For f = 0 one step convolves with the normalised kernel
//!   exp(−|x−y|²/ε), variance ε/2 per axis; with f present, to first order in ε the step is
//!   a JKO step with an extra entropy `(ε/τ)·½ ∫ρ log ρ`, i.e. an extra diffusion
//!   coefficient **ε/(2τ)**: `∂_t ρ = div(ρ∇V) + (κ + ε/(2τ)) Δρ` for f = ⟨V,ρ⟩ + κ∫ρ log ρ.
//!   For Gaussians the step is solved exactly in `tests::gaussian_entropic_jko_step` (the
//!   test reference); ε → 0 at fixed τ removes the blur.
//! - **Stopping.** Both marginal errors of Algorithm 1, relative to ‖q‖ (Euclidean, over all
//!   copies): `‖b ⊙ ξᵀa − q‖` (measured before the b update) and `‖a ⊙ ξb − p‖` (after).
//! - **Output.** `p_{t+1} = a ⊙ ξb` after the last b update: the first marginal of the final
//!   coupling, whose mass equals Σ b ⊙ ξᵀa = Σ q to rounding, whatever the tolerance.
//! - **Energy.** `W_ε(p_{t+1}, p_t)` is evaluated on the final coupling as
//!   `ε (⟨log a, a ⊙ ξb⟩ + ⟨log b, b ⊙ ξᵀa⟩ − Σπ)` (see [`super::sinkhorn`]), with the
//!   coupling's own marginals a ⊙ ξb = p_{t+1} and b ⊙ ξᵀa (= q to rounding after the last
//!   b update). This is exactly W_ε(p_{t+1}, q): a Gibbs-form coupling is optimal between its
//!   marginals. The tolerance only bounds how far p_{t+1} is from being the minimiser.

use ndarray::{Array2, Array3, ArrayView3, Axis};

use super::error::{invalid, OtError};
use super::gibbs::GibbsKernel;
use super::kl_prox::Objective;
use super::sinkhorn::{entropic_value, log_div, transport_cost};

/// Parameters of [`jko_step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JkoOptions {
    /// The JKO step τ (one step = time τ/2, module doc).
    pub tau: f64,
    /// Stop when both relative marginal errors are below this.
    pub tol: f64,
    /// Give up after this many Dykstra iterations.
    pub max_iter: usize,
}

/// One entropic JKO step's result.
#[derive(Debug, Clone)]
pub struct JkoStep {
    /// p_{t+1}, shape `(copies, n_w, n_b)`.
    pub p: Array3<f64>,
    /// Dykstra iterations done.
    pub iterations: usize,
    /// `[‖b ⊙ ξᵀa − q‖/‖q‖, ‖a ⊙ ξb − p‖/‖q‖]` at the last iteration.
    pub marginal_errors: [f64; 2],
    /// W_ε(p_{t+1}, p_t), evaluated as in the module doc.
    pub w_eps: f64,
    /// ⟨c, π⟩ of the final coupling (the transport part of `w_eps`; ≈ W₂² + O(ε)).
    pub transport_cost: f64,
    /// f(p_{t+1}).
    pub objective: f64,
    /// `w_eps + τ · objective`, the value the step minimises.
    pub energy: f64,
}

fn check_step_input(kernel: &GibbsKernel, q: &ArrayView3<f64>, opts: &JkoOptions) -> Result<(), OtError> {
    let (copies, n_w, n_b) = q.dim();
    if copies == 0 || (n_w, n_b) != kernel.shape() {
        return invalid(format!("density {:?} on a kernel of shape {:?}", q.dim(), kernel.shape()));
    }
    if q.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || q.sum() <= 0.0 {
        return invalid("JKO density must be finite, ≥ 0, with positive mass");
    }
    if !(opts.tau.is_finite() && opts.tau > 0.0 && opts.tol > 0.0) {
        return invalid(format!("JKO needs τ > 0 and tol > 0, got {} and {}", opts.tau, opts.tol));
    }
    Ok(())
}

/// `‖exp(log_s + log_k) − target‖²` summed over copies.
fn residual_sq(log_s: &[Array2<f64>], log_k: &[Array2<f64>], target: &ArrayView3<f64>) -> f64 {
    let mut acc = 0.0;
    for ((s, k), t) in log_s.iter().zip(log_k).zip(target.outer_iter()) {
        ndarray::Zip::from(s).and(k).and(&t).for_each(|&s, &k, &t| {
            acc += ((s + k).exp() - t).powi(2);
        });
    }
    acc
}

/// What one JKO step hands to the next so that it starts near its solution: the
/// objective's prox state (the ReLU dual λ) and the final log-scalings b of each copy.
/// Algorithm 1 is block-coordinate ascent on a strictly concave dual, so every start
/// converges to the same step; a warm start only saves iterations. `Default` is the cold
/// start of Algorithm 1 (b = 1, λ = 0).
#[derive(Debug, Clone, Default)]
pub struct WarmStart {
    /// Passed to [`Objective::kl_prox_log`] as its `warm` argument.
    pub prox: Vec<f64>,
    /// Initial log b per copy; ignored unless it has one `(n_w, n_b)` array per copy with
    /// no NaN or +∞.
    pub log_b: Vec<Array2<f64>>,
}

impl WarmStart {
    /// The usable initial log b for `copies` copies on `shape`, if any.
    fn initial_log_b(&self, copies: usize, shape: (usize, usize)) -> Option<&[Array2<f64>]> {
        let usable = self.log_b.len() == copies
            && self.log_b.iter().all(|b| b.dim() == shape && b.iter().all(|v| !v.is_nan() && *v != f64::INFINITY));
        usable.then_some(&self.log_b[..])
    }
}

/// The state of Algorithm 1 inside one JKO step: log-scalings a, b of every copy and the
/// kernel products ξb, ξᵀa. [`jko_step`] drives it; it is public so that one iteration can
/// be timed or inspected.
pub struct DykstraIteration<'a, O: Objective + ?Sized> {
    kernel: &'a GibbsKernel,
    objective: &'a O,
    q: ArrayView3<'a, f64>,
    log_q: Array3<f64>,
    q_norm: f64,
    opts: JkoOptions,
    log_a: Vec<Array2<f64>>,
    log_b: Vec<Array2<f64>>,
    xi_a: Vec<Array2<f64>>,
    xi_b: Vec<Array2<f64>>,
}

impl<'a, O: Objective + ?Sized> DykstraIteration<'a, O> {
    /// Starts the step from `q = p_t` (shape `(copies, n_w, n_b)`) with a = 1 and b from
    /// `warm` (b = 1 on a cold start).
    pub fn new(
        kernel: &'a GibbsKernel,
        objective: &'a O,
        q: ArrayView3<'a, f64>,
        opts: &JkoOptions,
        warm: &WarmStart,
    ) -> Result<Self, OtError> {
        check_step_input(kernel, &q, opts)?;
        let copies = q.dim().0;
        let zeros = Array2::<f64>::zeros(kernel.shape());
        let xi_one = kernel.apply_log(zeros.view())?;
        let (log_b, xi_b) = match warm.initial_log_b(copies, kernel.shape()) {
            Some(bs) => {
                let xi_b = bs.iter().map(|b| kernel.apply_log(b.view())).collect::<Result<Vec<_>, _>>()?;
                (bs.to_vec(), xi_b)
            }
            None => (vec![zeros.clone(); copies], vec![xi_one.clone(); copies]),
        };
        Ok(Self {
            kernel,
            objective,
            q,
            log_q: q.mapv(f64::ln),
            q_norm: q.iter().map(|v| v * v).sum::<f64>().sqrt(),
            opts: *opts,
            log_a: vec![zeros; copies],
            log_b,
            xi_a: vec![xi_one; copies],
            xi_b,
        })
    }

    /// One iteration `p ← prox(ξb); a ← p/ξb; b ← q/ξᵀa`; returns both marginal errors
    /// `[‖b ⊙ ξᵀa − q‖/‖q‖ (before the b update), ‖a ⊙ ξb − p‖/‖q‖ (after)]`.
    pub fn iterate(&mut self, warm: &mut Vec<f64>) -> Result<[f64; 2], OtError> {
        let views: Vec<_> = self.xi_b.iter().map(|x| x.view()).collect();
        let log_z = ndarray::stack(Axis(0), &views).or_else(|e| invalid(format!("stacking ξb: {e}")))?;
        let sigma = self.opts.tau / self.kernel.eps();
        let log_p = self.objective.kl_prox_log(log_z.view(), sigma, warm)?;
        if log_p.dim() != log_z.dim() {
            return invalid(format!("kl_prox returned {:?} for {:?}", log_p.dim(), log_z.dim()));
        }
        for (c, log_pc) in log_p.outer_iter().enumerate() {
            self.log_a[c] = log_div(log_pc, &self.xi_b[c]);
            self.xi_a[c] = self.kernel.apply_log(self.log_a[c].view())?;
        }
        let first = residual_sq(&self.log_b, &self.xi_a, &self.q).sqrt() / self.q_norm;
        for (c, log_qc) in self.log_q.outer_iter().enumerate() {
            self.log_b[c] = log_div(log_qc, &self.xi_a[c]);
            self.xi_b[c] = self.kernel.apply_log(self.log_b[c].view())?;
        }
        let second = residual_sq(&self.log_a, &self.xi_b, &log_p.mapv(f64::exp).view()).sqrt() / self.q_norm;
        if !(first.is_finite() && second.is_finite()) {
            return Err(OtError::NonFinite("jko_step marginal error"));
        }
        Ok([first, second])
    }

    /// The current log-scalings `(log a, log b)`, one array per copy.
    pub fn scalings(&self) -> (&[Array2<f64>], &[Array2<f64>]) {
        (&self.log_a, &self.log_b)
    }

    /// p_{t+1} = a ⊙ ξb and the energy, from the current scalings (module doc).
    pub fn finish(&self, iterations: usize, marginal_errors: [f64; 2]) -> Result<JkoStep, OtError> {
        let (n_w, n_b) = self.kernel.shape();
        let mut p = Array3::<f64>::zeros((self.log_a.len(), n_w, n_b));
        let mut w_eps = 0.0;
        let mut transport = 0.0;
        for (c, mut pc) in p.outer_iter_mut().enumerate() {
            transport += transport_cost(self.kernel, &self.log_a[c], &self.log_b[c])?;
            pc.assign(&(&self.log_a[c] + &self.xi_b[c]).mapv(f64::exp));
            // ξᵀa is up to date: a has not changed since it was computed.
            w_eps += entropic_value(self.kernel.eps(), &self.log_a[c], &self.xi_b[c], &self.log_b[c], &self.xi_a[c]);
        }
        let value = self.objective.value(p.view())?;
        Ok(JkoStep {
            p,
            iterations,
            marginal_errors,
            w_eps,
            transport_cost: transport,
            objective: value,
            energy: w_eps + self.opts.tau * value,
        })
    }
}

/// One entropic JKO step from `q = p_t` (shape `(copies, n_w, n_b)`). `warm` is read as
/// the starting point and overwritten with this step's final state, for the next step.
pub fn jko_step<'a, O: Objective + ?Sized>(
    kernel: &'a GibbsKernel,
    objective: &'a O,
    q: ArrayView3<'a, f64>,
    opts: &JkoOptions,
    warm: &mut WarmStart,
) -> Result<JkoStep, OtError> {
    let mut state = DykstraIteration::new(kernel, objective, q, opts, warm)?;
    let mut errors = [f64::INFINITY; 2];
    for iteration in 1..=opts.max_iter {
        errors = state.iterate(&mut warm.prox)?;
        if errors[0] < opts.tol && errors[1] < opts.tol {
            warm.log_b = state.log_b.clone();
            return state.finish(iteration, errors);
        }
    }
    Err(OtError::NonConvergence { solver: "jko_step", iterations: opts.max_iter, residual: errors[0].max(errors[1]) })
}

/// Runs `steps` JKO steps from `p0`, calling `observe(step_index, &step)` after each
/// (index from 1), and returns the final density. Each step is warm-started from the
/// previous one ([`WarmStart`]); pass `cold = true` to start every step from b = 1, λ = 0.
pub fn jko_flow<O: Objective + ?Sized>(
    kernel: &GibbsKernel,
    objective: &O,
    p0: ArrayView3<f64>,
    steps: usize,
    opts: &JkoOptions,
    cold: bool,
    mut observe: impl FnMut(usize, &JkoStep),
) -> Result<Array3<f64>, OtError> {
    let mut p = p0.to_owned();
    let mut warm = WarmStart::default();
    for t in 1..=steps {
        if cold {
            warm = WarmStart::default();
        }
        let step = jko_step(kernel, objective, p.view(), opts, &mut warm)?;
        observe(t, &step);
        p = step.p;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numerics::ot::grid::{gaussian_density, sine_data, stack_copies, Grid2d, ReluFeatures};
    use crate::numerics::ot::kl_prox::{LinearEntropy, ReluLeastSquares};
    use crate::numerics::ot::sinkhorn::{sinkhorn, SinkhornOptions};

    fn relu_setup(n: usize, eps: f64) -> (Grid2d, GibbsKernel, ReluLeastSquares, Array3<f64>) {
        let grid = Grid2d::new(n, n, 2.0).unwrap();
        let kernel = GibbsKernel::new(&grid, eps).unwrap();
        let (x, y) = sine_data(5).unwrap();
        let f = ReluLeastSquares::new(ReluFeatures::new(&grid, &x).unwrap(), y).unwrap();
        let plus = gaussian_density(&grid, (0.3, 0.1), 0.3, 0.5).unwrap();
        let minus = gaussian_density(&grid, (-0.2, 0.2), 0.3, 0.5).unwrap();
        let p0 = stack_copies(&[plus.view(), minus.view()]).unwrap();
        (grid, kernel, f, p0)
    }

    #[test]
    fn relu_jko_step_conserves_mass_per_copy() {
        let (_, kernel, f, p0) = relu_setup(41, 0.02);
        // A loose tolerance: mass conservation must not depend on convergence.
        for tol in [1e-3, 1e-9] {
            let opts = JkoOptions { tau: 0.2, tol, max_iter: 5_000 };
            let step = jko_step(&kernel, &f, p0.view(), &opts, &mut WarmStart::default()).unwrap();
            for c in 0..2 {
                let (before, after) = (p0.index_axis(Axis(0), c).sum(), step.p.index_axis(Axis(0), c).sum());
                assert!((before - after).abs() < 1e-12, "copy {c}: {before} → {after}");
            }
            assert!(step.marginal_errors.iter().all(|&e| e < tol));
            assert!(step.objective < f.value(p0.view()).unwrap());
        }
    }

    #[test]
    fn relu_jko_energy_does_not_increase() {
        let (_, kernel, f, p0) = relu_setup(41, 0.02);
        let opts = JkoOptions { tau: 0.2, tol: 1e-10, max_iter: 10_000 };
        let sk = SinkhornOptions { tol: 1e-11, max_iter: 50_000 };
        // W_ε(candidate, p_t) + τ f(candidate), W_ε from an independent Sinkhorn solve.
        let energy_of = |candidate: &Array3<f64>, p: &Array3<f64>| -> f64 {
            let w: f64 = (0..2)
                .map(|c| {
                    let (x, q) = (candidate.index_axis(Axis(0), c), p.index_axis(Axis(0), c));
                    sinkhorn(&kernel, x, q, &sk).unwrap().entropic_value
                })
                .sum();
            w + opts.tau * f.value(candidate.view()).unwrap()
        };
        let mut p = p0;
        let mut warm = WarmStart::default();
        for _ in 0..2 {
            let step = jko_step(&kernel, &f, p.view(), &opts, &mut warm).unwrap();
            // Staying put (p = p_t) must not be better ...
            let stay = energy_of(&p, &p);
            assert!(step.energy <= stay - 1e-6, "energy {} vs staying {stay}", step.energy);
            // ... nor the JKO steps of a smaller and a larger τ (same mass, other minimisers),
            // which catches a prox solving the wrong σ = τ/ε.
            for factor in [1.0 / 1.5, 1.5] {
                let other = JkoOptions { tau: factor * opts.tau, ..opts };
                let candidate = jko_step(&kernel, &f, p.view(), &other, &mut WarmStart::default()).unwrap();
                let e = energy_of(&candidate.p, &p);
                assert!(step.energy < e - 1e-9, "energy {} vs τ×{factor}: {e}", step.energy);
            }
            // the step's own evaluation of its energy agrees with the independent one
            let again = energy_of(&step.p, &p);
            assert!((step.energy - again).abs() < 1e-7, "{} vs {again}", step.energy);
            p = step.p;
        }
    }

    #[test]
    fn zero_mass_regions_and_reruns_are_exact() {
        // p0 vanishes exactly on half the grid (log p = −∞ there): the step must stay finite,
        // keep each copy's mass, and a rerun must be bit-identical.
        let (_, kernel, f, mut p0) = relu_setup(31, 0.03);
        p0.indexed_iter_mut().filter(|((_, i, _), _)| *i < 15).for_each(|(_, v)| *v = 0.0);
        let opts = JkoOptions { tau: 0.2, tol: 1e-9, max_iter: 10_000 };
        let first = jko_step(&kernel, &f, p0.view(), &opts, &mut WarmStart::default()).unwrap();
        let again = jko_step(&kernel, &f, p0.view(), &opts, &mut WarmStart::default()).unwrap();
        assert!(first.p.iter().all(|v| v.is_finite() && *v >= 0.0));
        assert!(first.energy.is_finite() && first.transport_cost > 0.0);
        for c in 0..2 {
            let before = p0.index_axis(Axis(0), c).sum();
            assert!((before - first.p.index_axis(Axis(0), c).sum()).abs() < 1e-12);
        }
        assert_eq!(first.p, again.p);
        assert_eq!(first.energy.to_bits(), again.energy.to_bits());
    }

    #[test]
    fn warm_started_flow_matches_cold_started_flow() {
        let (_, kernel, f, p0) = relu_setup(41, 0.02);
        let opts = JkoOptions { tau: 0.2, tol: 1e-11, max_iter: 20_000 };
        let run = |cold: bool| {
            let mut iterations = Vec::new();
            let p = jko_flow(&kernel, &f, p0.view(), 4, &opts, cold, |_, s| iterations.push(s.iterations)).unwrap();
            (p, iterations)
        };
        let ((p_cold, it_cold), (p_warm, it_warm)) = (run(true), run(false));
        let diff = (&p_cold - &p_warm).mapv(f64::abs).sum();
        assert!(diff < 1e-8, "warm and cold flows differ by {diff}");
        // Past the first step the warm start must save iterations.
        assert!(it_warm[1..].iter().sum::<usize>() < it_cold[1..].iter().sum::<usize>());
        eprintln!("iterations cold {it_cold:?} warm {it_warm:?}");
    }

    /// Mean and variance along each axis of a one-copy density.
    fn moments(grid: &Grid2d, p: &Array3<f64>) -> [f64; 4] {
        let (w, b) = (grid.w_coords(), grid.b_coords());
        let pc = p.index_axis(Axis(0), 0);
        let mass = pc.sum();
        let m = |f: &dyn Fn(usize, usize) -> f64| pc.indexed_iter().map(|((i, j), v)| v * f(i, j)).sum::<f64>() / mass;
        let (mw, mb) = (m(&|i, _| w[i]), m(&|_, j| b[j]));
        [mw, mb, m(&|i, _| (w[i] - mw).powi(2)), m(&|_, j| (b[j] - mb).powi(2))]
    }

    /// One entropic JKO step for f = (k/2)∫x²ρ + κ∫ρ log ρ on 1-D Gaussians, in closed form
    /// up to a scalar root: returns the new (mean, variance) from the old ones.
    ///
    /// For Gaussian p = N(μ, s²), q = N(μ_q, s_q²), the optimal entropic coupling has
    /// covariance ρ = (√(ε² + 16 s² s_q²) − ε)/4 and the objective is
    /// (μ−μ_q)² + s² + s_q² − 2ρ − (ε/2) log(s²s_q² − ρ²) + τ((k/2)(μ² + s²) − (κ/2) log s²),
    /// up to a constant. Stationarity in μ: μ = μ_q / (1 + τk/2); in s (envelope theorem, using
    /// s²s_q² − ρ² = ερ/2): 2s − 2 s s_q²/ρ + τ k s − τκ/s = 0, solved by bisection.
    fn gaussian_entropic_jko_step(mean: f64, var: f64, tau: f64, eps: f64, k: f64, kappa: f64) -> (f64, f64) {
        let rho = |s: f64| ((eps * eps + 16.0 * s * s * var).sqrt() - eps) / 4.0;
        let g = |s: f64| 2.0 * s - 2.0 * s * var / rho(s) + tau * k * s - tau * kappa / s;
        let (mut lo, mut hi) = (1e-6, 10.0);
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if g(mid) < 0.0 {
                lo = mid
            } else {
                hi = mid
            }
        }
        let s = 0.5 * (lo + hi);
        (mean / (1.0 + tau * k / 2.0), s * s)
    }

    #[test]
    fn gaussian_step_reference_is_consistent() {
        // ε → 0 and τ → 0: one step of the reference must follow the OU ODEs for time τ/2:
        // μ' = −kμ, (s²)' = −2k s² + 2κ.
        let (tau, k, kappa, mean, var) = (1e-4, 1.0, 0.1, 0.5, 0.2);
        let (m1, v1) = gaussian_entropic_jko_step(mean, var, tau, 1e-12, k, kappa);
        let dt = tau / 2.0;
        assert!(((m1 - mean) / dt + k * mean).abs() < 1e-3);
        assert!(((v1 - var) / dt - (-2.0 * k * var + 2.0 * kappa)).abs() < 1e-3);
        // f = 0 (k = κ = 0): pure blur adds variance ε/2 per step (to first order).
        let (_, v2) = gaussian_entropic_jko_step(0.0, var, 1.0, 1e-3, 0.0, 0.0);
        assert!(((v2 - var) - 0.5e-3).abs() < 1e-6, "{}", v2 - var);
    }

    /// Ornstein–Uhlenbeck moments at time t for ∂ρ = div(ρ k x) + κ_eff Δρ.
    fn ou_moments(mean0: f64, var0: f64, k: f64, kappa_eff: f64, t: f64) -> (f64, f64) {
        let var_inf = kappa_eff / k;
        (mean0 * (-k * t).exp(), var_inf + (var0 - var_inf) * (-2.0 * k * t).exp())
    }

    #[test]
    fn fokker_planck_jko_matches_gaussian_closed_forms() {
        // f = ⟨V, p⟩ + κ Σ p log p with V = (k/2)|θ|²: the JKO flow is OU with diffusion
        // κ_eff = κ + ε/(2τ) in time t = steps·τ/2. Refine grid, τ and ε together (ε/τ fixed,
        // so κ_eff is fixed) and check (a) the discrete step against the exact entropic
        // Gaussian step (grid error only), (b) the convergence to the OU flow (time error).
        let (k, kappa, t_final, start, std0) = (1.0, 0.02, 0.5, (0.6, -0.4), 0.25);
        let mut previous_ou_error = f64::INFINITY;
        for (n, tau) in [(41, 0.2), (81, 0.1), (161, 0.05)] {
            let eps = 0.1 * tau;
            let grid = Grid2d::new(n, n, 2.5).unwrap();
            let kernel = GibbsKernel::new(&grid, eps).unwrap();
            let f = LinearEntropy::quadratic(&grid, 1, k, (0.0, 0.0), kappa).unwrap();
            let p0 = gaussian_density(&grid, start, std0, 1.0).unwrap().insert_axis(Axis(0));
            let steps = (2.0 * t_final / tau).round() as usize;
            let opts = JkoOptions { tau, tol: 1e-10, max_iter: 20_000 };
            let p = jko_flow(&kernel, &f, p0.view(), steps, &opts, false, |_, _| {}).unwrap();
            let got = moments(&grid, &p);
            let init = moments(&grid, &p0);
            let (mut exact_err, mut ou_err) = (0.0f64, 0.0f64);
            for axis in 0..2 {
                let (mut m, mut v) = (init[axis], init[axis + 2]);
                for _ in 0..steps {
                    (m, v) = gaussian_entropic_jko_step(m, v, tau, eps, k, kappa);
                }
                let (m_ou, v_ou) = ou_moments(init[axis], init[axis + 2], k, kappa + eps / (2.0 * tau), t_final);
                exact_err = exact_err.max((got[axis] - m).abs()).max((got[axis + 2] - v).abs());
                ou_err = ou_err.max((got[axis] - m_ou).abs()).max((got[axis + 2] - v_ou).abs());
            }
            eprintln!("n {n} tau {tau} eps {eps}: vs entropic Gaussian step {exact_err:.2e}, vs OU {ou_err:.2e}");
            assert!(exact_err < 1e-4, "grid JKO vs exact Gaussian entropic JKO: {exact_err}");
            assert!(ou_err < 0.6 * previous_ou_error, "OU error {ou_err} after {previous_ou_error}");
            previous_ou_error = ou_err;
        }
        assert!(previous_ou_error < 0.01);
    }
}
