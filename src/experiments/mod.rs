//! Stage kinds: each is a function from typed parameters to result tables.
//!
//! Adding an experiment is one file here implementing [`Experiment`] (its tables declared in `TABLES`, then
//! `wgf schema > docs/TABLES.md`), one line in [`KINDS`], one block in pipeline.yaml and one figure function in
//! `figures/`.

use std::collections::BTreeMap;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

pub mod grid_jko;
pub mod grid_vs_gd;
pub mod init_scale;
pub mod inner_iterations;
pub mod params;
pub mod prox_claims;
pub mod prox_compare;
pub mod prox_sweep;
pub mod three_point;
pub mod three_point_summary;
pub mod two_point;
pub mod williams;

use crate::tables::{KindSchema, TableSchema};
pub use crate::tables::{StageTables, Table};

/// What a running point may use besides its parameters.
pub struct RunContext<'a> {
    /// Tables of the stages listed in `inputs:`, by stage name.
    pub inputs: &'a BTreeMap<String, StageTables>,
    /// Reports progress of this point in [0, 1]; cheap, call it as often as convenient.
    pub progress: &'a (dyn Fn(f64) + Sync),
}

impl RunContext<'_> {
    /// The tables of input stage `name` (a stage's `source:` parameter), or an error saying how to fix the file.
    pub fn input(&self, name: &str) -> anyhow::Result<&StageTables> {
        self.inputs
            .get(name)
            .ok_or_else(|| anyhow::anyhow!("`source: {name}` is not among this stage's inputs; add it to `inputs:`"))
    }
}

/// A parameter that failed validation; `path` is relative to the stage's parameters (e.g. `gamma`).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    pub path: String,
    pub message: String,
}

impl ParamError {
    pub fn new(path: &str, message: impl Into<String>) -> ParamError {
        ParamError { path: path.to_string(), message: message.into() }
    }
}

/// Range checks that serde's types cannot express.
pub trait Validate {
    fn validate(&self) -> Result<(), ParamError>;
}

/// A stage kind, in the spirit of argmin's `Solver`: parameters in, tables out, no I/O.
pub trait Experiment {
    /// `kind:` in pipeline.yaml.
    const KIND: &'static str;
    /// Bump when the numerics change: old cache entries then become stale.
    const VERSION: u32;
    /// The tables every point produces, in order, with their typed columns: the one declaration the runner
    /// checks every point against and `wgf schema` (docs/TABLES.md) prints.
    const TABLES: &'static [TableSchema];
    /// One line for `wgf dag` and the README.
    const ABOUT: &'static str;
    /// A findings stage: its tables are small summaries of other stages, shown in full by `wgf report`.
    const SUMMARY: bool = false;
    /// The tables it reads of each input stage (empty: all of them). Loading only these keeps a summary over
    /// large stages cheap: `prox_compare` reads `steps` and skips the 50× larger `particles`.
    const INPUT_TABLES: &'static [&'static str] = &[];
    type Params: DeserializeOwned + Serialize + Validate;
    fn run(params: &Self::Params, ctx: &RunContext) -> anyhow::Result<Vec<Table>>;
}

/// A type-erased stage kind, so the pipeline can hold them in one registry.
pub struct Kind {
    pub name: &'static str,
    pub version: u32,
    pub tables: &'static [TableSchema],
    pub about: &'static str,
    /// See [`Experiment::SUMMARY`].
    pub summary: bool,
    /// See [`Experiment::INPUT_TABLES`].
    pub input_tables: &'static [&'static str],
    /// Raw parameters → canonical typed parameters (defaults filled in), or the first problem found.
    pub resolve: fn(&Value) -> Result<Value, ParamError>,
    /// Runs one point from its canonical parameters.
    pub run: fn(&Value, &RunContext) -> anyhow::Result<Vec<Table>>,
}

const fn kind<E: Experiment>() -> Kind {
    Kind {
        name: E::KIND,
        version: E::VERSION,
        tables: E::TABLES,
        about: E::ABOUT,
        summary: E::SUMMARY,
        input_tables: E::INPUT_TABLES,
        resolve: resolve::<E>,
        run: run::<E>,
    }
}

/// Every stage kind the pipeline knows.
pub static KINDS: &[Kind] = &[
    kind::<two_point::TwoPoint>(),
    kind::<inner_iterations::InnerIterations>(),
    kind::<prox_sweep::ProxSweep>(),
    kind::<prox_claims::ProxClaims>(),
    kind::<three_point::ThreePoint>(),
    kind::<three_point_summary::ThreePointSummary>(),
    kind::<grid_jko::GridJko>(),
    kind::<grid_vs_gd::GridVsGd>(),
    kind::<init_scale::InitScale>(),
    kind::<prox_compare::ProxCompare>(),
    kind::<williams::Williams>(),
];

impl Kind {
    /// The names of the tables every point produces, in declaration order.
    pub fn table_names(&self) -> Vec<&'static str> {
        self.tables.iter().map(|t| t.name).collect()
    }
}

/// Every kind's table declarations, for `wgf schema` and docs/TABLES.md.
pub fn schemas() -> Vec<KindSchema> {
    KINDS.iter().map(|k| KindSchema { kind: k.name, about: k.about, tables: k.tables }).collect()
}

pub fn find_kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

fn resolve<E: Experiment>(raw: &Value) -> Result<Value, ParamError> {
    let params: E::Params = serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        ParamError { path: if path == "." { String::new() } else { path }, message: e.inner().to_string() }
    })?;
    params.validate()?;
    serde_json::to_value(&params).map_err(|e| ParamError::new("", e.to_string()))
}

fn run<E: Experiment>(canonical: &Value, ctx: &RunContext) -> anyhow::Result<Vec<Table>> {
    let params: E::Params = serde_json::from_value(canonical.clone())?;
    E::run(&params, ctx)
}

/// Shared range checks, phrased the same way everywhere.
pub mod check {
    use super::ParamError;

    pub fn positive(path: &str, x: f64) -> Result<(), ParamError> {
        if x > 0.0 && x.is_finite() {
            Ok(())
        } else {
            Err(ParamError::new(path, format!("must be a finite number > 0, got {x}")))
        }
    }

    pub fn at_least(path: &str, x: u64, min: u64) -> Result<(), ParamError> {
        if x >= min {
            Ok(())
        } else {
            Err(ParamError::new(path, format!("must be at least {min}, got {x}")))
        }
    }

    /// Memory one point may plan to use: sizes that validation accepts must never abort the process on allocation
    /// (which would also stop every independent stage of the run).
    pub const MAX_BYTES: f64 = 4e9;

    /// Refuses a point whose estimated memory `bytes` (from `what`, e.g. "n_data × m activations") exceeds
    /// [`MAX_BYTES`].
    pub fn memory(path: &str, bytes: f64, what: &str) -> Result<(), ParamError> {
        if bytes <= MAX_BYTES {
            return Ok(());
        }
        Err(ParamError::new(
            path,
            format!(
                "{what} need ≈ {:.1} GB, more than {:.0} GB for one point; reduce {path}",
                bytes / 1e9,
                MAX_BYTES / 1e9
            ),
        ))
    }

    pub fn at_most(path: &str, x: u64, max: u64, why: &str) -> Result<(), ParamError> {
        if x <= max {
            Ok(())
        } else {
            Err(ParamError::new(path, format!("must be at most {max} ({why}), got {x}")))
        }
    }
}
