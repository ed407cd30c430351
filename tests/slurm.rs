//! The Slurm executor against a real single-node Slurm (started by tests/slurm/run.sh, `make test-slurm`).
//! Ignored by a plain `cargo test`: they need the cluster, which the script provides and stops.

mod common;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{diverging_sweep_stage, files_under, pipeline, prox_claims_stage, prox_sweep_stage, text, Project};
use wgf::pipeline::store::Store;

/// 2 γ × 2 distances × 3 seeds of a reduced E4 sweep, batched 2 points per task, plus a consumer stage.
fn reduced_sweep() -> String {
    let slurm = "slurm:\n  time_limit: \"00:10:00\"\n  points_per_task: 2\n";
    pipeline(slurm, &[prox_sweep_stage(8, 3000, "1.0, 1.0e-3", "0, 1, 2"), prox_claims_stage("claims")])
}

fn require_cluster() {
    assert!(
        std::env::var_os("SLURM_CONF").is_some(),
        "these tests need a running Slurm: run them through `make test-slurm` (tests/slurm/run.sh)"
    );
}

/// Parquet files of every stage, except `timing` (wall-clock seconds: the one table that differs run to run).
fn tables(results: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(results)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet") && !f.ends_with("timing.parquet"))
        .filter(|f| !f.to_string_lossy().contains("/.tmp-"))
        .map(|f| (f.display().to_string(), std::fs::read(results.join(&f)).unwrap()))
        .collect()
}

fn local_reference(pipeline: &str) -> Vec<(String, Vec<u8>)> {
    let local = Project::new(pipeline);
    local.run(&[]);
    tables(&local.results())
}

fn squeue(args: &[&str]) -> String {
    let out = Command::new("squeue").args(args).output().expect("squeue");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Job ids printed by `wgf run --executor slurm` ("… as Slurm job 12 …").
fn job_ids(log: &str) -> Vec<String> {
    log.lines()
        .filter_map(|l| l.split(" as Slurm job ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Points submitted per stage ("submitted sweep: 4 point(s) …").
fn submitted(log: &str, stage: &str) -> usize {
    let prefix = format!("submitted {stage}: ");
    log.lines().find_map(|l| l.strip_prefix(&prefix)).map_or(0, |rest| rest.split(' ').next().unwrap().parse().unwrap())
}

#[test]
#[ignore = "needs a Slurm cluster: make test-slurm"]
fn a_sweep_through_slurm_equals_the_local_run_and_is_cached_after() {
    require_cluster();
    let p = Project::new(&reduced_sweep());
    let out = p.wgf(&["run", "--executor", "slurm"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert_eq!((submitted(&log, "sweep"), submitted(&log, "claims")), (12, 1), "{log}");
    assert_eq!(common::counts(&log).ran, 13, "{log}");
    let ours = tables(&p.results());
    assert_eq!(ours.len(), 12 * 2 + 3, "particles+steps per sweep point, three claims tables");
    assert!(ours == local_reference(&reduced_sweep()), "Slurm tables differ from the local run's");
    let again = p.wgf(&["run", "--executor", "slurm"]);
    let c = common::counts(&text(&again));
    assert_eq!((c.ran, c.cached), (0, 13), "{}", text(&again));
    assert!(!text(&again).contains("submitted"), "nothing to submit when cached");
    // The figures are drawn locally from what the tasks stored.
    let fig = p.wgf(&["figures"]);
    assert!(fig.status.success(), "{}", text(&fig));
}

#[test]
#[ignore = "needs a Slurm cluster: make test-slurm"]
fn dry_run_prints_the_scripts_and_submits_nothing() {
    require_cluster();
    let p = Project::new(&reduced_sweep());
    let before = squeue(&["-h", "-t", "all", "-o", "%i"]);
    let out = p.wgf(&["run", "--executor", "slurm", "--dry-run"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("#SBATCH --array=0-5") && log.contains("slurm-task --plan"), "{log}");
    assert_eq!(squeue(&["-h", "-t", "all", "-o", "%i"]), before, "the queue did not change");
    assert!(!p.results().join(".slurm").exists(), "a dry run writes no plan");
}

/// γ = 1e-4 points finish at once (exact cycle jump); γ = 1e-2 Wasserstein points take seconds.
const SLOW_AND_FAST: &str = "\
stages:
  - name: sweep
    kind: prox_sweep
    params: {m: 50, steps: 3, inner_iterations: 200000, distance: wasserstein}
    sweep:
      gamma: [1.0e-2, 1.0e-4]
      seed: [0, 1, 2, 3]
";

#[test]
#[ignore = "needs a Slurm cluster: make test-slurm"]
fn scancel_then_rerun_submits_only_the_missing_points() {
    require_cluster();
    let p = Project::new(SLOW_AND_FAST);
    let out = p.wgf(&["run", "--executor", "slurm", "--no-wait"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let jobs = job_ids(&log);
    let store = Store::new(p.results());
    let done = || store.entries("sweep").map(|(k, _)| k.len()).unwrap_or(0);
    let clock = Instant::now();
    while done() < 4 && clock.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = text(&p.wgf(&["status"]));
    assert!(status.contains("running in Slurm job"), "status shows running points\n{status}");
    assert!(Command::new("scancel").args(&jobs).status().unwrap().success());
    let clock = Instant::now();
    while !squeue(&["-h", "-j", &jobs.join(",")]).trim().is_empty() && clock.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let survivors = done();
    assert!((4..8).contains(&survivors), "the fast points finished, the slow ones were cancelled: {survivors}");
    for key in store.entries("sweep").unwrap().0 {
        assert!(store.read_complete_entry("sweep", &key, &["steps", "particles"]).unwrap().is_some(), "{key:?}");
    }
    let status = text(&p.wgf(&["status"]));
    assert!(status.contains("ended CANCELLED"), "status names the cancelled tasks\n{status}");

    let again = p.wgf(&["run", "--executor", "slurm"]);
    let log = text(&again);
    assert!(again.status.success(), "{log}");
    assert_eq!(submitted(&log, "sweep"), 8 - survivors, "only the missing points\n{log}");
    assert!(tables(&p.results()) == local_reference(SLOW_AND_FAST), "final tables equal an undisturbed local run");
}

#[test]
#[ignore = "needs a Slurm cluster: make test-slurm"]
fn a_failing_point_is_reported_with_its_slurm_task_and_the_others_complete() {
    require_cluster();
    let p =
        Project::new(&pipeline("", &[diverging_sweep_stage("", "      seed: [0, 1]\n"), prox_claims_stage("after")]));
    let out = p.wgf(&["run", "--executor", "slurm"]);
    let log = text(&out);
    assert_eq!(out.status.code(), Some(1), "{log}");
    let c = common::counts(&log);
    assert_eq!((c.ran, c.failed, c.skipped), (2, 2, 1), "{log}");
    for seed in ["0", "1"] {
        let label = format!("FAILED sweep [inner_step=50.0 seed={seed}]");
        let line = log.lines().find(|l| l.contains(&label)).unwrap_or_else(|| panic!("{label} missing\n{log}"));
        assert!(line.contains("Slurm job ") && line.contains("log /") && line.contains(".out"), "{line}");
        assert!(line.contains("non-finite"), "{line}");
    }
    assert!(log.contains("\"inner_step\":50.0"), "parameters are shown\n{log}");
    let status = text(&p.wgf(&["status"]));
    assert!(status.contains("failed in Slurm: ") && status.contains("inner_step=50.0"), "{status}");
    let record_log = log.split("log ").nth(1).unwrap().split(')').next().unwrap();
    let task_log = std::fs::read_to_string(record_log).expect("the named log exists");
    assert!(task_log.contains("FAILED"), "{task_log}");
}
