//! `prox_claims`: the seed's three claims about E4 (seed 001 §3), counted over every seed of a `prox_sweep` stage:
//! (1) at small γ the two distances nearly coincide — the largest loss gap per γ; (2) at γ = 1 Wasserstein reaches
//! ≈ 0 loss where Frobenius stalls — the final losses per seed and γ; (3) neurons that activate no data never move
//! under Frobenius but do under Wasserstein — counts per (seed, γ).

use std::collections::BTreeMap;

use anyhow::Context;
use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Experiment, ParamError, RunContext, Table, Validate};
use crate::numerics::model::Data;
use crate::tables::{col, column_f64, column_str, ColumnSchema, DType, TableSchema};

pub struct ProxClaims;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxClaimsParams {
    /// The `prox_sweep` stage to examine (must be listed in `inputs`).
    pub source: String,
    /// Data inputs x_j (the sweep's sine points): a neuron is inactive if w x_j + b ≤ 0 for all of them.
    #[serde(default = "default_n_data")]
    pub n_data: u32,
}

fn default_n_data() -> u32 {
    5
}

impl Validate for ProxClaimsParams {
    fn validate(&self) -> Result<(), ParamError> {
        super::check::at_least("n_data", self.n_data.into(), 1)?;
        super::check::memory("n_data", f64::from(self.n_data) * 8.0 * 4.0, "the data inputs")
    }
}

/// (seed, γ as bits, inner solver, distance) → rows.
type Groups = BTreeMap<(u64, u64, String, String), Vec<usize>>;

fn group(frame: &DataFrame) -> anyhow::Result<Groups> {
    let (seed, gamma, distance) =
        (column_f64(frame, "seed")?, column_f64(frame, "gamma")?, column_str(frame, "distance")?);
    let solver = column_str(frame, "inner_solver")?;
    let mut out: Groups = BTreeMap::new();
    for r in 0..seed.len() {
        out.entry((seed[r] as u64, gamma[r].to_bits(), solver[r].clone(), distance[r].clone())).or_default().push(r);
    }
    Ok(out)
}

/// Per γ: the largest |loss_F − loss_W| and the largest relative gap over seeds and steps.
/// Per (seed, γ): final losses of both distances.
fn loss_tables(steps: &DataFrame) -> anyhow::Result<(DataFrame, DataFrame)> {
    let (step, loss) = (column_f64(steps, "step")?, column_f64(steps, "loss")?);
    let groups = group(steps)?;
    let mut gap: BTreeMap<(u64, String), (f64, f64)> = BTreeMap::new();
    let (mut f_seed, mut f_gamma, mut f_solver, mut f_frob, mut f_wass) = (vec![], vec![], vec![], vec![], vec![]);
    for ((s, g, solver, _), frob_rows) in groups.iter().filter(|(k, _)| k.3 == "frobenius") {
        let Some(wass_rows) = groups.get(&(*s, *g, solver.clone(), "wasserstein".to_string())) else { continue };
        let entry = gap.entry((*g, solver.clone())).or_insert((0.0, 0.0));
        for &rf in frob_rows {
            if let Some(&rw) = wass_rows.iter().find(|&&rw| step[rw] == step[rf]) {
                let diff = (loss[rf] - loss[rw]).abs();
                entry.0 = entry.0.max(diff);
                entry.1 = entry.1.max(diff / loss[rf].abs().max(f64::MIN_POSITIVE));
            }
        }
        let last = |rows: &[usize]| rows.iter().max_by(|a, b| step[**a].total_cmp(&step[**b])).map(|&r| loss[r]);
        f_seed.push(*s);
        f_gamma.push(f64::from_bits(*g));
        f_solver.push(solver.clone());
        f_frob.push(last(frob_rows).unwrap_or(f64::NAN));
        f_wass.push(last(wass_rows).unwrap_or(f64::NAN));
    }
    let gaps = df!(
        "gamma" => gap.keys().map(|g| f64::from_bits(g.0)).collect::<Vec<_>>(),
        "inner_solver" => gap.keys().map(|g| g.1.clone()).collect::<Vec<_>>(),
        "max_abs_loss_gap" => gap.values().map(|v| v.0).collect::<Vec<_>>(),
        "max_rel_loss_gap" => gap.values().map(|v| v.1).collect::<Vec<_>>(),
    )?;
    let finals = df!("seed" => f_seed, "gamma" => f_gamma, "inner_solver" => f_solver, "final_loss_frobenius" => f_frob, "final_loss_wasserstein" => f_wass)?;
    Ok((gaps, finals))
}

/// Per (seed, γ): neurons inactive on every data point at W⁰, and how many of them ever move under each distance.
fn inactive_table(particles: &DataFrame, xs: &[f64]) -> anyhow::Result<DataFrame> {
    let (step, part) = (column_f64(particles, "step")?, column_f64(particles, "particle")?);
    let (w, b) = (column_f64(particles, "w")?, column_f64(particles, "b")?);
    let groups = group(particles)?;
    let mut counts: BTreeMap<(u64, u64, String), [u32; 3]> = BTreeMap::new();
    for ((s, g, solver, d), rows) in &groups {
        let start: BTreeMap<u64, (f64, f64)> =
            rows.iter().filter(|&&r| step[r] == 0.0).map(|&r| (part[r] as u64, (w[r], b[r]))).collect();
        let inactive: Vec<u64> =
            start.iter().filter(|(_, (wi, bi))| xs.iter().all(|x| wi * x + bi <= 0.0)).map(|(i, _)| *i).collect();
        let moved = inactive
            .iter()
            .filter(|i| rows.iter().any(|&r| part[r] as u64 == **i && (w[r], b[r]) != start[*i]))
            .count() as u32;
        let c = counts.entry((*s, *g, solver.clone())).or_insert([0; 3]);
        c[0] = inactive.len() as u32;
        c[if d == "frobenius" { 1 } else { 2 }] = moved;
    }
    Ok(df!(
        "seed" => counts.keys().map(|k| k.0).collect::<Vec<_>>(),
        "gamma" => counts.keys().map(|k| f64::from_bits(k.1)).collect::<Vec<_>>(),
        "inner_solver" => counts.keys().map(|k| k.2.clone()).collect::<Vec<_>>(),
        "inactive_at_start" => counts.values().map(|c| c[0]).collect::<Vec<_>>(),
        "moved_frobenius" => counts.values().map(|c| c[1]).collect::<Vec<_>>(),
        "moved_wasserstein" => counts.values().map(|c| c[2]).collect::<Vec<_>>(),
    )?)
}

const SEED: ColumnSchema = col("seed", DType::U64, "id", "seed of the initialisation");
const GAMMA: ColumnSchema = col("gamma", DType::F64, "1", "prox step γ");
const INNER_SOLVER: ColumnSchema = col("inner_solver", DType::Str, "label", "the source's `inner_solver`");

const LOSS_GAP: TableSchema = TableSchema {
    name: "loss_gap",
    about: "one row per (γ, inner solver): claim (1), the distances nearly coincide at small γ",
    columns: &[
        GAMMA,
        INNER_SOLVER,
        col("max_abs_loss_gap", DType::F64, "1", "largest |loss_F − loss_W| over seeds and steps"),
        col("max_rel_loss_gap", DType::F64, "1", "largest |loss_F − loss_W| / loss_F over seeds and steps"),
    ],
};

const FINAL_LOSS: TableSchema = TableSchema {
    name: "final_loss",
    about: "one row per (seed, γ, inner solver): claim (2), the losses after the last prox step",
    columns: &[
        SEED,
        GAMMA,
        INNER_SOLVER,
        col("final_loss_frobenius", DType::F64, "1", "loss after the last Frobenius prox step"),
        col("final_loss_wasserstein", DType::F64, "1", "loss after the last Wasserstein prox step"),
    ],
};

const INACTIVE_NEURONS: TableSchema = TableSchema {
    name: "inactive_neurons",
    about: "one row per (seed, γ, inner solver): claim (3), inactive neurons move only under Wasserstein",
    columns: &[
        SEED,
        GAMMA,
        INNER_SOLVER,
        col("inactive_at_start", DType::U32, "count", "neurons with w x_j + b ≤ 0 on every data point at W⁰"),
        col("moved_frobenius", DType::U32, "count", "of those, how many ever move under Frobenius"),
        col("moved_wasserstein", DType::U32, "count", "of those, how many ever move under Wasserstein"),
    ],
};

impl Experiment for ProxClaims {
    const KIND: &'static str = "prox_claims";
    // 2: one row per inner solver (`prox_sweep` version 3 has `inner_solver`).
    const VERSION: u32 = 2;
    const TABLES: &'static [TableSchema] = &[LOSS_GAP, FINAL_LOSS, INACTIVE_NEURONS];
    const ABOUT: &'static str = "E4: the seed's three claims counted over every seed of a prox_sweep stage";
    const SUMMARY: bool = true;
    type Params = ProxClaimsParams;

    fn run(p: &ProxClaimsParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let tables = ctx.input(&p.source)?;
        let steps = tables.get("steps").context("the source has no `steps` table (is it a prox_sweep stage?)")?;
        let particles = tables.get("particles").context("the source has no `particles` table")?;
        let xs = Data::sine(p.n_data as usize).x.column(0).to_vec();
        let (gaps, finals) = loss_tables(steps)?;
        Ok(vec![
            Table::new("loss_gap", gaps),
            Table::new("final_loss", finals),
            Table::new("inactive_neurons", inactive_table(particles, &xs)?),
        ])
    }
}
