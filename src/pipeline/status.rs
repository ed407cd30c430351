//! `wgf status`: the plan against the store, and for every stale point the reason, found by diffing the point
//! against the stage's last complete run (`current.json`), like `dvc status` diffs dvc.yaml against dvc.lock.

use std::collections::BTreeMap;

use serde_json::Value;

use super::key::{Key, SOURCE_HASH};
use super::plan::{Plan, PlannedStage, Point};
use super::store::{CurrentRecord, Store, StoreError};

#[derive(Debug, Clone, PartialEq)]
pub enum PointState {
    Cached,
    Stale(String),
}

#[derive(Debug, Clone)]
pub struct StageStatus {
    pub name: String,
    pub kind: String,
    pub points: Vec<(String, PointState)>,
    /// The points' keys, in the same order.
    pub keys: Vec<Key>,
}

impl StageStatus {
    pub fn cached(&self) -> usize {
        self.points.iter().filter(|(_, s)| *s == PointState::Cached).count()
    }
}

pub fn status(plan: &Plan, store: &Store) -> Result<Vec<StageStatus>, StoreError> {
    plan.stages.iter().map(|stage| stage_status(store, stage)).collect()
}

fn stage_status(store: &Store, stage: &PlannedStage) -> Result<StageStatus, StoreError> {
    let last = match store.read_current(&stage.name) {
        Ok(r) => r,
        Err(StoreError::Corrupt { .. }) => None,
        Err(e) => return Err(e),
    };
    let mut points = Vec::new();
    for point in &stage.points {
        let state = match store.read_complete_entry(&stage.name, &point.key, &stage.kind.table_names()) {
            Ok(Some(_)) => PointState::Cached,
            Ok(None) => PointState::Stale(why_stale(stage, point, last.as_ref())),
            Err(StoreError::Corrupt { path, problem }) => {
                PointState::Stale(format!("corrupted entry {}: {problem}", path.display()))
            }
            Err(e) => return Err(e),
        };
        points.push((point.label(), state));
    }
    let keys = stage.points.iter().map(|p| p.key.clone()).collect();
    Ok(StageStatus { name: stage.name.clone(), kind: stage.kind.name.into(), points, keys })
}

fn why_stale(stage: &PlannedStage, point: &Point, last: Option<&CurrentRecord>) -> String {
    let Some(last) = last else { return "never run".into() };
    if last.kind != stage.kind.name {
        return format!("kind changed: {} → {}", last.kind, stage.kind.name);
    }
    if last.version != stage.kind.version {
        return format!("algorithm version of {} changed: {} → {}", stage.kind.name, last.version, stage.kind.version);
    }
    if last.source != SOURCE_HASH {
        let before = if last.source.is_empty() { "unrecorded" } else { last.source.as_str() };
        return format!("the numerics or experiment code changed (source hash {before} → {SOURCE_HASH})");
    }
    let Some(before) = last.points.iter().find(|p| p.coords == point.coords) else {
        return "new sweep point".into();
    };
    if before.key == point.key {
        return "result missing from the store (deleted or cleaned)".into();
    }
    let changed = diff_params(&before.params, &point.params);
    if !changed.is_empty() {
        return format!("parameter changed: {}", changed.join(", "));
    }
    let inputs: Vec<String> = stage
        .input_keys
        .iter()
        .filter(|(name, key)| last.inputs.get(*name) != Some(key))
        .map(|(name, _)| format!("input `{name}` changed"))
        .collect();
    if inputs.is_empty() {
        "key changed".into()
    } else {
        inputs.join(", ")
    }
}

/// `gamma: 0.1 → 0.2` for each top-level parameter that differs.
fn diff_params(before: &Value, now: &Value) -> Vec<String> {
    let empty = serde_json::Map::new();
    let (b, n) = (before.as_object().unwrap_or(&empty), now.as_object().unwrap_or(&empty));
    let keys: BTreeMap<&String, ()> = b.keys().chain(n.keys()).map(|k| (k, ())).collect();
    keys.into_keys()
        .filter(|k| b.get(*k) != n.get(*k))
        .map(|k| format!("{k}: {} → {}", show(b.get(k)), show(n.get(k))))
        .collect()
}

fn show(v: Option<&Value>) -> String {
    v.map_or("(unset)".into(), |v| v.to_string())
}
