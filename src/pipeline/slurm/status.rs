//! `wgf status` for points handed to Slurm: queued, running or failed (with the failure record), from the newest
//! submission that computes each stale point.

use super::plan_file::{submissions, Jobs, Submission, SubmissionDir};
use super::queue::{self, QueueSnapshot, TaskState};
use crate::pipeline::status::{PointState, StageStatus};
use crate::pipeline::store::Store;

/// Rewrites the reason of every stale point that a Slurm submission computes. Returns a warning when squeue
/// cannot be asked (queue states are then unknown; failure records are still shown).
pub fn annotate(store: &Store, stages: &mut [StageStatus]) -> Option<String> {
    let stale = stages.iter().any(|s| s.points.iter().any(|(_, state)| *state != PointState::Cached));
    if !stale {
        return None;
    }
    let subs: Vec<(SubmissionDir, Submission, Jobs)> =
        submissions(store).into_iter().filter_map(|(d, s)| d.read_jobs().map(|j| (d, s, j))).collect();
    if subs.is_empty() {
        return None;
    }
    let ids: Vec<String> = subs.iter().flat_map(|(_, _, j)| j.stages.values().cloned()).collect();
    let (snapshot, warning) = match queue::query(&ids) {
        Ok(s) => (s, None),
        Err(e) => (QueueSnapshot::new(), Some(format!("cannot ask Slurm for job states ({e})"))),
    };
    for stage in stages.iter_mut() {
        for (i, (_, state)) in stage.points.iter_mut().enumerate() {
            if *state == PointState::Cached {
                continue;
            }
            if let Some(why) = slurm_state(&subs, &snapshot, &stage.name, &stage.keys[i]) {
                *state = PointState::Stale(why);
            }
        }
    }
    warning
}

fn slurm_state(
    subs: &[(SubmissionDir, Submission, Jobs)],
    snapshot: &QueueSnapshot,
    stage: &str,
    key: &crate::pipeline::key::Key,
) -> Option<String> {
    for (dir, sub, jobs) in subs {
        let Some(st) = sub.stage(stage) else { continue };
        let Some(index) = st.points.iter().position(|p| &p.key == key) else { continue };
        let Some(task) = st.task_of(index) else { continue };
        let job = jobs.stages.get(stage)?;
        return Some(match snapshot.get(&(job.clone(), task)) {
            Some(TaskState::Queued { reason }) => format!("queued in Slurm job {job} ({reason})"),
            Some(TaskState::Running) => format!("running in Slurm job {job}"),
            _ => match dir.read_failures(stage).into_iter().find(|r| &r.key == key) {
                Some(r) => format!("failed in Slurm: {}", r.describe()),
                None => match snapshot.get(&(job.clone(), task)) {
                    Some(TaskState::Ended(s)) => format!(
                        "Slurm task {job}_{task} ended {s} (log {})",
                        dir.log(stage, job, &task.to_string()).display()
                    ),
                    _ => continue,
                },
            },
        });
    }
    None
}
