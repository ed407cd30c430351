//! The immutable plan file of one Slurm submission: exactly which points each array task computes, with their
//! resolved parameters and keys, so that editing pipeline.yaml while jobs are queued changes nothing they do.
//!
//! Layout: `results/.slurm/<id>/` holds `plan.json`, one `<stage>.sbatch` per stage, `jobs.json` (the job ids),
//! `logs/` (one file per array task) and `failures/<stage>/<key>.json` (one record per failed point).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::options::SlurmOptions;
use super::SlurmError;
use crate::experiments::{find_kind, Kind};
use crate::pipeline::key::{point_key, Key, SOURCE_HASH};
use crate::pipeline::plan::{PlannedStage, Point};
use crate::pipeline::runner::record_of;
use crate::pipeline::store::{now_unix, write_atomic, CurrentRecord, Store};

pub const SLURM_DIR: &str = ".slurm";
pub const PLAN_FILE: &str = "plan.json";
pub const JOBS_FILE: &str = "jobs.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    pub id: String,
    pub created_unix: f64,
    pub pipeline: PathBuf,
    pub crate_version: String,
    /// The source hash of the submitting binary; a task run by a binary built from other sources refuses to run.
    pub source: String,
    /// In topological order.
    pub stages: Vec<SubmittedStage>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmittedStage {
    pub name: String,
    pub kind: String,
    pub version: u32,
    pub stage_key: Key,
    pub input_keys: BTreeMap<String, Key>,
    /// Every input stage's kind and point keys in plan order: the tasks load their input tables from these.
    pub input_points: BTreeMap<String, InputStage>,
    /// Every point of the stage (the complete set makes up `current.json`).
    pub points: Vec<Point>,
    /// Indexes into `points` of those to compute, split into array tasks of `options.points_per_task()`.
    pub todo: Vec<usize>,
    pub options: SlurmOptions,
}

impl SubmittedStage {
    pub fn new(stage: &PlannedStage, input_points: BTreeMap<String, InputStage>, todo: Vec<usize>) -> SubmittedStage {
        SubmittedStage {
            name: stage.name.clone(),
            kind: stage.kind.name.to_string(),
            version: stage.kind.version,
            stage_key: stage.key.clone(),
            input_keys: stage.input_keys.clone(),
            input_points,
            points: stage.points.clone(),
            todo,
            options: stage.slurm.clone(),
        }
    }

    pub fn tasks(&self) -> usize {
        self.todo.len().div_ceil(self.options.points_per_task())
    }

    /// The points array task `task` computes.
    pub fn task_points(&self, task: usize) -> Vec<&Point> {
        let per = self.options.points_per_task();
        self.todo.iter().skip(task * per).take(per).map(|&i| &self.points[i]).collect()
    }

    /// The task that computes point `index` (an index into `points`), if this submission computes it.
    pub fn task_of(&self, index: usize) -> Option<usize> {
        self.todo.iter().position(|&i| i == index).map(|pos| pos / self.options.points_per_task())
    }

    /// The kind this binary runs for the stage, refusing a plan made by a different algorithm version or whose
    /// keys do not match its parameters (a hand-edited or damaged plan file).
    pub fn verified_kind(&self) -> Result<&'static Kind, String> {
        let kind = find_kind(&self.kind).ok_or_else(|| format!("this wgf has no stage kind `{}`", self.kind))?;
        if kind.version != self.version {
            return Err(format!(
                "stage `{}`: the plan was made for {} version {}, this wgf binary has version {}; \
                 resubmit with this binary (`wgf run --executor slurm`)",
                self.name, self.kind, self.version, kind.version
            ));
        }
        for p in &self.points {
            if point_key(kind.name, kind.version, &p.params, &self.input_keys) != p.key {
                return Err(format!(
                    "stage `{}`: point {} does not match its key; the plan file was altered",
                    self.name,
                    p.label()
                ));
            }
        }
        Ok(kind)
    }

    /// The stage's record once every point is stored; `verified_kind` has checked the kind and version.
    pub fn current_record(&self, kind: &Kind) -> CurrentRecord {
        record_of(&self.name, kind, &self.stage_key, &self.input_keys, &self.points)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InputStage {
    pub kind: String,
    pub keys: Vec<Key>,
}

impl InputStage {
    pub fn of(stage: &PlannedStage) -> InputStage {
        InputStage { kind: stage.kind.name.to_string(), keys: stage.points.iter().map(|p| p.key.clone()).collect() }
    }
}

/// The job id of each submitted stage's array.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Jobs {
    pub stages: BTreeMap<String, String>,
}

impl Submission {
    pub fn new(pipeline: &Path, stages: Vec<SubmittedStage>) -> Submission {
        let now = now_unix();
        Submission {
            id: format!("{:.0}-{}", now, std::process::id()),
            created_unix: now,
            pipeline: pipeline.to_path_buf(),
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            source: SOURCE_HASH.to_string(),
            stages,
        }
    }

    pub fn stage(&self, name: &str) -> Option<&SubmittedStage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// Refuses a plan submitted by a wgf built from other sources: its keys would name other results.
    pub fn check_source(&self) -> Result<(), String> {
        if self.source == SOURCE_HASH {
            return Ok(());
        }
        Err(format!(
            "this wgf binary was built from other sources (source hash {SOURCE_HASH}) than the one that submitted \
             the plan ({}); rebuild it, or submit again with this binary",
            self.source
        ))
    }
}

/// Where one submission's files live.
#[derive(Debug, Clone)]
pub struct SubmissionDir {
    pub dir: PathBuf,
}

impl SubmissionDir {
    pub fn new(store: &Store, id: &str) -> SubmissionDir {
        SubmissionDir { dir: store.root().join(SLURM_DIR).join(id) }
    }

    pub fn plan_file(&self) -> PathBuf {
        self.dir.join(PLAN_FILE)
    }

    pub fn script(&self, stage: &str) -> PathBuf {
        self.dir.join(format!("{stage}.sbatch"))
    }

    pub fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// The log of one array task; `%A`/`%a` are Slurm's job and task placeholders.
    pub fn log(&self, stage: &str, job: &str, task: &str) -> PathBuf {
        self.logs().join(format!("{stage}-{job}_{task}.out"))
    }

    pub fn failures(&self, stage: &str) -> PathBuf {
        self.dir.join("failures").join(stage)
    }

    /// Writes the plan file once and makes it read-only: it is the contract with the queued tasks.
    pub fn write_plan(&self, submission: &Submission) -> Result<(), SlurmError> {
        fs::create_dir_all(self.logs()).map_err(|e| SlurmError::Plan(format!("{}: {e}", self.logs().display())))?;
        let json = serde_json::to_vec_pretty(submission).expect("plan serialises");
        write_atomic(&self.plan_file(), &json)?;
        let mut perms = fs::metadata(self.plan_file()).map_err(|e| SlurmError::Plan(e.to_string()))?.permissions();
        perms.set_readonly(true);
        let _ = fs::set_permissions(self.plan_file(), perms);
        Ok(())
    }

    pub fn read_plan(&self) -> Result<Submission, String> {
        read_plan(&self.plan_file())
    }

    pub fn write_jobs(&self, jobs: &Jobs) -> Result<(), SlurmError> {
        let json = serde_json::to_vec_pretty(jobs).expect("jobs serialise");
        Ok(write_atomic(&self.dir.join(JOBS_FILE), &json)?)
    }

    pub fn read_jobs(&self) -> Option<Jobs> {
        fs::read(self.dir.join(JOBS_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }
}

pub fn read_plan(file: &Path) -> Result<Submission, String> {
    let bytes = fs::read(file).map_err(|e| format!("cannot read the plan file {}: {e}", file.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("the plan file {} is damaged: {e}", file.display()))
}

/// Every submission under the results directory, newest first.
pub fn submissions(store: &Store) -> Vec<(SubmissionDir, Submission)> {
    let root = store.root().join(SLURM_DIR);
    let Ok(entries) = fs::read_dir(&root) else { return Vec::new() };
    let mut out: Vec<(SubmissionDir, Submission)> = entries
        .flatten()
        .map(|e| SubmissionDir { dir: e.path() })
        .filter_map(|d| d.read_plan().ok().map(|s| (d, s)))
        .collect();
    out.sort_by(|a, b| b.1.created_unix.total_cmp(&a.1.created_unix));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::plan::plan;
    use crate::pipeline::spec::parse;

    fn submission() -> Submission {
        let yaml = "stages:\n  - name: toy\n    kind: three_point\n    params: {steps: 2}\n    sweep:\n      lambda: [1.0, 0.5, 0.25]\n  - name: sum\n    kind: three_point_summary\n    inputs: [toy]\n    params: {source: toy}\n";
        let plan = plan(&parse(Path::new("p.yaml"), yaml).unwrap()).unwrap();
        let toy = SubmittedStage::new(&plan.stages[0], BTreeMap::new(), vec![0, 2]);
        let inputs = [("toy".to_string(), InputStage::of(&plan.stages[0]))].into();
        let sum = SubmittedStage::new(&plan.stages[1], inputs, vec![0]);
        Submission::new(Path::new("p.yaml"), vec![toy, sum])
    }

    #[test]
    fn plan_file_round_trips_read_only_and_lists_every_submission() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        let mut sub = submission();
        // A time whose shortest decimal form serde_json's default (fast, inexact) float parser reads back one ulp
        // off: the plan file needs its `float_roundtrip` feature (parameters are floats too).
        sub.created_unix = 1795541269.5828567;
        let dir = SubmissionDir::new(&store, &sub.id);
        dir.write_plan(&sub).unwrap();
        let back = dir.read_plan().unwrap();
        assert_eq!(serde_json::to_value(&back).unwrap(), serde_json::to_value(&sub).unwrap());
        assert_eq!(back.created_unix.to_bits(), sub.created_unix.to_bits());
        assert!(fs::metadata(dir.plan_file()).unwrap().permissions().readonly());
        let stage = back.stage("toy").unwrap();
        assert_eq!((stage.tasks(), stage.task_of(2), stage.task_of(1)), (2, Some(1), None));
        assert_eq!(stage.task_points(1)[0].key, stage.points[2].key);
        assert_eq!(back.stage("sum").unwrap().input_points["toy"].keys.len(), 3);
        assert_eq!(submissions(&store).len(), 1);
        assert!(back.check_source().is_ok());
    }

    #[test]
    fn a_plan_from_other_code_or_with_altered_parameters_is_refused() {
        let mut sub = submission();
        assert!(sub.stages[0].verified_kind().is_ok());
        sub.stages[0].points[1].params["steps"] = serde_json::json!(3);
        assert!(sub.stages[0].verified_kind().err().unwrap().contains("does not match its key"));
        sub.stages[1].version += 1;
        assert!(sub.stages[1].verified_kind().err().unwrap().contains("version"));
        sub.source = "0000".into();
        assert!(sub.check_source().unwrap_err().contains("other sources"));
    }
}
