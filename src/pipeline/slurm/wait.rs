//! Follows a submission until no task is queued or running, showing points done / queued / running / failed from
//! squeue and the store, then turns what the store holds into the runner's summary.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::queue::{self, QueueSnapshot, TaskState};
use super::submission::{Jobs, Submission, SubmissionDir, SubmittedStage};
use super::SlurmError;
use crate::experiments::find_kind;
use crate::pipeline::runner::{Failure, Summary};
use crate::pipeline::store::{Store, StoreError, MANIFEST};

/// Point counts of one poll.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    pub running: usize,
    pub queued: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{} done, {} running, {} queued, {} failed",
            self.done, self.total, self.running, self.queued, self.failed
        )
    }
}

pub fn wait(
    store: &Store,
    dir: &SubmissionDir,
    submission: &Submission,
    jobs: &Jobs,
    quiet: bool,
) -> Result<Summary, SlurmError> {
    let start = Instant::now();
    let ids: Vec<String> = jobs.stages.values().cloned().collect();
    let total: usize = submission.stages.iter().map(|s| s.todo.len()).sum();
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| crate::pipeline::progress::points_bar(total));
    let poll =
        Duration::from_millis(std::env::var("WGF_SLURM_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000));
    let mut last = Counts::default();
    let snapshot = loop {
        let snapshot = queue::query(&ids)?;
        let counts = count(store, dir, submission, jobs, &snapshot);
        match &bar {
            Some(bar) => {
                bar.set_position((counts.done + counts.failed) as u64);
                bar.set_message(format!(
                    "slurm: {} running, {} queued, {} failed",
                    counts.running, counts.queued, counts.failed
                ));
            }
            None if !quiet && counts != last => eprintln!("slurm: {counts}"),
            None => {}
        }
        last = counts;
        if !snapshot.values().any(TaskState::active) {
            break snapshot;
        }
        std::thread::sleep(poll);
    };
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut summary = summarise(store, dir, submission, jobs, &snapshot)?;
    summary.wall_seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

fn count(store: &Store, dir: &SubmissionDir, submission: &Submission, jobs: &Jobs, snapshot: &QueueSnapshot) -> Counts {
    let mut c = Counts::default();
    for stage in &submission.stages {
        let failed: Vec<_> = dir.read_failures(&stage.name).into_iter().map(|r| r.key).collect();
        for &i in &stage.todo {
            let point = &stage.points[i];
            c.total += 1;
            if store.entry_dir(&stage.name, &point.key).join(MANIFEST).exists() {
                c.done += 1;
            } else if failed.contains(&point.key) {
                c.failed += 1;
            } else {
                match task_state(stage, i, jobs, snapshot) {
                    Some(TaskState::Running) => c.running += 1,
                    Some(TaskState::Queued { .. }) => c.queued += 1,
                    _ => {}
                }
            }
        }
    }
    c
}

fn task_state<'a>(
    stage: &SubmittedStage,
    index: usize,
    jobs: &Jobs,
    snapshot: &'a QueueSnapshot,
) -> Option<&'a TaskState> {
    let job = jobs.stages.get(&stage.name)?;
    snapshot.get(&(job.clone(), stage.task_of(index)?))
}

/// Verified entries are the truth; a point without one is explained by its failure record, else by its task's
/// final state (cancelled, timed out, …) or, for a stage whose inputs failed, counted as skipped.
pub fn summarise(
    store: &Store,
    dir: &SubmissionDir,
    submission: &Submission,
    jobs: &Jobs,
    snapshot: &QueueSnapshot,
) -> Result<Summary, SlurmError> {
    let mut summary = Summary::default();
    let mut incomplete: Vec<&str> = Vec::new();
    for stage in &submission.stages {
        let kind = find_kind(&stage.kind).ok_or_else(|| SlurmError::Plan(format!("unknown kind {}", stage.kind)))?;
        let records = dir.read_failures(&stage.name);
        let inputs_failed = stage.input_keys.keys().any(|n| incomplete.contains(&n.as_str()));
        let mut complete = true;
        for &i in &stage.todo {
            let point = &stage.points[i];
            let message = match store.read_complete_entry(&stage.name, &point.key, &kind.table_names()) {
                Ok(Some(m)) => {
                    summary.ran += 1;
                    summary.seconds_running += m.wall_seconds;
                    continue;
                }
                Err(StoreError::Corrupt { path, problem }) => format!("{}: {problem}", path.display()),
                Err(e) => return Err(e.into()),
                Ok(None) if inputs_failed => {
                    complete = false;
                    summary.skipped += 1;
                    continue;
                }
                Ok(None) => match records.iter().find(|r| r.key == point.key) {
                    Some(r) => r.describe(),
                    None => lost_point(stage, i, jobs, snapshot, dir),
                },
            };
            complete = false;
            summary.failed.push(Failure {
                stage: stage.name.clone(),
                label: point.label(),
                params: point.params.clone(),
                message,
            });
        }
        if complete {
            store.write_current(&stage.current_record(kind))?;
        } else {
            incomplete.push(&stage.name);
        }
    }
    Ok(summary)
}

fn lost_point(
    stage: &SubmittedStage,
    index: usize,
    jobs: &Jobs,
    snapshot: &QueueSnapshot,
    dir: &SubmissionDir,
) -> String {
    let job = jobs.stages.get(&stage.name).cloned().unwrap_or_default();
    let task = stage.task_of(index).unwrap_or(0);
    let log = dir.log(&stage.name, &job, &task.to_string());
    let state = match snapshot.get(&(job.clone(), task)) {
        Some(TaskState::Ended(s)) => format!("ended {s}"),
        Some(TaskState::Completed) => "completed without writing it".into(),
        _ => "is no longer known to Slurm".into(),
    };
    format!(
        "Slurm task {job}_{task} {state} before this point was stored (log {}); run again to resubmit it",
        log.display()
    )
}
