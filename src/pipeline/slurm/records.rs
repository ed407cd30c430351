//! Failure records: one JSON file per point that failed inside an array task, so the submitting side (which may
//! have gone away, `--no-wait`) and `wgf status` can say what failed, with which parameters, where the log is.

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::plan_file::SubmissionDir;
use crate::pipeline::key::Key;
use crate::pipeline::store::{write_atomic, StoreResult};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailureRecord {
    pub stage: String,
    pub label: String,
    pub key: Key,
    pub params: Value,
    pub message: String,
    pub job_id: String,
    pub task_id: String,
    pub log: PathBuf,
    pub host: String,
    pub unix: f64,
}

impl FailureRecord {
    /// One line for summaries and `wgf status`.
    pub fn describe(&self) -> String {
        format!("{} (Slurm job {}_{}, log {})", self.message, self.job_id, self.task_id, self.log.display())
    }
}

impl SubmissionDir {
    pub fn write_failure(&self, record: &FailureRecord) -> StoreResult<()> {
        let path = self.failures(&record.stage).join(format!("{}.json", record.key.as_str()));
        write_atomic(&path, &serde_json::to_vec_pretty(record).expect("record serialises"))
    }

    /// The failure records of one stage (unreadable files are skipped: a record is advice, not data).
    pub fn read_failures(&self, stage: &str) -> Vec<FailureRecord> {
        let Ok(entries) = fs::read_dir(self.failures(stage)) else { return Vec::new() };
        let mut out: Vec<FailureRecord> = entries
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect();
        out.sort_by(|a, b| a.label.cmp(&b.label));
        out
    }
}
