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
use crate::numerics::assignment::{fraction_permuted, frobenius_distance, wasserstein_distance, AssignmentGroups};
use crate::numerics::exact::{exact_prox_step, polish, ExactProxConfig, ExactSolver, ExactStepReport, ExactWorkspace};
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
    /// How each prox step is solved: the seed's inner GD (default) or exactly (METHODS.md §1b).
    #[serde(default)]
    pub inner_solver: InnerSolverParam,
    /// Weight decay λ: each prox step minimises F + λ Σ_i ‖w_i‖² + d/(2γ) (docs/METHODS.md "Weight decay").
    /// The default 0 is left out of the canonical parameters, so stages without it keep their parameters.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight_decay: f64,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// `inner_solver: gd | exact_local | exact_global`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InnerSolverParam {
    /// `inner_iterations` GD updates per step, as the seed ran.
    #[default]
    Gd,
    /// The certified local minimiser reached by region descent / W2 alternation from W^t.
    ExactLocal,
    /// That minimiser improved by restarts, with its weak-duality lower bound and gap.
    ExactGlobal,
}

impl InnerSolverParam {
    pub fn as_str(self) -> &'static str {
        match self {
            InnerSolverParam::Gd => "gd",
            InnerSolverParam::ExactLocal => "exact_local",
            InnerSolverParam::ExactGlobal => "exact_global",
        }
    }

    fn exact(self) -> Option<ExactSolver> {
        match self {
            InnerSolverParam::Gd => None,
            InnerSolverParam::ExactLocal => Some(ExactSolver::Local),
            InnerSolverParam::ExactGlobal => Some(ExactSolver::Global),
        }
    }
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
        // n × m f64 activations: measured peak RSS 11.4 bytes per n·m element (m = 50, n_data = 8·10^5: 497 MB
        // against 42 MB at n_data = 5); count 16.
        let nm = f64::from(self.n_data) * f64::from(self.m);
        check::memory("n_data", nm * 16.0, "n_data × m activation matrices")?;
        if let Some(tol) = self.residual_tol {
            check::positive("residual_tol", tol)?;
        }
        if let Some(beta) = self.inner_step {
            check::positive("inner_step", beta)?;
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            let msg = format!("must be ≥ 0 and finite (0 turns weight decay off), got {}", self.weight_decay);
            return Err(ParamError::new("weight_decay", msg));
        }
        if self.inner_solver != InnerSolverParam::Gd {
            self.validate_exact()?;
        }
        Ok(())
    }
}

impl ProxSweepParams {
    /// GD-only knobs are refused with an exact solver, and one exact step from W⁰ is tried, so a configuration
    /// the exact module refuses fails here rather than at run time (one local step at m = 50: ≈ 0.1 ms).
    fn validate_exact(&self) -> Result<(), ParamError> {
        let gd_only = [("residual_tol", self.residual_tol.is_some()), ("inner_step", self.inner_step.is_some())];
        if let Some((name, _)) = gd_only.iter().find(|(_, set)| *set) {
            let solver = self.inner_solver.as_str();
            return Err(ParamError::new(
                name,
                format!("applies to inner_solver: gd only; remove it or use gd ({solver} given)"),
            ));
        }
        let data = Data::sine(self.n_data as usize);
        let net = ReluNet::alternating(self.m as usize, self.scaling.into(), self.loss_norm.into());
        let w0 = gaussian_init(self.m as usize, data.d(), self.init_scale, self.seed);
        let problem = ReluProblem::new(&net, &data).and_then(|p| p.with_weight_decay(self.weight_decay));
        let tried = problem.map_err(|e| e.to_string()).and_then(|problem| {
            let cfg = ExactProxConfig { solver: ExactSolver::Local, ..self.exact_config(ExactSolver::Local) };
            exact_prox_step(&problem, w0.view(), &cfg, &mut ExactWorkspace::new()).map_err(|e| e.to_string())
        });
        tried.map(|_| ()).map_err(|e| ParamError::new("inner_solver", format!("{e}; use inner_solver: gd")))
    }

    fn exact_config(&self, solver: ExactSolver) -> ExactProxConfig {
        ExactProxConfig {
            assign_across_signs: self.assign_across_signs,
            ..ExactProxConfig::new(self.gamma, self.distance.into(), solver)
        }
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

/// Per-step solver diagnostics beyond [`ProxStepReport`]: the exact step's own, or for a gd step those of
/// `polish` started at the GD iterate (how far the seed's step is from the local minimiser of its basin).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepDiagnostics {
    /// Exact steps: the local certificate (ray test) or, for global, gap ≤ 1e-9·max(1, |Φ|).
    pub certified: Option<bool>,
    pub lower_bound: Option<f64>,
    pub gap: Option<f64>,
    pub region_moves: u64,
    pub newton_iterations: u64,
    pub w2_alternations: u64,
    /// gd steps: sqrt((1/m) Σ_i ‖V_i − P_i‖²), P the polished point.
    pub polished_distance: Option<f64>,
    /// gd steps: Φ(V) − Φ(P).
    pub objective_excess: Option<f64>,
}

/// The prox path: iterates W⁰ … W^T, reports and diagnostics of steps 1 … T, wall seconds per step.
pub struct SweepRun {
    pub iterates: Vec<Array2<f64>>,
    pub reports: Vec<ProxStepReport>,
    pub diagnostics: Vec<StepDiagnostics>,
    pub initial_loss: f64,
    pub seconds: Vec<f64>,
    pub alpha: Vec<f64>,
}

/// One prox step's results; `seconds` times the solve only (not the polish nor the report's distances).
struct StepOutcome {
    w: Array2<f64>,
    report: ProxStepReport,
    diagnostics: StepDiagnostics,
    seconds: f64,
}

/// The solver of a path's prox steps.
enum Stepper<'a> {
    Gd { solver: Box<ProxSolver<'a, ReluProblem<'a>>>, polish: ExactProxConfig },
    Exact { cfg: ExactProxConfig, groups: AssignmentGroups },
}

impl<'a> Stepper<'a> {
    fn new(problem: &'a ReluProblem<'a>, p: &ProxSweepParams) -> anyhow::Result<Stepper<'a>> {
        Ok(match p.inner_solver.exact() {
            None => Stepper::Gd {
                solver: Box::new(ProxSolver::new(problem, p.config())?),
                polish: p.exact_config(ExactSolver::Local),
            },
            Some(solver) => Stepper::Exact {
                cfg: p.exact_config(solver),
                groups: AssignmentGroups::from_signs(p.m as usize, Some(&problem.net().alpha), p.assign_across_signs),
            },
        })
    }

    fn step(
        &mut self,
        problem: &ReluProblem,
        w_prev: &Array2<f64>,
        t: usize,
        ws: &mut ExactWorkspace,
    ) -> anyhow::Result<StepOutcome> {
        match self {
            Stepper::Gd { solver, polish: cfg } => {
                let clock = Instant::now();
                let mut outcome = solver.prox_step(w_prev.view(), t, &mut NoObserver)?;
                let seconds = clock.elapsed().as_secs_f64();
                if problem.weight_decay() > 0.0 {
                    // The inner loss is F + λ Σ‖w‖²; the `loss` column is the data term alone.
                    let (net, data) = (problem.net(), problem.data());
                    outcome.report.loss = net.loss(data, outcome.w.view());
                    outcome.report.start_loss = net.loss(data, w_prev.view());
                }
                let polished = polish(problem, w_prev.view(), outcome.w.view(), cfg, ws)?;
                let m = outcome.w.nrows() as f64;
                let sq: f64 = outcome.w.iter().zip(polished.v.iter()).map(|(a, b)| (a - b).powi(2)).sum();
                let diagnostics = StepDiagnostics {
                    polished_distance: Some((sq / m).sqrt()),
                    objective_excess: Some(outcome.report.prox_objective - polished.objective),
                    ..counts(&polished)
                };
                Ok(StepOutcome { w: outcome.w, report: outcome.report, diagnostics, seconds })
            }
            Stepper::Exact { cfg, groups } => {
                let clock = Instant::now();
                let exact = exact_prox_step(problem, w_prev.view(), cfg, ws)?;
                let seconds = clock.elapsed().as_secs_f64();
                let report = exact_report(problem, w_prev, &exact, groups)?;
                let diagnostics = StepDiagnostics {
                    certified: Some(exact.certified),
                    lower_bound: exact.lower_bound,
                    gap: exact.gap,
                    ..counts(&exact)
                };
                Ok(StepOutcome { w: exact.v, report, diagnostics, seconds })
            }
        }
    }
}

fn counts(r: &ExactStepReport) -> StepDiagnostics {
    StepDiagnostics {
        region_moves: r.region_moves,
        newton_iterations: r.newton_iterations,
        w2_alternations: r.w2_alternations,
        ..StepDiagnostics::default()
    }
}

/// The E4 columns of an exact step, measured as for a gd step (distances from W^t, fresh LAP for d_W);
/// no inner GD, so iterations 0 and residual NaN (written as null).
fn exact_report(
    problem: &ReluProblem,
    w_prev: &Array2<f64>,
    exact: &ExactStepReport,
    groups: &AssignmentGroups,
) -> anyhow::Result<ProxStepReport> {
    let (net, data) = (problem.net(), problem.data());
    let norm = crate::numerics::assignment::DistanceNorm::Mean;
    let (dist_w2, sigma) = wasserstein_distance(exact.v.view(), w_prev.view(), groups, norm)?;
    Ok(ProxStepReport {
        loss: net.loss(data, exact.v.view()),
        start_loss: net.loss(data, w_prev.view()),
        prox_objective: exact.objective,
        dist_frob: frobenius_distance(exact.v.view(), w_prev.view(), norm),
        dist_w2,
        frac_permuted: fraction_permuted(&sigma),
        inner_iters: 0,
        residual: f64::NAN,
        lap_solves: 0,
        augmentations: 0,
        augmenting_scans: 0,
        exact_checks: 0,
        inner_step: 0.0,
        assignment: exact.sigma.clone(),
        cycle: None,
        position_cycle: None,
        skipped_iterations: 0,
    })
}

pub fn run_prox_path(p: &ProxSweepParams, progress: &(dyn Fn(f64) + Sync)) -> anyhow::Result<SweepRun> {
    let (m, n) = (p.m as usize, p.n_data as usize);
    let data = Data::sine(n);
    let net = ReluNet::alternating(m, p.scaling.into(), p.loss_norm.into());
    let problem = ReluProblem::new(&net, &data)?.with_weight_decay(p.weight_decay)?;
    let mut stepper = Stepper::new(&problem, p)?;
    let mut ws = ExactWorkspace::new();
    let w0 = gaussian_init(m, data.d(), p.init_scale, p.seed);
    let initial_loss = net.loss(&data, w0.view());
    let mut run = SweepRun {
        iterates: vec![w0],
        reports: vec![],
        diagnostics: vec![],
        initial_loss,
        seconds: vec![],
        alpha: net.alpha.clone(),
    };
    for t in 1..=p.steps as usize {
        let outcome = stepper.step(&problem, &run.iterates[t - 1], t, &mut ws)?;
        run.seconds.push(outcome.seconds);
        run.iterates.push(outcome.w);
        run.reports.push(outcome.report);
        run.diagnostics.push(outcome.diagnostics);
        progress(t as f64 / f64::from(p.steps));
    }
    Ok(run)
}

const SEED: ColumnSchema = col("seed", DType::U64, "id", "seed of the initialisation");
const DISTANCE: ColumnSchema = col("distance", DType::Str, "label", "`frobenius` or `wasserstein`");
const GAMMA: ColumnSchema = col("gamma", DType::F64, "1", "prox step γ");
const INNER_SOLVER: ColumnSchema = col(
    "inner_solver",
    DType::Str,
    "label",
    "`gd` (the seed's inner GD), `exact_local` or `exact_global` (docs/METHODS.md §1b)",
);
const STEP: ColumnSchema = col("step", DType::U32, "index", "prox step t (0 = W⁰)");

const STEPS: TableSchema = TableSchema {
    name: "steps",
    about: "one row per prox step (step 0 is W⁰, whose step columns are null)",
    columns: &[
        SEED,
        DISTANCE,
        INNER_SOLVER,
        GAMMA,
        STEP,
        col(
            "loss",
            DType::F64,
            "1",
            "F(W^t) = (1/n) Σ_j (f(X_j) − y_j)² (`loss_norm: mse`), without the weight-decay term λ Σ_i ‖w_i‖²",
        ),
        col("dist_frob", DType::F64, "1", "d_F between W^t and W^{t−1}, with the 1/m of METHODS.md §0").nullable(),
        col("dist_w2", DType::F64, "1", "d_W between W^t and W^{t−1}, with the 1/m of METHODS.md §0").nullable(),
        col(
            "frac_permuted",
            DType::F64,
            "1",
            "fraction of neurons i with σ(i) ≠ i in the optimal assignment W^t → W^{t−1}",
        )
        .nullable(),
        col("inner_iters", DType::U64, "count", "inner GD updates used (0 at step 0 and for exact steps)"),
        col("residual", DType::F64, "1", "final stationarity residual ‖∇F(V) + (1/(mγ))(V − W_σ)‖ (gd steps)")
            .nullable(),
        col(
            "prox_objective",
            DType::F64,
            "1",
            "F(W^t) + λ Σ_i ‖w_i‖² + d(W^t, W^{t−1})/(2γ) with the step's distance (λ = `weight_decay`, default 0)",
        )
        .nullable(),
        col(
            "lap_solves",
            DType::U64,
            "count",
            "inner iterations that re-solved the assignment (Wasserstein; a diagnostic, extrapolated from one period \
             when the inner loop jumps over an exact cycle)",
        ),
        col(
            "certified",
            DType::Bool,
            "flag",
            "exact steps: `exact_local` passed the ray test at every neuron; `exact_global` has gap ≤ 1e-9·max(1, |Φ|) \
             (null for gd and at step 0)",
        )
        .nullable(),
        col("lower_bound", DType::F64, "1", "`exact_global`: weak-duality lower bound on the prox objective Φ")
            .nullable(),
        col("gap", DType::F64, "1", "`exact_global`: Φ(W^t) − lower_bound ≥ 0").nullable(),
        col(
            "region_moves",
            DType::U64,
            "count",
            "region changes of the region descent (exact steps; for gd, of the polish from the GD iterate)",
        ),
        col("newton_iterations", DType::U64, "count", "semismooth Newton iterations of the region QPs (idem)"),
        col("w2_alternations", DType::U64, "count", "σ ← LAP / V ← prox rounds (Wasserstein; 0 for Frobenius)"),
        col(
            "polished_distance",
            DType::F64,
            "1",
            "gd steps: sqrt((1/m) Σ_i ‖V_i − P_i‖²) from the GD iterate V to the point P that `polish` (region \
             descent / alternation started at V) reaches",
        )
        .nullable(),
        col("objective_excess", DType::F64, "1", "gd steps: Φ(V) − Φ(P), the prox objective given away").nullable(),
    ],
};

const PARTICLES: TableSchema = TableSchema {
    name: "particles",
    about: "one row per neuron per prox step",
    columns: &[
        SEED,
        DISTANCE,
        INNER_SOLVER,
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
    columns: &[
        SEED,
        DISTANCE,
        INNER_SOLVER,
        GAMMA,
        STEP,
        col("seconds", DType::F64, "s", "wall time of the prox step"),
    ],
};

fn steps_table(p: &ProxSweepParams, run: &SweepRun) -> PolarsResult<DataFrame> {
    let rows = run.reports.len() + 1;
    let r = &run.reports;
    let with_start = |f: fn(&ProxStepReport) -> f64| -> Vec<Option<f64>> {
        std::iter::once(None).chain(r.iter().map(|x| Some(f(x)))).collect()
    };
    let gd = p.inner_solver == InnerSolverParam::Gd;
    let residual = if gd { with_start(|x| x.residual) } else { vec![None; rows] };
    let mut frame = df!(
        "seed" => vec![p.seed; rows],
        "distance" => vec![p.distance.as_str(); rows],
        "inner_solver" => vec![p.inner_solver.as_str(); rows],
        "gamma" => vec![p.gamma; rows],
        "step" => (0..rows as u32).collect::<Vec<_>>(),
        "loss" => std::iter::once(run.initial_loss).chain(r.iter().map(|x| x.loss)).collect::<Vec<_>>(),
        "dist_frob" => with_start(|x| x.dist_frob),
        "dist_w2" => with_start(|x| x.dist_w2),
        "frac_permuted" => with_start(|x| x.frac_permuted),
        "inner_iters" => std::iter::once(0).chain(r.iter().map(|x| x.inner_iters)).collect::<Vec<u64>>(),
        "residual" => residual,
        "prox_objective" => with_start(|x| x.prox_objective),
        "lap_solves" => std::iter::once(0).chain(r.iter().map(|x| x.lap_solves)).collect::<Vec<u64>>(),
    )?;
    frame.hstack_mut(&diagnostic_columns(&run.diagnostics))?;
    Ok(frame)
}

/// The diagnostic columns, step 0 first (null or 0).
fn diagnostic_columns(d: &[StepDiagnostics]) -> Vec<Column> {
    let opt = |f: fn(&StepDiagnostics) -> Option<f64>| -> Vec<Option<f64>> {
        std::iter::once(None).chain(d.iter().map(f)).collect()
    };
    let count = |f: fn(&StepDiagnostics) -> u64| -> Vec<u64> { std::iter::once(0).chain(d.iter().map(f)).collect() };
    let certified: Vec<Option<bool>> = std::iter::once(None).chain(d.iter().map(|x| x.certified)).collect();
    vec![
        Column::new("certified".into(), certified),
        Column::new("lower_bound".into(), opt(|x| x.lower_bound)),
        Column::new("gap".into(), opt(|x| x.gap)),
        Column::new("region_moves".into(), count(|x| x.region_moves)),
        Column::new("newton_iterations".into(), count(|x| x.newton_iterations)),
        Column::new("w2_alternations".into(), count(|x| x.w2_alternations)),
        Column::new("polished_distance".into(), opt(|x| x.polished_distance)),
        Column::new("objective_excess".into(), opt(|x| x.objective_excess)),
    ]
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
        "inner_solver" => vec![p.inner_solver.as_str(); rows],
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
    // 3: `inner_solver` and the exact-step / polish diagnostic columns (the gd columns are unchanged).
    const VERSION: u32 = 3;
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
            "inner_solver" => vec![p.inner_solver.as_str(); steps],
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

    fn exact_params(distance: &str, gamma: f64, solver: &str) -> ProxSweepParams {
        serde_json::from_value(serde_json::json!({
            "gamma": gamma, "distance": distance, "seed": 3, "m": 8, "steps": 4, "inner_solver": solver
        }))
        .unwrap()
    }

    fn run_tables(p: &ProxSweepParams) -> Vec<Table> {
        let noop = |_: f64| {};
        let ctx = RunContext { inputs: &Default::default(), progress: &noop };
        ProxSweep::run(p, &ctx).unwrap()
    }

    /// The gd path is the old code path: ProxSolver::prox_step from W⁰, nothing else.
    #[test]
    fn gd_path_equals_the_plain_prox_solver() {
        for distance in ["frobenius", "wasserstein"] {
            let p = params(distance, 0.1);
            let run = run_prox_path(&p, &|_| {}).unwrap();
            let data = Data::sine(p.n_data as usize);
            let net = ReluNet::alternating(p.m as usize, p.scaling.into(), p.loss_norm.into());
            let problem = ReluProblem::new(&net, &data).unwrap();
            let mut solver = ProxSolver::new(&problem, p.config()).unwrap();
            let mut w = gaussian_init(p.m as usize, 2, p.init_scale, p.seed);
            assert_eq!(run.iterates[0], w);
            for t in 1..=p.steps as usize {
                let out = solver.prox_step(w.view(), t, &mut NoObserver).unwrap();
                assert_eq!(run.iterates[t], out.w, "{distance} step {t}");
                assert_eq!(run.reports[t - 1], out.report, "{distance} step {t}");
                w = out.w;
            }
        }
    }

    /// Polishing starts at the GD iterate V, so Φ(P) ≤ Φ(V) up to rounding, and P is a distinct finite point.
    #[test]
    fn gd_steps_carry_their_polish() {
        for distance in ["frobenius", "wasserstein"] {
            let tables = run_tables(&params(distance, 1.0));
            let f = &tables[0].frame;
            let excess = f.column("objective_excess").unwrap().f64().unwrap().clone();
            let dist = f.column("polished_distance").unwrap().f64().unwrap().clone();
            let phi = crate::tables::column_f64(f, "prox_objective").unwrap();
            assert_eq!(excess.get(0), None);
            assert_eq!(f.column("certified").unwrap().null_count(), 4);
            for (t, phi_t) in phi.iter().enumerate().skip(1) {
                let (e, d) = (excess.get(t).unwrap(), dist.get(t).unwrap());
                assert!(e >= -1e-12 * phi_t.abs().max(1.0), "{distance} step {t}: excess {e}");
                assert!(d.is_finite() && d >= 0.0, "{distance} step {t}: distance {d}");
            }
        }
    }

    #[test]
    fn exact_runs_have_their_rows_and_certificates() {
        for (distance, solver) in [
            ("frobenius", "exact_local"),
            ("wasserstein", "exact_local"),
            ("frobenius", "exact_global"),
            ("wasserstein", "exact_global"),
        ] {
            let p = exact_params(distance, 1.0, solver);
            p.validate().unwrap();
            let tables = run_tables(&p);
            let f = &tables[0].frame;
            assert_eq!((f.height(), tables[1].frame.height(), tables[2].frame.height()), (5, 5 * 8, 4));
            let loss = crate::tables::column_f64(f, "loss").unwrap();
            assert!(
                loss.windows(2).all(|l| l[1] <= l[0]),
                "{distance} {solver}: a prox step never increases F: {loss:?}"
            );
            assert_eq!(f.column("inner_iters").unwrap().u64().unwrap().get(4), Some(0));
            assert_eq!(f.column("residual").unwrap().null_count(), 5);
            assert_eq!(f.column("objective_excess").unwrap().null_count(), 5);
            let certified = f.column("certified").unwrap().bool().unwrap().clone();
            let gap = f.column("gap").unwrap().f64().unwrap().clone();
            let phi = crate::tables::column_f64(f, "prox_objective").unwrap();
            assert_eq!(phi.len(), 5);
            for (t, phi_t) in phi.iter().enumerate().skip(1) {
                let c = certified.get(t).expect("exact steps are certified or not");
                match gap.get(t) {
                    Some(g) => {
                        assert_eq!(solver, "exact_global");
                        assert!(g >= -1e-12, "{distance} step {t}: gap {g}");
                        assert_eq!(c, g <= 1e-9 * phi_t.abs().max(1.0), "{distance} step {t}: gap {g}");
                    }
                    None => assert_eq!(solver, "exact_local"),
                }
            }
        }
    }

    #[test]
    fn exact_solver_refuses_gd_knobs_at_validation() {
        let mut p = exact_params("frobenius", 0.1, "exact_local");
        p.residual_tol = Some(1e-9);
        let e = p.validate().unwrap_err();
        assert!(e.path == "residual_tol" && e.message.contains("gd only"), "{e:?}");
        p.residual_tol = None;
        p.validate().unwrap();
    }

    /// `weight_decay` absent or 0 leaves the canonical parameters (hence the keys) of existing stages unchanged;
    /// a negative or non-finite value is refused naming the parameter.
    #[test]
    fn weight_decay_default_is_not_serialised_and_bad_values_are_refused() {
        let p = exact_params("frobenius", 0.1, "exact_local");
        let canonical = serde_json::to_value(&p).unwrap();
        assert!(canonical.get("weight_decay").is_none(), "{canonical}");
        let mut with = p.clone();
        with.weight_decay = 1e-2;
        assert_eq!(serde_json::to_value(&with).unwrap()["weight_decay"], 1e-2);
        with.validate().unwrap();
        for bad in [-1e-3, f64::INFINITY, f64::NAN] {
            with.weight_decay = bad;
            let e = with.validate().unwrap_err();
            assert!(e.path == "weight_decay" && e.message.contains("≥ 0"), "{e:?}");
        }
    }

    /// With decay, the `loss` column is the data term F alone and `prox_objective` adds λ Σ‖w‖² and the distance
    /// term (checked from the particles), for gd and exact steps.
    #[test]
    fn weight_decay_columns_mean_what_the_schema_says() {
        for solver in ["gd", "exact_local", "exact_global"] {
            let mut p = exact_params("frobenius", 0.1, solver);
            p.inner_iterations = 3000;
            p.weight_decay = 0.05;
            let run = run_prox_path(&p, &|_| {}).unwrap();
            let data = Data::sine(p.n_data as usize);
            let net = ReluNet::alternating(p.m as usize, p.scaling.into(), p.loss_norm.into());
            for (t, r) in run.reports.iter().enumerate() {
                let (w, prev) = (&run.iterates[t + 1], &run.iterates[t]);
                assert_eq!(r.loss.to_bits(), net.loss(&data, w.view()).to_bits(), "{solver} step {t}");
                let decay: f64 = w.iter().map(|x| 0.05 * x * x).sum();
                let dist: f64 = w.iter().zip(prev.iter()).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 8.0;
                let phi = r.loss + decay + dist / (2.0 * p.gamma);
                assert!((r.prox_objective - phi).abs() <= 1e-12 * phi.abs().max(1.0), "{solver} step {t}");
            }
        }
    }

    #[test]
    fn same_seed_same_bits() {
        let a = run_prox_path(&params("frobenius", 1.0), &|_| {}).unwrap();
        let b = run_prox_path(&params("frobenius", 1.0), &|_| {}).unwrap();
        assert_eq!(a.iterates, b.iterates);
    }
}
