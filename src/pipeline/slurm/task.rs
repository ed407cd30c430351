//! One array task (`wgf slurm-task`, run by the sbatch script): computes its slice of the plan file's points and
//! writes them through the store. A failing point leaves a failure record and does not stop the others; a task
//! killed by Slurm leaves at most a temp dir, which no reader takes for an entry.

use std::path::Path;
use std::time::Instant;

use super::plan_file::{read_plan, SubmissionDir, SubmittedStage};
use super::records::FailureRecord;
use crate::experiments::{find_kind, Kind, StageTables};
use crate::pipeline::plan::Point;
use crate::pipeline::runner::{compute_and_store, input_tables, parallel_map};
use crate::pipeline::store::{now_unix, Store};
use std::collections::BTreeMap;

/// What one task did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskOutcome {
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
}

/// Where in Slurm this task runs: from SLURM_ARRAY_JOB_ID / SLURM_ARRAY_TASK_ID unless given.
pub struct TaskId {
    pub job: String,
    pub task: usize,
}

impl TaskId {
    pub fn from_env(task: Option<usize>) -> Result<TaskId, String> {
        let job = std::env::var("SLURM_ARRAY_JOB_ID").unwrap_or_else(|_| "local".into());
        let task = match task {
            Some(t) => t,
            None => std::env::var("SLURM_ARRAY_TASK_ID")
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or("no --task given and SLURM_ARRAY_TASK_ID is not set: this command is run by Slurm")?,
        };
        Ok(TaskId { job, task })
    }
}

pub fn run_task(store: &Store, plan_file: &Path, stage_name: &str, id: &TaskId) -> Result<TaskOutcome, String> {
    if !crate::pipeline::store::valid_stage_name(stage_name) {
        return Err(format!("`{stage_name}` is not a stage name; the plan file {} is damaged", plan_file.display()));
    }
    let submission = read_plan(plan_file)?;
    let dir = SubmissionDir { dir: plan_file.parent().unwrap_or(Path::new(".")).to_path_buf() };
    let stage = submission
        .stage(stage_name)
        .ok_or_else(|| format!("the plan file {} has no stage `{stage_name}`", plan_file.display()))?;
    let points = stage.task_points(id.task);
    if points.is_empty() {
        return Err(format!("stage `{stage_name}` has {} task(s); there is no task {}", stage.tasks(), id.task));
    }
    let fail_all = |message: &str| {
        for p in &points {
            record_failure(&dir, stage, p, id, message);
        }
        TaskOutcome { failed: points.len(), ..Default::default() }
    };
    let kind = match submission.check_source().and_then(|()| stage.verified_kind()) {
        Ok(k) => k,
        Err(message) => return Ok(fail_all(&message)),
    };
    let inputs = match load_inputs(store, stage, kind.input_tables) {
        Ok(i) => i,
        Err(message) => return Ok(fail_all(&format!("cannot load the input tables: {message}"))),
    };
    let results =
        parallel_map(&points, stage.options.cpus_per_task(), |p| compute_one(store, &dir, stage, kind, p, &inputs, id));
    let mut outcome = TaskOutcome::default();
    for r in results {
        match r {
            PointResult::Ran => outcome.ran += 1,
            PointResult::Cached => outcome.cached += 1,
            PointResult::Failed => outcome.failed += 1,
        }
    }
    record_current_if_complete(store, stage, kind);
    Ok(outcome)
}

enum PointResult {
    Ran,
    Cached,
    Failed,
}

fn compute_one(
    store: &Store,
    dir: &SubmissionDir,
    stage: &SubmittedStage,
    kind: &'static Kind,
    point: &Point,
    inputs: &BTreeMap<String, StageTables>,
    id: &TaskId,
) -> PointResult {
    let label = point.label();
    // A rerun after cancellation may find the point already done by an earlier task.
    if let Ok(Some(_)) = store.read_complete_entry(&stage.name, &point.key, &kind.table_names()) {
        println!("{} {label}: cached", stage.name);
        return PointResult::Cached;
    }
    let clock = Instant::now();
    match compute_and_store(store, &stage.name, kind, point, &stage.input_keys, inputs, &|_| {}) {
        Ok(()) => {
            println!("{} {label}: done in {:.2} s", stage.name, clock.elapsed().as_secs_f64());
            PointResult::Ran
        }
        Err(message) => {
            println!("{} {label}: FAILED: {message}", stage.name);
            record_failure(dir, stage, point, id, &message);
            PointResult::Failed
        }
    }
}

fn load_inputs(
    store: &Store,
    stage: &SubmittedStage,
    wanted: &[&str],
) -> Result<BTreeMap<String, StageTables>, String> {
    let mut upstream = Vec::new();
    for (name, input) in &stage.input_points {
        let kind = find_kind(&input.kind).ok_or_else(|| format!("this wgf has no stage kind `{}`", input.kind))?;
        upstream.push((name.clone(), kind, input.keys.clone()));
    }
    input_tables(store, upstream, wanted).map_err(|e| e.to_string())
}

fn record_failure(dir: &SubmissionDir, stage: &SubmittedStage, point: &Point, id: &TaskId, message: &str) {
    let record = FailureRecord {
        stage: stage.name.clone(),
        label: point.label(),
        key: point.key.clone(),
        params: point.params.clone(),
        message: message.to_string(),
        job_id: id.job.clone(),
        task_id: id.task.to_string(),
        log: dir.log(&stage.name, &id.job, &id.task.to_string()),
        host: hostname(),
        unix: now_unix(),
    };
    if let Err(e) = dir.write_failure(&record) {
        eprintln!("warning: cannot write the failure record of {} {}: {e}", stage.name, point.label());
    }
}

/// The last task to finish a stage records it as the stage's current run (identical bytes if two race).
fn record_current_if_complete(store: &Store, stage: &SubmittedStage, kind: &Kind) {
    let complete = stage
        .points
        .iter()
        .all(|p| matches!(store.read_complete_entry(&stage.name, &p.key, &kind.table_names()), Ok(Some(_))));
    if complete {
        if let Err(e) = store.write_current(&stage.current_record(kind)) {
            eprintln!("warning: cannot record the completed stage {}: {e}", stage.name);
        }
    }
}

fn hostname() -> String {
    std::env::var("SLURMD_NODENAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string()))
        .unwrap_or_default()
}
