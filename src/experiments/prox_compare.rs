//! `prox_compare`: the E4x comparison of inner solvers (issue 18) as one small table set, read from several
//! `prox_sweep` stages (the seed's inner GD, exact local and certified global steps): per (source, distance, γ,
//! step) the median and 10/90 % quantiles of the loss over seeds, and per seed the final loss. The comparison
//! figures are drawn from these tables, so their staleness follows every source stage (this stage's key covers its
//! inputs' keys).

use std::collections::BTreeMap;

use anyhow::Context;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Experiment, ParamError, RunContext, Table, Validate};
use crate::tables::{col, column_f64, column_str, ColumnSchema, DType, TableSchema};

pub struct ProxCompare;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxCompareParams {
    /// The `prox_sweep` stages to compare, in the order the figures list them (each must be in `inputs`).
    pub sources: Vec<String>,
}

impl Validate for ProxCompareParams {
    fn validate(&self) -> Result<(), ParamError> {
        if self.sources.is_empty() {
            return Err(ParamError::new("sources", "must name at least one prox_sweep stage"));
        }
        for (i, s) in self.sources.iter().enumerate() {
            if self.sources[..i].contains(s) {
                return Err(ParamError::new("sources", format!("`{s}` is listed twice")));
            }
        }
        Ok(())
    }
}

/// The q-quantile of sorted values, interpolating linearly between order statistics (NaN for no values).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos - pos.floor());
    sorted[i] + frac * (sorted[(i + 1).min(sorted.len() - 1)] - sorted[i])
}

/// (source index, distance, γ bits, step) → the loss of every seed; (…, seed) → final loss. γ > 0, so its bits
/// sort like the numbers.
type Group = (usize, String, u64, u64);

/// The rows of one source's `steps` table, grouped by (distance, γ, step) and by (distance, γ, seed).
struct SourceRows {
    solver: String,
    by_step: BTreeMap<Group, Vec<f64>>,
    finals: BTreeMap<Group, (u64, f64)>,
}

fn read_source(k: usize, name: &str, steps: &DataFrame) -> anyhow::Result<SourceRows> {
    let (seed, gamma, step, loss) = (
        column_f64(steps, "seed")?,
        column_f64(steps, "gamma")?,
        column_f64(steps, "step")?,
        column_f64(steps, "loss")?,
    );
    let (distance, solver) = (column_str(steps, "distance")?, column_str(steps, "inner_solver")?);
    let Some(first) = solver.first().cloned() else { anyhow::bail!("stage `{name}` has an empty `steps` table") };
    if let Some(other) = solver.iter().find(|s| **s != first) {
        anyhow::bail!("stage `{name}` mixes inner solvers `{first}` and `{other}`; list one stage per solver");
    }
    let mut out = SourceRows { solver: first, by_step: BTreeMap::new(), finals: BTreeMap::new() };
    for r in 0..seed.len() {
        let g = gamma[r].to_bits();
        out.by_step.entry((k, distance[r].clone(), g, step[r] as u64)).or_default().push(loss[r]);
        let last = out.finals.entry((k, distance[r].clone(), g, seed[r] as u64)).or_insert((0, loss[r]));
        if step[r] as u64 >= last.0 {
            *last = (step[r] as u64, loss[r]);
        }
    }
    Ok(out)
}

/// Per (source, distance, γ, step): seeds, 10 %, 50 % and 90 % of the loss.
fn quantile_table(sources: &[String], rows: &[SourceRows]) -> anyhow::Result<DataFrame> {
    let (mut src, mut solver, mut dist, mut gamma, mut step) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut seeds, mut q10, mut q50, mut q90) = (vec![], vec![], vec![], vec![]);
    for s in rows {
        for ((k, d, g, t), losses) in &s.by_step {
            let mut v = losses.clone();
            v.sort_by(f64::total_cmp);
            src.push(sources[*k].clone());
            solver.push(s.solver.clone());
            dist.push(d.clone());
            gamma.push(f64::from_bits(*g));
            step.push(*t as u32);
            seeds.push(v.len() as u32);
            q10.push(quantile(&v, 0.1));
            q50.push(quantile(&v, 0.5));
            q90.push(quantile(&v, 0.9));
        }
    }
    Ok(df!(
        "source" => src, "inner_solver" => solver, "distance" => dist, "gamma" => gamma, "step" => step,
        "seeds" => seeds, "loss_q10" => q10, "loss_median" => q50, "loss_q90" => q90,
    )?)
}

/// Per (source, distance, γ, seed): the loss after the last prox step.
fn final_table(sources: &[String], rows: &[SourceRows]) -> anyhow::Result<DataFrame> {
    let (mut src, mut solver, mut dist, mut gamma, mut seed, mut step, mut loss) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for s in rows {
        for ((k, d, g, sd), (t, l)) in &s.finals {
            src.push(sources[*k].clone());
            solver.push(s.solver.clone());
            dist.push(d.clone());
            gamma.push(f64::from_bits(*g));
            seed.push(*sd);
            step.push(*t as u32);
            loss.push(*l);
        }
    }
    Ok(df!(
        "source" => src, "inner_solver" => solver, "distance" => dist, "gamma" => gamma, "seed" => seed,
        "step" => step, "final_loss" => loss,
    )?)
}

const SOURCE: ColumnSchema = col("source", DType::Str, "label", "the prox_sweep stage the row summarises");
const INNER_SOLVER: ColumnSchema =
    col("inner_solver", DType::Str, "label", "the source's `inner_solver`: `gd`, `exact_local` or `exact_global`");
const DISTANCE: ColumnSchema = col("distance", DType::Str, "label", "`frobenius` or `wasserstein`");
const GAMMA: ColumnSchema = col("gamma", DType::F64, "1", "prox step γ");

const LOSS_QUANTILES: TableSchema = TableSchema {
    name: "loss_quantiles",
    about: "one row per (source, distance, γ, prox step): the loss over the source's seeds",
    columns: &[
        SOURCE,
        INNER_SOLVER,
        DISTANCE,
        GAMMA,
        col("step", DType::U32, "index", "prox step t (0 = W⁰)"),
        col("seeds", DType::U32, "count", "seeds with this step"),
        col("loss_q10", DType::F64, "1", "10 % quantile of the loss F(W^t) over seeds (linear interpolation)"),
        col("loss_median", DType::F64, "1", "median of the loss over seeds"),
        col("loss_q90", DType::F64, "1", "90 % quantile of the loss over seeds"),
    ],
};

const FINAL_LOSS: TableSchema = TableSchema {
    name: "final_loss",
    about: "one row per (source, distance, γ, seed): the loss after the last prox step",
    columns: &[
        SOURCE,
        INNER_SOLVER,
        DISTANCE,
        GAMMA,
        col("seed", DType::U64, "id", "seed of the initialisation"),
        col("step", DType::U32, "index", "the last prox step"),
        col("final_loss", DType::F64, "1", "loss F(W^t) after that step"),
    ],
};

impl Experiment for ProxCompare {
    const KIND: &'static str = "prox_compare";
    const VERSION: u32 = 1;
    const TABLES: &'static [TableSchema] = &[LOSS_QUANTILES, FINAL_LOSS];
    const ABOUT: &'static str = "E4x: loss per prox step (median, 10/90 %) and final loss per seed, per inner solver";
    const SUMMARY: bool = true;
    // Measured on 1272 input entries (loaded machine): loading every table cost ≈ 6 CPU-s beyond a no-op run,
    // `steps` alone ≈ 4 CPU-s (reading and verifying each entry); the computation itself 0.03–0.18 s.
    const INPUT_TABLES: &'static [&'static str] = &["steps"];
    type Params = ProxCompareParams;

    fn run(p: &ProxCompareParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let mut rows = Vec::new();
        for (k, name) in p.sources.iter().enumerate() {
            let steps = ctx.input(name)?.get("steps");
            let steps = steps.with_context(|| format!("stage `{name}` has no `steps` table (is it a prox_sweep?)"))?;
            rows.push(read_source(k, name, steps)?);
        }
        Ok(vec![
            Table::new("loss_quantiles", quantile_table(&p.sources, &rows)?),
            Table::new("final_loss", final_table(&p.sources, &rows)?),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `steps` table: `seeds` seeds × steps 0..=2 of one (distance, γ); loss = (seed + 1) · 10^(−step).
    fn steps(solver: &str, seeds: u64) -> DataFrame {
        let rows: Vec<(u64, u32)> = (0..seeds).flat_map(|s| (0..=2).map(move |t| (s, t))).collect();
        df!(
            "seed" => rows.iter().map(|r| r.0).collect::<Vec<_>>(),
            "distance" => vec!["wasserstein"; rows.len()],
            "inner_solver" => vec![solver; rows.len()],
            "gamma" => vec![0.1; rows.len()],
            "step" => rows.iter().map(|r| r.1).collect::<Vec<_>>(),
            "loss" => rows.iter().map(|r| (r.0 + 1) as f64 * 10f64.powi(-(r.1 as i32))).collect::<Vec<_>>(),
        )
        .unwrap()
    }

    fn run(inputs: Vec<(&str, DataFrame)>) -> anyhow::Result<Vec<Table>> {
        let sources: Vec<String> = inputs.iter().map(|i| i.0.to_string()).collect();
        let inputs: BTreeMap<String, crate::tables::StageTables> =
            inputs.into_iter().map(|(n, t)| (n.to_string(), [("steps".to_string(), t)].into())).collect();
        let noop = |_: f64| {};
        ProxCompare::run(&ProxCompareParams { sources }, &RunContext { inputs: &inputs, progress: &noop })
    }

    #[test]
    fn quantiles_and_final_losses_of_known_values() {
        // 11 seeds: losses 1..=11 at step 0, so 10 %, 50 %, 90 % are exactly 2, 6, 10; step 2 is that over 100.
        let t = run(vec![("b", steps("exact_local", 11)), ("a", steps("gd", 3))]).unwrap();
        let q = &t[0].frame;
        assert_eq!(q.height(), 3 + 3, "one row per (source, step)");
        let (src, step) = (column_str(q, "source").unwrap(), column_f64(q, "step").unwrap());
        let (q10, q50, q90) = (
            column_f64(q, "loss_q10").unwrap(),
            column_f64(q, "loss_median").unwrap(),
            column_f64(q, "loss_q90").unwrap(),
        );
        assert_eq!(&src[..3], ["b", "b", "b"], "sources keep the order of `sources`");
        assert_eq!((step[0], q10[0], q50[0], q90[0]), (0.0, 2.0, 6.0, 10.0));
        assert_eq!((step[2], q10[2], q50[2], q90[2]), (2.0, 0.02, 0.06, 0.1));
        // 3 seeds (losses 1, 2, 3): 10 % interpolates to 1.2, 90 % to 2.8.
        assert!((q10[3] - 1.2).abs() < 1e-15 && (q90[3] - 2.8).abs() < 1e-15, "{} {}", q10[3], q90[3]);
        let f = &t[1].frame;
        assert_eq!(f.height(), 11 + 3, "one row per (source, seed)");
        let (fin, last) = (column_f64(f, "final_loss").unwrap(), column_f64(f, "step").unwrap());
        assert_eq!((fin[4], last[4]), (0.05, 2.0), "seed 4's loss after the last step: 5 / 100");
        assert_eq!(column_str(f, "inner_solver").unwrap()[11], "gd");
    }

    #[test]
    fn a_source_mixing_solvers_or_missing_is_an_error_naming_it() {
        let mixed = concat_df_vertical(&[steps("gd", 2), steps("exact_local", 2)]);
        let err = run(vec![("s", mixed)]).unwrap_err().to_string();
        assert!(err.contains("stage `s` mixes inner solvers `gd` and `exact_local`"), "{err}");
        let noop = |_: f64| {};
        let p = ProxCompareParams { sources: vec!["absent".into()] };
        let err = ProxCompare::run(&p, &RunContext { inputs: &Default::default(), progress: &noop }).unwrap_err();
        assert!(err.to_string().contains("add it to `inputs:`"), "{err}");
        let twice = ProxCompareParams { sources: vec!["a".into(), "a".into()] };
        assert_eq!(twice.validate().unwrap_err().message, "`a` is listed twice");
    }

    fn concat_df_vertical(frames: &[DataFrame]) -> DataFrame {
        let mut out = frames[0].clone();
        for f in &frames[1..] {
            out.vstack_mut(f).unwrap();
        }
        out
    }
}
