//! E1 `two_point` (seed 001 §1): min ½(x − 4)² over two 1-D particles from (x⁰, y⁰) = (0, 1), proximal point with
//! the Frobenius distance, the Wasserstein distance solved locally (inner GD from W^t, the seed's solver) and
//! globally (every assignment enumerated). The local solver swaps only for γ > 1/3; the global one for every γ.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check, Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::prox::ProxStepReport;
use crate::numerics::two_point::{closed_form_path, points, two_point_limit, two_point_paths, TwoPointMethod};
use crate::tables::{col, DType, TableSchema};

pub struct TwoPoint;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TwoPointParams {
    /// Prox step γ.
    pub gamma: f64,
    /// Prox steps.
    #[serde(default = "default_steps")]
    pub steps: u32,
    /// Inner GD stops when the stationarity residual is below this.
    #[serde(default = "default_tol")]
    pub tol: f64,
}

fn default_steps() -> u32 {
    6
}
fn default_tol() -> f64 {
    1e-13
}

impl Validate for TwoPointParams {
    fn validate(&self) -> Result<(), ParamError> {
        check::positive("gamma", self.gamma)?;
        check::positive("tol", self.tol)?;
        check::at_least("steps", self.steps.into(), 1)?;
        check::at_most("steps", self.steps.into(), 10_000, "one row per step and method")
    }
}

/// Rows of the `paths` table.
#[derive(Default)]
struct Rows {
    method: Vec<&'static str>,
    step: Vec<u32>,
    x: Vec<f64>,
    y: Vec<f64>,
    x_closed: Vec<f64>,
    y_closed: Vec<f64>,
    frac_permuted: Vec<f64>,
    inner_iters: Vec<u64>,
}

impl Rows {
    fn add(&mut self, method: &'static str, path: &[(f64, f64)], closed: &[(f64, f64)], reports: &[ProxStepReport]) {
        for (t, (&(x, y), &(xc, yc))) in path.iter().zip(closed).enumerate() {
            let report = t.checked_sub(1).and_then(|i| reports.get(i));
            self.method.push(method);
            self.step.push(t as u32);
            self.x.push(x);
            self.y.push(y);
            self.x_closed.push(xc);
            self.y_closed.push(yc);
            self.frac_permuted.push(report.map_or(0.0, |r| r.frac_permuted));
            self.inner_iters.push(report.map_or(0, |r| r.inner_iters));
        }
    }
}

const PATHS: TableSchema = TableSchema {
    name: "paths",
    about: "one row per method and prox step",
    columns: &[
        col("gamma", DType::F64, "1", "prox step γ"),
        col(
            "method",
            DType::Str,
            "label",
            "`frobenius`, `wasserstein_local` (inner GD from W^t) or `wasserstein_global` (all assignments)",
        ),
        col("step", DType::U32, "index", "prox step t (0 = (0, 1))"),
        col("x", DType::F64, "1", "first particle after step t, computed by the prox solver"),
        col("y", DType::F64, "1", "second particle after step t, computed by the prox solver"),
        col("x_closed_form", DType::F64, "1", "`x` from the closed-form recurrences (METHODS.md E1)"),
        col("y_closed_form", DType::F64, "1", "`y` from the closed-form recurrences (METHODS.md E1)"),
        col("frac_permuted", DType::F64, "1", "fraction of particles whose optimal partner at W^t is not themselves"),
        col("inner_iters", DType::U64, "count", "inner GD updates of the step (residual < `tol`)"),
    ],
};

const LIMITS: TableSchema = TableSchema {
    name: "limits",
    about: "one row per method: where its path ends after `steps` prox steps and where it goes as t → ∞",
    columns: &[
        col("gamma", DType::F64, "1", "prox step γ"),
        col("method", DType::Str, "label", "`frobenius`, `wasserstein_local` or `wasserstein_global`"),
        col("steps", DType::U32, "count", "prox steps T computed by the solver"),
        col(
            "swap_step",
            DType::U32,
            "index",
            "first step t ≤ T whose prox coupling swaps the particles (solver); 0 = none (always for Frobenius)",
        ),
        col(
            "swap_step_closed_form",
            DType::U32,
            "index",
            "first swap step of the closed-form recurrence (METHODS.md E1, \"limits\"); 0 = never",
        ),
        col("x_final", DType::F64, "1", "x^T computed by the prox solver"),
        col("y_final", DType::F64, "1", "y^T computed by the prox solver"),
        col("x_limit", DType::F64, "1", "x∞ = lim x^t of the closed-form recurrence (always 4)"),
        col("y_limit", DType::F64, "1", "y∞ = lim y^t of the closed-form recurrence (y freezes after the last swap)"),
    ],
};

/// Rows of the `limits` table.
#[derive(Default)]
struct LimitRows {
    method: Vec<&'static str>,
    swap_step: Vec<u32>,
    swap_closed: Vec<u32>,
    x_final: Vec<f64>,
    y_final: Vec<f64>,
    x_limit: Vec<f64>,
    y_limit: Vec<f64>,
}

impl LimitRows {
    fn add(&mut self, method: TwoPointMethod, gamma: f64, path: &[(f64, f64)], reports: &[ProxStepReport]) {
        let (x_inf, y_inf) = two_point_limit(method, gamma);
        let (x_t, y_t) = path.last().copied().unwrap_or((f64::NAN, f64::NAN));
        // A Frobenius report's frac_permuted says whether W2's partner would differ; its coupling never swaps.
        let swaps = method != TwoPointMethod::Frobenius;
        let swap = reports.iter().position(|r| swaps && r.frac_permuted > 0.0).map_or(0, |i| i as u32 + 1);
        self.method.push(method.label());
        self.swap_step.push(swap);
        self.swap_closed.push(method.swap_step(gamma));
        self.x_final.push(x_t);
        self.y_final.push(y_t);
        self.x_limit.push(x_inf);
        self.y_limit.push(y_inf);
    }

    fn frame(self, gamma: f64, steps: u32) -> PolarsResult<DataFrame> {
        let n = self.method.len();
        df!(
            "gamma" => vec![gamma; n],
            "method" => self.method,
            "steps" => vec![steps; n],
            "swap_step" => self.swap_step,
            "swap_step_closed_form" => self.swap_closed,
            "x_final" => self.x_final,
            "y_final" => self.y_final,
            "x_limit" => self.x_limit,
            "y_limit" => self.y_limit,
        )
    }
}

impl Experiment for TwoPoint {
    const KIND: &'static str = "two_point";
    const VERSION: u32 = 2;
    const TABLES: &'static [TableSchema] = &[PATHS, LIMITS];
    const ABOUT: &'static str =
        "E1: two 1-D particles, f = ½(x − 4)², Frobenius / Wasserstein local / global prox; paths and limits";
    type Params = TwoPointParams;

    fn run(p: &TwoPointParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let steps = p.steps as usize;
        let paths = two_point_paths(p.gamma, steps, p.tol)?;
        let (mut rows, mut limits) = (Rows::default(), LimitRows::default());
        let global = &paths.wasserstein_global;
        let solved = [
            (TwoPointMethod::Frobenius, &paths.frobenius.iterates, &paths.frobenius.reports),
            (TwoPointMethod::WassersteinLocal, &paths.wasserstein_local.iterates, &paths.wasserstein_local.reports),
            (TwoPointMethod::WassersteinGlobal, &global.iterates, &global.reports),
        ];
        for (method, iterates, reports) in solved {
            let path = points(iterates);
            rows.add(method.label(), &path, &closed_form_path(method.step_rule(), p.gamma, steps), reports);
            limits.add(method, p.gamma, &path, reports);
        }
        let n = rows.step.len();
        let frame = df!(
            "gamma" => vec![p.gamma; n],
            "method" => rows.method,
            "step" => rows.step,
            "x" => rows.x,
            "y" => rows.y,
            "x_closed_form" => rows.x_closed,
            "y_closed_form" => rows.y_closed,
            "frac_permuted" => rows.frac_permuted,
            "inner_iters" => rows.inner_iters,
        )?;
        (ctx.progress)(1.0);
        Ok(vec![Table::new("paths", frame), Table::new("limits", limits.frame(p.gamma, p.steps)?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{column_f64, column_str};

    #[test]
    fn table_matches_closed_forms_on_both_sides_of_one_third() {
        for gamma in [0.2, 0.5] {
            let p = TwoPointParams { gamma, steps: 3, tol: 1e-13 };
            let noop = |_: f64| {};
            let ctx = RunContext { inputs: &Default::default(), progress: &noop };
            let t = &TwoPoint::run(&p, &ctx).unwrap()[0].frame;
            assert_eq!(t.height(), 3 * 4);
            let (x, xc) = (column_f64(t, "x").unwrap(), column_f64(t, "x_closed_form").unwrap());
            let (y, yc) = (column_f64(t, "y").unwrap(), column_f64(t, "y_closed_form").unwrap());
            for r in 0..x.len() {
                assert!((x[r] - xc[r]).abs() < 1e-9 && (y[r] - yc[r]).abs() < 1e-9, "γ = {gamma}, row {r}");
            }
            let method = column_str(t, "method").unwrap();
            let local_first = (0..x.len()).find(|&r| method[r] == "wasserstein_local" && r % 4 == 1).unwrap();
            let swapped = y[local_first] == 0.0 || (y[local_first]).abs() < 1e-9;
            assert_eq!(swapped, gamma > 1.0 / 3.0, "the local solver swaps only above γ = 1/3");
        }
    }

    #[test]
    fn limits_table_agrees_with_the_closed_form_after_the_late_swap() {
        let p = TwoPointParams { gamma: 0.0215, steps: 40, tol: 1e-13 };
        let noop = |_: f64| {};
        let ctx = RunContext { inputs: &Default::default(), progress: &noop };
        let t = &TwoPoint::run(&p, &ctx).unwrap()[1].frame;
        assert_eq!(t.height(), 3);
        let (method, swap) = (column_str(t, "method").unwrap(), column_f64(t, "swap_step").unwrap());
        let swap_closed = column_f64(t, "swap_step_closed_form").unwrap();
        let (y, y_inf) = (column_f64(t, "y_final").unwrap(), column_f64(t, "y_limit").unwrap());
        // Frobenius never swaps, global swaps at step 1, local at step 14 = ⌊ln(4/3)/ln(1.0215)⌋ + 1.
        assert_eq!(method, ["frobenius", "wasserstein_local", "wasserstein_global"]);
        assert_eq!(swap, [0.0, 14.0, 1.0]);
        assert_eq!(swap, swap_closed);
        // y freezes after the swap: y^40 is already the limit (0.9664 for local).
        for r in 0..3 {
            assert!((y[r] - y_inf[r]).abs() < 1e-10, "{}: {} vs {}", method[r], y[r], y_inf[r]);
        }
        assert!((y_inf[1] - 0.9664).abs() < 1e-4, "{}", y_inf[1]);
    }
}
