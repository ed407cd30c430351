//! Plans a Slurm submission from the pipeline plan and the store, writes its plan file and scripts, and submits
//! one job array per stage in topological order.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::Command;

use super::plan_file::{submissions, InputStage, Jobs, Submission, SubmissionDir, SubmittedStage};
use super::queue::{self, TaskState};
use super::script::{sbatch_args, sbatch_script, ScriptPaths};
use super::SlurmError;
use crate::pipeline::plan::{Plan, PlannedStage};
use crate::pipeline::runner::{current_record, missing_points, Summary};
use crate::pipeline::store::{write_atomic, Store};

#[derive(Debug, Clone, Default)]
pub struct SlurmRunOptions {
    pub stages: Vec<String>,
    pub dry_run: bool,
    pub force: bool,
}

pub enum Submitted {
    /// Every selected point is cached.
    Nothing {
        cached: usize,
    },
    /// `--dry-run`: the scripts that would be submitted, by stage; nothing was written or submitted.
    DryRun {
        cached: usize,
        scripts: Vec<(String, String)>,
    },
    Jobs {
        cached: usize,
        dir: SubmissionDir,
        submission: Submission,
        jobs: Jobs,
    },
}

pub fn submit(plan: &Plan, store: &Store, opts: &SlurmRunOptions) -> Result<Submitted, SlurmError> {
    refuse_if_active(store)?;
    let selected = plan.select(&opts.stages).map_err(SlurmError::Plan)?;
    let forced = |s: &PlannedStage| opts.force && (opts.stages.is_empty() || opts.stages.contains(&s.name));
    let mut counts = Summary::default();
    let mut stages = Vec::new();
    for stage in &selected {
        let todo = missing_points(store, stage, forced(stage), opts.dry_run, &mut counts)?;
        if todo.is_empty() {
            if !opts.dry_run {
                store.write_current(&current_record(stage))?;
            }
            continue;
        }
        let inputs = stage.inputs.iter().map(|n| (n.clone(), InputStage::of(plan.stage(n).expect("validated"))));
        stages.push(SubmittedStage::new(stage, inputs.collect(), todo));
    }
    if stages.is_empty() {
        return Ok(Submitted::Nothing { cached: counts.cached });
    }
    let submission = Submission::new(&plan.file, stages);
    let results = absolute(store.root())?;
    let dir = SubmissionDir::new(&Store::new(&results), &submission.id);
    let binary = std::env::current_exe().map_err(|e| SlurmError::Plan(format!("cannot locate the wgf binary: {e}")))?;
    let paths = ScriptPaths { binary: &binary, results: &results, dir: &dir };
    let scripts: Vec<(String, String)> =
        submission.stages.iter().map(|s| (s.name.clone(), sbatch_script(s, &paths))).collect();
    if opts.dry_run {
        return Ok(Submitted::DryRun { cached: counts.cached, scripts });
    }
    dir.write_plan(&submission)?;
    for (stage, text) in &scripts {
        write_atomic(&dir.script(stage), text.as_bytes())?;
    }
    let jobs = submit_arrays(&submission, &dir)?;
    dir.write_jobs(&jobs)?;
    Ok(Submitted::Jobs { cached: counts.cached, dir, submission, jobs })
}

/// sbatch per stage, each waiting (afterok) on the arrays of its inputs submitted here; on a refusal the arrays
/// already submitted are cancelled so no half-submission is left running.
fn submit_arrays(submission: &Submission, dir: &SubmissionDir) -> Result<Jobs, SlurmError> {
    let mut jobs = Jobs::default();
    let submitted_here: HashSet<&str> = submission.stages.iter().map(|s| s.name.as_str()).collect();
    for stage in &submission.stages {
        let deps: Vec<String> = stage
            .input_keys
            .keys()
            .filter(|n| submitted_here.contains(n.as_str()))
            .filter_map(|n| jobs.stages.get(n).cloned())
            .collect();
        let script = dir.script(&stage.name);
        let args = sbatch_args(&deps);
        let command = format!("sbatch {} {}", args.join(" "), script.display());
        let out = Command::new("sbatch").args(&args).arg(&script).output();
        let failure = match out {
            Ok(out) if out.status.success() => {
                let id = String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or("").to_string();
                if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) {
                    jobs.stages.insert(stage.name.clone(), id);
                    continue;
                }
                SlurmError::Refused {
                    command,
                    stderr: format!("unexpected output {:?}", String::from_utf8_lossy(&out.stdout)),
                }
            }
            Ok(out) => SlurmError::Refused { command, stderr: String::from_utf8_lossy(&out.stderr).trim().into() },
            Err(e) => SlurmError::Command { command: "sbatch".into(), problem: e.to_string() },
        };
        queue::cancel(&jobs.stages.values().cloned().collect::<Vec<_>>());
        return Err(failure);
    }
    Ok(jobs)
}

/// A second submission while the first still has queued or running tasks would compute the same points twice.
pub fn refuse_if_active(store: &Store) -> Result<(), SlurmError> {
    let earlier: Vec<(SubmissionDir, Jobs)> =
        submissions(store).into_iter().filter_map(|(d, _)| d.read_jobs().map(|j| (d, j))).collect();
    let ids: Vec<String> = earlier.iter().flat_map(|(_, j)| j.stages.values().cloned()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let snapshot = queue::query(&ids)?;
    let active: BTreeMap<&String, &TaskState> =
        snapshot.iter().filter(|(_, s)| s.active()).map(|((j, _), s)| (j, s)).collect();
    if active.is_empty() {
        return Ok(());
    }
    let jobs: Vec<&str> = active.keys().map(|j| j.as_str()).collect();
    Err(SlurmError::Plan(format!(
        "Slurm jobs of an earlier submission are still queued or running (job {}); `wgf status` shows their \
         progress. Wait for them, or cancel them with `scancel {}`, then run again: only missing points are submitted",
        jobs.join(", "),
        jobs.join(" ")
    )))
}

fn absolute(path: &std::path::Path) -> Result<PathBuf, SlurmError> {
    std::fs::create_dir_all(path).map_err(|e| SlurmError::Plan(format!("{}: {e}", path.display())))?;
    path.canonicalize().map_err(|e| SlurmError::Plan(format!("{}: {e}", path.display())))
}
