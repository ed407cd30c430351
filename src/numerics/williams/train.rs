//! Full-batch gradient descent z ← z − η ∇L(z) on the Williams model (one step = one "epoch"),
//! through the crate's generic `descent::gradient_descent_step`, and the step size from the
//! neural tangent kernel at the start.

use super::linalg::symmetric_eigen;
use super::net::{Neurons, Trained, WilliamsProblem};
use crate::numerics::descent::gradient_descent_step;
use crate::numerics::error::{NumResult, NumericsError};
use crate::numerics::objective::Objective;

/// The end of a GD run: final neurons and L(z_0), …, L(z_steps) (steps + 1 values).
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOutcome {
    pub neurons: Neurons,
    pub losses: Vec<f64>,
}

/// `steps` GD steps of size η from `start`. `observe(k, z_k)` sees the row-major parameters
/// (a_1, b_1, c_1, …) before step k and after the last one (k = steps), for snapshots of the
/// network function, knots or particle trajectories. Errors on η ≤ 0 or divergence (naming the step).
pub fn train<F: FnMut(usize, &[f64])>(
    problem: &WilliamsProblem,
    start: &Neurons,
    eta: f64,
    steps: usize,
    mut observe: F,
) -> NumResult<TrainOutcome> {
    start.check()?;
    let mut z = start.to_flat();
    problem.check_parameters(&z)?;
    if !(eta > 0.0 && eta.is_finite()) {
        return Err(NumericsError::InvalidParameter(format!(
            "GD step size η = {eta}; choose η > 0 (e.g. ntk_step_size)"
        )));
    }
    let mut grad = vec![0.0; z.len()];
    let mut ws = problem.workspace();
    let mut losses = Vec::with_capacity(steps + 1);
    for step in 0..steps {
        observe(step, &z);
        losses.push(gradient_descent_step(problem, &mut z, eta, &mut grad, &mut ws, step)?);
    }
    observe(steps, &z);
    let last = problem.value(&z, &mut ws);
    if !last.is_finite() {
        return Err(NumericsError::InvalidParameter(format!(
            "loss is {last} after {steps} GD steps: η = {eta} too large"
        )));
    }
    losses.push(last);
    Ok(TrainOutcome { neurons: Neurons::from_flat(&z)?, losses })
}

/// The empirical tangent kernel at the samples, Θ_jk = Σ ∂f(x_j)/∂z ∂f(x_k)/∂z over the trained
/// coordinates (eq. (27)): (1/α²) Σ_i relu_ij relu_ik (c trained) + ((x_j x_k + 1)/α²) Σ_i c_i²
/// 1_ij 1_ik (a, b trained). Row-major s × s. Θ = J Jᵀ, J the s × 3m Jacobian of the outputs.
pub fn ntk_gram(problem: &WilliamsProblem, neurons: &Neurons) -> NumResult<Vec<f64>> {
    problem.check_parameters(&neurons.to_flat())?;
    let x = problem.inputs();
    let s = x.len();
    let trained = problem.trained();
    let scale2 = problem.inv_alpha().powi(2);
    let mut gram = vec![0.0; s * s];
    let mut pre = vec![0.0; s];
    for i in 0..neurons.m() {
        pre.iter_mut().zip(x).for_each(|(p, &xj)| *p = neurons.a[i] * xj - neurons.b[i]);
        let c2 = neurons.c[i] * neurons.c[i];
        for j in 0..s {
            for k in 0..s {
                let mut term = 0.0;
                if trained != Trained::InputOnly {
                    term += pre[j].max(0.0) * pre[k].max(0.0);
                }
                if trained != Trained::OutputOnly && pre[j] > 0.0 && pre[k] > 0.0 {
                    term += c2 * (x[j] * x[k] + 1.0);
                }
                gram[j * s + k] += scale2 * term;
            }
        }
    }
    Ok(gram)
}

/// η = fraction / λ_max(Θ): GD on ½‖f − y‖² is stable near a minimum for η < 2/λ_max of the
/// Gauss–Newton matrix JᵀJ, whose non-zero spectrum is Θ's. docs/METHODS.md E7 proposes fraction 0.5.
pub fn ntk_step_size(problem: &WilliamsProblem, neurons: &Neurons, fraction: f64) -> NumResult<f64> {
    let gram = ntk_gram(problem, neurons)?;
    let (values, _) = symmetric_eigen(&gram, problem.inputs().len())?;
    let top = values.last().copied().unwrap_or(0.0);
    if !(top > 0.0 && fraction > 0.0 && fraction.is_finite()) {
        return Err(NumericsError::InvalidParameter(format!(
            "tangent kernel λ_max = {top} with fraction {fraction}: no neuron is active on the data, or fraction ≤ 0"
        )));
    }
    Ok(fraction / top)
}
