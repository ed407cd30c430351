//! Shared helpers for the integration tests: a temp project dir and the real `wgf` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Project {
    pub dir: tempfile::TempDir,
}

/// Counts from the runner's summary line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub ran: usize,
    pub cached: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Project {
    pub fn new(pipeline: &str) -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pipeline.yaml"), pipeline).expect("write pipeline");
        Project { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn results(&self) -> PathBuf {
        self.path().join("results")
    }

    pub fn write_pipeline(&self, text: &str) {
        std::fs::write(self.path().join("pipeline.yaml"), text).expect("write pipeline");
    }

    pub fn wgf(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_wgf")).current_dir(self.path()).args(args).output().expect("spawn wgf")
    }

    /// `wgf run ARGS`, which must succeed; returns the summary counts.
    pub fn run(&self, args: &[&str]) -> Counts {
        let out = self.wgf(&[&["run", "--quiet"], args].concat());
        assert!(out.status.success(), "wgf run failed:\n{}", text(&out));
        counts(&text(&out))
    }
}

pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

pub fn counts(output: &str) -> Counts {
    let line = output.lines().find(|l| l.starts_with("summary:")).unwrap_or_else(|| panic!("no summary in:\n{output}"));
    let num = |word: &str| -> usize {
        let after = line.split(word).nth(1).unwrap_or_else(|| panic!("no `{word}` in {line}"));
        after.trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    Counts { ran: num("ran "), cached: num("cached "), failed: num("failed "), skipped: num("skipped ") }
}

/// Every regular file under `dir`, relative, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out.sort();
    out
}

pub const SMALL: &str = "\
stages:
  - name: three_point
    kind: three_point
    params:
      steps: 5
    sweep:
      lambda: [1.0, 0.2, 0.05]
  - name: summary
    kind: three_point_summary
    inputs: [three_point]
    params:
      source: three_point
";

// Pipeline fixtures: the stages several test files write. (tests/bad_input.rs keeps its deliberately broken
// pipelines inline.)

/// A pipeline file: an optional preamble (e.g. a `slurm:` block), then these stages in order.
pub fn pipeline(preamble: &str, stages: &[String]) -> String {
    format!("{preamble}stages:\n{}", stages.concat())
}

/// A reduced E4 sweep, stage `sweep`: 3 prox steps of m neurons, both distances, these γ and seeds (YAML lists'
/// insides, e.g. "1.0, 1.0e-3").
pub fn prox_sweep_stage(m: usize, inner_iterations: u64, gammas: &str, seeds: &str) -> String {
    format!(
        "  - name: sweep
    kind: prox_sweep
    params: {{m: {m}, steps: 3, inner_iterations: {inner_iterations}}}
    sweep:
      gamma: [{gammas}]
      distance: [frobenius, wasserstein]
      seed: [{seeds}]
"
    )
}

/// A `prox_claims` stage named `name` reading stage `sweep`.
pub fn prox_claims_stage(name: &str) -> String {
    format!("  - name: {name}\n    kind: prox_claims\n    inputs: [sweep]\n    params: {{source: sweep}}\n")
}

/// Stage `sweep` with one diverging point: inner step β = 50 (far above 1/L̂) next to β = 1e-3, Frobenius, γ = 1,
/// m = 6. `more_params` goes inside the params map (", seed: 0"), `more_sweep` after the swept β
/// ("      seed: [0, 1]\n").
pub fn diverging_sweep_stage(more_params: &str, more_sweep: &str) -> String {
    format!(
        "  - name: sweep
    kind: prox_sweep
    params: {{m: 6, steps: 2, inner_iterations: 2000, gamma: 1.0, distance: frobenius{more_params}}}
    sweep:
      inner_step: [1.0e-3, 50.0]
{more_sweep}"
    )
}
