//! E7 `williams` (seed 002, Williams et al. 2019; docs/METHODS.md "E7"): one stage kind for the paper's figures.
//! `figure:` picks what is computed; the GD figures (1, 5, 6, 7, 8, 9) share one runner over lists of widths,
//! δ settings and seeds. Every point fills the same ten long-format tables (those a figure does not use stay
//! empty), keyed by a `run` label such as `m=1000 δ=-10 seed=1`.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check, Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::model::Data;
use crate::numerics::objective::Objective;
use crate::numerics::williams::{
    eq15_flags, gaussian_rf_kernel, init_neurons, knot_clustering_score, linspace, local_trajectory,
    min_norm_output_fit, ntk_step_size, prepare, pytorch_init, sample_line_behaviour, speed_ratio,
    tangent_kernel_terms, train, uv_velocity, CubicSpline, FeatureLaw, LineBehaviour, Neurons, Normalisation, Trained,
    WilliamsProblem,
};
use crate::tables::{col, DType, TableSchema};

pub struct Williams;

/// δ of every neuron: a number (per-neuron rescaling, all of a, b, c trained), `-inf` (train c only), `+inf`
/// (train a, b only) or `init` (the PyTorch-style init as drawn, all trained).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DeltaParam {
    Value(f64),
    Named(DeltaName),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeltaName {
    #[serde(rename = "-inf")]
    MinusInfinity,
    #[serde(rename = "+inf")]
    PlusInfinity,
    #[serde(rename = "init")]
    Init,
}

impl DeltaParam {
    /// The δ given to `prepare` (None: the init as drawn).
    fn value(self) -> Option<f64> {
        match self {
            DeltaParam::Value(d) => Some(d),
            DeltaParam::Named(DeltaName::MinusInfinity) => Some(f64::NEG_INFINITY),
            DeltaParam::Named(DeltaName::PlusInfinity) => Some(f64::INFINITY),
            DeltaParam::Named(DeltaName::Init) => None,
        }
    }

    fn label(self) -> String {
        match self {
            DeltaParam::Value(d) => format!("{d}"),
            DeltaParam::Named(DeltaName::MinusInfinity) => "-inf".into(),
            DeltaParam::Named(DeltaName::PlusInfinity) => "+inf".into(),
            DeltaParam::Named(DeltaName::Init) => "init".into(),
        }
    }
}

/// `labels: sine | square`: y = sin(π x) or sign(sin(π x)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Labels {
    Sine,
    Square,
}

/// The samples: `samples` inputs equally spaced on [x_min, x_max] with the labels.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataParams {
    pub labels: Labels,
    pub samples: u32,
    pub x_min: f64,
    pub x_max: f64,
}

impl DataParams {
    pub fn data(&self) -> Data {
        let xs = linspace(self.x_min, self.x_max, self.samples as usize);
        let y = xs.iter().map(|&x| {
            let s = (std::f64::consts::PI * x).sin();
            if self.labels == Labels::Square {
                s.signum()
            } else {
                s
            }
        });
        let inputs = ndarray::Array2::from_shape_vec((xs.len(), 1), xs.clone()).expect("n × 1");
        Data::from_inputs(inputs.view(), y.collect())
    }

    fn validate(&self) -> Result<(), ParamError> {
        check::at_least("data.samples", self.samples.into(), 2)?;
        check::at_most("data.samples", self.samples.into(), 200, "the NTK step size needs an s × s eigen-solve")?;
        if !(self.x_min.is_finite() && self.x_max.is_finite() && self.x_min < self.x_max) {
            return Err(ParamError::new("data.x_min", "need finite x_min < x_max"));
        }
        Ok(())
    }
}

/// GD figures (1, 5, 6, 7, 8, 9): for every width × δ × seed, PyTorch-style init (a, b ~ U(−1, 1),
/// c ~ U(−1/m, 1/m)), δ set by rescaling, `steps` full-batch GD steps of η = eta_fraction / λ_max(Θ(z₀)).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdParams {
    pub data: DataParams,
    pub widths: Vec<u32>,
    pub deltas: Vec<DeltaParam>,
    pub seeds: Vec<u64>,
    pub steps: u32,
    /// One fraction for every δ, or one per entry of `deltas`.
    pub eta_fraction: Vec<f64>,
    /// Network functions on this many points of [−x_plot, x_plot].
    #[serde(default = "default_grid")]
    pub grid_points: u32,
    #[serde(default = "default_x_plot")]
    pub x_plot: f64,
    /// (u, v) paths of the first this many neurons (i.i.d. init: a random sample), every `trajectory_every` steps.
    #[serde(default)]
    pub trajectory_neurons: u32,
    #[serde(default = "default_every")]
    pub trajectory_every: u32,
    /// The δ = +∞ direction field (Fig. 9) on a field_grid × field_grid grid of the uv plane; 0 = none.
    #[serde(default)]
    pub field_grid: u32,
    /// Knot-clustering score: knot within `cluster_radius` of a sample, among neurons whose |r| changed > 1 %.
    #[serde(default = "default_radius")]
    pub cluster_radius: f64,
    /// If set: the tangent-kernel terms of each final network at this x against x' on the plot grid (`kernel`).
    #[serde(default)]
    pub kernel_x: Option<f64>,
}

fn default_grid() -> u32 {
    601
}
fn default_x_plot() -> f64 {
    1.5
}
fn default_every() -> u32 {
    50
}
fn default_radius() -> f64 {
    0.02
}

/// Fig. 2: particles on a ring of radius `radius` under a frozen reduced gradient (1, 0), α = m, explicit Euler.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalParams {
    pub deltas: Vec<f64>,
    pub particles: u32,
    pub radius: f64,
    pub dt: f64,
    pub steps: u32,
    pub every: u32,
}

/// Fig. 3: the tangent-kernel terms of eq. (27) at x against x' on [−x_plot, x_plot], one network per law.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KernelParams {
    pub m: u32,
    pub x: f64,
    pub grid_points: u32,
    pub x_plot: f64,
    /// c ~ U(−c_bound, c_bound): 1 shows the c-terms' shape (E[c²] = 1/3); 1/m is the PyTorch-style law.
    pub c_bound: f64,
    pub seed: u64,
}

/// Fig. 4: c-only fit of minimum norm (the limit of c-only GD from c = 0) per width and seed, a, b ~ U(−1, 1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplineParams {
    pub data: DataParams,
    pub widths: Vec<u32>,
    pub seeds: Vec<u64>,
    #[serde(default = "default_grid")]
    pub grid_points: u32,
    #[serde(default = "default_x_plot")]
    pub x_plot: f64,
}

/// The δ identity: one init at δ, GD for flow time T = steps · η with η = eta_fraction / λ_max, η/2, η/4, ….
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityParams {
    pub data: DataParams,
    pub m: u32,
    pub delta: f64,
    pub seed: u64,
    pub eta_fraction: f64,
    pub steps: u32,
    pub halvings: u32,
}

/// `figure:` and that figure's parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "figure", rename_all = "snake_case")]
pub enum WilliamsParams {
    KnotsUv(GdParams),
    LocalTrajectories(LocalParams),
    KernelSlices(KernelParams),
    SplineWidth(SplineParams),
    DeltaSweep(GdParams),
    PmInf(GdParams),
    SameInit(GdParams),
    Width(GdParams),
    Attractor(GdParams),
    DeltaIdentity(IdentityParams),
}

impl WilliamsParams {
    pub fn figure(&self) -> &'static str {
        match self {
            WilliamsParams::KnotsUv(_) => "knots_uv",
            WilliamsParams::LocalTrajectories(_) => "local_trajectories",
            WilliamsParams::KernelSlices(_) => "kernel_slices",
            WilliamsParams::SplineWidth(_) => "spline_width",
            WilliamsParams::DeltaSweep(_) => "delta_sweep",
            WilliamsParams::PmInf(_) => "pm_inf",
            WilliamsParams::SameInit(_) => "same_init",
            WilliamsParams::Width(_) => "width",
            WilliamsParams::Attractor(_) => "attractor",
            WilliamsParams::DeltaIdentity(_) => "delta_identity",
        }
    }
}

fn finite_positive_list(path: &str, values: &[f64]) -> Result<(), ParamError> {
    values.iter().try_for_each(|&v| check::positive(path, v))
}

impl Validate for GdParams {
    fn validate(&self) -> Result<(), ParamError> {
        self.data.validate()?;
        if self.widths.is_empty() || self.deltas.is_empty() || self.seeds.is_empty() {
            return Err(ParamError::new("widths", "widths, deltas and seeds each need at least one value"));
        }
        self.widths.iter().try_for_each(|&m| check::at_least("widths", m.into(), 1))?;
        if self.deltas.iter().any(|d| matches!(d, DeltaParam::Value(v) if !v.is_finite())) {
            return Err(ParamError::new("deltas", "a numeric δ must be finite; write -inf or +inf as strings"));
        }
        if self.eta_fraction.len() != 1 && self.eta_fraction.len() != self.deltas.len() {
            return Err(ParamError::new("eta_fraction", "give one fraction, or one per entry of `deltas`"));
        }
        finite_positive_list("eta_fraction", &self.eta_fraction)?;
        check::at_least("steps", self.steps.into(), 1)?;
        check::at_least("grid_points", self.grid_points.into(), 2)?;
        check::at_least("trajectory_every", self.trajectory_every.into(), 1)?;
        check::positive("x_plot", self.x_plot)?;
        check::positive("cluster_radius", self.cluster_radius)?;
        check::at_most("field_grid", self.field_grid.into(), 200, "field rows")?;
        if self.kernel_x.is_some_and(|x| !x.is_finite()) {
            return Err(ParamError::new("kernel_x", "must be a finite input x"));
        }
        let runs = (self.widths.len() * self.deltas.len() * self.seeds.len()) as f64;
        let work = runs * f64::from(self.steps) * self.widths.iter().map(|&m| f64::from(m)).fold(0.0, f64::max);
        check::memory(
            "widths",
            runs * 8.0 * 12.0 * self.widths.iter().map(|&m| f64::from(m)).sum::<f64>(),
            "neuron rows",
        )?;
        let traj = f64::from(self.trajectory_neurons) * f64::from(self.steps) / f64::from(self.trajectory_every);
        check::memory("trajectory_neurons", runs * traj * 40.0, "trajectory rows")?;
        if work * f64::from(self.data.samples) > 1e12 {
            return Err(ParamError::new("steps", "steps × width × samples × runs above 1e12 (hours); reduce them"));
        }
        Ok(())
    }
}

impl Validate for WilliamsParams {
    fn validate(&self) -> Result<(), ParamError> {
        match self {
            WilliamsParams::KnotsUv(p)
            | WilliamsParams::DeltaSweep(p)
            | WilliamsParams::PmInf(p)
            | WilliamsParams::SameInit(p)
            | WilliamsParams::Width(p)
            | WilliamsParams::Attractor(p) => p.validate(),
            WilliamsParams::LocalTrajectories(p) => {
                check::at_least("particles", p.particles.into(), 1)?;
                check::at_most("particles", p.particles.into(), 10_000, "trajectory rows")?;
                check::positive("radius", p.radius)?;
                check::positive("dt", p.dt)?;
                check::at_least("every", p.every.into(), 1)?;
                check::at_most("steps", p.steps.into(), 1_000_000, "Euler steps per particle")?;
                if p.deltas.is_empty() || p.deltas.iter().any(|d| !d.is_finite()) {
                    return Err(ParamError::new("deltas", "need at least one finite δ"));
                }
                Ok(())
            }
            WilliamsParams::KernelSlices(p) => {
                check::at_least("m", p.m.into(), 1)?;
                check::at_least("grid_points", p.grid_points.into(), 2)?;
                check::positive("x_plot", p.x_plot)?;
                check::positive("c_bound", p.c_bound)?;
                check::memory("m", 24.0 * f64::from(p.m), "network parameters")?;
                if !p.x.is_finite() || f64::from(p.m) * f64::from(p.grid_points) > 1e10 {
                    return Err(ParamError::new("m", "need a finite x and m × grid_points ≤ 1e10"));
                }
                Ok(())
            }
            WilliamsParams::SplineWidth(p) => {
                p.data.validate()?;
                if p.widths.is_empty() || p.seeds.is_empty() {
                    return Err(ParamError::new("widths", "widths and seeds each need at least one value"));
                }
                p.widths.iter().try_for_each(|&m| check::at_least("widths", m.into(), 1))?;
                let biggest = p.widths.iter().map(|&m| f64::from(m)).fold(0.0, f64::max);
                check::memory("widths", 8.0 * biggest * (f64::from(p.data.samples) + 3.0), "features")?;
                check::at_least("grid_points", p.grid_points.into(), 2)?;
                check::positive("x_plot", p.x_plot)
            }
            WilliamsParams::DeltaIdentity(p) => {
                p.data.validate()?;
                check::at_least("m", p.m.into(), 1)?;
                check::at_least("steps", p.steps.into(), 1)?;
                check::at_most("halvings", p.halvings.into(), 8, "steps double per halving")?;
                check::positive("eta_fraction", p.eta_fraction)?;
                if !p.delta.is_finite() {
                    return Err(ParamError::new("delta", "the identity concerns a finite δ (all of a, b, c trained)"));
                }
                Ok(())
            }
        }
    }
}

const RUN: crate::tables::ColumnSchema = col("run", DType::Str, "label", "run label, e.g. `m=1000 δ=-10 seed=1`");

const RUNS: TableSchema = TableSchema {
    name: "runs",
    about: "one row per run (GD run, width × seed fit, δ of a local trajectory, feature law or step size)",
    columns: &[
        col("figure", DType::Str, "label", "the stage's `figure:` (knots_uv, delta_sweep, …)"),
        RUN,
        col(
            "delta",
            DType::Str,
            "label",
            "δ set on every neuron: a number, `-inf` (train c only), `+inf` (a, b only), `init`",
        )
        .nullable(),
        col("m", DType::U64, "count", "neurons (particles for local_trajectories)"),
        col("seed", DType::U64, "id", "init seed"),
        col("trained", DType::Str, "label", "`all`, `c_only`, `ab_only` or `none`"),
        col("eta", DType::F64, "1", "GD step size η").nullable(),
        col("steps", DType::U32, "count", "GD (or Euler) steps"),
        col("loss_init", DType::F64, "1", "L(z₀) = ½ Σ (f − y)²").nullable(),
        col("loss_final", DType::F64, "1", "L after the last step").nullable(),
        col("clustering", DType::F64, "1", "fraction of moved neurons with a knot within the radius of a sample")
            .nullable(),
        col("delta_drift", DType::F64, "1", "max_i |δ_i(T) − δ_i(0)|").nullable(),
    ],
};

const READINGS: TableSchema = TableSchema {
    name: "readings",
    about: "one row per run and named number (findings read these)",
    columns: &[
        RUN,
        col("quantity", DType::Str, "label", "what is measured, e.g. `sup_to_spline`, `identity_residual`"),
        col("value", DType::F64, "1", "its value"),
    ],
};

const FUNCTION: TableSchema = TableSchema {
    name: "function",
    about: "one row per run, snapshot and grid point",
    columns: &[
        RUN,
        col("snapshot", DType::Str, "label", "`init`, `final` or `spline` (natural cubic spline)"),
        col("x", DType::F64, "1", "input x"),
        col("f", DType::F64, "1", "network function f_z(x)"),
    ],
};

const NEURONS: TableSchema = TableSchema {
    name: "neurons",
    about: "one row per run, snapshot and neuron",
    columns: &[
        RUN,
        col("snapshot", DType::Str, "label", "`init` (after the δ rescaling) or `final`"),
        col("neuron", DType::U32, "index", "neuron i"),
        col("a", DType::F64, "1", "input weight a_i"),
        col("b", DType::F64, "1", "threshold b_i (unit relu(a x − b))"),
        col("c", DType::F64, "1", "output weight c_i"),
        col("delta", DType::F64, "1", "δ_i = c_i² − a_i² − b_i²"),
        col("knot", DType::F64, "1", "knot e_i = b_i / a_i (null if a_i = 0)").nullable(),
        col("r", DType::F64, "1", "r_i = (m/α) c_i √(a_i² + b_i²)"),
        col("theta", DType::F64, "rad", "θ_i = atan2(−b_i, a_i)"),
        col("u", DType::F64, "1", "particle u_i = |r_i| cos θ_i"),
        col("v", DType::F64, "1", "particle v_i = |r_i| sin θ_i"),
    ],
};

const TRAJECTORIES: TableSchema = TableSchema {
    name: "trajectories",
    about: "one row per run, tracked neuron and recorded step",
    columns: &[
        RUN,
        col("neuron", DType::U32, "index", "neuron (or particle) i"),
        col("step", DType::U32, "index", "GD (or Euler) step"),
        col("u", DType::F64, "1", "particle u"),
        col("v", DType::F64, "1", "particle v"),
    ],
};

const SAMPLES: TableSchema = TableSchema {
    name: "samples",
    about: "one row per run and sample",
    columns: &[
        RUN,
        col("sample", DType::U32, "index", "sample j"),
        col("x", DType::F64, "1", "input x_j"),
        col("y", DType::F64, "1", "label y_j"),
        col("residual", DType::F64, "1", "ρ_j = f(x_j) − y_j after the last step"),
    ],
};

const LOSSES: TableSchema = TableSchema {
    name: "losses",
    about: "one row per run and recorded GD step (every steps/200)",
    columns: &[RUN, col("step", DType::U32, "index", "GD step k"), col("loss", DType::F64, "1", "L(z_k)")],
};

const FIELD: TableSchema = TableSchema {
    name: "field",
    about: "one row per run, particle sign and uv grid point (δ = +∞, α = m limit, final residuals)",
    columns: &[
        RUN,
        col("sign", DType::F64, "1", "ε = sign(r) of the particle"),
        col("u", DType::F64, "1", "grid point u"),
        col("v", DType::F64, "1", "grid point v"),
        col("du", DType::F64, "1", "−ε Σ_{j: u x_j + v ≥ 0} ρ_j x_j (velocity up to a positive factor)"),
        col("dv", DType::F64, "1", "−ε Σ_{j: u x_j + v ≥ 0} ρ_j"),
    ],
};

const LINES: TableSchema = TableSchema {
    name: "lines",
    about: "one row per run, sample line ray and particle sign (App. D.1)",
    columns: &[
        RUN,
        col("sample", DType::U32, "index", "sample j: the line u x_j + v = 0"),
        col("x", DType::F64, "1", "x_j"),
        col("ray", DType::Str, "label", "`a>0` (ray t(1, −x_j), t > 0) or `a<0`"),
        col("sign", DType::F64, "1", "ε = sign(r) of the particles"),
        col("behaviour", DType::Str, "label", "`attractor`, `repulsor` or `crossing` from the final residuals"),
        col("eq15", DType::Bool, "1", "the paper's test (15) flags sample j"),
        col("knots_near", DType::U64, "count", "moved neurons of this sign and ray with a knot within the radius"),
    ],
};

const KERNEL: TableSchema = TableSchema {
    name: "kernel",
    about: "one row per feature law (or GD run), term and x'",
    columns: &[
        col(
            "run",
            DType::Str,
            "label",
            "feature law `uniform` / `gaussian` (kernel_slices), or a GD run's final network (`kernel_x`)",
        ),
        col("term", DType::Str, "label", "`rf` (from c), `bias` (from b), `slope` (from a) or `rf_limit`"),
        col("x_prime", DType::F64, "1", "x'"),
        col("value", DType::F64, "1", "the term at (x, x')"),
    ],
};

impl Experiment for Williams {
    const KIND: &'static str = "williams";
    const VERSION: u32 = 1;
    const TABLES: &'static [TableSchema] =
        &[RUNS, READINGS, FUNCTION, NEURONS, TRAJECTORIES, SAMPLES, LOSSES, FIELD, LINES, KERNEL];
    const ABOUT: &'static str =
        "E7: Williams et al. 2019 (seed 002): kernel vs adaptive regimes, δ invariant, splines, knots (Figs 1–9)";
    type Params = WilliamsParams;

    fn run(p: &WilliamsParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let mut out = Collector::default();
        let figure = p.figure();
        match p {
            WilliamsParams::KnotsUv(g)
            | WilliamsParams::DeltaSweep(g)
            | WilliamsParams::PmInf(g)
            | WilliamsParams::SameInit(g)
            | WilliamsParams::Width(g)
            | WilliamsParams::Attractor(g) => gd_figure(figure, g, &mut out, ctx)?,
            WilliamsParams::LocalTrajectories(l) => local_figure(l, &mut out),
            WilliamsParams::KernelSlices(k) => kernel_figure(k, &mut out)?,
            WilliamsParams::SplineWidth(s) => spline_figure(s, &mut out)?,
            WilliamsParams::DeltaIdentity(i) => identity_figure(i, &mut out)?,
        }
        (ctx.progress)(1.0);
        out.tables(figure)
    }
}

/// One row of `runs` before it is written.
struct RunRow {
    run: String,
    delta: Option<String>,
    m: usize,
    seed: u64,
    trained: &'static str,
    eta: Option<f64>,
    steps: u32,
    loss: Option<(f64, f64)>,
    clustering: Option<f64>,
    delta_drift: Option<f64>,
}

// Column sets of the tables, in declaration order (type aliases keep the collector readable).
type Words = Vec<&'static str>;
type NeuronColumns = (Vec<String>, Words, Vec<u32>, [Vec<f64>; 4], Vec<Option<f64>>, [Vec<f64>; 4]);
type TrajectoryColumns = (Vec<String>, Vec<u32>, Vec<u32>, Vec<f64>, Vec<f64>);
type SampleColumns = (Vec<String>, Vec<u32>, Vec<f64>, Vec<f64>, Vec<f64>);
type FieldColumns = (Vec<String>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>, Vec<f64>);
type LineColumns = (Vec<String>, Vec<u32>, Vec<f64>, Words, Vec<f64>, Words, Vec<bool>, Vec<u64>);

/// The ten tables' columns, filled row by row.
#[derive(Default)]
struct Collector {
    runs: Vec<RunRow>,
    readings: (Vec<String>, Vec<String>, Vec<f64>),
    function: (Vec<String>, Vec<&'static str>, Vec<f64>, Vec<f64>),
    neurons: NeuronColumns,
    trajectories: TrajectoryColumns,
    samples: SampleColumns,
    losses: (Vec<String>, Vec<u32>, Vec<f64>),
    field: FieldColumns,
    lines: LineColumns,
    kernel: (Vec<String>, Words, Vec<f64>, Vec<f64>),
}

impl Collector {
    fn reading(&mut self, run: &str, quantity: &str, value: f64) {
        self.readings.0.push(run.into());
        self.readings.1.push(quantity.into());
        self.readings.2.push(value);
    }

    fn function(&mut self, run: &str, snapshot: &'static str, xs: &[f64], fs: &[f64]) {
        for (&x, &f) in xs.iter().zip(fs) {
            self.function.0.push(run.into());
            self.function.1.push(snapshot);
            self.function.2.push(x);
            self.function.3.push(f);
        }
    }

    fn neurons(&mut self, run: &str, snapshot: &'static str, n: &Neurons, norm: Normalisation) {
        let (deltas, knots, particles) = (n.delta(), n.knots(), n.particles(norm));
        let t = &mut self.neurons;
        for i in 0..n.m() {
            t.0.push(run.into());
            t.1.push(snapshot);
            t.2.push(i as u32);
            for (col, v) in t.3.iter_mut().zip([n.a[i], n.b[i], n.c[i], deltas[i]]) {
                col.push(v);
            }
            t.4.push(knots[i]);
            let p = particles[i];
            for (col, v) in t.5.iter_mut().zip([p.r, p.theta, p.u, p.v]) {
                col.push(v);
            }
        }
    }

    fn trajectory_point(&mut self, run: &str, neuron: usize, step: usize, (u, v): (f64, f64)) {
        let t = &mut self.trajectories;
        t.0.push(run.into());
        t.1.push(neuron as u32);
        t.2.push(step as u32);
        t.3.push(u);
        t.4.push(v);
    }

    fn tables(self, figure: &str) -> anyhow::Result<Vec<Table>> {
        let r = &self.runs;
        let runs = df!(
            "figure" => vec![figure; r.len()],
            "run" => r.iter().map(|x| x.run.clone()).collect::<Vec<_>>(),
            "delta" => r.iter().map(|x| x.delta.clone()).collect::<Vec<_>>(),
            "m" => r.iter().map(|x| x.m as u64).collect::<Vec<_>>(),
            "seed" => r.iter().map(|x| x.seed).collect::<Vec<_>>(),
            "trained" => r.iter().map(|x| x.trained).collect::<Vec<_>>(),
            "eta" => r.iter().map(|x| x.eta).collect::<Vec<_>>(),
            "steps" => r.iter().map(|x| x.steps).collect::<Vec<_>>(),
            "loss_init" => r.iter().map(|x| x.loss.map(|l| l.0)).collect::<Vec<_>>(),
            "loss_final" => r.iter().map(|x| x.loss.map(|l| l.1)).collect::<Vec<_>>(),
            "clustering" => r.iter().map(|x| x.clustering).collect::<Vec<_>>(),
            "delta_drift" => r.iter().map(|x| x.delta_drift).collect::<Vec<_>>(),
        )?;
        let (q, f, n, t, s, l) =
            (self.readings, self.function, self.neurons, self.trajectories, self.samples, self.losses);
        let readings = df!("run" => q.0, "quantity" => q.1, "value" => q.2)?;
        let function = df!("run" => f.0, "snapshot" => f.1, "x" => f.2, "f" => f.3)?;
        let [a, b, c, delta] = n.3;
        let [r_, theta, u, v] = n.5;
        let neurons = df!(
            "run" => n.0, "snapshot" => n.1, "neuron" => n.2, "a" => a, "b" => b, "c" => c, "delta" => delta,
            "knot" => n.4, "r" => r_, "theta" => theta, "u" => u, "v" => v,
        )?;
        let trajectories = df!("run" => t.0, "neuron" => t.1, "step" => t.2, "u" => t.3, "v" => t.4)?;
        let samples = df!("run" => s.0, "sample" => s.1, "x" => s.2, "y" => s.3, "residual" => s.4)?;
        let losses = df!("run" => l.0, "step" => l.1, "loss" => l.2)?;
        let (fd, ln, k) = (self.field, self.lines, self.kernel);
        let field = df!("run" => fd.0, "sign" => fd.1, "u" => fd.2, "v" => fd.3, "du" => fd.4, "dv" => fd.5)?;
        let lines = df!(
            "run" => ln.0, "sample" => ln.1, "x" => ln.2, "ray" => ln.3, "sign" => ln.4, "behaviour" => ln.5,
            "eq15" => ln.6, "knots_near" => ln.7,
        )?;
        let kernel = df!("run" => k.0, "term" => k.1, "x_prime" => k.2, "value" => k.3)?;
        Ok(vec![
            Table::new("runs", runs),
            Table::new("readings", readings),
            Table::new("function", function),
            Table::new("neurons", neurons),
            Table::new("trajectories", trajectories),
            Table::new("samples", samples),
            Table::new("losses", losses),
            Table::new("field", field),
            Table::new("lines", lines),
            Table::new("kernel", kernel),
        ])
    }
}

fn trained_word(t: Trained) -> &'static str {
    match t {
        Trained::All => "all",
        Trained::OutputOnly => "c_only",
        Trained::InputOnly => "ab_only",
    }
}

/// Loss of the best affine fit y ≈ p x + q (½ Σ residual²): where the adaptive runs stall (docs/FINDINGS.md E7).
fn affine_fit_loss(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    0.5 * x.iter().zip(y).map(|(a, b)| (b - my - slope * (a - mx)).powi(2)).sum::<f64>()
}

/// Σ_k |slope_{k+1} − slope_k| of the piecewise-linear interpolation of (xs, fs) restricted to [lo, hi]: the
/// total variation of f' between the samples (Fig. 8's smoothness).
fn slope_variation(xs: &[f64], fs: &[f64], lo: f64, hi: f64) -> f64 {
    let inside: Vec<(f64, f64)> =
        xs.iter().zip(fs).filter(|(x, _)| (lo..=hi).contains(*x)).map(|(&x, &f)| (x, f)).collect();
    let slopes: Vec<f64> = inside.windows(2).map(|w| (w[1].1 - w[0].1) / (w[1].0 - w[0].0)).collect();
    slopes.windows(2).map(|w| (w[1] - w[0]).abs()).sum()
}

/// The GD figures: every width × δ × seed.
fn gd_figure(figure: &str, p: &GdParams, out: &mut Collector, ctx: &RunContext) -> anyhow::Result<()> {
    let data = p.data.data();
    let (x, y) = (data.x.column(0).to_vec(), data.y.to_vec());
    out.reading("data", "affine_fit_loss", affine_fit_loss(&x, &y));
    let grid = linspace(-p.x_plot, p.x_plot, p.grid_points as usize);
    let total = p.widths.len() * p.deltas.len() * p.seeds.len();
    let mut done = 0;
    let mut finals: Vec<Vec<f64>> = Vec::new();
    let mut inits: Vec<Vec<f64>> = Vec::new();
    for &m in &p.widths {
        for (d, &delta) in p.deltas.iter().enumerate() {
            for &seed in &p.seeds {
                let fraction = p.eta_fraction[d.min(p.eta_fraction.len() - 1)];
                let (f0, f1) = gd_run(p, &data, (m as usize, delta, seed, fraction), &grid, out)?;
                inits.push(f0);
                finals.push(f1);
                done += 1;
                (ctx.progress)(done as f64 / total as f64);
            }
        }
    }
    if figure == "same_init" && finals.len() >= 2 {
        let between = |a: &[f64], b: &[f64]| {
            let inside = grid.iter().enumerate().filter(|(_, g)| (x[0]..=x[x.len() - 1]).contains(*g));
            inside.map(|(k, _)| (a[k] - b[k]).abs()).fold(0.0, f64::max)
        };
        out.reading("pair", "init_sup_gap", between(&inits[0], &inits[1]));
        out.reading("pair", "final_sup_gap", between(&finals[0], &finals[1]));
    }
    Ok(())
}

/// One GD run; returns f on the grid at init and at the end.
fn gd_run(
    p: &GdParams,
    data: &Data,
    (m, delta, seed, fraction): (usize, DeltaParam, u64, f64),
    grid: &[f64],
    out: &mut Collector,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let norm = Normalisation::SqrtM;
    let drawn = pytorch_init(m, seed)?;
    let (start, trained) = match delta.value() {
        Some(d) => prepare(&drawn, d)?,
        None => (drawn, Trained::All),
    };
    let run = format!("m={m} δ={} seed={seed}", delta.label());
    let problem = WilliamsProblem::new(data, m, norm, trained)?;
    let eta = ntk_step_size(&problem, &start, fraction)?;
    let steps = p.steps as usize;
    let (tracked, every, loss_every) =
        ((p.trajectory_neurons as usize).min(m), p.trajectory_every as usize, (steps / 200).max(1));
    let ratio = m as f64 / norm.alpha(m);
    let mut track = Vec::new();
    let outcome = train(&problem, &start, eta, steps, |k, z| {
        if k % every == 0 || k == steps {
            for i in 0..tracked {
                let (a, b, c) = (z[3 * i], z[3 * i + 1], z[3 * i + 2]);
                let r = (ratio * c * a.hypot(b)).abs();
                let theta = (-b).atan2(a);
                track.push((i, k, (r * theta.cos(), r * theta.sin())));
            }
        }
    })?;
    track.into_iter().for_each(|(i, k, uv)| out.trajectory_point(&run, i, k, uv));
    for (k, &l) in outcome.losses.iter().enumerate().filter(|(k, _)| k % loss_every == 0 || *k == steps) {
        out.losses.0.push(run.clone());
        out.losses.1.push(k as u32);
        out.losses.2.push(l);
    }
    let end = &outcome.neurons;
    let xs = problem.inputs().to_vec();
    let clustering = knot_clustering_score(&start, end, &xs, p.cluster_radius, 0.01)?;
    let drift = start.delta().iter().zip(end.delta()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    out.runs.push(RunRow {
        run: run.clone(),
        delta: Some(delta.label()),
        m,
        seed,
        trained: trained_word(trained),
        eta: Some(eta),
        steps: p.steps,
        loss: Some((outcome.losses[0], outcome.losses[steps])),
        clustering,
        delta_drift: Some(drift),
    });
    gd_readings(&run, &start, end, out);
    let (f0, f1) = (start.evaluate(norm, grid), end.evaluate(norm, grid));
    out.reading(&run, "slope_variation", slope_variation(grid, &f1, xs[0], xs[xs.len() - 1]));
    out.function(&run, "init", grid, &f0);
    out.function(&run, "final", grid, &f1);
    out.neurons(&run, "init", &start, norm);
    out.neurons(&run, "final", end, norm);
    let residuals = problem.residuals(end)?;
    for (j, ((&x, &y), &rho)) in xs.iter().zip(problem.labels()).zip(&residuals).enumerate() {
        out.samples.0.push(run.clone());
        out.samples.1.push(j as u32);
        out.samples.2.push(x);
        out.samples.3.push(y);
        out.samples.4.push(rho);
    }
    if p.field_grid > 0 {
        field_and_lines(&run, p, (&start, end), &xs, &residuals, out)?;
    }
    if let Some(x) = p.kernel_x {
        let terms = tangent_kernel_terms(end, norm, x, grid)?;
        for (t, &xp) in terms.iter().zip(grid) {
            for (term, value) in [("rf", t.rf), ("bias", t.bias), ("slope", t.slope)] {
                out.kernel.0.push(run.clone());
                out.kernel.1.push(term);
                out.kernel.2.push(xp);
                out.kernel.3.push(value);
            }
        }
    }
    Ok((f0, f1))
}

/// Per-run numbers the findings quote: θ and knot changes (exactly 0 for c-only training), mean δ and r² at init.
fn gd_readings(run: &str, start: &Neurons, end: &Neurons, out: &mut Collector) {
    let norm = Normalisation::SqrtM;
    let (p0, p1) = (start.particles(norm), end.particles(norm));
    let theta_change = p0.iter().zip(&p1).map(|(a, b)| (a.theta - b.theta).abs()).fold(0.0, f64::max);
    out.reading(run, "theta_change_max", theta_change);
    let m = start.m() as f64;
    out.reading(run, "mean_delta_init", start.delta().iter().sum::<f64>() / m);
    out.reading(run, "mean_r_sq_init", p0.iter().map(|q| q.r * q.r).sum::<f64>() / m);
}

/// Fig. 9: the δ = +∞ direction field on a grid of the uv plane, and per sample line, ray and sign its behaviour,
/// the paper's flag (15) and the number of moved neurons whose knots sit on it.
fn field_and_lines(
    run: &str,
    p: &GdParams,
    (start, end): (&Neurons, &Neurons),
    xs: &[f64],
    residuals: &[f64],
    out: &mut Collector,
) -> anyhow::Result<()> {
    let particles = end.particles(Normalisation::SqrtM);
    let reach = particles.iter().map(|q| q.u.abs().max(q.v.abs())).fold(0.0, f64::max).max(1e-12) * 1.05;
    let ticks = linspace(-reach, reach, p.field_grid as usize);
    for sign in [1.0, -1.0] {
        for &u in &ticks {
            for &v in &ticks {
                let (du, dv) = uv_velocity(u, v, sign, xs, residuals);
                let f = &mut out.field;
                f.0.push(run.into());
                f.1.push(sign);
                f.2.push(u);
                f.3.push(v);
                f.4.push(du);
                f.5.push(dv);
            }
        }
    }
    let flags = eq15_flags(xs, residuals);
    let size = |n: &Neurons, i: usize| (n.c[i] * n.a[i].hypot(n.b[i])).abs();
    for (j, &xj) in xs.iter().enumerate() {
        for (ray, positive) in [("a>0", true), ("a<0", false)] {
            for sign in [1.0, -1.0] {
                let behaviour = match sample_line_behaviour(xs, residuals, j, sign, positive)? {
                    LineBehaviour::Attractor => "attractor",
                    LineBehaviour::Repulsor => "repulsor",
                    LineBehaviour::Crossing => "crossing",
                };
                let near = (0..end.m())
                    .filter(|&i| (size(end, i) - size(start, i)).abs() > 0.01 * size(start, i))
                    .filter(|&i| end.c[i].signum() == sign && (end.a[i] > 0.0) == positive && end.a[i] != 0.0)
                    .filter(|&i| (end.b[i] / end.a[i] - xj).abs() < p.cluster_radius)
                    .count();
                let l = &mut out.lines;
                l.0.push(run.into());
                l.1.push(j as u32);
                l.2.push(xj);
                l.3.push(ray);
                l.4.push(sign);
                l.5.push(behaviour);
                l.6.push(flags[j]);
                l.7.push(near as u64);
            }
        }
    }
    Ok(())
}

/// Fig. 2: Euler paths of particles on a ring under the frozen gradient (1, 0), and the speed ratio at r = radius.
fn local_figure(p: &LocalParams, out: &mut Collector) {
    let n = p.particles as usize;
    for &delta in &p.deltas {
        let run = format!("δ={delta}");
        for k in 0..n {
            let angle = 2.0 * std::f64::consts::PI * (k as f64 + 0.5) / n as f64;
            let start = (p.radius * angle.cos(), p.radius * angle.sin());
            let path = local_trajectory(delta, start, (1.0, 0.0), p.dt, p.steps as usize);
            for (step, &uv) in path.iter().enumerate().filter(|(s, _)| s % p.every as usize == 0) {
                out.trajectory_point(&run, k, step, uv);
            }
        }
        out.reading(&run, "speed_ratio", speed_ratio(delta, p.radius));
        out.runs.push(RunRow {
            run,
            delta: Some(format!("{delta}")),
            m: n,
            seed: 0,
            trained: "none",
            eta: Some(p.dt),
            steps: p.steps,
            loss: None,
            clustering: None,
            delta_drift: None,
        });
    }
}

/// Fig. 3: tangent-kernel terms for a uniform and a Gaussian feature law; the Gaussian RF closed form beside.
fn kernel_figure(p: &KernelParams, out: &mut Collector) -> anyhow::Result<()> {
    let grid = linspace(-p.x_plot, p.x_plot, p.grid_points as usize);
    let m = p.m as usize;
    for (law, word) in [(FeatureLaw::Uniform, "uniform"), (FeatureLaw::Gaussian, "gaussian")] {
        let neurons = init_neurons(m, law, p.c_bound, p.seed)?;
        let terms = tangent_kernel_terms(&neurons, Normalisation::SqrtM, p.x, &grid)?;
        let k = &mut out.kernel;
        for (t, &xp) in terms.iter().zip(&grid) {
            for (term, value) in [("rf", t.rf), ("bias", t.bias), ("slope", t.slope)] {
                k.0.push(word.to_string());
                k.1.push(term);
                k.2.push(xp);
                k.3.push(value);
            }
        }
        if law == FeatureLaw::Gaussian {
            let mut sup: f64 = 0.0;
            for (t, &xp) in terms.iter().zip(&grid) {
                let limit = gaussian_rf_kernel(p.x, xp);
                sup = sup.max((t.rf - limit).abs());
                out.kernel.0.push(word.to_string());
                out.kernel.1.push("rf_limit");
                out.kernel.2.push(xp);
                out.kernel.3.push(limit);
            }
            out.reading(word, "sup_rf_minus_closed_form", sup);
        }
        out.runs.push(RunRow {
            run: word.into(),
            delta: None,
            m,
            seed: p.seed,
            trained: "none",
            eta: None,
            steps: 0,
            loss: None,
            clustering: None,
            delta_drift: None,
        });
    }
    Ok(())
}

/// Fig. 4: the min-norm c-only fit per width and seed against the natural cubic spline.
fn spline_figure(p: &SplineParams, out: &mut Collector) -> anyhow::Result<()> {
    let data = p.data.data();
    let (x, y) = (data.x.column(0).to_vec(), data.y.to_vec());
    let spline = CubicSpline::natural(&x, &y)?;
    let grid = linspace(-p.x_plot, p.x_plot, p.grid_points as usize);
    let between = linspace(x[0], x[x.len() - 1], 2001);
    let spline_between: Vec<f64> = between.iter().map(|&t| spline.evaluate(t)).collect();
    out.function(
        "natural cubic spline",
        "spline",
        &grid,
        &grid.iter().map(|&t| spline.evaluate(t)).collect::<Vec<_>>(),
    );
    for &m in &p.widths {
        for (s, &seed) in p.seeds.iter().enumerate() {
            let run = format!("m={m} seed={seed}");
            let features = init_neurons(m as usize, FeatureLaw::Uniform, 0.0, seed)?;
            let fit = min_norm_output_fit(&features, Normalisation::SqrtM, &x, &y)?;
            let f = fit.evaluate(Normalisation::SqrtM, &between);
            let sup = f.iter().zip(&spline_between).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            out.reading(&run, "sup_to_spline", sup);
            let at_samples = fit.evaluate(Normalisation::SqrtM, &x);
            let misfit = at_samples.iter().zip(&y).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            out.reading(&run, "max_sample_misfit", misfit);
            if s == 0 {
                out.function(&run, "final", &grid, &fit.evaluate(Normalisation::SqrtM, &grid));
            }
            out.runs.push(RunRow {
                run,
                delta: Some("-inf".into()),
                m: m as usize,
                seed,
                trained: "c_only",
                eta: None,
                steps: 0,
                loss: None,
                clustering: None,
                delta_drift: None,
            });
        }
    }
    for (j, (&xj, &yj)) in x.iter().zip(&y).enumerate() {
        out.samples.0.push("data".into());
        out.samples.1.push(j as u32);
        out.samples.2.push(xj);
        out.samples.3.push(yj);
        out.samples.4.push(spline.evaluate(xj) - yj);
    }
    Ok(())
}

/// δ identity: per step, max over neurons of |Δδ_i − η²((∂L/∂c_i)² − (∂L/∂a_i)² − (∂L/∂b_i)²)|, and the drift
/// max_i |δ_i(T) − δ_i(0)| at one flow time T for η, η/2, η/4, ….
fn identity_figure(p: &IdentityParams, out: &mut Collector) -> anyhow::Result<()> {
    let data = p.data.data();
    let m = p.m as usize;
    let (start, trained) = prepare(&pytorch_init(m, p.seed)?, p.delta)?;
    let problem = WilliamsProblem::new(&data, m, Normalisation::SqrtM, trained)?;
    let eta0 = ntk_step_size(&problem, &start, p.eta_fraction)?;
    for h in 0..=p.halvings {
        let (eta, steps) = (eta0 / f64::from(1u32 << h), p.steps as usize * (1usize << h));
        let run = format!("η={eta:.4e}");
        let mut ws = problem.workspace();
        let mut grad = vec![0.0; 3 * m];
        let (mut predicted, mut previous) = (vec![0.0; m], start.delta());
        let (mut worst, mut biggest_step): (f64, f64) = (0.0, 0.0);
        let outcome = train(&problem, &start, eta, steps, |k, z| {
            let delta: Vec<f64> = z.chunks_exact(3).map(|n| n[2] * n[2] - n[0] * n[0] - n[1] * n[1]).collect();
            if k > 0 {
                for i in 0..m {
                    let change = delta[i] - previous[i];
                    worst = worst.max((change - predicted[i]).abs());
                    biggest_step = biggest_step.max(change.abs());
                }
            }
            problem.value_and_gradient(z, &mut grad, &mut ws);
            for (i, g) in grad.chunks_exact(3).enumerate() {
                predicted[i] = eta * eta * (g[2] * g[2] - g[0] * g[0] - g[1] * g[1]);
            }
            previous = delta;
        })?;
        let drift = start.delta().iter().zip(outcome.neurons.delta()).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        out.reading(&run, "identity_residual", worst);
        out.reading(&run, "largest_step_change", biggest_step);
        out.reading(&run, "flow_time", eta * steps as f64);
        out.runs.push(RunRow {
            run,
            delta: Some(format!("{}", p.delta)),
            m,
            seed: p.seed,
            trained: trained_word(trained),
            eta: Some(eta),
            steps: steps as u32,
            loss: Some((outcome.losses[0], outcome.losses[steps])),
            clustering: None,
            delta_drift: Some(drift),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
