use super::*;
use crate::numerics::prox::wasserstein_prox_global;

const TOL: f64 = 1e-9;

fn close(a: (f64, f64), b: (f64, f64)) -> bool {
    (a.0 - b.0).abs() < TOL && (a.1 - b.1).abs() < TOL
}

#[test]
fn frobenius_multi_step_matches_closed_form() {
    for gamma in [0.01, 0.2, 1.0 / 3.0, 0.5, 2.0, 30.0] {
        let paths = two_point_paths(gamma, 6, 1e-13).expect("paths");
        for (t, p) in points(&paths.frobenius.iterates).into_iter().enumerate() {
            let want = frobenius_closed_form(gamma, t as u32);
            assert!(close(p, want), "γ={gamma} t={t}: {p:?} vs {want:?}");
        }
    }
}

#[test]
fn local_wasserstein_first_step_switches_at_one_third() {
    for gamma in [0.01, 0.1, 0.3, 0.33] {
        let want = frobenius_closed_form(gamma, 1);
        assert!(close(wasserstein_local_first_step(gamma), want));
        let paths = two_point_paths(gamma, 1, 1e-13).expect("paths");
        let got = points(&paths.wasserstein_local.iterates)[1];
        assert!(close(got, want), "γ={gamma}: {got:?} vs {want:?}");
        assert_eq!(paths.wasserstein_local.reports[0].frac_permuted, 0.0);
    }
    for gamma in [0.34, 0.5, 1.0, 10.0, 1000.0] {
        let want = (1.0 + 3.0 / (1.0 + 1.0 / gamma), 0.0);
        assert!(close(wasserstein_local_first_step(gamma), want));
        let paths = two_point_paths(gamma, 1, 1e-13).expect("paths");
        let got = points(&paths.wasserstein_local.iterates)[1];
        assert!(close(got, want), "γ={gamma}: {got:?} vs {want:?}");
        assert_eq!(paths.wasserstein_local.reports[0].frac_permuted, 1.0);
    }
}

#[test]
fn global_wasserstein_swaps_for_every_gamma() {
    for a in -12..=12 {
        let gamma = 10f64.powf(a as f64 / 4.0);
        let config = two_point_config(gamma, ProxDistance::Wasserstein, 1e-13);
        let res = wasserstein_prox_global(&TwoPointObjective, two_point_start().view(), config, 0).expect("global");
        assert_eq!(res.global_assignment, vec![1, 0], "γ={gamma}");
        assert_eq!(res.candidates, 2);
        let got = (res.global.w[(0, 0)], res.global.w[(1, 0)]);
        let want = ((1.0 + 4.0 * gamma) / (1.0 + gamma), 0.0);
        assert!(close(got, want), "γ={gamma}: {got:?} vs {want:?}");
        assert!(close(wasserstein_global_step(gamma, (0.0, 1.0)), want));
        // The global objective is never worse than the local one.
        assert!(res.global.report.prox_objective <= res.local.report.prox_objective + 1e-12);
    }
}

#[test]
fn multi_step_paths_match_closed_form_recurrences() {
    for gamma in [0.05, 0.1, 0.2, 0.3, 0.4, 1.0, 5.0] {
        let steps = 8;
        let paths = two_point_paths(gamma, steps, 1e-13).expect("paths");
        let pairs = [
            (points(&paths.wasserstein_local.iterates), closed_form_path(wasserstein_local_step, gamma, steps)),
            (points(&paths.wasserstein_global.iterates), closed_form_path(wasserstein_global_step, gamma, steps)),
            (points(&paths.frobenius.iterates), closed_form_path(frobenius_step, gamma, steps)),
        ];
        for (got, want) in pairs {
            for t in 0..=steps {
                assert!(close(got[t], want[t]), "γ={gamma} t={t}: {:?} vs {:?}", got[t], want[t]);
            }
        }
    }
}

#[test]
fn local_swap_happens_later_for_small_gamma() {
    // γ < 1/3: no swap at step 1, but x eventually crosses y = 1 and the local path swaps once.
    let gamma = 0.2;
    let path = closed_form_path(wasserstein_local_step, gamma, 10);
    let swap_step = (1..path.len()).find(|&t| path[t].1 != 1.0).expect("a swap");
    assert!(swap_step > 1);
    assert!((path[swap_step].1 - path[swap_step - 1].0).abs() < 1e-15);
    assert!(path.iter().all(|p| p.0 < TWO_POINT_TARGET));
}

/// γ grid of the `two_point_multistep` stage region, away from the measure-zero set where x^t = 1 exactly.
const LIMIT_GAMMAS: [f64; 9] = [0.01, 0.013, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 3.0];

#[test]
fn recurrences_converge_to_the_closed_form_limits() {
    for gamma in LIMIT_GAMMAS {
        // x^t − 4 shrinks by 1/(1 + γ) per step: 4 (1.01)^{−6000} ≈ 4e-26, far below the 1e-12 asked.
        let steps = 6000;
        for method in TwoPointMethod::ALL {
            let path = closed_form_path(method.step_rule(), gamma, steps);
            let (x, y) = path[steps];
            let (x_inf, y_inf) = two_point_limit(method, gamma);
            assert!((x - x_inf).abs() < 1e-12 && (y - y_inf).abs() < 1e-12, "{method:?} γ={gamma}: {:?}", (x, y));
            let swap = (1..=steps).find(|&t| path[t].1 != path[t - 1].1).map_or(0, |t| t as u32);
            assert_eq!(swap, method.swap_step(gamma), "{method:?} γ={gamma}");
        }
    }
    // The local limit lies in (1 − 3γ, 1] and differs from Frobenius' y∞ = 1 for every γ of the grid.
    for gamma in LIMIT_GAMMAS {
        let y = two_point_limit(TwoPointMethod::WassersteinLocal, gamma).1;
        assert!(y > 1.0 - 3.0 * gamma && y < 1.0, "γ={gamma}: y∞ = {y}");
    }
    assert_eq!(local_swap_step(0.01), 29);
    assert_eq!(local_swap_step(0.5), 1);
}

#[test]
fn forty_solver_steps_follow_the_recurrences_through_the_late_swap() {
    // Each inner solve stops at residual 1e-13 on an objective of curvature ≥ 1/γ, so each step is within
    // γ·1e-13 of its minimiser; the recurrence contracts x by 1/(1 + γ), so 40 steps stay within 40·γ·1e-13 ≤ 4e-12
    // (the swap test compares x_F with y = 1, and every x_F^t of the grid is ≥ 1e-3 away from 1).
    let steps = 40;
    for gamma in [0.01, 0.013, 0.02, 0.05, 0.2] {
        let paths = two_point_paths(gamma, steps, 1e-13).expect("paths");
        let local = &paths.wasserstein_local;
        let got = points(&local.iterates);
        let want = closed_form_path(wasserstein_local_step, gamma, steps);
        for t in 0..=steps {
            assert!((got[t].0 - want[t].0).abs() < 1e-10 && (got[t].1 - want[t].1).abs() < 1e-10, "γ={gamma} t={t}");
        }
        let swap = local.reports.iter().position(|r| r.frac_permuted > 0.0).expect("a swap within 40 steps") + 1;
        assert_eq!(swap as u32, local_swap_step(gamma), "γ={gamma}");
        let y_inf = two_point_limit(TwoPointMethod::WassersteinLocal, gamma).1;
        assert!((got[steps].1 - y_inf).abs() < 1e-10, "γ={gamma}: y^40 = {} vs y∞ = {y_inf}", got[steps].1);
    }
}
