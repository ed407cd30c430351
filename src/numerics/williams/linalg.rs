//! The two small dense solves E7 needs, written out (s ≤ a few dozen samples): the symmetric
//! eigen-decomposition of an s × s Gram matrix (cyclic Jacobi) and a tridiagonal solve (Thomas).

use crate::numerics::error::{NumResult, NumericsError};

/// Eigenvalues (ascending) and orthonormal eigenvectors (column k of the row-major n × n
/// result belongs to eigenvalue k) of the symmetric row-major n × n `matrix`. Cyclic Jacobi
/// rotations until the off-diagonal mass is below 1e-30 of the total (quadratic convergence: ≤ 10
/// sweeps for n ≤ 50 in practice; capped at 100). Deterministic: fixed sweep order.
pub fn symmetric_eigen(matrix: &[f64], n: usize) -> NumResult<(Vec<f64>, Vec<f64>)> {
    if matrix.len() != n * n || matrix.iter().any(|v| !v.is_finite()) {
        return Err(NumericsError::Shape(format!("eigen-decomposition needs a finite {n} × {n} matrix")));
    }
    let mut a = matrix.to_vec();
    let mut v = vec![0.0; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j].powi(2))
            .sum();
        if off <= 1e-30 * total {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                jacobi_rotate(&mut a, &mut v, n, p, q);
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[i * n + i].total_cmp(&a[j * n + j]));
    let values = order.iter().map(|&k| a[k * n + k]).collect();
    let vectors = (0..n * n).map(|idx| v[(idx / n) * n + order[idx % n]]).collect();
    Ok((values, vectors))
}

/// One rotation zeroing a[p][q] (Golub & Van Loan, Alg. 8.5.2), accumulated into v.
fn jacobi_rotate(a: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = a[p * n + q];
    if apq == 0.0 {
        return;
    }
    let tau = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
    let t = tau.signum() / (tau.abs() + tau.hypot(1.0));
    let t = if tau == 0.0 { 1.0 } else { t };
    let c = 1.0 / t.hypot(1.0);
    let s = t * c;
    for k in 0..n {
        let (akp, akq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
    }
    for k in 0..n {
        let (apk, aqk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
    }
    for k in 0..n {
        let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
        v[k * n + p] = c * vkp - s * vkq;
        v[k * n + q] = s * vkp + c * vkq;
    }
}

/// Solves the tridiagonal system lower_i x_{i−1} + diag_i x_i + upper_i x_{i+1} = rhs_i
/// (lower_0 and upper_{n−1} ignored) by Thomas elimination; needs a diagonally dominant matrix
/// (the spline systems are: 2(h_{i−1} + h_i) > h_{i−1} + h_i).
pub fn tridiagonal_solve(lower: &[f64], diag: &[f64], upper: &[f64], rhs: &[f64]) -> NumResult<Vec<f64>> {
    let n = diag.len();
    if lower.len() != n || upper.len() != n || rhs.len() != n {
        return Err(NumericsError::Shape(format!("tridiagonal system of size {n} with mismatched bands")));
    }
    let (mut c, mut d) = (vec![0.0; n], vec![0.0; n]);
    for i in 0..n {
        let (l, u) = (if i > 0 { lower[i] } else { 0.0 }, if i + 1 < n { upper[i] } else { 0.0 });
        let (c_prev, d_prev) = if i > 0 { (c[i - 1], d[i - 1]) } else { (0.0, 0.0) };
        let pivot = diag[i] - l * c_prev;
        if pivot == 0.0 || !pivot.is_finite() {
            return Err(NumericsError::InvalidParameter(format!("tridiagonal pivot {i} is {pivot}")));
        }
        c[i] = u / pivot;
        d[i] = (rhs[i] - l * d_prev) / pivot;
    }
    for i in (0..n.saturating_sub(1)).rev() {
        d[i] -= c[i] * d[i + 1];
    }
    Ok(d)
}
