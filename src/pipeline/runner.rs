//! Executes a plan: stages in topological waves, the points of a wave in parallel (`--jobs` threads), each
//! result written atomically to the store. A failed point is reported, never cached, and only blocks the stages
//! that consume it.

use std::collections::{BTreeMap, HashMap};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use polars::prelude::{DataFrame, DataType};

use super::key::{Key, SOURCE_HASH};
use super::plan::{Plan, PlannedStage, Point};
use super::progress::{PointOutcome, Progress};
use super::store::{now_unix, stage_tables, CurrentPoint, CurrentRecord, Manifest, Store, StoreError};
use crate::experiments::{Kind, RunContext, StageTables, Table};
use crate::tables::check_tables;

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stages to bring up to date (with everything upstream); empty means all.
    pub stages: Vec<String>,
    pub dry_run: bool,
    /// Recompute the named stages (all if none named) even when cached.
    pub force: bool,
    pub jobs: usize,
    pub quiet: bool,
}

/// A point that did not produce a valid result.
#[derive(Debug, Clone)]
pub struct Failure {
    pub stage: String,
    pub label: String,
    pub params: serde_json::Value,
    pub message: String,
}

/// What a run did, for the final summary and for tests (counts, not times, are what tests assert on).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub ran: usize,
    pub cached: usize,
    pub failed: Vec<Failure>,
    /// Points not run because an input stage failed.
    pub skipped: usize,
    /// Damaged entries found, reported and recomputed.
    pub corrupt: Vec<String>,
    /// Points that would run (dry run) or ran, as `stage label`.
    pub planned: Vec<String>,
    pub seconds_running: f64,
    pub wall_seconds: f64,
}

impl Summary {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped == 0
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Selection(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Task<'a> {
    stage: &'a PlannedStage,
    point: &'a Point,
}

enum TaskResult {
    Done { seconds: f64 },
    Failed { message: String, seconds: f64 },
}

pub fn run(plan: &Plan, store: &Store, opts: &RunOptions) -> Result<Summary, RunError> {
    let start = Instant::now();
    let selected = plan.select(&opts.stages).map_err(RunError::Selection)?;
    let _lock = if opts.dry_run { None } else { Some(store.lock()?) };
    let forced = |s: &PlannedStage| opts.force && (opts.stages.is_empty() || opts.stages.contains(&s.name));

    let mut summary = Summary::default();
    let mut todo: HashMap<&str, Vec<&Point>> = HashMap::new();
    for stage in &selected {
        let missing = missing_points(store, stage, forced(stage), opts.dry_run, &mut summary)?;
        let missing: Vec<&Point> = missing.into_iter().map(|i| &stage.points[i]).collect();
        summary.planned.extend(missing.iter().map(|p| format!("{} {}", stage.name, p.label())));
        todo.insert(stage.name.as_str(), missing);
    }
    if opts.dry_run {
        return Ok(summary);
    }

    let total: usize = todo.values().map(Vec::len).sum();
    let progress = Progress::new(total, opts.quiet);
    let mut complete: HashMap<&str, bool> = HashMap::new();
    for wave in waves(&selected) {
        let mut tasks: Vec<Task> = Vec::new();
        let mut inputs: HashMap<&str, BTreeMap<String, StageTables>> = HashMap::new();
        for &stage in &wave {
            let blocked = stage.inputs.iter().any(|i| complete.get(i.as_str()) != Some(&true));
            if blocked {
                summary.skipped += todo[stage.name.as_str()].len();
                complete.insert(&stage.name, false);
                continue;
            }
            if !todo[stage.name.as_str()].is_empty() {
                inputs.insert(&stage.name, load_inputs(plan, store, stage)?);
            }
            tasks.extend(todo[stage.name.as_str()].iter().map(|point| Task { stage, point }));
        }
        let results = parallel_map(&tasks, opts.jobs, |t| execute(t, store, &inputs[t.stage.name.as_str()], &progress));
        for (task, result) in tasks.iter().zip(results) {
            match result {
                TaskResult::Done { seconds } => {
                    summary.ran += 1;
                    summary.seconds_running += seconds;
                }
                TaskResult::Failed { message, seconds } => {
                    summary.seconds_running += seconds;
                    summary.failed.push(Failure {
                        stage: task.stage.name.clone(),
                        label: task.point.label(),
                        params: task.point.params.clone(),
                        message,
                    });
                }
            }
        }
        for &stage in &wave {
            if complete.contains_key(stage.name.as_str()) {
                continue;
            }
            let ok = !summary.failed.iter().any(|f| f.stage == stage.name);
            if ok {
                store.write_current(&current_record(stage))?;
            }
            complete.insert(&stage.name, ok);
        }
    }
    progress.finish();
    summary.wall_seconds = start.elapsed().as_secs_f64();
    Ok(summary)
}

/// Indexes of the stage's points without a complete entry (all of them if `forced`), counting cached and damaged
/// entries in `summary`; a damaged entry is reported and, unless `dry_run`, discarded. Shared with the Slurm executor.
pub(crate) fn missing_points(
    store: &Store,
    stage: &PlannedStage,
    forced: bool,
    dry_run: bool,
    summary: &mut Summary,
) -> Result<Vec<usize>, StoreError> {
    let mut missing = Vec::new();
    for (i, point) in stage.points.iter().enumerate() {
        match store.read_complete_entry(&stage.name, &point.key, &stage.kind.table_names()) {
            Ok(Some(_)) if !forced => summary.cached += 1,
            Ok(_) => missing.push(i),
            Err(StoreError::Corrupt { path, problem }) => {
                eprintln!("warning: {}: {problem}; it will be recomputed", path.display());
                summary.corrupt.push(format!("{}: {problem}", path.display()));
                if !dry_run {
                    store.discard(&stage.name, &point.key)?;
                }
                missing.push(i);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(missing)
}

/// Maps `f` over `items` on `jobs` plain threads pulling the next index from a shared counter; results come
/// back in input order. Not rayon: a rayon worker that calls into polars' own rayon pool (Parquet encoding) steals
/// other points while it waits, nesting them on its stack — timings then overlap and deep sweeps risk the stack.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], jobs: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every index is processed"))
        .collect()
}

/// Groups stages so that every stage comes in a later wave than all of its inputs.
fn waves<'a>(selected: &[&'a PlannedStage]) -> Vec<Vec<&'a PlannedStage>> {
    let mut level: HashMap<&str, usize> = HashMap::new();
    let mut out: Vec<Vec<&PlannedStage>> = Vec::new();
    for &s in selected {
        let l = s.inputs.iter().filter_map(|i| level.get(i.as_str())).map(|l| l + 1).max().unwrap_or(0);
        level.insert(&s.name, l);
        if out.len() <= l {
            out.resize_with(l + 1, Vec::new);
        }
        out[l].push(s);
    }
    out
}

fn load_inputs(plan: &Plan, store: &Store, stage: &PlannedStage) -> Result<BTreeMap<String, StageTables>, StoreError> {
    let upstream = stage.inputs.iter().map(|name| {
        let up = plan.stage(name).expect("validated input");
        (name.clone(), up.kind, up.points.iter().map(|p| p.key.clone()).collect())
    });
    input_tables(store, upstream, stage.kind.input_tables)
}

/// The tables of each input stage, given as (name, kind, point keys in plan order): those named in `wanted` (the
/// consumer's [`Kind::input_tables`]), or all when it is empty.
pub(crate) fn input_tables(
    store: &Store,
    upstream: impl IntoIterator<Item = (String, &'static Kind, Vec<Key>)>,
    wanted: &[&str],
) -> Result<BTreeMap<String, StageTables>, StoreError> {
    let mut out = BTreeMap::new();
    for (name, kind, keys) in upstream {
        let mut names = kind.table_names();
        names.retain(|t| wanted.is_empty() || wanted.contains(t));
        let tables = stage_tables(store, &name, &keys, &names)?;
        out.insert(name, tables);
    }
    Ok(out)
}

fn execute(task: &Task, store: &Store, inputs: &BTreeMap<String, StageTables>, progress: &Progress) -> TaskResult {
    let (stage, point) = (task.stage, task.point);
    let label = point.label();
    progress.started(&stage.name, &label);
    let clock = Instant::now();
    let report = |fraction: f64| progress.point(&stage.name, &label, fraction);
    let outcome = compute_and_store(store, &stage.name, stage.kind, point, &stage.input_keys, inputs, &report);
    let seconds = clock.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            progress.finished(&stage.name, &label, PointOutcome::Ran, seconds, "");
            TaskResult::Done { seconds }
        }
        Err(message) => {
            progress.finished(&stage.name, &label, PointOutcome::Failed, seconds, &format!(": {message}"));
            TaskResult::Failed { message, seconds }
        }
    }
}

/// Computes one point and writes its entry atomically; shared by the local runner and Slurm array tasks.
pub(crate) fn compute_and_store(
    store: &Store,
    stage: &str,
    kind: &'static Kind,
    point: &Point,
    input_keys: &BTreeMap<String, Key>,
    inputs: &BTreeMap<String, StageTables>,
    report: &(dyn Fn(f64) + Sync),
) -> Result<(), String> {
    let started = now_unix();
    let clock = Instant::now();
    let tables = compute(kind, &point.params, inputs, report)?;
    check_tables(kind.tables, &tables).map_err(|e| {
        format!(
            "stage `{stage}`: {e}: the `{}` kind does not match its table declaration (a bug; please report it)",
            kind.name
        )
    })?;
    let manifest = Manifest {
        stage: stage.to_string(),
        kind: kind.name.to_string(),
        version: kind.version,
        key: point.key.clone(),
        params: point.params.clone(),
        coords: point.coords.clone(),
        inputs: input_keys.clone(),
        crate_version: env!("CARGO_PKG_VERSION").to_string(),
        source: SOURCE_HASH.to_string(),
        started_unix: started,
        finished_unix: now_unix(),
        wall_seconds: clock.elapsed().as_secs_f64(),
        tables: BTreeMap::new(),
        extra: BTreeMap::new(),
    };
    let tables: Vec<(String, DataFrame)> = tables.into_iter().map(|t| (t.name, t.frame)).collect();
    store.write_entry(manifest, &tables).map(|_| ()).map_err(|e| e.to_string())
}

/// Runs the experiment, turning errors, panics, missing tables and non-finite numbers into a message.
fn compute(
    kind: &Kind,
    params: &serde_json::Value,
    inputs: &BTreeMap<String, StageTables>,
    report: &(dyn Fn(f64) + Sync),
) -> Result<Vec<Table>, String> {
    let ctx = RunContext { inputs, progress: report };
    let tables = match catch_unwind(AssertUnwindSafe(|| (kind.run)(params, &ctx))) {
        Ok(Ok(tables)) => tables,
        Ok(Err(e)) => return Err(format!("{e:#}")),
        Err(panic) => {
            let what =
                panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            return Err(format!("internal error (panic): {}; please report it", what.unwrap_or_default()));
        }
    };
    for t in &tables {
        check_finite(t)?;
    }
    Ok(tables)
}

/// NaN or ±inf anywhere in a float column means the run diverged: never cache it.
pub fn check_finite(table: &Table) -> Result<(), String> {
    for col in table.frame.columns() {
        if !matches!(col.dtype(), DataType::Float64 | DataType::Float32) {
            continue;
        }
        let cast = col.cast(&DataType::Float64).map_err(|e| e.to_string())?;
        let values = cast.f64().map_err(|e| e.to_string())?;
        let bad = values.iter().enumerate().find(|(_, v)| v.is_some_and(|x| !x.is_finite()));
        if let Some((row, v)) = bad {
            return Err(format!(
                "non-finite value {} in table `{}`, column `{}`, row {row}: the run diverged (try a smaller step size)",
                v.unwrap_or(f64::NAN),
                table.name,
                col.name()
            ));
        }
    }
    Ok(())
}

pub(crate) fn current_record(stage: &PlannedStage) -> CurrentRecord {
    record_of(&stage.name, stage.kind, &stage.key, &stage.input_keys, &stage.points)
}

/// The record of a complete run of a stage computed by this binary (local runner and Slurm tasks alike).
pub(crate) fn record_of(
    stage: &str,
    kind: &Kind,
    stage_key: &Key,
    input_keys: &BTreeMap<String, Key>,
    points: &[Point],
) -> CurrentRecord {
    CurrentRecord {
        stage: stage.to_string(),
        kind: kind.name.to_string(),
        version: kind.version,
        stage_key: stage_key.clone(),
        source: SOURCE_HASH.to_string(),
        inputs: input_keys.clone(),
        points: points
            .iter()
            .map(|p| CurrentPoint { key: p.key.clone(), coords: p.coords.clone(), params: p.params.clone() })
            .collect(),
    }
}
