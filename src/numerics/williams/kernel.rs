//! Kernels of the lazy regime (Sec. 3.3): the Gaussian random-features kernel in closed form and
//! the empirical tangent-kernel terms of eq. (27) for one network (Fig. 3 slices).

use super::net::{Neurons, Normalisation};
use crate::numerics::error::NumResult;

/// K_RF(x, x') = E[relu(a x − b) relu(a x' − b)] for (a, b) ~ N(0, I₂): the degree-1 arc-cosine
/// kernel of the vectors (x, 1), (x', 1), whose angle is |atan x − atan x'|:
/// (1/2π) (|x − x'| + (π − |atan x − atan x'|)(1 + x x')). (The paper's eq. (26) as printed does
/// not match Monte Carlo off the diagonal; docs/METHODS.md E7 A.0.)
pub fn gaussian_rf_kernel(x: f64, x_prime: f64) -> f64 {
    let angle = (x.atan() - x_prime.atan()).abs();
    ((x - x_prime).abs() + (std::f64::consts::PI - angle) * (1.0 + x * x_prime)) / (2.0 * std::f64::consts::PI)
}

/// The terms of the empirical tangent kernel Θ(x, x') of eq. (27) at one x': `rf` =
/// (1/α²) Σ relu(a_i x − b_i) relu(a_i x' − b_i) (from c), `bias` = (1/α²) Σ c_i² 1[a_i x > b_i]
/// 1[a_i x' > b_i] (from b) and `slope` = x x' · bias (from a); Θ = rf + bias + slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TangentKernelTerms {
    pub rf: f64,
    pub bias: f64,
    pub slope: f64,
}

/// Θ's terms at (x, x') for every x' of `xs_prime` (Fig. 3: x = 0.5, m = 25000).
pub fn tangent_kernel_terms(
    neurons: &Neurons,
    normalisation: Normalisation,
    x: f64,
    xs_prime: &[f64],
) -> NumResult<Vec<TangentKernelTerms>> {
    neurons.check()?;
    let scale2 = normalisation.alpha(neurons.m()).powi(-2);
    let at_x: Vec<f64> = (0..neurons.m()).map(|i| neurons.a[i] * x - neurons.b[i]).collect();
    let terms = xs_prime
        .iter()
        .map(|&xp| {
            let (mut rf, mut bias) = (0.0, 0.0);
            for (i, &p) in at_x.iter().enumerate() {
                let q = neurons.a[i] * xp - neurons.b[i];
                rf += p.max(0.0) * q.max(0.0);
                if p > 0.0 && q > 0.0 {
                    bias += neurons.c[i] * neurons.c[i];
                }
            }
            TangentKernelTerms { rf: scale2 * rf, bias: scale2 * bias, slope: x * xp * scale2 * bias }
        })
        .collect();
    Ok(terms)
}
