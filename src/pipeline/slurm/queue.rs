//! Array task states from `squeue` (no accounting database needed). Finished tasks stay visible for Slurm's
//! MinJobAge (300 s by default); after that the store and the failure records tell what happened.

use std::collections::BTreeMap;
use std::process::Command;

use super::SlurmError;

/// What a task is doing, from its Slurm job state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskState {
    Queued {
        reason: String,
    },
    Running,
    Completed,
    /// FAILED, CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, …: the raw Slurm state, with Slurm's reason.
    Ended(String),
}

impl TaskState {
    pub fn from_slurm(state: &str, reason: &str) -> TaskState {
        match state {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESIZING" => {
                TaskState::Queued { reason: reason.to_string() }
            }
            "RUNNING" | "COMPLETING" | "STAGE_OUT" | "SIGNALING" | "SUSPENDED" | "STOPPED" => TaskState::Running,
            "COMPLETED" => TaskState::Completed,
            other if reason == "DependencyNeverSatisfied" => {
                TaskState::Ended(format!("{other} because an input stage failed"))
            }
            other => TaskState::Ended(other.to_string()),
        }
    }

    pub fn active(&self) -> bool {
        matches!(self, TaskState::Queued { .. } | TaskState::Running)
    }
}

/// (array job id, task index) → state.
pub type QueueSnapshot = BTreeMap<(String, usize), TaskState>;

/// One squeue call for all the given array jobs.
pub fn query(job_ids: &[String]) -> Result<QueueSnapshot, SlurmError> {
    if job_ids.is_empty() {
        return Ok(QueueSnapshot::new());
    }
    let jobs = job_ids.join(",");
    let args = ["-h", "-r", "-t", "all", "-j", &jobs, "-o", "%i %T %r"];
    let out = Command::new("squeue")
        .args(args)
        .output()
        .map_err(|e| SlurmError::Command { command: "squeue".into(), problem: e.to_string() })?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // Jobs older than MinJobAge are forgotten by slurmctld: that is "nothing to report", not an error.
        if stderr.contains("Invalid job id") {
            return Ok(QueueSnapshot::new());
        }
        // Slurm's clients print a chain of lines; the last one says what finally went wrong.
        let last = stderr.trim().lines().last().unwrap_or("").to_string();
        return Err(SlurmError::Refused { command: format!("squeue {}", args.join(" ")), stderr: last });
    }
    Ok(parse(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `%i %T %r` lines: `12_3 RUNNING None`, or an unexpanded `12_[4-6,9%2] PENDING Dependency`.
pub fn parse(text: &str) -> QueueSnapshot {
    let mut out = QueueSnapshot::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let (Some(id), Some(state)) = (fields.next(), fields.next()) else { continue };
        let reason = fields.collect::<Vec<_>>().join(" ");
        let Some((job, tasks)) = id.split_once('_') else { continue };
        for task in task_indexes(tasks) {
            out.insert((job.to_string(), task), TaskState::from_slurm(state, &reason));
        }
    }
    out
}

fn task_indexes(spec: &str) -> Vec<usize> {
    let inner = spec.trim_start_matches('[').trim_end_matches(']');
    let inner = inner.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in inner.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend(a..=b);
                }
            }
            None => out.extend(part.parse::<usize>().ok()),
        }
    }
    out
}

/// Cancels whole jobs (used when a later sbatch of the same submission fails).
pub fn cancel(job_ids: &[String]) {
    if !job_ids.is_empty() {
        let _ = Command::new("scancel").args(job_ids).output();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expanded_and_bracketed_array_lines() {
        let s = parse("12_0 COMPLETED None\n12_1 RUNNING None\n12_[2-4,7%2] PENDING Resources\n13_0 CANCELLED DependencyNeverSatisfied\njunk\n");
        assert_eq!(s.len(), 7);
        assert_eq!(s[&("12".into(), 0)], TaskState::Completed);
        assert_eq!(s[&("12".into(), 1)], TaskState::Running);
        assert_eq!(s[&("12".into(), 7)], TaskState::Queued { reason: "Resources".into() });
        assert!(s.contains_key(&("12".into(), 3)) && !s.contains_key(&("12".into(), 5)));
        assert_eq!(s[&("13".into(), 0)], TaskState::Ended("CANCELLED because an input stage failed".into()));
        assert!(!TaskState::Ended("TIMEOUT".into()).active() && TaskState::Running.active());
    }
}
