//! The review commands through the real binary: `wgf report`, `wgf explain`, `wgf params diff`, and their errors.

mod common;
use common::{text, Project, SMALL};

#[test]
fn report_explain_and_params_diff_after_a_run() {
    let p = Project::new(SMALL);
    p.run(&[]);
    assert!(p.wgf(&["figures"]).status.success());
    let report = p.wgf(&["report"]);
    assert!(report.status.success() && text(&report).contains("report/index.html"), "{}", text(&report));
    let page = std::fs::read_to_string(p.path().join("report/index.html")).unwrap();
    assert!(page.contains("three_point_loss") && page.contains("../figures/three_point_loss.png"));

    let explained = text(&p.wgf(&["explain", "three_point_loss"]));
    assert!(explained.contains("from stage `three_point`") && explained.contains("current:"), "{explained}");
    let by_path = text(&p.wgf(&["explain", "figures/three_point_fits.svg"]));
    assert!(by_path.contains("figure `three_point_fits`"), "{by_path}");

    let same = text(&p.wgf(&["params", "diff"]));
    assert!(same.contains("no parameter differs between cached and pipeline.yaml"), "{same}");
}

#[test]
fn review_commands_fail_with_a_message_not_a_panic() {
    let p = Project::new(SMALL);
    for args in [&["report"][..], &["explain", "no_such_figure"], &["params", "diff", "no-such-rev"]] {
        let out = p.wgf(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(!text(&out).contains("panicked"), "{args:?}: {}", text(&out));
    }
    assert!(text(&p.wgf(&["explain", "no_such_figure"])).contains("no_such_figure.png"));
}
