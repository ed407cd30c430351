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
