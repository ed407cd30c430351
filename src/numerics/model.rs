//! Two-layer ReLU network f(x) = Σ_i α_i max(0, ⟨w_i, x⟩) (or its mean-field 1/m version), the squared loss and
//! its exact gradient with σ'(0) = 0 (SPEC §0).

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2};

/// Output scaling: f = Σ_i … (`Sum`) or f = (1/m) Σ_i … (`Mean`, the mean-field scaling).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    Sum,
    Mean,
}

/// Loss normalisation: (1/n) Σ e² (`Mse`) or (1/(2n)) Σ e² (`HalfMse`, the seed's eq. (32)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossNorm {
    Mse,
    HalfMse,
}

/// Training data; rows of `x` are inputs augmented with a constant 1 (the bias).
#[derive(Debug, Clone)]
pub struct Data {
    pub x: Array2<f64>,
    pub y: Array1<f64>,
}

impl Data {
    pub fn new(x: Array2<f64>, y: Array1<f64>) -> Data {
        Data { x, y }
    }

    /// Appends the bias column to raw inputs.
    pub fn from_inputs(inputs: ArrayView2<f64>, y: Array1<f64>) -> Data {
        let (n, k) = inputs.dim();
        let x = Array2::from_shape_fn((n, k + 1), |(j, c)| if c < k { inputs[[j, c]] } else { 1.0 });
        Data { x, y }
    }

    /// n points equally spaced on [-1, 1], y = sin(πx).
    pub fn sine(n: usize) -> Data {
        let xs: Vec<f64> = (0..n).map(|j| if n == 1 { 0.0 } else { -1.0 + 2.0 * j as f64 / (n - 1) as f64 }).collect();
        let inputs = Array2::from_shape_vec((n, 1), xs.clone()).expect("n × 1");
        let y = xs.iter().map(|x| (std::f64::consts::PI * x).sin()).collect();
        Data::from_inputs(inputs.view(), y)
    }

    pub fn n(&self) -> usize {
        self.x.nrows()
    }

    pub fn d(&self) -> usize {
        self.x.ncols()
    }
}

/// The network's fixed part: output signs α_i, scaling and loss normalisation.
#[derive(Debug, Clone)]
pub struct ReluNet {
    pub alpha: Vec<f64>,
    pub scaling: Scaling,
    pub loss_norm: LossNorm,
}

impl ReluNet {
    /// α = (+1, −1, +1, …).
    pub fn alternating(m: usize, scaling: Scaling, loss_norm: LossNorm) -> ReluNet {
        let alpha = (0..m).map(|i| if i % 2 == 0 { 1.0 } else { -1.0 }).collect();
        ReluNet { alpha, scaling, loss_norm }
    }

    pub fn m(&self) -> usize {
        self.alpha.len()
    }

    fn output_scale(&self) -> f64 {
        match self.scaling {
            Scaling::Sum => 1.0,
            Scaling::Mean => 1.0 / self.m() as f64,
        }
    }

    /// Factor c in F = c Σ_j e_j².
    fn loss_factor(&self, n: usize) -> f64 {
        match self.loss_norm {
            LossNorm::Mse => 1.0 / n as f64,
            LossNorm::HalfMse => 0.5 / n as f64,
        }
    }

    pub fn predict(&self, data: &Data, w: ArrayView2<f64>) -> Array1<f64> {
        let s = self.output_scale();
        Array1::from_shape_fn(data.n(), |j| {
            let xj = data.x.row(j);
            s * self.alpha.iter().zip(w.rows()).map(|(a, wi)| a * wi.dot(&xj).max(0.0)).sum::<f64>()
        })
    }

    pub fn loss(&self, data: &Data, w: ArrayView2<f64>) -> f64 {
        let e = self.predict(data, w) - &data.y;
        self.loss_factor(data.n()) * e.dot(&e)
    }

    /// Returns F(W) and writes ∂F/∂w_i = 2c α_i s Σ_j e_j 1[⟨w_i, X_j⟩ > 0] X_j into `grad`.
    pub fn loss_and_gradient(&self, data: &Data, w: ArrayView2<f64>, mut grad: ArrayViewMut2<f64>) -> f64 {
        let e = self.predict(data, w) - &data.y;
        let c = self.loss_factor(data.n());
        let s = self.output_scale();
        grad.fill(0.0);
        for (i, wi) in w.rows().into_iter().enumerate() {
            for j in 0..data.n() {
                let xj = data.x.row(j);
                if wi.dot(&xj) > 0.0 {
                    let coef = 2.0 * c * s * self.alpha[i] * e[j];
                    grad.row_mut(i).scaled_add(coef, &xj);
                }
            }
        }
        c * e.dot(&e)
    }

    /// s_ij = 1[⟨w_i, X_j⟩ > 0], m × n.
    pub fn activation_pattern(&self, data: &Data, w: ArrayView2<f64>) -> Array2<bool> {
        Array2::from_shape_fn((self.m(), data.n()), |(i, j)| w.row(i).dot(&data.x.row(j)) > 0.0)
    }

    /// An upper bound on the Lipschitz constant of ∇F: 2c m s² Σ_j ‖X_j‖² (SPEC §1's L̂ for Sum and Mse).
    pub fn lipschitz_bound(&self, data: &Data) -> f64 {
        let s = self.output_scale();
        let sq: f64 = data.x.iter().map(|v| v * v).sum();
        2.0 * self.loss_factor(data.n()) * self.m() as f64 * s * s * sq
    }
}
