//! Exact prox steps against independent computations: a dense enumeration of the faces of a
//! region QP, brute force over every region at m ≤ 4, random perturbations, weak duality, and
//! the seed's GD inner loop.

use ndarray::{Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::local::{Slope, RAY_TOL};
use super::region::{Region, RegionWork};
use super::sectors::{cross, dot, Sectors, Setup};
use super::*;
use crate::numerics::assignment::{solve_assignment, squared_distance_cost};
use crate::numerics::model::{gaussian_init, Data, LossNorm, ReluNet, Scaling};

mod brute;
mod decay;
mod steps;

/// Random 1-D inputs (sorted, distinct) with a bias, random labels.
fn random_data(rng: &mut ChaCha8Rng, n: usize) -> Data {
    let mut xs: Vec<f64> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
    xs.sort_by(f64::total_cmp);
    let inputs = Array2::from_shape_vec((n, 1), xs).expect("shape");
    let y = Array1::from_shape_simple_fn(n, || rng.random_range(-1.0..1.0));
    Data::from_inputs(inputs.view(), y)
}

fn random_points(rng: &mut ChaCha8Rng, m: usize, scale: f64) -> Vec<[f64; 2]> {
    (0..m).map(|_| [scale * rng.random_range(-1.0..1.0), scale * rng.random_range(-1.0..1.0)]).collect()
}

fn to_array(v: &[[f64; 2]]) -> Array2<f64> {
    Array2::from_shape_fn((v.len(), 2), |(i, k)| v[i][k])
}

fn rows(a: &Array2<f64>) -> Vec<[f64; 2]> {
    a.rows().into_iter().map(|r| [r[0], r[1]]).collect()
}

/// Φ(V) toward targets T.
fn phi(setup: &Setup, v: &[[f64; 2]], t: &[[f64; 2]], rho: f64) -> f64 {
    setup.objective(v, t, rho, &mut vec![0.0; setup.n()])
}

/// Solves A x = b (dense, partial pivoting); None if singular.
fn dense_solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let piv = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-300 {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        for r in col + 1..n {
            let f = a[r][col] / a[col][col];
            for c in col..n {
                a[r][c] -= f * a[col][c];
            }
            b[r] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let s: f64 = (r + 1..n).map(|c| a[r][c] * x[c]).sum();
        x[r] = (b[r] - s) / a[r][r];
    }
    Some(x)
}

/// The region QP by enumeration of faces: every neuron free in the plane, on one boundary ray,
/// or at the apex; each face product's equality-constrained minimum by a dense normal-equation
/// solve; the feasible candidate of least Φ is the region optimum (it lies in the relative
/// interior of one face product, where it minimises Φ over that face's span).
fn dense_region_optimum(
    setup: &Setup,
    geo: &Sectors,
    t: &[[f64; 2]],
    sector: &[usize],
    rho: f64,
) -> (f64, Vec<[f64; 2]>) {
    dense_region_optimum_decayed(setup, geo, t, sector, rho, 0.0)
}

/// The same with weight decay: Φ_λ = Φ + λ Σ‖V_i‖² adds 2λ to the quadratic term's diagonal
/// (the normal equations), entered directly, not through the solver's reduction to shrunk targets.
fn dense_region_optimum_decayed(
    setup: &Setup,
    geo: &Sectors,
    t: &[[f64; 2]],
    sector: &[usize],
    rho: f64,
    lambda: f64,
) -> (f64, Vec<[f64; 2]>) {
    let (m, n) = (setup.m(), setup.n());
    let mut best = (f64::INFINITY, vec![]);
    for code in 0..4usize.pow(m as u32) {
        // Basis vectors of each neuron's face span.
        let mut basis: Vec<(usize, [f64; 2])> = vec![];
        for i in 0..m {
            let s = sector[i];
            match (code / 4usize.pow(i as u32)) % 4 {
                0 => basis.extend([(i, [1.0, 0.0]), (i, [0.0, 1.0])]),
                1 => basis.push((i, geo.rays[s])),
                2 => basis.push((i, geo.rays[(s + 1) % geo.count()])),
                _ => {}
            }
        }
        // Columns of A B: column q is c α_i S_sj ⟨X_j, basis_q⟩.
        let col = |q: usize, j: usize| {
            let (i, b) = basis[q];
            setup.c * setup.alpha[i] * geo.pattern_of(sector[i])[j] * dot(setup.x[j], b)
        };
        let k2 = 2.0 * setup.k / n as f64;
        let dim = basis.len();
        let mut a = vec![vec![0.0; dim]; dim];
        let mut rhs = vec![0.0; dim];
        for p in 0..dim {
            for q in 0..dim {
                let same = if basis[p].0 == basis[q].0 { dot(basis[p].1, basis[q].1) } else { 0.0 };
                a[p][q] = k2 * (0..n).map(|j| col(p, j) * col(q, j)).sum::<f64>() + (rho + 2.0 * lambda) * same;
            }
            rhs[p] = k2 * (0..n).map(|j| col(p, j) * setup.y[j]).sum::<f64>() + rho * dot(basis[p].1, t[basis[p].0]);
        }
        let Some(z) = dense_solve(a, rhs) else { continue };
        let mut v = vec![[0.0; 2]; m];
        for (q, (i, b)) in basis.iter().enumerate() {
            v[*i][0] += z[q] * b[0];
            v[*i][1] += z[q] * b[1];
        }
        let feasible = (0..m).all(|i| in_sector(geo, sector[i], v[i]));
        let value = phi(setup, &v, t, rho) + lambda * v.iter().map(|p| dot(*p, *p)).sum::<f64>();
        if feasible && value < best.0 {
            best = (value, v);
        }
    }
    best
}

/// Whether v is in closed sector s (to rounding).
fn in_sector(geo: &Sectors, s: usize, v: [f64; 2]) -> bool {
    let tol = 1e-12 * dot(v, v).sqrt().max(1e-300);
    let (r1, r2) = (geo.rays[s], geo.rays[(s + 1) % geo.count()]);
    cross(r1, v) >= -tol && cross(v, r2) >= -tol
}

/// Setup and sectors for random data and signs.
fn random_setup(rng: &mut ChaCha8Rng, m: usize, n: usize, scaling: Scaling, loss: LossNorm) -> (Setup, Sectors) {
    let data = random_data(rng, n);
    let mut net = ReluNet::alternating(m, scaling, loss);
    net.alpha.iter_mut().for_each(|a| *a *= rng.random_range(0.5..2.0));
    let problem = ReluProblem::new(&net, &data).expect("problem");
    let setup = Setup::new(&problem).expect("d = 2");
    let geo = Sectors::new(&setup.x).expect("sectors");
    (setup, geo)
}

#[test]
fn region_qp_matches_dense_face_enumeration() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut work = RegionWork::default();
    let mut faces_seen = [0usize; 3];
    for trial in 0..300 {
        let (m, n) = (1 + trial % 4, 2 + trial % 5);
        let (scaling, loss) =
            if trial % 3 == 0 { (Scaling::Mean, LossNorm::HalfMse) } else { (Scaling::Sum, LossNorm::Mse) };
        let (setup, geo) = random_setup(&mut rng, m, n, scaling, loss);
        let sector: Vec<usize> = (0..m).map(|_| rng.random_range(0..geo.count())).collect();
        let t = random_points(&mut rng, m, 2.0);
        let rho = 10f64.powf(rng.random_range(-2.0..2.0));
        work.resize(m, n, geo.count());
        work.u.iter_mut().for_each(|u| *u = 0.0);
        let region = Region { setup: &setup, geo: &geo, target: &t, sector: &sector, rho };
        let (g, _) = work.solve(&region);
        let (value, v) = dense_region_optimum(&setup, &geo, &t, &sector, rho);
        let scale = value.abs().max(1.0);
        assert!((phi(&setup, &work.v, &t, rho) - value).abs() <= 1e-12 * scale, "trial {trial}: Φ");
        assert!((g - value).abs() <= 1e-12 * scale, "trial {trial}: strong duality g = {g}, Φ = {value}");
        for (a, b) in work.v.iter().zip(&v) {
            assert!(
                (a[0] - b[0]).abs().max((a[1] - b[1]).abs()) <= 1e-12 * scale.max(dot(*b, *b).sqrt()),
                "trial {trial}: V"
            );
        }
        for f in &work.faces {
            faces_seen[match f {
                sectors::Face::Inside => 0,
                sectors::Face::Ray(_) => 1,
                sectors::Face::Origin => 2,
            }] += 1;
        }
    }
    assert!(faces_seen.iter().all(|&c| c >= 20), "every kind of face exercised: {faces_seen:?}");
}

#[test]
fn a_point_on_a_concave_kink_fails_the_ray_test_and_is_not_a_local_minimum() {
    let data = Data::sine(5);
    let mut net = ReluNet::alternating(1, Scaling::Sum, LossNorm::Mse);
    let problem = ReluProblem::new(&net, &data).expect("problem");
    let setup = Setup::new(&problem).expect("d = 2");
    let geo = Sectors::new(&setup.x).expect("sectors");
    // x_3 = 0.5, y_3 = 1: v = (1, −0.5) sits on its line, f_3 = 0, e_3 = −1, α = +1: the kink
    // term κ α e_3 max(0, ⟨δ, X_3⟩) is concave. W = v removes the distance term's slope.
    let v = [[1.0, -0.5]];
    let rho = 0.3;
    let mut f = vec![0.0; 5];
    setup.outputs(&v, &mut f);
    let e: Vec<f64> = f.iter().zip(&setup.y).map(|(a, b)| a - b).collect();
    assert!(e[3] < -0.99);
    let (lowest, q) = Slope::new(&setup, rho, v[0], v[0], 1.0, &e).min_over(&geo);
    assert!(lowest < -0.1, "φ_min = {lowest}");
    // Moving a little along the failing ray lowers Φ: it really is not a local minimum.
    let r = geo.rays[q];
    let moved = [[v[0][0] + 1e-6 * r[0], v[0][1] + 1e-6 * r[1]]];
    assert!(phi(&setup, &moved, &v, rho) < phi(&setup, &v, &v, rho) - 1e-8);
    // With α = −1 the same kink is convex; that neuron's test then no longer fails at ray q.
    net.alpha[0] = -1.0;
    let (flipped, _) = Slope::new(&setup, rho, v[0], v[0], -1.0, &e).min_over(&geo);
    assert!(flipped > lowest);
}

#[test]
fn other_dimensions_are_refused_with_a_clear_error() {
    let inputs = Array2::from_shape_fn((5, 2), |(j, k)| (j + k) as f64 / 5.0);
    let data = Data::from_inputs(inputs.view(), Array1::zeros(5));
    let net = ReluNet::alternating(4, Scaling::Sum, LossNorm::Mse);
    let problem = ReluProblem::new(&net, &data).expect("problem");
    let w = Array2::zeros((4, 3));
    let cfg = ExactProxConfig::new(0.1, ProxDistance::Frobenius, ExactSolver::Local);
    let err = exact_prox_step(&problem, w.view(), &cfg, &mut ExactWorkspace::new()).expect_err("d = 3");
    assert!(matches!(err, NumericsError::InvalidParameter(ref s) if s.contains("d = 2")), "{err}");
    let cfg = ExactProxConfig::new(0.0, ProxDistance::Frobenius, ExactSolver::Local);
    let (net, data) = (ReluNet::alternating(4, Scaling::Sum, LossNorm::Mse), Data::sine(5));
    let problem = ReluProblem::new(&net, &data).expect("problem");
    let err = exact_prox_step(&problem, Array2::zeros((4, 2)).view(), &cfg, &mut ExactWorkspace::new());
    assert!(matches!(err, Err(NumericsError::InvalidParameter(_))));
}
