//! METHODS.md E1 (seed 001 §1): two 1-D particles (x, y), f(x, y) = ½(x − 4)², start (0, 1),
//! d((x, y), (x', y')) = (x − x')² + (y − y')² — a *summed* distance (no 1/m), i.e.
//! `DistanceNorm::Sum`, so κ = 1/γ (with METHODS.md's 1/m it would be γ_E1 = γ / m).
//! Numerical paths use the generic prox solver; the closed forms below are derived by hand.

use ndarray::{array, Array2};

use super::assignment::DistanceNorm;
use super::error::NumResult;
use super::objective::Objective;
use super::prox::{
    prox_path, wasserstein_prox_path_global, GlobalProxPath, InnerStopping, ProxConfig, ProxDistance, ProxPath,
};

/// The label the active particle x is fitted to.
pub const TWO_POINT_TARGET: f64 = 4.0;

/// γ above which the *local* (inner GD) Wasserstein prox swaps at the first step.
pub const LOCAL_SWAP_THRESHOLD: f64 = 1.0 / 3.0;

/// f(x, y) = ½(x − 4)² on particles [x, y] (m = 2, d = 1).
#[derive(Debug, Clone, Copy, Default)]
pub struct TwoPointObjective;

impl Objective for TwoPointObjective {
    type Workspace = ();

    fn num_particles(&self) -> usize {
        2
    }

    fn particle_dim(&self) -> usize {
        1
    }

    fn workspace(&self) {}

    fn value(&self, w: &[f64], _ws: &mut ()) -> f64 {
        // A slice shorter than the contract's m·d = 2 gives NaN rather than a panic.
        let e = w.first().copied().unwrap_or(f64::NAN) - TWO_POINT_TARGET;
        0.5 * e * e
    }

    fn value_and_gradient(&self, w: &[f64], grad: &mut [f64], ws: &mut ()) -> f64 {
        let e = w.first().copied().unwrap_or(f64::NAN) - TWO_POINT_TARGET;
        for (k, g) in grad.iter_mut().enumerate() {
            *g = if k == 0 { e } else { 0.0 };
        }
        self.value(w, ws)
    }

    fn lipschitz_bound(&self) -> f64 {
        1.0
    }
}

/// (x⁰, y⁰) = (0, 1) as a 2 × 1 particle matrix.
pub fn two_point_start() -> Array2<f64> {
    array![[0.0], [1.0]]
}

/// Prox configuration for E1: summed distance, inner GD to residual `tol` (≤ 10^7 updates).
pub fn two_point_config(gamma: f64, distance: ProxDistance, tol: f64) -> ProxConfig {
    ProxConfig {
        distance_norm: DistanceNorm::Sum,
        stopping: InnerStopping::Residual { tol, max_iterations: 10_000_000 },
        ..ProxConfig::new(gamma, distance)
    }
}

/// The three E1 paths for one γ, each with `steps` prox steps from (0, 1).
#[derive(Debug, Clone, PartialEq)]
pub struct TwoPointPaths {
    pub gamma: f64,
    pub frobenius: ProxPath,
    pub wasserstein_local: ProxPath,
    pub wasserstein_global: GlobalProxPath,
}

/// Computes the Frobenius, local-Wasserstein and global-Wasserstein paths numerically.
pub fn two_point_paths(gamma: f64, steps: usize, tol: f64) -> NumResult<TwoPointPaths> {
    let start = two_point_start();
    let frob = two_point_config(gamma, ProxDistance::Frobenius, tol);
    let wass = two_point_config(gamma, ProxDistance::Wasserstein, tol);
    Ok(TwoPointPaths {
        gamma,
        frobenius: prox_path(&TwoPointObjective, start.view(), frob, steps)?,
        wasserstein_local: prox_path(&TwoPointObjective, start.view(), wass, steps)?,
        wasserstein_global: wasserstein_prox_path_global(&TwoPointObjective, start.view(), wass, steps)?,
    })
}

/// (x, y) of each iterate.
pub fn points(iterates: &[Array2<f64>]) -> Vec<(f64, f64)> {
    let at = |w: &Array2<f64>, i| w.get((i, 0)).copied().unwrap_or(f64::NAN);
    iterates.iter().map(|w| (at(w, 0), at(w, 1))).collect()
}

/// Frobenius prox minimiser from (x, y): x pulled to 4 with weight 1, to x with weight 1/γ.
pub fn frobenius_step(gamma: f64, (x, y): (f64, f64)) -> (f64, f64) {
    ((TWO_POINT_TARGET * gamma + x) / (1.0 + gamma), y)
}

/// Frobenius iterate t from (0, 1): x^t = 4 − 4 (1 + γ)^{−t}, y^t = 1.
pub fn frobenius_closed_form(gamma: f64, t: u32) -> (f64, f64) {
    let x0 = 0.0;
    let shrink = (1.0 + gamma).powi(-(t as i32));
    (TWO_POINT_TARGET + (x0 - TWO_POINT_TARGET) * shrink, 1.0)
}

/// Swapped-assignment prox minimiser from (x, y): x pulled to y's old place, y to x's.
fn swapped_step(gamma: f64, (x, y): (f64, f64)) -> (f64, f64) {
    ((TWO_POINT_TARGET * gamma + y) / (1.0 + gamma), x)
}

/// Local (inner GD from W^t) Wasserstein step. Under the identity y stays put and x moves
/// monotonically towards the Frobenius minimiser x_F; the assignment swaps iff x crosses y
/// (strictly), after which x is pulled to y's old place and y to x's: the swapped minimiser.
pub fn wasserstein_local_step(gamma: f64, (x, y): (f64, f64)) -> (f64, f64) {
    let (x_f, _) = frobenius_step(gamma, (x, y));
    let crosses = (x - y) * (x_f - y) < 0.0;
    if crosses {
        swapped_step(gamma, (x, y))
    } else {
        (x_f, y)
    }
}

/// First local step from (0, 1): Frobenius for γ < 1/3, ((1 + 4γ)/(1 + γ), 0) = (1 + 3/(1 +
/// 1/γ), 0) for γ > 1/3 (seed eq. (9)).
pub fn wasserstein_local_first_step(gamma: f64) -> (f64, f64) {
    wasserstein_local_step(gamma, (0.0, 1.0))
}

/// Global Wasserstein step: the identity piece has value (4 − x)²/(2(1 + γ)), the swapped
/// piece (4 − y)²/(2(1 + γ)); the smaller wins (identity on ties).
pub fn wasserstein_global_step(gamma: f64, (x, y): (f64, f64)) -> (f64, f64) {
    if (TWO_POINT_TARGET - y).abs() < (TWO_POINT_TARGET - x).abs() {
        swapped_step(gamma, (x, y))
    } else {
        frobenius_step(gamma, (x, y))
    }
}

/// First step t ≥ 1 at which the local Wasserstein recurrence from (0, 1) swaps, in closed form: x follows the
/// Frobenius path x^t = 4 − 4 (1 + γ)^{−t} below y = 1 and swaps at the first t with x_F^t > 1, i.e.
/// (1 + γ)^t > 4/3: t = ⌊ln(4/3) / ln(1 + γ)⌋ + 1 (1 for γ > 1/3). Off the measure-zero set of γ where
/// ln(4/3)/ln(1 + γ) is an integer (there x^t = 1 = y exactly, no strict crossing and no swap).
pub fn local_swap_step(gamma: f64) -> u32 {
    let ratio = (4.0f64 / 3.0).ln() / gamma.ln_1p();
    ratio.floor() as u32 + 1
}

/// The limit (x∞, y∞) of each method's recurrence from (0, 1) (METHODS.md E1, "limits"). Every point (4, y) is a
/// fixed point of all three recurrences, so the limit is fixed by where y sits after the last swap:
/// Frobenius never swaps, (4, 1); global swaps at step 1 only (after it |4 − y| = 4 > |4 − x|), (4, 0); local swaps
/// once at step s = [`local_swap_step`], freezing y at the Frobenius iterate x^{s−1} = 4 − 4 (1 + γ)^{−(s−1)} < 1,
/// after which x > 1 > y never crosses y again.
pub fn two_point_limit(method: TwoPointMethod, gamma: f64) -> (f64, f64) {
    match method {
        TwoPointMethod::Frobenius => (TWO_POINT_TARGET, 1.0),
        TwoPointMethod::WassersteinGlobal => (TWO_POINT_TARGET, 0.0),
        TwoPointMethod::WassersteinLocal => {
            (TWO_POINT_TARGET, frobenius_closed_form(gamma, local_swap_step(gamma) - 1).0)
        }
    }
}

/// The three E1 prox methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoPointMethod {
    Frobenius,
    WassersteinLocal,
    WassersteinGlobal,
}

impl TwoPointMethod {
    pub const ALL: [TwoPointMethod; 3] =
        [TwoPointMethod::Frobenius, TwoPointMethod::WassersteinLocal, TwoPointMethod::WassersteinGlobal];

    /// The table label.
    pub fn label(self) -> &'static str {
        match self {
            TwoPointMethod::Frobenius => "frobenius",
            TwoPointMethod::WassersteinLocal => "wasserstein_local",
            TwoPointMethod::WassersteinGlobal => "wasserstein_global",
        }
    }

    /// The closed-form step rule of the method.
    pub fn step_rule(self) -> fn(f64, (f64, f64)) -> (f64, f64) {
        match self {
            TwoPointMethod::Frobenius => frobenius_step,
            TwoPointMethod::WassersteinLocal => wasserstein_local_step,
            TwoPointMethod::WassersteinGlobal => wasserstein_global_step,
        }
    }

    /// The closed-form first swap step from (0, 1): none (0) for Frobenius, 1 for global.
    pub fn swap_step(self, gamma: f64) -> u32 {
        match self {
            TwoPointMethod::Frobenius => 0,
            TwoPointMethod::WassersteinLocal => local_swap_step(gamma),
            TwoPointMethod::WassersteinGlobal => 1,
        }
    }
}

/// Iterates 0..=steps of a step rule from (0, 1).
pub fn closed_form_path(step: fn(f64, (f64, f64)) -> (f64, f64), gamma: f64, steps: usize) -> Vec<(f64, f64)> {
    let mut path = vec![(0.0, 1.0)];
    for t in 0..steps {
        path.push(step(gamma, path[t]));
    }
    path
}

#[cfg(test)]
mod tests;
