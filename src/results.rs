//! The public loader for cached result tables, shared by `wgf figures`, `wgf show` and the notebooks, so none of
//! them can disagree about where and how tables are stored.
//!
//! A stage's tables are those of its last complete run (`results/<stage>/current.json`), every point's
//! Parquet file checksum-verified and stacked in plan order.
//!
//! ```
//! use wgf::polars::prelude::*;
//! use wgf::results::Results;
//! # // A tiny results directory, built by the pipeline itself: stage `three_point`, two learning rates, 3 steps.
//! # let dir = tempfile::tempdir()?;
//! # std::env::set_current_dir(dir.path())?;
//! # let yaml = "stages:\n  - name: three_point\n    kind: three_point\n    params: {steps: 3}\n    sweep: {lambda: [1.0, 0.2]}\n";
//! # let plan = wgf::pipeline::plan::plan(&wgf::pipeline::spec::parse("pipeline.yaml".as_ref(), yaml)?)?;
//! # let store = wgf::pipeline::store::Store::new("results");
//! # let opts = wgf::pipeline::runner::RunOptions { jobs: 1, quiet: true, ..Default::default() };
//! # assert!(wgf::pipeline::runner::run(&plan, &store, &opts)?.ok());
//! let results = Results::open("results")?;
//! let stage = results.stage("three_point")?;
//! assert_eq!((stage.kind.as_str(), stage.tables.join(",")), ("three_point", "iterates,data".into()));
//!
//! // One table, every point of the stage's last complete run stacked: a polars DataFrame.
//! let iterates: DataFrame = results.table("three_point", "iterates")?;
//! assert_eq!(iterates.height(), 2 * 4); // two learning rates, steps 0..=3
//! assert_eq!(iterates.column("step")?.dtype(), &DataType::UInt32);
//!
//! // The final loss per learning rate, with eager polars (polars deprecates its eager aggregations in favour of
//! // `lazy`, which this crate leaves out: README, Layout).
//! #[allow(deprecated)]
//! let last: DataFrame = iterates.group_by_stable(["lambda"])?.select(["loss"]).last()?;
//! assert_eq!(last.get_column_names(), ["lambda", "loss_last"]);
//!
//! // Parameters and key of each point, from its manifest.
//! let manifests = results.manifests("three_point")?;
//! assert_eq!(manifests[1].params["lambda"], 0.2);
//! assert_eq!(manifests[0].key, stage.record.points[0].key);
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::path::{Path, PathBuf};

use polars::prelude::DataFrame;

use crate::experiments::find_kind;
use crate::pipeline::key::Key;
use crate::pipeline::store::{stage_tables, CurrentRecord, Manifest, Store, StoreError};
// The column helpers live in the leaf module `tables` (experiments use them too); re-exported for notebooks.
pub use crate::tables::{column_f64, column_str, grid_spacing, StageTables};

#[derive(Debug, thiserror::Error)]
pub enum ResultsError {
    #[error("no results directory at {0}; run `wgf run` (or `make figures`) first")]
    NoResults(PathBuf),
    #[error("stage `{stage}` has no complete run in {dir}; run `wgf run {stage}` (stages with results: {known})")]
    NoStage { stage: String, dir: PathBuf, known: String },
    #[error("stage `{stage}` has no table `{table}`; its tables are: {known}")]
    NoTable { stage: String, table: String, known: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A stage's last complete run.
#[derive(Debug, Clone)]
pub struct StageInfo {
    pub name: String,
    pub kind: String,
    pub key: Key,
    pub tables: Vec<String>,
    pub record: CurrentRecord,
}

/// An open results directory.
pub struct Results {
    store: Store,
}

impl Results {
    pub fn open(dir: impl AsRef<Path>) -> Result<Results, ResultsError> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(ResultsError::NoResults(dir.to_path_buf()));
        }
        Ok(Results { store: Store::new(dir) })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Every stage with a complete run, by name.
    pub fn stages(&self) -> Result<Vec<StageInfo>, ResultsError> {
        let mut out = Vec::new();
        for name in self.store.stages()? {
            if let Some(record) = self.store.read_current(&name)? {
                out.push(info(record));
            }
        }
        Ok(out)
    }

    pub fn stage(&self, name: &str) -> Result<StageInfo, ResultsError> {
        match self.store.read_current(name)? {
            Some(record) => Ok(info(record)),
            None => Err(ResultsError::NoStage {
                stage: name.into(),
                dir: self.store.root().to_path_buf(),
                known: self.stages()?.iter().map(|s| s.name.clone()).collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// One table of a stage, all points stacked.
    pub fn table(&self, stage: &str, table: &str) -> Result<DataFrame, ResultsError> {
        let info = self.stage(stage)?;
        if !info.tables.iter().any(|t| t == table) {
            return Err(ResultsError::NoTable {
                stage: stage.into(),
                table: table.into(),
                known: info.tables.join(", "),
            });
        }
        let keys = point_keys(&info);
        Ok(stage_tables(&self.store, stage, &keys, &[table])?.remove(table).unwrap_or_default())
    }

    /// All tables of a stage.
    pub fn tables(&self, stage: &str) -> Result<StageTables, ResultsError> {
        let info = self.stage(stage)?;
        let names: Vec<&str> = info.tables.iter().map(String::as_str).collect();
        Ok(stage_tables(&self.store, stage, &point_keys(&info), &names)?)
    }

    /// The verified manifests of a stage's points (parameters, keys, times).
    pub fn manifests(&self, stage: &str) -> Result<Vec<Manifest>, ResultsError> {
        let info = self.stage(stage)?;
        let mut out = Vec::new();
        for key in point_keys(&info) {
            match self.store.read_entry(stage, &key)? {
                Some(m) => out.push(m),
                None => {
                    return Err(StoreError::Corrupt {
                        path: self.store.entry_dir(stage, &key),
                        problem: "entry listed in current.json is missing".into(),
                    }
                    .into())
                }
            }
        }
        Ok(out)
    }
}

fn point_keys(info: &StageInfo) -> Vec<Key> {
    info.record.points.iter().map(|p| p.key.clone()).collect()
}

fn info(record: CurrentRecord) -> StageInfo {
    let tables =
        find_kind(&record.kind).map(|k| k.table_names().iter().map(|t| t.to_string()).collect()).unwrap_or_default();
    StageInfo { name: record.stage.clone(), kind: record.kind.clone(), key: record.stage_key.clone(), tables, record }
}
