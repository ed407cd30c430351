//! Stage-level checks of `williams` on tiny configurations: every figure's tables match the declared schemas, and
//! the numbers docs/FINDINGS.md "E7 Williams et al." quotes hold (δ identity, drift ∝ η, identical initial
//! functions, frozen angles at δ = −∞, the Gaussian RF closed form).

use std::collections::BTreeMap;

use serde_json::json;

use super::*;
use crate::tables::{check_tables, column_f64, column_str};

fn run_json(params: serde_json::Value) -> Vec<Table> {
    let kind = super::super::find_kind("williams").expect("registered in KINDS");
    let canonical = (kind.resolve)(&params).unwrap_or_else(|e| panic!("{}: {}", e.path, e.message));
    let inputs = BTreeMap::new();
    let progress = |_: f64| {};
    let ctx = RunContext { inputs: &inputs, progress: &progress };
    let tables = (kind.run)(&canonical, &ctx).expect("runs");
    check_tables(Williams::TABLES, &tables).expect("tables match the declared schemas");
    tables
}

fn table<'a>(tables: &'a [Table], name: &str) -> &'a DataFrame {
    &tables.iter().find(|t| t.name == name).expect("table").frame
}

/// The value of `quantity` for `run` in the readings table.
fn reading(tables: &[Table], run: &str, quantity: &str) -> f64 {
    let r = table(tables, "readings");
    let (runs, qs, vs) =
        (column_str(r, "run").unwrap(), column_str(r, "quantity").unwrap(), column_f64(r, "value").unwrap());
    (0..runs.len()).find(|&i| runs[i] == run && qs[i] == quantity).map(|i| vs[i]).expect("reading present")
}

fn sine(samples: u32) -> serde_json::Value {
    json!({"labels": "sine", "samples": samples, "x_min": -1.0, "x_max": 1.0})
}

#[test]
fn delta_identity_holds_to_round_off_and_the_drift_halves_with_eta() {
    let p = json!({"figure": "delta_identity", "data": sine(6), "m": 12, "delta": -1.0, "seed": 3,
                   "eta_fraction": 0.5, "steps": 50, "halvings": 2});
    let tables = run_json(p);
    let runs = table(&tables, "runs");
    let (names, drift) = (column_str(runs, "run").unwrap(), column_f64(runs, "delta_drift").unwrap());
    assert_eq!(names.len(), 3);
    for name in &names {
        let (residual, step) =
            (reading(&tables, name, "identity_residual"), reading(&tables, name, "largest_step_change"));
        assert!(step > 1e-8, "δ must actually move per step for the identity to say something: {step}");
        assert!(residual < 1e-14, "{name}: per-step δ change differs from η²(g_c² − g_a² − g_b²) by {residual}");
    }
    for pair in drift.windows(2) {
        let ratio = pair[0] / pair[1];
        assert!((1.8..2.2).contains(&ratio), "drift at fixed flow time should halve with η: {drift:?}");
    }
}

#[test]
fn same_init_starts_identical_and_minus_infinity_keeps_every_angle() {
    let p = json!({"figure": "same_init", "data": sine(5), "widths": [30], "deltas": [-10.0, 10.0], "seeds": [2],
                   "steps": 200, "eta_fraction": [0.5, 0.01], "grid_points": 41});
    let tables = run_json(p);
    assert!(reading(&tables, "pair", "init_sup_gap") < 1e-12, "rescaling must leave f unchanged");
    assert!(reading(&tables, "pair", "final_sup_gap") > 1e-3, "δ = ±10 must train differently");

    let p = json!({"figure": "pm_inf", "data": sine(5), "widths": [30], "deltas": ["-inf", "+inf"], "seeds": [2],
                   "steps": 100, "eta_fraction": [0.5, 0.01], "grid_points": 41, "trajectory_neurons": 4,
                   "trajectory_every": 10});
    let tables = run_json(p);
    assert_eq!(reading(&tables, "m=30 δ=-inf seed=2", "theta_change_max"), 0.0, "c-only GD cannot move θ");
    assert!(reading(&tables, "m=30 δ=+inf seed=2", "theta_change_max") > 0.0);
    // 4 tracked neurons × (steps 0, 10, …, 100) × 2 runs.
    assert_eq!(table(&tables, "trajectories").height(), 4 * 11 * 2);
    let trained = column_str(table(&tables, "runs"), "trained").unwrap();
    assert_eq!(trained, ["c_only", "ab_only"]);
}

#[test]
fn every_other_figure_fills_its_tables_with_declared_schemas() {
    let square = json!({"labels": "square", "samples": 6, "x_min": -0.9, "x_max": 0.9});
    let spline = run_json(json!({"figure": "spline_width", "data": square, "widths": [10, 2000], "seeds": [1],
                                 "grid_points": 31}));
    let (narrow, wide) =
        (reading(&spline, "m=10 seed=1", "sup_to_spline"), reading(&spline, "m=2000 seed=1", "sup_to_spline"));
    assert!(wide < narrow && wide < 0.1, "min-norm fit should approach the natural spline: {narrow} → {wide}");

    let kernel = run_json(json!({"figure": "kernel_slices", "m": 20000, "x": 0.5, "grid_points": 21, "x_plot": 2.0,
                                 "c_bound": 1.0, "seed": 1}));
    // Monte Carlo over 20000 Gaussian features: error O(m^{-1/2}) ≈ 0.01 at these kernel values (≤ 1.1).
    assert!(reading(&kernel, "gaussian", "sup_rf_minus_closed_form") < 0.05);
    assert_eq!(table(&kernel, "kernel").height(), 21 * (3 + 3 + 1));

    let local = run_json(json!({"figure": "local_trajectories", "deltas": [-10.0, 10.0], "particles": 4,
                                "radius": 1.0, "dt": 1.0e-3, "steps": 20, "every": 5}));
    assert!(reading(&local, "δ=-10", "speed_ratio") < reading(&local, "δ=10", "speed_ratio"));
    assert_eq!(table(&local, "trajectories").height(), 2 * 4 * 5);

    let field = run_json(json!({"figure": "attractor", "data": sine(5), "widths": [20], "deltas": ["+inf"],
                                "seeds": [1], "steps": 50, "eta_fraction": [0.01], "field_grid": 4, "grid_points": 11}));
    assert_eq!(table(&field, "field").height(), 2 * 4 * 4);
    assert_eq!(table(&field, "lines").height(), 5 * 2 * 2);
}

#[test]
fn parameters_are_checked_with_their_path() {
    let kind = super::super::find_kind("williams").unwrap();
    let base = json!({"figure": "knots_uv", "data": sine(5), "widths": [10], "deltas": ["init"], "seeds": [1],
                      "steps": 10, "eta_fraction": [0.5, 0.1]});
    let err = (kind.resolve)(&base).unwrap_err();
    assert_eq!(err.path, "eta_fraction", "{}", err.message);
    let mut bad = base.clone();
    bad["eta_fraction"] = json!([0.5]);
    bad["deltas"] = json!(["infinity"]);
    assert!((kind.resolve)(&bad).is_err(), "unknown δ word accepted");
    let mut unknown = base.clone();
    unknown["eta_fraction"] = json!([0.5]);
    unknown["stepz"] = json!(3);
    assert!((kind.resolve)(&unknown).is_err(), "unknown field accepted");
    let err = (kind.resolve)(&json!({"figure": "fig10"})).unwrap_err();
    assert!(err.message.contains("fig10"), "{}", err.message);
}
