use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;
use crate::numerics::descent::gradient_descent_step;
use crate::numerics::model::{Data, LossNorm, ReluNet, Scaling};
use crate::numerics::objective::Objective;

const EPS: f64 = f64::EPSILON;

fn problem(data: &Data, m: usize, normalisation: Normalisation, trained: Trained) -> WilliamsProblem {
    WilliamsProblem::new(data, m, normalisation, trained).expect("problem")
}

/// Random neurons whose pre-activations a x_j − b stay ≥ `margin` from 0 at every sample, so L
/// is smooth around them and central differences are valid.
fn neurons_away_from_kinks(rng: &mut ChaCha8Rng, xs: &[f64], m: usize, margin: f64) -> Neurons {
    let mut n = Neurons { a: vec![], b: vec![], c: vec![] };
    while n.m() < m {
        let (a, b, c): (f64, f64, f64) =
            (rng.random_range(-2.0..2.0), rng.random_range(-2.0..2.0), rng.random_range(-2.0..2.0));
        if xs.iter().all(|&x| (a * x - b).abs() > margin) {
            n.a.push(a);
            n.b.push(b);
            n.c.push(c);
        }
    }
    n
}

fn loss_and_gradient(p: &WilliamsProblem, z: &[f64]) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; z.len()];
    let loss = p.value_and_gradient(z, &mut g, &mut p.workspace());
    (loss, g)
}

#[test]
fn gradient_matches_central_differences_and_frozen_parts_are_zero() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let h = 1e-6;
    for (m, s) in [(1, 3), (7, 10), (40, 20)] {
        let data = Data::sine(s);
        let xs = data.x.column(0).to_vec();
        for normalisation in [Normalisation::SqrtM, Normalisation::M] {
            let z = neurons_away_from_kinks(&mut rng, &xs, m, 10.0 * h).to_flat();
            let full = problem(&data, m, normalisation, Trained::All);
            let (_, g) = loss_and_gradient(&full, &z);
            let mut err: f64 = 0.0;
            for k in 0..z.len() {
                let (mut zp, mut zm) = (z.clone(), z.clone());
                zp[k] += h;
                zm[k] -= h;
                let fd = (full.value(&zp, &mut full.workspace()) - full.value(&zm, &mut full.workspace())) / (2.0 * h);
                err = err.max((fd - g[k]).abs());
            }
            let scale = g.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
            assert!(err < 1e-7 * scale.max(1.0), "m={m} s={s} {normalisation:?}: error {err}, |grad| {scale}");
            for (trained, frozen) in
                [(Trained::OutputOnly, [true, true, false]), (Trained::InputOnly, [false, false, true])]
            {
                let (_, gl) = loss_and_gradient(&problem(&data, m, normalisation, trained), &z);
                for (k, (&gk, &full_k)) in gl.iter().zip(&g).enumerate() {
                    assert_eq!(gk, if frozen[k % 3] { 0.0 } else { full_k }, "{trained:?} coordinate {k}");
                }
            }
        }
    }
}

#[test]
fn input_gradient_agrees_with_the_fixed_sign_model() {
    // c frozen: the model is model.rs's ReluNet with w_i = (a_i, −b_i), second layer c_i/α, Sum
    // scaling; its HalfMse loss is ours divided by s, so its gradient is ours / s (b with a minus).
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let (m, s) = (30, 12);
    let data = Data::sine(s);
    let xs = data.x.column(0).to_vec();
    let neurons = neurons_away_from_kinks(&mut rng, &xs, m, 1e-3);
    let p = problem(&data, m, Normalisation::SqrtM, Trained::InputOnly);
    let (loss, g) = loss_and_gradient(&p, &neurons.to_flat());
    let alpha = (m as f64).sqrt();
    let net = ReluNet {
        alpha: neurons.c.iter().map(|c| c / alpha).collect(),
        scaling: Scaling::Sum,
        loss_norm: LossNorm::HalfMse,
    };
    let w = ndarray::Array2::from_shape_fn((m, 2), |(i, k)| if k == 0 { neurons.a[i] } else { -neurons.b[i] });
    let mut gw = ndarray::Array2::zeros((m, 2));
    let theirs = net.loss_and_gradient(&data, w.view(), gw.view_mut());
    assert!((loss - s as f64 * theirs).abs() <= 1e-13 * loss, "{loss} vs {}", s as f64 * theirs);
    for i in 0..m {
        assert!((g[3 * i] - s as f64 * gw[(i, 0)]).abs() <= 1e-13 * g[3 * i].abs().max(1e-3), "a {i}");
        assert!((g[3 * i + 1] + s as f64 * gw[(i, 1)]).abs() <= 1e-13 * g[3 * i + 1].abs().max(1e-3), "b {i}");
    }
}

/// PyTorch-style init of width m rescaled to δ, on the sine data with s samples.
fn setup(m: usize, s: usize, delta: f64, seed: u64) -> (WilliamsProblem, Neurons) {
    let (neurons, trained) = prepare(&pytorch_init(m, seed).expect("init"), delta).expect("prepare");
    (problem(&Data::sine(s), m, Normalisation::SqrtM, trained), neurons)
}

#[test]
fn delta_changes_per_gd_step_by_eta_squared_times_the_gradient_gap() {
    // One step: δ_i' − δ_i = −2η(c g_c − a g_a − b g_b) + η²(g_c² − g_a² − g_b²), and the first
    // bracket is 0 exactly in real arithmetic (relu(t) = t relu'(t)); in floating point both δ
    // carry ≲ 4ε(a² + b² + c²) of round-off and the bracket ≲ 2ε·s·Σ|terms|.
    let (mut biggest, mut worst_ratio) = (0.0_f64, 0.0_f64);
    for delta in [-1.0, 0.0, 1.0, 10.0] {
        let (p, start) = setup(50, 10, delta, 3);
        let eta = ntk_step_size(&p, &start, 0.5).expect("eta");
        let mut z = start.to_flat();
        let (mut g, mut ws) = (vec![0.0; z.len()], p.workspace());
        for step in 0..200 {
            let (_, grad) = loss_and_gradient(&p, &z);
            let before = Neurons::from_flat(&z).expect("flat");
            gradient_descent_step(&p, &mut z, eta, &mut g, &mut ws, step).expect("step");
            let after = Neurons::from_flat(&z).expect("flat");
            let (d0, d1) = (before.delta(), after.delta());
            for i in 0..start.m() {
                let (ga, gb, gc) = (grad[3 * i], grad[3 * i + 1], grad[3 * i + 2]);
                let predicted = eta * eta * (gc * gc - ga * ga - gb * gb);
                let size = |n: &Neurons| n.a[i].powi(2) + n.b[i].powi(2) + n.c[i].powi(2);
                let cross = (before.c[i] * gc).abs() + (before.a[i] * ga).abs() + (before.b[i] * gb).abs();
                let tol = 8.0 * EPS * (size(&before) + size(&after)) + 40.0 * EPS * eta * cross;
                worst_ratio = worst_ratio.max(((d1[i] - d0[i]) - predicted).abs() / tol);
                biggest = biggest.max(predicted.abs() / tol);
            }
        }
    }
    assert!(worst_ratio <= 1.0, "δ step deviates from η²(g_c² − g_a² − g_b²) by {worst_ratio} × round-off");
    assert!(biggest > 1e6, "the η² term ({biggest} × round-off) is too small for the test to mean anything");
}

/// max_i |δ_i(T) − δ_i(0)| after flow time T = steps · η.
fn delta_drift(p: &WilliamsProblem, start: &Neurons, eta: f64, steps: usize) -> f64 {
    let end = train(p, start, eta, steps, |_, _| {}).expect("train").neurons;
    end.delta().iter().zip(start.delta()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max)
}

#[test]
fn delta_drift_at_fixed_flow_time_halves_with_eta() {
    // By the per-step identity the drift is η Σ_k η(g_c² − g_a² − g_b²) = η ∫ (…) dt + O(η²). At
    // δ = −1 (c² ≈ 1e-6 ≪ a² + b²) the integrand ≈ g_c² ≥ 0 has one sign, so the leading term
    // cannot cancel; at δ = +1 it changes sign and the measured ratio wandered (2.19 at
    // 0.5/λ_max, 2.76 at 0.1/λ_max). Measured here: 1.45e-2 at η, 7.08e-3 at η/2, ratio 2.05.
    let (p, start) = setup(50, 10, -1.0, 4);
    let eta = ntk_step_size(&p, &start, 0.5).expect("eta");
    let (coarse, fine) = (delta_drift(&p, &start, eta, 400), delta_drift(&p, &start, eta / 2.0, 800));
    let ratio = coarse / fine;
    assert!(coarse > 1e-8 && (1.9..2.1).contains(&ratio), "drift {coarse} at η, {fine} at η/2: ratio {ratio}");
}

#[test]
fn rescaling_keeps_the_function_and_sets_delta() {
    let start = pytorch_init(200, 9).expect("init");
    let grid = linspace(-1.5, 1.5, 301);
    let f0 = start.evaluate(Normalisation::SqrtM, &grid);
    let scale = f0.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    assert!(scale > 1e-4, "initial function too flat to test: {scale}");
    for delta in [-100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0] {
        let n = set_delta(&start, delta).expect("rescale");
        let f = n.evaluate(Normalisation::SqrtM, &grid);
        let err = f.iter().zip(&f0).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        assert!(err <= 1e-12 * scale, "δ = {delta}: f moved by {err}");
        for (i, d) in n.delta().iter().enumerate() {
            let size = n.a[i].powi(2) + n.b[i].powi(2) + n.c[i].powi(2);
            assert!((d - delta).abs() <= 4.0 * EPS * size, "δ = {delta}, neuron {i}: {d}");
            assert_eq!(n.c[i].signum(), start.c[i].signum());
            assert!(n.a[i] * start.a[i] >= 0.0 && n.b[i] * start.b[i] >= 0.0, "k > 0");
        }
    }
    let dead = Neurons { a: vec![1.0], b: vec![0.5], c: vec![0.0] };
    assert!(set_delta(&dead, 1.0).is_err());
    assert!(set_delta(&start, f64::NAN).is_err());
}

#[test]
fn the_limits_freeze_knots_or_output_weights_bit_for_bit() {
    for (delta, frozen_knots) in [(f64::NEG_INFINITY, true), (f64::INFINITY, false)] {
        let (p, start) = setup(100, 10, delta, 6);
        let eta = ntk_step_size(&p, &start, 0.5).expect("eta");
        let out = train(&p, &start, eta, 300, |_, _| {}).expect("train");
        assert!(out.losses[300] < 0.5 * out.losses[0], "δ = {delta}: loss {:?}", (out.losses[0], out.losses[300]));
        let (p0, p1) = (start.particles(Normalisation::SqrtM), out.neurons.particles(Normalisation::SqrtM));
        if frozen_knots {
            assert_eq!((out.neurons.a.clone(), out.neurons.b.clone()), (start.a.clone(), start.b.clone()));
            assert!(p0.iter().zip(&p1).all(|(x, y)| x.theta == y.theta));
        } else {
            assert_eq!(out.neurons.c, start.c);
            assert!(p0.iter().zip(&p1).any(|(x, y)| (x.theta - y.theta).abs() > 1e-3), "θ must move at δ = +∞");
        }
    }
}

#[test]
fn canonical_metric_is_the_jacobian_gram_matrix() {
    // Prop. 4 / eq. (19): J Jᵀ = diag((m/α)²(a² + b² + c²), 1/(a² + b²)) for (a, b, c) → (r, θ).
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let h = 1e-6;
    for normalisation in [Normalisation::SqrtM, Normalisation::M] {
        let n = neurons_away_from_kinks(&mut rng, &[], 4, 0.0);
        let ratio2 = (4.0 / normalisation.alpha(4)).powi(2);
        for i in 0..4 {
            let mut jac = [[0.0; 3]; 2];
            for k in 0..3 {
                let (mut zp, mut zm) = (n.to_flat(), n.to_flat());
                zp[3 * i + k] += h;
                zm[3 * i + k] -= h;
                let pp = Neurons::from_flat(&zp).expect("flat").particles(normalisation)[i];
                let pm = Neurons::from_flat(&zm).expect("flat").particles(normalisation)[i];
                jac[0][k] = (pp.r - pm.r) / (2.0 * h);
                jac[1][k] = (pp.theta - pm.theta) / (2.0 * h);
            }
            let dot = |p: usize, q: usize| (0..3).map(|k| jac[p][k] * jac[q][k]).sum::<f64>();
            let ab2 = n.a[i].powi(2) + n.b[i].powi(2);
            let expected = [ratio2 * (ab2 + n.c[i].powi(2)), 0.0, 1.0 / ab2];
            for (got, want) in [dot(0, 0), dot(0, 1), dot(1, 1)].iter().zip(expected) {
                assert!(
                    (got - want).abs() < 1e-7 * expected[0].max(expected[2]),
                    "{normalisation:?} {i}: {got} vs {want}"
                );
            }
        }
    }
}

#[test]
fn knots_and_particles_agree_with_the_sample_lines() {
    // e_i = x  ⇔  particle i on the line u x + v = 0; f is linear between knots.
    let n = Neurons { a: vec![2.0, -1.0, 0.0], b: vec![1.0, 0.25, 0.3], c: vec![0.5, -2.0, 1.0] };
    assert_eq!(n.knots(), vec![Some(0.5), Some(-0.25), None]);
    for (p, e) in n.particles(Normalisation::M).iter().zip([0.5, -0.25]) {
        assert!((p.u * e + p.v).abs() < 1e-15, "{p:?}");
        assert!((p.r.abs() - p.u.hypot(p.v)).abs() < 1e-15);
    }
    assert!(n.particles(Normalisation::M)[1].r < 0.0);
    let f = |x: f64| n.evaluate(Normalisation::SqrtM, &[x])[0];
    let second_difference = |x: f64| f(x - 0.01) - 2.0 * f(x) + f(x + 0.01);
    assert!(second_difference(0.2).abs() < 1e-15 && second_difference(0.5).abs() > 1e-3);
    assert!((f(1.0) - (0.5 * 1.0 + 1.0 * 0.0 + 0.3 * 0.0) / 3f64.sqrt()).abs() < 1e-15);
}

#[test]
fn gaussian_rf_kernel_matches_monte_carlo() {
    // N draws of (a, b) ~ N(0, I₂); each estimate has standard error σ̂/√N, σ̂ the sample standard
    // deviation of the product: require |MC − K| < 5 σ̂/√N (and σ̂/√N < 3e-3 so that it bites).
    use rand_distr::{Distribution, StandardNormal};
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let samples = 400_000;
    let draws: Vec<(f64, f64)> =
        (0..samples).map(|_| (StandardNormal.sample(&mut rng), StandardNormal.sample(&mut rng))).collect();
    for (x, xp) in [(-1.0, 0.5), (0.5, 0.5), (0.0, 0.0), (2.0, -1.5), (0.3, 0.9), (-0.7, -0.2)] {
        let values: Vec<f64> = draws.iter().map(|&(a, b)| (a * x - b).max(0.0) * (a * xp - b).max(0.0)).collect();
        let mean = values.iter().sum::<f64>() / samples as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (samples - 1) as f64;
        let se = (var / samples as f64).sqrt();
        let k = gaussian_rf_kernel(x, xp);
        assert!(se < 3e-3 && (mean - k).abs() < 5.0 * se, "({x}, {xp}): MC {mean} ± {se}, closed form {k}");
    }
    assert!((gaussian_rf_kernel(0.5, 0.5) - 0.625).abs() < 1e-15);
}

#[test]
fn tangent_kernel_terms_match_the_gram_matrix_and_the_rf_limit() {
    let (p, n) = setup(60, 8, 0.5, 8);
    let gram = ntk_gram(&p, &n).expect("gram");
    let xs = p.inputs().to_vec();
    for (j, &x) in xs.iter().enumerate() {
        let terms = tangent_kernel_terms(&n, Normalisation::SqrtM, x, &xs).expect("terms");
        for (k, t) in terms.iter().enumerate() {
            let theta = t.rf + t.bias + t.slope;
            assert!((theta - gram[j * xs.len() + k]).abs() < 1e-14 * theta.abs().max(1.0), "({j}, {k})");
        }
    }
    // Gaussian features, m = 40000: rf → K_RF^Gauss with Monte-Carlo error ~ 1/√m = 5e-3.
    let wide = init_neurons(40_000, FeatureLaw::Gaussian, 0.0, 1).expect("init");
    let grid = linspace(-2.0, 2.0, 41);
    let terms = tangent_kernel_terms(&wide, Normalisation::SqrtM, 0.5, &grid).expect("terms");
    let err = terms.iter().zip(&grid).map(|(t, &xp)| (t.rf - gaussian_rf_kernel(0.5, xp)).abs()).fold(0.0, f64::max);
    assert!(err < 0.03, "sup |T1 − K_RF| = {err}");
}

#[test]
fn gram_matrix_is_the_jacobian_product() {
    // Θ = J Jᵀ with J_j = ∂f(x_j)/∂z by central differences (points away from kinks).
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let data = Data::sine(6);
    let xs = data.x.column(0).to_vec();
    let n = neurons_away_from_kinks(&mut rng, &xs, 5, 1e-4);
    let h = 1e-6;
    for trained in [Trained::All, Trained::OutputOnly, Trained::InputOnly] {
        let p = problem(&data, 5, Normalisation::SqrtM, trained);
        let gram = ntk_gram(&p, &n).expect("gram");
        let z = n.to_flat();
        let jac: Vec<Vec<f64>> = (0..z.len())
            .filter(|k| match trained {
                Trained::All => true,
                Trained::OutputOnly => k % 3 == 2,
                Trained::InputOnly => k % 3 != 2,
            })
            .map(|k| {
                let (mut zp, mut zm) = (z.clone(), z.clone());
                zp[k] += h;
                zm[k] -= h;
                let fp = Neurons::from_flat(&zp).expect("flat").evaluate(Normalisation::SqrtM, &xs);
                let fm = Neurons::from_flat(&zm).expect("flat").evaluate(Normalisation::SqrtM, &xs);
                fp.iter().zip(&fm).map(|(a, b)| (a - b) / (2.0 * h)).collect()
            })
            .collect();
        for j in 0..6 {
            for k in 0..6 {
                let fd: f64 = jac.iter().map(|col| col[j] * col[k]).sum();
                assert!((fd - gram[j * 6 + k]).abs() < 1e-7, "{trained:?} ({j}, {k}): {fd} vs {}", gram[j * 6 + k]);
            }
        }
    }
}

#[test]
fn jacobi_eigen_decomposition_reconstructs_the_matrix() {
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let n = 12;
    let mut a = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let v: f64 = rng.random_range(-1.0..1.0);
            a[i * n + j] = v;
            a[j * n + i] = v;
        }
    }
    let (values, vectors) = symmetric_eigen(&a, n).expect("eigen");
    assert!(values.windows(2).all(|w| w[0] <= w[1]));
    for i in 0..n {
        for j in 0..n {
            let rebuilt: f64 = (0..n).map(|k| vectors[i * n + k] * values[k] * vectors[j * n + k]).sum();
            let gram: f64 = (0..n).map(|k| vectors[k * n + i] * vectors[k * n + j]).sum();
            assert!((rebuilt - a[i * n + j]).abs() < 1e-13, "A[{i}][{j}]");
            assert!((gram - if i == j { 1.0 } else { 0.0 }).abs() < 1e-13, "VᵀV[{i}][{j}]");
        }
    }
    assert!(symmetric_eigen(&a[..10], n).is_err());
}

#[test]
fn spline_reproduces_a_cubic_with_its_end_curvatures() {
    // p(x) = 2 − x + 0.5x² − 1.5x³ is C² and cubic: the spline with p''(x_1), p''(x_s) is p itself.
    let p = |x: f64| 2.0 - x + 0.5 * x * x - 1.5 * x * x * x;
    let p2 = |x: f64| 1.0 - 9.0 * x;
    let xs = [-1.0, -0.6, -0.1, 0.2, 0.7, 1.3];
    let ys: Vec<f64> = xs.iter().map(|&x| p(x)).collect();
    let s = CubicSpline::with_end_curvatures(&xs, &ys, p2(-1.0), p2(1.3)).expect("spline");
    for t in linspace(-1.0, 1.3, 231) {
        assert!((s.evaluate(t) - p(t)).abs() < 1e-13, "S({t}) = {} vs {}", s.evaluate(t), p(t));
    }
    for (m, &x) in s.curvatures().iter().zip(&xs) {
        assert!((m - p2(x)).abs() < 1e-12);
    }
    assert!(CubicSpline::natural(&[0.0, 0.0], &[1.0, 2.0]).is_err());
    assert!(CubicSpline::natural(&[0.0], &[1.0]).is_err());
}

#[test]
fn natural_spline_of_three_points_is_the_closed_form() {
    // x = −1, 0, 1, y = 0, 1, 0: 4 M₁ = 6(−1 − 1) ⇒ M₁ = −3, S(x) = 1 − 1.5x² + 0.5|x|³, linear outside.
    let s = CubicSpline::natural(&[-1.0, 0.0, 1.0], &[0.0, 1.0, 0.0]).expect("spline");
    for t in linspace(-1.0, 1.0, 41) {
        let exact = 1.0 - 1.5 * t * t + 0.5 * t.abs().powi(3);
        assert!((s.evaluate(t) - exact).abs() < 1e-15, "S({t})");
    }
    assert!((s.evaluate(2.0) - (-1.5)).abs() < 1e-15 && (s.evaluate(-3.0) - (-3.0)).abs() < 1e-15);
}

/// sup over [x_1, x_s] (2001 points) of |f − S| for the min-norm c-only fit of width m.
fn min_norm_spline_distance(m: usize, seed: u64) -> f64 {
    let xs = linspace(-0.9, 0.9, 10);
    let data = square_wave_data(&xs);
    let ys = data.y.to_vec();
    let features = init_neurons(m, FeatureLaw::Uniform, 0.0, seed).expect("init");
    let fit = min_norm_output_fit(&features, Normalisation::SqrtM, &xs, &ys).expect("fit");
    let at_samples = fit.evaluate(Normalisation::SqrtM, &xs);
    assert!(at_samples.iter().zip(&ys).all(|(f, y)| (f - y).abs() < 1e-8), "m = {m}: not interpolating");
    let spline = CubicSpline::natural(&xs, &ys).expect("spline");
    let grid = linspace(-0.9, 0.9, 2001);
    let f = fit.evaluate(Normalisation::SqrtM, &grid);
    grid.iter().zip(&f).map(|(&t, v)| (v - spline.evaluate(t)).abs()).fold(0.0, f64::max)
}

#[test]
fn min_norm_fit_approaches_the_natural_cubic_spline() {
    // The m → ∞ limit is the natural spline to 7e-5 (docs/METHODS.md E7 A.4); at width m the random-
    // features Gram matrix fluctuates by O(m^{-1/2}). Measured sup |f − S| (seeds 1, 2, 3; examples/
    // williams_cost): m = 1e3: 0.028 0.042 0.049; 1e4: 0.022 0.016 0.014; 1e5: 0.0058 0.0071 0.0053,
    // i.e. ≤ 2.3/√m. Tolerance 5/√m at m = 1e5 (0.016), and the distance must shrink 1e3 → 1e5.
    for seed in 1..=2 {
        let (small, large) = (min_norm_spline_distance(1_000, seed), min_norm_spline_distance(100_000, seed));
        assert!(
            large < 5.0 / 100_000f64.sqrt() && large < 0.5 * small,
            "seed {seed}: {small} at m=1e3, {large} at m=1e5"
        );
    }
}

#[test]
fn output_only_gd_from_zero_converges_to_the_min_norm_fit() {
    // From c = 0 the iterates stay in the row space of Φ, where the error contracts per step by
    // ≤ 1 − η λ_min(Θ) (η = 1/λ_max): K = 35/(η λ_min) steps leave ≤ e^{−35} ≈ 6e-16 of it.
    let xs = linspace(-0.9, 0.9, 4);
    let data = square_wave_data(&xs);
    let features = init_neurons(30, FeatureLaw::Uniform, 0.0, 3).expect("init");
    let p = problem(&data, 30, Normalisation::SqrtM, Trained::OutputOnly);
    let fit = min_norm_output_fit(&features, Normalisation::SqrtM, &xs, &data.y.to_vec()).expect("fit");
    let (values, _) = symmetric_eigen(&ntk_gram(&p, &features).expect("gram"), 4).expect("eigen");
    let eta = 1.0 / values[3];
    let steps = (35.0 / (eta * values[0])).ceil() as usize;
    assert!(steps < 2_000_000, "Θ too ill-conditioned for this test: {values:?}");
    let out = train(&p, &features, eta, steps, |_, _| {}).expect("train");
    let err = out.neurons.c.iter().zip(&fit.c).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let size = fit.c.iter().fold(0.0_f64, |a, v| a.max(v.abs()));
    assert!(err < 1e-9 * size, "GD c vs min-norm c after {steps} steps: {err} (|c| {size})");
}

#[test]
fn clustering_score_counts_moved_neurons_with_knots_at_samples() {
    let before = Neurons { a: vec![1.0; 4], b: vec![0.0, 0.3, 0.5, 0.9], c: vec![1.0; 4] };
    // neuron 0 unmoved; 1 moved, knot 0.51 near sample 0.5; 2 moved, knot 0.7 far; 3 moved, a = 0.
    let after = Neurons { a: vec![1.0, 1.0, 1.0, 0.0], b: vec![0.0, 0.51, 0.7, 2.0], c: vec![1.0, 1.0, 1.0, 1.0] };
    let score = knot_clustering_score(&before, &after, &[-0.5, 0.5], 0.02, 0.01).expect("score");
    assert_eq!(score, Some(1.0 / 3.0));
    assert_eq!(knot_clustering_score(&before, &before, &[0.0], 0.02, 0.01).expect("score"), None);
    assert!(knot_clustering_score(&before, &after, &[], 0.02, 0.01).is_err());
}

#[test]
fn speed_ratio_rises_from_radial_to_isotropic() {
    let deltas = [-1e6, -100.0, -10.0, -1.0, 0.0, 1.0, 10.0, 100.0, 1e6];
    let q: Vec<f64> = deltas.iter().map(|&d| speed_ratio(d, 0.7)).collect();
    assert!(q.windows(2).all(|w| w[0] < w[1]), "{q:?}");
    assert!(q[0] < 1e-12 && q[8] > 1.0 - 1e-12 && (q[4] - 0.5).abs() < 1e-15, "{q:?}");
    // δ ≪ 0: the particle moves (almost) along its ray; δ ≫ 0: (almost) along −g.
    let lazy = local_trajectory(-1e4, (1.0, 0.0), (0.6, 0.8), 1e-6, 1000);
    let end = lazy[lazy.len() - 1];
    assert!(end.1.abs() < 1e-6 * (1.0 - end.0).abs() && end.0 < 1.0, "{end:?}");
    let adaptive = local_trajectory(1e4, (1.0, 0.0), (0.6, 0.8), 1e-8, 1000);
    let (du, dv) = (adaptive[1000].0 - 1.0, adaptive[1000].1);
    assert!((du * 0.8 - dv * 0.6).abs() < 1e-3 * du.hypot(dv) && du < 0.0, "{du} {dv}");
}

#[test]
fn uv_field_is_the_input_gradient_and_flags_attracting_lines() {
    // δ = +∞: −∂L/∂(a, −b) of neuron i = (|c_i|/α) × uv_velocity at (a_i, −b_i).
    let (p, n) = setup(40, 10, f64::INFINITY, 12);
    let (_, g) = loss_and_gradient(&p, &n.to_flat());
    let residual = p.residuals(&n).expect("residuals");
    let f = n.evaluate(Normalisation::SqrtM, p.inputs());
    assert!(residual.iter().zip(&f).zip(p.labels()).all(|((r, f), y)| (r - (f - y)).abs() < 1e-15));
    let alpha = (40f64).sqrt();
    for i in 0..40 {
        let (du, dv) = uv_velocity(n.a[i], -n.b[i], n.c[i].signum(), p.inputs(), &residual);
        let k = n.c[i].abs() / alpha;
        assert!((k * du + g[3 * i]).abs() < 1e-15 && (k * dv - g[3 * i + 1]).abs() < 1e-15, "neuron {i}");
    }
    // Samples x = 0, 1; line 0 is v = 0 with normal (0, 1); on its ray t(1, 0) sample 1 is active.
    // Normal part of the field above: −ε(ρ₀ + ρ₁), below: −ερ₁. ρ = (−1, 0): 1 above, 0 below.
    let (xs, rho) = ([0.0, 1.0], [-1.0, 0.0]);
    assert_eq!(sample_line_behaviour(&xs, &rho, 0, 1.0, true).expect("line"), LineBehaviour::Crossing);
    // ρ = (−1, 0.5): 0.5 above, −0.5 below: both away (ε = 1), both towards (ε = −1).
    let rho = [-1.0, 0.5];
    assert_eq!(sample_line_behaviour(&xs, &rho, 0, 1.0, true).expect("line"), LineBehaviour::Repulsor);
    assert_eq!(sample_line_behaviour(&xs, &rho, 0, -1.0, true).expect("line"), LineBehaviour::Attractor);
    for (ray, side) in [(true, 1.0), (false, -1.0)] {
        let above = uv_velocity(side, 1e-9, 1.0, &xs, &rho);
        let below = uv_velocity(side, -1e-9, 1.0, &xs, &rho);
        let expect = match (above.1 > 0.0, below.1 < 0.0, above.1 < 0.0, below.1 > 0.0) {
            (true, true, _, _) => LineBehaviour::Repulsor,
            (_, _, true, true) => LineBehaviour::Attractor,
            _ => LineBehaviour::Crossing,
        };
        assert_eq!(sample_line_behaviour(&xs, &rho, 0, 1.0, ray).expect("line"), expect, "ray {ray}");
    }
    assert!(sample_line_behaviour(&xs, &rho, 2, 1.0, true).is_err());
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let three_d = Data::new(ndarray::array![[0.0, 1.0, 1.0]], ndarray::array![0.0]);
    assert!(WilliamsProblem::new(&three_d, 3, Normalisation::SqrtM, Trained::All).is_err());
    let no_bias = Data::new(ndarray::array![[0.0, 2.0]], ndarray::array![0.0]);
    assert!(WilliamsProblem::new(&no_bias, 3, Normalisation::SqrtM, Trained::All).is_err());
    assert!(WilliamsProblem::new(&Data::sine(4), 0, Normalisation::SqrtM, Trained::All).is_err());
    let (p, n) = setup(5, 4, 1.0, 1);
    assert!(train(&p, &n, 0.0, 10, |_, _| {}).is_err());
    assert!(train(&p, &n, f64::NAN, 10, |_, _| {}).is_err());
    assert!(train(&p, &pytorch_init(6, 1).expect("init"), 0.1, 10, |_, _| {}).is_err());
    // A huge step either kills every neuron (finite losses) or overflows (an error naming the step).
    match train(&p, &n, 1e6, 100, |_, _| {}) {
        Ok(out) => assert!(out.losses.iter().all(|l| l.is_finite())),
        Err(e) => assert!(e.to_string().contains("non-finite"), "{e}"),
    }
    assert!(Neurons::from_flat(&[1.0, 2.0]).is_err());
    assert!(pytorch_init(0, 1).is_err() && init_neurons(3, FeatureLaw::Uniform, f64::NAN, 1).is_err());
    let dead = Neurons { a: vec![0.0], b: vec![5.0], c: vec![1.0] };
    assert!(ntk_step_size(&problem(&Data::sine(4), 1, Normalisation::SqrtM, Trained::All), &dead, 0.5).is_err());
    assert!(min_norm_output_fit(&n, Normalisation::SqrtM, &[0.0], &[]).is_err());
}

#[test]
fn eq15_flags_only_samples_that_carry_residual() {
    // ρ = 0 except at sample k: both sums vanish and the bound is −ρ_k²|x̃_k|² < 0 at k only.
    let xs = linspace(-1.0, 1.0, 5);
    assert_eq!(eq15_flags(&xs, &[0.0; 5]), vec![false; 5]);
    assert_eq!(eq15_flags(&xs, &[0.0, 0.0, 0.7, 0.0, 0.0]), vec![false, false, true, false, false]);
    // Two opposite residuals on nearly parallel x̃: ρ_i ρ_k ⟨x̃_i, x̃_k⟩ = −(1·1 + 1) = −2 against a
    // bound −2 at k = 1 (not >) and the empty sum 0 > −2 on the other side: flagged through it.
    assert_eq!(eq15_flags(&[1.0, 1.0], &[1.0, -1.0]), vec![true, true]);
}
