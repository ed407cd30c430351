use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::*;

/// Minimum of Σ c_iσ(i) over all σ admitted by `groups` (m! candidates).
fn brute_force(cost: &Array2<f64>, groups: &AssignmentGroups) -> f64 {
    fn rec(i: usize, used: &mut [bool], cost: &Array2<f64>, g: &AssignmentGroups) -> f64 {
        let m = used.len();
        if i == m {
            return 0.0;
        }
        let mut best = f64::INFINITY;
        for j in 0..m {
            if !used[j] && g.group_of(j) == g.group_of(i) {
                used[j] = true;
                best = best.min(cost[(i, j)] + rec(i + 1, used, cost, g));
                used[j] = false;
            }
        }
        best
    }
    rec(0, &mut vec![false; groups.len()], cost, groups)
}

fn random_signs(rng: &mut ChaCha8Rng, m: usize) -> Vec<f64> {
    (0..m).map(|_| if rng.random_bool(0.5) { 1.0 } else { -1.0 }).collect()
}

#[test]
fn lap_matches_brute_force_with_and_without_sign_blocks() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for m in 1..=7 {
        for trial in 0..30 {
            let cost = Array2::from_shape_simple_fn((m, m), || rng.random_range(0.0..10.0));
            let signs = random_signs(&mut rng, m);
            for groups in [AssignmentGroups::all(m), AssignmentGroups::by_sign(&signs)] {
                let sigma = solve_assignment(&cost, &groups).expect("LAP");
                assert!(groups.admits(&sigma), "m={m} trial={trial}: {sigma:?}");
                let got = assignment_cost(&cost, &sigma);
                let want = brute_force(&cost, &groups);
                assert!((got - want).abs() < 1e-12, "m={m} trial={trial}: {got} vs {want}");
            }
        }
    }
}

#[test]
fn large_finite_cost_matrix_agrees_with_sign_blocks() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let m = 7;
    let v = Array2::from_shape_simple_fn((m, 2), || rng.random_range(-1.0..1.0));
    let w = Array2::from_shape_simple_fn((m, 2), || rng.random_range(-1.0..1.0));
    let signs = random_signs(&mut rng, m);
    let penalised = squared_distance_cost(v.view(), w.view(), Some((&signs, 1e6))).expect("cost");
    let plain = squared_distance_cost(v.view(), w.view(), None).expect("cost");
    let by_penalty = assignment_cost(&plain, &solve_lap(&penalised).expect("LAP"));
    let groups = AssignmentGroups::by_sign(&signs);
    let by_blocks = assignment_cost(&plain, &solve_assignment(&plain, &groups).expect("LAP"));
    assert!((by_penalty - by_blocks).abs() < 1e-12);
}

#[test]
fn potentials_give_nonnegative_reduced_costs_zero_on_sigma() {
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    for m in [2, 5, 20, 50] {
        let cost = Array2::from_shape_simple_fn((m, m), || rng.random_range(0.0..5.0));
        let signs = random_signs(&mut rng, m);
        for groups in [AssignmentGroups::all(m), AssignmentGroups::by_sign(&signs)] {
            let sigma = solve_assignment(&cost, &groups).expect("LAP");
            let p = lap_potentials(&cost, &sigma, &groups).expect("potentials");
            for i in 0..m {
                let s = sigma[i];
                for &j in groups.members(groups.group_of(i)) {
                    let r = cost[(i, j)] - cost[(i, s)] - p[j] + p[s];
                    assert!(r > -1e-12, "m={m}: r[{i},{j}] = {r}");
                }
            }
        }
    }
}

#[test]
fn potentials_detect_a_suboptimal_sigma() {
    // For a non-optimal σ some reduced cost must be negative: the certificate can fail.
    let cost = ndarray::array![[0.0, 1.0], [1.0, 0.0]];
    let groups = AssignmentGroups::all(2);
    let p = lap_potentials(&cost, &[1, 0], &groups).expect("potentials");
    let r01 = cost[(0, 0)] - cost[(0, 1)] - p[0] + p[1];
    let r10 = cost[(1, 1)] - cost[(1, 0)] - p[1] + p[0];
    assert!(r01 < 0.0 || r10 < 0.0);
}

#[test]
fn distances_on_a_permuted_copy() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let w = Array2::from_shape_simple_fn((6, 2), || rng.random_range(-1.0..1.0));
    let perm = [3, 0, 5, 1, 2, 4];
    let v = Array2::from_shape_fn((6, 2), |(i, k)| w[(perm[i], k)]);
    let (dw, sigma) =
        wasserstein_distance(v.view(), w.view(), &AssignmentGroups::all(6), DistanceNorm::Mean).expect("d_W");
    assert!(dw.abs() < 1e-15);
    assert_eq!(sigma, perm.to_vec());
    assert_eq!(fraction_permuted(&sigma), 1.0);
    let df = frobenius_distance(v.view(), w.view(), DistanceNorm::Sum);
    let direct: f64 = (&v - &w).mapv(|x| x * x).sum();
    assert!((df - direct).abs() < 1e-15);
    assert!((frobenius_distance(v.view(), w.view(), DistanceNorm::Mean) - direct / 6.0).abs() < 1e-15);
}

#[test]
fn bad_inputs_are_errors() {
    let nan = ndarray::array![[0.0, f64::NAN], [1.0, 0.0]];
    assert!(solve_lap(&nan).is_err());
    assert!(solve_lap(&Array2::zeros((2, 3))).is_err());
    assert!(CertifiedAssignment::new(&[0.0; 3], 2, AssignmentGroups::all(2)).is_err());
}

#[test]
fn certificate_follows_a_moving_set_like_a_fresh_lap() {
    // Random walk of V around a fixed W: the certified σ must always be LAP-optimal.
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let (m, d) = (30, 2);
    let w: Vec<f64> = (0..m * d).map(|_| rng.random_range(-1.0..1.0)).collect();
    let signs = random_signs(&mut rng, m);
    for groups in [AssignmentGroups::all(m), AssignmentGroups::by_sign(&signs)] {
        let mut cert = CertifiedAssignment::new(&w, d, groups.clone()).expect("certificate");
        let mut v = w.clone();
        let mut cost = Array2::zeros((m, m));
        let mut changes = 0;
        for _ in 0..3000 {
            v.iter_mut().for_each(|x| *x += rng.random_range(-0.01..0.01));
            changes += usize::from(cert.update(&v).expect("update"));
            squared_distance_cost_into(&v, &w, d, &mut cost);
            let best = assignment_cost(&cost, &solve_assignment(&cost, &groups).expect("LAP"));
            let ours = assignment_cost(&cost, cert.sigma());
            assert!(ours - best < 1e-12, "certified σ is suboptimal: {ours} > {best}");
        }
        let stats = cert.stats();
        assert!(changes > 10, "the walk should change σ ({changes})");
        assert!(stats.lap_solves < 3000, "certificate never helped: {stats:?}");
    }
}

#[test]
fn potentials_are_exact_on_random_m50_problems() {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let m = 50;
    for trial in 0..20 {
        let v: Vec<f64> = (0..m * 2).map(|_| rng.random_range(-1.0..1.0)).collect();
        let w: Vec<f64> = (0..m * 2).map(|_| rng.random_range(-1.0..1.0)).collect();
        let mut cost = Array2::zeros((m, m));
        squared_distance_cost_into(&v, &w, 2, &mut cost);
        let groups = AssignmentGroups::all(m);
        let sigma = solve_assignment(&cost, &groups).expect("LAP");
        let p = lap_potentials(&cost, &sigma, &groups).expect("p");
        let mut worst = 0.0_f64;
        for i in 0..m {
            for j in 0..m {
                worst = worst.min(cost[(i, j)] - cost[(i, sigma[i])] - p[j] + p[sigma[i]]);
            }
        }
        assert!(worst > -1e-12, "trial {trial}: min reduced cost {worst:e}");
    }
}

/// Random walks of V around fixed W (clustered targets, so rows compete for few columns):
/// three certificates — candidates (narrow and wide) with AVX (if available), candidates
/// without, full scans only — must give bitwise the same σ, potentials and re-solve counters at every step.
#[test]
fn candidate_checks_and_simd_paths_agree_with_full_scans() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut moves = 0;
    let mut changes = 0;
    let (mut wide, mut rows) = (0, 0);
    for &(m, d, spread, step) in &[(30, 2, 0.05, 0.002), (50, 2, 1.0, 0.01), (13, 3, 0.2, 0.01), (3, 2, 0.1, 0.05)] {
        let w: Vec<f64> = (0..m * d).map(|_| rng.random_range(-spread..spread)).collect();
        let signs = random_signs(&mut rng, m);
        for groups in [AssignmentGroups::all(m), AssignmentGroups::by_sign(&signs)] {
            let mut certs: Vec<CertifiedAssignment> =
                (0..3).map(|_| CertifiedAssignment::new(&w, d, groups.clone()).expect("certificate")).collect();
            certs[1].set_avx(false);
            certs[2].use_full_scans_only();
            let mut v = w.clone();
            // A drifting walk with chatter: most rows stay near their base for a while.
            let drift: Vec<f64> = (0..m * d).map(|_| rng.random_range(-step..step)).collect();
            for t in 0..2000 {
                let sign = if t % 2 == 0 { 1.0 } else { -0.9 };
                for (x, dr) in v.iter_mut().zip(&drift) {
                    *x += sign * dr + rng.random_range(-0.1 * step..0.1 * step);
                }
                let changed: Vec<bool> = certs.iter_mut().map(|c| c.update(&v).expect("update")).collect();
                assert!(changed.iter().all(|&c| c == changed[0]), "m {m}: verdicts differ at {t}");
                changes += usize::from(changed[0]);
                let mut reference = CertificateState::default();
                certs[2].save_state(&mut reference);
                for c in &certs[..2] {
                    assert_eq!(c.sigma(), certs[2].sigma(), "m {m} d {d}: σ differs at step {t}");
                    let (a, b) = (c.stats(), certs[2].stats());
                    let resolves =
                        |s: CertificateStats| (s.lap_solves, s.augmentations, s.scanned_rows, s.violated_rows);
                    assert_eq!(resolves(a), resolves(b), "m {m}: re-solve counters differ at {t}");
                    assert!(c.potentials_equal(&reference), "m {m}: potentials differ at {t}");
                }
                wide += certs[0].wide_rows() + certs[1].wide_rows();
                rows += 2 * m;
                moves += 1;
            }
            let (fast, full) = (certs[0].stats(), certs[2].stats());
            assert!(fast.exact_checks <= full.exact_checks);
        }
    }
    assert!(moves >= 16_000 && changes > 1000, "{moves} moves, {changes} changes");
    // Both candidate widths must have been checked against the full scans.
    assert!(wide > 0 && wide < rows, "{wide} of {rows} row checks had wide candidates");
}
