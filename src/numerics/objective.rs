//! The problem side of the descent methods (argmin style: problem, solver state and observers
//! are separate). An objective maps m particles in R^d, stored row-major in a flat slice, to a
//! value and gradient. The hot path works on slices with a caller-owned workspace so that an
//! inner iteration allocates nothing.

/// A differentiable objective F on m particles of dimension d (row-major m × d slices).
pub trait Objective {
    /// Scratch memory reused across evaluations (allocation-free hot path).
    type Workspace;

    /// Number of particles m.
    fn num_particles(&self) -> usize;
    /// Dimension d of one particle.
    fn particle_dim(&self) -> usize;
    /// Fresh scratch memory sized for this objective.
    fn workspace(&self) -> Self::Workspace;
    /// F(w); `w.len() == m * d` (callers check shapes once, outside the hot loop).
    fn value(&self, w: &[f64], ws: &mut Self::Workspace) -> f64;
    /// F(w), writing ∇F(w) into `grad` (same layout as `w`).
    fn value_and_gradient(&self, w: &[f64], grad: &mut [f64], ws: &mut Self::Workspace) -> f64;
    /// An upper bound L̂ on the Lipschitz constant of ∇F (sets the default inner step size).
    fn lipschitz_bound(&self) -> f64;
    /// Per-particle signs (α_i) used to restrict assignments to same-sign pairs; `None` means
    /// all particles are interchangeable.
    fn particle_signs(&self) -> Option<&[f64]> {
        None
    }
    /// One fused step of the proximal inner GD, if this objective has a specialised kernel:
    /// with g = ∇F(v) + κ (v − pulled_to), writes v − β g into `next` and returns
    /// (F(v), ‖g‖²), bit-identical to `value_and_gradient` followed by the generic update.
    /// `None` (the default): no such kernel, `next` untouched.
    fn fused_prox_step(
        &self,
        _v: &[f64],
        _pulled_to: &[f64],
        _kappa: f64,
        _beta: f64,
        _next: &mut [f64],
        _ws: &mut Self::Workspace,
    ) -> Option<(f64, f64)> {
        None
    }
}
