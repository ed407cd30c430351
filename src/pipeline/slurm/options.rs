//! Slurm options as declared in pipeline.yaml (top-level `slurm:`, overridable per stage), merged and validated.

use serde::{Deserialize, Serialize};

/// Which executor runs the points: this machine's threads, or Slurm job arrays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorName {
    #[default]
    Local,
    Slurm,
}

/// Every field optional so that a stage's `slurm:` block overrides only what it names.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmOptions {
    pub partition: Option<String>,
    /// Per array task, in a Slurm time format: `MM`, `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM` or `D-HH:MM:SS`.
    pub time_limit: Option<String>,
    pub cpus_per_task: Option<u32>,
    /// Per array task, e.g. `2G` or `500M`.
    pub mem_per_task: Option<String>,
    pub account: Option<String>,
    /// Points computed one after another (or `cpus_per_task` at a time) by one array task: batches small points.
    pub points_per_task: Option<u32>,
    /// Passed to sbatch as they are, e.g. `["--qos=long", "--constraint=avx2"]`.
    pub sbatch_args: Option<Vec<String>>,
}

/// Options the executor sets itself; a user's `sbatch_args` may not override them.
const RESERVED: &[&str] = &["--array", "-a", "--output", "-o", "--error", "-e", "--dependency", "-d", "--parsable"];

impl SlurmOptions {
    /// `self` with every unset field taken from `base`.
    pub fn over(&self, base: &SlurmOptions) -> SlurmOptions {
        SlurmOptions {
            partition: self.partition.clone().or_else(|| base.partition.clone()),
            time_limit: self.time_limit.clone().or_else(|| base.time_limit.clone()),
            cpus_per_task: self.cpus_per_task.or(base.cpus_per_task),
            mem_per_task: self.mem_per_task.clone().or_else(|| base.mem_per_task.clone()),
            account: self.account.clone().or_else(|| base.account.clone()),
            points_per_task: self.points_per_task.or(base.points_per_task),
            sbatch_args: self.sbatch_args.clone().or_else(|| base.sbatch_args.clone()),
        }
    }

    pub fn points_per_task(&self) -> usize {
        self.points_per_task.unwrap_or(1) as usize
    }

    pub fn cpus_per_task(&self) -> usize {
        self.cpus_per_task.unwrap_or(1) as usize
    }

    /// Problems as (field, message), so the caller can locate each one in the file.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(t) = &self.time_limit {
            if !is_slurm_time(t) {
                out.push((
                    "time_limit",
                    format!("`{t}` is not a Slurm time limit; write e.g. `30` (minutes), `01:30:00` or `1-12:00:00`"),
                ));
            }
        }
        if let Some(m) = &self.mem_per_task {
            if !is_slurm_memory(m) {
                out.push(("mem_per_task", format!("`{m}` is not a Slurm memory size; write e.g. `500M` or `2G`")));
            }
        }
        if self.cpus_per_task == Some(0) {
            out.push(("cpus_per_task", "must be at least 1".into()));
        }
        if self.points_per_task == Some(0) {
            out.push(("points_per_task", "must be at least 1".into()));
        }
        for (name, value) in [("partition", &self.partition), ("account", &self.account)] {
            if value.as_deref().is_some_and(|v| v.is_empty() || v.contains(char::is_whitespace)) {
                out.push((name, format!("`{}` must be one word", value.as_deref().unwrap_or(""))));
            }
        }
        for arg in self.sbatch_args.iter().flatten() {
            let flag = arg.split('=').next().unwrap_or("");
            if !arg.starts_with('-') || arg.contains('\n') {
                out.push(("sbatch_args", format!("`{arg}` is not an sbatch option; write e.g. `--qos=long`")));
            } else if RESERVED.contains(&flag) {
                out.push(("sbatch_args", format!("`{flag}` is set by wgf itself; remove it from sbatch_args")));
            }
        }
        out
    }
}

fn is_slurm_time(t: &str) -> bool {
    let (days, rest) = match t.split_once('-') {
        Some((d, r)) => (Some(d), r),
        None => (None, t),
    };
    let numbers = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let parts: Vec<&str> = rest.split(':').collect();
    days.is_none_or(numbers) && parts.iter().all(|p| numbers(p)) && parts.len() <= 3
}

fn is_slurm_memory(m: &str) -> bool {
    let digits = m.trim_end_matches(['K', 'M', 'G', 'T']);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) && m.len() - digits.len() <= 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_and_memory_formats() {
        for ok in ["30", "30:00", "01:30:00", "1-12", "1-12:00", "2-00:00:00"] {
            assert!(is_slurm_time(ok), "{ok}");
        }
        for bad in ["", "1h", "1:2:3:4", "-1", "a-1", "1-", "10 min"] {
            assert!(!is_slurm_time(bad), "{bad}");
        }
        for ok in ["500", "500M", "2G", "1T"] {
            assert!(is_slurm_memory(ok), "{ok}");
        }
        for bad in ["", "G", "2GB", "1.5G", "-1G"] {
            assert!(!is_slurm_memory(bad), "{bad}");
        }
    }

    #[test]
    fn stage_options_override_the_pipeline_defaults() {
        let base = SlurmOptions { partition: Some("long".into()), cpus_per_task: Some(4), ..Default::default() };
        let stage = SlurmOptions { cpus_per_task: Some(1), points_per_task: Some(8), ..Default::default() };
        let merged = stage.over(&base);
        assert_eq!(merged.partition.as_deref(), Some("long"));
        assert_eq!((merged.cpus_per_task(), merged.points_per_task()), (1, 8));
    }

    #[test]
    fn reserved_and_malformed_sbatch_args_are_refused() {
        let o = SlurmOptions {
            sbatch_args: Some(vec!["--qos=long".into(), "--array=0-3".into(), "qos".into()]),
            cpus_per_task: Some(0),
            ..Default::default()
        };
        let fields: Vec<&str> = o.problems().iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["cpus_per_task", "sbatch_args", "sbatch_args"]);
    }
}
