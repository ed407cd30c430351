//! Declarations → a validated plan: kinds resolved, sweeps expanded into points, stages in topological order,
//! every point keyed by its content hash.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::key::{point_key, stage_key, Key};
use super::slurm::options::{ExecutorName, SlurmOptions};
use super::spec::{self, did_you_mean, Declared, SpecError, SpecErrors, StageDecl};
use super::store::{valid_stage_name, MAX_STAGE_NAME};
use crate::experiments::{find_kind, Kind, KINDS};

/// Largest number of points one stage may expand to; a typo such as a 10^6-long list is refused up front.
pub const MAX_POINTS_PER_STAGE: usize = 100_000;

/// One fully resolved unit of work.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Point {
    /// The swept values that distinguish this point (empty for an unswept stage).
    pub coords: BTreeMap<String, Value>,
    /// Canonical typed parameters, defaults included.
    pub params: Value,
    pub key: Key,
}

impl Point {
    /// `gamma=0.1 seed=3`, or `(single point)`.
    pub fn label(&self) -> String {
        if self.coords.is_empty() {
            return "(single point)".into();
        }
        self.coords.iter().map(|(k, v)| format!("{k}={}", compact(v))).collect::<Vec<_>>().join(" ")
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub struct PlannedStage {
    pub name: String,
    pub kind: &'static Kind,
    pub about: Option<String>,
    pub inputs: Vec<String>,
    pub points: Vec<Point>,
    /// Hash of the points' keys: what downstream stages depend on.
    pub key: Key,
    /// Keys of the inputs' stages, by name.
    pub input_keys: BTreeMap<String, Key>,
    /// The pipeline's Slurm options with this stage's overrides applied.
    pub slurm: SlurmOptions,
}

pub struct Plan {
    pub file: PathBuf,
    pub executor: ExecutorName,
    /// In topological order: every stage after its inputs.
    pub stages: Vec<PlannedStage>,
}

impl Plan {
    pub fn stage(&self, name: &str) -> Option<&PlannedStage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The named stages and everything upstream of them, in plan order. Unknown names are an error.
    pub fn select(&self, names: &[String]) -> Result<Vec<&PlannedStage>, String> {
        if names.is_empty() {
            return Ok(self.stages.iter().collect());
        }
        let known: Vec<&str> = self.stages.iter().map(|s| s.name.as_str()).collect();
        let mut wanted: HashSet<&str> = HashSet::new();
        let mut todo: Vec<&str> = Vec::new();
        for n in names {
            if !known.contains(&n.as_str()) {
                let hint = did_you_mean(n, &known).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                return Err(format!(
                    "no stage named `{n}` in {}{hint}; stages: {}",
                    self.file.display(),
                    known.join(", ")
                ));
            }
            todo.push(n);
        }
        while let Some(n) = todo.pop() {
            if wanted.insert(n) {
                todo.extend(self.stage(n).map(|s| s.inputs.iter().map(String::as_str)).into_iter().flatten());
            }
        }
        Ok(self.stages.iter().filter(|s| wanted.contains(s.name.as_str())).collect())
    }
}

/// Reads, validates and plans a pipeline file.
pub fn load(file: &Path) -> Result<Plan, SpecErrors> {
    let declared = spec::read(file)?;
    plan(&declared)
}

pub fn plan(d: &Declared) -> Result<Plan, SpecErrors> {
    let mut errors = check_stages(d);
    let order = match topological_order(d) {
        Ok(o) => o,
        Err(e) => {
            errors.push(e);
            return Err(SpecErrors(errors));
        }
    };
    if !errors.is_empty() {
        return Err(SpecErrors(errors));
    }
    let mut stages: Vec<PlannedStage> = Vec::new();
    for i in order {
        let decl = &d.stages[i];
        let kind = find_kind(&decl.kind).expect("checked");
        match expand_points(d, i, kind) {
            Ok(points) => {
                let input_keys = decl
                    .inputs
                    .iter()
                    .filter_map(|n| stages.iter().find(|s| &s.name == n).map(|s| (n.clone(), s.key.clone())))
                    .collect::<BTreeMap<_, _>>();
                let points: Vec<Point> = points
                    .into_iter()
                    .map(|(coords, params)| {
                        let key = point_key(kind.name, kind.version, &params, &input_keys);
                        Point { coords, params, key }
                    })
                    .collect();
                let keys: Vec<Key> = points.iter().map(|p| p.key.clone()).collect();
                if let Some(e) = repeated_point(d, i, &points) {
                    errors.push(e);
                    continue;
                }
                stages.push(PlannedStage {
                    name: decl.name.clone(),
                    kind,
                    about: decl.about.clone(),
                    inputs: decl.inputs.clone(),
                    key: stage_key(kind.name, &keys),
                    points,
                    input_keys,
                    slurm: decl.slurm.over(&d.slurm),
                });
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(Plan { file: d.file.clone(), executor: d.executor, stages })
    } else {
        Err(SpecErrors(errors))
    }
}

/// Names, kinds and inputs: each problem located at its own line.
fn check_stages(d: &Declared) -> Vec<SpecError> {
    let mut errors = Vec::new();
    let names: Vec<&str> = d.stages.iter().map(|s| s.name.as_str()).collect();
    let kinds: Vec<&str> = KINDS.iter().map(|k| k.name).collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, s) in d.stages.iter().enumerate() {
        let at = |field: &str| format!("stages[{i}].{field}");
        if !valid_stage_name(&s.name) {
            let shown: String = s.name.chars().take(40).collect();
            let more = if s.name.chars().count() > 40 { "…" } else { "" };
            errors.push(d.error(
                &at("name"),
                format!(
                    "stage name `{shown}{more}` must be 1 to {MAX_STAGE_NAME} lowercase letters, digits and _ (it names \
                     a directory)"
                ),
            ));
        }
        if let Some(first) = seen.insert(&s.name, i) {
            errors.push(d.error(
                &at("name"),
                format!(
                    "duplicate stage name `{}` (first used by stages[{first}]); give each stage its own name",
                    s.name
                ),
            ));
        }
        if find_kind(&s.kind).is_none() {
            let hint = did_you_mean(&s.kind, &kinds).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
            errors.push(d.error(
                &at("kind"),
                format!("unknown stage kind `{}`{hint}; known kinds: {}", s.kind, kinds.join(", ")),
            ));
        }
        for (j, input) in s.inputs.iter().enumerate() {
            if s.inputs[..j].contains(input) {
                errors.push(d.error(&format!("stages[{i}].inputs[{j}]"), format!("`{input}` is listed twice")));
            } else if input == &s.name {
                errors.push(d.error(&format!("stages[{i}].inputs[{j}]"), "a stage cannot be its own input"));
            } else if !names.contains(&input.as_str()) {
                let hint = did_you_mean(input, &names).map(|k| format!(" (did you mean `{k}`?)")).unwrap_or_default();
                errors.push(d.error(&format!("stages[{i}].inputs[{j}]"), format!("no stage named `{input}`{hint}")));
            }
        }
        errors.extend(check_sweep(d, i, s));
        errors.extend(s.slurm.problems().into_iter().map(|(f, m)| d.error(&format!("stages[{i}].slurm.{f}"), m)));
    }
    errors.extend(d.slurm.problems().into_iter().map(|(f, m)| d.error(&format!("slurm.{f}"), m)));
    errors
}

fn check_sweep(d: &Declared, i: usize, s: &StageDecl) -> Vec<SpecError> {
    let mut errors = Vec::new();
    for (k, v) in &s.sweep {
        let at = format!("stages[{i}].sweep.{k}");
        match v {
            Value::Array(a) if a.is_empty() => {
                errors.push(d.error(&at, format!("sweep over `{k}` is empty; list at least one value or remove it")))
            }
            Value::Array(values) => errors.extend(repeated_value(values).map(|(first, j)| {
                d.error(
                    &format!("{at}[{j}]"),
                    format!(
                        "`{k}` lists {} twice (items {first} and {j}); the same point would be computed and stacked \
                         twice: remove the repeat",
                        values[j]
                    ),
                )
            })),
            _ => {
                errors.push(d.error(&at, format!("sweep over `{k}` must be a list of values, e.g. `{k}: [0.1, 1.0]`")))
            }
        }
        if s.params.contains_key(k) {
            errors.push(d.error(&at, format!("`{k}` is set in both params and sweep; keep one")));
        }
    }
    let total = s.sweep.values().filter_map(Value::as_array).map(Vec::len).try_fold(1usize, |a, n| a.checked_mul(n));
    if total.is_none_or(|t| t > MAX_POINTS_PER_STAGE) {
        errors.push(d.error(
            &format!("stages[{i}].sweep"),
            format!("the sweep expands to more than {MAX_POINTS_PER_STAGE} points; split it into several stages"),
        ));
    }
    errors
}

/// Two sweep points with the same parameters once typed (e.g. `w0: [[0, 1], [0, 1.0]]`): the same entry would be
/// computed once and stacked twice.
fn repeated_point(d: &Declared, i: usize, points: &[Point]) -> Option<SpecError> {
    let mut seen: HashMap<&Key, usize> = HashMap::new();
    for (j, p) in points.iter().enumerate() {
        if let Some(&first) = seen.get(&p.key) {
            let msg = format!(
                "sweep points `{}` and `{}` have the same parameters; remove the repeated value",
                points[first].label(),
                p.label()
            );
            return Some(d.error(&format!("stages[{i}].sweep"), msg));
        }
        seen.insert(&p.key, j);
    }
    None
}

/// The first repeated value of a sweep list as (first index, repeat index). Numbers compare by value, so `1` and
/// `1.0` (the same f64 parameter) are a repeat.
fn repeated_value(values: &[Value]) -> Option<(usize, usize)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (j, v) in values.iter().enumerate() {
        // Integers exactly (distinct seeds above 2^53 stay distinct), integral floats as the integer they equal.
        let canonical = match (v.as_i64(), v.as_u64(), v.as_f64()) {
            (Some(i), _, _) => format!("n{i}"),
            (_, Some(u), _) => format!("n{u}"),
            (_, _, Some(x)) if x.fract() == 0.0 && x.abs() < 9.2e18 => format!("n{}", x as i64),
            (_, _, Some(x)) => format!("n{x:e}"),
            _ => v.to_string(),
        };
        if let Some(&first) = seen.get(&canonical) {
            return Some((first, j));
        }
        seen.insert(canonical, j);
    }
    None
}

/// Kahn's algorithm, ties broken by declaration order so plans are stable.
fn topological_order(d: &Declared) -> Result<Vec<usize>, SpecError> {
    let index: HashMap<&str, usize> = d.stages.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let n = d.stages.len();
    let mut indegree = vec![0usize; n];
    let mut users: Vec<Vec<usize>> = vec![vec![]; n];
    for (i, s) in d.stages.iter().enumerate() {
        for input in &s.inputs {
            if let Some(&j) = index.get(input.as_str()).filter(|&&j| j != i) {
                indegree[i] += 1;
                users[j].push(i);
            }
        }
    }
    let mut order = Vec::with_capacity(n);
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).rev().collect();
    while let Some(i) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                ready.push(u);
                ready.sort_by(|a, b| b.cmp(a));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    let stuck: Vec<&str> = (0..n).filter(|i| indegree[*i] > 0).map(|i| d.stages[i].name.as_str()).collect();
    let first = (0..n).find(|i| indegree[*i] > 0).unwrap_or(0);
    Err(d.error(
        &format!("stages[{first}].inputs"),
        format!("dependency cycle among stages {}; remove one of their inputs", stuck.join(" → ")),
    ))
}

/// The cartesian product of the sweep (keys in sorted order, last key varying fastest), each point resolved.
/// A sweep point's coordinates and its canonical parameters.
type ResolvedPoint = (BTreeMap<String, Value>, Value);

fn expand_points(d: &Declared, i: usize, kind: &Kind) -> Result<Vec<ResolvedPoint>, Vec<SpecError>> {
    let decl = &d.stages[i];
    let axes: Vec<(&String, &Vec<Value>)> =
        decl.sweep.iter().filter_map(|(k, v)| v.as_array().map(|a| (k, a))).collect();
    let mut points = Vec::new();
    let mut errors: Vec<SpecError> = Vec::new();
    let mut idx = vec![0usize; axes.len()];
    loop {
        let mut params: Map<String, Value> = decl.params.clone();
        let mut coords = BTreeMap::new();
        for (a, (k, values)) in axes.iter().enumerate() {
            params.insert((*k).clone(), values[idx[a]].clone());
            coords.insert((*k).clone(), values[idx[a]].clone());
        }
        match (kind.resolve)(&Value::Object(params)) {
            Ok(canonical) => points.push((coords, canonical)),
            Err(e) => {
                let top = e.path.split(['.', '[']).next().unwrap_or("");
                let path = match axes.iter().position(|(k, _)| k.as_str() == top) {
                    Some(a) => format!("stages[{i}].sweep.{top}[{}]", idx[a]),
                    None if e.path.is_empty() => format!("stages[{i}].params"),
                    None => format!("stages[{i}].params.{}", e.path),
                };
                let err = d.error(
                    &path,
                    format!("{} (stage `{}`, kind {})", spec::explain_serde(&e.message), decl.name, kind.name),
                );
                if !errors.contains(&err) {
                    errors.push(err);
                }
            }
        }
        if !advance(&mut idx, &axes) {
            break;
        }
    }
    if errors.is_empty() {
        Ok(points)
    } else {
        Err(errors)
    }
}

/// Odometer increment over the sweep axes; false when every combination has been visited.
fn advance(idx: &mut [usize], axes: &[(&String, &Vec<Value>)]) -> bool {
    for a in (0..idx.len()).rev() {
        idx[a] += 1;
        if idx[a] < axes[a].1.len() {
            return true;
        }
        idx[a] = 0;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repeats_compare_numbers_by_value_and_integers_exactly() {
        let first = |v: Value| repeated_value(v.as_array().unwrap());
        assert_eq!(first(json!([0.1, 0.2, 0.1])), Some((0, 2)));
        assert_eq!(first(json!([1, 0.5, 1.0])), Some((0, 2)), "1 and 1.0 are the same f64 parameter");
        assert_eq!(first(json!([0.0, -0.0])), Some((0, 1)));
        assert_eq!(first(json!(["mse", "half_mse", "mse"])), Some((0, 2)));
        // Seeds 2^53 and 2^53 + 1 are equal as f64 but are different seeds.
        assert_eq!(first(json!([9007199254740992u64, 9007199254740993u64])), None);
        assert_eq!(first(json!([1, "1", [1], {"a": 1}])), None);
    }
}
