//! E3 `inner_iterations` (seed 001 §3, last figure): two ReLU particles of opposite signs with different gradients
//! (close together, so their gradients point toward each other); the first K inner GD iterations of one prox step
//! under both distances. Under Frobenius the distance term pulls each particle back to its own start; under
//! Wasserstein the optimal assignment swaps as soon as the particles cross (⟨V₀ − V₁, W₀ − W₁⟩ < 0), and from then
//! on each particle is pulled toward the *other* particle's start.

use ndarray::Array2;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check, Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::model::{Data, LossNorm, ReluNet, ReluProblem, Scaling};
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
    ],
};

impl Experiment for InnerIterations {
    const KIND: &'static str = "inner_iterations";
    const VERSION: u32 = 1;
    const TABLES: &'static [TableSchema] = &[INNER];
    const ABOUT: &'static str = "E3: first K inner iterations of one prox step, two particles, both distances";
    type Params = InnerIterationsParams;

    fn run(p: &InnerIterationsParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let data = Data::sine(p.n_data as usize);
        let net = ReluNet { alpha: p.alpha.to_vec(), scaling: Scaling::Sum, loss_norm: LossNorm::Mse };
        let problem = ReluProblem::new(&net, &data)?;
        let start = Array2::from_shape_fn((2, 2), |(i, c)| p.start[i][c]);
        let (mut distance, mut iteration, mut particle, mut alpha) = (vec![], vec![], vec![], vec![]);
        let (mut w, mut b, mut assigned) = (vec![], vec![], vec![]);
        for (name, dist) in [("frobenius", ProxDistance::Frobenius), ("wasserstein", ProxDistance::Wasserstein)] {
            let config = ProxConfig {
                inner_step: p.inner_step,
                stopping: InnerStopping::Iterations(u64::from(p.iterations)),
                ..ProxConfig::new(p.gamma, dist)
            };
            let mut observer = FirstIterates::new(p.iterations as usize + 1);
            ProxSolver::new(&problem, config)?.prox_step(start.view(), 0, &mut observer)?;
            for (k, (v, sigma)) in observer.iterates.iter().zip(&observer.assignments).enumerate() {
                for i in 0..2 {
                    distance.push(name);
                    iteration.push(k as u32);
                    particle.push(i as u32);
                    alpha.push(p.alpha[i] as i8);
                    w.push(v[2 * i]);
                    b.push(v[2 * i + 1]);
                    assigned.push(sigma[i] as u32);
                }
            }
        }
        let n = iteration.len();
        let frame = df!(
            "gamma" => vec![p.gamma; n],
            "distance" => distance,
            "iteration" => iteration,
            "particle" => particle,
            "alpha" => alpha,
            "w" => w,
            "b" => b,
            "assigned_to" => assigned,
        )?;
        (ctx.progress)(1.0);
        Ok(vec![Table::new("inner", frame)])
    }
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
}
