//! The table declarations are the one source of truth: docs/TABLES.md is generated from them, every kind's real
//! output matches them, and the runner refuses a point whose tables do not.

use std::collections::BTreeSet;
use std::process::Command;

use wgf::experiments::{find_kind, schemas, Kind, KINDS};
use wgf::pipeline::runner::{self, RunOptions};
use wgf::pipeline::store::Store;
use wgf::pipeline::{plan, spec};
use wgf::results::Results;
use wgf::tables::{check_frame, col, markdown, DType, TableSchema, REGENERATE};

/// Every kind once, with parameters small enough for a debug build.
const EVERY_KIND: &str = "stages:
  - name: two_point
    kind: two_point
    params: {gamma: 0.5, steps: 2}
  - name: inner_iterations
    kind: inner_iterations
    params: {gamma: 1.0, iterations: 5}
  - name: three_point
    kind: three_point
    params: {steps: 3}
    sweep: {lambda: [1.0, 0.1]}
  - name: three_point_summary
    kind: three_point_summary
    inputs: [three_point]
    params: {source: three_point}
  - name: prox_sweep
    kind: prox_sweep
    params: {m: 4, steps: 2, inner_iterations: 200, seed: 0, gamma: 1.0}
    sweep: {distance: [frobenius, wasserstein]}
  - name: prox_claims
    kind: prox_claims
    inputs: [prox_sweep]
    params: {source: prox_sweep}
  - name: grid_jko
    kind: grid_jko
    params: {n_w: 21, n_b: 21, eps: 0.05, tau: 0.5, steps: 2, init_std: 0.3}
  - name: grid_vs_gd
    kind: grid_vs_gd
    inputs: [grid_jko]
    params: {source: grid_jko, m: 20, seed: 0, substeps: 2}
  - name: init_scale
    kind: init_scale
    params: {init_scale: 1.0e-8, seed: 0, m: 8, t_end: 0.01, per_decade: 5}

  - name: prox_compare
    kind: prox_compare
    inputs: [prox_sweep]
    params: {sources: [prox_sweep]}

  - name: williams
    kind: williams
    params: {figure: attractor, data: {labels: square, samples: 4, x_min: -1.0, x_max: 1.0}, widths: [6],
             deltas: [\"+inf\"], seeds: [1], steps: 20, eta_fraction: [0.01], grid_points: 5, trajectory_neurons: 2,
             trajectory_every: 10, field_grid: 3, kernel_x: 0.5}
";

#[test]
fn docs_tables_md_is_generated_from_the_declarations() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/TABLES.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = markdown(&schemas());
    assert!(committed == generated, "docs/TABLES.md is stale (or missing); regenerate it with `{REGENERATE}`");
}

#[test]
fn every_kind_produces_exactly_its_declared_tables() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan::plan(&spec::parse("pipeline.yaml".as_ref(), EVERY_KIND).unwrap()).unwrap();
    let covered: BTreeSet<&str> = plan.stages.iter().map(|s| s.kind.name).collect();
    let all: BTreeSet<&str> = KINDS.iter().map(|k| k.name).collect();
    assert_eq!(covered, all, "add a stage of every new kind to EVERY_KIND");
    let store = Store::new(dir.path().join("results"));
    let summary = runner::run(&plan, &store, &RunOptions { jobs: 1, quiet: true, ..Default::default() }).unwrap();
    assert!(summary.ok(), "{:?}", summary.failed);
    let results = Results::open(dir.path().join("results")).unwrap();
    for stage in &plan.stages {
        for schema in stage.kind.tables {
            let frame = results.table(&stage.name, schema.name).unwrap();
            assert!(frame.height() > 0, "{}/{} is empty: the check would prove little", stage.name, schema.name);
            check_frame(schema, &frame).unwrap_or_else(|e| panic!("stage {}: {e}", stage.name));
        }
    }
}

/// `three_point`'s real run under a declaration that says `step` is u64 (it is u32).
fn misdeclared_three_point() -> &'static Kind {
    let real = find_kind("three_point").unwrap();
    let mut tables: Vec<TableSchema> = real.tables.to_vec();
    let mut columns = tables[0].columns.to_vec();
    assert_eq!(columns[1].name, "step");
    columns[1] = col("step", DType::U64, "index", "misdeclared");
    tables[0].columns = Box::leak(columns.into_boxed_slice());
    Box::leak(Box::new(Kind {
        name: real.name,
        version: real.version,
        tables: Box::leak(tables.into_boxed_slice()),
        about: real.about,
        summary: real.summary,
        input_tables: real.input_tables,
        resolve: real.resolve,
        run: real.run,
    }))
}

#[test]
fn the_runner_refuses_a_table_that_does_not_match_its_declaration() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "stages:\n  - name: e2\n    kind: three_point\n    params: {steps: 3, lambda: 0.1}\n";
    let mut plan = plan::plan(&spec::parse("pipeline.yaml".as_ref(), yaml).unwrap()).unwrap();
    plan.stages[0].kind = misdeclared_three_point();
    let store = Store::new(dir.path().join("results"));
    let summary = runner::run(&plan, &store, &RunOptions { jobs: 1, quiet: true, ..Default::default() }).unwrap();
    assert_eq!(summary.failed.len(), 1);
    let message = &summary.failed[0].message;
    assert!(message.starts_with("stage `e2`: table `iterates`, column `step`: type u32, declared u64"), "{message}");
    assert!(Results::open(dir.path().join("results")).unwrap().stage("e2").is_err(), "nothing cached");
}

#[test]
fn wgf_schema_json_lists_every_kind_with_typed_columns() {
    let out = Command::new(env!("CARGO_BIN_EXE_wgf")).args(["schema", "--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kinds = json["kinds"].as_array().unwrap();
    assert_eq!(kinds.len(), KINDS.len());
    let steps = &kinds.iter().find(|k| k["kind"] == "prox_sweep").unwrap()["tables"][0];
    let dist_w2 = steps["columns"].as_array().unwrap().iter().find(|c| c["name"] == "dist_w2").unwrap();
    assert_eq!((&dist_w2["type"], &dist_w2["nullable"]), (&"f64".into(), &true.into()));
}
