//! `three_point_summary`: one row per learning rate of an upstream `three_point` stage — final loss, best loss,
//! and the step at which the neuron died (activates no data point), if it did. A small consumer stage: it shows
//! how downstream stages read their inputs' tables.

use polars::prelude::*;
use serde::{Deserialize, Serialize};

use super::{Experiment, ParamError, RunContext, Table, Validate};
use crate::tables::{col, column_f64, column_str, DType, TableSchema};

pub struct ThreePointSummary;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SummaryParams {
    /// The upstream stage to summarise (must also be listed in `inputs`).
    pub source: String,
}

impl Validate for SummaryParams {
    fn validate(&self) -> Result<(), ParamError> {
        if self.source.is_empty() {
            return Err(ParamError::new("source", "must name the three_point stage to summarise"));
        }
        Ok(())
    }
}

const SUMMARY: TableSchema = TableSchema {
    name: "summary",
    about: "one row per learning rate of the source stage",
    columns: &[
        col("lambda", DType::F64, "1", "GD learning rate λ"),
        col("final_loss", DType::F64, "1", "loss at the last step"),
        col("best_loss", DType::F64, "1", "smallest loss seen"),
        col(
            "died_at_step",
            DType::U32,
            "index",
            "first step whose pattern is all zeros (the neuron is dead), null if never",
        )
        .nullable(),
    ],
};

impl Experiment for ThreePointSummary {
    const KIND: &'static str = "three_point_summary";
    const VERSION: u32 = 1;
    const TABLES: &'static [TableSchema] = &[SUMMARY];
    const ABOUT: &'static str = "per learning rate: final and best loss, step at which the neuron died";
    type Params = SummaryParams;

    fn run(p: &SummaryParams, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
        let tables = ctx.input(&p.source)?;
        let it =
            tables.get("iterates").ok_or_else(|| anyhow::anyhow!("stage `{}` has no `iterates` table", p.source))?;
        let (lambda, loss, pattern) = (column_f64(it, "lambda")?, column_f64(it, "loss")?, column_str(it, "pattern")?);
        let (mut l_out, mut final_loss, mut best, mut died_step) = (vec![], vec![], vec![], vec![]);
        let mut run_start = 0;
        for r in 0..lambda.len() {
            if l_out.last() != Some(&lambda[r]) {
                run_start = r;
                l_out.push(lambda[r]);
                final_loss.push(loss[r]);
                best.push(loss[r]);
                died_step.push(None);
            }
            let i = l_out.len() - 1;
            final_loss[i] = loss[r];
            best[i] = f64::min(best[i], loss[r]);
            if died_step[i].is_none() && pattern[r].chars().all(|c| c == '0') {
                died_step[i] = Some((r - run_start) as u32);
            }
        }
        let frame = df!(
            "lambda" => l_out,
            "final_loss" => final_loss,
            "best_loss" => best,
            "died_at_step" => died_step,
        )?;
        Ok(vec![Table::new("summary", frame)])
    }
}
