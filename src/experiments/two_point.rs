//! E1 `two_point` (seed 001 §1): min ½(x − 4)² over two 1-D particles from (x⁰, y⁰) = (0, 1), proximal point with
//! the Frobenius distance, the Wasserstein distance solved locally (inner GD from W^t, the seed's solver) and
//! globally (every assignment enumerated). The local solver swaps only for γ > 1/3; the global one for every γ.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check, Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::prox::ProxStepReport;
use crate::numerics::two_point::{
    closed_form_path, frobenius_step, points, two_point_paths, wasserstein_global_step, wasserstein_local_step,
};
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
        col("x_closed_form", DType::F64, "1", "`x` from the closed-form recurrences (SPEC E1)"),
        col("y_closed_form", DType::F64, "1", "`y` from the closed-form recurrences (SPEC E1)"),
        col("frac_permuted", DType::F64, "1", "fraction of particles whose optimal partner at W^t is not themselves"),
        col("inner_iters", DType::U64, "count", "inner GD updates of the step (residual < `tol`)"),
    ],
};

impl Experiment for TwoPoint {
    const KIND: &'static str = "two_point";
    const VERSION: u32 = 1;
    const TABLES: &'static [TableSchema] = &[PATHS];
    const ABOUT: &'static str = "E1: two 1-D particles, f = ½(x − 4)², Frobenius / Wasserstein local / global prox";
    type Params = TwoPointParams;

    fn run(p: &TwoPointParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let steps = p.steps as usize;
        let paths = two_point_paths(p.gamma, steps, p.tol)?;
        let mut rows = Rows::default();
        let closed = |rule| closed_form_path(rule, p.gamma, steps);
        let frob = &paths.frobenius;
        rows.add("frobenius", &points(&frob.iterates), &closed(frobenius_step), &frob.reports);
        let local = &paths.wasserstein_local;
        rows.add("wasserstein_local", &points(&local.iterates), &closed(wasserstein_local_step), &local.reports);
        let global = &paths.wasserstein_global;
        rows.add("wasserstein_global", &points(&global.iterates), &closed(wasserstein_global_step), &global.reports);
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
        Ok(vec![Table::new("paths", frame)])
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
}
