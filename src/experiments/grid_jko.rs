//! E5 `grid_jko` (seed 001 §9, seed 004): the entropic JKO flow of the two-layer ReLU objective on a (w, b) grid
//! with two sign copies, p_{t+1} = argmin_p W_ε(p, p_t) + τ f(p), f(p) = (1/n) Σ_j (Φp − y)_j².
//!
//! Time: the cost is |θ − θ'|² without ½, so one step advances the Wasserstein gradient flow by τ/2
//! (`numerics::ot` docs); the `time` column is step·τ/2. The entropic blur adds diffusion ε/(2τ).

use ndarray::{Array3, Axis};
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check, Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::ot::grid::{gaussian_density, sine_data, stack_copies, Grid2d, ReluFeatures, SIGNS};
use crate::numerics::ot::jko::{jko_step, JkoOptions, JkoStep, WarmStart};
use crate::numerics::ot::kernel::GibbsKernel;
use crate::numerics::ot::kl_prox::{Objective, ReluLeastSquares};
use crate::tables::{col, ColumnSchema, DType, TableSchema};

pub struct GridJko;

/// Largest grid accepted: 2 copies × N points, a few dozen N-vectors plus 1-D kernels; 10^6 points ≈ 1 GB.
pub const MAX_GRID_POINTS: u64 = 1_000_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridJkoParams {
    /// Grid points along w and along b.
    #[serde(default = "default_n")]
    pub n_w: u32,
    #[serde(default = "default_n")]
    pub n_b: u32,
    /// The grid covers [−R, R]² (R = half_width).
    #[serde(default = "default_half_width")]
    pub half_width: f64,
    /// Entropic regularisation ε (same units as |θ|²).
    pub eps: f64,
    /// JKO step τ.
    pub tau: f64,
    /// Number of JKO steps.
    pub steps: u32,
    /// Both marginal errors below this end a step's Dykstra loop.
    #[serde(default = "default_tol")]
    pub tol: f64,
    #[serde(default = "default_max_iter")]
    pub max_iter: u32,
    /// Sine data points on [−1, 1].
    #[serde(default = "default_n_data")]
    pub n_data: u32,
    /// Initial density: a Gaussian of this std at `init_centre`, mass ½ in each sign copy.
    #[serde(default = "default_init_std")]
    pub init_std: f64,
    #[serde(default)]
    pub init_centre: [f64; 2],
    /// Number of evenly spaced steps (first and last included) at which the density is stored.
    #[serde(default = "default_snapshots")]
    pub snapshots: u32,
}

fn default_n() -> u32 {
    100
}
fn default_half_width() -> f64 {
    2.0
}
fn default_tol() -> f64 {
    1e-6
}
fn default_max_iter() -> u32 {
    20_000
}
fn default_n_data() -> u32 {
    5
}
fn default_init_std() -> f64 {
    0.1
}
fn default_snapshots() -> u32 {
    5
}

impl Validate for GridJkoParams {
    fn validate(&self) -> Result<(), ParamError> {
        check::at_least("n_w", self.n_w.into(), 3)?;
        check::at_least("n_b", self.n_b.into(), 3)?;
        let points = u64::from(self.n_w) * u64::from(self.n_b);
        if points > MAX_GRID_POINTS {
            let gb = points as f64 * 2.0 * 8.0 * 60.0 / 1e9;
            return Err(ParamError::new(
                "n_w",
                format!(
                    "a {}×{} grid needs about {gb:.1} GB; use at most {MAX_GRID_POINTS} points",
                    self.n_w, self.n_b
                ),
            ));
        }
        for (name, v) in [("half_width", self.half_width), ("eps", self.eps), ("tau", self.tau)] {
            check::positive(name, v)?;
        }
        check::positive("tol", self.tol)?;
        check::positive("init_std", self.init_std)?;
        check::at_least("steps", self.steps.into(), 1)?;
        check::at_least("max_iter", self.max_iter.into(), 1)?;
        check::at_least("n_data", self.n_data.into(), 1)?;
        check::at_least("snapshots", self.snapshots.into(), 1)?;
        if self.init_centre.iter().any(|c| !c.is_finite() || c.abs() >= self.half_width) {
            return Err(ParamError::new("init_centre", "must lie inside the grid (|coordinate| < half_width)"));
        }
        Ok(())
    }
}

impl GridJkoParams {
    /// The steps whose density is stored: `snapshots` evenly spaced values in 0..=steps.
    pub fn snapshot_steps(&self) -> Vec<u32> {
        let k = self.snapshots.min(self.steps + 1);
        let mut out: Vec<u32> = (0..k)
            .map(|i| if k == 1 { self.steps } else { (i as u64 * self.steps as u64 / (k as u64 - 1)) as u32 })
            .collect();
        out.dedup();
        out
    }
}

/// Row accumulators for the `steps` and `density` tables.
#[derive(Default)]
struct Rows {
    step: Vec<u32>,
    loss: Vec<f64>,
    energy: Vec<Option<f64>>,
    w_eps: Vec<Option<f64>>,
    transport: Vec<Option<f64>>,
    err_q: Vec<Option<f64>>,
    err_p: Vec<Option<f64>>,
    iterations: Vec<u32>,
    mass_plus: Vec<f64>,
    mass_minus: Vec<f64>,
    d_step: Vec<u32>,
    d_sign: Vec<i8>,
    d_w: Vec<f64>,
    d_b: Vec<f64>,
    d_p: Vec<f64>,
}

impl Rows {
    fn record(&mut self, step: u32, p: &Array3<f64>, loss: f64, jko: Option<&JkoStep>) {
        self.step.push(step);
        self.loss.push(loss);
        self.energy.push(jko.map(|s| s.energy));
        self.w_eps.push(jko.map(|s| s.w_eps));
        self.transport.push(jko.map(|s| s.transport_cost));
        self.err_q.push(jko.map(|s| s.marginal_errors[0]));
        self.err_p.push(jko.map(|s| s.marginal_errors[1]));
        self.iterations.push(jko.map_or(0, |s| s.iterations as u32));
        self.mass_plus.push(p.index_axis(Axis(0), 0).sum());
        self.mass_minus.push(p.index_axis(Axis(0), 1).sum());
    }

    fn snapshot(&mut self, step: u32, grid: &Grid2d, p: &Array3<f64>) {
        let (w, b) = (grid.w_coords(), grid.b_coords());
        for (c, sign) in SIGNS.iter().enumerate() {
            for ((i, j), &mass) in p.index_axis(Axis(0), c).indexed_iter() {
                self.d_step.push(step);
                self.d_sign.push(*sign as i8);
                self.d_w.push(w[i]);
                self.d_b.push(b[j]);
                self.d_p.push(mass);
            }
        }
    }
}

/// Runs the flow and returns the row accumulators.
fn flow(p: &GridJkoParams, progress: &(dyn Fn(f64) + Sync)) -> anyhow::Result<Rows> {
    let grid = Grid2d::new(p.n_w as usize, p.n_b as usize, p.half_width)?;
    let kernel = GibbsKernel::new(&grid, p.eps)?;
    let (x, y) = sine_data(p.n_data as usize)?;
    let objective = ReluLeastSquares::new(ReluFeatures::new(&grid, &x)?, y)?;
    let centre = (p.init_centre[0], p.init_centre[1]);
    let half = gaussian_density(&grid, centre, p.init_std, 0.5)?;
    let mut density = stack_copies(&[half.view(), half.view()])?;
    let opts = JkoOptions { tau: p.tau, tol: p.tol, max_iter: p.max_iter as usize };
    let snapshots = p.snapshot_steps();
    let mut rows = Rows::default();
    rows.record(0, &density, objective.value(density.view())?, None);
    if snapshots.contains(&0) {
        rows.snapshot(0, &grid, &density);
    }
    let mut warm = WarmStart::default();
    for t in 1..=p.steps {
        let step = jko_step(&kernel, &objective, density.view(), &opts, &mut warm)
            .map_err(|e| anyhow::anyhow!("JKO step {t}: {e}"))?;
        rows.record(t, &step.p, step.objective, Some(&step));
        density = step.p;
        if snapshots.contains(&t) {
            rows.snapshot(t, &grid, &density);
        }
        progress(f64::from(t) / f64::from(p.steps));
    }
    Ok(rows)
}

const EPS: ColumnSchema = col("eps", DType::F64, "1", "entropic regularisation ε");

const STEPS: TableSchema = TableSchema {
    name: "steps",
    about: "one row per JKO step (step 0 is p₀, whose step columns are null)",
    columns: &[
        EPS,
        col("tau", DType::F64, "1", "JKO step τ"),
        col("step", DType::U32, "index", "JKO step t (0 = p₀)"),
        col(
            "time",
            DType::F64,
            "1",
            "gradient-flow time t·τ/2 (the cost is |θ − θ'|² without ½, so a step advances the flow by τ/2)",
        ),
        col("loss", DType::F64, "1", "f(p_t) = (1/n) Σ_j (Φp_t − y)_j²"),
        col("energy", DType::F64, "1", "W_ε(p_t, p_{t−1}) + τ f(p_t)").nullable(),
        col("w_eps", DType::F64, "1", "W_ε(p_t, p_{t−1}) = ⟨c, π⟩ + ε Σ π(log π − 1)").nullable(),
        col("transport_cost", DType::F64, "1", "⟨c, π⟩ alone").nullable(),
        col(
            "marginal_err_q",
            DType::F64,
            "1",
            "‖b ⊙ ξᵀa − q‖/‖q‖ at the last Dykstra iteration, q = p_{t−1} (a stopping criterion of Algorithm 1)",
        )
        .nullable(),
        col(
            "marginal_err_p",
            DType::F64,
            "1",
            "‖a ⊙ ξb − p‖/‖q‖ at the last Dykstra iteration, p the prox output (a stopping criterion of Algorithm 1)",
        )
        .nullable(),
        col("iterations", DType::U32, "count", "Dykstra iterations of the step (0 at step 0)"),
        col("mass_plus", DType::F64, "1", "mass of the α = +1 copy (0.5, conserved to 1e-12)"),
        col("mass_minus", DType::F64, "1", "mass of the α = −1 copy (0.5, conserved to 1e-12)"),
    ],
};

const DENSITY: TableSchema = TableSchema {
    name: "density",
    about: "one row per sign copy and grid point, at the `snapshots` evenly spaced steps",
    columns: &[
        EPS,
        col("step", DType::U32, "index", "JKO step t"),
        col("sign", DType::I8, "1", "the copy's output sign α = ±1"),
        col("w", DType::F64, "1", "grid point θ = (w, b): weight"),
        col("b", DType::F64, "1", "grid point θ = (w, b): bias"),
        col("p", DType::F64, "1", "mass at that grid point"),
    ],
};

const DATA: TableSchema = TableSchema {
    name: "data",
    about: "one row per data point (sine, y = sin πx)",
    columns: &[EPS, col("x", DType::F64, "1", "data input x_j"), col("y", DType::F64, "1", "label y_j = sin πx_j")],
};

impl Experiment for GridJko {
    const KIND: &'static str = "grid_jko";
    const VERSION: u32 = 1;
    const TABLES: &'static [TableSchema] = &[STEPS, DENSITY, DATA];
    const ABOUT: &'static str = "E5: entropic JKO flow of the ReLU objective on a (w, b) grid, two sign copies";
    type Params = GridJkoParams;

    fn run(p: &GridJkoParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let r = flow(p, ctx.progress)?;
        let rows = r.step.len();
        let steps = df!(
            "eps" => vec![p.eps; rows],
            "tau" => vec![p.tau; rows],
            "step" => &r.step,
            "time" => r.step.iter().map(|&t| f64::from(t) * p.tau / 2.0).collect::<Vec<_>>(),
            "loss" => r.loss,
            "energy" => r.energy,
            "w_eps" => r.w_eps,
            "transport_cost" => r.transport,
            "marginal_err_q" => r.err_q,
            "marginal_err_p" => r.err_p,
            "iterations" => r.iterations,
            "mass_plus" => r.mass_plus,
            "mass_minus" => r.mass_minus,
        )?;
        let n = r.d_step.len();
        let density = df!(
            "eps" => vec![p.eps; n],
            "step" => r.d_step,
            "sign" => r.d_sign,
            "w" => r.d_w,
            "b" => r.d_b,
            "p" => r.d_p,
        )?;
        let (x, y) = sine_data(p.n_data as usize)?;
        let data = df!("eps" => vec![p.eps; x.len()], "x" => x, "y" => y)?;
        Ok(vec![Table::new("steps", steps), Table::new("density", density), Table::new("data", data)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> GridJkoParams {
        serde_json::from_value(
            serde_json::json!({"n_w": 21, "n_b": 21, "eps": 0.05, "tau": 0.5, "steps": 4, "init_std": 0.3}),
        )
        .unwrap()
    }

    #[test]
    fn loss_falls_and_mass_is_kept() {
        let p = small();
        let r = flow(&p, &|_| {}).unwrap();
        assert_eq!(r.step, vec![0, 1, 2, 3, 4]);
        assert!(r.loss.windows(2).all(|l| l[1] < l[0]), "f decreases along the JKO flow: {:?}", r.loss);
        for (a, b) in r.mass_plus.iter().zip(&r.mass_minus) {
            assert!((a - 0.5).abs() < 1e-12 && (b - 0.5).abs() < 1e-12);
        }
        assert_eq!(p.snapshot_steps(), vec![0, 1, 2, 3, 4]);
        assert_eq!(r.d_p.len(), 5 * 2 * 21 * 21);
    }

    #[test]
    fn snapshot_steps_are_spread() {
        let mut p = small();
        p.steps = 40;
        assert_eq!(p.snapshot_steps(), vec![0, 10, 20, 30, 40]);
        p.snapshots = 1;
        assert_eq!(p.snapshot_steps(), vec![40]);
    }
}
