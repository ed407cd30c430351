//! The sbatch script of one stage's job array and the sbatch command line that submits it.

use std::fmt::Write;
use std::path::Path;

use super::plan_file::{SubmissionDir, SubmittedStage};

/// Paths the script needs, all absolute so the task finds them from any node's working directory.
pub struct ScriptPaths<'a> {
    pub binary: &'a Path,
    pub results: &'a Path,
    pub dir: &'a SubmissionDir,
}

/// `#SBATCH` header plus one line that runs `wgf slurm-task` on the task's slice of the plan file.
pub fn sbatch_script(stage: &SubmittedStage, paths: &ScriptPaths) -> String {
    let o = &stage.options;
    let mut s = String::from("#!/bin/bash\n");
    let mut line = |text: String| {
        let _ = writeln!(s, "#SBATCH {text}");
    };
    line(format!("--job-name=wgf-{}", stage.name));
    line(format!("--array=0-{}", stage.tasks().saturating_sub(1)));
    line(format!("--output={}", paths.dir.log(&stage.name, "%A", "%a").display()));
    line(format!("--cpus-per-task={}", o.cpus_per_task()));
    // A stage whose inputs failed is cancelled instead of pending forever.
    line("--kill-on-invalid-dep=yes".into());
    if let Some(p) = &o.partition {
        line(format!("--partition={p}"));
    }
    if let Some(t) = &o.time_limit {
        line(format!("--time={t}"));
    }
    if let Some(m) = &o.mem_per_task {
        line(format!("--mem={m}"));
    }
    if let Some(a) = &o.account {
        line(format!("--account={a}"));
    }
    for arg in o.sbatch_args.iter().flatten() {
        line(arg.clone());
    }
    let _ = writeln!(
        s,
        "# {} point(s) in {} task(s) of at most {} point(s); plan: {}\nexec {} --results {} slurm-task --plan {} --stage {}",
        stage.todo.len(),
        stage.tasks(),
        o.points_per_task(),
        paths.dir.plan_file().display(),
        quote(paths.binary),
        quote(paths.results),
        quote(&paths.dir.plan_file()),
        stage.name,
    );
    s
}

/// sbatch's arguments before the script: machine-readable job id, and the input stages' arrays to wait for.
pub fn sbatch_args(dependencies: &[String]) -> Vec<String> {
    let mut args = vec!["--parsable".to_string()];
    if !dependencies.is_empty() {
        args.push(format!("--dependency=afterok:{}", dependencies.join(":")));
    }
    args
}

/// Single-quoted for bash.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::slurm::options::SlurmOptions;
    use crate::pipeline::slurm::plan_file::SubmittedStage;
    use std::path::PathBuf;

    fn stage(todo: usize, options: SlurmOptions) -> SubmittedStage {
        let plan = crate::pipeline::plan::plan(
            &crate::pipeline::spec::parse(
                Path::new("p.yaml"),
                "stages:\n  - name: toy\n    kind: three_point\n    params: {steps: 2}\n    sweep:\n      lambda: [1.0, 0.5, 0.25, 0.1, 0.05]\n",
            )
            .unwrap(),
        )
        .unwrap();
        let mut s = SubmittedStage::new(&plan.stages[0], Default::default(), (0..todo).collect());
        s.options = options;
        s
    }

    #[test]
    fn script_names_every_option_and_batches_points() {
        let opts = SlurmOptions {
            partition: Some("debug".into()),
            time_limit: Some("00:10:00".into()),
            cpus_per_task: Some(2),
            mem_per_task: Some("1G".into()),
            account: Some("lab".into()),
            points_per_task: Some(2),
            sbatch_args: Some(vec!["--qos=short".into()]),
        };
        let s = stage(5, opts);
        assert_eq!(s.tasks(), 3);
        assert_eq!(s.task_points(2).len(), 1);
        assert_eq!(s.task_of(3), Some(1));
        let dir = SubmissionDir { dir: PathBuf::from("/r/.slurm/1") };
        let paths = ScriptPaths { binary: Path::new("/bin/it's wgf"), results: Path::new("/r"), dir: &dir };
        let text = sbatch_script(&s, &paths);
        for want in [
            "#SBATCH --array=0-2\n",
            "#SBATCH --output=/r/.slurm/1/logs/toy-%A_%a.out\n",
            "#SBATCH --partition=debug\n",
            "#SBATCH --time=00:10:00\n",
            "#SBATCH --cpus-per-task=2\n",
            "#SBATCH --mem=1G\n",
            "#SBATCH --account=lab\n",
            "#SBATCH --qos=short\n",
            "exec '/bin/it'\\''s wgf' --results '/r' slurm-task --plan '/r/.slurm/1/plan.json' --stage toy\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn defaults_give_one_point_per_task_and_no_optional_lines() {
        let s = stage(4, SlurmOptions::default());
        let dir = SubmissionDir { dir: PathBuf::from("/r/.slurm/1") };
        let text = sbatch_script(&s, &ScriptPaths { binary: Path::new("/w"), results: Path::new("/r"), dir: &dir });
        assert!(text.contains("--array=0-3\n") && text.contains("--cpus-per-task=1\n"), "{text}");
        assert!(!text.contains("--partition") && !text.contains("--time") && !text.contains("--mem"), "{text}");
        assert_eq!(sbatch_args(&[]), ["--parsable"]);
        assert_eq!(sbatch_args(&["7".into(), "9".into()]), ["--parsable", "--dependency=afterok:7:9"]);
    }
}
