//! Command-line interface: clap structs and one function per subcommand, no logic of its own.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};

use crate::figures;
use crate::pipeline::plan::{self, Plan};
use crate::pipeline::runner::{self, RunOptions, Summary};
use crate::pipeline::slurm::options::ExecutorName;
use crate::pipeline::slurm::submission::SLURM_DIR;
use crate::pipeline::slurm::submit::{self, SlurmRunOptions, Submitted};
use crate::pipeline::slurm::task::{self, TaskId};
use crate::pipeline::slurm::{self, wait, SlurmError};
use crate::pipeline::status::{status, PointState};
use crate::pipeline::store::Store;
use crate::results::Results;

#[derive(Debug, Parser)]
#[command(name = "wgf", version, about = "Gradient flows of two-layer ReLU networks: a cached experiment pipeline")]
pub struct Cli {
    /// The pipeline file.
    #[arg(long, global = true, default_value = "pipeline.yaml")]
    pub pipeline: PathBuf,
    /// Where result tables are cached.
    #[arg(long, global = true, default_value = "results")]
    pub results: PathBuf,
    /// Where figures are written.
    #[arg(long, global = true, default_value = "figures")]
    pub figures: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Bring stages (default: all) and everything upstream of them up to date.
    Run {
        /// Stages to run; their inputs are run first if needed.
        stages: Vec<String>,
        /// Show what would run, run nothing.
        #[arg(long)]
        dry_run: bool,
        /// Recompute the named stages (all if none named) even if cached.
        #[arg(long)]
        force: bool,
        /// Points computed in parallel (default: all cores).
        #[arg(long, short)]
        jobs: Option<usize>,
        /// No per-point progress lines, only the summary.
        #[arg(long, short)]
        quiet: bool,
        /// Where points run: this machine (`local`) or Slurm job arrays (`slurm`); default: the pipeline's
        /// `executor:`, else local.
        #[arg(long, value_enum)]
        executor: Option<ExecutorName>,
        /// With `--executor slurm`: submit, print the job ids and return without waiting.
        #[arg(long)]
        no_wait: bool,
    },
    /// Runs one Slurm array task's points from a submission's plan file (written by `wgf run --executor slurm`).
    #[command(hide = true)]
    SlurmTask {
        #[arg(long)]
        plan: PathBuf,
        #[arg(long)]
        stage: String,
        /// Array task index (default: $SLURM_ARRAY_TASK_ID).
        #[arg(long)]
        task: Option<usize>,
    },
    /// For each stage: cached, or stale and why.
    Status,
    /// The stages in execution order with their inputs.
    Dag,
    /// Draw the figures of every stage with results (only those whose tables changed).
    Figures {
        /// Only these stages' figures.
        stages: Vec<String>,
        /// Redraw even if up to date.
        #[arg(long)]
        force: bool,
    },
    /// Delete cached results: everything, or with --unused only what the current pipeline no longer uses.
    Clean {
        #[arg(long)]
        unused: bool,
    },
    /// Print the Parquet files of a stage's cached tables, one per line.
    Show { stage: String },
    /// Print every stage kind's result tables (columns, types, nulls, units, meanings) as Markdown
    /// (docs/TABLES.md), or as JSON with --json.
    Schema {
        /// JSON for tools (tests/parquet_schema.py reads it) instead of Markdown.
        #[arg(long)]
        json: bool,
    },
}

pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Run { stages, dry_run, force, jobs, quiet, executor, no_wait } => {
            let plan = load_plan(&cli)?;
            if executor.unwrap_or(plan.executor) == ExecutorName::Slurm {
                if jobs.is_some() {
                    bail!(
                        "--jobs applies to the local executor; with Slurm set `cpus_per_task` under `slurm:` in {}",
                        cli.pipeline.display()
                    );
                }
                let opts = SlurmRunOptions { stages: stages.clone(), dry_run: *dry_run, force: *force };
                return cmd_run_slurm(&cli, &plan, &opts, *no_wait, *quiet);
            }
            if *no_wait {
                bail!("--no-wait applies to `--executor slurm` only");
            }
            let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            if jobs == 0 {
                bail!("--jobs must be at least 1");
            }
            let opts = RunOptions { stages: stages.clone(), dry_run: *dry_run, force: *force, jobs, quiet: *quiet };
            cmd_run(&cli, &plan, &opts)
        }
        Command::SlurmTask { plan, stage, task } => cmd_slurm_task(&cli, plan, stage, *task),
        Command::Status => cmd_status(&cli),
        Command::Dag => cmd_dag(&cli),
        Command::Figures { stages, force } => cmd_figures(&cli, stages, *force),
        Command::Clean { unused } => cmd_clean(&cli, *unused),
        Command::Show { stage } => cmd_show(&cli, stage),
        Command::Schema { json } => cmd_schema(*json),
    }
}

fn load_plan(cli: &Cli) -> anyhow::Result<Plan> {
    Ok(plan::load(&cli.pipeline)?)
}

fn cmd_run(cli: &Cli, plan: &Plan, opts: &RunOptions) -> anyhow::Result<ExitCode> {
    let store = Store::new(&cli.results);
    if !opts.dry_run {
        refuse_if_slurm_active(&store)?;
    }
    let summary = runner::run(plan, &store, opts)?;
    if opts.dry_run {
        println!("dry run: {} point(s) would run, {} cached", summary.planned.len(), summary.cached);
        summary.planned.iter().for_each(|p| println!("  {p}"));
        return Ok(ExitCode::SUCCESS);
    }
    print_summary(&summary);
    Ok(if summary.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn cmd_run_slurm(
    cli: &Cli,
    plan: &Plan,
    opts: &SlurmRunOptions,
    no_wait: bool,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let store = Store::new(&cli.results);
    // Held while submitting and waiting, so a local `wgf run` cannot compute the same points meanwhile.
    let _lock = if opts.dry_run { None } else { Some(store.lock()?) };
    match submit::submit(plan, &store, opts)? {
        Submitted::Nothing { cached } => {
            println!("summary: ran 0 (compute 0.00 s), cached {cached}, failed 0, skipped 0, wall 0.00 s");
            Ok(ExitCode::SUCCESS)
        }
        Submitted::DryRun { cached, scripts } => {
            let n = scripts.len();
            println!("dry run: {n} job array(s) would be submitted ({cached} point(s) cached); nothing was submitted");
            for (stage, text) in scripts {
                println!("--- {stage}.sbatch\n{text}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Submitted::Jobs { dir, submission, jobs, cached } => {
            for st in &submission.stages {
                println!(
                    "submitted {}: {} point(s) as Slurm job {} ({} array task(s))",
                    st.name,
                    st.todo.len(),
                    jobs.stages[&st.name],
                    st.tasks()
                );
            }
            println!("plan and logs: {}", dir.dir.display());
            if no_wait {
                println!("not waiting (--no-wait): follow with `wgf status`; run `wgf figures` when the jobs are done");
                return Ok(ExitCode::SUCCESS);
            }
            let mut summary = wait::wait(&store, &dir, &submission, &jobs, quiet)?;
            summary.cached = cached;
            print_summary(&summary);
            Ok(if summary.ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}

/// Slurm tasks write without the runner lock: a local run or a clean must not work under them. Where Slurm
/// cannot be asked (results copied to a laptop), say so and go on.
fn refuse_if_slurm_active(store: &Store) -> anyhow::Result<()> {
    match submit::refuse_if_active(store) {
        Err(e @ SlurmError::Plan(_)) => Err(e.into()),
        Err(e) => {
            eprintln!("warning: cannot ask Slurm whether earlier jobs still run ({e}); assuming none do");
            Ok(())
        }
        Ok(()) => Ok(()),
    }
}

fn cmd_slurm_task(cli: &Cli, plan: &Path, stage: &str, task: Option<usize>) -> anyhow::Result<ExitCode> {
    let store = Store::new(&cli.results);
    let id = TaskId::from_env(task).map_err(anyhow::Error::msg)?;
    let outcome = task::run_task(&store, plan, stage, &id).map_err(anyhow::Error::msg)?;
    println!("task {}_{}: ran {}, cached {}, failed {}", id.job, id.task, outcome.ran, outcome.cached, outcome.failed);
    Ok(if outcome.failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn print_summary(s: &Summary) {
    println!(
        "summary: ran {} (compute {:.2} s), cached {}, failed {}, skipped {}, wall {:.2} s",
        s.ran,
        s.seconds_running,
        s.cached,
        s.failed.len(),
        s.skipped,
        s.wall_seconds
    );
    for c in &s.corrupt {
        println!("  recomputed damaged entry: {c}");
    }
    for f in &s.failed {
        println!("  FAILED {} [{}]: {}\n    parameters: {}", f.stage, f.label, f.message, f.params);
    }
    if s.skipped > 0 {
        println!("  {} point(s) skipped because an input stage failed", s.skipped);
    }
}

fn cmd_status(cli: &Cli) -> anyhow::Result<ExitCode> {
    let plan = load_plan(cli)?;
    let store = Store::new(&cli.results);
    let mut all_cached = true;
    let mut stages = status(&plan, &store)?;
    if let Some(warning) = slurm::status::annotate(&store, &mut stages) {
        println!("warning: {warning}");
    }
    let name_width = stages.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let kind_width = stages.iter().map(|s| s.kind.len()).max().unwrap_or(0);
    for st in stages {
        let (n, cached) = (st.points.len(), st.cached());
        if cached == n {
            let s = if n == 1 { "" } else { "s" };
            println!("{:<name_width$}  {:<kind_width$}  cached ({n} point{s})", st.name, st.kind);
            continue;
        }
        all_cached = false;
        println!("{:<name_width$}  {:<kind_width$}  stale: {} of {n} point(s) to run", st.name, st.kind, n - cached);
        print_stale_reasons(&st.points);
    }
    if !all_cached {
        println!("run `wgf run` to bring everything up to date (or `wgf run STAGE` for one stage)");
    }
    Ok(ExitCode::SUCCESS)
}

/// Stale points grouped by reason, a few labels each, so a 1000-point sweep stays readable.
fn print_stale_reasons(points: &[(String, PointState)]) {
    let mut reasons: Vec<(&str, Vec<&str>)> = Vec::new();
    for (label, state) in points {
        if let PointState::Stale(why) = state {
            match reasons.iter_mut().find(|(r, _)| *r == why.as_str()) {
                Some((_, labels)) => labels.push(label),
                None => reasons.push((why, vec![label])),
            }
        }
    }
    const SHOWN: usize = 4;
    for (why, labels) in reasons {
        if labels.len() == 1 {
            println!("    {}: {why}", labels[0]);
            continue;
        }
        let more = labels.len().saturating_sub(SHOWN);
        let shown = labels[..labels.len().min(SHOWN)].join("; ");
        let tail = if more > 0 { format!("; … {more} more") } else { String::new() };
        println!("    {} points: {why} ({shown}{tail})", labels.len());
    }
}

fn cmd_dag(cli: &Cli) -> anyhow::Result<ExitCode> {
    let plan = load_plan(cli)?;
    for s in &plan.stages {
        let inputs =
            if s.inputs.is_empty() { "no inputs".to_string() } else { format!("inputs: {}", s.inputs.join(", ")) };
        println!(
            "{} [{} v{}, {} point(s), {}] key {}",
            s.name,
            s.kind.name,
            s.kind.version,
            s.points.len(),
            inputs,
            s.key.short()
        );
        println!("    {}", s.about.as_deref().unwrap_or(s.kind.about));
    }
    Ok(ExitCode::SUCCESS)
}

fn cmd_figures(cli: &Cli, stages: &[String], force: bool) -> anyhow::Result<ExitCode> {
    let results = Results::open(&cli.results)?;
    let summary = figures::draw_all(&results, &cli.figures, stages, force)?;
    for f in &summary.drawn {
        println!("wrote {}", f.display());
    }
    println!("figures: {} file(s) drawn, {} stage(s) already up to date", summary.drawn.len(), summary.up_to_date);
    Ok(ExitCode::SUCCESS)
}

fn cmd_clean(cli: &Cli, unused: bool) -> anyhow::Result<ExitCode> {
    let store = Store::new(&cli.results);
    if !store.root().exists() {
        println!("nothing to clean: {} does not exist", store.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    let _lock = store.lock()?;
    // Slurm tasks write without the runner lock: never delete under them (nor their plans, logs and records).
    refuse_if_slurm_active(&store)?;
    let plan = if unused { Some(load_plan(cli)?) } else { None };
    let mut removed = 0usize;
    for stage in store.stages()? {
        let planned = plan.as_ref().and_then(|p| p.stage(&stage));
        let (keys, tmps) = store.entries(&stage)?;
        for tmp in tmps {
            remove(&tmp)?;
        }
        match (unused, planned) {
            (true, Some(st)) => {
                for key in keys.iter().filter(|k| !st.points.iter().any(|p| &p.key == *k)) {
                    store.discard(&stage, key)?;
                    removed += 1;
                }
            }
            _ => {
                removed += keys.len();
                remove(&store.stage_dir(&stage))?;
            }
        }
    }
    let slurm_dir = store.root().join(SLURM_DIR);
    if !unused && slurm_dir.exists() {
        remove(&slurm_dir)?;
    }
    println!("removed {removed} cached entr{} from {}", if removed == 1 { "y" } else { "ies" }, store.root().display());
    Ok(ExitCode::SUCCESS)
}

fn remove(path: &Path) -> anyhow::Result<()> {
    std::fs::remove_dir_all(path).with_context(|| format!("removing {}", path.display()))
}

fn cmd_show(cli: &Cli, stage: &str) -> anyhow::Result<ExitCode> {
    let plan = load_plan(cli)?;
    let st = plan.select(&[stage.to_string()]).map_err(anyhow::Error::msg)?;
    let st = st.into_iter().find(|s| s.name == stage).context("selected stage")?;
    let store = Store::new(&cli.results);
    let mut missing = 0;
    let mut paths = Vec::new();
    for point in &st.points {
        match store.read_entry(stage, &point.key)? {
            Some(m) => paths.extend(m.tables.values().map(|t| store.entry_dir(stage, &point.key).join(&t.file))),
            None => missing += 1,
        }
    }
    if missing > 0 {
        bail!(
            "stage `{stage}` is not up to date ({missing} of {} point(s) not cached); run `wgf run {stage}` first",
            st.points.len()
        );
    }
    paths.iter().for_each(|p| println!("{}", p.display()));
    Ok(ExitCode::SUCCESS)
}

fn cmd_schema(json: bool) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let kinds = crate::experiments::schemas();
    let text = if json { crate::tables::json(&kinds) } else { crate::tables::markdown(&kinds) };
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        // A reader that stops early (`wgf schema | head`) is not an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the schema to stdout"),
        _ => Ok(ExitCode::SUCCESS),
    }
}
