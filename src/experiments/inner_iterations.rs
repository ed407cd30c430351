//! E3 `inner_iterations` (seed 001 §3, last figure): two ReLU particles of opposite signs with different gradients
//! (close together, so their gradients point toward each other); the first K inner GD iterations of one prox step
//! under both distances. Under Frobenius the distance term pulls each particle back to its own start; under
//! Wasserstein the optimal assignment swaps as soon as the particles cross (⟨V₀ − V₁, W₀ − W₁⟩ < 0), and from then
//! on each particle is pulled toward the *other* particle's start.

use ndarray::Array2;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check, Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::exact::{exact_prox_step, ExactProxConfig, ExactSolver, ExactWorkspace};
use crate::numerics::model::{Data, LossNorm, ReluNet, ReluProblem, Scaling};
use crate::numerics::objective::Objective;
use crate::numerics::prox::{FirstIterates, InnerStopping, ProxConfig, ProxDistance, ProxSolver};
use crate::tables::{col, DType, TableSchema};

pub struct InnerIterations;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InnerIterationsParams {
    /// Prox step γ.
    pub gamma: f64,
    /// Inner iterations recorded (the prox step runs exactly this many).
    pub iterations: u32,
    /// Starting particles W^t = [(w, b) of particle 0, (w, b) of particle 1].
    #[serde(default = "default_start")]
    pub start: [[f64; 2]; 2],
    /// Output signs α of the two particles.
    #[serde(default = "default_alpha")]
    pub alpha: [f64; 2],
    /// Sine data points on [−1, 1].
    #[serde(default = "default_n_data")]
    pub n_data: u32,
    /// Inner step β; default 1/(L̂ + 1/(mγ)).
    #[serde(default)]
    pub inner_step: Option<f64>,
}

fn default_start() -> [[f64; 2]; 2] {
    // Both active on the right of the data; α = +1 descends toward larger b, α = −1 toward smaller: they cross.
    [[0.4, -0.1], [0.6, 0.3]]
}
fn default_alpha() -> [f64; 2] {
    [1.0, -1.0]
}
fn default_n_data() -> u32 {
    5
}

impl Validate for InnerIterationsParams {
    fn validate(&self) -> Result<(), ParamError> {
        check::positive("gamma", self.gamma)?;
        check::at_least("iterations", self.iterations.into(), 1)?;
        check::at_most("iterations", self.iterations.into(), 10_000_000, "every iterate is a table row")?;
        check::at_least("n_data", self.n_data.into(), 1)?;
        check::memory("n_data", f64::from(self.n_data) * 8.0 * 8.0, "the data and a few per-point vectors")?;
        if let Some(beta) = self.inner_step {
            check::positive("inner_step", beta)?;
        }
        if self.start.iter().flatten().chain(&self.alpha).any(|v| !v.is_finite()) {
            return Err(ParamError::new("start", "must be finite"));
        }
        Ok(())
    }
}

const INNER: TableSchema = TableSchema {
    name: "inner",
    about: "one row per distance, inner iteration and particle",
    columns: &[
        col("gamma", DType::F64, "1", "prox step γ"),
        col("distance", DType::Str, "label", "`frobenius` or `wasserstein`"),
        col("iteration", DType::U32, "index", "inner iteration k (0 = W^t)"),
        col("particle", DType::U32, "index", "particle index"),
        col("alpha", DType::I8, "1", "output sign of the particle"),
        col("w", DType::F64, "1", "weight of the particle at iteration k"),
        col("b", DType::F64, "1", "bias of the particle at iteration k"),
        col(
            "assigned_to",
            DType::U32,
            "index",
            "σ(i): the start W^t_σ(i) the particle is pulled toward at iteration k",
        ),
        col("loss_gradient_norm", DType::F64, "1", "‖∂F/∂v_i‖ at iteration k (0 when the particle activates no data)"),
        col(
            "coupling_norm",
            DType::F64,
            "1",
            "‖(1/(mγ)) (v_i − W^t_σ(i))‖ at iteration k: the distance term of the inner gradient (METHODS.md §1)",
        ),
    ],
};

const MINIMISERS: TableSchema = TableSchema {
    name: "minimisers",
    about: "one row per exact prox solver and particle: the prox step's end point (METHODS.md §1b)",
    columns: &[
        col("gamma", DType::F64, "1", "prox step γ"),
        col(
            "solver",
            DType::Str,
            "label",
            "`frobenius_local` (region descent from W^t), `frobenius_global`, `wasserstein_local` (W2 alternation \
             from W^t) or `wasserstein_global` (`_global`: the local minimiser improved by restarts, with a \
             weak-duality bound)",
        ),
        col("particle", DType::U32, "index", "particle index"),
        col("alpha", DType::I8, "1", "output sign of the particle"),
        col("w", DType::F64, "1", "weight of the particle in W^{t+1}"),
        col("b", DType::F64, "1", "bias of the particle in W^{t+1}"),
        col("assigned_to", DType::U32, "index", "σ(i) at W^{t+1}: the start the particle is coupled to"),
        col("moved", DType::F64, "1", "‖W^{t+1}_i − W^t_i‖: how far the particle moved from its own start"),
        col("active_data", DType::U32, "count", "data points the particle activates at W^{t+1} (⟨v_i, X_j⟩ > 0)"),
        col("objective", DType::F64, "1", "prox objective F(V) + d(V, W^t)/(2γ) at W^{t+1}"),
        col("certified", DType::Bool, "1", "local: ray test passed; global: duality gap ≤ 1e-9·max(1, |Φ|)"),
    ],
};

impl Experiment for InnerIterations {
    const KIND: &'static str = "inner_iterations";
    const VERSION: u32 = 2;
    const TABLES: &'static [TableSchema] = &[INNER, MINIMISERS];
    const ABOUT: &'static str =
        "E3: first K inner iterations of one prox step, two particles, both distances; exact prox end points";
    type Params = InnerIterationsParams;

    fn run(p: &InnerIterationsParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let data = Data::sine(p.n_data as usize);
        let net = ReluNet { alpha: p.alpha.to_vec(), scaling: Scaling::Sum, loss_norm: LossNorm::Mse };
        let problem = ReluProblem::new(&net, &data)?;
        let start = Array2::from_shape_fn((2, 2), |(i, c)| p.start[i][c]);
        let mut rows = InnerRows::default();
        for (name, dist) in [("frobenius", ProxDistance::Frobenius), ("wasserstein", ProxDistance::Wasserstein)] {
            let config = ProxConfig {
                inner_step: p.inner_step,
                stopping: InnerStopping::Iterations(u64::from(p.iterations)),
                ..ProxConfig::new(p.gamma, dist)
            };
            let mut observer = FirstIterates::new(p.iterations as usize + 1);
            ProxSolver::new(&problem, config)?.prox_step(start.view(), 0, &mut observer)?;
            rows.add(name, &observer, &problem, &start, config.coupling(2));
        }
        let inner = rows.frame(p.gamma)?;
        let minimisers = minimisers(&problem, &start, p.gamma)?;
        (ctx.progress)(1.0);
        Ok(vec![Table::new("inner", inner), Table::new("minimisers", minimisers)])
    }
}

/// Rows of the `inner` table.
#[derive(Default)]
struct InnerRows {
    distance: Vec<&'static str>,
    iteration: Vec<u32>,
    particle: Vec<u32>,
    alpha: Vec<i8>,
    w: Vec<f64>,
    b: Vec<f64>,
    assigned: Vec<u32>,
    grad_norm: Vec<f64>,
    coupling_norm: Vec<f64>,
}

impl InnerRows {
    /// One distance's recorded iterates, with the two terms of each particle's inner gradient: ∂F/∂v_i and
    /// κ (v_i − W^t_σ(i)), κ = 1/(mγ).
    fn add(&mut self, name: &'static str, obs: &FirstIterates, problem: &ReluProblem, start: &Array2<f64>, kappa: f64) {
        let mut ws = problem.workspace();
        let mut grad = vec![0.0; 4];
        for (k, (v, sigma)) in obs.iterates.iter().zip(&obs.assignments).enumerate() {
            problem.value_and_gradient(v, &mut grad, &mut ws);
            for i in 0..2 {
                let (to, v_i) = (sigma[i], [v[2 * i], v[2 * i + 1]]);
                self.distance.push(name);
                self.iteration.push(k as u32);
                self.particle.push(i as u32);
                self.alpha.push(problem.net().alpha[i] as i8);
                self.w.push(v_i[0]);
                self.b.push(v_i[1]);
                self.assigned.push(to as u32);
                self.grad_norm.push(grad[2 * i].hypot(grad[2 * i + 1]));
                let pull = (v_i[0] - start[(to, 0)]).hypot(v_i[1] - start[(to, 1)]);
                self.coupling_norm.push(kappa * pull);
            }
        }
    }

    fn frame(self, gamma: f64) -> PolarsResult<DataFrame> {
        let n = self.iteration.len();
        df!(
            "gamma" => vec![gamma; n],
            "distance" => self.distance,
            "iteration" => self.iteration,
            "particle" => self.particle,
            "alpha" => self.alpha,
            "w" => self.w,
            "b" => self.b,
            "assigned_to" => self.assigned,
            "loss_gradient_norm" => self.grad_norm,
            "coupling_norm" => self.coupling_norm,
        )
    }
}

/// The exact prox step from W^t under each distance and solver (the inner GD above stops after K iterations; these
/// are the minimisers it heads for): the `minimisers` table.
fn minimisers(problem: &ReluProblem, start: &Array2<f64>, gamma: f64) -> anyhow::Result<DataFrame> {
    let solvers = [
        ("frobenius_local", ProxDistance::Frobenius, ExactSolver::Local),
        ("frobenius_global", ProxDistance::Frobenius, ExactSolver::Global),
        ("wasserstein_local", ProxDistance::Wasserstein, ExactSolver::Local),
        ("wasserstein_global", ProxDistance::Wasserstein, ExactSolver::Global),
    ];
    let mut ws = ExactWorkspace::new();
    let (mut solver, mut particle, mut alpha, mut w, mut b, mut assigned) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut moved, mut active, mut objective, mut certified) = (vec![], vec![], vec![], vec![]);
    for (name, distance, kind) in solvers {
        let r = exact_prox_step(problem, start.view(), &ExactProxConfig::new(gamma, distance, kind), &mut ws)?;
        let pattern = problem.net().activation_pattern(problem.data(), r.v.view());
        for i in 0..2 {
            solver.push(name);
            particle.push(i as u32);
            alpha.push(problem.net().alpha[i] as i8);
            w.push(r.v[(i, 0)]);
            b.push(r.v[(i, 1)]);
            assigned.push(r.sigma[i] as u32);
            moved.push((r.v[(i, 0)] - start[(i, 0)]).hypot(r.v[(i, 1)] - start[(i, 1)]));
            active.push(pattern.row(i).iter().filter(|&&s| s).count() as u32);
            objective.push(r.objective);
            certified.push(r.certified);
        }
    }
    let n = particle.len();
    Ok(df!(
        "gamma" => vec![gamma; n],
        "solver" => solver,
        "particle" => particle,
        "alpha" => alpha,
        "w" => w,
        "b" => b,
        "assigned_to" => assigned,
        "moved" => moved,
        "active_data" => active,
        "objective" => objective,
        "certified" => certified,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{column_f64, column_str};

    #[test]
    fn wasserstein_swaps_and_pulls_toward_the_other_start() {
        let p: InnerIterationsParams =
            serde_json::from_value(serde_json::json!({"gamma": 1.0, "iterations": 3000})).unwrap();
        let noop = |_: f64| {};
        let ctx = RunContext { inputs: &Default::default(), progress: &noop };
        let t = &InnerIterations::run(&p, &ctx).unwrap()[0].frame;
        let (dist, part) = (column_str(t, "distance").unwrap(), column_f64(t, "particle").unwrap());
        let (b, to) = (column_f64(t, "b").unwrap(), column_f64(t, "assigned_to").unwrap());
        let rows = |d: &str| (0..b.len()).filter(|&r| dist[r] == d).collect::<Vec<_>>();
        let (frob, wass) = (rows("frobenius"), rows("wasserstein"));
        assert_eq!(frob.len(), 2 * 3001, "iterates 0..=K for two particles");
        assert!(frob.iter().all(|&r| to[r] == part[r]), "Frobenius: identity assignment");
        let first_swap = wass.iter().position(|&r| to[r] != part[r]).expect("the assignment swaps");
        assert!(first_swap < 100, "the particles cross early: row {first_swap}");
        // After the swap particle 0 is anchored at particle 1's start (0.6, 0.3) instead of its own (0.4, −0.1).
        let (f0, w0) = (frob[frob.len() - 2], wass[wass.len() - 2]);
        assert!(b[w0] > b[f0] + 0.01, "pulled up toward (0.6, 0.3): {} vs {}", b[w0], b[f0]);
    }

    /// Rows of `t` (a table with `distance`/`solver` column `by`) whose label is `name`.
    fn rows_of(t: &DataFrame, by: &str, name: &str) -> Vec<usize> {
        let labels = column_str(t, by).unwrap();
        (0..labels.len()).filter(|&r| labels[r] == name).collect()
    }

    #[test]
    fn an_inactive_particle_moves_only_through_the_swapped_coupling() {
        // Particle 1 at (0.02, −0.03) activates none of the 5 sine points (b < −|w|): ∂F/∂v_1 = 0.
        let json = serde_json::json!({"gamma": 1.0, "iterations": 500, "start": [[-0.01, 0.0], [0.02, -0.03]],
            "alpha": [1.0, -1.0]});
        let p: InnerIterationsParams = serde_json::from_value(json).unwrap();
        let noop = |_: f64| {};
        let ctx = RunContext { inputs: &Default::default(), progress: &noop };
        let tables = InnerIterations::run(&p, &ctx).unwrap();
        let t = &tables[0].frame;
        let (part, to) = (column_f64(t, "particle").unwrap(), column_f64(t, "assigned_to").unwrap());
        let (w, b) = (column_f64(t, "w").unwrap(), column_f64(t, "b").unwrap());
        let (grad, pull) = (column_f64(t, "loss_gradient_norm").unwrap(), column_f64(t, "coupling_norm").unwrap());
        let inactive = |rows: Vec<usize>| rows.into_iter().filter(|&r| part[r] == 1.0).collect::<Vec<_>>();
        // Frobenius: both terms of its inner gradient are exactly 0 at every iteration, so it never moves.
        for r in inactive(rows_of(t, "distance", "frobenius")) {
            assert_eq!((w[r], b[r], grad[r], pull[r]), (0.02, -0.03, 0.0, 0.0), "row {r}");
        }
        // Wasserstein: the first inner step carries the active particle past it, σ swaps, and the coupling
        // (1/(mγ)) ‖W^t_1 − W^t_0‖ = 0.5 · 0.03√2 is the only nonzero force on it.
        let wass = inactive(rows_of(t, "distance", "wasserstein"));
        let swap = wass.iter().position(|&r| to[r] == 0.0).expect("the assignment swaps");
        assert_eq!(swap, 1);
        let r = wass[1];
        assert_eq!((w[r], b[r], grad[r]), (0.02, -0.03, 0.0));
        assert!((pull[r] - 0.5 * 0.03 * 2f64.sqrt()).abs() < 1e-15, "{}", pull[r]);
        let end = *wass.last().unwrap();
        assert!(w[end] < -0.1 && b[end] > 0.05, "pulled past the other start into the active region: {}", w[end]);
        // The exact prox steps: the local ones leave it at its start; the global W2 minimiser swaps and moves it.
        let m = &tables[1].frame;
        let (moved, sigma) = (column_f64(m, "moved").unwrap(), column_f64(m, "assigned_to").unwrap());
        let particle = column_f64(m, "particle").unwrap();
        let second = |solver| rows_of(m, "solver", solver).into_iter().find(|&r| particle[r] == 1.0).unwrap();
        for solver in ["frobenius_local", "wasserstein_local"] {
            assert_eq!(moved[second(solver)], 0.0, "{solver}");
        }
        let g = second("wasserstein_global");
        assert!(moved[g] > 0.2 && sigma[g] == 0.0, "moved {} σ {}", moved[g], sigma[g]);
    }
}
