//! Readings of the particle picture: the knot-clustering score (Figs 5, 6, 8), the local
//! trajectories as δ varies (Fig. 2, α = m) and the direction field felt by a particle with its
//! attractor / repulsor sample lines (Fig. 9, App. D.1).

use super::init::output_weight_squared;
use super::net::Neurons;
use crate::numerics::error::{NumResult, NumericsError};

/// Fraction of the neurons that moved (|r_i| changed by more than `min_change` relative, r_i ∝
/// c_i √(a_i² + b_i²)) whose final knot lies within `radius` of a sample: docs/METHODS.md E7 A.5 uses
/// radius 0.02 and min_change 0.01. None if no neuron moved. Neurons with a_i = 0 have no knot
/// and count as not clustered.
pub fn knot_clustering_score(
    before: &Neurons,
    after: &Neurons,
    samples: &[f64],
    radius: f64,
    min_change: f64,
) -> NumResult<Option<f64>> {
    before.check()?;
    after.check()?;
    if before.m() != after.m() || samples.is_empty() {
        return Err(NumericsError::Shape(format!(
            "{} vs {} neurons, {} samples",
            before.m(),
            after.m(),
            samples.len()
        )));
    }
    let size = |n: &Neurons, i: usize| (n.c[i] * n.a[i].hypot(n.b[i])).abs();
    let knots = after.knots();
    let (mut moved, mut clustered) = (0usize, 0usize);
    for (i, knot) in knots.iter().enumerate() {
        let (r0, r1) = (size(before, i), size(after, i));
        if (r1 - r0).abs() <= min_change * r0 {
            continue;
        }
        moved += 1;
        let near = knot.is_some_and(|e| samples.iter().any(|&x| (e - x).abs() < radius));
        clustered += usize::from(near);
    }
    Ok((moved > 0).then(|| clustered as f64 / moved as f64))
}

/// Tangential / radial speed ratio of a neuron in the canonical frame (eq. (21), α = m):
/// q = c² / (a² + b² + c²) = c⁴ / (r² + c⁴) with c² the positive root of c⁴ − δ c² − r² = 0.
/// Increases with δ, → 0 as δ → −∞ (radial, lazy) and → 1 as δ → +∞ (isotropic, adaptive).
pub fn speed_ratio(delta: f64, r: f64) -> f64 {
    let c2 = output_weight_squared(delta, r.abs());
    c2 * c2 / (r * r + c2 * c2)
}

/// Explicit Euler path of one particle w = (u, v) under a frozen reduced gradient g (Fig. 2,
/// α = m): dr = −(a² + b² + c²) g_r dt, dτ = −c² g_τ dt (eq. (21) with its minus sign), g_r, g_τ
/// the components of g along w/|w| and its left normal, a² + b² = r²/c², c² from (δ, r = |w|).
/// Returns the steps + 1 points; stops early (shorter path) if the particle reaches the origin.
pub fn local_trajectory(delta: f64, start: (f64, f64), gradient: (f64, f64), dt: f64, steps: usize) -> Vec<(f64, f64)> {
    let mut path = Vec::with_capacity(steps + 1);
    let (mut u, mut v) = start;
    path.push((u, v));
    for _ in 0..steps {
        let r = u.hypot(v);
        if r == 0.0 || !r.is_finite() {
            break;
        }
        let (er, et) = ((u / r, v / r), (-v / r, u / r));
        let g_r = gradient.0 * er.0 + gradient.1 * er.1;
        let g_t = gradient.0 * et.0 + gradient.1 * et.1;
        let c2 = output_weight_squared(delta, r);
        let dr = -(r * r / c2 + c2) * g_r * dt;
        let dtau = -c2 * g_t * dt;
        u += dr * er.0 + dtau * et.0;
        v += dr * er.1 + dtau * et.1;
        path.push((u, v));
    }
    path
}

/// Direction of motion of a particle at w = (u, v) with sign ε = sign(r) in the δ = +∞, α = m
/// limit, up to a positive factor: −ε Σ_{j : u x_j + v ≥ 0} ρ_j (x_j, 1), ρ_j = f(x_j) − y_j.
/// Constant inside each activation region (Fig. 9 top).
pub fn uv_velocity(u: f64, v: f64, sign: f64, samples: &[f64], residuals: &[f64]) -> (f64, f64) {
    let (mut du, mut dv) = (0.0, 0.0);
    for (&x, &rho) in samples.iter().zip(residuals) {
        if u * x + v >= 0.0 {
            du -= sign * rho * x;
            dv -= sign * rho;
        }
    }
    (du, dv)
}

/// What the field of [`uv_velocity`] does at one of the two rays of a sample line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineBehaviour {
    /// Both sides point towards the line: particles get stuck, knots settle on the sample.
    Attractor,
    /// Both sides point away from the line.
    Repulsor,
    /// The field crosses the line.
    Crossing,
}

/// Behaviour of the field at the ray t (1, −x_k), t > 0 (`positive_ray`) or t < 0, of sample line
/// k, for particles of sign ε: the normal components n·F on the side where sample k is active
/// (n = (x_k, 1)) and where it is not differ by −ε ρ_k |(x_k, 1)|²; the other samples' activity
/// is that along the ray (samples equal to x_k share the line).
/// Error if k is not a sample or the residuals do not match the samples.
pub fn sample_line_behaviour(
    samples: &[f64],
    residuals: &[f64],
    k: usize,
    sign: f64,
    positive_ray: bool,
) -> NumResult<LineBehaviour> {
    if k >= samples.len() || residuals.len() != samples.len() {
        let (s, r) = (samples.len(), residuals.len());
        return Err(NumericsError::Shape(format!("sample line {k} of {s} samples with {r} residuals")));
    }
    let xk = samples[k];
    let dir = if positive_ray { (1.0, -xk) } else { (-1.0, xk) };
    let (mut off_side, mut on_line) = (0.0, 0.0);
    for (&x, &rho) in samples.iter().zip(residuals) {
        let normal_part = -sign * rho * (x * xk + 1.0);
        if x == xk {
            on_line += normal_part;
        } else if dir.0 * x + dir.1 > 0.0 {
            off_side += normal_part;
        }
    }
    let (active_side, inactive_side) = (off_side + on_line, off_side);
    Ok(if active_side < 0.0 && inactive_side > 0.0 {
        LineBehaviour::Attractor
    } else if active_side > 0.0 && inactive_side < 0.0 {
        LineBehaviour::Repulsor
    } else {
        LineBehaviour::Crossing
    })
}

/// The paper's test (15) (Lemma 2) that sample k is an attractor or repulsor:
/// Σ_{i<k} ρ_i ρ_k ⟨x̃_i, x̃_k⟩ > −ρ_k² |x̃_k|² or Σ_{i>k} ρ_i ρ_k ⟨x̃_i, x̃_k⟩ > −ρ_k² |x̃_k|²,
/// x̃ = (x, 1), samples in increasing order. One flag per sample.
pub fn eq15_flags(samples: &[f64], residuals: &[f64]) -> Vec<bool> {
    let n = samples.len().min(residuals.len());
    (0..n)
        .map(|k| {
            let inner = |i: usize| residuals[i] * residuals[k] * (samples[i] * samples[k] + 1.0);
            let bound = -residuals[k] * residuals[k] * (samples[k] * samples[k] + 1.0);
            (0..k).map(inner).sum::<f64>() > bound || (k + 1..n).map(inner).sum::<f64>() > bound
        })
        .collect()
}
