//! Initialisations (docs/METHODS.md E7 A.0, App. D) and the per-neuron rescaling that sets δ.
//! Seeded ChaCha8 streams, as `model::gaussian_init`: bit-reproducible per seed. Draws are
//! interleaved per neuron (a_i, b_i, c_i), so the first k neurons of a wider network have the
//! same (a, b) as a width-k network with the same seed.

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::net::{Neurons, Trained};
use crate::numerics::error::{NumResult, NumericsError};

/// Law of the first-layer weights (a_i, b_i), i.i.d. per neuron.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureLaw {
    /// a, b ~ U(−1, 1): the kernel-limit fit is a natural cubic spline on [−1, 1] (Thm 5, Cor 6).
    Uniform,
    /// a, b ~ N(0, 1): arc-cosine kernel, not a spline.
    Gaussian,
}

/// (a_i, b_i) from `law`, c_i ~ U(−c_bound, c_bound) (c_bound = 0: c = 0 exactly).
pub fn init_neurons(m: usize, law: FeatureLaw, c_bound: f64, seed: u64) -> NumResult<Neurons> {
    if m == 0 || !(c_bound >= 0.0 && c_bound.is_finite()) {
        return Err(NumericsError::InvalidParameter(format!(
            "init needs m ≥ 1 and a finite c bound ≥ 0, got m = {m}, {c_bound}"
        )));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut neurons = Neurons { a: Vec::with_capacity(m), b: Vec::with_capacity(m), c: Vec::with_capacity(m) };
    for _ in 0..m {
        let (a, b) = match law {
            FeatureLaw::Uniform => (rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)),
            FeatureLaw::Gaussian => (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng)),
        };
        let u: f64 = rng.random_range(-1.0..1.0);
        neurons.a.push(a);
        neurons.b.push(b);
        neurons.c.push(c_bound * u);
    }
    Ok(neurons)
}

/// The paper's "PyTorch default" (App. D): a, b ~ U(−1, 1), c ~ U(−1/m, 1/m). (torch.nn.Linear
/// itself draws the output layer from U(−1/√m, 1/√m) and adds a bias; the paper's law is kept.)
/// E[δ_i] = E[c²] − 2/3 = 1/(3m²) − 2/3.
pub fn pytorch_init(m: usize, seed: u64) -> NumResult<Neurons> {
    init_neurons(m, FeatureLaw::Uniform, 1.0 / m.max(1) as f64, seed)
}

/// The positive root of t² − δ t − P² = 0, t = c'², written without cancellation for δ < 0.
pub(crate) fn output_weight_squared(delta: f64, p: f64) -> f64 {
    let root = delta.hypot(2.0 * p);
    if delta >= 0.0 {
        0.5 * (delta + root)
    } else {
        2.0 * p * p / (root - delta)
    }
}

/// Rescales every neuron (a, b, c) → (k a, k b, c/k), k > 0, which leaves f_z unchanged, so that
/// c'² − a'² − b'² = δ: with P = |c| √(a² + b²) (invariant), c'² is the positive root of
/// t² − δ t − P² = 0 and k = |c| / |c'| (docs/METHODS.md E7 A.0). Error for a neuron with P = 0
/// (c = 0 or a = b = 0): the rescaling cannot change its δ's sign, so no k reaches every δ.
pub fn set_delta(neurons: &Neurons, delta: f64) -> NumResult<Neurons> {
    neurons.check()?;
    if !delta.is_finite() {
        return Err(NumericsError::InvalidParameter(format!(
            "set_delta needs a finite δ, got {delta} (use prepare for ±∞)"
        )));
    }
    let mut out = neurons.clone();
    for i in 0..neurons.m() {
        let (a, b, c) = (neurons.a[i], neurons.b[i], neurons.c[i]);
        let p = c.abs() * a.hypot(b);
        if p == 0.0 || !p.is_finite() {
            return Err(NumericsError::InvalidParameter(format!(
                "neuron {i} has c·|(a, b)| = {p}: rescaling cannot set δ = {delta}; initialise c ≠ 0 and (a, b) ≠ 0"
            )));
        }
        let c_new = output_weight_squared(delta, p).sqrt();
        let k = c.abs() / c_new;
        out.a[i] = k * a;
        out.b[i] = k * b;
        out.c[i] = c.signum() * c_new;
    }
    Ok(out)
}

/// The network and trained parameters for a δ setting: δ = −∞ trains c only (a, b frozen),
/// δ = +∞ trains a, b only (c frozen), both from `neurons` unchanged; a finite δ rescales every
/// neuron to δ_i = δ ([`set_delta`]) and trains all of a, b, c.
pub fn prepare(neurons: &Neurons, delta: f64) -> NumResult<(Neurons, Trained)> {
    neurons.check()?;
    if delta == f64::NEG_INFINITY {
        Ok((neurons.clone(), Trained::OutputOnly))
    } else if delta == f64::INFINITY {
        Ok((neurons.clone(), Trained::InputOnly))
    } else {
        Ok((set_delta(neurons, delta)?, Trained::All))
    }
}
