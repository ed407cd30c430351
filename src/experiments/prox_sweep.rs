//! E4 `prox_sweep` (seed 001 §3): the Frobenius and Wasserstein proximal point methods on a two-layer ReLU network
//! (m neurons, alternating signs, init N(0, scale²)) fitting n sine points; one point = one (seed, distance, γ).
//! Per prox step: loss, d_F and d_W to the previous iterate, fraction permuted, inner iterations and residual;
//! every particle position at every step.

use std::time::Instant;

use ndarray::Array2;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::params::{DistanceParam, LossNormParam, ScalingParam};
use super::{check, Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::model::{gaussian_init, Data, ReluNet, ReluProblem};
use crate::numerics::prox::{InnerStopping, NoObserver, ProxConfig, ProxSolver, ProxStepReport};
use crate::tables::{col, ColumnSchema, DType, TableSchema};

pub struct ProxSweep;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxSweepParams {
    /// Prox step γ.
    pub gamma: f64,
    pub distance: DistanceParam,
    /// Seed of the initialisation.
    pub seed: u64,
    /// Neurons.
    #[serde(default = "default_m")]
    pub m: u32,
    /// Sine data points on [−1, 1].
    #[serde(default = "default_n_data")]
    pub n_data: u32,
    /// Standard deviation of the initial weights.
    #[serde(default = "default_init_scale")]
    pub init_scale: f64,
    /// Prox steps.
    #[serde(default = "default_steps")]
    pub steps: u32,
    /// Inner GD updates per prox step (the seed: 10^6); with `residual_tol`, the maximum.
    #[serde(default = "default_inner")]
    pub inner_iterations: u64,
    /// Stop the inner GD once the stationarity residual is below this (default: run all `inner_iterations`).
    #[serde(default)]
    pub residual_tol: Option<f64>,
    /// Inner step β (default 1/(L̂ + 1/(mγ))).
    #[serde(default)]
    pub inner_step: Option<f64>,
    /// Allow the Wasserstein assignment to pair neurons of opposite signs (the seed's runs do).
    #[serde(default = "default_true")]
    pub assign_across_signs: bool,
    #[serde(default = "default_scaling")]
    pub scaling: ScalingParam,
    #[serde(default = "default_loss_norm")]
    pub loss_norm: LossNormParam,
}

fn default_m() -> u32 {
    50
}
fn default_n_data() -> u32 {
    5
}
fn default_init_scale() -> f64 {
    1e-2
}
fn default_steps() -> u32 {
    10
}
fn default_inner() -> u64 {
    1_000_000
}
fn default_true() -> bool {
    true
}
fn default_scaling() -> ScalingParam {
    ScalingParam::Sum
}
fn default_loss_norm() -> LossNormParam {
    LossNormParam::Mse
}

/// Rows of the particles table above this are refused (≈ 60 bytes each in memory while building it).
const MAX_PARTICLE_ROWS: u64 = 50_000_000;

impl Validate for ProxSweepParams {
    fn validate(&self) -> Result<(), ParamError> {
        check::positive("gamma", self.gamma)?;
        check::positive("init_scale", self.init_scale)?;
        check::at_least("m", self.m.into(), 1)?;
        check::at_least("n_data", self.n_data.into(), 1)?;
        check::at_least("steps", self.steps.into(), 1)?;
        check::at_least("inner_iterations", self.inner_iterations, 1)?;
        let rows = u64::from(self.m) * (u64::from(self.steps) + 1);
        if rows > MAX_PARTICLE_ROWS {
            let gb = rows as f64 * 60.0 / 1e9;
            return Err(ParamError::new(
                "m",
                format!("m × (steps + 1) = {rows} particle rows need ≈ {gb:.1} GB; reduce m or steps"),
            ));
        }
        if let Some(tol) = self.residual_tol {
            check::positive("residual_tol", tol)?;
        }
        if let Some(beta) = self.inner_step {
            check::positive("inner_step", beta)?;
        }
        Ok(())
    }
}

impl ProxSweepParams {
    fn config(&self) -> ProxConfig {
        let stopping = match self.residual_tol {
            Some(tol) => InnerStopping::Residual { tol, max_iterations: self.inner_iterations },
            None => InnerStopping::Iterations(self.inner_iterations),
        };
        ProxConfig {
            inner_step: self.inner_step,
            stopping,
            assign_across_signs: self.assign_across_signs,
            ..ProxConfig::new(self.gamma, self.distance.into())
        }
    }
}

/// The prox path: iterates W⁰ … W^T, reports of steps 1 … T, wall seconds per step.
pub struct SweepRun {
    pub iterates: Vec<Array2<f64>>,
    pub reports: Vec<ProxStepReport>,
    pub initial_loss: f64,
    pub seconds: Vec<f64>,
    pub alpha: Vec<f64>,
}

pub fn run_prox_path(p: &ProxSweepParams, progress: &(dyn Fn(f64) + Sync)) -> anyhow::Result<SweepRun> {
    let (m, n) = (p.m as usize, p.n_data as usize);
    let data = Data::sine(n);
    let net = ReluNet::alternating(m, p.scaling.into(), p.loss_norm.into());
    let problem = ReluProblem::new(&net, &data)?;
    let mut solver = ProxSolver::new(&problem, p.config())?;
    let w0 = gaussian_init(m, data.d(), p.init_scale, p.seed);
    let initial_loss = net.loss(&data, w0.view());
    let mut run =
        SweepRun { iterates: vec![w0], reports: vec![], initial_loss, seconds: vec![], alpha: net.alpha.clone() };
    for t in 1..=p.steps as usize {
        let clock = Instant::now();
        let outcome = solver.prox_step(run.iterates[t - 1].view(), t, &mut NoObserver)?;
        run.seconds.push(clock.elapsed().as_secs_f64());
        run.iterates.push(outcome.w);
        run.reports.push(outcome.report);
        progress(t as f64 / f64::from(p.steps));
    }
    Ok(run)
}

const SEED: ColumnSchema = col("seed", DType::U64, "id", "seed of the initialisation");
const DISTANCE: ColumnSchema = col("distance", DType::Str, "label", "`frobenius` or `wasserstein`");
const GAMMA: ColumnSchema = col("gamma", DType::F64, "1", "prox step γ");
const STEP: ColumnSchema = col("step", DType::U32, "index", "prox step t (0 = W⁰)");

const STEPS: TableSchema = TableSchema {
    name: "steps",
    about: "one row per prox step (step 0 is W⁰, whose step columns are null)",
    columns: &[
        SEED,
        DISTANCE,
        GAMMA,
        STEP,
        col("loss", DType::F64, "1", "F(W^t) = (1/n) Σ_j (f(X_j) − y_j)² (`loss_norm: mse`)"),
        col("dist_frob", DType::F64, "1", "d_F between W^t and W^{t−1}, with the 1/m of SPEC §0").nullable(),
        col("dist_w2", DType::F64, "1", "d_W between W^t and W^{t−1}, with the 1/m of SPEC §0").nullable(),
        col(
            "frac_permuted",
            DType::F64,
            "1",
            "fraction of neurons i with σ(i) ≠ i in the optimal assignment W^t → W^{t−1}",
        )
        .nullable(),
        col("inner_iters", DType::U64, "count", "inner GD updates used (0 at step 0)"),
        col("residual", DType::F64, "1", "final stationarity residual ‖∇F(V) + (1/(mγ))(V − W_σ)‖").nullable(),
        col("prox_objective", DType::F64, "1", "F(W^t) + d(W^t, W^{t−1})/(2γ) with the step's distance").nullable(),
        col(
            "lap_solves",
            DType::U64,
            "count",
            "inner iterations that re-solved the assignment (Wasserstein; a diagnostic, extrapolated from one period \
             when the inner loop jumps over an exact cycle)",
        ),
    ],
};

const PARTICLES: TableSchema = TableSchema {
    name: "particles",
    about: "one row per neuron per prox step",
    columns: &[
        SEED,
        DISTANCE,
        GAMMA,
        STEP,
        col("particle", DType::U32, "index", "neuron index i"),
        col("alpha", DType::I8, "1", "output sign α_i (alternating, +1 first)"),
        col("w", DType::F64, "1", "weight w_i at step t"),
        col("b", DType::F64, "1", "bias b_i at step t"),
    ],
};

const TIMING: TableSchema = TableSchema {
    name: "timing",
    about: "one row per prox step from step 1: the one table exempt from bit-identity",
    columns: &[SEED, DISTANCE, GAMMA, STEP, col("seconds", DType::F64, "s", "wall time of the prox step")],
};

fn steps_table(p: &ProxSweepParams, run: &SweepRun) -> PolarsResult<DataFrame> {
    let rows = run.reports.len() + 1;
    let r = &run.reports;
    let with_start = |f: fn(&ProxStepReport) -> f64| -> Vec<Option<f64>> {
        std::iter::once(None).chain(r.iter().map(|x| Some(f(x)))).collect()
    };
    df!(
        "seed" => vec![p.seed; rows],
        "distance" => vec![p.distance.as_str(); rows],
        "gamma" => vec![p.gamma; rows],
        "step" => (0..rows as u32).collect::<Vec<_>>(),
        "loss" => std::iter::once(run.initial_loss).chain(r.iter().map(|x| x.loss)).collect::<Vec<_>>(),
        "dist_frob" => with_start(|x| x.dist_frob),
        "dist_w2" => with_start(|x| x.dist_w2),
        "frac_permuted" => with_start(|x| x.frac_permuted),
        "inner_iters" => std::iter::once(0).chain(r.iter().map(|x| x.inner_iters)).collect::<Vec<u64>>(),
        "residual" => with_start(|x| x.residual),
        "prox_objective" => with_start(|x| x.prox_objective),
        "lap_solves" => std::iter::once(0).chain(r.iter().map(|x| x.lap_solves)).collect::<Vec<u64>>(),
    )
}

fn particles_table(p: &ProxSweepParams, run: &SweepRun) -> PolarsResult<DataFrame> {
    let m = p.m as usize;
    let rows = run.iterates.len() * m;
    let (mut step, mut particle, mut alpha, mut w, mut b) = (
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
        Vec::with_capacity(rows),
    );
    for (t, it) in run.iterates.iter().enumerate() {
        for i in 0..m {
            step.push(t as u32);
            particle.push(i as u32);
            alpha.push(run.alpha[i] as i8);
            w.push(it[[i, 0]]);
            b.push(it[[i, 1]]);
        }
    }
    df!(
        "seed" => vec![p.seed; rows],
        "distance" => vec![p.distance.as_str(); rows],
        "gamma" => vec![p.gamma; rows],
        "step" => step,
        "particle" => particle,
        "alpha" => alpha,
        "w" => w,
        "b" => b,
    )
}

impl Experiment for ProxSweep {
    const KIND: &'static str = "prox_sweep";
    // 2: the inner loop jumps over exact cycles; `lap_solves` is then extrapolated (all other columns unchanged).
    const VERSION: u32 = 2;
    const TABLES: &'static [TableSchema] = &[STEPS, PARTICLES, TIMING];
    const ABOUT: &'static str =
        "E4: Frobenius vs Wasserstein proximal point on a ReLU network, per (seed, distance, γ)";
    type Params = ProxSweepParams;

    fn run(p: &ProxSweepParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let run = run_prox_path(p, ctx.progress)?;
        let steps = run.seconds.len();
        // Wall times are not deterministic: they live in the one kind of table exempt from bit-identity.
        let timing = df!(
            "seed" => vec![p.seed; steps],
            "distance" => vec![p.distance.as_str(); steps],
            "gamma" => vec![p.gamma; steps],
            "step" => (1..=steps as u32).collect::<Vec<_>>(),
            "seconds" => &run.seconds,
        )?;
        Ok(vec![
            Table::new("steps", steps_table(p, &run)?),
            Table::new("particles", particles_table(p, &run)?),
            Table::new("timing", timing),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(distance: &str, gamma: f64) -> ProxSweepParams {
        serde_json::from_value(serde_json::json!({
            "gamma": gamma, "distance": distance, "seed": 3, "m": 8, "steps": 3, "inner_iterations": 2000
        }))
        .unwrap()
    }

    #[test]
    fn tables_have_one_row_per_step_and_particle() {
        let noop = |_: f64| {};
        let ctx = RunContext { inputs: &Default::default(), progress: &noop };
        let tables = ProxSweep::run(&params("wasserstein", 0.1), &ctx).unwrap();
        assert_eq!(tables[0].frame.height(), 4);
        assert_eq!(tables[1].frame.height(), 4 * 8);
        assert_eq!(tables[2].frame.height(), 3);
        let loss = crate::tables::column_f64(&tables[0].frame, "loss").unwrap();
        assert!(loss.windows(2).all(|l| l[1] <= l[0]), "a prox step never increases F: {loss:?}");
    }

    #[test]
    fn same_seed_same_bits() {
        let a = run_prox_path(&params("frobenius", 1.0), &|_| {}).unwrap();
        let b = run_prox_path(&params("frobenius", 1.0), &|_| {}).unwrap();
        assert_eq!(a.iterates, b.iterates);
    }
}
