//! E7 (docs/METHODS.md E7, Williams et al. 2019): a univariate two-layer ReLU network with trainable
//! a, b and c, f_z(x) = (1/α(m)) Σ c_i relu(a_i x − b_i), trained by full-batch GD on
//! ½ Σ (f − y)²; the per-neuron δ_i = c_i² − a_i² − b_i² and its limits ±∞; the particle picture
//! (knots, uv plane); the kernel limit (random-features kernel, natural cubic spline). Pure
//! computation like the rest of `numerics`.
//!
//! A stage's path: data (`model::Data::sine`, [`square_wave_data`]) → init ([`pytorch_init`] or
//! [`init_neurons`]) → [`prepare`] (δ finite, −∞ or +∞) → [`WilliamsProblem::new`] →
//! [`ntk_step_size`] → [`train`] with an observer → readings ([`Neurons::evaluate`],
//! [`Neurons::knots`], [`Neurons::particles`], [`Neurons::delta`], [`knot_clustering_score`], …).

mod init;
mod kernel;
mod linalg;
mod net;
mod particles;
mod spline;
mod train;

pub use init::{init_neurons, prepare, pytorch_init, set_delta, FeatureLaw};
pub use kernel::{gaussian_rf_kernel, tangent_kernel_terms, TangentKernelTerms};
pub use linalg::{symmetric_eigen, tridiagonal_solve};
pub use net::{Neurons, Normalisation, Particle, Trained, WilliamsProblem, WilliamsWorkspace};
pub use particles::{
    eq15_flags, knot_clustering_score, local_trajectory, sample_line_behaviour, speed_ratio, uv_velocity, LineBehaviour,
};
pub use spline::{min_norm_output_fit, CubicSpline};
pub use train::{ntk_gram, ntk_step_size, train, TrainOutcome};

use ndarray::{Array1, Axis};

use crate::numerics::model::Data;

/// n points equally spaced on [lo, hi] (n = 1: lo).
pub fn linspace(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    (0..n).map(|j| if n == 1 { lo } else { lo + (hi - lo) * j as f64 / (n - 1) as f64 }).collect()
}

/// Univariate samples with labels y = sign(sin(π x)) (the square wave of Figs 4, 6), as `Data`
/// with its bias column. sin(±π) rounds to ±1.2e-16, so x = ±1 get the label of their neighbours.
pub fn square_wave_data(xs: &[f64]) -> Data {
    let y = Array1::from_iter(xs.iter().map(|&x| (std::f64::consts::PI * x).sin().signum()));
    Data::from_inputs(Array1::from_vec(xs.to_vec()).insert_axis(Axis(1)).view(), y)
}

#[cfg(test)]
mod tests;
