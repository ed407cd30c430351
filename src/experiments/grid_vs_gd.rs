//! E5 comparison `grid_vs_gd` (seed 004: "discretize the mean-field limit using JKO, see if it is similar to GD"):
//! particle gradient descent under mean-field scaling, particles sampled from the JKO stage's p₀, run for the same
//! time as the JKO flow.
//!
//! Same time: one JKO step with cost |θ − θ'|² (no ½) and step τ advances the flow by τ/2; a mean-field GD step
//! of learning rate η moves each particle by η·∇_θ(δf/δp)/m, i.e. for time η/m. So η = m·τ/2 per JKO step
//! (`lr_scale` = 0.5; SPEC's "m·τ" is the same statement for a cost with ½). `substeps` GD steps of η/substeps
//! make GD a finer explicit discretisation of the same flow.

use std::collections::BTreeSet;

use anyhow::{anyhow, bail, Context};
use ndarray::{Array1, Array2};
use polars::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{check, Experiment, ParamError, RunContext, StageTables, Table, Validate};
use crate::numerics::model::{Data, LossNorm, ReluNet, Scaling};
use crate::tables::{col, column_f64, grid_spacing, ColumnSchema, DType, TableSchema};

pub struct GridVsGd;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridVsGdParams {
    /// The `grid_jko` stage whose p₀, data, τ and horizon are used (must be listed in `inputs`).
    pub source: String,
    /// Number of particles.
    pub m: u32,
    pub seed: u64,
    /// GD steps per JKO step.
    #[serde(default = "default_substeps")]
    pub substeps: u32,
    /// Learning rate per JKO step = lr_scale · m · τ.
    #[serde(default = "default_lr_scale")]
    pub lr_scale: f64,
    /// Spread each sampled particle uniformly over its grid cell (p₀ is a density, not a sum of grid Diracs).
    #[serde(default = "default_jitter")]
    pub jitter: bool,
}

fn default_substeps() -> u32 {
    10
}
fn default_lr_scale() -> f64 {
    0.5
}
fn default_jitter() -> bool {
    true
}

impl Validate for GridVsGdParams {
    fn validate(&self) -> Result<(), ParamError> {
        check::at_least("m", self.m.into(), 1)?;
        check::at_most("m", self.m.into(), 10_000_000, "memory: 2 coordinates per particle per snapshot")?;
        check::at_least("substeps", self.substeps.into(), 1)?;
        check::positive("lr_scale", self.lr_scale)
    }
}

/// What the comparison needs from the JKO stage.
struct Source {
    tau: f64,
    steps: u32,
    snapshots: BTreeSet<u32>,
    data: Data,
    /// p₀ over both sign copies: (sign, w, b, mass).
    p0: Vec<(f64, f64, f64, f64)>,
    spacing: (f64, f64),
}

fn read_source(tables: &StageTables) -> anyhow::Result<Source> {
    let get =
        |t: &str| tables.get(t).ok_or_else(|| anyhow!("the source stage has no `{t}` table (is it a grid_jko stage?)"));
    let (steps_t, density, data_t) = (get("steps")?, get("density")?, get("data")?);
    let tau = unique(&column_f64(steps_t, "tau")?).context("the source sweeps τ; compare against one τ per stage")?;
    let steps = column_f64(steps_t, "step")?.into_iter().fold(0.0, f64::max) as u32;
    let (eps, step) = (column_f64(density, "eps")?, column_f64(density, "step")?);
    let eps0 = eps.first().copied().context("empty density table")?;
    let (sign, w, b, p) =
        (column_f64(density, "sign")?, column_f64(density, "w")?, column_f64(density, "b")?, column_f64(density, "p")?);
    let p0: Vec<_> =
        (0..p.len()).filter(|&r| eps[r] == eps0 && step[r] == 0.0).map(|r| (sign[r], w[r], b[r], p[r])).collect();
    if p0.is_empty() {
        bail!("the source's density table has no step 0 (set its `snapshots` ≥ 2)");
    }
    let snapshots = (0..p.len()).filter(|&r| eps[r] == eps0).map(|r| step[r] as u32).collect();
    let (x, y) = (column_f64(data_t, "x")?, column_f64(data_t, "y")?);
    let eps_d = column_f64(data_t, "eps")?;
    let rows: Vec<usize> = (0..x.len()).filter(|&r| eps_d[r] == eps0).collect();
    let inputs = Array2::from_shape_fn((rows.len(), 1), |(j, _)| x[rows[j]]);
    let data = Data::from_inputs(inputs.view(), rows.iter().map(|&r| y[r]).collect::<Array1<f64>>());
    let spacing = (grid_spacing(p0.iter().map(|q| q.1)), grid_spacing(p0.iter().map(|q| q.2)));
    Ok(Source { tau, steps, snapshots, data, p0, spacing })
}

fn unique(values: &[f64]) -> Option<f64> {
    let first = *values.first()?;
    values.iter().all(|&v| v == first).then_some(first)
}

/// m particles drawn from p₀ (inverse CDF over grid cells), each with its copy's sign as α.
fn sample_particles(src: &Source, m: usize, seed: u64, jitter: bool) -> (Vec<f64>, Array2<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let cdf: Vec<f64> = src.p0.iter().scan(0.0, |acc, q| Some(*acc + q.3).inspect(|&s| *acc = s)).collect();
    let total = cdf.last().copied().unwrap_or(0.0);
    let mut alpha = Vec::with_capacity(m);
    let mut w = Array2::zeros((m, 2));
    for i in 0..m {
        let u = rng.random::<f64>() * total;
        let cell = cdf.partition_point(|&c| c <= u).min(src.p0.len() - 1);
        let (sign, wc, bc, _) = src.p0[cell];
        let (dw, db) = if jitter { (rng.random::<f64>() - 0.5, rng.random::<f64>() - 0.5) } else { (0.0, 0.0) };
        alpha.push(sign);
        w[[i, 0]] = wc + dw * src.spacing.0;
        w[[i, 1]] = bc + db * src.spacing.1;
    }
    (alpha, w)
}

const M: ColumnSchema = col("m", DType::U32, "count", "number of particles");
const SEED: ColumnSchema = col("seed", DType::U64, "id", "sampling seed");

const LOSS: TableSchema = TableSchema {
    name: "loss",
    about: "one row per JKO step of the source",
    columns: &[
        M,
        SEED,
        col("step", DType::U32, "index", "JKO step index"),
        col("time", DType::F64, "1", "the same flow time t·τ/2 as the source"),
        col("loss", DType::F64, "1", "mean-field loss (1/n) Σ_j ((1/m) Σ_i α_i relu(w_i x_j + b_i) − y_j)²"),
    ],
};

const PARTICLES: TableSchema = TableSchema {
    name: "particles",
    about: "one row per particle at the source's snapshot steps",
    columns: &[
        M,
        SEED,
        col("step", DType::U32, "index", "JKO step index"),
        col("particle", DType::U32, "index", "particle index i"),
        col("alpha", DType::I8, "1", "output sign of the particle"),
        col("w", DType::F64, "1", "particle weight"),
        col("b", DType::F64, "1", "particle bias"),
    ],
};

const COMPARISON: TableSchema = TableSchema {
    name: "comparison",
    about: "one row per ε of the source",
    columns: &[
        M,
        SEED,
        col("eps", DType::F64, "1", "the source's entropic regularisation ε"),
        col("grid_n", DType::U32, "count", "grid points per axis"),
        col("final_loss_jko", DType::F64, "1", "JKO loss at the last step"),
        col("final_loss_gd", DType::F64, "1", "GD loss at the last step"),
        col("max_loss_gap", DType::F64, "1", "max over steps of |loss_JKO − loss_GD|"),
        col("second_moment_jko", DType::F64, "1", "E|θ|² of the final JKO measure (spread)"),
        col("second_moment_gd", DType::F64, "1", "E|θ|² of the final GD particles (spread)"),
    ],
};

impl Experiment for GridVsGd {
    const KIND: &'static str = "grid_vs_gd";
    const VERSION: u32 = 1;
    const TABLES: &'static [TableSchema] = &[LOSS, PARTICLES, COMPARISON];
    const ABOUT: &'static str = "E5: mean-field particle GD from the JKO stage's p₀, same time axis";
    type Params = GridVsGdParams;

    fn run(p: &GridVsGdParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let tables = ctx.input(&p.source)?;
        let src = read_source(tables)?;
        let m = p.m as usize;
        let (alpha, mut w) = sample_particles(&src, m, p.seed, p.jitter);
        let net = ReluNet { alpha: alpha.clone(), scaling: Scaling::Mean, loss_norm: LossNorm::Mse };
        let lr = p.lr_scale * m as f64 * src.tau / f64::from(p.substeps);
        let mut grad = Array2::zeros((m, 2));
        let (mut l_step, mut l_loss) = (vec![], vec![]);
        let (mut s_step, mut s_particle, mut s_alpha, mut s_w, mut s_b) = (vec![], vec![], vec![], vec![], vec![]);
        for t in 0..=src.steps {
            l_step.push(t);
            l_loss.push(net.loss(&src.data, w.view()));
            if src.snapshots.contains(&t) {
                for i in 0..m {
                    s_step.push(t);
                    s_particle.push(i as u32);
                    s_alpha.push(alpha[i] as i8);
                    s_w.push(w[[i, 0]]);
                    s_b.push(w[[i, 1]]);
                }
            }
            for _ in 0..(if t < src.steps { p.substeps } else { 0 }) {
                net.loss_and_gradient(&src.data, w.view(), grad.view_mut());
                w.scaled_add(-lr, &grad);
            }
            (ctx.progress)(f64::from(t) / f64::from(src.steps.max(1)));
        }
        let rows = l_step.len();
        let loss = df!(
            "m" => vec![p.m; rows],
            "seed" => vec![p.seed; rows],
            "step" => &l_step,
            "time" => l_step.iter().map(|&t| f64::from(t) * src.tau / 2.0).collect::<Vec<_>>(),
            "loss" => &l_loss,
        )?;
        let n = s_step.len();
        let particles = df!(
            "m" => vec![p.m; n],
            "seed" => vec![p.seed; n],
            "step" => s_step,
            "particle" => s_particle,
            "alpha" => s_alpha,
            "w" => s_w,
            "b" => s_b,
        )?;
        let final_w: Vec<(f64, f64)> = (0..m).map(|i| (w[[i, 0]], w[[i, 1]])).collect();
        let comparison = compare(tables, p, &l_loss, &final_w)?;
        Ok(vec![Table::new("loss", loss), Table::new("particles", particles), Table::new("comparison", comparison)])
    }
}

/// One row per ε of the source: how far the GD loss curve is from the JKO one, and how spread out each final
/// measure is (second moment E|θ|²: the entropic blur spreads the grid measure).
fn compare(
    tables: &StageTables,
    p: &GridVsGdParams,
    gd_loss: &[f64],
    gd_final: &[(f64, f64)],
) -> anyhow::Result<DataFrame> {
    let steps = tables.get("steps").context("source `steps`")?;
    let density = tables.get("density").context("source `density`")?;
    let (eps, step, loss) = (column_f64(steps, "eps")?, column_f64(steps, "step")?, column_f64(steps, "loss")?);
    let (d_eps, d_step) = (column_f64(density, "eps")?, column_f64(density, "step")?);
    let (d_w, d_b, d_p) = (column_f64(density, "w")?, column_f64(density, "b")?, column_f64(density, "p")?);
    let mut eps_values: Vec<f64> = eps.clone();
    eps_values.dedup();
    let gd_moment = gd_final.iter().map(|(w, b)| w * w + b * b).sum::<f64>() / gd_final.len().max(1) as f64;
    let mut cols: [Vec<f64>; 6] = Default::default();
    let mut grid_n = Vec::new();
    for &e in &eps_values {
        let rows: Vec<usize> = (0..eps.len()).filter(|&r| eps[r] == e).collect();
        let gap = rows
            .iter()
            .map(|&r| (loss[r] - gd_loss.get(step[r] as usize).copied().unwrap_or(f64::NAN)).abs())
            .fold(0.0, f64::max);
        let last = rows.iter().map(|&r| step[r]).fold(0.0, f64::max);
        let final_jko = rows.iter().find(|&&r| step[r] == last).map(|&r| loss[r]).unwrap_or(f64::NAN);
        let d_last = (0..d_eps.len()).filter(|&r| d_eps[r] == e).map(|r| d_step[r]).fold(0.0, f64::max);
        let cells: Vec<usize> = (0..d_eps.len()).filter(|&r| d_eps[r] == e && d_step[r] == d_last).collect();
        let mass: f64 = cells.iter().map(|&r| d_p[r]).sum();
        let moment = cells.iter().map(|&r| d_p[r] * (d_w[r] * d_w[r] + d_b[r] * d_b[r])).sum::<f64>() / mass;
        let mut ws: Vec<f64> = cells.iter().map(|&r| d_w[r]).collect();
        ws.sort_by(f64::total_cmp);
        ws.dedup();
        grid_n.push(ws.len() as u32);
        for (c, v) in cols.iter_mut().zip([e, final_jko, *gd_loss.last().unwrap_or(&f64::NAN), gap, moment, gd_moment])
        {
            c.push(v);
        }
    }
    let n = grid_n.len();
    let [eps_c, final_jko, final_gd, gap, moment_jko, moment_gd] = cols;
    Ok(df!(
        "m" => vec![p.m; n],
        "seed" => vec![p.seed; n],
        "eps" => eps_c,
        "grid_n" => grid_n,
        "final_loss_jko" => final_jko,
        "final_loss_gd" => final_gd,
        "max_loss_gap" => gap,
        "second_moment_jko" => moment_jko,
        "second_moment_gd" => moment_gd,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> Source {
        // Two cells per sign, masses 0.1 / 0.4 (α = +1) and 0.25 / 0.25 (α = −1).
        let p0 = vec![(1.0, 0.0, 0.0, 0.1), (1.0, 1.0, 0.0, 0.4), (-1.0, 0.0, 1.0, 0.25), (-1.0, 1.0, 1.0, 0.25)];
        let data = Data::sine(5);
        Source { tau: 0.1, steps: 1, snapshots: BTreeSet::new(), data, p0, spacing: (1.0, 1.0) }
    }

    #[test]
    fn particles_follow_p0() {
        let m = 40_000;
        let (alpha, w) = sample_particles(&source(), m, 7, false);
        let plus = alpha.iter().filter(|&&a| a > 0.0).count() as f64 / m as f64;
        assert!((plus - 0.5).abs() < 0.01, "half the mass has α = +1: {plus}");
        let at = |wc: f64, bc: f64| (0..m).filter(|&i| w[[i, 0]] == wc && w[[i, 1]] == bc).count() as f64 / m as f64;
        assert!((at(1.0, 0.0) - 0.4).abs() < 0.01 && (at(0.0, 0.0) - 0.1).abs() < 0.01);
        let (again, w2) = sample_particles(&source(), m, 7, false);
        assert!(again == alpha && w2 == w, "same seed, same particles");
    }

    #[test]
    fn jitter_stays_in_the_cell() {
        let (_, w) = sample_particles(&source(), 1000, 3, true);
        assert!(w.column(0).iter().all(|&x| (-0.5..=1.5).contains(&x)));
        assert!(w.column(1).iter().all(|&x| (-0.5..=1.5).contains(&x)));
    }
}
