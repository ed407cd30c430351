//! Two-layer ReLU network with a trained first layer W (m × d) and fixed second-layer signs α:
//! f(x) = c Σ_i α_i max(0, ⟨w_i, x⟩), c = 1 (Sum) or 1/m (Mean); loss F(W) = (k/n) Σ_j e_j²,
//! e_j = f(X_j) − y_j, k = 1 (Mse) or 1/2 (HalfMse). Gradient (METHODS.md §0, σ'(0) = 0):
//! ∂F/∂w_i = (2k c α_i / n) Σ_j e_j s_ij X_j with s_ij = 1[⟨w_i, X_j⟩ > 0].
//! [`ReluProblem`] optionally adds weight decay (seed 004 §1, METHODS.md "Weight decay"):
//! F_λ(W) = F(W) + λ Σ_i ‖w_i‖², ∇F_λ = ∇F + 2λ W.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, Axis};

use super::error::{NumResult, NumericsError};
use super::objective::Objective;

mod fused;
mod relu_loops;
pub use fused::SimdLevel;
use relu_loops::LANES;

/// Output scaling of the network: f = Σ_i (Sum) or (1/m) Σ_i (Mean, mean-field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    Sum,
    Mean,
}

/// Loss normalisation: (1/n) Σ e² (Mse) or (1/(2n)) Σ e² (HalfMse, the seed's eq. (32)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossNorm {
    Mse,
    HalfMse,
}

/// Training data: rows X_j ∈ R^d whose last coordinate is the bias input 1, labels y_j.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub x: Array2<f64>,
    pub y: Array1<f64>,
}

impl Data {
    /// Data from an already augmented input matrix (n × d, last column = 1).
    pub fn new(x: Array2<f64>, y: Array1<f64>) -> Data {
        Data { x, y }
    }

    /// Appends the constant-1 bias column to raw inputs (n × (d−1)).
    pub fn from_inputs(inputs: ArrayView2<f64>, y: Array1<f64>) -> Data {
        let (n, d_in) = inputs.dim();
        let mut x = Array2::ones((n, d_in + 1));
        x.slice_mut(ndarray::s![.., ..d_in]).assign(&inputs);
        Data { x, y }
    }

    /// METHODS.md's default "sine" data: n points equally spaced on [−1, 1], y = sin(πx), d = 2.
    pub fn sine(n: usize) -> Data {
        let xs: Array1<f64> = if n == 1 {
            Array1::zeros(1)
        } else {
            Array1::from_iter((0..n).map(|j| -1.0 + 2.0 * j as f64 / (n - 1) as f64))
        };
        let y = xs.mapv(|x| (std::f64::consts::PI * x).sin());
        Data::from_inputs(xs.insert_axis(Axis(1)).view(), y)
    }

    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    pub fn d(&self) -> usize {
        self.x.ncols()
    }

    /// Error unless there is at least one point and one label per row.
    pub fn check(&self) -> NumResult<()> {
        if self.n() == 0 || self.d() == 0 || self.y.len() != self.n() {
            return Err(NumericsError::Shape(format!("data x is {:?} with {} labels", self.x.dim(), self.y.len())));
        }
        Ok(())
    }
}

/// Row-major copy of a particle matrix (any memory layout in, standard layout out).
pub fn flat(w: ArrayView2<f64>) -> Vec<f64> {
    w.iter().copied().collect()
}

/// The network's fixed part: second-layer signs α, output scaling and loss normalisation.
#[derive(Debug, Clone, PartialEq)]
pub struct ReluNet {
    pub alpha: Vec<f64>,
    pub scaling: Scaling,
    pub loss_norm: LossNorm,
}

impl ReluNet {
    /// α = +1, −1, +1, … (METHODS.md default: half of each sign).
    pub fn alternating(m: usize, scaling: Scaling, loss_norm: LossNorm) -> ReluNet {
        let alpha = (0..m).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        ReluNet { alpha, scaling, loss_norm }
    }

    pub fn m(&self) -> usize {
        self.alpha.len()
    }

    /// c in f = c Σ_i α_i relu(⟨w_i, x⟩).
    pub fn output_scale(&self) -> f64 {
        match self.scaling {
            Scaling::Sum => 1.0,
            Scaling::Mean => 1.0 / self.m().max(1) as f64,
        }
    }

    /// k in F = (k/n) Σ e².
    pub fn loss_factor(&self) -> f64 {
        match self.loss_norm {
            LossNorm::Mse => 1.0,
            LossNorm::HalfMse => 0.5,
        }
    }

    /// Error unless W is m × d for this net and these data, and the data are consistent.
    pub fn check_shapes(&self, data: &Data, w: ArrayView2<f64>) -> NumResult<()> {
        data.check()?;
        if w.dim() != (self.m(), data.d()) {
            return Err(NumericsError::Shape(format!("W is {:?}, expected ({}, {})", w.dim(), self.m(), data.d())));
        }
        Ok(())
    }

    /// The slice-level objective, if W fits this net and these data.
    fn problem_for<'a>(&'a self, data: &'a Data, w: ArrayView2<f64>) -> Option<ReluProblem<'a>> {
        self.check_shapes(data, w).ok()?;
        ReluProblem::new(self, data).ok()
    }

    /// Network outputs f(X_j), j = 1..n (all NaN if the shapes do not agree).
    pub fn predict(&self, data: &Data, w: ArrayView2<f64>) -> Array1<f64> {
        let problem = match self.problem_for(data, w) {
            Some(p) => p,
            None => return Array1::from_elem(data.n(), f64::NAN),
        };
        let mut ws = problem.workspace();
        problem.forward(&flat(w), &mut ws);
        Array1::from_vec(ws.prediction)
    }

    /// F(W) (NaN if the shapes do not agree).
    pub fn loss(&self, data: &Data, w: ArrayView2<f64>) -> f64 {
        let problem = match self.problem_for(data, w) {
            Some(p) => p,
            None => return f64::NAN,
        };
        let mut ws = problem.workspace();
        problem.value(&flat(w), &mut ws)
    }

    /// F(W), writing ∇F(W) into `grad` (m × d). Convenience wrapper over the slice hot path;
    /// allocates a workspace, so loops should use [`ReluProblem`] directly. Returns NaN (and
    /// fills `grad` with NaN) if the shapes do not agree.
    pub fn loss_and_gradient(&self, data: &Data, w: ArrayView2<f64>, mut grad: ArrayViewMut2<f64>) -> f64 {
        let problem = match self.problem_for(data, w) {
            Some(p) if grad.dim() == w.dim() => p,
            _ => {
                grad.fill(f64::NAN);
                return f64::NAN;
            }
        };
        let mut ws = problem.workspace();
        let mut g = vec![0.0; w.len()];
        let loss = problem.value_and_gradient(&flat(w), &mut g, &mut ws);
        for (dst, src) in grad.iter_mut().zip(&g) {
            *dst = *src;
        }
        loss
    }

    /// s_ij = 1[⟨w_i, X_j⟩ > 0], m × n (all false if the shapes do not agree).
    pub fn activation_pattern(&self, data: &Data, w: ArrayView2<f64>) -> Array2<bool> {
        let mut s = Array2::from_elem((self.m(), data.n()), false);
        if self.check_shapes(data, w).is_err() {
            return s;
        }
        for (wi, mut si) in w.rows().into_iter().zip(s.rows_mut()) {
            for (xj, sij) in data.x.rows().into_iter().zip(si.iter_mut()) {
                *sij = wi.iter().zip(xj).map(|(a, b)| a * b).sum::<f64>() > 0.0;
            }
        }
        s
    }

    /// L̂ ≥ Lipschitz constant of ∇F on each activation region. The Hessian there is
    /// (2k/n) Σ_j J_jᵀ J_j with J_j = c (α_i s_ij X_j)_i, ‖J_j‖² ≤ c² m ‖X_j‖², hence
    /// L̂ = 2k c² m (1/n) Σ_j ‖X_j‖²: METHODS.md's (2m/n) Σ‖X_j‖² for Sum + Mse, divided by m² for
    /// Mean and by 2 for HalfMse.
    pub fn lipschitz_bound(&self, data: &Data) -> f64 {
        let n = data.n().max(1) as f64;
        let c = self.output_scale();
        let sum_sq: f64 = data.x.iter().map(|v| v * v).sum();
        2.0 * self.loss_factor() * c * c * self.m() as f64 * sum_sq / n
    }
}

/// The ReLU training loss as an [`Objective`]: borrows the net and the data, keeps the data in
/// the layouts the hot loop wants.
#[derive(Debug, Clone)]
pub struct ReluProblem<'a> {
    net: &'a ReluNet,
    data: &'a Data,
    /// X row-major (n × d).
    x: Vec<f64>,
    /// Every X_j ends in exactly 1.0 (the bias input): kernels skip that multiplication.
    bias_last: bool,
    y: Vec<f64>,
    lipschitz: f64,
    /// Fused prox-step kernel (d = 2 with bias input, even m), else None.
    fused: Option<fused::FusedTables>,
    /// λ ≥ 0 of the weight-decay term λ Σ_i ‖w_i‖² (0: the plain loss, bit for bit).
    weight_decay: f64,
}

/// Scratch for [`ReluProblem`]: per-data-point partial sums (LANES per point), outputs f(X_j)
/// and residuals e_j (n); for d > 4 also W transposed (d × m) and one row of pre-activations.
#[derive(Debug, Clone)]
pub struct ReluWorkspace {
    partial: Vec<[f64; LANES]>,
    patterns: Vec<u64>,
    pattern_cache: relu_loops::PatternCache,
    prediction: Vec<f64>,
    residual: Vec<f64>,
    w_t: Vec<f64>,
    z: Vec<f64>,
    fused: fused::FusedScratch,
}

impl<'a> ReluProblem<'a> {
    /// Error if the data are empty or inconsistent, or the net has no neuron.
    pub fn new(net: &'a ReluNet, data: &'a Data) -> NumResult<ReluProblem<'a>> {
        data.check()?;
        if net.m() == 0 {
            return Err(NumericsError::Shape("network with no neuron".into()));
        }
        let x = data.x.iter().copied().collect();
        let bias_last = data.x.rows().into_iter().all(|r| r.last() == Some(&1.0));
        let fused = if data.d() == 2 && bias_last {
            let inputs = data.x.column(0).to_vec();
            fused::FusedTables::new(&net.alpha, inputs, data.y.to_vec(), net.output_scale(), net.loss_factor())
        } else {
            None
        };
        let lipschitz = net.lipschitz_bound(data);
        Ok(ReluProblem { net, data, x, bias_last, y: data.y.to_vec(), lipschitz, fused, weight_decay: 0.0 })
    }

    /// The objective F_λ = F + λ Σ_i ‖w_i‖² (value, gradient, L̂ + 2λ). Error unless 0 ≤ λ < ∞.
    /// λ = 0 leaves every number bit-identical to [`ReluProblem::new`]; λ > 0 turns the fused
    /// prox kernel off (it has no decay term), so gd prox steps take the generic passes.
    pub fn with_weight_decay(mut self, lambda: f64) -> NumResult<ReluProblem<'a>> {
        if !(lambda >= 0.0 && lambda.is_finite()) {
            return Err(NumericsError::InvalidParameter(format!(
                "weight_decay = {lambda}: needs 0 ≤ λ < ∞ (0 turns it off)"
            )));
        }
        if lambda > 0.0 {
            self.weight_decay = lambda;
            self.lipschitz += 2.0 * lambda;
        }
        Ok(self)
    }

    /// λ of the weight-decay term (0 when off).
    pub fn weight_decay(&self) -> f64 {
        self.weight_decay
    }

    /// Adds λ Σ‖w‖² to `loss` and, if given, 2λ w to the gradient (only called when λ > 0).
    #[cold]
    fn add_weight_decay(&self, w: &[f64], grad: Option<&mut [f64]>, loss: f64) -> f64 {
        let lambda = self.weight_decay;
        if let Some(g) = grad {
            for (gi, wi) in g.iter_mut().zip(w) {
                *gi += 2.0 * lambda * wi;
            }
        }
        loss + lambda * w.iter().map(|v| v * v).sum::<f64>()
    }

    /// Selects the implementation of the fused prox step (tests compare them bitwise).
    /// Returns false, changing nothing, if this CPU lacks `level` or there is no fused kernel.
    pub fn set_simd_level(&mut self, level: SimdLevel) -> bool {
        let supported = level == SimdLevel::Portable || level == SimdLevel::detect();
        match &mut self.fused {
            Some(tables) if supported => {
                tables.simd = level;
                true
            }
            _ => false,
        }
    }

    pub fn net(&self) -> &ReluNet {
        self.net
    }

    pub fn data(&self) -> &Data {
        self.data
    }

    /// Outputs f(X_j) and residuals e_j into the workspace; returns F.
    fn forward(&self, w: &[f64], ws: &mut ReluWorkspace) -> f64 {
        let (alpha, x, d) = (&self.net.alpha[..], &self.x[..], self.data.d());
        let (partial, out, pat) = (&mut ws.partial, &mut ws.prediction, &mut ws.patterns);
        match (d, self.bias_last) {
            (1, _) => relu_loops::outputs_blocked::<1, false>(w, alpha, x, partial, out, pat),
            (2, true) => relu_loops::outputs_blocked::<2, true>(w, alpha, x, partial, out, pat),
            (2, false) => relu_loops::outputs_blocked::<2, false>(w, alpha, x, partial, out, pat),
            (3, true) => relu_loops::outputs_blocked::<3, true>(w, alpha, x, partial, out, pat),
            (3, false) => relu_loops::outputs_blocked::<3, false>(w, alpha, x, partial, out, pat),
            (4, _) => relu_loops::outputs_blocked::<4, false>(w, alpha, x, partial, out, pat),
            _ => relu_loops::outputs_generic(w, alpha, x, d, &mut ws.w_t, &mut ws.z, out),
        }
        let c = self.net.output_scale();
        let mut sq = 0.0;
        for ((f, e), y) in ws.prediction.iter_mut().zip(&mut ws.residual).zip(&self.y) {
            *f *= c;
            *e = *f - y;
            sq += *e * *e;
        }
        self.net.loss_factor() * sq / self.y.len() as f64
    }
}

impl Objective for ReluProblem<'_> {
    type Workspace = ReluWorkspace;

    fn num_particles(&self) -> usize {
        self.net.m()
    }

    fn particle_dim(&self) -> usize {
        self.data.d()
    }

    fn workspace(&self) -> ReluWorkspace {
        let (m, n, d) = (self.net.m(), self.data.n(), self.data.d());
        let cache = relu_loops::PatternCache::new(n, d);
        ReluWorkspace {
            partial: vec![[0.0; LANES]; n],
            patterns: vec![0; if cache.enabled() { m } else { 0 }],
            pattern_cache: cache,
            prediction: vec![0.0; n],
            residual: vec![0.0; n],
            w_t: vec![0.0; d * m],
            z: vec![0.0; m],
            fused: self.fused.as_ref().map(|t| t.scratch()).unwrap_or_default(),
        }
    }

    fn value(&self, w: &[f64], ws: &mut ReluWorkspace) -> f64 {
        let loss = self.forward(w, ws);
        if self.weight_decay > 0.0 {
            return self.add_weight_decay(w, None, loss);
        }
        loss
    }

    fn value_and_gradient(&self, w: &[f64], grad: &mut [f64], ws: &mut ReluWorkspace) -> f64 {
        let loss = self.data_value_and_gradient(w, grad, ws);
        if self.weight_decay > 0.0 {
            return self.add_weight_decay(w, Some(grad), loss);
        }
        loss
    }

    fn lipschitz_bound(&self) -> f64 {
        self.lipschitz
    }

    fn particle_signs(&self) -> Option<&[f64]> {
        Some(&self.net.alpha)
    }

    fn fused_prox_step(
        &self,
        v: &[f64],
        pulled_to: &[f64],
        kappa: f64,
        beta: f64,
        next: &mut [f64],
        ws: &mut ReluWorkspace,
    ) -> Option<(f64, f64)> {
        let tables = self.fused.as_ref().filter(|_| self.weight_decay == 0.0)?;
        let m2 = 2 * self.net.m();
        if v.len() != m2 || pulled_to.len() != m2 || next.len() != m2 {
            return None;
        }
        let input = fused::ProxStepInput { v, pulled_to, kappa, beta };
        Some(tables.step(&mut ws.fused, &input, next))
    }
}

impl ReluProblem<'_> {
    /// F(w) and ∇F(w) of the data term alone (the hot path).
    #[inline]
    fn data_value_and_gradient(&self, w: &[f64], grad: &mut [f64], ws: &mut ReluWorkspace) -> f64 {
        let loss = self.forward(w, ws);
        let (alpha, x, d, e) = (&self.net.alpha[..], &self.x[..], self.data.d(), &ws.residual);
        // 2k c / n: derivative of (k/n) Σ e² through f = c Σ …
        let scale = 2.0 * self.net.loss_factor() * self.net.output_scale() / self.y.len() as f64;
        let (pat, cache) = (&ws.patterns, &mut ws.pattern_cache);
        if cache.enabled() {
            match (d, self.bias_last) {
                (1, _) => relu_loops::gradient_by_pattern::<1, false>(alpha, x, e, scale, pat, cache, grad),
                (2, true) => relu_loops::gradient_by_pattern::<2, true>(alpha, x, e, scale, pat, cache, grad),
                (2, false) => relu_loops::gradient_by_pattern::<2, false>(alpha, x, e, scale, pat, cache, grad),
                (3, true) => relu_loops::gradient_by_pattern::<3, true>(alpha, x, e, scale, pat, cache, grad),
                (3, false) => relu_loops::gradient_by_pattern::<3, false>(alpha, x, e, scale, pat, cache, grad),
                (4, _) => relu_loops::gradient_by_pattern::<4, false>(alpha, x, e, scale, pat, cache, grad),
                _ => {}
            }
            if d <= 4 {
                return loss;
            }
        }
        match (d, self.bias_last) {
            (1, _) => relu_loops::gradient_blocked::<1, false>(w, alpha, x, e, scale, grad),
            (2, true) => relu_loops::gradient_blocked::<2, true>(w, alpha, x, e, scale, grad),
            (2, false) => relu_loops::gradient_blocked::<2, false>(w, alpha, x, e, scale, grad),
            (3, true) => relu_loops::gradient_blocked::<3, true>(w, alpha, x, e, scale, grad),
            (3, false) => relu_loops::gradient_blocked::<3, false>(w, alpha, x, e, scale, grad),
            (4, _) => relu_loops::gradient_blocked::<4, false>(w, alpha, x, e, scale, grad),
            _ => relu_loops::gradient_generic(alpha, x, d, e, scale, &ws.w_t, &mut ws.z, grad),
        }
        loss
    }
}

/// Seeded initialisation W_ik ~ N(0, scale²) i.i.d. (METHODS.md E4: scale 10^-2), row-major m × d.
/// ChaCha8 stream + rand_distr's ziggurat normal: portable and bit-reproducible per seed.
pub fn gaussian_init(m: usize, d: usize, scale: f64, seed: u64) -> Array2<f64> {
    use rand::SeedableRng;
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((m, d), || {
        let z: f64 = StandardNormal.sample(&mut rng);
        scale * z
    })
}

#[cfg(test)]
mod tests;
