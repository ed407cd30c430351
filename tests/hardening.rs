//! Issue 17, through the real binary on temp dirs: `wgf clean` deletes only what wgf wrote, no write follows a link
//! planted in results/ or figures/, kill -9 leftovers are removed, strings read back from disk are validated, and
//! hostile pipeline files (alias bombs, /dev/zero, repeats, a second document, huge sizes) are refused in one line.

mod common;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;

use common::{files_under, text, Project, SMALL};

fn assert_clean_error(out: &std::process::Output, words: &[&str]) {
    let msg = text(out);
    assert_eq!(out.status.code(), Some(2), "exit code\n{msg}");
    for w in words {
        assert!(msg.contains(w), "expected `{w}` in\n{msg}");
    }
    assert!(!msg.contains("panicked"), "panic\n{msg}");
}

/// The one stage directory of SMALL's `three_point` stage, and one of its entries.
fn three_point_dir(p: &Project) -> std::path::PathBuf {
    p.results().join("three_point")
}

#[test]
fn clean_refuses_a_directory_wgf_did_not_write() {
    let p = Project::new(SMALL);
    let thesis = p.path().join("proj/thesis/ch1.tex");
    fs::create_dir_all(thesis.parent().unwrap()).unwrap();
    fs::write(&thesis, "x").unwrap();
    for args in [&["--results", "proj", "clean"][..], &["--results", "proj", "clean", "--unused"]] {
        assert_clean_error(&p.wgf(args), &["does not look like a wgf results directory", "nothing was deleted"]);
        assert_eq!(fs::read_to_string(&thesis).unwrap(), "x", "{args:?} deleted the thesis");
    }
    assert!(!p.path().join("proj/.wgf-runner.lock").exists(), "refusing must not leave a marker either");
}

#[test]
fn clean_keeps_the_users_files_inside_a_results_directory() {
    let p = Project::new(SMALL);
    p.run(&[]);
    let notes = p.results().join("notes/todo.txt");
    fs::create_dir_all(notes.parent().unwrap()).unwrap();
    fs::write(&notes, "keep").unwrap();
    let mine = three_point_dir(&p).join("my_plot.py");
    fs::write(&mine, "keep").unwrap();
    // --unused with a pipeline that dropped `summary`: its entries go, the user's files stay.
    p.write_pipeline(&SMALL[..SMALL.find("  - name: summary").unwrap()]);
    assert!(p.wgf(&["clean", "--unused"]).status.success());
    assert!(!p.results().join("summary").exists());
    let out = p.wgf(&["clean"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("removed 3 cached entries") && text(&out).contains("left alone 2"), "{}", text(&out));
    assert_eq!(fs::read_to_string(&notes).unwrap(), "keep");
    assert_eq!(fs::read_to_string(&mine).unwrap(), "keep");
    let left: Vec<String> = files_under(&p.results()).iter().map(|f| f.display().to_string()).collect();
    assert_eq!(left, [".wgf-runner.lock", "notes/todo.txt", "three_point/my_plot.py"]);
}

#[test]
fn no_write_follows_a_planted_symlink() {
    let p = Project::new(SMALL);
    let victim = p.path().join("victim.txt");
    fs::write(&victim, "precious").unwrap();
    fs::create_dir_all(p.results()).unwrap();
    symlink("../victim.txt", p.results().join(".wgf-runner.lock")).unwrap();
    assert_clean_error(&p.wgf(&["run", "--quiet"]), &[".wgf-runner.lock", "symbolic link"]);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    fs::remove_file(p.results().join(".wgf-runner.lock")).unwrap();

    // A stage directory that is a link to somewhere else: nothing is written there.
    let elsewhere = p.path().join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    symlink(&elsewhere, three_point_dir(&p)).unwrap();
    let out = p.wgf(&["run", "--quiet", "three_point"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("symbolic link"), "{}", text(&out));
    assert!(files_under(&elsewhere).is_empty(), "wrote through the link: {:?}", files_under(&elsewhere));
    // clean follows no link either.
    fs::write(elsewhere.join("mine.txt"), "x").unwrap();
    assert!(p.wgf(&["clean"]).status.success());
    assert_eq!(fs::read_to_string(elsewhere.join("mine.txt")).unwrap(), "x");
    assert!(fs::symlink_metadata(three_point_dir(&p)).unwrap().file_type().is_symlink(), "not wgf's: left alone");
    fs::remove_file(three_point_dir(&p)).unwrap();

    // Figures: a link planted where a figure goes is replaced, its target untouched.
    p.run(&[]);
    fs::create_dir_all(p.path().join("figures")).unwrap();
    symlink("../victim.txt", p.path().join("figures/three_point_loss.png")).unwrap();
    assert!(p.wgf(&["figures"]).status.success());
    assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!fs::symlink_metadata(p.path().join("figures/three_point_loss.png")).unwrap().file_type().is_symlink());
}

/// A pid no process can have (above Linux's largest pid_max, 2^22).
const DEAD_PID: u32 = 2_147_483_000;

#[test]
fn kill_9_leftovers_are_removed() {
    let p = Project::new(SMALL);
    p.run(&[]);
    // What a kill -9 during write_atomic leaves: a temp *file* beside current.json.
    let stale = three_point_dir(&p).join(format!(".tmp-current.json-{DEAD_PID}-0000abcd0001"));
    fs::write(&stale, "{").unwrap();
    let out = p.wgf(&["clean", "--unused"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!stale.exists());

    // Figures: temp files of a killed `wgf figures` (this and the older `.png` naming) go, others' stay.
    let figures = p.path().join("figures");
    fs::create_dir_all(&figures).unwrap();
    let dead = [format!(".tmp-a_loss.svg-{DEAD_PID}-00ab0001"), format!(".tmp-a_loss-{DEAD_PID}.png")];
    let alive = format!(".tmp-b.svg-{}-00ab0002", std::process::id());
    for name in dead.iter().chain([&alive]) {
        fs::write(figures.join(name), "partial").unwrap();
    }
    fs::write(figures.join("notes.txt"), "mine").unwrap();
    assert!(p.wgf(&["figures"]).status.success());
    assert!(dead.iter().all(|n| !figures.join(n).exists()));
    assert!(figures.join(&alive).exists() && figures.join("notes.txt").exists());
}

#[test]
fn clean_unused_then_figures_after_an_edit() {
    let p = Project::new(SMALL);
    p.run(&[]);
    p.write_pipeline(&SMALL.replace("[1.0, 0.2, 0.05]", "[1.0, 0.3]"));
    assert!(p.wgf(&["clean", "--unused"]).status.success());
    let out = p.wgf(&["figures"]);
    assert!(out.status.success(), "stale current.json after clean --unused:\n{}", text(&out));
    assert_eq!(p.run(&[]).ran, 2, "the edited stage (2 points) and its summary are stale");
}

#[test]
fn crafted_records_never_lead_outside_the_directories() {
    let p = Project::new(SMALL);
    p.run(&[]);
    let current = three_point_dir(&p).join("current.json");
    let original = fs::read_to_string(&current).unwrap();
    let cases = [
        ("stage", original.replacen("\"stage\": \"three_point\"", "\"stage\": \"../../outside/x\"", 1)),
        ("key", {
            let key = original.split("\"key\": \"").nth(1).unwrap()[..64].to_string();
            original.replace(&key, "../../../../outside")
        }),
    ];
    for (what, crafted) in cases {
        assert_ne!(crafted, original, "{what}: the crafting must change the file");
        fs::write(&current, crafted).unwrap();
        let out = p.wgf(&["figures", "--force"]);
        assert_clean_error(&out, &["current.json"]);
        assert!(!p.path().join("outside").exists() && !p.path().parent().unwrap().join("outside").exists());
    }
    fs::write(&current, original).unwrap();
    assert!(p.wgf(&["figures", "--force"]).status.success());
}

/// (what, pipeline, expected line, words)
const BAD_FILES: &[(&str, &str, usize, &[&str])] = &[
    ("repeated sweep value", "stages:\n  - name: a\n    kind: three_point\n    params: {steps: 2}\n    sweep:\n      lambda: [0.1, 0.1, 0.2]\n", 6, &["lists 0.1 twice", "items 0 and 1"]),
    ("1 and 1.0 in a sweep", "stages:\n  - name: a\n    kind: three_point\n    params: {steps: 2}\n    sweep:\n      lambda:\n        - 1\n        - 0.5\n        - 1.0\n", 9, &["twice", "items 0 and 2"]),
    ("second document", "stages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n---\nstages: [}\n", 5, &["second YAML document"]),
    ("second valid document", "stages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n---\nfoo: 1\n", 5, &["second YAML document"]),
    ("YAML tag", "stages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: !!str 5}\n", 4, &["YAML tags"]),
    ("300-character stage name", concat!("stages:\n  - name: ", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n"), 2, &["1 to 100 lowercase"]),
    ("input listed twice", "stages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n  - name: s\n    kind: three_point_summary\n    inputs: [a, a]\n    params: {source: a}\n", 7, &["`a` is listed twice"]),
    ("repeat seen only once typed", "stages:\n  - name: a\n    kind: three_point\n    params: {lambda: 1.0, steps: 2}\n    sweep:\n      w0: [[0, 1], [0, 1.0]]\n", 5, &["same parameters", "w0=[0,1]"]),
    ("huge n_data", "stages:\n  - name: p\n    kind: prox_sweep\n    params: {gamma: 1.0, distance: frobenius, seed: 0, n_data: 4000000000}\n", 4, &["n_data", "GB"]),
    ("huge grid n_data", "stages:\n  - name: g\n    kind: grid_jko\n    params: {n_w: 100, n_b: 100, eps: 0.1, tau: 0.1, steps: 2, n_data: 100000000}\n", 4, &["n_data", "GB"]),
    ("huge inner n_data", "stages:\n  - name: i\n    kind: inner_iterations\n    params: {gamma: 1.0, iterations: 10, n_data: 4000000000}\n", 4, &["n_data", "GB"]),
];

#[test]
fn hostile_pipeline_files_are_refused_with_line_and_problem() {
    for (what, yaml, line, words) in BAD_FILES {
        let p = Project::new(yaml);
        let out = p.wgf(&["run"]);
        assert_clean_error(&out, words);
        assert!(text(&out).contains(&format!("pipeline.yaml:{line}:")), "{what}: line {line}\n{}", text(&out));
        assert!(!p.results().exists(), "{what}: nothing may be written");
    }
}

/// `nine` aliases of `nine` aliases …: 441 bytes expanding to 9^9 nodes.
fn alias_bomb() -> String {
    let mut s = String::from("a: &a [\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\",\"x\"]\n");
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        s += &format!("{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n");
    }
    s + "stages: []\n"
}

#[test]
fn oversized_pipeline_files_are_refused() {
    let bomb = alias_bomb();
    assert!(bomb.len() < 500);
    let deep = format!("stages: {}{}\n", "[".repeat(100), "]".repeat(100));
    for (what, yaml, words) in [
        ("alias bomb", bomb, &["aliases"][..]),
        ("deep nesting", deep, &["nested more than 64 levels"]),
        ("2 MB file", format!("stages: []\n#{}\n", "x".repeat(2 << 20)), &["larger than 1024 KiB"]),
    ] {
        let p = Project::new(&yaml);
        let out = p.wgf(&["status"]);
        assert_clean_error(&out, words);
        assert!(text(&out).lines().count() <= 3, "{what}: one problem, briefly\n{}", text(&out));
    }
    let p = Project::new("");
    assert_clean_error(&p.wgf(&["--pipeline", "/dev/zero", "status"]), &["/dev/zero", "larger than"]);
    assert!(Path::new("/dev/zero").exists());
}

#[test]
fn a_byte_order_mark_is_not_part_of_the_first_key() {
    let p = Project::new(&format!("\u{feff}{SMALL}"));
    let out = p.wgf(&["status"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn files_where_directories_belong_are_handled() {
    let p = Project::new(SMALL);
    p.run(&[]);
    // An entry that is a file: discarded and recomputed, not an abort of the whole run.
    let tp = three_point_dir(&p);
    let key = fs::read_dir(&tp).unwrap().flatten().map(|e| e.file_name()).find(|n| n.len() == 64).unwrap();
    fs::remove_dir_all(tp.join(&key)).unwrap();
    fs::write(tp.join(&key), "x").unwrap();
    let out = p.wgf(&["run", "--quiet"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(tp.join(&key).join("manifest.json").is_file());
    // A stage directory that is a file: each point fails saying what to do, the other stages still run.
    fs::remove_dir_all(&tp).unwrap();
    fs::write(&tp, "x").unwrap();
    let out = p.wgf(&["run", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("results/three_point is a file where wgf keeps a stage's results"), "{}", text(&out));
    assert_eq!(fs::read_to_string(&tp).unwrap(), "x");
}
