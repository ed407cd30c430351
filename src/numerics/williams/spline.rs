//! The kernel-regime limit of Fig. 4: the natural cubic spline through the data (Thm 5, Cor 6)
//! and the minimum-norm output weights that c-only GD from c = 0 converges to (eq. (22)).

use super::linalg::{symmetric_eigen, tridiagonal_solve};
use super::net::{Neurons, Normalisation};
use crate::numerics::error::{NumResult, NumericsError};

/// The C² piecewise cubic interpolating (x_j, y_j) with prescribed second derivatives at the two
/// ends (natural: both 0), stored by its second derivatives M_j at the samples.
#[derive(Debug, Clone, PartialEq)]
pub struct CubicSpline {
    x: Vec<f64>,
    y: Vec<f64>,
    curvature: Vec<f64>,
}

impl CubicSpline {
    /// The natural cubic spline (S'' = 0 at both ends): the interpolant minimising ∫ S''².
    pub fn natural(x: &[f64], y: &[f64]) -> NumResult<CubicSpline> {
        CubicSpline::with_end_curvatures(x, y, 0.0, 0.0)
    }

    /// S'' = `left` at x_1 and `right` at x_s. Standard tridiagonal system for the interior M_j:
    /// h_{j−1} M_{j−1} + 2(h_{j−1} + h_j) M_j + h_j M_{j+1} = 6(Δ_j − Δ_{j−1}), Δ_j = (y_{j+1} − y_j)/h_j.
    pub fn with_end_curvatures(x: &[f64], y: &[f64], left: f64, right: f64) -> NumResult<CubicSpline> {
        let n = x.len();
        if n < 2 || y.len() != n {
            return Err(NumericsError::Shape(format!(
                "spline needs ≥ 2 samples with one label each, got {n} and {}",
                y.len()
            )));
        }
        if x.windows(2).any(|w| w[1].partial_cmp(&w[0]) != Some(std::cmp::Ordering::Greater))
            || x.iter().chain(y).chain([&left, &right]).any(|v| !v.is_finite())
        {
            return Err(NumericsError::InvalidParameter(
                "spline samples must be finite and strictly increasing in x".into(),
            ));
        }
        let h: Vec<f64> = x.windows(2).map(|w| w[1] - w[0]).collect();
        let slope: Vec<f64> = (0..n - 1).map(|j| (y[j + 1] - y[j]) / h[j]).collect();
        let mut curvature = vec![0.0; n];
        curvature[0] = left;
        curvature[n - 1] = right;
        if n > 2 {
            let k = n - 2;
            let lower: Vec<f64> = (1..=k).map(|j| h[j - 1]).collect();
            let diag: Vec<f64> = (1..=k).map(|j| 2.0 * (h[j - 1] + h[j])).collect();
            let upper: Vec<f64> = (1..=k).map(|j| h[j]).collect();
            let mut rhs: Vec<f64> = (1..=k).map(|j| 6.0 * (slope[j] - slope[j - 1])).collect();
            rhs[0] -= h[0] * left;
            rhs[k - 1] -= h[n - 2] * right;
            curvature[1..=k].copy_from_slice(&tridiagonal_solve(&lower, &diag, &upper, &rhs)?);
        }
        Ok(CubicSpline { x: x.to_vec(), y: y.to_vec(), curvature })
    }

    /// S'' at the samples.
    pub fn curvatures(&self) -> &[f64] {
        &self.curvature
    }

    /// S(t); outside [x_1, x_s] the tangent line at the nearer end (for the natural spline the
    /// continuation that keeps ∫ S''² minimal on all of R).
    pub fn evaluate(&self, t: f64) -> f64 {
        let (x, y, m, n) = (&self.x, &self.y, &self.curvature, self.x.len());
        if t < x[0] {
            let h = x[1] - x[0];
            let slope = (y[1] - y[0]) / h - h * (2.0 * m[0] + m[1]) / 6.0;
            return y[0] + slope * (t - x[0]);
        }
        if t > x[n - 1] {
            let h = x[n - 1] - x[n - 2];
            let slope = (y[n - 1] - y[n - 2]) / h + h * (m[n - 2] + 2.0 * m[n - 1]) / 6.0;
            return y[n - 1] + slope * (t - x[n - 1]);
        }
        let j = x.partition_point(|&xj| xj <= t).clamp(1, n - 1) - 1;
        let h = x[j + 1] - x[j];
        let (left, right) = (x[j + 1] - t, t - x[j]);
        m[j] * left.powi(3) / (6.0 * h)
            + m[j + 1] * right.powi(3) / (6.0 * h)
            + (y[j] / h - m[j] * h / 6.0) * left
            + (y[j + 1] / h - m[j + 1] * h / 6.0) * right
    }
}

/// The minimum-norm c with f_z(x_j) = y_j for frozen (a, b) (eq. (22)), or the least-squares c of
/// minimum norm if interpolation is impossible: c = Φᵀ G⁺ y with Φ_ji = relu(a_i x_j − b_i)/α,
/// G = Φ Φᵀ (s × s), G⁺ from its eigen-decomposition dropping eigenvalues below 1e-13 λ_max. This
/// is the limit of c-only GD from c = 0 (δ = −∞), whose iterates stay in the row space of Φ.
/// Returns the network with these output weights and the same (a, b).
pub fn min_norm_output_fit(
    neurons: &Neurons,
    normalisation: Normalisation,
    x: &[f64],
    y: &[f64],
) -> NumResult<Neurons> {
    neurons.check()?;
    let (s, m) = (x.len(), neurons.m());
    if s == 0 || y.len() != s || x.iter().chain(y).any(|v| !v.is_finite()) {
        return Err(NumericsError::Shape(format!(
            "min-norm fit needs finite samples, {s} inputs and {} labels",
            y.len()
        )));
    }
    let scale = 1.0 / normalisation.alpha(m);
    let phi: Vec<f64> =
        x.iter().flat_map(|&xj| (0..m).map(move |i| scale * (neurons.a[i] * xj - neurons.b[i]).max(0.0))).collect();
    let mut gram = vec![0.0; s * s];
    for j in 0..s {
        for k in 0..=j {
            let g: f64 = phi[j * m..(j + 1) * m].iter().zip(&phi[k * m..(k + 1) * m]).map(|(p, q)| p * q).sum();
            gram[j * s + k] = g;
            gram[k * s + j] = g;
        }
    }
    let (values, vectors) = symmetric_eigen(&gram, s)?;
    let top = values.last().copied().unwrap_or(0.0);
    let mut dual = vec![0.0; s];
    for (k, &lambda) in values.iter().enumerate() {
        if lambda > 1e-13 * top && lambda > 0.0 {
            let coeff = (0..s).map(|j| vectors[j * s + k] * y[j]).sum::<f64>() / lambda;
            dual.iter_mut().enumerate().for_each(|(j, d)| *d += coeff * vectors[j * s + k]);
        }
    }
    let c = (0..m).map(|i| (0..s).map(|j| phi[j * m + i] * dual[j]).sum()).collect();
    Ok(Neurons { a: neurons.a.clone(), b: neurons.b.clone(), c })
}
