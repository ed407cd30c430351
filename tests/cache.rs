//! The cache contract, through the real binary: nothing recomputed twice, exactly the changed points rerun,
//! cosmetic YAML edits change no key, damaged entries are caught and recomputed.

mod common;
use common::{files_under, text, Counts, Project, SMALL};

fn counts(ran: usize, cached: usize) -> Counts {
    Counts { ran, cached, failed: 0, skipped: 0 }
}

#[test]
fn second_run_computes_nothing() {
    let p = Project::new(SMALL);
    assert_eq!(p.run(&[]), counts(4, 0));
    assert_eq!(p.run(&[]), counts(0, 4));
    assert_eq!(p.run(&["--jobs", "1"]), counts(0, 4));
}

#[test]
fn one_changed_sweep_point_reruns_it_and_its_dependents() {
    let p = Project::new(SMALL);
    p.run(&[]);
    p.write_pipeline(&SMALL.replace("[1.0, 0.2, 0.05]", "[1.0, 0.2, 0.06]"));
    let status = text(&p.wgf(&["status"]));
    assert!(status.contains("lambda=0.06: new sweep point"), "{status}");
    assert!(status.contains("input `three_point` changed"), "{status}");
    // one three_point point + the summary that consumes the stage
    assert_eq!(p.run(&[]), counts(2, 2));
    // a shared parameter: every point of that stage, and the consumer
    p.write_pipeline(&SMALL.replace("steps: 5", "steps: 6"));
    let status = text(&p.wgf(&["status"]));
    assert!(status.contains("parameter changed: steps: 5 → 6"), "{status}");
    assert_eq!(p.run(&[]), counts(4, 0));
}

#[test]
fn running_one_stage_runs_only_it_and_its_inputs() {
    let p = Project::new(SMALL);
    assert_eq!(p.run(&["three_point"]), counts(3, 0));
    assert_eq!(p.run(&["summary"]), counts(1, 3));
    assert_eq!(p.run(&["three_point", "--force"]), counts(3, 0));
}

#[test]
fn reordering_keys_and_comments_change_no_key() {
    let p = Project::new(SMALL);
    p.run(&[]);
    let reordered = "\
# a comment
stages:
  - kind: three_point   # kind first
    sweep: {lambda: [1.0, 0.2, 0.05]}
    params: {steps: 5}
    name: three_point
  - params:
      source: three_point
    inputs: [three_point]
    name: summary
    kind: three_point_summary
";
    p.write_pipeline(reordered);
    assert_eq!(p.run(&[]), counts(0, 4));
    // spelling a default explicitly or writing 5.0e-2 for 0.05 is the same point too
    p.write_pipeline(&SMALL.replace("0.05]", "5.0e-2]").replace("steps: 5", "steps: 5\n      loss_norm: half_mse"));
    assert_eq!(p.run(&[]), counts(0, 4));
}

fn entry_files(p: &Project, stage: &str) -> Vec<std::path::PathBuf> {
    files_under(&p.results().join(stage))
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "parquet"))
        .collect()
}

#[test]
fn corrupted_table_is_detected_and_recomputed() {
    let p = Project::new(SMALL);
    p.run(&[]);
    let victim = p.results().join("three_point").join(&entry_files(&p, "three_point")[0]);
    let original = std::fs::read(&victim).unwrap();
    let mut flipped = original.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    std::fs::write(&victim, &flipped).unwrap();

    let status = text(&p.wgf(&["status"]));
    assert!(status.contains("corrupted entry"), "{status}");
    let out = p.wgf(&["run", "--quiet"]);
    let log = text(&out);
    assert!(log.contains("checksum") && log.contains("recomputed"), "{log}");
    assert_eq!(common::counts(&log), counts(1, 3));
    assert_eq!(std::fs::read(&victim).unwrap(), original, "recomputed bit-identically");
}

#[test]
fn leftover_temp_dir_is_never_an_entry() {
    let p = Project::new(SMALL);
    p.run(&[]);
    let stage = p.results().join("three_point");
    let entry = std::fs::read_dir(&stage).unwrap().flatten().find(|e| e.path().join("manifest.json").exists()).unwrap();
    // Simulate a write interrupted before its rename: the entry's content sits in a temp dir only.
    let tmp = stage.join(format!(".tmp-{}-999-0", &entry.file_name().to_string_lossy()[..12]));
    std::fs::rename(entry.path(), &tmp).unwrap();
    assert_eq!(p.run(&[]), counts(1, 3));
    assert!(tmp.exists(), "temp dirs are left to `wgf clean`, never read");
    p.wgf(&["clean", "--unused"]);
    assert!(!tmp.exists());
    assert_eq!(p.run(&[]), counts(0, 4));
}

#[test]
fn missing_manifest_or_table_is_recomputed() {
    let p = Project::new(SMALL);
    p.run(&[]);
    let stage = p.results().join("three_point");
    let entries: Vec<_> =
        std::fs::read_dir(&stage).unwrap().flatten().filter(|e| e.path().join("manifest.json").exists()).collect();
    std::fs::remove_file(entries[0].path().join("manifest.json")).unwrap();
    std::fs::remove_file(entries[1].path().join("iterates.parquet")).unwrap();
    assert_eq!(p.run(&[]), counts(2, 2));
}

#[test]
fn a_second_runner_is_refused_clearly() {
    let p = Project::new(SMALL);
    let store = wgf::pipeline::store::Store::new(p.results());
    let _held = store.lock().unwrap();
    let out = p.wgf(&["run"]);
    assert_eq!(out.status.code(), Some(2));
    let msg = text(&out);
    assert!(msg.contains("another `wgf run` is using") && msg.contains("pid"), "{msg}");
    assert!(files_under(&p.results()).iter().all(|f| f.to_string_lossy().contains("lock")), "nothing written");
}

#[test]
fn show_prints_table_paths_and_figures_are_drawn_once() {
    let p = Project::new(SMALL);
    let out = p.wgf(&["show", "three_point"]);
    assert!(!out.status.success() && text(&out).contains("wgf run three_point"), "{}", text(&out));
    p.run(&[]);
    let shown = String::from_utf8(p.wgf(&["show", "three_point"]).stdout).unwrap();
    let paths: Vec<&str> = shown.lines().collect();
    assert_eq!(paths.len(), 6, "3 points × 2 tables: {shown}");
    assert!(paths
        .iter()
        .all(|l| l.ends_with(".parquet") && std::path::Path::new(l).is_absolute() || p.path().join(l).exists()));

    let first = text(&p.wgf(&["figures"]));
    assert!(first.contains("three_point_fits.png") && first.contains("three_point_loss.svg"), "{first}");
    let second = text(&p.wgf(&["figures"]));
    assert!(second.contains("0 file(s) drawn"), "{second}");
    let png = std::fs::read(p.path().join("figures/three_point_loss.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}
