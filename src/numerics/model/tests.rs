use ndarray::{array, Array1, Array2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Random W whose pre-activations all stay ≥ `margin` away from 0, so the loss is smooth in a
/// ball around W and central differences are valid.
fn point_away_from_kinks(rng: &mut ChaCha8Rng, data: &Data, m: usize, margin: f64) -> Array2<f64> {
    loop {
        let w = Array2::from_shape_simple_fn((m, data.d()), || rng.random_range(-2.0..2.0));
        let z = w.dot(&data.x.t());
        if z.iter().all(|v| v.abs() > margin) {
            return w;
        }
    }
}

fn random_data(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Data {
    let inputs = Array2::from_shape_simple_fn((n, d - 1), || rng.random_range(-1.0..1.0));
    let y = Array1::from_shape_simple_fn(n, || rng.random_range(-1.0..1.0));
    Data::from_inputs(inputs.view(), y)
}

#[test]
fn gradient_matches_central_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let h = 1e-6;
    for &(m, n, d) in &[(1, 3, 2), (4, 5, 2), (7, 6, 3), (12, 9, 4), (50, 5, 2), (5, 14, 2), (6, 7, 6)] {
        for scaling in [Scaling::Sum, Scaling::Mean] {
            for loss_norm in [LossNorm::Mse, LossNorm::HalfMse] {
                let data = random_data(&mut rng, n, d);
                let net = ReluNet::alternating(m, scaling, loss_norm);
                let w = point_away_from_kinks(&mut rng, &data, m, 10.0 * h);
                let mut grad = Array2::zeros((m, d));
                net.loss_and_gradient(&data, w.view(), grad.view_mut());
                let mut err: f64 = 0.0;
                for idx in 0..m * d {
                    let (i, k) = (idx / d, idx % d);
                    let (mut wp, mut wm) = (w.clone(), w.clone());
                    wp[(i, k)] += h;
                    wm[(i, k)] -= h;
                    let fd = (net.loss(&data, wp.view()) - net.loss(&data, wm.view())) / (2.0 * h);
                    err = err.max((fd - grad[(i, k)]).abs());
                }
                let scale = grad.iter().fold(0.0_f64, |a, g| a.max(g.abs()));
                assert!(
                    err < 1e-6 * scale.max(1e-3),
                    "m={m} n={n} d={d} {scaling:?} {loss_norm:?}: error {err}, |grad| {scale}"
                );
            }
        }
    }
}

#[test]
fn three_point_example_one_gd_step() {
    // METHODS.md E2: X = [(1,1),(2,1),(4,1)], y = 2x, m = 1, α = 1, W⁰ = (1, 0), half_mse, λ = 1.
    let data = Data::new(array![[1.0, 1.0], [2.0, 1.0], [4.0, 1.0]], array![2.0, 4.0, 8.0]);
    let net = ReluNet { alpha: vec![1.0], scaling: Scaling::Sum, loss_norm: LossNorm::HalfMse };
    let w0 = array![[1.0, 0.0]];
    let mut grad = Array2::zeros((1, 2));
    let loss = net.loss_and_gradient(&data, w0.view(), grad.view_mut());
    let w1 = &w0 - &grad;
    assert!((w1[(0, 0)] - 8.0).abs() < 1e-12, "{w1}");
    assert!((w1[(0, 1)] - 7.0 / 3.0).abs() < 1e-12, "{w1}");
    // e = (−1, −2, −4): loss = (1 + 4 + 16) / 6.
    assert!((loss - 21.0 / 6.0).abs() < 1e-12);
    assert!(net.activation_pattern(&data, w0.view()).iter().all(|&s| s));
}

#[test]
fn relu_derivative_at_zero_is_zero() {
    // A neuron exactly on the kink of every point gets no gradient (σ'(0) = 0).
    let data = Data::new(array![[1.0, 1.0], [2.0, 1.0]], array![1.0, 1.0]);
    let net = ReluNet::alternating(1, Scaling::Sum, LossNorm::Mse);
    let mut grad = Array2::zeros((1, 2));
    net.loss_and_gradient(&data, array![[0.0, 0.0]].view(), grad.view_mut());
    assert_eq!(grad, Array2::<f64>::zeros((1, 2)));
}

#[test]
fn sine_data_and_lipschitz_bound() {
    let data = Data::sine(5);
    assert_eq!((data.n(), data.d()), (5, 2));
    assert!((data.x[(0, 0)] + 1.0).abs() < 1e-15 && (data.x[(4, 0)] - 1.0).abs() < 1e-15);
    assert!(data.y[2].abs() < 1e-15 && (data.y[1] + 1.0).abs() < 1e-15);
    // Σ‖X_j‖² = 5 + 2.5 = 7.5; METHODS.md L̂ = (2m/n) · 7.5 for Sum + Mse.
    let net = ReluNet::alternating(50, Scaling::Sum, LossNorm::Mse);
    assert!((net.lipschitz_bound(&data) - 150.0).abs() < 1e-12);
    let mean_half = ReluNet::alternating(50, Scaling::Mean, LossNorm::HalfMse);
    assert!((mean_half.lipschitz_bound(&data) - 150.0 / 2.0 / 2500.0).abs() < 1e-15);
}

#[test]
fn lipschitz_bound_bounds_gradient_differences_within_a_region() {
    // Inside one activation region ∇F is affine: ‖∇F(W) − ∇F(W')‖ ≤ L̂ ‖W − W'‖.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let data = Data::sine(5);
    for scaling in [Scaling::Sum, Scaling::Mean] {
        let net = ReluNet::alternating(6, scaling, LossNorm::Mse);
        let w = point_away_from_kinks(&mut rng, &data, 6, 1e-3);
        let dw = Array2::from_shape_simple_fn((6, 2), || rng.random_range(-1e-5..1e-5));
        let w2 = &w + &dw;
        let (mut g1, mut g2) = (Array2::zeros((6, 2)), Array2::zeros((6, 2)));
        net.loss_and_gradient(&data, w.view(), g1.view_mut());
        net.loss_and_gradient(&data, w2.view(), g2.view_mut());
        let lhs = (&g1 - &g2).mapv(|v| v * v).sum().sqrt();
        let rhs = net.lipschitz_bound(&data) * dw.mapv(|v| v * v).sum().sqrt();
        assert!(lhs <= rhs * (1.0 + 1e-9), "{scaling:?}: {lhs} > {rhs}");
    }
}

#[test]
fn shape_mismatch_is_nan_not_panic() {
    let data = Data::sine(5);
    let net = ReluNet::alternating(3, Scaling::Sum, LossNorm::Mse);
    let w = Array2::<f64>::zeros((2, 2));
    assert!(net.loss(&data, w.view()).is_nan());
    assert!(net.predict(&data, w.view()).iter().all(|v| v.is_nan()));
    assert!(ReluProblem::new(&net, &Data::new(Array2::zeros((0, 2)), Array1::zeros(0))).is_err());
}

#[test]
fn gaussian_init_is_reproducible() {
    let a = gaussian_init(50, 2, 1e-2, 42);
    assert_eq!(a, gaussian_init(50, 2, 1e-2, 42));
    assert_ne!(a, gaussian_init(50, 2, 1e-2, 43));
    let sd = (a.mapv(|v| v * v).sum() / 100.0).sqrt();
    assert!(sd > 0.5e-2 && sd < 2e-2, "{sd}");
}

#[test]
fn pattern_gradient_is_bit_identical_to_the_blocked_kernel() {
    // The per-pattern sums skip exact-zero terms only, so both paths give the same bits.
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    for (m, n) in [(50, 5), (13, 9), (3, 12)] {
        let data = random_data(&mut rng, n, 2);
        let net = ReluNet::alternating(m, Scaling::Sum, LossNorm::Mse);
        let problem = ReluProblem::new(&net, &data).expect("problem");
        let w: Vec<f64> = (0..m * 2).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut ws = problem.workspace();
        let mut by_pattern = vec![0.0; m * 2];
        problem.value_and_gradient(&w, &mut by_pattern, &mut ws);
        let mut blocked = vec![0.0; m * 2];
        let scale = 2.0 / n as f64;
        let x: Vec<f64> = data.x.iter().copied().collect();
        relu_loops::gradient_blocked::<2, true>(&w, &net.alpha, &x, &ws.residual, scale, &mut blocked);
        assert_eq!(by_pattern, blocked, "m={m} n={n}");
    }
}

/// F_λ = F + λ Σ‖w_i‖² by central differences of `value`, at points away from kinks, for every
/// (scaling, loss) and several λ; and the decay part of the gradient is exactly 2λW (λ = 0 vs λ).
#[test]
fn weight_decay_gradient_matches_central_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let h = 1e-6;
    for &(m, n, d) in &[(1, 3, 2), (4, 5, 2), (7, 6, 3), (50, 5, 2), (6, 7, 6)] {
        for (scaling, loss_norm) in [(Scaling::Sum, LossNorm::Mse), (Scaling::Mean, LossNorm::HalfMse)] {
            for lambda in [1e-3, 0.1, 2.0] {
                let data = random_data(&mut rng, n, d);
                let net = ReluNet::alternating(m, scaling, loss_norm);
                let plain = ReluProblem::new(&net, &data).unwrap();
                let problem = ReluProblem::new(&net, &data).unwrap().with_weight_decay(lambda).unwrap();
                let w = flat(point_away_from_kinks(&mut rng, &data, m, 10.0 * h).view());
                let mut ws = problem.workspace();
                let (mut grad, mut grad0) = (vec![0.0; m * d], vec![0.0; m * d]);
                let value = problem.value_and_gradient(&w, &mut grad, &mut ws);
                let value0 = plain.value_and_gradient(&w, &mut grad0, &mut ws);
                let sq: f64 = w.iter().map(|x| x * x).sum();
                assert!((value - value0 - lambda * sq).abs() <= 1e-13 * value.abs().max(1.0), "value");
                let mut err: f64 = 0.0;
                for idx in 0..m * d {
                    let (mut wp, mut wm) = (w.clone(), w.clone());
                    wp[idx] += h;
                    wm[idx] -= h;
                    let fd = (problem.value(&wp, &mut ws) - problem.value(&wm, &mut ws)) / (2.0 * h);
                    err = err.max((fd - grad[idx]).abs());
                    let decay_part = grad[idx] - grad0[idx];
                    assert!((decay_part - 2.0 * lambda * w[idx]).abs() <= 1e-12 * grad[idx].abs().max(1.0));
                }
                let scale = grad.iter().fold(0.0_f64, |a, g| a.max(g.abs()));
                assert!(err < 1e-6 * scale.max(1e-3), "m={m} n={n} d={d} λ={lambda}: error {err}, |grad| {scale}");
                assert_eq!(problem.lipschitz_bound(), plain.lipschitz_bound() + 2.0 * lambda);
            }
        }
    }
}

#[test]
fn weight_decay_zero_is_the_plain_objective_and_bad_values_are_refused() {
    let (net, data) = (ReluNet::alternating(6, Scaling::Sum, LossNorm::Mse), Data::sine(5));
    let plain = ReluProblem::new(&net, &data).unwrap();
    let zero = ReluProblem::new(&net, &data).unwrap().with_weight_decay(0.0).unwrap();
    assert_eq!(zero.weight_decay(), 0.0);
    assert_eq!(zero.lipschitz_bound().to_bits(), plain.lipschitz_bound().to_bits());
    let w = flat(gaussian_init(6, 2, 0.5, 1).view());
    let (mut g, mut g0) = (vec![0.0; 12], vec![0.0; 12]);
    let mut ws = plain.workspace();
    let v = zero.value_and_gradient(&w, &mut g, &mut ws);
    let v0 = plain.value_and_gradient(&w, &mut g0, &mut ws);
    assert_eq!((v.to_bits(), g), (v0.to_bits(), g0));
    for bad in [-1e-3, f64::NAN, f64::INFINITY] {
        let err = ReluProblem::new(&net, &data).unwrap().with_weight_decay(bad).map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("weight_decay"), "{err}");
    }
}
