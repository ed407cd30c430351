//! The univariate two-layer ReLU network of Williams et al. 2019 (docs/METHODS.md E7 A.0) with all of
//! a, b, c trainable: f_z(x) = (1/α(m)) Σ_i c_i relu(a_i x − b_i), L(z) = ½ Σ_j (f_z(x_j) − y_j)²
//! (a sum over samples). Parameters are stored row-major per neuron, z = (a_1, b_1, c_1, a_2, …),
//! so that the generic [`Objective`] machinery and `descent::gradient_descent_step` run it.
//! Indicators use relu'(0) = 0 as the rest of the crate; the δ identity does not depend on it.

use crate::numerics::error::{NumResult, NumericsError};
use crate::numerics::model::Data;
use crate::numerics::objective::Objective;

/// Output scaling α(m): √m in all the paper's experiments, m (mean field) for its Fig. 2 and theory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalisation {
    SqrtM,
    M,
}

impl Normalisation {
    /// α(m).
    pub fn alpha(self, m: usize) -> f64 {
        match self {
            Normalisation::SqrtM => (m as f64).sqrt(),
            Normalisation::M => m as f64,
        }
    }
}

/// Which parameters gradient descent moves. `OutputOnly` is the δ = −∞ limit (kernel / random
/// features), `InputOnly` the δ = +∞ limit (adaptive); frozen coordinates get a zero gradient,
/// so GD leaves them bit-for-bit unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trained {
    All,
    OutputOnly,
    InputOnly,
}

impl Trained {
    fn trains_input(self) -> bool {
        self != Trained::OutputOnly
    }

    fn trains_output(self) -> bool {
        self != Trained::InputOnly
    }
}

/// The parameters z = (a, b, c) of m neurons.
#[derive(Debug, Clone, PartialEq)]
pub struct Neurons {
    pub a: Vec<f64>,
    pub b: Vec<f64>,
    pub c: Vec<f64>,
}

/// Neuron i in the canonical coordinates (eq. (4)–(6)): r_i = (m/α) c_i √(a_i² + b_i²),
/// θ_i = atan2(−b_i, a_i), and its particle (u, v) = |r_i| (cos θ_i, sin θ_i) in the uv plane.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Particle {
    pub r: f64,
    pub theta: f64,
    pub u: f64,
    pub v: f64,
}

impl Neurons {
    pub fn m(&self) -> usize {
        self.a.len()
    }

    /// Error unless a, b, c have one common, non-zero length and are finite.
    pub fn check(&self) -> NumResult<()> {
        let m = self.a.len();
        if m == 0 || self.b.len() != m || self.c.len() != m {
            let lens = (self.a.len(), self.b.len(), self.c.len());
            return Err(NumericsError::Shape(format!("neurons need equal, non-zero lengths of a, b, c; got {lens:?}")));
        }
        if let Some(i) = (0..m).find(|&i| !(self.a[i].is_finite() && self.b[i].is_finite() && self.c[i].is_finite())) {
            return Err(NumericsError::InvalidParameter(format!("neuron {i} has a non-finite parameter")));
        }
        Ok(())
    }

    /// z row-major: (a_1, b_1, c_1, a_2, …).
    pub fn to_flat(&self) -> Vec<f64> {
        (0..self.m()).flat_map(|i| [self.a[i], self.b[i], self.c[i]]).collect()
    }

    /// Inverse of [`Neurons::to_flat`]; error unless the length is a multiple of 3.
    pub fn from_flat(z: &[f64]) -> NumResult<Neurons> {
        if !z.len().is_multiple_of(3) {
            return Err(NumericsError::Shape(format!("{} parameters is not 3 per neuron", z.len())));
        }
        let col = |k: usize| z.chunks_exact(3).map(|n| n[k]).collect();
        Ok(Neurons { a: col(0), b: col(1), c: col(2) })
    }

    /// δ_i = c_i² − a_i² − b_i², constant along the gradient flow (Lemma 3).
    pub fn delta(&self) -> Vec<f64> {
        (0..self.m()).map(|i| self.c[i] * self.c[i] - self.a[i] * self.a[i] - self.b[i] * self.b[i]).collect()
    }

    /// Knots e_i = b_i / a_i (None where a_i = 0: that unit is constant in x).
    pub fn knots(&self) -> Vec<Option<f64>> {
        self.a.iter().zip(&self.b).map(|(&a, &b)| if a != 0.0 { Some(b / a) } else { None }).collect()
    }

    /// The particles of the uv diagram (Fig. 1 right) under output scaling α(m).
    pub fn particles(&self, normalisation: Normalisation) -> Vec<Particle> {
        let m = self.m();
        let ratio = m as f64 / normalisation.alpha(m);
        (0..m)
            .map(|i| {
                let (a, b) = (self.a[i], self.b[i]);
                let r = ratio * self.c[i] * a.hypot(b);
                let theta = (-b).atan2(a);
                Particle { r, theta, u: r.abs() * theta.cos(), v: r.abs() * theta.sin() }
            })
            .collect()
    }

    /// f_z(x) at every x of `xs`.
    pub fn evaluate(&self, normalisation: Normalisation, xs: &[f64]) -> Vec<f64> {
        let scale = 1.0 / normalisation.alpha(self.m());
        xs.iter().map(|&x| scale * self.unit_sum(x)).collect()
    }

    /// Σ_i c_i relu(a_i x − b_i), summed in neuron order (deterministic).
    fn unit_sum(&self, x: f64) -> f64 {
        let mut sum = 0.0;
        for i in 0..self.m() {
            sum += self.c[i] * (self.a[i] * x - self.b[i]).max(0.0);
        }
        sum
    }
}

/// The loss L(z) = ½ Σ_j (f_z(x_j) − y_j)² on univariate data, as an [`Objective`] on m
/// particles (a_i, b_i, c_i).
#[derive(Debug, Clone)]
pub struct WilliamsProblem {
    x: Vec<f64>,
    y: Vec<f64>,
    m: usize,
    normalisation: Normalisation,
    trained: Trained,
}

/// Scratch: residuals ρ_j = f_z(x_j) − y_j.
#[derive(Debug, Clone)]
pub struct WilliamsWorkspace {
    residual: Vec<f64>,
}

impl WilliamsProblem {
    /// Univariate data: `data` must have d = 2 with the bias input 1 in the last column (as
    /// `Data::sine` and `Data::from_inputs` build it).
    pub fn new(data: &Data, m: usize, normalisation: Normalisation, trained: Trained) -> NumResult<WilliamsProblem> {
        data.check()?;
        if data.d() != 2 || data.x.column(1).iter().any(|&v| v != 1.0) {
            return Err(NumericsError::Shape(format!(
                "Williams model needs univariate inputs with a bias column of ones (d = 2), got d = {}",
                data.d()
            )));
        }
        if m == 0 {
            return Err(NumericsError::Shape("network with no neuron".into()));
        }
        if data.x.iter().chain(data.y.iter()).any(|v| !v.is_finite()) {
            return Err(NumericsError::InvalidParameter("non-finite sample".into()));
        }
        let (x, y) = (data.x.column(0).to_vec(), data.y.to_vec());
        Ok(WilliamsProblem { x, y, m, normalisation, trained })
    }

    pub fn inputs(&self) -> &[f64] {
        &self.x
    }

    pub fn labels(&self) -> &[f64] {
        &self.y
    }

    pub fn normalisation(&self) -> Normalisation {
        self.normalisation
    }

    pub fn trained(&self) -> Trained {
        self.trained
    }

    /// 1/α(m).
    pub fn inv_alpha(&self) -> f64 {
        1.0 / self.normalisation.alpha(self.m)
    }

    /// Error unless `z` has 3m finite entries.
    pub fn check_parameters(&self, z: &[f64]) -> NumResult<()> {
        if z.len() != 3 * self.m {
            return Err(NumericsError::Shape(format!("{} parameters, expected 3m = {}", z.len(), 3 * self.m)));
        }
        if z.iter().any(|v| !v.is_finite()) {
            return Err(NumericsError::InvalidParameter("non-finite network parameter".into()));
        }
        Ok(())
    }

    /// ρ_j = f_z(x_j) − y_j at every sample (Fig. 9's field, App. D.1's attractor test).
    pub fn residuals(&self, neurons: &Neurons) -> NumResult<Vec<f64>> {
        let z = neurons.to_flat();
        self.check_parameters(&z)?;
        let mut ws = self.workspace();
        self.forward(&z, &mut ws);
        Ok(ws.residual)
    }

    /// Residuals ρ_j = f_z(x_j) − y_j into `ws`; returns L = ½ Σ ρ_j².
    fn forward(&self, z: &[f64], ws: &mut WilliamsWorkspace) -> f64 {
        let scale = self.inv_alpha();
        let mut loss = 0.0;
        for ((rho, &x), &y) in ws.residual.iter_mut().zip(&self.x).zip(&self.y) {
            let mut f = 0.0;
            for n in z.chunks_exact(3) {
                f += n[2] * (n[0] * x - n[1]).max(0.0);
            }
            *rho = scale * f - y;
            loss += *rho * *rho;
        }
        0.5 * loss
    }
}

impl Objective for WilliamsProblem {
    type Workspace = WilliamsWorkspace;

    fn num_particles(&self) -> usize {
        self.m
    }

    fn particle_dim(&self) -> usize {
        3
    }

    fn workspace(&self) -> WilliamsWorkspace {
        WilliamsWorkspace { residual: vec![0.0; self.x.len()] }
    }

    fn value(&self, z: &[f64], ws: &mut WilliamsWorkspace) -> f64 {
        self.forward(z, ws)
    }

    /// docs/METHODS.md E7 A.0 (eq. (46) with its sign of b corrected):
    /// ∂L/∂a_i = (c_i/α) Σ_j 1_ij x_j ρ_j, ∂L/∂b_i = −(c_i/α) Σ_j 1_ij ρ_j,
    /// ∂L/∂c_i = (1/α) Σ_j relu(a_i x_j − b_i) ρ_j, 1_ij = 1[a_i x_j − b_i > 0].
    fn value_and_gradient(&self, z: &[f64], grad: &mut [f64], ws: &mut WilliamsWorkspace) -> f64 {
        let loss = self.forward(z, ws);
        let scale = self.inv_alpha();
        let (input, output) = (self.trained.trains_input(), self.trained.trains_output());
        for (n, g) in z.chunks_exact(3).zip(grad.chunks_exact_mut(3)) {
            let (mut sum_x_rho, mut sum_rho, mut sum_relu_rho) = (0.0, 0.0, 0.0);
            for (&x, &rho) in self.x.iter().zip(&ws.residual) {
                let pre = n[0] * x - n[1];
                let on = if pre > 0.0 { 1.0 } else { 0.0 };
                sum_x_rho += on * x * rho;
                sum_rho += on * rho;
                sum_relu_rho += pre.max(0.0) * rho;
            }
            let c_scaled = scale * n[2];
            g[0] = if input { c_scaled * sum_x_rho } else { 0.0 };
            g[1] = if input { -c_scaled * sum_rho } else { 0.0 };
            g[2] = if output { scale * sum_relu_rho } else { 0.0 };
        }
        loss
    }

    /// No global bound exists (the Hessian grows with |z|): step sizes come from
    /// [`super::train::ntk_step_size`] at the initial point instead.
    fn lipschitz_bound(&self) -> f64 {
        f64::INFINITY
    }
}
