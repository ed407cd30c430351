//! Plain gradient descent W ← W − λ ∇F(W) (METHODS.md §1 "GD").

use ndarray::{Array2, ArrayView2};

use super::error::{check_finite, IterationPoint, NumResult, NumericsError};
use super::model::flat;
use super::objective::Objective;

/// Iterates W⁰ … W^T (T + 1 matrices) and losses F(W⁰) … F(W^T).
#[derive(Debug, Clone, PartialEq)]
pub struct GdPath {
    pub iterates: Vec<Array2<f64>>,
    pub losses: Vec<f64>,
}

/// One step in place on a row-major slice: returns F(W) before the step. `grad` and `ws` are
/// reused scratch. Errors on a non-finite loss or position, naming `step`.
pub fn gradient_descent_step<O: Objective>(
    objective: &O,
    w: &mut [f64],
    lambda: f64,
    grad: &mut [f64],
    ws: &mut O::Workspace,
    step: usize,
) -> NumResult<f64> {
    let at = IterationPoint { outer_step: step, inner_iteration: 0 };
    let loss = objective.value_and_gradient(w, grad, ws);
    check_finite(loss, "loss", at)?;
    for (wi, gi) in w.iter_mut().zip(grad.iter()) {
        *wi -= lambda * gi;
    }
    if w.iter().any(|x| !x.is_finite()) {
        return Err(NumericsError::NonFinite { at, what: "position" });
    }
    Ok(loss)
}

/// `steps` GD steps from `w0` (m × d) with learning rate λ > 0.
pub fn gradient_descent<O: Objective>(
    objective: &O,
    w0: ArrayView2<f64>,
    lambda: f64,
    steps: usize,
) -> NumResult<GdPath> {
    let (m, d) = (objective.num_particles(), objective.particle_dim());
    check_particles(objective, w0)?;
    if !(lambda > 0.0 && lambda.is_finite()) {
        return Err(NumericsError::InvalidParameter(format!("λ = {lambda}")));
    }
    let mut w = flat(w0);
    let mut grad = vec![0.0; m * d];
    let mut ws = objective.workspace();
    let mut path = GdPath { iterates: vec![w0.to_owned()], losses: Vec::with_capacity(steps + 1) };
    for step in 0..steps {
        let loss = gradient_descent_step(objective, &mut w, lambda, &mut grad, &mut ws, step)?;
        path.losses.push(loss);
        path.iterates.push(to_matrix(&w, m, d)?);
    }
    let final_loss = objective.value(&w, &mut ws);
    let at = IterationPoint { outer_step: steps, inner_iteration: 0 };
    check_finite(final_loss, "loss", at)?;
    path.losses.push(final_loss);
    Ok(path)
}

/// Error unless `w` is m × d for this objective.
pub fn check_particles<O: Objective>(objective: &O, w: ArrayView2<f64>) -> NumResult<()> {
    let expected = (objective.num_particles(), objective.particle_dim());
    if w.dim() != expected || expected.0 == 0 || expected.1 == 0 {
        return Err(NumericsError::Shape(format!("particles {:?}, objective expects {expected:?}", w.dim())));
    }
    Ok(())
}

/// m × d matrix from a row-major slice.
pub fn to_matrix(w: &[f64], m: usize, d: usize) -> NumResult<Array2<f64>> {
    Array2::from_shape_vec((m, d), w.to_vec()).map_err(|e| NumericsError::Shape(e.to_string()))
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use super::*;
    use crate::numerics::model::{Data, LossNorm, ReluNet, ReluProblem, Scaling};

    #[test]
    fn three_point_example_through_gradient_descent() {
        // METHODS.md E2 via the generic GD driver: W¹ = (8, 7/3), losses recorded before each step.
        let data = Data::new(array![[1.0, 1.0], [2.0, 1.0], [4.0, 1.0]], array![2.0, 4.0, 8.0]);
        let net = ReluNet { alpha: vec![1.0], scaling: Scaling::Sum, loss_norm: LossNorm::HalfMse };
        let problem = ReluProblem::new(&net, &data).expect("problem");
        let path = gradient_descent(&problem, array![[1.0, 0.0]].view(), 1.0, 2).expect("GD");
        assert_eq!(path.iterates.len(), 3);
        assert_eq!(path.losses.len(), 3);
        assert!((path.iterates[1][(0, 0)] - 8.0).abs() < 1e-12);
        assert!((path.iterates[1][(0, 1)] - 7.0 / 3.0).abs() < 1e-12);
        assert!((path.losses[0] - 21.0 / 6.0).abs() < 1e-12);
        assert!(gradient_descent(&problem, array![[1.0, 0.0]].view(), -1.0, 1).is_err());
        assert!(gradient_descent(&problem, array![[1.0, 0.0, 0.0]].view(), 1.0, 1).is_err());
    }

    #[test]
    fn gradient_descent_divergence_is_an_error() {
        // λ = 3 on ½(x − 4)²: the error is multiplied by −2 per step; the loss ½e² overflows at
        // step 511. (ReLU nets rarely overflow: too large a step kills the neurons instead.)
        use crate::numerics::two_point::{two_point_start, TwoPointObjective};
        match gradient_descent(&TwoPointObjective, two_point_start().view(), 3.0, 10_000) {
            Err(NumericsError::NonFinite { at, .. }) => assert_eq!(at.outer_step, 511, "{at:?}"),
            other => panic!("expected divergence, got {:?}", other.map(|p| p.losses.len())),
        }
    }
}
