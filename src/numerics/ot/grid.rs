//! The parameter grid θ = (w, b), densities on it, and the ReLU feature map Φ.
//!
//! Layout conventions used by the whole module:
//! - a density on one copy is an `Array2` of shape `(n_w, n_b)`: axis 0 is w, axis 1 is b;
//! - a density on all sign copies is an `Array3` of shape `(copies, n_w, n_b)`; copy `c` has
//!   output sign [`SIGNS`]`[c]` (copy 0: α = +1, copy 1: α = −1);
//! - values are masses per grid point (not densities per unit area), so Σ p is the mass.

use ndarray::{Array1, Array2, Array3, ArrayView2, ArrayView3, Axis};

use super::error::{invalid, OtError};

/// Output sign α of each copy: copy 0 is α = +1, copy 1 is α = −1.
pub const SIGNS: [f64; 2] = [1.0, -1.0];

/// A uniform `n_w × n_b` grid on `[-R, R]²`, end points included.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid2d {
    n_w: usize,
    n_b: usize,
    half_width: f64,
}

impl Grid2d {
    /// A grid with `n_w, n_b ≥ 2` points per axis on `[-half_width, half_width]`.
    pub fn new(n_w: usize, n_b: usize, half_width: f64) -> Result<Self, OtError> {
        if n_w < 2 || n_b < 2 {
            return invalid(format!("grid needs ≥ 2 points per axis, got {n_w} × {n_b}"));
        }
        if !(half_width.is_finite() && half_width > 0.0) {
            return invalid(format!("grid half-width must be > 0, got {half_width}"));
        }
        Ok(Self { n_w, n_b, half_width })
    }

    /// Number of points along w (axis 0).
    pub fn n_w(&self) -> usize {
        self.n_w
    }

    /// Number of points along b (axis 1).
    pub fn n_b(&self) -> usize {
        self.n_b
    }

    /// Half-width R of the grid.
    pub fn half_width(&self) -> f64 {
        self.half_width
    }

    /// `(n_w, n_b)`, the shape of a one-copy density.
    pub fn shape(&self) -> (usize, usize) {
        (self.n_w, self.n_b)
    }

    /// Number of grid points `n_w · n_b`.
    pub fn len(&self) -> usize {
        self.n_w * self.n_b
    }

    /// Always false (a grid has ≥ 4 points); present because `len` is.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Spacing h_w = 2R / (n_w − 1).
    pub fn spacing_w(&self) -> f64 {
        2.0 * self.half_width / (self.n_w - 1) as f64
    }

    /// Spacing h_b = 2R / (n_b − 1).
    pub fn spacing_b(&self) -> f64 {
        2.0 * self.half_width / (self.n_b - 1) as f64
    }

    /// The w coordinates, −R … R.
    pub fn w_coords(&self) -> Array1<f64> {
        axis_coords(self.n_w, self.half_width)
    }

    /// The b coordinates, −R … R.
    pub fn b_coords(&self) -> Array1<f64> {
        axis_coords(self.n_b, self.half_width)
    }
}

/// `n` equally spaced points on `[-r, r]`; computed as `-r + i h` except the last, which is
/// set to `r` exactly so the grid is symmetric end to end.
fn axis_coords(n: usize, r: f64) -> Array1<f64> {
    let h = 2.0 * r / (n - 1) as f64;
    Array1::from_shape_fn(n, |i| if i + 1 == n { r } else { -r + i as f64 * h })
}

/// A discretised isotropic Gaussian of standard deviation `std` at `centre = (w, b)`,
/// normalised to total mass `mass`. Computed in the log domain so a narrow Gaussian far
/// from every grid point still has its mass (on the nearest points) instead of 0/0.
pub fn gaussian_density(grid: &Grid2d, centre: (f64, f64), std: f64, mass: f64) -> Result<Array2<f64>, OtError> {
    if !(std.is_finite() && std > 0.0) {
        return invalid(format!("gaussian std must be > 0, got {std}"));
    }
    if !(mass.is_finite() && mass >= 0.0) {
        return invalid(format!("mass must be ≥ 0, got {mass}"));
    }
    let (w, b) = (grid.w_coords(), grid.b_coords());
    let log_p = Array2::from_shape_fn(grid.shape(), |(i, j)| {
        let d2 = (w[i] - centre.0).powi(2) + (b[j] - centre.1).powi(2);
        -d2 / (2.0 * std * std)
    });
    let max = log_p.fold(f64::NEG_INFINITY, |m, &v| m.max(v));
    let unnorm = log_p.mapv(|v| (v - max).exp());
    let total: f64 = unnorm.sum();
    Ok(unnorm * (mass / total))
}

/// Stacks one-copy densities into a `(copies, n_w, n_b)` array. All must have one shape.
pub fn stack_copies(copies: &[ArrayView2<f64>]) -> Result<Array3<f64>, OtError> {
    ndarray::stack(Axis(0), copies).or_else(|e| invalid(format!("cannot stack copies: {e}")))
}

/// The default "sine" data set: `n` points equally spaced on `[-1, 1]`, `y = sin(π x)`.
pub fn sine_data(n: usize) -> Result<(Vec<f64>, Vec<f64>), OtError> {
    if n < 2 {
        return invalid(format!("sine data needs n ≥ 2, got {n}"));
    }
    let x: Vec<f64> = (0..n).map(|j| -1.0 + 2.0 * j as f64 / (n - 1) as f64).collect();
    let y = x.iter().map(|&x| (std::f64::consts::PI * x).sin()).collect();
    Ok((x, y))
}

/// The ReLU feature map Φ of the two-copy model: `(Φp)_j = Σ_c α_c Σ_g p_{c,g} max(0, w_g x_j + b_g)`.
///
/// Stored as the unsigned features `relu(w_g x_j + b_g)` in a `(G, n)` matrix (row g = grid
/// point in `(n_w, n_b)` row-major order), shared by both copies; the sign is applied per copy.
/// Applying Φ or Φᵀ costs O(n G) per copy.
#[derive(Debug, Clone)]
pub struct ReluFeatures {
    shape: (usize, usize),
    phi: Array2<f64>,
}

impl ReluFeatures {
    /// Features of `grid` on inputs `x` (each augmented with a bias 1).
    pub fn new(grid: &Grid2d, x: &[f64]) -> Result<Self, OtError> {
        if x.is_empty() || x.iter().any(|v| !v.is_finite()) {
            return invalid("ReLU features need ≥ 1 finite input");
        }
        let (w, b) = (grid.w_coords(), grid.b_coords());
        let n_b = grid.n_b();
        let phi = Array2::from_shape_fn((grid.len(), x.len()), |(g, j)| (w[g / n_b] * x[j] + b[g % n_b]).max(0.0));
        Ok(Self { shape: grid.shape(), phi })
    }

    /// Number of data points n.
    pub fn n_data(&self) -> usize {
        self.phi.ncols()
    }

    /// The unsigned `(G, n)` feature matrix.
    pub fn unsigned(&self) -> &Array2<f64> {
        &self.phi
    }

    /// Checks that `p` is a `(copies ≤ 2, n_w, n_b)` array on this grid.
    pub fn check_shape(&self, p: &ArrayView3<f64>) -> Result<(), OtError> {
        let (c, n_w, n_b) = p.dim();
        if c == 0 || c > SIGNS.len() || (n_w, n_b) != self.shape {
            return invalid(format!(
                "density shape {:?} does not fit ReLU features on a {:?} grid with ≤ 2 copies",
                p.dim(),
                self.shape
            ));
        }
        Ok(())
    }

    /// The model outputs `Φp ∈ R^n`.
    pub fn forward(&self, p: ArrayView3<f64>) -> Vec<f64> {
        let mut out = vec![0.0; self.n_data()];
        for (c, pc) in p.outer_iter().enumerate() {
            for (row, &pg) in self.phi.outer_iter().zip(pc.iter()) {
                let s = SIGNS[c] * pg;
                for (o, &f) in out.iter_mut().zip(row.iter()) {
                    *o += s * f;
                }
            }
        }
        out
    }

    /// `Φᵀλ` as a `(copies, n_w, n_b)` array: `α_c Σ_j λ_j relu(w_g x_j + b_g)`.
    pub fn adjoint(&self, lambda: &[f64], copies: usize) -> Array3<f64> {
        let unsigned: Array1<f64> = self.phi.dot(&Array1::from(lambda.to_vec()));
        let (n_w, n_b) = self.shape;
        Array3::from_shape_fn((copies, n_w, n_b), |(c, i, j)| SIGNS[c] * unsigned[i * n_b + j])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_symmetric_and_spaced() {
        let g = Grid2d::new(5, 3, 2.0).unwrap();
        assert_eq!(g.w_coords().to_vec(), vec![-2.0, -1.0, 0.0, 1.0, 2.0]);
        assert_eq!(g.b_coords().to_vec(), vec![-2.0, 0.0, 2.0]);
        assert_eq!(g.spacing_w(), 1.0);
        assert!(Grid2d::new(1, 3, 1.0).is_err());
    }

    #[test]
    fn gaussian_has_mass_and_centre() {
        // centre 0.5 is 5 std from the edge at 2: truncation moves the mean by < 1e-5
        let g = Grid2d::new(41, 41, 2.0).unwrap();
        let p = gaussian_density(&g, (0.5, -0.5), 0.3, 0.7).unwrap();
        assert!((p.sum() - 0.7).abs() < 1e-14);
        let w = g.w_coords();
        let mean_w: f64 = p.indexed_iter().map(|((i, _), v)| v * w[i]).sum::<f64>() / 0.7;
        assert!((mean_w - 0.5).abs() < 1e-5);
    }

    #[test]
    fn features_forward_matches_definition_and_adjoint() {
        let g = Grid2d::new(4, 3, 1.0).unwrap();
        let (x, _) = sine_data(3).unwrap();
        let feats = ReluFeatures::new(&g, &x).unwrap();
        let p = Array3::from_shape_fn((2, 4, 3), |(c, i, j)| 1.0 + (c * 12 + i * 3 + j) as f64);
        let out = feats.forward(p.view());
        let (w, b) = (g.w_coords(), g.b_coords());
        for (jx, &xj) in x.iter().enumerate() {
            let direct: f64 = p.indexed_iter().map(|((c, i, j), v)| SIGNS[c] * v * (w[i] * xj + b[j]).max(0.0)).sum();
            assert!((out[jx] - direct).abs() < 1e-12);
        }
        // ⟨λ, Φp⟩ = ⟨Φᵀλ, p⟩
        let lambda = [0.3, -1.2, 0.7];
        let lhs: f64 = lambda.iter().zip(&out).map(|(a, b)| a * b).sum();
        let rhs = (&feats.adjoint(&lambda, 2) * &p).sum();
        assert!((lhs - rhs).abs() < 1e-10 * lhs.abs().max(1.0));
    }
}
