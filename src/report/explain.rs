//! `wgf explain FIGURE`: where a figure file came from (the provenance it carries) and whether it is current.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::figures::provenance;
use crate::results::Results;

/// Points listed per stage; the rest are counted.
const SHOWN: usize = 8;

/// A figure given as a path, or as a name looked up in the figures directory (`.png`, then `.svg`).
pub fn locate(figure: &str, figures_dir: &Path) -> anyhow::Result<PathBuf> {
    let direct = PathBuf::from(figure);
    if direct.is_file() {
        return Ok(direct);
    }
    let stem = figure.trim_end_matches(".png").trim_end_matches(".svg");
    for ext in ["png", "svg"] {
        let p = figures_dir.join(format!("{stem}.{ext}"));
        if p.is_file() {
            return Ok(p);
        }
    }
    bail!("no figure `{figure}`: not a file, and no {stem}.png or {stem}.svg in {}", figures_dir.display())
}

/// The explanation, and whether the figure is current (its stages' tables are the cached ones now).
pub fn explain(path: &Path, results: &Path) -> anyhow::Result<(String, bool)> {
    let prov = provenance::read(path)?;
    let results = Results::open(results).ok();
    let mut out = String::new();
    let _ = writeln!(out, "{}: figure `{}`", path.display(), prov.figure);
    let _ = writeln!(out, "  shows: {}", prov.caption);
    let _ = writeln!(out, "  drawn by: wgf {} at commit {}", prov.wgf_version, prov.commit);
    let mut current = true;
    for st in &prov.stages {
        let state = stage_state(st, results.as_ref());
        current &= state.is_none();
        let _ = writeln!(
            out,
            "  from stage `{}` ({}), key {}, {} point(s)",
            st.stage,
            st.kind,
            st.stage_key,
            st.points.len()
        );
        if let Some(why) = state {
            let _ = writeln!(out, "    STALE: {why}");
        }
        for key in st.points.iter().take(SHOWN) {
            let _ = writeln!(out, "    point {} {}", key.short(), point_label(results.as_ref(), &st.stage, key));
        }
        if st.points.len() > SHOWN {
            let _ = writeln!(out, "    … {} more point(s)", st.points.len() - SHOWN);
        }
    }
    let verdict = if current {
        "current: its stages' cached tables are the ones it was drawn from"
    } else {
        "stale: redraw with `wgf figures` (after `wgf run` if the stages are stale too)"
    };
    let _ = writeln!(out, "  {verdict}");
    Ok((out, current))
}

/// Why a stage's tables are no longer those the figure was drawn from, `None` if they are.
fn stage_state(st: &provenance::StageSource, results: Option<&Results>) -> Option<String> {
    let Some(results) = results else { return Some("no results directory".into()) };
    match results.stage(&st.stage) {
        Err(_) => Some(format!("stage `{}` has no cached run now", st.stage)),
        Ok(info) if info.key != st.stage_key => {
            Some(format!("the stage's tables changed since (key now {})", info.key.short()))
        }
        Ok(_) => None,
    }
}

/// The swept values of a point, from its manifest when the entry is still cached.
fn point_label(results: Option<&Results>, stage: &str, key: &crate::pipeline::key::Key) -> String {
    let entry = results.and_then(|r| r.store().read_entry(stage, key).ok().flatten());
    match entry {
        Some(m) if m.coords.is_empty() => "(single point)".into(),
        Some(m) => m.coords.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        None => "(no longer cached)".into(),
    }
}
