//! `wgf params diff [REV]`: the parameters that differ between pipeline.yaml and what the cached results were
//! computed with (or pipeline.yaml at a git revision), per stage and point, as `dvc params diff` shows them.
//!
//! Points are matched by their swept values; the points left over on both sides are paired in plan order, so a
//! changed sweep value shows as that one value changing (`lambda 0.2 → 0.3`), not as a point removed and another
//! added. A change shared by every point of a stage is shown once.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::Value;

use super::plan::{self, Plan};
use super::spec;
use super::store::{Store, StoreError};

/// One row of the diff; `None` is a side where the parameter (or point, or stage) does not exist.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamChange {
    pub stage: String,
    pub point: String,
    pub param: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

/// (param, old, new) of one parameter that differs.
type Change = (String, Option<String>, Option<String>);

/// A stage's points as (swept values, canonical parameters), in plan order.
type Points = Vec<(BTreeMap<String, Value>, Value)>;

fn plan_points(plan: &Plan) -> Vec<(String, Points)> {
    let points = |s: &plan::PlannedStage| s.points.iter().map(|p| (p.coords.clone(), p.params.clone())).collect();
    plan.stages.iter().map(|s| (s.name.clone(), points(s))).collect()
}

/// `new` (pipeline.yaml) against what the cache's last complete runs were computed with.
pub fn against_cache(new: &Plan, store: &Store) -> Result<Vec<ParamChange>, StoreError> {
    let mut old = Vec::new();
    for name in store.stages()? {
        if let Some(rec) = store.read_current(&name)? {
            old.push((name, rec.points.into_iter().map(|p| (p.coords, p.params)).collect()));
        }
    }
    Ok(diff(&old, &plan_points(new)))
}

/// `new` against another plan (pipeline.yaml at a git revision).
pub fn against_plan(old: &Plan, new: &Plan) -> Vec<ParamChange> {
    diff(&plan_points(old), &plan_points(new))
}

/// The plan of `pipeline` as it was at git revision `rev` (`git show REV:./FILE` in the file's directory).
pub fn plan_at_rev(pipeline: &Path, rev: &str) -> anyhow::Result<Plan> {
    let dir = pipeline.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file = pipeline.file_name().context("--pipeline names no file")?.to_string_lossy().into_owned();
    let spec_arg = format!("{rev}:./{file}");
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(["show", &spec_arg]).output();
    let out = match out {
        Ok(out) => out,
        Err(e) => bail!("cannot run git ({e}): `wgf params diff {rev}` needs git installed to read {file} at {rev}"),
    };
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.lines().next().unwrap_or("no message");
        bail!(
            "`git show {spec_arg}` in {} failed: {why}; check the revision (`git log --oneline -- {file}`)",
            dir.display()
        );
    }
    let text = String::from_utf8(out.stdout).with_context(|| format!("{spec_arg} is not UTF-8"))?;
    let label = Path::new(&spec_arg);
    Ok(plan::plan(&spec::parse(label, &text)?)?)
}

/// Old stages against new ones: new stages in plan order, then stages only the old side has.
fn diff(old: &[(String, Points)], new: &[(String, Points)]) -> Vec<ParamChange> {
    let mut rows = Vec::new();
    for (stage, points) in new {
        match old.iter().find(|(s, _)| s == stage) {
            Some((_, before)) => rows.extend(stage_diff(stage, before, points)),
            None => rows.push(whole_stage(stage, None, Some(points.len()))),
        }
    }
    for (stage, points) in old.iter().filter(|(s, _)| !new.iter().any(|(n, _)| n == s)) {
        rows.push(whole_stage(stage, Some(points.len()), None));
    }
    rows
}

fn whole_stage(stage: &str, old: Option<usize>, new: Option<usize>) -> ParamChange {
    let points = |n: Option<usize>| n.map(|n| format!("{n} point(s)"));
    ParamChange {
        stage: stage.into(), point: "—".into(), param: "(stage)".into(), old: points(old), new: points(new)
    }
}

fn stage_diff(stage: &str, old: &Points, new: &Points) -> Vec<ParamChange> {
    let (pairs, removed, added) = match_points(old, new);
    let per_pair: Vec<(String, Vec<Change>)> =
        pairs.iter().map(|&(o, n)| (label(&new[n].0), param_changes(&old[o].1, &new[n].1))).collect();
    // A change every point shares (a plain parameter edited) is one row, not one per point.
    let shared: Vec<_> = match per_pair.split_first() {
        Some((first, rest)) if !rest.is_empty() => {
            first.1.iter().filter(|c| rest.iter().all(|(_, cs)| cs.contains(c))).cloned().collect()
        }
        _ => Vec::new(),
    };
    let mut rows = Vec::new();
    let row = |point: String, (param, old, new): Change| ParamChange { stage: stage.into(), point, param, old, new };
    for c in &shared {
        rows.push(row(format!("(all {} points)", per_pair.len()), c.clone()));
    }
    for (point, changes) in per_pair {
        rows.extend(changes.into_iter().filter(|c| !shared.contains(c)).map(|c| row(point.clone(), c)));
    }
    for o in removed {
        rows.extend(point_rows(stage, &old[o].0, true));
    }
    for n in added {
        rows.extend(point_rows(stage, &new[n].0, false));
    }
    rows
}

/// (old, new) index pairs matched by equal swept values, then the rest paired in order; then the unpaired old
/// and new indices.
fn match_points(old: &Points, new: &Points) -> (Vec<(usize, usize)>, Vec<usize>, Vec<usize>) {
    let mut free_old: Vec<usize> = (0..old.len()).collect();
    let mut pairs = Vec::new();
    let mut free_new = Vec::new();
    for (n, (coords, _)) in new.iter().enumerate() {
        match free_old.iter().position(|&o| &old[o].0 == coords) {
            Some(i) => pairs.push((free_old.remove(i), n)),
            None => free_new.push(n),
        }
    }
    let paired = free_old.len().min(free_new.len());
    pairs.extend(free_old.drain(..paired).zip(free_new.drain(..paired)));
    pairs.sort_by_key(|&(_, n)| n);
    (pairs, free_old, free_new)
}

/// Rows for a point only one side has: its swept values (or `(point)` for an unswept stage).
fn point_rows(stage: &str, coords: &BTreeMap<String, Value>, removed: bool) -> Vec<ParamChange> {
    let side = |v: String| if removed { (Some(v), None) } else { (None, Some(v)) };
    if coords.is_empty() {
        let (old, new) = side("(single point)".into());
        return vec![ParamChange { stage: stage.into(), point: "—".into(), param: "(point)".into(), old, new }];
    }
    coords
        .iter()
        .map(|(k, v)| {
            let (old, new) = side(compact(v));
            ParamChange { stage: stage.into(), point: label(coords), param: k.clone(), old, new }
        })
        .collect()
}

/// Top-level parameters whose values differ (nested values compared whole).
fn param_changes(old: &Value, new: &Value) -> Vec<Change> {
    let empty = serde_json::Map::new();
    let (o, n) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
    let mut keys: Vec<&String> = o.keys().chain(n.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| o.get(*k) != n.get(*k))
        .map(|k| ((*k).clone(), o.get(k).map(compact), n.get(k).map(compact)))
        .collect()
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn label(coords: &BTreeMap<String, Value>) -> String {
    if coords.is_empty() {
        return "(single point)".into();
    }
    coords.iter().map(|(k, v)| format!("{k}={}", compact(v))).collect::<Vec<_>>().join(" ")
}

/// The rows as an aligned table with a header (`old_name`, `new_name` head the value columns).
pub fn table(rows: &[ParamChange], old_name: &str, new_name: &str) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let side = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
            [r.stage.clone(), r.point.clone(), r.param.clone(), side(&r.old), side(&r.new)]
        })
        .collect();
    let header = ["Stage", "Point", "Param", old_name, new_name].map(String::from);
    let mut width = [0usize; 5];
    for row in std::iter::once(&header).chain(&cells) {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        let padded: Vec<String> =
            row.iter().zip(width).map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count()))).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(yaml: &str) -> Plan {
        plan::plan(&spec::parse("pipeline.yaml".as_ref(), yaml).unwrap()).unwrap()
    }

    const BEFORE: &str =
        "stages:\n  - name: e2\n    kind: three_point\n    params: {steps: 5}\n    sweep: {lambda: [1.0, 0.2, 0.05]}\n";

    #[test]
    fn a_changed_sweep_value_is_exactly_that_value() {
        let after = BEFORE.replace("0.2,", "0.3,");
        let rows = against_plan(&plan_of(BEFORE), &plan_of(&after));
        let want = ParamChange {
            stage: "e2".into(),
            point: "lambda=0.3".into(),
            param: "lambda".into(),
            old: Some("0.2".into()),
            new: Some("0.3".into()),
        };
        assert_eq!(rows, vec![want]);
    }

    #[test]
    fn a_plain_parameter_is_one_row_for_all_points_and_added_points_are_named() {
        let after = BEFORE.replace("steps: 5", "steps: 6").replace("0.05]", "0.05, 0.01]");
        let rows = against_plan(&plan_of(BEFORE), &plan_of(&after));
        let got: Vec<(&str, &str, Option<&str>, Option<&str>)> =
            rows.iter().map(|r| (r.point.as_str(), r.param.as_str(), r.old.as_deref(), r.new.as_deref())).collect();
        assert_eq!(
            got,
            vec![("(all 3 points)", "steps", Some("5"), Some("6")), ("lambda=0.01", "lambda", None, Some("0.01"))]
        );
        assert!(against_plan(&plan_of(BEFORE), &plan_of(BEFORE)).is_empty());
    }

    #[test]
    fn the_table_is_aligned_with_dashes_for_missing_sides() {
        let rows = vec![whole_stage("grid", None, Some(2))];
        assert_eq!(
            table(&rows, "cached", "workspace"),
            "Stage  Point  Param    cached  workspace\ngrid   —      (stage)  —       2 point(s)\n"
        );
    }

    #[test]
    fn against_the_cache_a_changed_sweep_value_is_that_value() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("results"));
        let opts = crate::pipeline::runner::RunOptions { jobs: 1, quiet: true, ..Default::default() };
        assert!(crate::pipeline::runner::run(&plan_of(BEFORE), &store, &opts).unwrap().ok());
        assert!(against_cache(&plan_of(BEFORE), &store).unwrap().is_empty());
        let rows = against_cache(&plan_of(&BEFORE.replace("0.05]", "0.07]")), &store).unwrap();
        let got: Vec<_> =
            rows.iter().map(|r| (r.point.as_str(), r.param.as_str(), r.old.as_deref(), r.new.as_deref())).collect();
        assert_eq!(got, vec![("lambda=0.07", "lambda", Some("0.05"), Some("0.07"))]);
    }

    #[test]
    fn an_unknown_revision_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pipeline.yaml");
        std::fs::write(&file, BEFORE).unwrap();
        let err = plan_at_rev(&file, "no-such-rev").err().expect("an unknown revision fails").to_string();
        assert!(err.contains("git show no-such-rev:./pipeline.yaml") || err.contains("cannot run git"), "{err}");
    }
}
