//! Malformed pipelines and CLI calls: each gives one clear error naming the place and the problem, exits
//! non-zero, and writes nothing.

mod common;
use common::{text, Project};

/// (what is wrong, pipeline text, expected line, words the message must contain)
const CASES: &[(&str, &str, usize, &[&str])] = &[
    ("yaml syntax", "stages:\n  - name: a\n    kind: [three_point\n", 4, &["YAML syntax"]),
    ("tab indentation", "stages:\n\t- name: a\n", 2, &["YAML syntax"]),
    ("unknown stage key", "stages:\n  - name: a\n    kind: three_point\n    sweeep: {lambda: [1.0]}\n", 4, &["unknown field `sweeep`", "did you mean `sweep`"]),
    ("unknown param", "stages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 3, stpes: 4}\n", 4, &["unknown field `stpes`", "did you mean `steps`"]),
    ("wrong type", "stages:\n  - name: a\n    kind: three_point\n    params:\n      lambda: 1.0\n      steps: many\n", 6, &["steps", "wrong type", "u32"]),
    ("negative size", "stages:\n  - name: a\n    kind: three_point\n    params:\n      lambda: 1.0\n      steps: -3\n", 6, &["steps"]),
    ("zero size", "stages:\n  - name: a\n    kind: three_point\n    params:\n      lambda: 1.0\n      steps: 0\n", 6, &["steps", "at least 1"]),
    ("non-positive step", "stages:\n  - name: a\n    kind: three_point\n    params: {steps: 3}\n    sweep:\n      lambda: [1.0, -0.5]\n", 6, &["lambda", "> 0", "-0.5"]),
    ("unknown kind", "stages:\n  - name: a\n    kind: three_pont\n", 3, &["unknown stage kind `three_pont`", "did you mean `three_point`"]),
    ("missing input", "stages:\n  - name: s\n    kind: three_point_summary\n    inputs: [three]\n    params: {source: three}\n", 4, &["no stage named `three`"]),
    ("cycle", "stages:\n  - name: a\n    kind: three_point_summary\n    inputs: [b]\n    params: {source: b}\n  - name: b\n    kind: three_point_summary\n    inputs: [a]\n    params: {source: a}\n", 4, &["cycle", "a → b"]),
    ("duplicate name", "stages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n", 5, &["duplicate stage name `a`"]),
    ("empty sweep", "stages:\n  - name: a\n    kind: three_point\n    params: {steps: 3}\n    sweep:\n      lambda: []\n", 6, &["empty"]),
    ("non-finite number", "stages:\n  - name: a\n    kind: three_point\n    params:\n      steps: 3\n      lambda: .nan\n", 6, &["not a finite number"]),
    ("infinite number", "stages:\n  - name: a\n    kind: three_point\n    params:\n      steps: 3\n      lambda: .inf\n", 6, &["not a finite number"]),
    ("missing parameter", "stages:\n  - name: a\n    kind: three_point\n    params:\n      steps: 3\n", 4, &["missing field `lambda`"]),
    ("duplicate key", "stages:\n  - name: a\n    kind: three_point\n    kind: three_point\n", 4, &["duplicate key `kind`"]),
    ("no stages", "steps: 3\n", 1, &["stages"]),
    ("bad stage name", "stages:\n  - name: ../evil\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n", 2, &["stage name"]),
    ("sweep not a list", "stages:\n  - name: a\n    kind: three_point\n    params: {steps: 2}\n    sweep:\n      lambda: 0.5\n", 6, &["must be a list"]),
    ("both param and sweep", "stages:\n  - name: a\n    kind: three_point\n    params: {steps: 2, lambda: 1.0}\n    sweep:\n      lambda: [0.5]\n", 6, &["both params and sweep"]),
    ("absurd sweep", "stages:\n  - name: a\n    kind: three_point\n    params: {steps: 2}\n    sweep:\n      lambda: [1,2,3,4,5,6,7,8,9,10]\n      w0: [[0,1],[0,1],[0,1],[0,1],[0,1],[0,1],[0,1],[0,1],[0,1],[0,1]]\n      slope: [1,2,3,4,5,6,7,8,9,10]\n      loss_norm: [mse, half_mse, mse, half_mse, mse, half_mse, mse, half_mse, mse, half_mse]\n      steps_x: [1,2,3,4,5,6,7,8,9,10,11]\n", 5, &["more than 100000 points"]),
    ("grid too large for memory", "stages:\n  - name: g\n    kind: grid_jko\n    params:\n      n_w: 100000\n      n_b: 100000\n      eps: 0.01\n      tau: 0.1\n      steps: 2\n", 5, &["GB", "at most"]),
    ("particles too large for memory", "stages:\n  - name: p\n    kind: prox_sweep\n    params: {gamma: 1.0, distance: frobenius, seed: 0, m: 4000000000, steps: 10}\n", 4, &["GB", "reduce m"]),
    ("slurm time limit", "slurm:\n  time_limit: 2h\nstages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n", 2, &["time_limit", "not a Slurm time limit", "01:30:00"]),
    ("slurm option typo", "slurm:\n  partiton: long\nstages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n", 2, &["unknown field `partiton`", "did you mean `partition`"]),
    ("slurm zero cpus in a stage", "stages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n    slurm:\n      cpus_per_task: 0\n", 6, &["cpus_per_task", "at least 1"]),
    ("slurm negative points per task", "slurm:\n  points_per_task: -2\nstages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n", 2, &["points_per_task"]),
    ("slurm reserved sbatch arg", "slurm:\n  sbatch_args: [\"--array=0-9\"]\nstages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n", 2, &["--array", "set by wgf itself"]),
    ("unknown executor", "executor: slurmm\nstages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n", 1, &["unknown variant `slurmm`", "did you mean `slurm`"]),
    ("unknown enum value", "stages:\n  - name: p\n    kind: prox_sweep\n    params: {gamma: 1.0, seed: 0}\n    sweep:\n      distance: [frobenius, wasserstien]\n", 6, &["unknown variant `wasserstien`", "did you mean `wasserstein`"]),
];

#[test]
fn malformed_pipelines_are_refused_with_line_and_problem() {
    assert!(CASES.len() >= 20);
    for (what, yaml, line, words) in CASES {
        let p = Project::new(yaml);
        let out = p.wgf(&["run"]);
        let msg = text(&out);
        assert_eq!(out.status.code(), Some(2), "{what}: exit code\n{msg}");
        assert!(msg.contains(&format!("pipeline.yaml:{line}:")), "{what}: expected line {line} in\n{msg}");
        for w in *words {
            assert!(msg.contains(w), "{what}: expected `{w}` in\n{msg}");
        }
        assert!(!msg.contains("panicked") && !msg.contains("RUST_BACKTRACE"), "{what}: panic\n{msg}");
        assert!(!p.results().exists(), "{what}: nothing may be written");
        // status and dag validate the same way
        assert_eq!(p.wgf(&["status"]).status.code(), Some(2), "{what}: status");
    }
}

#[test]
fn bad_cli_calls_are_refused() {
    let p = Project::new(common::SMALL);
    let unknown = p.wgf(&["run", "three_pint"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown).contains("no stage named `three_pint`") && text(&unknown).contains("did you mean `three_point`")
    );
    assert!(!p.results().exists());
    assert_ne!(p.wgf(&["run", "--jobs", "0"]).status.code(), Some(0));
    assert_ne!(p.wgf(&["run", "--jobs", "-2"]).status.code(), Some(0));
    let missing = p.wgf(&["--pipeline", "nope.yaml", "status"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("nope.yaml") && text(&missing).contains("not found"));
    std::fs::write(p.path().join("afile"), "x").unwrap();
    let not_a_dir = p.wgf(&["--results", "afile", "run"]);
    assert_eq!(not_a_dir.status.code(), Some(2));
    assert!(text(&not_a_dir).contains("afile") && !text(&not_a_dir).contains("panicked"), "{}", text(&not_a_dir));
    let no_results = p.wgf(&["figures"]);
    assert_eq!(no_results.status.code(), Some(2));
    assert!(text(&no_results).contains("run `wgf run`"));
}

#[test]
fn dry_run_writes_nothing() {
    let p = Project::new(common::SMALL);
    let out = p.wgf(&["run", "--dry-run"]);
    assert!(out.status.success());
    assert!(text(&out).contains("4 point(s) would run"), "{}", text(&out));
    assert!(!p.results().exists());
}
